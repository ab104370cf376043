// Secret files a workspace's earlier plans hid, remembered per workspace (in Warden's state
// directory, which no sandbox can write) and hidden again by every later plan while they exist.
// The workspace walk that finds secrets skips what it is told to (node_modules and other
// dependency trees, Python virtual environments, what lies too deep or past its directory
// limit), and a sandbox can write the workspace: attacker round 11 made the next run's walk miss
// a secret it had been shown covered, by creating `pyvenv.cfg` above it or renaming its directory
// to `node_modules` (on both paths, Node and fast). A secret the sandbox moved is looked for by
// its inode after the run, through the whole workspace, and remembered where it went.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isInside } from './views.js';

/** A hidden secret as it was when the plan was made. */
export interface SecretFile {
  path: string;
  dev: number;
  ino: number;
}

/** At most this many per workspace (the oldest go first). */
const MAX = 2000;

function fileOf(dir: string, workspace: string): string {
  return path.join(dir, `${crypto.createHash('sha256').update(workspace).digest('hex').slice(0, 32)}.json`);
}

/** The remembered secrets of `workspace` (absolute paths inside it); none when `dir` is undefined or holds nothing valid. */
export function rememberedSecrets(dir: string | undefined, workspace: string): string[] {
  if (!dir) return [];
  try {
    const r = JSON.parse(fs.readFileSync(fileOf(dir, workspace), 'utf8')) as { workspace?: unknown; paths?: unknown };
    if (r.workspace !== workspace || !Array.isArray(r.paths)) return [];
    return r.paths.filter((p): p is string => typeof p === 'string' && path.isAbsolute(p) && isInside(p, workspace) && p !== workspace && !p.split('/').includes('..'));
  } catch {
    return [];
  }
}

/** Remembers `paths` (those inside `workspace`) for it: written only when the set changed. */
export function rememberSecrets(dir: string | undefined, workspace: string, paths: string[]): void {
  if (!dir) return;
  const want = [...new Set(paths.filter((p) => isInside(p, workspace) && p !== workspace))].sort().slice(-MAX);
  const had = rememberedSecrets(dir, workspace).sort();
  if (had.length === want.length && had.every((p, i) => p === want[i])) return;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Only a real directory of ours (not a symlink planted where a sandbox could write).
    const st = fs.lstatSync(dir);
    if (!st.isDirectory() || st.uid !== (process.getuid?.() ?? st.uid)) return;
    const file = fileOf(dir, workspace);
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ workspace, paths: want }), { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch {
    /* not remembered: the walk still finds what it finds */
  }
}

/** The hidden secrets of a plan that are files inside `workspace`, with their identity now. */
export function secretFiles(hidden: string[], workspace: string): SecretFile[] {
  const out: SecretFile[] = [];
  for (const p of hidden) {
    if (!isInside(p, workspace) || p === workspace) continue;
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (st?.isFile()) out.push({ path: p, dev: st.dev, ino: st.ino });
  }
  return out;
}

/** Those of `secrets` no longer at their path (moved, replaced or removed). */
export function movedSecrets(secrets: SecretFile[]): SecretFile[] {
  return secrets.filter((s) => {
    try {
      const st = fs.lstatSync(s.path, { throwIfNoEntry: false });
      return !st || st.dev !== s.dev || st.ino !== s.ino;
    } catch {
      return true;
    }
  });
}

/**
 * Where in `workspace` the files of `lost` are now (by device and inode), through every
 * directory, skipped ones included; bounded by `maxDirs` and `maxMs` (the sandbox, which moved
 * them, could fill the workspace to make this long). Returns [old path, new path] pairs.
 */
export function findMoved(workspace: string, lost: SecretFile[], maxDirs = 50_000, maxMs = 3000): Array<[string, string]> {
  const want = new Map(lost.map((s) => [`${s.dev}:${s.ino}`, s.path]));
  const found: Array<[string, string]> = [];
  const stack = [workspace];
  const until = Date.now() + maxMs;
  for (let dirs = 0; stack.length && dirs < maxDirs && want.size && Date.now() < until; dirs++) {
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
        const st = fs.lstatSync(full, { throwIfNoEntry: false });
        const key = st && `${st.dev}:${st.ino}`;
        if (key && want.has(key)) {
          found.push([want.get(key)!, full]);
          want.delete(key);
        }
      }
    }
  }
  return found;
}
