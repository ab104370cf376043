// Paths as the kernel resolved them. The compiled sensor gives the kernel's own path of the
// file an open reached and of the directory a relative path is relative to (a dfd, the cwd,
// the fd of an f*() call); this module turns a record's path argument into the path of the
// file it names with that, and, where the sensor could not say (bpftrace, a path operation
// on something that no longer exists), lexically: /proc/<self|pid>/{cwd,root,fd/N} rewritten
// to what they point at, the parent directory's symlinks resolved.
import fs from 'node:fs';
import * as proc from '../sensors/procfs/proc.js';
import { normalize } from './paths.js';

export interface ProcView {
  pid: number;
  /** The process's cwd as the model knows it. */
  cwd(pid: number): string | undefined;
}

function readLink(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch {
    return undefined;
  }
}

/** The target of a /proc magic link the segments so far name (proc, <pid|self>, cwd|root|exe|fd N). */
function magicTarget(out: string[], view: ProcView): string | undefined {
  if (out[0] !== 'proc' || out.length < 3 || out.length > 6) return undefined;
  const who = out[1] === 'self' || out[1] === 'thread-self' ? view.pid : /^\d+$/.test(out[1]!) ? Number(out[1]) : undefined;
  if (who === undefined) return undefined;
  // /proc/<pid>/task/<tid>/... names the same links
  const at = out[2] === 'task' && out.length >= 5 && /^\d+$/.test(out[3]!) ? 4 : 2;
  const link = out[at];
  if (link === 'fd') {
    if (out.length !== at + 2 || !/^\d+$/.test(out[at + 1]!)) return undefined;
    return proc.readFdPath(who, Number(out[at + 1]));
  }
  if (out.length !== at + 1) return undefined;
  if (link === 'cwd') return view.cwd(who) ?? proc.readCwd(who);
  if (link === 'root') return readLink(`/proc/${who}/root`) ?? '/';
  if (link === 'exe') return readLink(`/proc/${who}/exe`);
  return undefined;
}

/**
 * An absolute path normalised the way the kernel walks it: "." and ".." removed, and a /proc
 * magic link (/proc/self/cwd, /proc/<pid>/root, /proc/self/fd/N...) replaced by what it
 * points at before the rest is walked, so "/proc/self/cwd/../.ssh/key" is the key next to the
 * cwd, not "/proc/self/.ssh/key".
 */
export function walkPath(p: string, view: ProcView): string {
  if (p.indexOf('/proc') < 0) return normalize(p);
  const out: string[] = [];
  for (const s of p.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') {
      out.pop();
      continue;
    }
    out.push(s);
    const t = out[0] === 'proc' ? magicTarget(out, view) : undefined;
    if (t && t.startsWith('/')) {
      out.length = 0;
      for (const x of t.split('/')) if (x) out.push(x);
    }
  }
  return `/${out.join('/')}`;
}

const REAL_TTL_MS = 2000;
const REAL_MAX = 2048;

/** realpath of directories, briefly cached (a `make clean` unlinks thousands of files in a few). */
export class DirResolver {
  private readonly cache = new Map<string, { real: string; at: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  /** The directory with its symlinks resolved; the path itself when it cannot be (gone, no access). */
  real(dir: string): string {
    const t = this.now();
    const hit = this.cache.get(dir);
    if (hit && t - hit.at < REAL_TTL_MS) return hit.real;
    let real = dir;
    try {
      real = fs.realpathSync.native(dir);
    } catch {
      real = dir;
    }
    if (this.cache.size >= REAL_MAX) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(dir, { real, at: t });
    return real;
  }

  /** A path whose last component is kept (it may be the symlink or the file removed) and parent resolved. */
  realParent(p: string): string {
    const i = p.lastIndexOf('/');
    if (i <= 0) return p;
    const dir = this.real(p.slice(0, i));
    return dir === '/' ? `/${p.slice(i + 1)}` : `${dir}/${p.slice(i + 1)}`;
  }
}

/**
 * The absolute path a path argument names: against the kernel's base directory when given,
 * else against `fallbackBase` (the model's cwd or dfd directory), walked with /proc links
 * rewritten. Returns undefined when a relative path has no base at all.
 */
export function absoluteArg(rel: string, kbase: string | undefined, fallbackBase: string | undefined, view: ProcView): string | undefined {
  if (rel.startsWith('/')) return walkPath(rel, view);
  const base = kbase && kbase.startsWith('/') ? kbase : fallbackBase && fallbackBase.startsWith('/') ? fallbackBase : undefined;
  if (!base) return undefined;
  return walkPath(rel === '' ? base : `${base}/${rel}`, view);
}
