// The filesystem view of a sandbox, as an ordered list of mount operations for bwrap: the
// host read-only, private /tmp and /run, the workspace (and allow_write paths) writable,
// write-protected paths inside writable areas read-only again, secrets hidden last so they
// win. Only paths that exist get a mount: nothing is ever created on the host to serve as a
// mount point (sandbox-runtime left empty placeholder files behind). Protected paths that do
// not exist yet are recorded instead and checked after the run (protect.ts).
import fs from 'node:fs';
import path from 'node:path';
import { PERSISTENCE_PATHS, SECRET_PATHS, WORKSPACE_PROTECTED } from '../config/defaults.js';
import type { RunPolicy } from './policy.js';

export type MountOp =
  | { op: 'ro-bind' | 'bind'; src: string; dest: string }
  | { op: 'bind-fd'; fd: number; dest: string }
  | { op: 'tmpfs'; dest: string; readOnly?: boolean }
  | { op: 'devnull'; dest: string }
  | { op: 'symlink'; target: string; dest: string };

export interface ProtectedEntry {
  /** Absolute path. */
  path: string;
  /** The writable root it lies in. */
  root: string;
  /** State before the run: undefined when it did not exist. */
  before?: { dev: number; ino: number; dir: boolean };
}

/** Who bwrap runs as: decides which paths it can reach (and so must and can cover). */
export interface Identity {
  uid: number;
  gids: number[];
}

export interface FsPlanInput {
  policy: RunPolicy;
  workspace: string;
  /** Home directories whose `~/` secrets are hidden (caller's, target user's, sandbox HOME). */
  homes: string[];
  identity: Identity;
  /** Scan limits for `**` patterns in the workspace. */
  scan?: { maxDepth?: number; maxDirs?: number };
}

export interface FsPlan {
  mounts: MountOp[];
  /** Writable roots (workspace first), realpaths. */
  writable: string[];
  hidden: string[];
  readOnly: string[];
  protectedEntries: ProtectedEntry[];
  warnings: string[];
  /** Directories of the workspace scan (for figures) and whether it stopped at a limit. */
  scan: { dirs: number; truncated: boolean };
}

export class PlanError extends Error {
  readonly exitCode = 2;
}

const SKIP_DIRS = new Set(['node_modules', '.git', '.hg', '.svn']);

export function planFilesystem(input: FsPlanInput): FsPlan {
  const { policy, identity } = input;
  const ws = input.workspace;
  const warnings: string[] = [];
  if (ws === '/') throw new PlanError('the workspace cannot be / (that would make the whole host writable)');
  const reach = reachability(identity);

  const mounts: MountOp[] = [
    { op: 'ro-bind', src: '/', dest: '/' },
  ];
  // /dev and /proc are added by the bwrap builder (--dev, --proc). Private scratch space:
  mounts.push({ op: 'tmpfs', dest: '/tmp' });
  if (isRealDir('/var/tmp')) mounts.push({ op: 'tmpfs', dest: '/var/tmp' });
  // /run holds the host's sockets (docker, D-Bus, systemd, nscd) and runtime state.
  if (isRealDir('/run')) {
    mounts.push({ op: 'tmpfs', dest: '/run' });
    const resolv = safeRealpath('/etc/resolv.conf');
    if (resolv && resolv.startsWith('/run/') && isFile(resolv)) mounts.push({ op: 'ro-bind', src: resolv, dest: resolv });
    const shm = safeReadlink('/run/shm');
    if (shm) mounts.push({ op: 'symlink', target: shm, dest: '/run/shm' });
  }

  // Writable roots.
  const writable: string[] = [ws];
  for (const p of policy.filesystem.allowWrite) {
    const abs = resolveUserPath(p, ws, input.homes[0]);
    // A sandbox can plant symlinks wherever it can write: following one found there would
    // let an earlier run choose what this run makes writable (say `cache` -> $HOME).
    const planted = symlinkInside(abs, ws);
    if (planted)
      throw new PlanError(`allow_write ${p}: goes through the symlink ${planted} inside the workspace, which a sandbox could have planted; name the real path instead`);
    const real = safeRealpath(abs);
    if (!real) {
      warnings.push(`allow_write ${p}: does not exist, skipped (Warden never creates paths on the host)`);
      continue;
    }
    if (real === '/') throw new PlanError(`allow_write ${p}: cannot make / writable`);
    if (!writable.includes(real)) writable.push(real);
  }
  for (const w of writable) mounts.push({ op: 'bind', src: w, dest: w });

  // Secret patterns, minus the ones the policy re-allows.
  const allowRead = new Set(policy.filesystem.allowRead.map((p) => p.replace(/\/+$/, '')));
  const secretPatterns = [
    ...SECRET_PATHS.map((e) => e.pattern).filter((p) => !allowRead.has(p)),
    ...policy.filesystem.denyRead,
    // A credential file's real content stays outside (the egress proxy holds it).
    ...policy.credentials.flatMap((c) => (c.file ? [c.file] : [])),
  ];
  const allowReadAbs = new Set([...allowRead].flatMap((p) => expandHomes(p, input.homes, ws)));

  // Expand patterns. `**/` patterns are matched during one bounded walk of the workspace.
  const hiddenSet = new Set<string>();
  const deepPatterns: string[][] = [];
  for (const pat of secretPatterns) {
    if (pat.startsWith('**/')) {
      deepPatterns.push(pat.slice(3).split('/'));
      continue;
    }
    for (const abs of expandHomes(pat, input.homes, ws)) for (const m of expandGlob(abs)) hiddenSet.add(m);
  }
  const nestedGit: string[] = [];
  const scan = walkWorkspace(ws, deepPatterns, hiddenSet, nestedGit, input.scan ?? {});
  if (scan.truncated)
    warnings.push(`workspace scan for .env files stopped after ${scan.dirs} directories; deeper secrets may be visible (set filesystem.deny_read for them)`);
  for (const a of allowReadAbs) hiddenSet.delete(a);

  // Protected (write-protected) paths inside writable roots.
  const protectedCandidates = new Set<string>();
  for (const root of writable) {
    const rels = root === ws ? WORKSPACE_PROTECTED : [];
    for (const rel of rels) protectedCandidates.add(path.join(root, rel));
    if (looksLikeGitDir(root)) for (const rel of ['hooks', 'config']) protectedCandidates.add(path.join(root, rel));
  }
  for (const g of nestedGit) for (const rel of ['hooks', 'config']) protectedCandidates.add(path.join(g, rel));
  for (const p of policy.filesystem.readOnly) protectedCandidates.add(resolveUserPath(p, ws, input.homes[0]));
  // Persistence files of the host that happen to lie in a writable root (workspace = $HOME).
  for (const e of PERSISTENCE_PATHS) {
    if (e.pattern.startsWith('**/')) continue;
    for (const abs of expandHomes(e.pattern, input.homes, ws)) {
      if (writable.some((w) => isInside(abs, w))) for (const m of expandGlob(abs, true)) protectedCandidates.add(m);
    }
  }
  // An explicit allow_write of a protected path lifts the protection.
  for (const w of writable.slice(1)) protectedCandidates.delete(w);

  const readOnly: string[] = [];
  const protectedEntries: ProtectedEntry[] = [];
  for (const p of [...protectedCandidates].sort()) {
    const root = writable.find((w) => isInside(p, w) && p !== w);
    if (!root) continue; // outside writable areas it is read-only anyway
    const st = lstatOrUndefined(p);
    if (st && !reach(p)) continue;
    if (st && !st.isSymbolicLink()) {
      mounts.push({ op: 'ro-bind', src: p, dest: p });
      readOnly.push(p);
      protectedEntries.push({ path: p, root, before: { dev: st.dev, ino: st.ino, dir: st.isDirectory() } });
    } else if (st?.isSymbolicLink()) {
      // A symlink at a protected name: it cannot be retargeted (the parent is writable, so
      // it can be replaced). Record it; the post-run check reports replacement.
      protectedEntries.push({ path: p, root, before: { dev: st.dev, ino: st.ino, dir: false } });
    } else {
      protectedEntries.push({ path: p, root });
    }
  }

  // Hidden paths last, so a protected or writable bind never uncovers one.
  const hidden: string[] = [];
  for (const p of [...hiddenSet].sort()) {
    if (isInside(ws, p)) throw new PlanError(`the workspace ${ws} lies inside the hidden path ${p}; choose another directory or add it to filesystem.allow_read`);
    if (!reach(p)) continue;
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(p, { throwIfNoEntry: false });
    } catch {
      st = undefined;
    }
    if (!st) continue; // dangling symlink or vanished: nothing to hide
    if (st.isDirectory()) mounts.push({ op: 'tmpfs', dest: p, readOnly: true });
    else mounts.push({ op: 'devnull', dest: p });
    hidden.push(p);
  }
  return { mounts, writable, hidden, readOnly, protectedEntries, warnings, scan };
}

// ---------------------------------------------------------------- helpers

export function isInside(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : dir + '/');
}

/** `~/x` → home/x, absolute stays, anything else is relative to the workspace. */
export function resolveUserPath(p: string, ws: string, home: string | undefined): string {
  if (p === '~' || p.startsWith('~/')) return path.join(home ?? '/nonexistent', p.slice(1));
  return path.resolve(ws, p);
}

function expandHomes(p: string, homes: string[], ws: string): string[] {
  if (p === '~' || p.startsWith('~/')) return homes.map((h) => path.join(h, p.slice(1)));
  return [path.resolve(ws, p)];
}

const globCache = new Map<string, RegExp>();
export function componentRegex(glob: string): RegExp {
  let re = globCache.get(glob);
  if (!re) {
    re = new RegExp('^' + glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$');
    globCache.set(glob, re);
  }
  return re;
}

/** Expands `*`/`?` in any component of an absolute path against the host filesystem. */
export function expandGlob(abs: string, keepMissing = false): string[] {
  if (!/[*?]/.test(abs)) return keepMissing || lstatOrUndefined(abs) ? [abs] : [];
  const parts = abs.split('/').filter(Boolean);
  let cur = ['/'];
  for (const part of parts) {
    const next: string[] = [];
    if (/[*?]/.test(part)) {
      const re = componentRegex(part);
      for (const dir of cur) {
        let names: string[] = [];
        try {
          names = fs.readdirSync(dir);
        } catch {
          continue;
        }
        for (const n of names) if (re.test(n)) next.push(path.join(dir, n));
      }
    } else for (const dir of cur) next.push(path.join(dir, part));
    cur = next;
    if (cur.length === 0) return [];
  }
  return cur.filter((p) => lstatOrUndefined(p));
}

function walkWorkspace(
  root: string,
  deep: string[][],
  out: Set<string>,
  nestedGit: string[],
  limits: { maxDepth?: number; maxDirs?: number },
): { dirs: number; truncated: boolean } {
  const maxDepth = limits.maxDepth ?? 8;
  const maxDirs = limits.maxDirs ?? 20_000;
  const regexes = deep.map((parts) => parts.map(componentRegex));
  const stack: Array<[string, number]> = [[root, 0]];
  let dirs = 0;
  let truncated = false;
  while (stack.length) {
    const [dir, depth] = stack.pop()!;
    if (++dirs > maxDirs) {
      truncated = true;
      break;
    }
    let ents: fs.Dirent[];
    try {
      ents = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of ents) {
      const full = dir + '/' + e.name;
      for (const parts of regexes) if (matchesTail(full, root, parts)) out.add(full);
      if (e.name === '.git' && dir !== root) nestedGit.push(full);
      if (e.isDirectory() && !SKIP_DIRS.has(e.name)) {
        if (depth + 1 < maxDepth) stack.push([full, depth + 1]);
        else truncated = true;
      }
    }
  }
  return { dirs: Math.min(dirs, maxDirs), truncated };
}

function matchesTail(full: string, root: string, parts: RegExp[]): boolean {
  const rel = full.slice(root.length + 1).split('/');
  if (rel.length < parts.length) return false;
  for (let i = 0; i < parts.length; i++) if (!parts[parts.length - 1 - i]!.test(rel[rel.length - 1 - i]!)) return false;
  return true;
}

/** The first symlink on the way to `p` that lies inside `dir` (p itself included). */
function symlinkInside(p: string, dir: string): string | undefined {
  if (!isInside(p, dir) || p === dir) return undefined;
  let cur = dir;
  for (const part of path.relative(dir, p).split('/')) {
    cur = path.join(cur, part);
    const st = lstatOrUndefined(cur);
    if (!st) return undefined;
    if (st.isSymbolicLink()) return cur;
  }
  return undefined;
}

function looksLikeGitDir(p: string): boolean {
  return path.basename(p) === '.git' || (isFile(path.join(p, 'HEAD')) && isRealDir(path.join(p, 'objects')));
}

export function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

function isRealDir(p: string): boolean {
  const st = lstatOrUndefined(p);
  return !!st && st.isDirectory();
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch {
    return false;
  }
}

export function safeRealpath(p: string): string | undefined {
  try {
    return fs.realpathSync.native(p);
  } catch {
    return undefined;
  }
}

function safeReadlink(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch {
    return undefined;
  }
}

/**
 * Whether `identity` can reach (search every ancestor of) a path. Root reaches everything;
 * for anyone else a path below a directory they cannot search is already invisible to them,
 * and bwrap (running as them) could not mount over it.
 */
function reachability(id: Identity): (p: string) => boolean {
  if (id.uid === 0) return () => true;
  const self = process.getuid?.() === id.uid;
  const cache = new Map<string, boolean>();
  const canSearch = (dir: string): boolean => {
    let r = cache.get(dir);
    if (r !== undefined) return r;
    try {
      const st = fs.statSync(dir);
      if (st.uid === id.uid) r = (st.mode & 0o100) !== 0;
      else if (id.gids.includes(st.gid)) r = (st.mode & 0o010) !== 0;
      else r = (st.mode & 0o001) !== 0;
    } catch {
      r = false;
    }
    cache.set(dir, r);
    return r;
  };
  return (p: string) => {
    if (self) return lstatOrUndefined(p) !== undefined; // the kernel already answered for us
    let dir = path.dirname(p);
    const chain: string[] = [];
    while (dir !== '/') {
      chain.push(dir);
      dir = path.dirname(dir);
    }
    return chain.every(canSearch);
  };
}
