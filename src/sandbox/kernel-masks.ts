// Kernel interfaces that are global to the host, covered inside every sandbox the way a
// hardened container runtime does (runc's readonlyPaths/maskedPaths): /proc/sys and its
// siblings read-only (a write there changes the host: core_pattern, modprobe, sysrq), kernel
// internals masked, and /sys without the host's network view (the host's interfaces and other
// sandboxes' veths). Permissions alone are not the defence: this layer holds even for a
// process that is uid 0 somewhere. Only paths that exist on this host are covered (bwrap
// cannot create files in /proc).
import fs from 'node:fs';
import path from 'node:path';
import type { MountOp } from './mount-ops.js';

/** Read-only inside (bound onto themselves). */
export const PROC_READ_ONLY = ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus', '/proc/fs', '/proc/asound'];

/** Masked: empty inside. */
export const KERNEL_MASKED = [
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/key-users',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/kpagecount',
  '/proc/kpageflags',
  '/proc/kpagecgroup',
  '/proc/interrupts',
  '/proc/pressure',
  '/proc/slabinfo',
  '/proc/vmallocinfo',
  '/proc/pagetypeinfo',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
  '/sys/kernel/debug',
  '/sys/kernel/tracing',
  '/sys/fs/bpf',
];

/** The host's network view in sysfs: /sys/class/net and every device's `net` directory. */
export function sysNetDirs(sys = '/sys'): string[] {
  const out = new Set<string>();
  const cls = path.join(sys, 'class/net');
  if (exists(cls)) out.add(cls);
  const virt = path.join(sys, 'devices/virtual/net');
  if (exists(virt)) out.add(virt);
  let names: string[] = [];
  try {
    names = fs.readdirSync(cls);
  } catch {
    /* no sysfs */
  }
  for (const n of names) {
    try {
      const dev = fs.realpathSync(path.join(cls, n));
      const parent = path.dirname(dev); // …/<device>/net
      if (path.basename(parent) === 'net' && parent.startsWith(sys + '/devices/')) out.add(parent);
    } catch {
      /* vanished */
    }
  }
  return [...out].sort();
}

function exists(p: string): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return fs.lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Mount operations for the kernel paths, in order (after /proc is mounted). */
export function kernelMaskOps(): MountOp[] {
  const ops: MountOp[] = [];
  for (const p of PROC_READ_ONLY) if (exists(p)) ops.push({ op: 'ro-bind', src: p, dest: p });
  for (const p of [...KERNEL_MASKED, ...sysNetDirs()]) {
    if (!exists(p)) continue;
    if (isDir(p)) ops.push({ op: 'tmpfs', dest: p, readOnly: true });
    else ops.push({ op: 'devnull', dest: p });
  }
  return ops;
}
