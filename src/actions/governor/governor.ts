// The governor: per agent session a cgroup with the limits of its kind, memory read against
// them, and graduated answers. At 85 % and 95 % of the soft limit a warning, and the subtree
// that grows (the runaway tool) gets a cgroup of its own; at the limit, per mode: warn only,
// throttle (v2 memory.high; v1 pauses the tool at the limit until the user raises it or kills
// it) or kill (the tool, the agent keeps running and is told on the tool's stderr). OOM kills
// and leaks are reported; processes that keep a core busy are reported for the rules to judge
// (resource.cpu). It only acts on what it is told by events (agent.start/exit, classified
// resource.cpu) and by the user (API); it reports `resource.*` and `action.*` events.
import type { AgentRef, ProcRef, Severity, UnstampedEvent } from '../../events/types.js';
import { nowIso } from '../../events/time.js';
import * as proc from '../../sensors/procfs/proc.js';
import { detectLayoutSafe, type CgroupLayout } from '../../util/cgroup/layout.js';
import { CgroupNode } from '../../util/cgroup/node.js';
import { BurnTracker, type BurnReport } from './cpu-burn.js';
import { LeakDetector } from './leak.js';
import { fmtBytes, type GovernorMode, type GovernorSettings, type SessionLimits } from './limits.js';
import { procRefOf, snapshot, treePids, type ProcSnap } from './procs.js';
import {
  adoptSandboxCgroups,
  applyLimits,
  availableControllers,
  createSessionCgroups,
  moveToolLimit,
  moveTree,
  ownSessionDirs,
  safeName,
  splitTool,
  type SessionCgroups,
  type ToolCgroup,
} from './session-cgroups.js';
import { tellTool } from './tell.js';
import { crossedTiers, type TierTracker } from './tiers.js';
import { pickTool, subtreeOf } from './tool.js';

export type ActionResult = { ok: boolean; error?: string; [k: string]: unknown };

/** Who asked for a user action (API peer), for the action.* event. */
export interface Requester {
  pid?: number;
  uid?: number;
  via: string;
}

export interface GovernedInfo {
  session: string;
  mode: GovernorMode;
  frozen: boolean;
  memory: { usage?: number; high: number; max: number; peak?: number; enforced_by?: 'v1' | 'v2' };
  cpu: { cores?: number; weight?: number; cpus?: number };
  pids: { current?: number; max?: number };
  cgroup?: string;
  /** Why nothing is enforced, when it is not. */
  unenforced?: string;
  tools: Array<{ pid: number; argv: string[]; state: ToolCgroup['state']; usage?: number; limit?: number }>;
}

interface GovSession {
  ref: AgentRef;
  /** The agent's process, read when the session started: the `proc` of session-wide events. */
  rootProc: ProcRef;
  limits: SessionLimits;
  cg?: SessionCgroups;
  unenforced?: string;
  tiers: TierTracker;
  leak: LeakDetector;
  usage?: number;
  peak?: number;
  cpuCores?: number;
  cpuPrev?: { t: number; usec: number };
  oomKills: number;
  sessionPaused: boolean;
  frozen: boolean;
  endedAt?: number;
}

const CPU_SAMPLE_MS = 1000;
const FORGET_AFTER_MS = 60_000;

export interface GovernorOptions {
  settings: GovernorSettings;
  emit(ev: UnstampedEvent): void;
  layout?: CgroupLayout;
  log?(m: string): void;
  now?(): number;
  /** Start the periodic sampling (tests drive tick() themselves). */
  timers?: boolean;
  /** A cgroup that already is the session's (`warden run`: the sandbox's); else one is made. */
  sessionCgroup?(ref: AgentRef): CgroupNode | undefined;
}

export class Governor {
  private readonly sessions = new Map<string, GovSession>();
  private readonly layout: CgroupLayout;
  private readonly ownDirs: string[];
  private readonly burn: BurnTracker;
  private readonly now: () => number;
  private timers: NodeJS.Timeout[] = [];
  private lastCpu = 0;
  private readonly cgroupsUnavailable: string | undefined;
  readonly counters = { sessions: 0, moved: 0, tools: 0, pauses: 0, kills: 0, ooms: 0, leaks: 0, cpu_reports: 0, errors: 0 };

  constructor(private readonly o: GovernorOptions) {
    this.layout = o.layout ?? detectLayoutSafe();
    this.ownDirs = ownSessionDirs(this.layout);
    this.burn = new BurnTracker(o.settings.burnWindowMs, o.settings.burnMinShare);
    this.now = o.now ?? Date.now;
    this.cgroupsUnavailable = whyNoCgroups(this.layout);
    if (o.timers !== false) {
      this.timers.push(setInterval(() => this.tick(), o.settings.intervalMs));
      for (const t of this.timers) t.unref();
    }
  }

  // ---- inputs ---------------------------------------------------------------------------

  /** Every classified event of the pipeline passes here; the governor picks what concerns it. */
  observe(ev: UnstampedEvent): void {
    if (ev.kind === 'agent.start' && ev.agent) this.startSession(ev.agent, ev.data?.parent_session as string | undefined);
    else if (ev.kind === 'agent.exit' && ev.agent) {
      const s = this.sessions.get(ev.agent.session);
      if (s) s.endedAt = this.now();
    } else if (ev.kind === 'resource.cpu' && ev.agent && ev.proc && (ev.severity === 'warn' || ev.severity === 'alert') && this.o.settings.enabled) this.onBurn(ev);
  }

  /** A `warden run` sandbox as a session: its cgroups are given, its processes already in them. */
  adoptSandbox(ref: AgentRef, node: CgroupNode, limits: SessionLimits): void {
    // A policy's memory limit is the session's hard limit; the soft one keeps below it.
    const max = node.memory().maxBytes;
    if (max !== undefined) limits = { ...limits, memoryMax: max, memoryHigh: Math.min(limits.memoryHigh, Math.round(max * 0.75)) };
    const s = this.newSession(ref, limits);
    try {
      s.cg = adoptSandboxCgroups(node, limits.mode);
    } catch (err) {
      s.unenforced = (err as Error).message;
    }
    this.reportGoverned(s, 0, []);
  }

  private newSession(ref: AgentRef, limits: SessionLimits): GovSession {
    const st = this.o.settings;
    const s: GovSession = {
      ref,
      rootProc: procRefOf(ref.root_pid) ?? { pid: ref.root_pid, ppid: 0, exe: '', argv: [], cwd: ref.cwd ?? '', uid: -1 },
      limits,
      tiers: { level: 0 },
      leak: new LeakDetector(st.leakWindowMs, st.leakMinGrowth),
      oomKills: 0,
      sessionPaused: false,
      frozen: false,
    };
    this.sessions.set(ref.session, s);
    this.counters.sessions++;
    return s;
  }

  private startSession(ref: AgentRef, parentSession?: string): void {
    if (this.sessions.has(ref.session)) return;
    const given = this.o.sessionCgroup?.(ref);
    if (given) return this.adoptSandbox(ref, given, this.o.settings.limitsFor(ref.name));
    const s = this.newSession(ref, this.o.settings.limitsFor(ref.name));
    if (!this.o.settings.enabled || s.limits.mode === 'off') {
      // Sessions are still known, so rule actions and the API can kill and freeze them.
      s.unenforced = s.limits.mode === 'off' ? `governor mode off for ${ref.name}` : 'governor.enabled is false';
      return;
    }
    if (this.cgroupsUnavailable) {
      s.unenforced = this.cgroupsUnavailable;
      this.reportGoverned(s, 0, []);
      return;
    }
    let moved = 0;
    let skipped: Array<{ pid: number; why: string }> = [];
    try {
      const parent = parentSession ? this.sessions.get(parentSession)?.cg : undefined;
      s.cg = parent ? this.nestedCgroups(parent, ref.session, s.limits) : createSessionCgroups(this.layout, ref.session, s.limits, s.limits.mode);
      ({ moved, skipped } = moveTree(s.cg, ref.root_pid, this.ownDirs, this.layout));
      this.counters.moved += moved;
      const rootSkipped = skipped.find((x) => x.pid === ref.root_pid);
      if (rootSkipped) {
        // The agent stays where it is (a sandbox, another monitor): nothing of ours to govern.
        s.cg.session.remove();
        s.cg = undefined;
        s.unenforced = `not moved: ${rootSkipped.why}`;
      }
    } catch (err) {
      this.counters.errors++;
      s.cg = undefined;
      s.unenforced = (err as Error).message;
    }
    this.reportGoverned(s, moved, skipped);
  }

  /** An agent started inside another's tree: its cgroup is inside the parent's, so the parent's limits still hold. */
  private nestedCgroups(parent: SessionCgroups, id: string, limits: SessionLimits): SessionCgroups {
    const session = parent.session.child(`s-${safeName(id)}`).node;
    const cg: SessionCgroups = { session, main: session, tools: new Map(), missing: parent.missing, owned: true };
    applyLimits(cg, limits, limits.mode);
    cg.main = session.child('agent').node;
    return cg;
  }

  private reportGoverned(s: GovSession, moved: number, skipped: Array<{ pid: number; why: string }>): void {
    const l = s.limits;
    const by = s.cg?.session.enforcer('memory');
    const what = s.cg
      ? `memory ${fmtBytes(l.memoryHigh)} soft / ${fmtBytes(l.memoryMax)} hard${by ? ` (cgroup ${by})` : ' (not enforced: no memory controller)'}, pids ${l.pids ?? 'unlimited'}, mode ${s.limits.mode}`
      : `not enforced (${s.unenforced}); memory is still measured against ${fmtBytes(l.memoryHigh)} / ${fmtBytes(l.memoryMax)}`;
    this.emit(s, 'resource.session', 'info', `${s.ref.name} session governed: ${what}${moved ? `; ${moved} processes moved into its cgroup` : ''}`, {
      data: {
        mode: s.limits.mode,
        memory_high: l.memoryHigh,
        memory_max: l.memoryMax,
        cpu_weight: l.cpuWeight,
        cpus: l.cpus,
        pids: l.pids,
        cgroup: s.cg?.session.identity ?? s.cg?.session.dirs[0]?.dir,
        enforced_by: s.cg ? { memory: s.cg.session.enforcer('memory'), pids: s.cg.session.enforcer('pids'), cpu: s.cg.session.enforcer('cpu') } : undefined,
        moved,
        ...(skipped.length ? { skipped: skipped.slice(0, 20) } : {}),
        ...(s.unenforced ? { unenforced: s.unenforced } : {}),
      },
    });
  }

  // ---- sampling ---------------------------------------------------------------------------

  /** Reads every session's memory, reports tiers and acts; samples CPU once a second. */
  tick(): void {
    const t = this.now();
    for (const s of [...this.sessions.values()]) {
      try {
        if (!this.o.settings.enabled) {
          this.cleanupIfDone(s, t);
          continue;
        }
        this.sampleMemory(s, t);
        if (s.cg) this.checkTools(s);
        this.cleanupIfDone(s, t);
      } catch (err) {
        this.counters.errors++;
        this.o.log?.(`governor: ${s.ref.session}: ${(err as Error).message}`);
      }
    }
    if (this.o.settings.enabled && t - this.lastCpu >= CPU_SAMPLE_MS) {
      this.lastCpu = t;
      this.sampleCpu(t);
    }
  }

  private sampleMemory(s: GovSession, t: number): void {
    if (s.endedAt !== undefined && !s.cg) return;
    const m = s.cg?.session.memory();
    let usage = m?.usageBytes;
    if (usage === undefined) usage = snapshot(treePids(s.ref.root_pid)).reduce((a, p) => a + p.rssBytes, 0);
    s.usage = usage;
    s.peak = Math.max(s.peak ?? 0, m?.peakBytes ?? usage);
    if (s.cg) {
      const usec = s.cg.session.cpuUsageUsec();
      if (usec !== undefined) {
        if (s.cpuPrev && t > s.cpuPrev.t) s.cpuCores = (usec - s.cpuPrev.usec) / 1000 / (t - s.cpuPrev.t);
        s.cpuPrev = { t, usec };
      }
    }
    if (s.frozen) return;
    for (const tier of crossedTiers(s.tiers, usage, s.limits.memoryHigh, this.o.settings.tiers)) this.onTier(s, tier, usage);
    if (m?.oomKills !== undefined && m.oomKills > s.oomKills) {
      const n = m.oomKills - s.oomKills;
      s.oomKills = m.oomKills;
      this.counters.ooms += n;
      this.emitAlert(s, 'resource.oom', 'warden.resource_oom', `the kernel killed ${n} process${n > 1 ? 'es' : ''} of ${s.ref.name} at its hard memory limit (${fmtBytes(s.limits.memoryMax)})`, {
        data: { oom_kills: n, usage_bytes: usage, memory_max: s.limits.memoryMax },
      });
    }
    if (s.cg && m?.underOom && !s.sessionPaused) {
      s.sessionPaused = true;
      this.counters.pauses++;
      this.emitAlert(s, 'resource.throttle', 'warden.resource_memory', `${s.ref.name} session paused at its hard memory limit (${fmtBytes(s.limits.memoryMax)}): raise the limit or kill it (warden top)`, {
        data: { how: 'paused', target: 'session', usage_bytes: usage, memory_max: s.limits.memoryMax },
      });
    } else if (m && !m.underOom) s.sessionPaused = false;
    const leak = s.leak.push(t, usage);
    if (leak) {
      this.counters.leaks++;
      this.emit(s, 'resource.leak', 'warn', `${s.ref.name} memory only grew for ${Math.round(leak.windowMs / 1000)} s: ${fmtBytes(leak.fromBytes)} → ${fmtBytes(leak.toBytes)} (${fmtBytes(Math.round(leak.rate))}/s)`, {
        rule: 'warden.resource_leak',
        data: { from_bytes: leak.fromBytes, to_bytes: leak.toBytes, window_s: Math.round(leak.windowMs / 1000), rate_bytes_per_s: Math.round(leak.rate), ...this.growerData(s) },
      });
    }
  }

  /** Data naming the process tree that holds the most memory (for leak reports). */
  private growerData(s: GovSession): Record<string, unknown> {
    const snap = this.sessionSnapshot(s);
    const tool = pickTool(snap.map((p) => ({ pid: p.pid, ppid: p.ppid, value: p.rssBytes })), s.ref.root_pid);
    return tool ? { tool: { pid: tool.pid, argv: proc.readCmdline(tool.pid) ?? [], rss_bytes: tool.subtree } } : { tool: null };
  }

  private sessionPids(s: GovSession): Set<number> {
    return new Set([...(s.cg ? s.cg.session.procsDeep() : []), ...treePids(s.ref.root_pid)]);
  }

  private sessionSnapshot(s: GovSession): ProcSnap[] {
    const pids = s.cg ? s.cg.session.procsDeep() : treePids(s.ref.root_pid);
    return snapshot(pids.length ? pids : treePids(s.ref.root_pid));
  }

  private onTier(s: GovSession, tier: number, usage: number): void {
    const mode = s.limits.mode;
    const tool = this.isolateTool(s, usage);
    const toolData = tool ? { pid: tool.pid, argv: tool.argv, cgroup: tool.node.identity ?? tool.node.dirs[0]?.dir, limit_bytes: tool.limitBytes } : undefined;
    const base = { tier, usage_bytes: usage, memory_high: s.limits.memoryHigh, memory_max: s.limits.memoryMax, mode, tool: toolData ?? null };
    const toolName = tool ? `\`${shortArgv(tool.argv)}\` (pid ${tool.pid})` : undefined;
    if (tier < 100 || mode === 'warn') {
      const sev: Severity = tier < 100 ? 'warn' : 'alert';
      this.emit(s, 'resource.warn', sev, `${s.ref.name} at ${tier} % of its soft memory limit (${fmtBytes(usage)} of ${fmtBytes(s.limits.memoryHigh)})${toolName ? `; growing: ${toolName}` : ''}`, {
        rule: 'warden.resource_memory',
        data: base,
      });
      return;
    }
    // At the limit, throttle or kill.
    if (tool) {
      // The tool's own cgroup acts (a v1 pause, a v2 throttle or OOM kill); checkTools reports
      // it. In kill mode the tool that took the session to its limit goes now, not at its next
      // allocation.
      this.checkTools(s, tool.pid);
      return;
    }
    if (mode === 'kill') {
      this.tellAndKillSession(s, `${s.ref.name} itself reached its memory limit (${fmtBytes(usage)} of ${fmtBytes(s.limits.memoryHigh)})`, 'resource.kill', base);
      return;
    }
    this.throttleSession(s, usage, base);
  }

  /** Finds the runaway tool and gives it a cgroup of its own (throttle and kill modes), or just names it (warn). */
  private isolateTool(s: GovSession, usage: number): ToolCgroup | { pid: number; argv: string[]; node: CgroupNode; limitBytes?: number } | undefined {
    const snap = this.sessionSnapshot(s);
    const choice = pickTool(snap.map((p) => ({ pid: p.pid, ppid: p.ppid, value: p.rssBytes })), s.ref.root_pid);
    if (!choice || !s.cg) return undefined;
    const existing = [...s.cg.tools.values()].find((t) => t.state !== 'killed' && subtreeOf(snap, t.pid).includes(choice.pid));
    if (existing) return existing;
    const argv = proc.readCmdline(choice.pid) ?? [];
    if (s.limits.mode === 'warn') return { pid: choice.pid, argv, node: s.cg.session };
    const inOther = new Set<number>();
    for (const t of s.cg.tools.values()) for (const p of t.node.procsDeep()) inOther.add(p);
    const pids = subtreeOf(snap, choice.pid).filter((p) => !inOther.has(p));
    const t = splitTool(s.cg, { pid: choice.pid, argv, pids }, { mode: s.limits.mode, headroom: s.limits.memoryHigh - usage });
    this.counters.tools++;
    return t;
  }

  private throttleSession(s: GovSession, usage: number, base: Record<string, unknown>): void {
    const cg = s.cg;
    let how = 'not enforced';
    if (cg?.session.enforcer('memory') === 'v2') how = 'memory.high';
    else if (cg?.session.enforcer('memory') === 'v1') {
      // v1 has no soft throttle: the session waits at the soft limit until raised.
      try {
        cg.session.setMemory({ max: Math.max(usage, s.limits.memoryHigh), oomKillDisable: true });
        how = 'paused';
      } catch (err) {
        how = `not paused: ${(err as Error).message}`;
      }
    }
    this.counters.pauses++;
    this.emitAlert(s, 'resource.throttle', 'warden.resource_memory', `${s.ref.name} itself reached its soft memory limit (${fmtBytes(usage)} of ${fmtBytes(s.limits.memoryHigh)}): ${how === 'paused' ? 'paused until the limit is raised or it is killed' : how}`, {
      data: { ...base, how, target: 'session' },
    });
  }

  /** Pauses, throttles and OOM kills of the tools' cgroups, and tools that ended. */
  private checkTools(s: GovSession, atLimit?: number): void {
    const cg = s.cg!;
    for (const t of [...cg.tools.values()]) {
      if (!t.node.populated()) {
        t.node.remove();
        cg.tools.delete(t.pid);
        continue;
      }
      if (t.state === 'killed' || t.state === 'frozen') continue;
      const m = t.node.memory();
      const name = `\`${shortArgv(t.argv)}\` (pid ${t.pid})`;
      const data = { tool: { pid: t.pid, argv: t.argv, cgroup: t.node.identity ?? t.node.dirs[0]?.dir, limit_bytes: t.limitBytes }, usage_bytes: s.usage, memory_high: s.limits.memoryHigh, mode: s.limits.mode };
      const v2 = t.node.enforcer('memory') === 'v2';
      const oom = (m.oomKills ?? 0) > t.seen.oomKills;
      const hit =
        (t.pid === atLimit && s.limits.mode === 'kill') ||
        (v2 ? (m.limitHits ?? 0) > t.seen.limitHits || (t.limitBytes !== undefined && (m.usageBytes ?? 0) >= t.limitBytes * 0.98) : !!m.underOom);
      t.seen = { limitHits: m.limitHits ?? 0, oomKills: m.oomKills ?? 0 };
      if (s.limits.mode === 'kill' && (hit || oom)) {
        const msg = `${name} was killed: it took ${s.ref.name}'s memory to its limit (${fmtBytes(s.limits.memoryHigh)}); ${s.ref.name} keeps running`;
        if (!oom) tellTool(t.pid, `${msg}. Run it with less memory, or ask the user to raise the limit.`);
        const n = oom ? 0 : t.node.kill();
        t.state = 'killed';
        this.counters.kills++;
        this.emitAlert(s, 'resource.kill', 'warden.resource_memory', msg, { proc: t.ref ?? procRefOf(t.pid), data: { ...data, by: oom ? 'kernel' : 'warden', processes: n } });
      } else if (s.limits.mode === 'throttle' && hit && t.state === 'running') {
        t.state = v2 ? 'throttled' : 'paused';
        this.counters.pauses++;
        const what = v2 ? 'is slowed down (memory.high)' : 'is paused';
        const msg = `${name} ${what}: it took ${s.ref.name}'s memory to its limit (${fmtBytes(s.limits.memoryHigh)}). The user can raise the limit or kill it (warden top)`;
        tellTool(t.pid, msg);
        this.emitAlert(s, 'resource.throttle', 'warden.resource_memory', msg, { proc: t.ref ?? procRefOf(t.pid), data: { ...data, how: v2 ? 'memory.high' : 'paused' } });
      } else if (t.state === 'paused' && !m.underOom) t.state = 'running';
    }
  }

  private sampleCpu(t: number): void {
    const alive = new Set<number>();
    for (const s of this.sessions.values()) {
      if (s.frozen) continue;
      const pids = s.cg ? s.cg.session.procsDeep() : treePids(s.ref.root_pid);
      for (const pid of pids) {
        const st = proc.readStat(pid);
        if (!st) continue;
        alive.add(pid);
        const sch = proc.readSchedstat(pid);
        const r = this.burn.sample(pid, st.startTicks, { t, cpuMs: (st.utime + st.stime) * 10, demandMs: sch ? (sch.runNs + sch.waitNs) / 1e6 : undefined, io: proc.readIo(pid) });
        if (r) this.reportCpu(s, r);
      }
    }
    this.burn.retain(alive);
  }

  /** resource.cpu: the rules decide whether it is a burn (impact_cpu_burn). */
  private reportCpu(s: GovSession, r: BurnReport): void {
    this.counters.cpu_reports++;
    const secs = r.windowMs / 1000;
    const io = r.io;
    const stdout = proc.readFdPath(r.pid, 1);
    const ref = procRefOf(r.pid);
    this.emit(s, 'resource.cpu', 'info', `${ref ? shortArgv(ref.argv) : r.pid} kept ${Math.round(r.share * 100)} % of a core busy for ${Math.round(secs)} s (ran ${Math.round(r.used * 100)} %, waited the rest)`, {
      proc: ref,
      data: {
        cpu_share: round(r.share),
        used_share: round(r.used),
        window_s: round(secs),
        ...(io
          ? {
              storage_bytes_per_s: Math.round((io.readBytes + io.writeBytes) / secs),
              chars_per_s: Math.round((io.rchar + io.wchar) / secs),
              syscalls_per_s: Math.round((io.syscr + io.syscw) / secs),
            }
          : {}),
        stdout: stdout ?? null,
        output_null: stdout === '/dev/null',
      },
    });
  }

  /** A process the rules called a CPU burn: throttled or killed per mode (warn: the rule's event is the report). */
  private onBurn(ev: UnstampedEvent): void {
    const s = this.sessions.get(ev.agent!.session);
    const pid = ev.proc!.pid;
    if (!s || !s.cg || s.limits.mode === 'warn' || pid === s.ref.root_pid) return;
    const snap = this.sessionSnapshot(s);
    if (!snap.some((p) => p.pid === pid)) return;
    const argv = ev.proc!.argv;
    const name = `\`${shortArgv(argv)}\` (pid ${pid})`;
    const inOther = new Set<number>();
    for (const t of s.cg.tools.values()) for (const p of t.node.procsDeep()) inOther.add(p);
    const t = s.cg.tools.get(pid) ?? splitTool(s.cg, { pid, argv, pids: subtreeOf(snap, pid).filter((p) => !inOther.has(p)) }, { mode: 'warn', headroom: 0 });
    const data = { tool: { pid, argv, cgroup: t.node.identity ?? t.node.dirs[0]?.dir }, rule: ev.rule, cpu_share: ev.data?.cpu_share, mode: s.limits.mode };
    if (s.limits.mode === 'kill') {
      const msg = `${name} was killed: it kept a CPU core busy without doing any I/O (${ev.rule ?? 'cpu burn'}); ${s.ref.name} keeps running`;
      tellTool(pid, msg);
      const n = t.node.kill();
      t.state = 'killed';
      this.counters.kills++;
      this.emitAlert(s, 'resource.kill', ev.rule ?? 'warden.resource_cpu', msg, { proc: ev.proc, data: { ...data, processes: n } }, 'T1496');
      return;
    }
    let how = 'not throttled: no cpu controller';
    if (t.node.enforcer('cpu')) {
      t.node.setCpu({ cpus: 0.1 });
      how = 'cpu quota 10 % of a core';
      t.state = 'throttled';
    } else if (t.node.freeze(true)) {
      how = 'frozen (no cpu controller to throttle it)';
      t.state = 'frozen';
    }
    const msg = `${name} ${t.state === 'throttled' ? 'is throttled to 10 % of a core' : t.state === 'frozen' ? 'is frozen' : 'could not be throttled'}: it kept a CPU core busy without doing any I/O`;
    tellTool(pid, msg);
    this.counters.pauses++;
    this.emitAlert(s, 'resource.throttle', ev.rule ?? 'warden.resource_cpu', msg, { proc: ev.proc, data: { ...data, how } }, 'T1496');
  }

  private cleanupIfDone(s: GovSession, t: number): void {
    if (s.endedAt === undefined) return;
    if (s.cg) {
      if (s.cg.session.populated()) return;
      if (s.cg.owned) s.cg.session.remove();
      s.cg = undefined;
    }
    if (t - s.endedAt > FORGET_AFTER_MS) this.sessions.delete(s.ref.session);
  }

  // ---- user actions (API, warden top, warden resume) ---------------------------------------

  info(session?: string): GovernedInfo[] {
    const out: GovernedInfo[] = [];
    for (const s of this.sessions.values()) {
      if (session && s.ref.session !== session) continue;
      const cg = s.cg;
      const p = cg?.session.pidsState();
      out.push({
        session: s.ref.session,
        mode: s.limits.mode,
        frozen: s.frozen,
        memory: { usage: s.usage, high: s.limits.memoryHigh, max: s.limits.memoryMax, peak: s.peak, enforced_by: cg?.session.enforcer('memory') },
        cpu: { cores: s.cpuCores !== undefined ? round(s.cpuCores) : undefined, weight: s.limits.cpuWeight, cpus: s.limits.cpus },
        pids: { current: p?.current, max: s.limits.pids },
        cgroup: cg?.session.identity ?? cg?.session.dirs[0]?.dir,
        ...(s.unenforced ? { unenforced: s.unenforced } : {}),
        tools: cg ? [...cg.tools.values()].map((t) => ({ pid: t.pid, argv: t.argv, state: t.state, usage: t.node.memory().usageBytes, limit: t.limitBytes })) : [],
      });
    }
    return out;
  }

  /** The session whose governor cgroup directory has this name. */
  refByDir(name: string): AgentRef | undefined {
    for (const s of this.sessions.values()) if (safeName(s.ref.session) === name || `s-${safeName(s.ref.session)}` === name) return s.ref;
    return undefined;
  }

  refByRoot(root: number): AgentRef | undefined {
    for (const s of this.sessions.values()) if (s.ref.root_pid === root) return s.ref;
    return undefined;
  }

  /** Roots of live sessions whose processes are not in a cgroup of ours. */
  rootsWithoutCgroup(): number[] {
    return [...this.sessions.values()].filter((s) => !s.cg && s.endedAt === undefined).map((s) => s.ref.root_pid);
  }

  /** This monitor's session directories per hierarchy, as /proc/PID/cgroup shows them. */
  get sessionDirs(): string[] {
    return this.ownDirs;
  }

  has(session: string): boolean {
    return this.sessions.has(session);
  }

  /** Kills a whole session through its cgroup, or one of its tools (`pid`). */
  kill(session: string, by: Requester, pid?: number, cause?: UnstampedEvent): ActionResult {
    const s = this.sessions.get(session);
    if (!s) return { ok: false, error: `no governed session ${session}` };
    if (pid !== undefined && pid !== s.ref.root_pid) {
      const t = s.cg?.tools.get(pid);
      // Only a process of this session: a pid from the API (or a reused one) is checked against its tree and cgroup.
      if (!t && !this.sessionPids(s).has(pid)) return { ok: false, error: `${pid} is not a process of session ${session}` };
      const ref = t?.ref ?? procRefOf(pid);
      const n = t ? (tellTool(pid, `killed by ${by.via}`), t.node.kill()) : killTree(pid);
      if (t) t.state = 'killed';
      this.counters.kills++;
      this.action(s, 'action.kill', `killed ${t ? 'tool' : 'process'} ${pid} of ${s.ref.name} (${n} processes) at the request of ${by.via}`, by, cause, { target: t ? 'tool' : 'process', pid, processes: n }, ref);
      return { ok: true, processes: n };
    }
    return this.tellAndKillSession(s, `killed at the request of ${by.via}`, 'action.kill', {}, by, cause);
  }

  private tellAndKillSession(s: GovSession, why: string, kind: 'resource.kill' | 'action.kill', base: Record<string, unknown>, by?: Requester, cause?: UnstampedEvent): ActionResult {
    const n = s.cg ? s.cg.session.kill() : killTree(s.ref.root_pid);
    this.counters.kills++;
    const msg = `${s.ref.name} session ${s.ref.session} killed (${n} processes): ${why}`;
    if (kind === 'resource.kill') this.emitAlert(s, kind, 'warden.resource_memory', msg, { data: { ...base, target: 'session', processes: n } });
    else this.action(s, kind, msg, by ?? { via: 'warden' }, cause, { target: 'session', processes: n });
    return { ok: true, processes: n };
  }

  /** Freezes (or thaws) the whole session, or one of its tools (`pid`): its processes stop where they are until resumed. */
  freeze(session: string, on: boolean, by: Requester, cause?: UnstampedEvent, pid?: number): ActionResult {
    const s = this.sessions.get(session);
    if (!s) return { ok: false, error: `no governed session ${session}` };
    const tool = pid !== undefined ? s.cg?.tools.get(pid) : undefined;
    if (pid !== undefined && pid !== s.ref.root_pid && !tool) return { ok: false, error: `${pid} is not a tool with a cgroup of its own in ${session}` };
    let ok: boolean;
    if (tool) ok = tool.node.freeze(on);
    else if (s.cg) ok = s.cg.session.freeze(on);
    else ok = signalTree(s.ref.root_pid, on ? 'SIGSTOP' : 'SIGCONT') > 0;
    if (!ok) return { ok: false, error: 'neither cgroup.freeze nor the v1 freezer is available, and the processes could not be signalled' };
    if (tool) tool.state = on ? 'frozen' : 'running';
    else s.frozen = on;
    const what = tool ? `tool \`${shortArgv(tool.argv)}\` (pid ${tool.pid}) of ${s.ref.name}` : `${s.ref.name} session ${s.ref.session}`;
    this.action(s, on ? 'action.freeze' : 'action.resume', `${what} ${on ? 'frozen: its processes are stopped until resumed (warden resume, warden top)' : 'resumed'} (${by.via})`, by, cause, {
      target: tool ? 'tool' : 'session',
      ...(tool ? { pid: tool.pid } : {}),
      how: s.cg?.session.identity ? 'cgroup.freeze' : s.cg ? 'freezer' : 'signals',
    });
    return { ok: true };
  }

  /** Raises (or lowers) a session's memory limits; paused tools get the difference and resume. */
  setLimit(session: string, l: { memoryHigh?: number; memoryMax?: number }, by: Requester): ActionResult {
    const s = this.sessions.get(session);
    if (!s) return { ok: false, error: `no governed session ${session}` };
    const old = { ...s.limits };
    const high = l.memoryHigh ?? (l.memoryMax !== undefined && l.memoryMax < s.limits.memoryHigh ? l.memoryMax : s.limits.memoryHigh);
    const max = Math.max(l.memoryMax ?? s.limits.memoryMax, high);
    try {
      if (s.cg?.session.enforcer('memory')) {
        s.cg.session.setMemory({ max });
        if (s.cg.session.enforcer('memory') === 'v2' && s.limits.mode === 'throttle') s.cg.session.setMemory({ high });
        if (s.sessionPaused || s.cg.session.enforcer('memory') === 'v1') s.cg.session.setMemory({ oomKillDisable: s.limits.mode === 'throttle' });
        for (const t of s.cg.tools.values()) {
          moveToolLimit(t, high - old.memoryHigh);
          if (t.state === 'paused' || t.state === 'throttled') t.state = 'running';
        }
      }
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
    s.limits = { ...s.limits, memoryHigh: high, memoryMax: max };
    s.sessionPaused = false;
    s.tiers.level = 0;
    this.action(s, 'action.limit', `${s.ref.name} memory limits ${fmtBytes(old.memoryHigh)}/${fmtBytes(old.memoryMax)} → ${fmtBytes(high)}/${fmtBytes(max)} (${by.via})`, by, undefined, {
      target: 'session',
      from: { memory_high: old.memoryHigh, memory_max: old.memoryMax },
      to: { memory_high: high, memory_max: max },
    });
    return { ok: true, memory_high: high, memory_max: max };
  }

  /** Leaves the sessions' cgroups as they are, except that nothing stays paused with nobody to release it. */
  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const s of this.sessions.values()) {
      const cg = s.cg;
      if (!cg) continue;
      try {
        if (cg.session.enforcer('memory') === 'v1') cg.session.setMemory({ oomKillDisable: false });
        for (const t of cg.tools.values()) {
          if (t.node.enforcer('memory') === 'v1') t.node.setMemory({ oomKillDisable: false });
          if (!t.node.populated()) t.node.remove();
        }
        if (cg.owned && !cg.session.populated()) cg.session.remove();
      } catch {
        /* best effort at exit */
      }
    }
  }

  // ---- events -----------------------------------------------------------------------------

  private emit(s: GovSession, kind: string, severity: Severity, message: string, extra: Partial<UnstampedEvent> = {}): void {
    const ev: UnstampedEvent = { ts: nowIso(), kind, severity, agent: s.ref, message, ...extra };
    // Anything attributed to an agent names a process: the tool, else the agent itself.
    ev.proc ??= s.rootProc;
    if (severity !== 'info') {
      ev.rule ??= 'warden.resource';
      ev.category ??= 'impact';
      ev.mitre ??= ['T1499'];
    }
    this.o.emit(ev);
  }

  private emitAlert(s: GovSession, kind: string, rule: string, message: string, extra: Partial<UnstampedEvent>, technique = 'T1499'): void {
    this.emit(s, kind, 'alert', message, { rule, category: 'impact', mitre: [technique], ...extra });
  }

  /** action.*: what Warden did, for whom (a rule's event, or a user through the API). */
  private action(s: GovSession, kind: string, message: string, by: Requester, cause: UnstampedEvent | undefined, data: Record<string, unknown>, procRef?: UnstampedEvent['proc']): void {
    const ev: UnstampedEvent = {
      ts: nowIso(),
      kind,
      severity: cause ? 'warn' : 'info',
      agent: s.ref,
      message,
      data: { ...data, by: { via: by.via, ...(by.pid !== undefined ? { pid: by.pid } : {}), ...(by.uid !== undefined ? { uid: by.uid } : {}) }, ...(cause ? { cause: { seq: cause.seq, rule: cause.rule, kind: cause.kind } } : {}) },
    };
    if (cause) {
      ev.rule = cause.rule ?? 'warden.action';
      ev.category = cause.category ?? 'impact';
      ev.mitre = cause.mitre ?? [];
    }
    ev.proc = procRef ?? cause?.proc ?? s.rootProc;
    this.o.emit(ev);
  }
}

function whyNoCgroups(layout: CgroupLayout): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root: cgroups cannot be created (limits are measured, not enforced)';
  if (!availableControllers(layout).length && !layout.v2) return 'no writable cgroup hierarchy with memory, pids or cpu';
  return undefined;
}

function killTree(root: number): number {
  return signalTree(root, 'SIGKILL');
}

function signalTree(root: number, sig: NodeJS.Signals): number {
  let n = 0;
  // Children first is not needed for SIGKILL/SIGSTOP; the root first stops it forking more.
  for (const pid of treePids(root)) {
    try {
      process.kill(pid, sig);
      n++;
    } catch {
      /* gone */
    }
  }
  return n;
}

function shortArgv(argv: string[]): string {
  const s = argv.join(' ');
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
