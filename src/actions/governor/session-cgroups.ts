// The cgroups of one governed session: the session's own (limits and accounting), the leaf
// its agent's processes live in, and one child per runaway tool. In `warden watch` they are
// made below Warden's cgroup in `warden.governor/<session>/`, and the agent's tree is moved in
// when it is found; in `warden run` the sandbox's cgroup is the session's (its processes start
// in it) and only tools are added below it.
import fs from 'node:fs';
import path from 'node:path';
import { detectLayoutSafe, ownDir, planControllers, type CgroupLayout, type Controller } from '../../util/cgroup/layout.js';
import { CgroupNode } from '../../util/cgroup/node.js';
import type { GovernorMode, SessionLimits } from './limits.js';
import type { ProcRef } from '../../events/types.js';
import { cgroupLines, notMovable, procRefOf, treePids } from './procs.js';

export const SESSIONS_DIR = 'warden.governor';
const MIN_TOOL_LIMIT = 1024 * 1024;

export interface ToolCgroup {
  pid: number;
  argv: string[];
  /** The tool's process as it was when it got its cgroup (reports outlive it). */
  ref?: ProcRef;
  node: CgroupNode;
  /** Controllers the tool's cgroup could not get (v2 with processes in the parent). */
  missing: Controller[];
  /** What Warden did to it last. */
  state: 'running' | 'paused' | 'throttled' | 'frozen' | 'killed';
  /** Limit given to the tool (bytes), when one was. */
  limitBytes?: number;
  /** Counters seen last (to report each pause, throttle or OOM kill once). */
  seen: { limitHits: number; oomKills: number };
}

export interface SessionCgroups {
  session: CgroupNode;
  /** Where the agent's processes are (a leaf in watch, the session itself in run). */
  main: CgroupNode;
  tools: Map<number, ToolCgroup>;
  /** Controllers that could not be had (reported once). */
  missing: Controller[];
  /** Made by the governor (removed when the session ends) or given by the sandbox. */
  owned: boolean;
}

/** Directories of this monitor's sessions, as /proc/PID/cgroup shows them (per hierarchy). */
export function ownSessionDirs(layout: CgroupLayout): string[] {
  const hs = [...layout.v1, ...(layout.v2 ? [layout.v2] : [])];
  return hs.map((h) => `${h.own === '/' ? '' : h.own}/${SESSIONS_DIR}/`);
}

/** Which of the controllers the governor uses can be had here. */
export function availableControllers(layout: CgroupLayout): Controller[] {
  const { missing } = planControllers(layout, ['memory', 'pids', 'cpu']);
  return (['memory', 'pids', 'cpu'] as Controller[]).filter((c) => !missing.includes(c));
}

/** Creates (or reuses, after a restart) the cgroups of a watched session and applies its limits. */
export function createSessionCgroups(layout: CgroupLayout, sessionId: string, limits: SessionLimits, mode: GovernorMode): SessionCgroups {
  const controllers = availableControllers(layout);
  const missing = (['memory', 'pids', 'cpu'] as Controller[]).filter((c) => !controllers.includes(c));
  const session = CgroupNode.create(layout, safeName(sessionId), { controllers, identity: true, freezer: true, under: SESSIONS_DIR });
  const cg: SessionCgroups = { session, main: session, tools: new Map(), missing, owned: true };
  try {
    applyLimits(cg, limits, mode);
    cg.main = session.child('agent').node;
  } catch (err) {
    session.remove();
    throw err;
  }
  return cg;
}

/** The session of a `warden run`: the sandbox's cgroups, limited by its policy. */
export function adoptSandboxCgroups(node: CgroupNode, mode: GovernorMode): SessionCgroups {
  // The run policy's limits stay the kernel's; throttle mode on v1 only turns the OOM kill into a pause.
  if (node.enforcer('memory') === 'v1') node.setMemory({ oomKillDisable: mode === 'throttle' });
  return { session: node, main: node, tools: new Map(), missing: [], owned: false };
}

/**
 * The hard limit is the kernel's; in throttle mode v2 also slows the whole session at the soft
 * limit (memory.high), and v1, which has no such thing, pauses it at the hard limit instead of
 * OOM-killing (oom_kill_disable) until the user raises the limit or kills.
 */
export function applyLimits(cg: SessionCgroups, l: SessionLimits, mode: GovernorMode): void {
  const s = cg.session;
  if (s.enforcer('memory')) {
    s.setMemory({ max: l.memoryMax });
    if (s.enforcer('memory') === 'v2') s.setMemory({ high: mode === 'throttle' ? l.memoryHigh : 'max' });
    else s.setMemory({ oomKillDisable: mode === 'throttle' });
  }
  if (s.enforcer('pids') && l.pids !== undefined) s.setPids(l.pids);
  if (s.enforcer('cpu')) s.setCpu({ ...(l.cpuWeight !== undefined ? { weight: l.cpuWeight } : {}), cpus: l.cpus ?? 'max' });
}

/**
 * Moves the agent's tree into its leaf, again until no new process appears (the tree forks
 * while it is being moved). Returns how many were moved and why others were not.
 */
export function moveTree(cg: SessionCgroups, root: number, ownDirs: string[], layout?: CgroupLayout): { moved: number; skipped: Array<{ pid: number; why: string }> } {
  let moved = 0;
  const skipped: Array<{ pid: number; why: string }> = [];
  const done = new Set<number>();
  const inTools = new Set<number>();
  for (const t of cg.tools.values()) for (const p of t.node.procsDeep()) inTools.add(p);
  for (let round = 0; round < 8; round++) {
    const pids = treePids(root).filter((p) => !done.has(p) && !inTools.has(p));
    if (!pids.length) break;
    for (const pid of pids) {
      done.add(pid);
      const lines = cgroupLines(pid);
      if (!lines) continue;
      const why = notMovable(lines, ownDirs, layout);
      if (why) {
        skipped.push({ pid, why });
        continue;
      }
      const errs = cg.main.addProcess(pid);
      if (errs.length === 0) moved++;
      else if (errs[0] !== 'gone') skipped.push({ pid, why: errs.join('; ') });
    }
  }
  return { moved, skipped };
}

/**
 * Gives a runaway tool (pid and its descendants) a cgroup of its own below the session. Its
 * limit is what is left until the session's soft limit, so in throttle or kill mode it is the
 * one stopped there while the agent keeps the room up to the hard limit.
 */
export function splitTool(
  cg: SessionCgroups,
  tool: { pid: number; argv: string[]; pids: number[] },
  o: { mode: GovernorMode; headroom: number },
): ToolCgroup {
  const existing = cg.tools.get(tool.pid);
  if (existing) return existing;
  const { node, missing } = cg.session.child(`tool-${tool.pid}`);
  const t: ToolCgroup = { pid: tool.pid, argv: tool.argv, ref: procRefOf(tool.pid), node, missing, state: 'running', seen: { limitHits: 0, oomKills: 0 } };
  if (o.mode !== 'warn' && node.enforcer('memory')) {
    const limit = Math.max(MIN_TOOL_LIMIT, Math.round(o.headroom));
    t.limitBytes = limit;
    if (node.enforcer('memory') === 'v2') {
      // v2: throttle = slowed at memory.high; kill = the kernel OOM-kills the whole tool at its limit.
      if (o.mode === 'throttle') node.setMemory({ high: limit });
      else node.setMemory({ max: limit, oomGroup: true });
    } else {
      // v1: the tool waits at its limit (it does not get OOM-killed): Warden then kills it, or
      // it stays paused until the user raises the limit.
      node.setMemory({ max: limit, oomKillDisable: true });
    }
  }
  for (const pid of tool.pids) node.addProcess(pid);
  const m = node.memory();
  t.seen = { limitHits: m.limitHits ?? 0, oomKills: m.oomKills ?? 0 };
  cg.tools.set(tool.pid, t);
  return t;
}

/** Raises (or lowers) a tool's memory limit by `by` bytes: a paused v1 tool resumes at once. */
export function moveToolLimit(t: ToolCgroup, by: number): void {
  if (t.limitBytes === undefined || !t.node.enforcer('memory')) return;
  const limit = Math.max(MIN_TOOL_LIMIT, t.limitBytes + by);
  t.limitBytes = limit;
  if (t.node.enforcer('memory') === 'v2') {
    const hi = t.node.memory().highBytes;
    if (hi !== undefined) t.node.setMemory({ high: limit });
    else t.node.setMemory({ max: limit });
  } else t.node.setMemory({ max: limit });
}

/** A session cgroup of ours that outlived its monitor (found again after a restart). */
export function existingSession(sessionId: string, layout: CgroupLayout = detectLayoutSafe()): CgroupNode | undefined {
  return CgroupNode.existing(layout, path.join(SESSIONS_DIR, safeName(sessionId)));
}

/** Session ids of ours that have cgroups (for `warden resume` without a monitor). */
export function listSessionDirs(layout: CgroupLayout = detectLayoutSafe()): string[] {
  const out = new Set<string>();
  for (const h of [...(layout.v2 ? [layout.v2] : []), ...layout.v1]) {
    try {
      for (const e of subdirs(path.join(ownDir(h), SESSIONS_DIR))) out.add(e);
    } catch {
      /* none there */
    }
  }
  return [...out];
}

function subdirs(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
}

/** Session ids are `name-pid-start`; anything else is replaced so it is one path component. */
export function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200);
}
