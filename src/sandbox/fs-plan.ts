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
import { listDir } from './listing.js';
import { isFileAt } from './remembered-secrets.js';
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
   * An agent's private layers (sandbox/layers.ts): each `scratch` (Warden's, writable by the
   * sandbox uid) is bound at `dir` with the real entries read-only inside, but `skip`.
   */
  layers?: Array<{ dir: string; scratch: string; skip: string[] }>;
  /** Secret files earlier plans of this workspace hid (remembered-secrets.ts): hidden again while they exist. */
  remembered?: string[];
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
  const hidden = hiddenCandidates(input, warnings, writable);
  const git = gitTargets({ workspace: ws, gitEntries: hidden.gitEntries, extraGitDirs: writable.slice(1).filter(looksLikeGitDir), homes: input.homes, xdgConfigHome: process.env.XDG_CONFIG_HOME });
  const protectedSet = protectedCandidates(policy, ws, writable, input.homes, [...git.protect, ...hidden.nestedProtected]);
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
  for (const l of input.layers ?? []) mounts.push(...layerOps(l, writable, hidden.paths, views.source));
  for (const w of writable) mounts.push({ op: 'bind', src: views.source(w), dest: w });
  const hide = hidePaths([...hidden.paths].sort(), ws, views.reach, writable);
  mounts.push(...pinAncestors(hide.hidden, writable, views.reach, views.source));
  const prot = protectPaths([...protectedSet].sort(), writable, views.reach, views.source, git.kinds);
  const modes = modeEntries([...writable, ...prot.pins, ...git.gitDirs.filter((g) => writable.some((w) => isInside(g, w))).flatMap((g) => [g, path.join(g, 'objects'), path.join(g, 'refs'), path.join(g, 'HEAD'), path.join(g, 'index')])]);
  mounts.push(...prot.mounts);
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
 * A private layer: Warden's directory bound writable at `dir`, then every entry of the real
 * `dir` read-only in it (symlinks recreated unless they lead to a hidden path, sockets and the
 * like left out), except what another layer or a writable path covers and what Warden copied
 * in; hidden directories get their cover later.
 */
function layerOps(l: { dir: string; scratch: string; skip: string[] }, writable: string[], hidden: Set<string>, source: (p: string) => string): MountOp[] {
  const ops: MountOp[] = [{ op: 'bind', src: l.scratch, dest: l.dir }];
  let ents: fs.Dirent[] = [];
  try {
    ents = fs.readdirSync(l.dir, { withFileTypes: true });
  } catch {
    return ops;
  }
  for (const e of ents) {
    const p = path.join(l.dir, e.name);
    if (l.skip.includes(e.name) || writable.some((w) => w === p)) continue;
    if (e.isSymbolicLink()) {
      const target = safeReadlink(p);
      const real = safeRealpath(p);
      if (target !== undefined && !(real && [...hidden].some((h) => isInside(real, h)))) ops.push({ op: 'symlink', target, dest: p });
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
    // A sandbox can plant symlinks wherever it can write (the workspace, and the home paths an
    // earlier run was given): following one would let that run choose what this run makes
    // writable (say `cache` -> $HOME, or ~/.cache/x -> /usr/local/bin).
    const planted = symlinkInside(abs, ws) ?? (home ? symlinkInside(abs, home) : undefined);
    if (planted)
      throw new PlanError(`allow_write ${p}: goes through the symlink ${planted}, which a sandbox could have planted; name the real path (${safeRealpath(abs) ?? '?'}) instead`);
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
function hiddenCandidates(input: FsPlanInput, warnings: string[], writable: string[]): { paths: Set<string>; gitEntries: string[]; nestedProtected: string[]; scan: { dirs: number; truncated: boolean } } {
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
  const nestedProtected: string[] = [];
  const unlistable: string[] = [];
  const scan = walkWorkspace(ws, deepPatterns, paths, gitEntries, input.scan ?? {}, nestedProtected, unlistable);
  for (const d of unlistable.slice(0, 5)) warnings.push(`${d}: Warden cannot list it, so it is covered inside with an empty read-only directory (it could hold a secret); make it readable to see it in the sandbox`);
  // What the walk no longer finds because the sandbox wrote its way around it (a secret pushed past
  // the depth or directory limits, or kept from an earlier workspace around or inside this one).
  for (const p of input.remembered ?? []) if (isInside(p, ws) && isFileAt(p)) paths.add(p);
  if (scan.truncated)
    warnings.push(`workspace scan for secret files stopped after ${scan.dirs} directories; deeper ones may be visible (add them to filesystem.deny_read)`);
  // With socket(AF_UNIX) allowed, a host socket the sandbox can see is reachable (a password
  // manager's SSH agent, a container runtime): every socket in the homes is covered.
  if (policy.network.unixSockets)
    for (const h of input.homes) for (const sock of socketsBelow(h)) if (!insideSkippedLayerEntry(sock, input.layers ?? [], writable)) paths.add(sock);
  for (const a of allowReadAbs) paths.delete(a);
  return { paths, gitEntries, nestedProtected, scan };
}

/**
 * Absolute patterns of home files that run code or hold credentials and lie in a writable
 * root: persistence and startup files in any writable root; the home's secret paths only when
 * a writable root holds the whole home (workspace = $HOME), not under an allow_write path the
 * policy chose (an agent's own state directory holds its own transcripts).
 */
export function homeRunPatterns(homes: string[], writable: string[]): string[] {
  // A path below a home is inside a writable path only when the two are on one line (the
  // writable path inside the home, or the home inside it); the others are not expanded at all
  // (expansion reads directories: ~0.3 ms after every run, for the usual nothing).
  const near = homes.filter((h) => writable.some((w) => isInside(w, h) || isInside(h, w)));
  const out: string[] = [];
  for (const e of [...PERSISTENCE_PATHS, ...HOME_STARTUP_PATHS]) {
    if (e.pattern.startsWith('**/')) continue;
    for (const abs of expandHomes(e.pattern, near, '/')) if (writable.some((w) => isInside(abs, w))) out.push(abs);
  }
  for (const e of SECRET_PATHS) {
    if (!e.pattern.startsWith('~/')) continue;
    for (const h of near) if (writable.some((w) => isInside(h, w))) out.push(path.join(h, e.pattern.slice(2)));
  }
  return [...new Set(out)];
}

/** Whether a path in `home` is one of its persistence, startup or secret paths (never a path to suggest keeping). */
export function runsCodeOrHoldsSecrets(p: string, home: string): boolean {
  if (!isInside(p, home)) return false;
  const rel = path.relative(home, p).split('/');
  return [...PERSISTENCE_PATHS, ...HOME_STARTUP_PATHS, ...SECRET_PATHS].some((e) => {
    if (!e.pattern.startsWith('~/')) return false;
    const parts = e.pattern.slice(2).split('/');
    // p is the pattern's path, inside it, or on the way to it (~/.config when ~/.config/git/config is listed)
    const n = Math.min(parts.length, rel.length);
    for (let i = 0; i < n; i++) if (!componentRegex(parts[i]!).test(rel[i]!)) return false;
    return true;
  });
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
function hidePaths(candidates: string[], ws: string, reach: (p: string) => boolean, writable: string[] = [ws]): { mounts: MountOp[]; hidden: string[] } {
  const mounts: MountOp[] = [];
  const hidden: string[] = [];
  const hiddenDirs: string[] = [];
  const done = new Set<string>();
  for (const cand of candidates) {
    if (isInside(ws, cand)) throw new PlanError(`the workspace ${ws} lies inside the hidden path ${cand}; choose another directory or add it to filesystem.allow_read`);
    // A symlink (~/.aws -> /data/aws) cannot be a mount point: its target is what is covered.
    const p = lstatOrUndefined(cand)?.isSymbolicLink() ? safeRealpath(cand) : cand;
    if (!p || done.has(p)) continue;
    done.add(p);
    if (p !== cand && isInside(ws, p)) continue; // a secret's link into the workspace: the workspace stays
    if (hiddenDirs.some((d) => isInside(p, d))) continue; // inside a hidden directory already: gone with it
    if (!reach(p)) {
      // In a writable root the sandbox may own the directory that stops it, and make it searchable
      // again (attacker round 12: `chmod 000` above a covered secret, then `chmod 755` in the next
      // run): that directory is covered instead.
      const block = firstUnsearchable(p, writable, reach);
      if (block && !done.has(block) && !hiddenDirs.some((d) => isInside(block, d))) {
        done.add(block);
        mounts.push({ op: 'tmpfs', dest: block, readOnly: true });
        hiddenDirs.push(block);
        hidden.push(block);
      }
      continue;
    }
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
    // A second name of a secret file, made where the sandbox can write (attacker round 13: a link
    // made to a `.env` before it held anything; the secret written into it later): covered too.
    if (st.isFile() && st.nlink > 1 && writable.some((w) => isInside(p, w)))
      for (const other of otherNames(writable, st.dev, st.ino)) {
        if (done.has(other) || hiddenDirs.some((d) => isInside(other, d)) || !reach(other)) continue;
        done.add(other);
        mounts.push({ op: 'devnull', dest: other });
        hidden.push(other);
      }
  }
  return { mounts, hidden };
}

/** Other names of file dev:ino in the writable roots (bounded: 20,000 directories, 1 s). */
function otherNames(roots: string[], dev: number, ino: number): string[] {
  const out: string[] = [];
  const until = Date.now() + 1000;
  let dirs = 0;
  for (const root of roots) {
    const stack = [root];
    while (stack.length && dirs++ < 20_000 && Date.now() < until) {
      const dir = stack.pop()!;
      let ents: fs.Dirent[];
      try {
        ents = fs.readdirSync(dir, { withFileTypes: true });
      } catch {
        continue;
      }
      for (const e of ents) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) stack.push(full);
        else if (e.isFile()) {
          const st = lstatOrUndefined(full);
          if (st && st.dev === dev && st.ino === ino) out.push(full);
        }
      }
    }
  }
  return out;
}

/** The first directory on the way from the writable root holding `p` to `p` that the sandbox reaches but cannot search further. */
function firstUnsearchable(p: string, writable: string[], reach: (p: string) => boolean): string | undefined {
  const root = writable.find((w) => isInside(p, w) && p !== w);
  if (!root) return undefined;
  let d = root;
  for (const part of path.relative(root, p).split('/')) {
    const next = path.join(d, part);
    if (!reach(next)) return d === root ? undefined : d; // d is reached, what is in it is not: d stops it
    d = next;
  }
  return undefined;
}

/**
 * Each directory between a writable root and a hidden path in it, bound onto itself (writable,
 * as it was): a mount point cannot be renamed, so the sandbox cannot move a covered secret's
 * directory where the next run's scan does not look (node_modules, deeper than it goes; attacker
 * rounds 11 and 12: the secret was readable in the next run). Before the protected paths' and the
 * secrets' own mounts, which they would otherwise cover.
 */
function pinAncestors(hidden: string[], writable: string[], reach: (p: string) => boolean, source: (p: string) => string): MountOp[] {
  const dirs = new Set<string>();
  for (const h of hidden) {
    // From the outermost writable root that holds it: an allow_write path around the workspace
    // could otherwise have the directories above the workspace renamed, the workspace with them
    // (attacker round 13).
    const root = writable.filter((w) => isInside(h, w) && h !== w).sort((a, b) => a.length - b.length)[0];
    if (!root) continue;
    for (let d = path.dirname(h); d !== root && isInside(d, root); d = path.dirname(d)) if (!writable.includes(d)) dirs.add(d);
  }
  return [...dirs]
    .sort((a, b) => a.length - b.length || a.localeCompare(b))
    .filter((d) => reach(d))
    .map((d) => ({ op: 'bind', src: source(d), dest: d }));
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

/** Whether a path lies under an entry a layer does not bind from the host (it is not visible inside). */
function insideSkippedLayerEntry(p: string, layers: ReadonlyArray<{ dir: string; skip: string[] }>, writable: readonly string[]): boolean {
  if (writable.some((w) => isInside(p, w))) return false; // bound writable from the host: visible
  return layers.some((l) => isInside(p, l.dir) && p !== l.dir && l.skip.includes(path.relative(l.dir, p).split('/')[0]!) && !layers.some((m) => m !== l && isInside(p, m.dir) && m.dir.length > l.dir.length));
}

/** Unix sockets below `dir` (bounded: depth 6, 5,000 directories; dependency trees skipped). */
export function socketsBelow(dir: string, limits = { maxDepth: 6, maxDirs: 5000 }): string[] {
  const out: string[] = [];
  const stack: Array<[string, number]> = [[dir, 0]];
  let dirs = 0;
  while (stack.length && dirs++ < limits.maxDirs) {
    const [d, depth] = stack.pop()!;
    let ents: fs.Dirent[];
    try {
      ents = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of ents) {
      const full = d + '/' + e.name;
      if (e.isSocket()) out.push(full);
      else if (e.isDirectory() && !SKIP_DIRS.has(e.name) && depth + 1 < limits.maxDepth) stack.push([full, depth + 1]);
    }
  }
  return out;
}

function walkWorkspace(
  root: string,
  deep: string[][],
  out: Set<string>,
  nestedGit: string[],
  limits: { maxDepth?: number; maxDirs?: number },
  nestedProtected: string[] = [],
  unlistable: string[] = [],
): { dirs: number; truncated: boolean } {
  const protectedNames = new Set(WORKSPACE_PROTECTED.filter((r) => !r.includes('/')));
  const maxDepth = limits.maxDepth ?? 8;
  const maxDirs = limits.maxDirs ?? 20_000;
  const regexes = deep.map((parts) => parts.map(componentRegex));
  /**
   * An entry made or removed in `dir` after the walk that the walk would not have looked at: no
   * secret name, no nested `.git` or protected name, and no directory it would descend into (the
   * plan cache's judge of this walk's listings).
   */
  const unseen = (dir: string, name: string, isDir: boolean) =>
    !(dir !== root && (name === '.git' || protectedNames.has(name))) &&
    !regexes.some((parts) => matchesTail(dir + '/' + name, root, parts)) &&
    (!isDir || SKIP_DIRS.has(name));
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
      ents = listDir(dir, (added, removed) => added.every((e) => unseen(dir, e.name, e.isDirectory())) && removed.every((r) => unseen(dir, r.name, r.wasDir)));
    } catch (err) {
      // One Warden cannot list could hold a secret (a sandbox of the same user can make one so,
      // after moving a secret in, and open it again later): covered as a whole.
      if ((err as NodeJS.ErrnoException).code === 'EACCES' && dir !== root) {
        out.add(dir);
        unlistable.push(dir);
      }
      continue;
    }
    // A Python virtual environment is descended too (its site-packages is skipped by name): its
    // marker, pyvenv.cfg, is a file the sandbox can write (attacker rounds 11 and 13: one planted
    // above a secret made the next runs' scans miss it, and every secret made there later).
    for (const e of ents) {
      const full = dir + '/' + e.name;
      for (const parts of regexes) if (matchesTail(full, root, parts)) out.add(full);
      if (e.name === '.git' && dir !== root) nestedGit.push(full);
      if (dir !== root && protectedNames.has(e.name)) nestedProtected.push(full);
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
