// Secret files a workspace's earlier plans hid, remembered per workspace (in a directory of
// Warden's that no sandbox can write) and hidden by every later plan while they exist. The
// workspace scan that finds secrets skips what it is told to (node_modules and other dependency
// trees, Python virtual environments, what lies too deep or past its directory limit), and a
// sandbox can write the workspace: attacker round 11 made the next run's scan miss a secret it
// had been shown covered by creating `pyvenv.cfg` above it (on both paths, Node and fast). Moving
// a covered secret's directory is refused inside (fs-plan.ts pinAncestors).
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
const MAX = 5000;
const MAX_BYTES = 1 << 20;

/**
 * One list for every workspace: a plan reads it whole (a workspace around or inside another shares
 * its secrets), and one file per workspace, all read by every plan, made every warm run check
 * hundreds of them (the plan cache records what a plan read).
 */
function fileOf(dir: string): string {
  return path.join(dir, 'remembered.json');
}

/** The remembered secrets inside `workspace` (absolute paths). */
export function rememberedSecrets(dir: string | undefined, workspace: string): string[] {
  return dir ? listOf(fileOf(dir)).filter((p) => isInside(p, workspace) && p !== workspace) : [];
}

/** The same: a workspace around or inside another shares its secrets (attacker round 13). */
export const rememberedWithin = rememberedSecrets;

/** The paths of the list file: absolute, no `..`; read only from a regular file of this user's, no FIFO, no symlink, bounded size. */
function listOf(file: string): string[] {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.uid !== (process.getuid?.() ?? st.uid) || st.size > MAX_BYTES) return [];
    const r = JSON.parse(fs.readFileSync(fd, 'utf8')) as { paths?: unknown };
    if (!Array.isArray(r.paths)) return [];
    return r.paths.filter((p): p is string => typeof p === 'string' && path.isAbsolute(p) && p !== '/' && !p.split('/').includes('..'));
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
  const all = listOf(fileOf(dir));
  const had = all.filter((p) => isInside(p, workspace) && p !== workspace);
  const mine = [...new Set([...had.filter(isFileAt), ...paths.filter((p) => isInside(p, workspace) && p !== workspace)])];
  const before = [...had].sort();
  const now = [...mine].sort();
  if (before.length === now.length && before.every((p, i) => p === now[i])) return;
  const want = [...all.filter((p) => !isInside(p, workspace)), ...mine].slice(-MAX);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Only a real directory of ours (not a symlink planted where a sandbox could write).
    const st = fs.lstatSync(dir);
    if (!st.isDirectory() || st.uid !== (process.getuid?.() ?? st.uid)) return;
    const file = fileOf(dir);
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ paths: want }), { mode: 0o600, flag: 'w' });
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
