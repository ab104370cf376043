// After-the-run check of write-protected paths. Existing ones were read-only binds; ones that
// did not exist could not be covered without creating a placeholder on the host, so they are
// checked here instead: anything the sandbox created or swapped at a protected name (a git
// hook, .mcp.json, .vscode/tasks.json, ~/.bash_profile when the workspace is $HOME...) is
// renamed aside (never deleted) and reported. Also run for the record of a Warden that died.
import fs from 'node:fs';
import path from 'node:path';
import type { ProtectedEntry } from './fs-plan.js';

export interface ProtectViolation {
  path: string;
  change: 'created' | 'replaced' | 'moved' | 'symlinked_parent';
  quarantinedTo?: string;
  error?: string;
}

/** Keys that make a git config run commands (core.hooksPath, fsmonitor, filters, helpers...). */
const GIT_CONFIG_EXEC =
  /^\s*(hookspath|fsmonitor|sshcommand|pager|editor|askpass|gitproxy|textconv|clean|smudge|process|helper|driver|uploadpack|receivepack|command|cmd|program)\s*=|^\s*\[\s*(include|includeif|alias)\b/im;

/** A fresh `git init` creates .git/hooks/*.sample and a plain config: not an attack. */
function benignNew(p: string): boolean {
  const parent = path.basename(path.dirname(p));
  if (parent !== '.git' && !p.endsWith('/.git')) return false;
  const base = path.basename(p);
  try {
    if (base === 'hooks') {
      return fs.readdirSync(p, { withFileTypes: true }).every((e) => e.isFile() && e.name.endsWith('.sample'));
    }
    if (base === 'config') {
      const st = fs.lstatSync(p);
      return st.isFile() && st.size < 64 * 1024 && !GIT_CONFIG_EXEC.test(fs.readFileSync(p, 'utf8'));
    }
  } catch {
    return false;
  }
  return false;
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
        out.push(fix(link, 'symlinked_parent', sandboxId, quarantine));
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
      if (st && !benignNew(e.path)) out.push(fix(e.path, 'created', sandboxId, quarantine));
    } else if (!st) {
      out.push({ path: e.path, change: 'moved' });
    } else if (st.ino !== e.before.ino || st.dev !== e.before.dev) {
      out.push(fix(e.path, 'replaced', sandboxId, quarantine));
    }
  }
  return out;
}

function fix(p: string, change: ProtectViolation['change'], id: string, quarantine: boolean): ProtectViolation {
  if (!quarantine) return { path: p, change };
  const to = `${p}.warden-quarantined-${id}`;
  try {
    fs.renameSync(p, to); // rename never follows the last component
    return { path: p, change, quarantinedTo: to };
  } catch (err) {
    return { path: p, change, error: (err as Error).message };
  }
}
