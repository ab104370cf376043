// What of git a sandbox must not change: everything git reads on the host to decide what to
// run. For every git directory reachable from the workspace (the workspace's own, its
// submodules under .git/modules at any depth, linked worktrees, nested repositories, a
// `.git` file's target): hooks, config, config.worktree, commondir, and the files those
// configs include; the directory core.hooksPath names (repository, user and system config),
// with husky's parent directory. Each of these is made read-only; the directories on the way
// to them are pinned (bound onto themselves) so that renaming an ancestor cannot put a fresh
// hook or config at the same path while the run goes on.
import fs from 'node:fs';
import path from 'node:path';
import { readGitConfig, values, type GitConfigEntry } from './git-config.js';

/** What a protected git path is, for judging one the sandbox created (protect.ts). */
export type GitKind = 'hooks' | 'config' | 'pointer';

export interface GitTargets {
  /** Paths to make read-only (existing or not: missing ones are checked after the run). */
  protect: string[];
  kinds: Record<string, GitKind>;
  /** Git directories found (realpaths), for the after-run scan of new ones. */
  gitDirs: string[];
}

const MAX_MODULE_DEPTH = 6;
const MAX_INCLUDE_DEPTH = 5;

function lstat(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

function readSmall(p: string, max = 4096): string | undefined {
  try {
    const st = fs.statSync(p);
    if (!st.isFile() || st.size > max) return undefined;
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

/** The directory a `.git` file points to (`gitdir: PATH`), resolved against the file's directory. */
export function gitfileTarget(file: string): string | undefined {
  const m = /^gitdir:\s*(.+?)\s*$/m.exec(readSmall(file) ?? '');
  return m ? path.resolve(path.dirname(file), m[1]!) : undefined;
}

export function looksLikeGitDir(p: string): boolean {
  const head = lstat(path.join(p, 'HEAD'));
  return !!head && !head.isDirectory() && (!!lstat(path.join(p, 'config')) || !!lstat(path.join(p, 'objects')));
}

function expandHome(p: string, home: string | undefined): string | undefined {
  if (p === '~' || p.startsWith('~/')) return home ? path.join(home, p.slice(1)) : undefined;
  return p;
}

interface Walk {
  protect: Set<string>;
  kinds: Map<string, GitKind>;
  gitDirs: Set<string>;
  configs: Array<{ file: string; worktree?: string }>;
}

function add(w: Walk, p: string, kind: GitKind): void {
  w.protect.add(p);
  if (!w.kinds.has(p)) w.kinds.set(p, kind);
}

function addGitDir(g: string, worktree: string | undefined, w: Walk, depth: number): void {
  const real = safeReal(g) ?? g;
  if (w.gitDirs.has(real)) return;
  w.gitDirs.add(real);
  add(w, path.join(g, 'hooks'), 'hooks');
  add(w, path.join(g, 'config'), 'config');
  add(w, path.join(g, 'config.worktree'), 'config');
  add(w, path.join(g, 'commondir'), 'pointer');
  w.configs.push({ file: path.join(g, 'config'), worktree }, { file: path.join(g, 'config.worktree'), worktree });
  // A linked worktree's private dir names its common dir, whose hooks and config also apply.
  const common = readSmall(path.join(g, 'commondir'))?.trim();
  if (common) addGitDir(path.resolve(g, common), worktree, w, depth + 1);
  // Linked worktrees of this repository.
  for (const name of listDirs(path.join(g, 'worktrees'))) {
    const wt = path.join(g, 'worktrees', name);
    add(w, path.join(wt, 'config.worktree'), 'config');
    add(w, path.join(wt, 'commondir'), 'pointer');
    add(w, path.join(wt, 'gitdir'), 'pointer');
    w.configs.push({ file: path.join(wt, 'config.worktree') });
  }
  // Submodules' git directories (names may contain slashes: walk).
  if (depth < MAX_MODULE_DEPTH) for (const m of moduleDirs(path.join(g, 'modules'), 0)) addGitDir(m, coreWorktree(m), w, depth + 1);
}

function coreWorktree(g: string): string | undefined {
  const v = values(readGitConfig(path.join(g, 'config')) ?? [], 'core', 'worktree')[0];
  return v ? path.resolve(g, v) : undefined;
}

function moduleDirs(dir: string, depth: number): string[] {
  if (depth > MAX_MODULE_DEPTH) return [];
  const out: string[] = [];
  for (const name of listDirs(dir)) {
    const p = path.join(dir, name);
    if (looksLikeGitDir(p)) out.push(p);
    else out.push(...moduleDirs(p, depth + 1));
  }
  return out;
}

function listDirs(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

function safeReal(p: string): string | undefined {
  try {
    return fs.realpathSync.native(p);
  } catch {
    return undefined;
  }
}

/** Follows a `.git` entry (directory or gitfile) found at `entry`. */
function addGitEntry(entry: string, w: Walk): void {
  const st = lstat(entry);
  if (!st) return;
  const worktree = path.dirname(entry);
  if (st.isFile()) {
    add(w, entry, 'pointer');
    const target = gitfileTarget(entry);
    if (target) addGitDir(target, worktree, w, 0);
  } else if (st.isDirectory()) addGitDir(entry, worktree, w, 0);
}

/** core.hooksPath and included files named by one config (and what it includes, bounded). */
function followConfig(file: string, worktree: string | undefined, home: string | undefined, w: Walk, depth = 0): void {
  const entries: GitConfigEntry[] | undefined = readGitConfig(file);
  if (!entries) return;
  for (const hp of values(entries, 'core', 'hookspath')) {
    const p = expandHome(hp, home);
    if (!p) continue;
    // A relative hooksPath is relative to where hooks run: the worktree (any of them).
    const abs = path.isAbsolute(p) ? p : worktree ? path.resolve(worktree, p) : undefined;
    if (!abs) continue;
    add(w, abs, 'hooks');
    if (path.basename(abs) === '_') add(w, path.dirname(abs), 'hooks'); // husky 9: .husky/_ runs .husky/<hook>
  }
  if (depth >= MAX_INCLUDE_DEPTH) return;
  for (const inc of [...values(entries, 'include', 'path'), ...values(entries, 'includeif', 'path', true)]) {
    const p = expandHome(inc, home);
    if (!p) continue;
    const abs = path.resolve(path.dirname(file), p);
    add(w, abs, 'config');
    followConfig(abs, worktree, home, w, depth + 1);
  }
}

/**
 * Everything git-related to protect for a sandbox. `entries` are `.git` paths found in the
 * workspace (its own and nested ones); `extraGitDirs` are writable roots that are git dirs.
 */
export function gitTargets(o: { workspace: string; gitEntries: string[]; extraGitDirs?: string[]; homes: string[]; xdgConfigHome?: string }): GitTargets {
  const w: Walk = { protect: new Set(), kinds: new Map(), gitDirs: new Set(), configs: [] };
  addGitEntry(path.join(o.workspace, '.git'), w);
  for (const e of o.gitEntries) addGitEntry(e, w);
  for (const g of o.extraGitDirs ?? []) addGitDir(g, undefined, w, 0);
  const home = o.homes[0];
  const worktrees = [o.workspace, ...o.gitEntries.map((e) => path.dirname(e))];
  for (const c of w.configs) for (const wt of c.worktree ? [c.worktree] : worktrees) followConfig(c.file, wt, home, w);
  // User and system config: their hooksPath applies to every repository.
  const globals = [...o.homes.flatMap((h) => [path.join(h, '.gitconfig'), path.join(h, '.config/git/config')]), '/etc/gitconfig'];
  if (o.xdgConfigHome) globals.push(path.join(o.xdgConfigHome, 'git/config'));
  for (const g of globals) for (const wt of worktrees) followConfig(g, wt, home, w);
  return { protect: [...w.protect].sort(), kinds: Object.fromEntries(w.kinds), gitDirs: [...w.gitDirs].sort() };
}

/** `.git` entries below `root` that are not in `known` (a bounded walk; for the after-run check). */
export function findGitEntries(root: string, limits: { maxDepth?: number; maxDirs?: number; skip?: ReadonlySet<string> } = {}): string[] {
  const skip = limits.skip ?? new Set(['node_modules']);
  const maxDepth = limits.maxDepth ?? 8;
  const maxDirs = limits.maxDirs ?? 20_000;
  const out: string[] = [];
  const stack: Array<[string, number]> = [[root, 0]];
  let dirs = 0;
  while (stack.length && dirs++ < maxDirs) {
    const [dir, depth] = stack.pop()!;
    let ents: fs.Dirent[];
    try {
      ents = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    const venv = ents.some((e) => e.name === 'pyvenv.cfg');
    for (const e of ents) {
      const full = dir + '/' + e.name;
      if (e.name === '.git') {
        out.push(full);
        continue;
      }
      if (e.isDirectory() && !venv && !skip.has(e.name) && depth + 1 < maxDepth) stack.push([full, depth + 1]);
    }
  }
  return out;
}
