// Idmapped mounts (Linux >= 5.12, mount_setattr MOUNT_ATTR_IDMAP) for the root stand-in
// identity: a directory owned by uid A is shown to the sandbox's uid B as B's own, and what B
// creates through it lands on disk as A. bwrap 0.8 cannot make them, and resolves --bind-fd
// sources by path, so Warden clones the tree, idmaps the clone and attaches it below
// <runtime>/mnt/<sandbox id>/ (a private mount, 0711, so the sandbox's uid can reach it and
// nothing propagates); bwrap then binds it like any directory. Needs root.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { markUnmounted, mountPoints, sweepUnmounted } from '../util/mounts.js';

const NR = { open_tree: 428, move_mount: 429, mount_setattr: 442 } as const; // same on every arch (>= 424)
const OPEN_TREE_CLONE = 1;
const OPEN_TREE_CLOEXEC = 0o2000000;
const AT_EMPTY_PATH = 0x1000;
const MOVE_MOUNT_F_EMPTY_PATH = 4;
const O_PATH = 0o10000000;
const MS_BIND = 0x1000;
const MS_PRIVATE = 1 << 18;
const MNT_DETACH = 2;
export const MOUNT_ATTR = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, IDMAP: 0x100000 } as const;
/** Every id a user namespace can map (0 .. 2^32-2). */
const ALL_IDS = 4294967295;

interface Libc {
  syscall(nr: number, ...args: unknown[]): number | bigint;
  mount(src: string | null, target: string, type: string | null, flags: number, data: null): number;
  umount2(target: string, flags: number): number;
  errno(): number;
}

let libc: Libc | undefined;
function load(): Libc {
  if (libc) return libc;
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as {
    load(lib: string): { func(sig: string): (...a: unknown[]) => number };
    errno(): number;
  };
  const l = koffi.load('libc.so.6');
  const sys = l.func('long syscall(long, ...)');
  libc = {
    syscall: (nr, ...args) => sys(nr, ...args),
    mount: l.func('int mount(const char *src, const char *target, const char *type, unsigned long flags, const void *data)') as Libc['mount'],
    umount2: l.func('int umount2(const char *target, int flags)') as Libc['umount2'],
    errno: () => koffi.errno(),
  };
  return libc;
}

export class IdmapError extends Error {
  constructor(
    message: string,
    readonly errno?: number,
  ) {
    super(message);
  }
}

const ERRNO_NAMES: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 9: 'EBADF', 13: 'EACCES', 16: 'EBUSY', 22: 'EINVAL', 38: 'ENOSYS', 95: 'EOPNOTSUPP' };
const errName = (e: number) => ERRNO_NAMES[e] ?? `errno ${e}`;

/**
 * uid_map/gid_map lines that swap `a` and `b` and map every other id to itself: through the
 * mount, on-disk `a` appears as `b` and writes by `b` land as `a`. `a === b` is the identity.
 */
export function swapMap(a: number, b: number): string {
  if (a === b) return `0 0 ${ALL_IDS}\n`;
  const [lo, hi] = a < b ? [a, b] : [b, a];
  const lines: string[] = [];
  if (lo > 0) lines.push(`0 0 ${lo}`);
  lines.push(`${lo} ${hi} 1`);
  if (hi - lo - 1 > 0) lines.push(`${lo + 1} ${lo + 1} ${hi - lo - 1}`);
  lines.push(`${hi} ${lo} 1`);
  if (ALL_IDS - hi - 1 > 0) lines.push(`${hi + 1} ${hi + 1} ${ALL_IDS - hi - 1}`);
  return lines.join('\n') + '\n';
}

/**
 * A descriptor of a user namespace with these maps. Making one costs a process (~30 ms: Node
 * cannot unshare itself), so it is made once and pinned by a bind mount of its nsfs file in
 * `pinDir` (a private mount); later runs only open the pin.
 */
export async function usernsFor(uidMap: string, gidMap: string, pinDir: string): Promise<number> {
  const key = crypto.createHash('sha256').update(`${uidMap}|${gidMap}`).digest('hex').slice(0, 24);
  const pin = path.join(pinDir, key);
  // Only a pinned namespace (a mount point) counts: an empty placeholder left by a crash does not.
  if (isMountPoint(pin)) {
    try {
      return fs.openSync(pin, 'r');
    } catch {
      /* vanished: make it again */
    }
  }
  fs.mkdirSync(pinDir, { recursive: true, mode: 0o700 });
  const fd = await makeUserns(uidMap, gidMap, (nsPath) => {
    try {
      fs.writeFileSync(pin, '', { mode: 0o600 });
      const c = load();
      if (c.mount(nsPath, pin, null, MS_BIND, null) !== 0) throw new IdmapError(`cannot pin a user namespace at ${pin}: ${errName(c.errno())}`, c.errno());
    } catch (err) {
      // Another run made the same mapping at the same time and pinned it first (the file is then
      // its namespace, which cannot be written: EPERM): this one's namespace serves this run.
      if (!isMountPoint(pin)) throw err;
    }
  });
  return fd;
}

/** A user namespace with the given maps, held open by descriptor (its helper process is gone). */
export async function makeUserns(uidMap: string, gidMap: string, pin?: (nsPath: string) => void): Promise<number> {
  const self = fs.statSync('/proc/self/ns/user').ino;
  const helper = spawn('unshare', ['--user', '--', 'cat'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  helper.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((r) => helper.once('close', () => r()));
  helper.once('error', () => undefined);
  try {
    const pid = helper.pid;
    if (!pid) throw new IdmapError('cannot start unshare (util-linux) to make an id mapping');
    // Wait until the helper is in its new namespace (bounded: 2 s).
    const deadline = Date.now() + 2000;
    for (;;) {
      let ino: number | undefined;
      try {
        ino = fs.statSync(`/proc/${pid}/ns/user`).ino;
      } catch {
        throw new IdmapError(`unshare --user failed${stderr ? `: ${stderr.trim()}` : ''}`);
      }
      if (ino !== self) break;
      if (Date.now() > deadline) throw new IdmapError('unshare --user did not create a user namespace within 2 s');
      await new Promise((r) => setTimeout(r, 1));
    }
    fs.writeFileSync(`/proc/${pid}/uid_map`, uidMap);
    fs.writeFileSync(`/proc/${pid}/gid_map`, gidMap);
    pin?.(`/proc/${pid}/ns/user`);
    return fs.openSync(`/proc/${pid}/ns/user`, 'r');
  } finally {
    helper.stdin!.end();
    helper.kill('SIGKILL');
    // Reaped in the background: the descriptor holds the namespace.
    void exited;
  }
}

/** Makes `dir` a private mount point (once): mounts attached below it never propagate. */
export function ensurePrivateMountDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
  fs.chmodSync(dir, 0o711);
  if (isMountPoint(dir)) return;
  const c = load();
  if (c.mount(dir, dir, null, MS_BIND, null) !== 0) throw new IdmapError(`cannot bind ${dir} onto itself: ${errName(c.errno())}`, c.errno());
  if (c.mount(null, dir, null, MS_PRIVATE, null) !== 0) throw new IdmapError(`cannot make ${dir} a private mount: ${errName(c.errno())}`, c.errno());
}

export function isMountPoint(dir: string): boolean {
  try {
    const mi = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    const want = dir.replace(/[ \t\n\\]/g, (ch) => `\\${ch.charCodeAt(0).toString(8).padStart(3, '0')}`);
    return mi.split('\n').some((l) => l.split(' ')[4] === want);
  } catch {
    return false;
  }
}

/**
 * Clones the mount tree at `src` (its own filesystem only: submounts are not carried), applies
 * `attrs` (MOUNT_ATTR_* incl. IDMAP with `usernsFd`) and attaches the clone at `at` (created, 0711).
 */
export function attachIdmapped(src: string, at: string, usernsFd: number, attrs: number): void {
  const c = load();
  fs.mkdirSync(at, { mode: 0o711 });
  // Cloned from a descriptor whose path is checked: a symlink swapped in since the plan (by
  // another sandbox that can write a parent) cannot make the view show something else.
  const pfd = fs.openSync(src, O_PATH | fs.constants.O_NOFOLLOW | fs.constants.O_DIRECTORY);
  let tfd: number;
  try {
    const actual = fs.readlinkSync(`/proc/self/fd/${pfd}`);
    if (actual !== src) throw new IdmapError(`${src} resolves to ${actual} (changed while the sandbox was being set up)`);
    tfd = Number(c.syscall(NR.open_tree, 'int', pfd, 'str', '', 'uint', OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH));
  } finally {
    fs.closeSync(pfd);
  }
  if (tfd < 0) throw new IdmapError(`open_tree ${src}: ${errName(c.errno())}`, c.errno());
  try {
    const attr = Buffer.alloc(32); // struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd }
    attr.writeBigUInt64LE(BigInt(attrs), 0);
    attr.writeBigUInt64LE(BigInt(usernsFd), 24);
    if (Number(c.syscall(NR.mount_setattr, 'int', tfd, 'str', '', 'uint', AT_EMPTY_PATH, 'void *', attr, 'size_t', 32)) !== 0) {
      const e = c.errno();
      throw new IdmapError(`idmapped mount of ${src}: ${errName(e)}${e === 22 ? ' (the filesystem does not support idmapped mounts)' : ''}`, e);
    }
    if (Number(c.syscall(NR.move_mount, 'int', tfd, 'str', '', 'int', -100, 'str', at, 'uint', MOVE_MOUNT_F_EMPTY_PATH)) !== 0)
      throw new IdmapError(`attach ${src} at ${at}: ${errName(c.errno())}`, c.errno());
  } finally {
    fs.closeSync(tfd);
  }
}

/**
 * Unmounts the views below `dir` (a run's); returns the mount points still there. The emptied
 * directories are removed a minute later (util/mounts.ts says why).
 */
export function detachAll(dir: string): string[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const c = (() => {
    try {
      return load();
    } catch {
      return undefined;
    }
  })();
  const points = names.map((n) => path.join(dir, n));
  const mounted = mountPoints();
  for (const p of points) if (c && mounted.has(p)) c.umount2(p, MNT_DETACH);
  markUnmounted(dir);
  const still = mountPoints();
  sweepViewDirs(path.dirname(dir));
  return points.filter((p) => still.has(p));
}

/** Removes the view directories below `parent` emptied at least a minute ago (.userns holds the mappings' handles). */
export function sweepViewDirs(parent: string, now = Date.now()): void {
  sweepUnmounted(parent, now, (n) => n.startsWith('.'));
}
