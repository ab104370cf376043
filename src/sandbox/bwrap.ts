// bwrap command line for a planned sandbox. Namespaces: user (mount locks, no caps), pid,
// ipc, uts, cgroup, and net unless the network provider made one. Writable roots are bound
// from descriptors opened and verified here, so a symlink swapped in between planning and
// mounting (say by another sandbox sharing a parent directory) cannot redirect a writable
// bind onto ~/.bashrc.
import fs from 'node:fs';
import type { MountOp } from './fs-plan.js';

/** O_PATH (same value on x86_64 and aarch64); Node has no constant for it. */
const O_PATH = 0o10000000;

export interface BwrapOptions {
  mounts: MountOp[];
  /** Extra bwrap arguments from the network provider (after our mounts). */
  extraArgs?: string[];
  unshareNet: boolean;
  /** uid/gid inside the sandbox. */
  uid: number;
  gid: number;
  chdir: string;
  /** An empty read-only file to cover secret files with (reads give nothing, not an error). */
  emptyFile?: string;
  seccompFd: number;
  statusFd: number;
  /** Allow the sandbox to create user namespaces (only when the policy lifts the namespace denial). */
  allowUserns?: boolean;
  hostname?: string;
  argv: string[];
}

/** Pins writable binds to descriptors. Returns the fds to pass (parent fd → child slot). */
export function pinWritableBinds(mounts: MountOp[], firstSlot: number): { mounts: MountOp[]; fds: number[] } {
  const slots = assignPinSlots(mounts, firstSlot);
  return { mounts: slots.mounts, fds: openPins(slots.srcs) };
}

/**
 * Writable binds as `bind-fd` operations on slots firstSlot, firstSlot+1, … (in order of
 * `srcs`); whoever starts bwrap opens each src (openPins, or the native launcher) into its slot.
 */
export function assignPinSlots(mounts: MountOp[], firstSlot: number): { mounts: MountOp[]; srcs: string[] } {
  const srcs: string[] = [];
  const out = mounts.map((m): MountOp => {
    if (m.op !== 'bind') return m;
    srcs.push(m.src);
    return { op: 'bind-fd', fd: firstSlot + srcs.length - 1, dest: m.dest };
  });
  return { mounts: out, srcs };
}

/** Opens each path O_PATH without following a final symlink and checks it is still the path planned. */
export function openPins(srcs: string[]): number[] {
  const fds: number[] = [];
  try {
    for (const src of srcs) {
      const fd = fs.openSync(src, O_PATH | fs.constants.O_NOFOLLOW);
      fds.push(fd);
      // The kernel's name for what we opened must be the path we planned: no symlink in between.
      const actual = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (actual !== src) throw new Error(`writable path ${src} resolves to ${actual} (changed while the sandbox was being set up); refusing to bind it`);
    }
  } catch (err) {
    for (const fd of fds) fs.closeSync(fd);
    throw err;
  }
  return fds;
}

export function bwrapArgs(o: BwrapOptions): string[] {
  const a: string[] = [
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
  ];
  if (o.unshareNet) a.push('--unshare-net');
  if (!o.allowUserns) a.push('--disable-userns');
  a.push('--uid', String(o.uid), '--gid', String(o.gid));
  if (o.hostname) a.push('--hostname', o.hostname);
  a.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL');
  let devProcDone = false;
  for (const m of o.mounts) {
    switch (m.op) {
      case 'ro-bind':
        a.push('--ro-bind', m.src, m.dest);
        // Right after the root bind: fresh /dev and /proc for this pid namespace.
        if (m.dest === '/' && !devProcDone) {
          a.push('--dev', '/dev', '--proc', '/proc');
          devProcDone = true;
        }
        break;
      case 'bind':
        a.push('--bind', m.src, m.dest);
        break;
      case 'bind-fd':
        a.push('--bind-fd', String(m.fd), m.dest);
        break;
      case 'tmpfs':
        a.push('--tmpfs', m.dest);
        if (m.readOnly) a.push('--remount-ro', m.dest);
        break;
      case 'devnull':
        a.push('--ro-bind', o.emptyFile ?? '/dev/null', m.dest);
        break;
      case 'symlink':
        a.push('--symlink', m.target, m.dest);
        break;
      case 'remount-ro':
        a.push('--remount-ro', m.dest);
        break;
      case 'dir':
        a.push('--dir', m.dest);
        break;
    }
  }
  if (o.extraArgs) a.push(...o.extraArgs);
  a.push('--chdir', o.chdir, '--seccomp', String(o.seccompFd), '--json-status-fd', String(o.statusFd), '--', ...o.argv);
  return a;
}
