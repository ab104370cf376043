// The filesystem view of a sandbox, as an ordered list of mount operations for bwrap: the
// host read-only with the kernel's global interfaces covered, private /tmp and /run, the
// workspace (and allow_write paths) writable, write-protected paths inside writable areas
// read-only again (their parent directories pinned so they cannot be renamed away), secrets
// hidden last so they win. Only paths that exist get a mount: nothing is ever created on the
// host to serve as a mount point (sandbox-runtime left empty placeholder files behind).
// Protected paths that do not exist yet are recorded instead and checked after the run
// (protect.ts). When Warden is root, directories the sandbox's uid does not own come through
// idmapped views (views.ts).
import fs from 'node:fs';
import path from 'node:path';
import { HOME_STARTUP_PATHS, PERSISTENCE_PATHS, SECRET_PATHS, WORKSPACE_PROTECTED } from '../config/defaults.js';
import { gitTargets, type GitKind } from './git-protect.js';
import { kernelMaskOps } from './kernel-masks.js';
import type { MountOp } from './mount-ops.js';
import type { RunPolicy } from './policy.js';
import { isInside, planViews, type View, type ViewIdentity } from './views.js';

export { isInside };

export type { MountOp };

export interface ModeEntry {
  path: string;
  mode: number;
  dev: number;
  ino: number;
}

export interface ProtectedEntry {
  /** Absolute path. */
  path: string;
  /** The writable root it lies in. */
  root: string;
  /** State before the run: undefined when it did not exist. */
  before?: { dev: number; ino: number; dir: boolean };
  /** For git paths: how one created by the sandbox is judged (protect.ts). */
  git?: GitKind;
}

/**
 * Who bwrap runs as: decides which paths it can reach (and so must and can cover), and, when
 * Warden is root, which directories it is shown through idmapped views.
 */
export interface Identity {
  uid: number;
  gid?: number;
  gids: number[];
  callerRoot?: boolean;
  standIn?: boolean;
  /** Attach directory for this run's views (root only). */
  mountDir?: string;
}

export interface FsPlanInput {
  policy: RunPolicy;
  workspace: string;
  /** Home directories whose `~/` secrets are hidden (caller's, target user's, sandbox HOME). */
  homes: string[];
  identity: Identity;
  /** Scan limits for `**` patterns in the workspace. */
  scan?: { maxDepth?: number; maxDirs?: number };
  /**
   * An agent's home: `dir` (Warden's, private, writable by the sandbox uid) is bound at `home`
   * and the home's entries are bound read-only into it, so the agent can create files in its
   * home (temporary files, locks) that vanish with the run, and rewrite `copies` (files Warden
   * put in `dir`, written back after the run) by rename.
   */
  scratchHome?: { dir: string; home: string; copies: string[] };
}

export interface FsPlan {
  mounts: MountOp[];
  /** Writable roots (workspace first), realpaths. */
  writable: string[];
  hidden: string[];
  readOnly: string[];
  protectedEntries: ProtectedEntry[];
  /** Idmapped views the runner must attach before bwrap starts, and skeleton directories. */
  views: View[];
  skeletons: string[];
  /** Everything git reads to decide what to run, as found before the run (for the after-run check). */
  git: { protect: string[]; entries: string[] };
  /** Whether the sandbox's uid can reach `p` inside (every directory on the way searchable). */
  reach(p: string): boolean;
  /** Modes of what others must not be handed (writable roots, pinned and git directories), checked after the run. */
  modes: ModeEntry[];
  warnings: string[];
  /** Directories of the workspace scan (for figures) and whether it stopped at a limit. */
  scan: { dirs: number; truncated: boolean };
}

export class PlanError extends Error {
  readonly exitCode = 2;
}

/** Dependency trees, caches and version-control stores: not where a project keeps its secrets. */
export const SKIP_DIRS: ReadonlySet<string> = new Set(['node_modules', '.git', '.hg', '.svn', '__pycache__', '.tox', '.nox', '.mypy_cache', '.pytest_cache', '.ruff_cache', '.gradle', '.terraform', 'site-packages', 'dist-packages']);

export function planFilesystem(input: FsPlanInput): FsPlan {
  const { policy, identity } = input;
  const ws = input.workspace;
  const warnings: string[] = [];
  if (ws === '/') throw new PlanError('the workspace cannot be / (that would make the whole host writable)');

  const writable = writableRoots(policy, ws, input.homes[0], warnings);
  const hidden = hiddenCandidates(input, warnings);
  const git = gitTargets({ workspace: ws, gitEntries: hidden.gitEntries, extraGitDirs: writable.slice(1).filter(looksLikeGitDir), homes: input.homes, xdgConfigHome: process.env.XDG_CONFIG_HOME });
  const protectedSet = protectedCandidates(policy, ws, writable, input.homes, git.protect);
  const vid: ViewIdentity = {
    uid: identity.uid,
    gid: identity.gid ?? identity.gids[0] ?? identity.uid,
    gids: identity.gids,
    callerRoot: identity.callerRoot ?? false,
    standIn: identity.standIn ?? false,
    mountDir: identity.mountDir,
  };
  const views = planViews(vid, writable, input.homes);

  const mounts: MountOp[] = baseMounts();
  for (const s of views.skeletons) mounts.push({ op: 'tmpfs', dest: s });
  for (const v of views.views) if (v.readOnly) mounts.push({ op: 'ro-bind', src: v.at, dest: v.src });
  if (input.scratchHome) mounts.push(...scratchHomeOps(input.scratchHome, writable, hidden.paths, views.source));
  for (const w of writable) mounts.push({ op: 'bind', src: views.source(w), dest: w });
  const prot = protectPaths([...protectedSet].sort(), writable, views.reach, views.source, git.kinds);
  const modes = modeEntries([...writable, ...prot.pins, ...git.gitDirs.filter((g) => writable.some((w) => isInside(g, w))).flatMap((g) => [g, path.join(g, 'objects'), path.join(g, 'refs'), path.join(g, 'HEAD'), path.join(g, 'index')])]);
  mounts.push(...prot.mounts);
  const hide = hidePaths([...hidden.paths].sort(), ws, views.reach);
  mounts.push(...hide.mounts);
  for (const s of views.skeletons) mounts.push({ op: 'remount-ro', dest: s });
  return {
    mounts,
    writable,
    hidden: hide.hidden,
    readOnly: prot.readOnly,
    protectedEntries: prot.entries,
    views: views.views,
    skeletons: views.skeletons,
    git: { protect: git.protect, entries: hidden.gitEntries },
    reach: views.reach,
    modes,
    warnings,
    scan: hidden.scan,
  };
}

/**
 * The agent's scratch home: Warden's directory bound writable at the home, then every entry of
 * the real home read-only in it (symlinks recreated, sockets and the like left out), except
 * what is bound writable later, what Warden copied in, and hidden directories (covered later).
 */
function scratchHomeOps(sh: { dir: string; home: string; copies: string[] }, writable: string[], hidden: Set<string>, source: (p: string) => string): MountOp[] {
  const ops: MountOp[] = [{ op: 'bind', src: sh.dir, dest: sh.home }];
  let ents: fs.Dirent[] = [];
  try {
    ents = fs.readdirSync(sh.home, { withFileTypes: true });
  } catch {
    return ops;
  }
  for (const e of ents) {
    const p = path.join(sh.home, e.name);
    if (sh.copies.includes(e.name) || writable.some((w) => w === p)) continue;
    if (e.isSymbolicLink()) {
      const target = safeReadlink(p);
      if (target !== undefined) ops.push({ op: 'symlink', target, dest: p });
    } else if (e.isDirectory() || e.isFile()) {
      // A hidden directory is covered by an empty tmpfs later; its mount point is made by bwrap.
      if (hidden.has(p) && e.isDirectory()) continue;
      ops.push({ op: 'ro-bind', src: source(p), dest: p });
    }
  }
  return ops;
}

/** The host read-only, its global kernel interfaces covered, private scratch space. */
function baseMounts(): MountOp[] {
  // /dev and /proc are added by the bwrap builder (--dev, --proc) right after the root bind.
  const mounts: MountOp[] = [{ op: 'ro-bind', src: '/', dest: '/' }, ...kernelMaskOps()];
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
  return mounts;
}

/** The workspace and the policy's allow_write paths, as realpaths (never through a planted symlink). */
function writableRoots(policy: RunPolicy, ws: string, home: string | undefined, warnings: string[]): string[] {
  const writable: string[] = [ws];
  const optional = policy.agent?.stateDirs ?? []; // an agent profile's state directories that this user does not have
  for (const p of policy.filesystem.allowWrite) {
    const abs = resolveUserPath(p, ws, home);
    // A sandbox can plant symlinks wherever it can write: following one found there would
    // let an earlier run choose what this run makes writable (say `cache` -> $HOME).
    const planted = symlinkInside(abs, ws);
    if (planted)
      throw new PlanError(`allow_write ${p}: goes through the symlink ${planted} inside the workspace, which a sandbox could have planted; name the real path instead`);
    const real = safeRealpath(abs);
    if (!real) {
      if (!optional.includes(p)) warnings.push(`allow_write ${p}: does not exist, skipped (Warden never creates paths on the host)`);
      continue;
    }
    if (real === '/') throw new PlanError(`allow_write ${p}: cannot make / writable`);
    if (!writable.includes(real)) writable.push(real);
  }
  return writable;
}

/** Secret paths to hide (built-in list, deny_read, credential files; minus allow_read), and the `.git` entries seen on the way. */
function hiddenCandidates(input: FsPlanInput, warnings: string[]): { paths: Set<string>; gitEntries: string[]; scan: { dirs: number; truncated: boolean } } {
  const { policy } = input;
  const ws = input.workspace;
  const allowRead = new Set(policy.filesystem.allowRead.map((p) => p.replace(/\/+$/, '')));
  const secretPatterns = [
    ...SECRET_PATHS.map((e) => e.pattern).filter((p) => !allowRead.has(p)),
    ...policy.filesystem.denyRead,
    // A credential file's real content stays outside (the egress proxy holds it).
    ...policy.credentials.flatMap((c) => (c.file ? [c.file] : [])),
  ];
  const allowReadAbs = new Set([...allowRead].flatMap((p) => expandHomes(p, input.homes, ws)));
  // `**/` patterns are matched during one bounded walk of the workspace.
  const paths = new Set<string>();
  const deepPatterns: string[][] = [];
  for (const pat of secretPatterns) {
    if (pat.startsWith('**/')) {
      deepPatterns.push(pat.slice(3).split('/'));
      continue;
    }
    for (const abs of expandHomes(pat, input.homes, ws)) for (const m of expandGlob(abs)) paths.add(m);
  }
  const gitEntries: string[] = [];
  const scan = walkWorkspace(ws, deepPatterns, paths, gitEntries, input.scan ?? {});
  if (scan.truncated)
    warnings.push(`workspace scan for secret files stopped after ${scan.dirs} directories; deeper ones may be visible (add them to filesystem.deny_read)`);
  for (const a of allowReadAbs) paths.delete(a);
  return { paths, gitEntries, scan };
}

/**
 * Absolute patterns of home files that run code or hold credentials and lie in a writable
 * root: persistence and startup files in any writable root; the home's secret paths only when
 * a writable root holds the whole home (workspace = $HOME), not under an allow_write path the
 * policy chose (an agent's own state directory holds its own transcripts).
 */
export function homeRunPatterns(homes: string[], writable: string[]): string[] {
  const out: string[] = [];
  for (const e of [...PERSISTENCE_PATHS, ...HOME_STARTUP_PATHS]) {
    if (e.pattern.startsWith('**/')) continue;
    for (const abs of expandHomes(e.pattern, homes, '/')) if (writable.some((w) => isInside(abs, w))) out.push(abs);
  }
  for (const e of SECRET_PATHS) {
    if (!e.pattern.startsWith('~/')) continue;
    for (const h of homes) if (writable.some((w) => isInside(h, w))) out.push(path.join(h, e.pattern.slice(2)));
  }
  return [...new Set(out)];
}

/** Write-protected paths inside writable roots: the workspace's built-in list, git, read_only, persistence files. */
function protectedCandidates(policy: RunPolicy, ws: string, writable: string[], homes: string[], git: string[]): Set<string> {
  const out = new Set<string>();
  for (const rel of WORKSPACE_PROTECTED) out.add(path.join(ws, rel));
  for (const g of git) out.add(g);
  for (const p of policy.filesystem.readOnly) out.add(resolveUserPath(p, ws, homes[0]));
  // Files of the host that run code or hold credentials, when they lie in a writable root
  // (workspace = $HOME): persistence, startup files, and the home's secret paths (a sandbox that
  // creates ~/.aws/config can add a credential_process).
  for (const abs of homeRunPatterns(homes, writable)) for (const m of expandGlob(abs, true)) out.add(m);
  // An explicit allow_write of a protected path lifts the protection.
  for (const w of writable.slice(1)) out.delete(w);
  return out;
}

/**
 * Read-only binds for existing protected paths (and, first, their parent directories bound onto
 * themselves: a mount point cannot be renamed, so `mv .git .git-old; mkdir .git` cannot put
 * a fresh hooks directory in place while the run goes on). Missing ones are only recorded.
 */
function protectPaths(
  candidates: string[],
  writable: string[],
  reach: (p: string) => boolean,
  source: (p: string) => string,
  kinds: Record<string, GitKind>,
): { mounts: MountOp[]; readOnly: string[]; entries: ProtectedEntry[]; pins: string[] } {
  const pins = new Set<string>();
  const ro: MountOp[] = [];
  const readOnly: string[] = [];
  const entries: ProtectedEntry[] = [];
  for (const p of candidates) {
    const root = writable.find((w) => isInside(p, w) && p !== w);
    if (!root) continue; // outside writable areas it is read-only anyway
    const st = lstatOrUndefined(p);
    if (st && !reach(p)) continue;
    for (let d = path.dirname(p); d !== root && isInside(d, root); d = path.dirname(d)) {
      const dst = lstatOrUndefined(d);
      if (dst?.isDirectory() && !writable.includes(d)) pins.add(d);
    }
    if (st && !st.isSymbolicLink()) {
      ro.push({ op: 'ro-bind', src: source(p), dest: p });
      readOnly.push(p);
      entries.push({ path: p, root, before: { dev: st.dev, ino: st.ino, dir: st.isDirectory() }, git: kinds[p] });
    } else if (st?.isSymbolicLink()) {
      // A symlink at a protected name: it cannot be retargeted (the parent is writable, so
      // it can be replaced). Record it; the post-run check reports replacement.
      entries.push({ path: p, root, before: { dev: st.dev, ino: st.ino, dir: false }, git: kinds[p] });
    } else {
      entries.push({ path: p, root, git: kinds[p] });
    }
  }
  // Outer pins first, so each inner bind lands inside the pinned directory.
  const pinOps: MountOp[] = [...pins]
    .filter((d) => reach(d))
    .sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b))
    .map((d) => ({ op: 'bind', src: source(d), dest: d }));
  return { mounts: [...pinOps, ...ro], readOnly, entries, pins: [...pins] };
}

function modeEntries(paths: string[]): ModeEntry[] {
  const out: ModeEntry[] = [];
  for (const p of new Set(paths)) {
    const st = lstatOrUndefined(p);
    if (st && !st.isSymbolicLink()) out.push({ path: p, mode: st.mode & 0o7777, dev: st.dev, ino: st.ino });
  }
  return out;
}

/** Hidden paths last, so a protected or writable bind never uncovers one. */
function hidePaths(candidates: string[], ws: string, reach: (p: string) => boolean): { mounts: MountOp[]; hidden: string[] } {
  const mounts: MountOp[] = [];
  const hidden: string[] = [];
  const hiddenDirs: string[] = [];
  for (const p of candidates) {
    if (isInside(ws, p)) throw new PlanError(`the workspace ${ws} lies inside the hidden path ${p}; choose another directory or add it to filesystem.allow_read`);
    if (hiddenDirs.some((d) => isInside(p, d))) continue; // inside a hidden directory already: gone with it
    if (!reach(p)) continue;
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(p, { throwIfNoEntry: false });
    } catch {
      st = undefined;
    }
    if (!st) continue; // dangling symlink or vanished: nothing to hide
    if (st.isDirectory()) {
      mounts.push({ op: 'tmpfs', dest: p, readOnly: true });
      hiddenDirs.push(p);
    } else mounts.push({ op: 'devnull', dest: p });
    hidden.push(p);
  }
  return { mounts, hidden };
}

// ---------------------------------------------------------------- helpers

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
    // A Python virtual environment (pyvenv.cfg at its top) is a dependency tree: not descended.
    const venv = ents.some((e) => e.name === 'pyvenv.cfg');
    for (const e of ents) {
      const full = dir + '/' + e.name;
      for (const parts of regexes) if (matchesTail(full, root, parts)) out.add(full);
      if (e.name === '.git' && dir !== root) nestedGit.push(full);
      if (e.isDirectory() && !venv && !SKIP_DIRS.has(e.name)) {
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
