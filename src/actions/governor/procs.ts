// What the governor reads about the processes of a session: a snapshot (parent, resident
// memory, CPU time, start) for choosing the runaway tool and sampling CPU, the `proc` of its
// events, and which cgroups a process is in (never take a process out of a sandbox's cgroup
// or out of another monitor's session).
import fs from 'node:fs';
import type { ProcRef } from '../../events/types.js';
import * as proc from '../../sensors/procfs/proc.js';

export interface ProcSnap {
  pid: number;
  ppid: number;
  rssBytes: number;
  cpuMs: number;
  start: number;
}

const PAGE = 4096;
const TICK_MS = 10; // USER_HZ is 100 on Linux

export function snapOf(pid: number): ProcSnap | undefined {
  const st = proc.readStat(pid);
  if (!st) return undefined;
  return { pid, ppid: st.ppid, rssBytes: st.rssPages * PAGE, cpuMs: (st.utime + st.stime) * TICK_MS, start: st.startTicks };
}

export function snapshot(pids: Iterable<number>): ProcSnap[] {
  const out: ProcSnap[] = [];
  for (const p of pids) {
    const s = snapOf(p);
    if (s) out.push(s);
  }
  return out;
}

/** The root and its descendants as /proc shows them now. */
export function treePids(root: number): number[] {
  return proc.readStat(root) ? [root, ...proc.readDescendants(root, 20_000)] : [];
}

export function procRefOf(pid: number): ProcRef | undefined {
  const st = proc.readStat(pid);
  if (!st) return undefined;
  const argv = proc.readCmdline(pid) ?? [];
  return {
    pid,
    ppid: st.ppid,
    exe: proc.readExe(pid) ?? argv[0] ?? st.comm,
    argv,
    cwd: proc.readCwd(pid) ?? '',
    uid: proc.readStatus(pid)?.uid ?? -1,
    comm: st.comm,
  };
}

/** The cgroup paths of a process, one per hierarchy line of /proc/PID/cgroup. */
export function cgroupPaths(pid: number): string[] | undefined {
  try {
    return fs
      .readFileSync(`/proc/${pid}/cgroup`, 'latin1')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(l.indexOf(':', l.indexOf(':') + 1) + 1));
  } catch {
    return undefined;
  }
}

/**
 * Why a process must stay where it is, if it must: inside a `warden run` sandbox (its limits
 * and its sensor filter are that cgroup), or governed by another monitor.
 */
export function notMovable(paths: string[], ownSessionDirs: string[]): string | undefined {
  for (const p of paths) {
    if (/\/warden-[^/]+(\/|$)/.test(p)) return 'it is inside a warden run sandbox';
    if (p.includes('/warden.governor/') && !ownSessionDirs.some((o) => p.startsWith(o))) return 'another monitor governs it';
  }
  return undefined;
}
