// The supervisor's cache of compiled run plans (compileSetup: identity, filesystem plan, where
// secrets are hidden), keyed by policy, workspace, caller environment and identity. A plan is
// only as good as what it was made from, so compiling one records every path it looked at
// (stat, lstat, exists, readdir, realpath, readFile, access, readlink) with what it found
// there, and each use checks them again: a secret file that appeared, a directory whose entries
// changed, a passwd or git config edited, a symlink swapped in, a mount added or removed, makes
// the plan stale and it is compiled again. What it read under /proc and /sys is not kept: the
// mount table is checked on its own (the caller's mount namespace must be the supervisor's).
import crypto from 'node:crypto';
import fs from 'node:fs';
import { isInside } from './fs-plan.js';

/** What a path looked like: type, identity, times and size of the entry and of what it leads to. */
export function fingerprint(p: string): string {
  const one = (st: fs.Stats | undefined) => (st ? `${st.mode}:${st.dev}:${st.ino}:${st.mtimeMs}:${st.ctimeMs}:${st.size}` : '-');
  try {
    const l = fs.lstatSync(p, { throwIfNoEntry: false });
    return l?.isSymbolicLink() ? `${one(l)}>${one(fs.statSync(p, { throwIfNoEntry: false }))}` : one(l);
  } catch (err) {
    return `!${(err as NodeJS.ErrnoException).code ?? 'error'}`; // EACCES, ENOTDIR...: the same error later means the same
  }
}

const WATCHED = ['statSync', 'lstatSync', 'existsSync', 'readdirSync', 'realpathSync', 'readFileSync', 'accessSync', 'readlinkSync', 'opendirSync', 'openSync'] as const;

/** Runs `f` (synchronous) and returns what it returned with every path it looked at and its fingerprint. */
export function recording<T>(f: () => T): { value: T; seen: Map<string, string> } {
  const seen = new Map<string, string>();
  let busy = false; // fingerprint's own lstat/stat go through the wrappers too
  const note = (p: unknown) => {
    const s = typeof p === 'string' ? p : p instanceof URL ? p.pathname : Buffer.isBuffer(p) ? p.toString() : undefined;
    if (busy || !s || !s.startsWith('/') || isInside(s, '/proc') || isInside(s, '/sys') || seen.has(s)) return;
    busy = true;
    try {
      seen.set(s, fingerprint(s));
    } finally {
      busy = false;
    }
  };
  const target = fs as unknown as Record<string, (...a: unknown[]) => unknown>;
  const saved = new Map<string, (...a: unknown[]) => unknown>();
  const nativeRealpath = fs.realpathSync.native;
  for (const name of WATCHED) {
    const orig = target[name]!;
    saved.set(name, orig);
    target[name] = Object.assign(function (this: unknown, ...a: unknown[]) {
      note(a[0]);
      return orig.apply(this, a);
    }, orig);
  }
  (fs.realpathSync as unknown as { native: (p: fs.PathLike) => string }).native = (p: fs.PathLike) => {
    note(p);
    return nativeRealpath(p);
  };
  try {
    return { value: f(), seen };
  } finally {
    for (const [name, orig] of saved) target[name] = orig;
    fs.realpathSync.native = nativeRealpath;
  }
}

/** Mount points of process `pid`, without those of runs (views, network namespaces): a change among them makes plans stale. */
export function mountsOf(pid: number | 'self', transient: string[]): string {
  let text = '';
  try {
    text = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
  } catch {
    return '?';
  }
  const points = text
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && !transient.some((t) => isInside(m, t)));
  return crypto.createHash('sha256').update(points.join('\n')).digest('hex');
}

interface Entry<T> {
  value: T;
  seen: Map<string, string>;
  mounts: string;
  /** Messages the compilation gave (warnings): said again at every use, as a compilation would. */
  messages: string[];
  used: number;
}

export class PlanCache<T> {
  private entries = new Map<string, Entry<T>>();
  hits = 0;
  misses = 0;

  constructor(private readonly max = 32) {}

  static key(parts: unknown): string {
    return crypto.createHash('sha256').update(JSON.stringify(parts)).digest('hex');
  }

  /** The cached value when everything it was made from is still as it was; otherwise compiles (and records) it again. */
  get(key: string, mounts: string, compile: (log: (m: string) => void) => T, log: (m: string) => void): T {
    const e = this.entries.get(key);
    if (e && e.mounts === mounts && this.fresh(e)) {
      this.hits++;
      e.used = Date.now();
      for (const m of e.messages) log(m);
      return e.value;
    }
    this.misses++;
    this.entries.delete(key);
    const messages: string[] = [];
    const { value, seen } = recording(() =>
      compile((m) => {
        messages.push(m);
        log(m);
      }),
    );
    this.entries.set(key, { value, seen, mounts, messages, used: Date.now() });
    if (this.entries.size > this.max) {
      const oldest = [...this.entries].sort((a, b) => a[1].used - b[1].used)[0]![0];
      this.entries.delete(oldest);
    }
    return value;
  }

  private fresh(e: Entry<T>): boolean {
    for (const [p, fp] of e.seen) if (fingerprint(p) !== fp) return false;
    return true;
  }
}

/**
 * A copy of `value` with every string under directory `from` moved under `to` (a cached plan
 * names the directory of its idmapped views; each run attaches its own). Functions, Maps and
 * Sets are kept as they are.
 */
export function movedUnder<T>(value: T, from: string, to: string): T {
  const move = (v: unknown): unknown => {
    if (typeof v === 'string') return v === from || v.startsWith(`${from}/`) ? to + v.slice(from.length) : v;
    if (Array.isArray(v)) return v.map(move);
    if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, move(x)]));
    return v;
  };
  return move(value) as T;
}
