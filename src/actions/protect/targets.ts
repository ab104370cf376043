// What kernel-refused reads mark: the protected secrets that exist (the built-in secret list
// and `protect.paths`, for every home and every agent's project) and Warden's own config,
// rules and audit log. A file is marked itself; a directory is marked with its subdirectories
// (bounded), so new files inside are covered too. Marks are on inodes: a secret is protected
// whatever name or link reaches it, and one replaced by a new file is marked again at the
// next rescan.
import fs from 'node:fs';
import path from 'node:path';
import { SECRET_PATHS } from '../../config/defaults.js';

export interface Target {
  path: string;
  dir: boolean;
  /** The pattern (or Warden file) it came from, for reports. */
  why: string;
}

const MAX_SUBDIRS = 512;
const MAX_DEPTH = 6;
const PROJECT_MAX_ENTRIES = 20_000;
const PROJECT_SKIP = new Set(['node_modules', '.git', '.hg', '.svn', 'target', 'dist', 'build', '.venv', 'venv', '__pycache__', '.cache']);

/** Homes whose secrets are protected: every user's (the rules say the same of `~/`) and the agents'. */
export function knownHomes(extra: Iterable<string> = []): string[] {
  const out = new Set<string>(['/root']);
  try {
    for (const e of fs.readdirSync('/home', { withFileTypes: true })) if (e.isDirectory()) out.add(path.join('/home', e.name));
  } catch {
    /* no /home */
  }
  for (const h of extra) if (h && h.startsWith('/')) out.add(path.resolve(h));
  return [...out];
}

/** Every existing path the patterns name, for these homes and project directories. */
export function secretTargets(o: { homes: string[]; projects: string[]; extra: string[]; builtin?: boolean }): Target[] {
  const patterns = [...(o.builtin === false ? [] : SECRET_PATHS.map((e) => e.pattern)), ...o.extra];
  const out = new Map<string, Target>();
  const add = (p: string, why: string) => {
    if (out.has(p)) return;
    for (const t of targetsAt(p, why, (st) => st.isFile() || st.isSocket())) if (!out.has(t.path)) out.set(t.path, t);
  };
  const projectFiles: Array<[RegExp, string]> = [];
  for (const pat of patterns) {
    if (pat.startsWith('~/')) for (const h of o.homes) for (const p of expand(path.join(h, pat.slice(2)))) add(p, pat);
    else if (pat.startsWith('/')) for (const p of expand(pat)) add(p, pat);
    else if (pat.startsWith('**/')) projectFiles.push([globRe(pat.slice(3)), pat]);
    else for (const proj of o.projects) for (const p of expand(path.join(proj, pat))) add(p, pat);
  }
  if (projectFiles.length) for (const proj of o.projects) for (const [p, why] of findInProject(proj, projectFiles)) add(p, why);
  return [...out.values()];
}

/** Warden's own files: closed to agents (read and write) like the secrets. */
export function ownTargets(files: Array<string | undefined>): Target[] {
  return files.flatMap((f) => (f ? targetsAt(f, 'warden', () => true) : []));
}

/** What protecting one existing path means: itself, and every directory below a directory; nothing when it is gone. */
function targetsAt(p: string, why: string, fileKind: (st: fs.Stats) => boolean): Target[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    return [];
  }
  if (st.isDirectory()) return [{ path: p, dir: true, why }, ...subdirs(p).map((sub) => ({ path: sub, dir: true, why }))];
  return fileKind(st) ? [{ path: p, dir: false, why }] : [];
}

/** The audit log and its rotated files (events.ndjson, events.ndjson.1, .2.gz ...). */
export function auditFiles(log: string | undefined): string[] {
  if (!log) return [];
  const dir = path.dirname(log);
  const base = path.basename(log);
  try {
    return fs
      .readdirSync(dir)
      .filter((n) => n === base || (n.startsWith(base + '.') && /^\.\d+(\.gz)?$/.test(n.slice(base.length))))
      .map((n) => path.join(dir, n));
  } catch {
    return [];
  }
}

function subdirs(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > MAX_DEPTH || out.length >= MAX_SUBDIRS) return;
    let ents: fs.Dirent[];
    try {
      ents = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      if (!e.isDirectory() || out.length >= MAX_SUBDIRS) continue;
      const p = path.join(d, e.name);
      out.push(p);
      walk(p, depth + 1);
    }
  };
  walk(root, 1);
  return out;
}

/** A path with `*` in some components, expanded against the filesystem. */
function expand(p: string): string[] {
  if (!p.includes('*')) return [p];
  const parts = p.split('/').filter(Boolean);
  let cur = ['/'];
  for (const part of parts) {
    const next: string[] = [];
    if (!part.includes('*')) for (const c of cur) next.push(path.join(c, part));
    else {
      const re = globRe(part);
      for (const c of cur) {
        try {
          for (const n of fs.readdirSync(c)) if (re.test(n)) next.push(path.join(c, n));
        } catch {
          /* not a directory */
        }
      }
    }
    cur = next.slice(0, 1000);
  }
  return cur;
}

function globRe(name: string): RegExp {
  return new RegExp('^' + name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$');
}

function findInProject(root: string, pats: Array<[RegExp, string]>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let seen = 0;
  const walk = (d: string, depth: number) => {
    if (depth > MAX_DEPTH || seen > PROJECT_MAX_ENTRIES) return;
    let ents: fs.Dirent[];
    try {
      ents = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      seen++;
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (!PROJECT_SKIP.has(e.name)) walk(p, depth + 1);
      } else {
        const hit = pats.find(([re]) => re.test(e.name));
        if (hit) out.push([p, hit[1]]);
      }
    }
  };
  walk(root, 0);
  return out;
}
