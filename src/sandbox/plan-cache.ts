// The supervisor's cache of compiled run plans (compileSetup: identity, filesystem plan, where
// secrets are hidden), keyed by policy, workspace, caller environment and identity. A plan is
// only as good as what it was made from, so compiling one records every path it looked at
// (stat, lstat, exists, readdir, realpath, readFile, access, readlink) with what it found
// there, and each use checks them again: a secret file that appeared, a directory whose entries
// changed, a passwd or git config edited, a symlink swapped in, a mount added or removed, makes
// the plan stale and it is compiled again. What it read under /proc and /sys is not kept: the
// mount table is checked on its own (the caller's mount namespace must be the supervisor's).
// Most paths a plan looks at do not exist (the secret list names ~170 per home): those are checked
// through the nearest directory above them that exists, whose times change when an entry is made
// or removed in it (one lstat for many: 1.1 → 0.25 ms per warm run); when that directory changed,
// its names are looked at one by one, as before, and the plan stays if they are still absent.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isInside } from './fs-plan.js';
import { withListings, type ListingJudge } from './listing.js';

/** What a path looked like: type, identity, times and size of the entry and of what it leads to. */
export function fingerprint(p: string): string {
  try {
    const l = fs.lstatSync(p, { throwIfNoEntry: false });
    return printOf(l, l?.isSymbolicLink() ? fs.statSync(p, { throwIfNoEntry: false }) : undefined);
  } catch (err) {
    return `!${(err as NodeJS.ErrnoException).code ?? 'error'}`; // EACCES, ENOTDIR...: the same error later means the same
  }
}

/** fingerprint() of an entry from its lstat and, for a symlink, the stat of its target. */
function printOf(l: fs.Stats | undefined, target: fs.Stats | undefined): string {
  const one = (st: fs.Stats | undefined) => (st ? `${st.mode}:${st.dev}:${st.ino}:${st.mtimeMs}:${st.ctimeMs}:${st.size}` : '-');
  return l?.isSymbolicLink() ? `${one(l)}>${one(target)}` : one(l);
}

const WATCHED = ['statSync', 'lstatSync', 'existsSync', 'readdirSync', 'realpathSync', 'readFileSync', 'accessSync', 'readlinkSync', 'opendirSync', 'openSync'] as const;

/** What a path is, not when it changed: type and mode, identity and owner (of the entry and of a symlink's target). */
function identityOf(p: string): string | undefined {
  try {
    const l = fs.lstatSync(p, { throwIfNoEntry: false });
    const t = l?.isSymbolicLink() ? fs.statSync(p, { throwIfNoEntry: false }) : undefined;
    const one = (st: fs.Stats | undefined) => (st ? `${st.mode}:${st.dev}:${st.ino}:${st.uid}:${st.gid}` : '-');
    return l ? `${one(l)}>${one(t)}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A directory the plan listed through listDir only (and otherwise only stat'ed or resolved):
 * when its times change, it is listed again and the listers' judges decide.
 */
export interface Listing {
  identity: string;
  entries: Map<string, boolean>;
  judges: ListingJudge[];
  /**
   * Its times were younger than anchorTiming.settledMs when listed: a change in the same clock
   * tick (whole seconds on ext4 with small inodes, FAT, ramfs; ~4 ms on kernels before 6.13)
   * would leave them as they are, so it is listed again at every use until they settle.
   */
  young: boolean;
}

/** Whether the times of `p` (lstat) are too recent to show the next change in the same clock tick. */
function youngTimes(p: string, now = Date.now()): boolean {
  try {
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    return !!st && now - Math.max(st.mtimeMs, st.ctimeMs) < anchorTiming.settledMs;
  } catch {
    return true;
  }
}

/** A file's content, for files read while their times were young (see Listing.young). */
function contentHash(p: string): string {
  try {
    return crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
  } catch (err) {
    return `!${(err as NodeJS.ErrnoException).code ?? 'error'}`;
  }
}

/** The ways of looking at a path a listing's judges speak for: anything else (reading it, access()) is checked by times. */
const LISTING_SAFE = new Set(['statSync', 'lstatSync', 'existsSync', 'realpathSync', 'readdirSync']);

/**
 * Runs `f` (synchronous) and returns what it returned with every path it looked at and its
 * fingerprint, and the judged listings (listing.ts) of directories looked at in no other way.
 */
export function recording<T>(f: () => T): { value: T; seen: Map<string, string>; listings: Map<string, Listing>; young: Map<string, string> } {
  const seen = new Map<string, string>();
  /** Files read while their times were young, with their content then (checked by content until they settle). */
  const young = new Map<string, string>();
  const how = new Map<string, { kinds: Set<string>; lists: number }>();
  const judged = new Map<string, Listing>();
  let busy = false; // fingerprint's own lstat/stat go through the wrappers too
  const note = (p: unknown, kind: string) => {
    const s = typeof p === 'string' ? p : p instanceof URL ? p.pathname : Buffer.isBuffer(p) ? p.toString() : undefined;
    if (busy || !s || !s.startsWith('/') || isInside(s, '/proc') || isInside(s, '/sys')) return;
    const h = how.get(s) ?? how.set(s, { kinds: new Set(), lists: 0 }).get(s)!;
    h.kinds.add(kind);
    if (kind === 'readdirSync' || kind === 'opendirSync') h.lists++;
    const reads = kind === 'readFileSync' || kind === 'openSync';
    if (seen.has(s) && (!reads || young.has(s))) return;
    busy = true;
    try {
      if (!seen.has(s)) seen.set(s, fingerprint(s));
      if (reads && !young.has(s) && youngTimes(s)) young.set(s, contentHash(s));
    } finally {
      busy = false;
    }
  };
  const listed = (dir: string, judge: ListingJudge, entries: fs.Dirent[]) => {
    const had = judged.get(dir);
    if (had) return void had.judges.push(judge);
    busy = true;
    try {
      const identity = identityOf(dir);
      if (identity) judged.set(dir, { identity, entries: new Map(entries.map((e) => [e.name, e.isDirectory()])), judges: [judge], young: youngTimes(dir) });
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
      note(a[0], name);
      return orig.apply(this, a);
    }, orig);
  }
  (fs.realpathSync as unknown as { native: (p: fs.PathLike) => string }).native = (p: fs.PathLike) => {
    note(p, 'realpathSync');
    return nativeRealpath(p);
  };
  try {
    const value = withListings(listed, f);
    // Only where every listing had a judge and nothing else looked inside.
    const listings = new Map([...judged].filter(([d, l]) => {
      const h = how.get(d);
      return h && h.lists === l.judges.length && [...h.kinds].every((k) => LISTING_SAFE.has(k));
    }));
    return { value, seen, listings, young };
  } finally {
    for (const [name, orig] of saved) target[name] = orig;
    fs.realpathSync.native = nativeRealpath;
  }
}

/**
 * The mounts of process `pid`, without those of runs (views, network namespaces): a change among
 * them makes plans stale. Whole mountinfo lines, not only the mount points: a remount (read-only,
 * noexec) keeps the point but changes the options, and a plan's idmapped views are clones taken
 * with the options of their time (attacker round 10: a workspace remounted read-only between two
 * runs stayed writable through the views of the cached plan).
 */
export function mountsOf(pid: number | 'self', transient: string[]): string {
  let text = '';
  try {
    text = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
  } catch {
    return '?';
  }
  const lines = text.split('\n').filter((l) => {
    const m = l.split(' ', 5)[4];
    return !!m && !transient.some((t) => isInside(m, t));
  });
  return crypto.createHash('sha256').update(lines.join('\n')).digest('hex');
}

/**
 * A directory whose times are younger than this is not trusted to show the next change by its
 * times: a coarse clock, or a filesystem that keeps whole seconds (FAT: two), could give that
 * change the same ones.
 */
export const anchorTiming = { settledMs: 3000 };

/** Absent paths checked through the directory above them; `fp` undefined while that directory is not trusted (checked name by name). */
export interface AnchorGroup {
  fp: string | undefined;
  names: string[];
}

/** The fingerprint of directory `d` when it can anchor absent names below it: it exists (or is a symlink with no target yet), and its times are settled. */
function anchorPrint(d: string, now: number): string | undefined {
  let l: fs.Stats | undefined;
  let st: fs.Stats | undefined;
  try {
    l = fs.lstatSync(d, { throwIfNoEntry: false });
    st = l?.isSymbolicLink() ? fs.statSync(d, { throwIfNoEntry: false }) : l;
  } catch {
    return undefined;
  }
  if (!l || (st && !st.isDirectory())) return undefined;
  // The times judged are those of the fingerprint (one lstat: a change between two would be trusted).
  if (now - Math.max(l.mtimeMs, l.ctimeMs, st?.mtimeMs ?? 0, st?.ctimeMs ?? 0) < anchorTiming.settledMs) return undefined;
  return printOf(l, l.isSymbolicLink() ? st : undefined);
}

/**
 * What to check for a recorded set of paths: absent paths grouped under the nearest existing
 * directory above them (`anchors`), everything else as itself (`direct`). A group's directory is
 * trusted only when its times are older than anchorTiming.settledMs and every name in it is still absent
 * after its fingerprint was taken (a name made in between is checked as itself).
 */
export function checkSet(seen: Map<string, string>, now = Date.now()): { direct: Map<string, string>; anchors: Map<string, AnchorGroup> } {
  const direct = new Map<string, string>();
  const anchors = new Map<string, AnchorGroup>();
  const nearest = (p: string): string | undefined => {
    for (let d = path.dirname(p); ; d = path.dirname(d)) {
      if (anchors.has(d)) return d;
      let exists = false;
      try {
        exists = seen.get(d) !== '-' && !!fs.lstatSync(d, { throwIfNoEntry: false });
      } catch {
        return undefined; // unreadable: the name is checked as itself
      }
      if (exists) return d;
      if (d === '/') return undefined;
    }
  };
  for (const [p, fp] of seen) {
    const d = fp === '-' && p !== '/' ? nearest(p) : undefined;
    if (d === undefined) {
      direct.set(p, fp);
      continue;
    }
    let g = anchors.get(d);
    if (!g) anchors.set(d, (g = { fp: anchorPrint(d, now), names: [] }));
    g.names.push(p);
  }
  // Taken after every group's fingerprint: a name made since is checked as itself.
  for (const g of anchors.values()) {
    const made = g.names.filter((p) => fingerprint(p) !== '-');
    for (const p of made) direct.set(p, '-');
    g.names = g.names.filter((p) => !made.includes(p));
  }
  return { direct, anchors };
}

/**
 * Whether the absent names of group `g` under `d` are still absent: by the directory's
 * fingerprint when it is trusted; otherwise name by name. Then they are grouped again, each
 * under the nearest directory above it that exists now: a directory made between `d` and a
 * name (~/.config/tool under ~/.config) would otherwise hide a file made in it later.
 */
function stillAbsent(d: string, g: AnchorGroup, now: number): { ok: boolean; regrouped?: ReturnType<typeof checkSet> } {
  if (g.fp !== undefined && fingerprint(d) === g.fp) return { ok: true };
  if (g.names.some((p) => fingerprint(p) !== '-')) return { ok: false };
  return { ok: true, regrouped: checkSet(new Map(g.names.map((p) => [p, '-'])), now) };
}

/**
 * Directory `d`, whose fingerprint changed, still lists what its judges accept: the same
 * directory (type, mode, identity, owner) with only entries made or removed that change nothing.
 * Returns its fingerprint now (taken before the listing, as at recording), or undefined.
 */
function relisted(d: string, l: Listing): string | undefined {
  const fp = fingerprint(d);
  if (identityOf(d) !== l.identity) return undefined;
  let now: fs.Dirent[];
  try {
    now = fs.readdirSync(d, { withFileTypes: true });
  } catch {
    return undefined;
  }
  const types = new Map(now.map((e) => [e.name, e.isDirectory()]));
  const added = now.filter((e) => l.entries.get(e.name) !== e.isDirectory());
  const removed = [...l.entries].filter(([n, dir]) => types.get(n) !== dir).map(([name, wasDir]) => ({ name, wasDir }));
  if (!l.judges.every((j) => j(added, removed))) return undefined;
  l.entries = types;
  l.young = youngTimes(d);
  return fp;
}

interface Entry<T> {
  value: T;
  seen: Map<string, string>;
  listings: Map<string, Listing>;
  /** Files read while young: path → content hash (Listing.young says why). */
  young: Map<string, string>;
  check: { direct: Map<string, string>; anchors: Map<string, AnchorGroup> };
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
    const { value, seen, listings, young } = recording(() =>
      compile((m) => {
        messages.push(m);
        log(m);
      }),
    );
    this.entries.set(key, { value, seen, listings, young, check: checkSet(seen), mounts, messages, used: Date.now() });
    if (this.entries.size > this.max) {
      const oldest = [...this.entries].sort((a, b) => a[1].used - b[1].used)[0]![0];
      this.entries.delete(oldest);
    }
    return value;
  }

  /** Forgets `key`'s plan (the next get() makes it again). */
  drop(key: string): void {
    this.entries.delete(key);
  }

  /** The plans held. */
  values(): T[] {
    return [...this.entries.values()].map((e) => e.value);
  }

  private fresh(e: Entry<T>): boolean {
    const now = Date.now();
    const regrouped: Array<[string, ReturnType<typeof checkSet>]> = [];
    for (const [d, g] of e.check.anchors) {
      const r = stillAbsent(d, g, now);
      if (!r.ok) return false;
      if (r.regrouped) regrouped.push([d, r.regrouped]);
    }
    // Files read while young: by content until a look after they settled found it the same.
    for (const [p, h] of e.young) {
      const settled = !youngTimes(p, now);
      if (contentHash(p) !== h) return false;
      if (settled) e.young.delete(p);
    }
    for (const [p, fp] of e.check.direct) {
      const l = e.listings.get(p);
      if (fingerprint(p) === fp && !l?.young) continue;
      const again = l && relisted(p, l);
      if (again === undefined) return false;
      e.check.direct.set(p, again);
    }
    for (const [d, r] of regrouped) {
      e.check.anchors.delete(d);
      for (const [p, fp] of r.direct) e.check.direct.set(p, fp);
      for (const [a, g] of r.anchors) {
        const had = e.check.anchors.get(a);
        // two groups under one directory: trusted again only once both were looked at together
        if (had) e.check.anchors.set(a, { fp: undefined, names: [...had.names, ...g.names] });
        else e.check.anchors.set(a, g);
      }
    }
    return true;
  }
}
