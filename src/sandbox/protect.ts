// After-the-run check of write-protected paths. Existing ones were read-only binds; ones that
// did not exist could not be covered without creating a placeholder on the host, so they are
// checked here instead: anything the sandbox created or swapped at a protected name (a git
// hook, a git config that runs a program, .mcp.json, .vscode/tasks.json, ~/.bash_profile when
// the workspace is $HOME...) is renamed aside (never deleted) and reported. Git is looked at
// again after the run: a repository, submodule or worktree the sandbox created has its hooks
// and config judged the same way. Also run for the record of a Warden that died.
import fs from 'node:fs';
import path from 'node:path';
import type { ProtectedEntry } from './fs-plan.js';
import { execKeys, parseGitConfig } from './git-config.js';
import { findGitEntries, gitTargets, type GitKind } from './git-protect.js';

export interface ProtectViolation {
  path: string;
  change: 'created' | 'replaced' | 'moved' | 'symlinked_parent';
  /** Why a created path is not harmless (the hooks or config keys found). */
  reason?: string;
  quarantinedTo?: string;
  error?: string;
}

/** Why a new path of this kind is an attack; undefined when it is what git itself creates. */
export function judgeNew(p: string, kind: GitKind | undefined): string | undefined {
  try {
    const st = fs.lstatSync(p);
    if (kind === 'pointer') return st.isFile() && st.size < 4096 ? undefined : 'not a plain pointer file';
    if (kind === 'hooks') {
      if (!st.isDirectory()) return 'hooks path is not a directory';
      // A fresh `git init` copies *.sample hooks: they never run.
      const live = fs.readdirSync(p).filter((n) => !n.endsWith('.sample'));
      return live.length ? `hooks: ${live.slice(0, 5).join(', ')}` : undefined;
    }
    if (kind === 'config') {
      if (!st.isFile() || st.size > 64 * 1024) return 'config is not a small regular file';
      const keys = execKeys(parseGitConfig(fs.readFileSync(p, 'utf8')).entries);
      return keys.length ? `runs programs: ${[...new Set(keys)].slice(0, 5).join(', ')}` : undefined;
    }
  } catch {
    return 'unreadable';
  }
  return 'created at a protected path';
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

export function checkProtected(entries: ProtectedEntry[], sandboxId: string, quarantine = true): ProtectViolation[] {
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
      const reason = judgeNew(e.path, e.git ?? legacyKind(e.path));
      if (reason) out.push(fix({ path: e.path, change: 'created', reason }, sandboxId, quarantine));
    } else if (!st) {
      out.push({ path: e.path, change: 'moved' });
    } else if (st.ino !== e.before.ino || st.dev !== e.before.dev) {
      out.push(fix({ path: e.path, change: 'replaced' }, sandboxId, quarantine));
    }
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

function fix(v: ProtectViolation, id: string, quarantine: boolean): ProtectViolation {
  if (!quarantine) return v;
  const to = `${v.path}.warden-quarantined-${id}`;
  try {
    fs.renameSync(v.path, to); // rename never follows the last component
    return { ...v, quarantinedTo: to };
  } catch (err) {
    return { ...v, error: (err as Error).message };
  }
}
