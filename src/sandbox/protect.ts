// After-the-run check of write-protected paths. Existing ones were read-only binds; ones that
// did not exist could not be covered without creating a placeholder on the host, so they are
// checked here instead: anything the sandbox created or swapped at a protected name (a git
// hook, a git config that runs a program, .mcp.json, .vscode/tasks.json, ~/.bash_profile when
// the workspace is $HOME...) is renamed aside (never deleted) and reported. Git is looked at
// again after the run: a repository, submodule or worktree the sandbox created has its hooks
// and config judged the same way. Also run for the record of a Warden that died.
import fs from 'node:fs';
import path from 'node:path';
import { expandGlob, type ModeEntry, type ProtectedEntry } from './fs-plan.js';
import { parseGitConfig, unsafeKeys, values } from './git-config.js';
import { findGitEntries, gitfileTargets, gitTargets, WORKTREE_COMMONDIR, type GitKind } from './git-protect.js';
import { isInside } from './views.js';

export interface ProtectViolation {
  path: string;
  change: 'created' | 'replaced' | 'moved' | 'symlinked_parent';
  /** Why a created path is not harmless (the hooks or config keys found). */
  reason?: string;
  quarantinedTo?: string;
  error?: string;
}

/** Why a new path of this kind is an attack; undefined when it is what git itself creates. */
export function judgeNew(p: string, kind: GitKind | undefined, writable: readonly string[] = []): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return 'unreadable';
  }
  try {
    switch (kind) {
      case 'hooks': {
        if (!st.isDirectory()) return st.isSymbolicLink() ? 'hooks directory replaced by a symlink' : 'hooks path is not a directory';
        // A fresh `git init` copies *.sample hooks: they never run.
        const live = fs.readdirSync(p).filter((n) => !n.endsWith('.sample'));
        return live.length ? `hooks: ${live.slice(0, 5).join(', ')}` : undefined;
      }
      case 'config':
        return judgeConfig(p, st, writable);
      case 'commondir': {
        // Only a linked worktree's, and only what git writes: anything else moves where git
        // reads the config and hooks from.
        const inWorktree = path.basename(path.dirname(path.dirname(p))) === 'worktrees';
        if (!st.isFile() || st.size > 64) return 'commondir is not what git writes';
        return inWorktree && fs.readFileSync(p, 'utf8') === WORKTREE_COMMONDIR ? undefined : `commondir points git elsewhere (${JSON.stringify(fs.readFileSync(p, 'utf8').slice(0, 60))})`;
      }
      case 'gitfile':
        return judgeGitfile(p, st);
      case 'pointer':
        return st.isFile() && st.size < 4096 ? undefined : 'not a plain pointer file';
      case 'hookconfig':
        return 'a git hook manager configuration was created';
    }
  } catch {
    return 'unreadable';
  }
  return 'created at a protected path';
}

function judgeConfig(p: string, st: fs.Stats, writable: readonly string[]): string | undefined {
  if (!st.isFile() || st.size > 64 * 1024) return 'config is not a small regular file';
  const parsed = parseGitConfig(fs.readFileSync(p, 'utf8'));
  // Git never writes these: a config git could read differently than Warden is not judged, it is refused.
  if (!parsed.valid || parsed.continued) return 'config git could read differently (continued or malformed lines)';
  const unsafe = unsafeKeys(parsed.entries);
  if (unsafe.length) return `keys not known to be safe: ${[...new Set(unsafe)].slice(0, 5).join(', ')}`;
  for (const v of values(parsed.entries, 'core', 'worktree')) {
    const wt = path.resolve(path.dirname(p), v);
    if (!writable.some((w) => isInside(wt, w))) return `core.worktree points outside the writable area (${v})`;
  }
  return undefined;
}

/** A `.git` file git wrote for a submodule or worktree points into a repository's modules/ or worktrees/. */
function judgeGitfile(p: string, st: fs.Stats): string | undefined {
  if (st.isSymbolicLink()) return '.git is a symlink';
  if (!st.isFile() || st.size > 4096) return '.git is not a small regular file';
  const targets = gitfileTargets(p);
  if (targets.length !== 1) return '.git file git could read differently';
  const t = targets[0]!;
  const parent = path.basename(path.dirname(t));
  const inRepo = /\/\.git\/(modules|worktrees)\//.test(t + '/') || parent === 'modules' || parent === 'worktrees';
  const real = (() => {
    try {
      return fs.realpathSync.native(t);
    } catch {
      return undefined;
    }
  })();
  return inRepo && real === t ? undefined : `.git file points to ${t}`;
}

/** The first component below `root` that is a symlink, if any (never follow one when fixing). */
function symlinkedAncestor(p: string, root: string): string | undefined {
  let cur = root;
  for (const part of path.relative(root, path.dirname(p)).split('/').filter(Boolean)) {
    cur = path.join(cur, part);
    try {
      const st = fs.lstatSync(cur, { throwIfNoEntry: false });
      if (!st) return undefined;
      if (st.isSymbolicLink()) return cur;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export function checkProtected(entries: ProtectedEntry[], sandboxId: string, quarantine = true, writable: readonly string[] = []): ProtectViolation[] {
  const out: ProtectViolation[] = [];
  const seen = new Set<string>();
  for (const e of entries) {
    const link = symlinkedAncestor(e.path, e.root);
    if (link) {
      // The sandbox replaced a directory on the way to a protected path with a symlink.
      if (!seen.has(link)) {
        seen.add(link);
        out.push(fix({ path: link, change: 'symlinked_parent' }, sandboxId, quarantine));
      }
      continue;
    }
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(e.path, { throwIfNoEntry: false });
    } catch {
      st = undefined;
    }
    if (!e.before) {
      if (!st) continue;
      const reason = judgeNew(e.path, e.git ?? legacyKind(e.path), writable.length ? writable : [e.root]);
      if (reason) out.push(fix({ path: e.path, change: 'created', reason }, sandboxId, quarantine));
    } else if (!st) {
      out.push({ path: e.path, change: 'moved' });
    } else if (st.ino !== e.before.ino || st.dev !== e.before.dev) {
      out.push(fix({ path: e.path, change: 'replaced' }, sandboxId, quarantine));
    }
  }
  return out;
}

export interface ModeViolation {
  path: string;
  before: number;
  after: number;
  restored: boolean;
}

/**
 * Write permission for group or others that the sandbox added to the workspace, its git
 * directories or the directories pinned on the way to protected paths: with it, any local
 * user could plant what the owner's next `git` runs. The old mode is put back.
 */
export function checkModes(entries: readonly ModeEntry[]): ModeViolation[] {
  const out: ModeViolation[] = [];
  for (const e of entries) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(e.path);
    } catch {
      continue;
    }
    if (st.ino !== e.ino || st.dev !== e.dev || st.isSymbolicLink()) continue;
    const mode = st.mode & 0o7777;
    const added = mode & ~e.mode & 0o022;
    if (!added) continue;
    let restored = false;
    try {
      fs.chmodSync(e.path, e.mode);
      restored = true;
    } catch {
      /* reported as not restored */
    }
    out.push({ path: e.path, before: e.mode, after: mode, restored });
  }
  return out;
}

/** Entries recorded before git kinds existed (crash records of an older Warden). */
function legacyKind(p: string): GitKind | undefined {
  const parent = path.basename(path.dirname(p));
  if (parent !== '.git') return undefined;
  return path.basename(p) === 'hooks' ? 'hooks' : path.basename(p) === 'config' ? 'config' : undefined;
}

/**
 * Git paths that exist after the run but did not before: the hooks and configs of repositories,
 * submodules and worktrees the sandbox created, and what their configs point to. Only paths
 * inside the writable roots (elsewhere the sandbox could not write).
 */
export function newGitEntries(o: { workspace: string; writable: string[]; homes: string[]; before: string[]; skip?: ReadonlySet<string> }): ProtectedEntry[] {
  const after = gitTargets({ workspace: o.workspace, gitEntries: findGitEntries(o.workspace, { skip: o.skip }), homes: o.homes });
  const known = new Set(o.before);
  const out: ProtectedEntry[] = [];
  for (const p of after.protect) {
    if (known.has(p)) continue;
    const root = o.writable.find((w) => p !== w && (p.startsWith(w.endsWith('/') ? w : w + '/')));
    if (!root) continue;
    out.push({ path: p, root, git: after.kinds[p] });
  }
  return out;
}

/**
 * Moves a violation aside to NAME.warden-quarantined-ID-RANDOM. The sandbox knows its id
 * (WARDEN_SANDBOX) and could have put a directory at a predictable destination to make the
 * rename fail; a random part it cannot guess, a few tries, and as a last resort the path made
 * inert (no permissions) keep what it planted from running.
 */
/** Matches of home run patterns (globs included) that appeared during the run. */
export function newHomeEntries(patterns: readonly string[], writable: readonly string[], known: ReadonlySet<string>): ProtectedEntry[] {
  const out: ProtectedEntry[] = [];
  for (const pat of patterns) {
    if (!/[*?]/.test(pat)) continue; // concrete ones are entries already
    for (const p of expandGlob(pat)) {
      if (known.has(p)) continue;
      const root = writable.find((w) => p !== w && isInside(p, w));
      if (root) out.push({ path: p, root });
    }
  }
  return out;
}

function fix(v: ProtectViolation, id: string, quarantine: boolean): ProtectViolation {
  if (!quarantine) return v;
  let last: Error | undefined;
  for (let i = 0; i < 4; i++) {
    // Web Crypto (loaded on first use, not on every run's start path).
    const rnd = Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(6))).toString('hex');
    const to = `${v.path}.warden-quarantined-${id}-${rnd}`;
    if (fs.existsSync(to)) continue;
    try {
      fs.renameSync(v.path, to); // rename never follows the last component
      return { ...v, quarantinedTo: to };
    } catch (err) {
      last = err as Error;
    }
  }
  try {
    const st = fs.lstatSync(v.path);
    if (!st.isSymbolicLink()) fs.chmodSync(v.path, 0);
    return { ...v, error: `${last?.message ?? 'could not be renamed'}; its permissions were removed instead` };
  } catch (err) {
    return { ...v, error: (err as Error).message };
  }
}
