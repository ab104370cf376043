// Secret files a workspace's earlier plans hid, remembered per workspace (in a directory of
// Warden's that no sandbox can write) and hidden by every later plan while they exist. The
// workspace scan that finds secrets skips what it is told to (node_modules and other dependency
// trees, Python virtual environments, what lies too deep or past its directory limit), and a
// sandbox can write the workspace: attacker round 11 made the next run's scan miss a secret it
// had been shown covered by creating `pyvenv.cfg` above it (on both paths, Node and fast). Moving
// a covered secret's directory is refused inside (fs-plan.ts pinAncestors).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isInside } from './views.js';

/** Whether `p` is a regular file now (false where it cannot be looked at). */
export function isFileAt(p: string): boolean {
  try {
    return fs.lstatSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch {
    return false;
  }
}

/** At most this many per workspace, and a list file of at most this size. */
const MAX = 2000;
const MAX_BYTES = 1 << 20;

function fileOf(dir: string, workspace: string): string {
  return path.join(dir, `${crypto.createHash('sha256').update(workspace).digest('hex').slice(0, 32)}.json`);
}

/**
 * The remembered secrets of `workspace` (absolute paths inside it). Read only from a regular file
 * of this user's, without following a symlink or waiting on a FIFO, of bounded size (attacker
 * round 12: a FIFO in its place hung the supervisor for good).
 */
export function rememberedSecrets(dir: string | undefined, workspace: string): string[] {
  return dir ? listOf(fileOf(dir, workspace), workspace) : [];
}

/**
 * What every list in `dir` remembers inside `workspace`: a workspace around or inside another
 * one shares its secrets (attacker round 13: a secret remembered for `A` was readable from a run
 * in `B`, which holds `A`, once the sandbox had made `B`'s scan miss it).
 */
export function rememberedWithin(dir: string | undefined, workspace: string): string[] {
  if (!dir) return [];
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir).filter((n) => /^[0-9a-f]{32}\.json$/.test(n)).slice(0, 1000);
  } catch {
    return [];
  }
  return [...new Set(names.flatMap((n) => listOf(path.join(dir, n))).filter((p) => isInside(p, workspace) && p !== workspace))];
}

/** The paths of one list file (those of `workspace` only, when given). */
function listOf(file: string, workspace?: string): string[] {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.uid !== (process.getuid?.() ?? st.uid) || st.size > MAX_BYTES) return [];
    const r = JSON.parse(fs.readFileSync(fd, 'utf8')) as { workspace?: unknown; paths?: unknown };
    if (typeof r.workspace !== 'string' || (workspace !== undefined && r.workspace !== workspace) || !Array.isArray(r.paths)) return [];
    const ws = r.workspace;
    return r.paths.filter((p): p is string => typeof p === 'string' && path.isAbsolute(p) && isInside(p, ws) && p !== ws && !p.split('/').includes('..'));
  } catch {
    return [];
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Adds `paths` (inside `workspace`) to what is remembered for it, merged with what the file holds
 * now (another run may have written since this one read it), keeping those that still exist.
 * Written only when that changes the list.
 */
export function rememberSecrets(dir: string | undefined, workspace: string, paths: string[]): void {
  if (!dir) return;
  const had = rememberedSecrets(dir, workspace);
  const want = [...new Set([...had.filter(isFileAt), ...paths.filter((p) => isInside(p, workspace) && p !== workspace)])].sort().slice(-MAX);
  const before = [...had].sort();
  if (before.length === want.length && before.every((p, i) => p === want[i])) return;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Only a real directory of ours (not a symlink planted where a sandbox could write).
    const st = fs.lstatSync(dir);
    if (!st.isDirectory() || st.uid !== (process.getuid?.() ?? st.uid)) return;
    const file = fileOf(dir, workspace);
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ workspace, paths: want }), { mode: 0o600, flag: 'w' });
    fs.renameSync(tmp, file);
  } catch {
    /* not remembered: the scan still finds what it finds */
  }
}

/**
 * Where a workspace's secrets are remembered: Warden's state directory, or its runtime directory
 * when the state directory lies where the sandbox can write (workspace = $HOME); none when both
 * do. `writable`: the workspace and the policy's allow_write paths.
 */
export function secretsDirFor(candidates: string[], writable: string[]): string | undefined {
  return candidates.find((d) => !writable.some((w) => isInside(d, w) || isInside(w, d)));
}
