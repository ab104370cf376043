// What the governor reads about the processes of a session: a snapshot (parent, resident
// memory, CPU time, start) for choosing the runaway tool and sampling CPU, the `proc` of its
// events, and which cgroups a process is in (never take a process out of a sandbox's cgroup
// or out of another monitor's session).
import fs from 'node:fs';
import type { ProcRef } from '../../events/types.js';
import * as proc from '../../sensors/procfs/proc.js';
import type { CgroupLayout } from '../../util/cgroup/layout.js';

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

export interface CgroupLine {
  /** v1 controllers of the hierarchy; empty for the v2 line (`0::`). */
  ctrls: string[];
  path: string;
}

/** The cgroups of a process, one per hierarchy line of /proc/PID/cgroup. */
export function cgroupLines(pid: number): CgroupLine[] | undefined {
  try {
    return parseCgroupLines(fs.readFileSync(`/proc/${pid}/cgroup`, 'latin1'));
  } catch {
    return undefined;
  }
}

export function parseCgroupLines(text: string): CgroupLine[] {
  const out: CgroupLine[] = [];
  for (const l of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(l);
    if (m) out.push({ ctrls: m[1]!.split(',').filter(Boolean), path: m[2]! });
  }
  return out;
}

/**
 * Why moving the process into Warden's cgroups would lift limits someone else set, if it
 * would: in a hierarchy the governor uses, the process sits in a cgroup that is neither an
 * ancestor of Warden's own (moving down only adds limits) nor inside it. On this machine that
 * is another job's `memory:/process_api/<id>`; on a systemd host, another slice.
 */
export function outsideWarden(lines: CgroupLine[], layout: CgroupLayout): string | undefined {
  for (const l of lines) {
    const h = l.ctrls.length === 0 ? layout.v2 : layout.v1.find((x) => x.controllers.some((c) => l.ctrls.includes(c)));
    if (!h || (h.version === 1 && !h.controllers.some((c) => c === 'memory' || c === 'pids' || c === 'cpu'))) continue;
    const own = h.own;
    const within = (inner: string, outer: string) => outer === '/' || inner === outer || inner.startsWith(outer + '/');
    if (within(own, l.path) || within(l.path, own)) continue;
    return `its ${l.ctrls.join(',') || 'cgroup2'} cgroup ${l.path} is outside Warden's (${own}): moving it would lift limits set there`;
  }
  return undefined;
}

/**
 * Why a process must stay where it is, if it must: inside a `warden run` sandbox (its limits
 * and its sensor filter are that cgroup), or governed by another monitor.
 */
export function notMovable(lines: CgroupLine[], ownSessionDirs: string[], layout?: CgroupLayout): string | undefined {
  for (const { path: p } of lines) {
    if (/\/warden-[^/]+(\/|$)/.test(p)) return 'it is inside a warden run sandbox';
    if (p.includes('/warden.governor/') && !ownSessionDirs.some((o) => p.startsWith(o))) return 'another monitor governs it';
  }
  return layout ? outsideWarden(lines, layout) : undefined;
}
