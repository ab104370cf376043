// What of git a sandbox must not change: everything git reads on the host to decide what to
// run. For every git directory reachable from the workspace (the workspace's own, its
// submodules under .git/modules at any depth, linked worktrees, nested repositories, a
// `.git` file's or symlink's target, a `commondir`'s target): hooks, config, config.worktree,
// commondir, and the files those configs include; the directory core.hooksPath names
// (repository, user and system config), with husky's parent directory and hook managers'
// configs. Each of these is made read-only; the directories on the way to them are pinned
// (bound onto themselves) so that renaming an ancestor cannot put a fresh hook or config at
// the same path while the run goes on. The walk is iterative and bounded: a repository made
// to be expensive to walk cannot stop a run or its teardown.
import fs from 'node:fs';
import path from 'node:path';
import { readGitConfig, values, type GitConfigEntry } from './git-config.js';

/** What a protected git path is, for judging one the sandbox created (protect.ts). */
export type GitKind = 'hooks' | 'config' | 'commondir' | 'gitfile' | 'pointer' | 'hookconfig';

export interface GitTargets {
  /** Paths to make read-only (existing or not: missing ones are checked after the run). */
  protect: string[];
  kinds: Record<string, GitKind>;
  /** Git directories found (realpaths), for the after-run check of new ones. */
  gitDirs: string[];
  /** A limit was hit: some git directories were not looked at. */
  truncated: boolean;
}

const MAX_GIT_DIRS = 256;
const MAX_MODULE_DEPTH = 6;
const MAX_INCLUDE_DEPTH = 5;
/** What git writes into a linked worktree's `commondir`. */
export const WORKTREE_COMMONDIR = '../..\n';

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

/**
 * The paths a pointer file may mean. Git strips only the line end; a reader that trims more
 * would protect another directory than the one git uses, so both readings are followed.
 */
export function pointerTargets(content: string, base: string): string[] {
  const exact = content.replace(/\r?\n$/, '');
  const out = new Set<string>();
  for (const v of [exact, exact.trim()]) if (v) out.add(path.resolve(base, v));
  return [...out];
}

/** The directories a `.git` file points to (`gitdir: PATH`), resolved against the file's directory. */
export function gitfileTargets(file: string): string[] {
  const text = readSmall(file) ?? '';
  const m = /^gitdir: ?(.*)$/m.exec(text);
  return m ? pointerTargets(m[1]!, path.dirname(file)) : [];
}

export function looksLikeGitDir(p: string): boolean {
  const head = lstat(path.join(p, 'HEAD'));
  return !!head && !head.isDirectory() && (!!lstat(path.join(p, 'config')) || !!lstat(path.join(p, 'objects')));
}

function expandHome(p: string, home: string | undefined): string | undefined {
  if (p === '~' || p.startsWith('~/')) return home ? path.join(home, p.slice(1)) : undefined;
  return p;
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

class Walk {
  readonly protect = new Set<string>();
  readonly kinds = new Map<string, GitKind>();
  readonly gitDirs = new Set<string>();
  readonly configs: Array<{ file: string; worktree?: string }> = [];
  truncated = false;
  private readonly queue: Array<{ dir: string; worktree?: string; depth: number }> = [];

  add(p: string, kind: GitKind): void {
    this.protect.add(p);
    if (!this.kinds.has(p)) this.kinds.set(p, kind);
  }

  enqueue(dir: string, worktree: string | undefined, depth: number): void {
    this.queue.push({ dir, worktree, depth });
  }

  /** Follows a `.git` entry (directory, gitfile or symlink) found at `entry`. */
  entry(entry: string): void {
    const st = lstat(entry);
    if (!st) return;
    const worktree = path.dirname(entry);
    if (st.isSymbolicLink()) {
      this.add(entry, 'gitfile');
      const real = safeReal(entry);
      if (real) this.enqueue(real, worktree, 0);
    } else if (st.isFile()) {
      this.add(entry, 'gitfile');
      for (const t of gitfileTargets(entry)) this.enqueue(t, worktree, 0);
    } else if (st.isDirectory()) this.enqueue(entry, worktree, 0);
  }

  /** Drains the queue of git directories, breadth first, up to MAX_GIT_DIRS. */
  run(): void {
    while (this.queue.length) {
      const { dir: g, worktree, depth } = this.queue.shift()!;
      const real = safeReal(g) ?? g;
      if (this.gitDirs.has(real)) continue;
      if (this.gitDirs.size >= MAX_GIT_DIRS) {
        this.truncated = true;
        return;
      }
      this.gitDirs.add(real);
      this.add(path.join(g, 'hooks'), 'hooks');
      this.add(path.join(g, 'config'), 'config');
      this.add(path.join(g, 'config.worktree'), 'config');
      this.add(path.join(g, 'commondir'), 'commondir');
      this.configs.push({ file: path.join(g, 'config'), worktree }, { file: path.join(g, 'config.worktree'), worktree });
      // A linked worktree's private dir names its common dir, whose hooks and config also apply.
      const common = readSmall(path.join(g, 'commondir'));
      if (common !== undefined) for (const t of pointerTargets(common, g)) this.enqueue(t, worktree, depth + 1);
      for (const name of listDirs(path.join(g, 'worktrees'))) {
        const wt = path.join(g, 'worktrees', name);
        this.add(path.join(wt, 'config.worktree'), 'config');
        this.add(path.join(wt, 'commondir'), 'commondir');
        this.add(path.join(wt, 'gitdir'), 'pointer');
        this.configs.push({ file: path.join(wt, 'config.worktree') });
      }
      // Submodules' git directories (names may contain slashes: walk them).
      if (depth < MAX_MODULE_DEPTH) for (const m of moduleDirs(path.join(g, 'modules'))) this.enqueue(m, coreWorktree(m), depth + 1);
    }
  }
}

function coreWorktree(g: string): string | undefined {
  const v = values(readGitConfig(path.join(g, 'config')) ?? [], 'core', 'worktree')[0];
  return v ? path.resolve(g, v) : undefined;
}

/** Git directories below a `modules` directory (names may contain slashes), bounded. */
function moduleDirs(dir: string): string[] {
  const out: string[] = [];
  const stack: Array<[string, number]> = [[dir, 0]];
  while (stack.length && out.length < MAX_GIT_DIRS) {
    const [d, depth] = stack.pop()!;
    for (const name of listDirs(d)) {
      const p = path.join(d, name);
      if (looksLikeGitDir(p)) out.push(p);
      else if (depth < MAX_MODULE_DEPTH) stack.push([p, depth + 1]);
    }
  }
  return out;
}

/** Hook managers whose configuration decides what a hook runs. */
const HOOK_MANAGER_FILES = ['.pre-commit-config.yaml', 'lefthook.yml', '.lefthook.yml', 'lefthook-local.yml', 'lefthook.yaml', '.lefthook.yaml', '.husky'];

/** core.hooksPath and included files named by one config (and what it includes, bounded). */
function followConfig(file: string, worktree: string | undefined, home: string | undefined, w: Walk, depth = 0): void {
  const entries: readonly GitConfigEntry[] | undefined = readGitConfig(file);
  if (!entries) return;
  for (const hp of values(entries, 'core', 'hookspath')) {
    const p = expandHome(hp, home);
    if (!p) continue;
    // A relative hooksPath is relative to where hooks run: the worktree (any of them).
    const abs = path.isAbsolute(p) ? p : worktree ? path.resolve(worktree, p) : undefined;
    if (!abs) continue;
    w.add(abs, 'hooks');
    const real = safeReal(abs);
    if (real && real !== abs) w.add(real, 'hooks'); // a symlinked hooks directory: its target
    if (path.basename(abs) === '_') w.add(path.dirname(abs), 'hooks'); // husky 9: .husky/_ runs .husky/<hook>
  }
  if (depth >= MAX_INCLUDE_DEPTH) return;
  for (const inc of [...values(entries, 'include', 'path'), ...values(entries, 'includeif', 'path', true)]) {
    const p = expandHome(inc, home);
    if (!p) continue;
    const abs = path.resolve(path.dirname(file), p);
    w.add(abs, 'config');
    followConfig(abs, worktree, home, w, depth + 1);
  }
}

/**
 * Everything git-related to protect for a sandbox. `gitEntries` are `.git` paths found in the
 * workspace (nested ones); `extraGitDirs` are writable roots that are git dirs.
 */
export function gitTargets(o: { workspace: string; gitEntries: string[]; extraGitDirs?: string[]; homes: string[]; xdgConfigHome?: string }): GitTargets {
  const w = new Walk();
  w.entry(path.join(o.workspace, '.git'));
  for (const e of o.gitEntries) w.entry(e);
  for (const g of o.extraGitDirs ?? []) w.enqueue(g, undefined, 0);
  w.run();
  // Hooks directories that are symlinks: what they point to is where the hooks are.
  for (const p of [...w.protect]) {
    if (w.kinds.get(p) !== 'hooks') continue;
    const st = lstat(p);
    const real = st?.isSymbolicLink() ? safeReal(p) : undefined;
    if (real) w.add(real, 'hooks');
  }
  const home = o.homes[0];
  const worktrees = [o.workspace, ...o.gitEntries.map((e) => path.dirname(e))];
  for (const wt of worktrees) for (const f of HOOK_MANAGER_FILES) w.add(path.join(wt, f), f === '.husky' ? 'hooks' : 'hookconfig');
  for (const c of w.configs) for (const wt of c.worktree ? [c.worktree] : worktrees) followConfig(c.file, wt, home, w);
  // User and system config: their hooksPath applies to every repository.
  const globals = [...o.homes.flatMap((h) => [path.join(h, '.gitconfig'), path.join(h, '.config/git/config')]), '/etc/gitconfig'];
  if (o.xdgConfigHome) globals.push(path.join(o.xdgConfigHome, 'git/config'));
  for (const g of globals) for (const wt of worktrees) followConfig(g, wt, home, w);
  return { protect: [...w.protect].sort(), kinds: Object.fromEntries(w.kinds), gitDirs: [...w.gitDirs].sort(), truncated: w.truncated };
}

/**
 * `.git` entries and bare-looking repositories below `root` (a bounded walk; for the after-run
 * check of repositories the sandbox made).
 */
export function findGitEntries(root: string, limits: { maxDepth?: number; maxDirs?: number; skip?: ReadonlySet<string> } = {}): string[] {
  const skip = limits.skip ?? new Set(['node_modules']);
  const maxDepth = limits.maxDepth ?? 10;
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
    const names = new Set(ents.map((e) => e.name));
    // A bare repository: git runs its config and hooks for anyone who cds into it.
    if (dir !== root && names.has('HEAD') && names.has('config') && (names.has('objects') || names.has('refs'))) {
      out.push(dir);
      continue;
    }
    const venv = names.has('pyvenv.cfg');
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
