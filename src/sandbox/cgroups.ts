// Sandbox cgroups: the resource limits of one `warden run` (memory, pids, cpu) through
// whichever hierarchy has the controller, plus the v2 identity cgroup (cgroup.kill, freeze,
// `populated`, the sensor's filter). Built on the shared cgroup backend (util/cgroup), which
// the governor of `warden watch` uses as well.
import fs from 'node:fs';
import path from 'node:path';
import { procsOf, readKv } from '../util/cgroup/files.js';
import type { CgroupLayout, Controller } from '../util/cgroup/layout.js';
import { CgroupError, CgroupNode } from '../util/cgroup/node.js';

export { detectCgroups, planControllers, type CgroupLayout, type Controller, type Hierarchy } from '../util/cgroup/layout.js';
export { CgroupError } from '../util/cgroup/node.js';

export interface CgroupLimits {
  memoryBytes?: number;
  pids?: number;
  cpus?: number;
}

export interface CgroupStats {
  memoryPeakBytes?: number;
  oomKills?: number;
  memoryLimitHits?: number;
  pidsLimitHits?: number;
  cpuThrottledPeriods?: number;
  cpuUsageUsec?: number;
}

/** The cgroups of one sandbox. */
export interface SandboxCgroups {
  /** Which hierarchy enforces each requested controller. */
  enforcedBy: Partial<Record<Controller, 'v1' | 'v2'>>;
  /** Every directory created (for the crash-recovery record). */
  dirs: string[];
  /** cgroup.procs files the launcher joins before it execs bwrap. */
  procsFiles: string[];
  /** The v2 identity cgroup (kill/freeze/populated/bpftrace filter), when available. */
  identity?: string;
  /** The same cgroups as a node of the shared backend (the governor attaches to it). */
  node: CgroupNode;
  stats(): CgroupStats;
  /** SIGKILL everything still inside. */
  killAll(): void;
  /** Waits (bounded) until empty, killing leftovers, then removes the directories. */
  destroy(timeoutMs?: number): Promise<string[]>;
}

export interface CreateOptions {
  id: string;
  limits: CgroupLimits;
  /** Create the v2 identity cgroup when possible even without limits. */
  identity: boolean;
}

export function wantedControllers(l: CgroupLimits): Controller[] {
  const w: Controller[] = [];
  if (l.memoryBytes !== undefined) w.push('memory');
  if (l.pids !== undefined) w.push('pids');
  if (l.cpus !== undefined) w.push('cpu');
  return w;
}

export function createSandboxCgroups(layout: CgroupLayout, opts: CreateOptions): SandboxCgroups {
  const l = opts.limits;
  const node = CgroupNode.create(layout, `warden-${opts.id}`, { controllers: wantedControllers(l), identity: opts.identity && !!layout.v2 });
  try {
    if (l.memoryBytes !== undefined) node.setMemory({ max: l.memoryBytes });
    if (l.pids !== undefined) node.setPids(l.pids);
    if (l.cpus !== undefined) node.setCpu({ cpus: l.cpus });
  } catch (err) {
    node.remove();
    throw new CgroupError(`cannot set up the sandbox cgroup: ${(err as Error).message}`);
  }
  const enforcedBy: SandboxCgroups['enforcedBy'] = {};
  for (const c of wantedControllers(l)) enforcedBy[c] = node.enforcer(c);
  const dirs = node.dirs.map((d) => d.dir);
  return {
    enforcedBy,
    dirs,
    procsFiles: node.procsFiles,
    identity: node.identity,
    node,
    stats: () => readStats(node),
    killAll: () => void node.kill(),
    destroy: (t) => destroyDirs(dirs, node.identity, t),
  };
}

function readStats(node: CgroupNode): CgroupStats {
  const s: CgroupStats = {};
  if (node.enforcer('memory')) {
    const m = node.memory();
    s.oomKills = m.oomKills;
    s.memoryLimitHits = m.limitHits;
    s.memoryPeakBytes = m.peakBytes;
  }
  if (node.enforcer('pids')) s.pidsLimitHits = node.pidsState().limitHits;
  const cpuDir = node.dirOf('cpu');
  if (cpuDir) s.cpuThrottledPeriods = readKv(path.join(cpuDir, 'cpu.stat')).nr_throttled;
  if (node.enforcer('cpu') === 'v2') s.cpuUsageUsec = node.cpuUsageUsec();
  return s;
}

function killAll(dirs: string[], identity: string | undefined): void {
  if (identity) {
    try {
      fs.writeFileSync(path.join(identity, 'cgroup.kill'), '1');
      return;
    } catch {
      /* kernel < 5.14: fall back to signalling each process */
    }
  }
  for (const d of dirs)
    for (const pid of procsOf(d)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
}

function empty(dirs: string[], identity: string | undefined): boolean {
  if (identity) {
    const ev = readKv(path.join(identity, 'cgroup.events'));
    if (ev.populated !== undefined) return ev.populated === 0 && dirs.every((d) => d === identity || procsOf(d).length === 0);
  }
  return dirs.every((d) => procsOf(d).length === 0);
}

/** Child cgroups the governor made below a sandbox cgroup (runaway tools): removed first. */
function withChildren(dirs: string[]): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    out.push(d);
    if (depth <= 0) return;
    try {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name), depth - 1);
    } catch {
      /* gone */
    }
  };
  for (const d of dirs) walk(d, 4);
  return out;
}

/** Removes sandbox cgroup directories; returns those that could not be removed. */
export async function destroyDirs(dirs: string[], identity?: string, timeoutMs = 3000): Promise<string[]> {
  const existing = withChildren(dirs.filter((d) => fs.existsSync(d)));
  if (!existing.length) return [];
  const deadline = Date.now() + timeoutMs;
  let killed = false;
  let delay = 1;
  while (!empty(existing, identity) && Date.now() < deadline) {
    // The pid namespace dies with bwrap, but its processes may take a moment to be reaped.
    if (delay > 8 && !killed) {
      killAll(existing, identity);
      killed = true;
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
  const left: string[] = [];
  // Deepest first: a child must go before its parent.
  for (const d of [...existing].sort((a, b) => b.length - a.length)) {
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) {
      try {
        fs.rmdirSync(d);
        ok = true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') ok = true;
        else if (code === 'EBUSY' && Date.now() < deadline) {
          killAll([d], undefined);
          await sleep(5);
        } else break;
      }
    }
    if (!ok) left.push(d);
  }
  return left;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
