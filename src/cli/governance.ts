// The actions stage wired behind the rules: the governor (per-session cgroups, limits, tiers,
// runaway tools, CPU burn), the responder (rule actions carried out) and, with `protect`, the
// kernel-refused reads. They see every classified event after it left the rules, and report
// through the same classify path, so their own events are rule-checked too (resource.cpu
// becomes impact_cpu_burn there). Their reactions run on the next turn of the event loop: the
// rules are never re-entered.
import type { WatchConfig } from '../config/watch-config.js';
import { nowIso } from '../events/time.js';
import type { AgentRef, UnstampedEvent } from '../events/types.js';
import { Governor, type ActionResult, type GovernedInfo, type Requester } from '../actions/governor/governor.js';
import { governorSettings } from '../actions/governor/limits.js';
import { Responder, type DenyTarget } from '../actions/responder.js';
import type { Protector } from '../actions/protect/protector.js';
import type { RuleAction } from '../rules/schema.js';
import type { CgroupNode } from '../util/cgroup/node.js';

export interface Governance {
  observe(ev: UnstampedEvent): void;
  kill(session: string, by: Requester, pid?: number): ActionResult;
  freeze(session: string, on: boolean, by: Requester, pid?: number): ActionResult;
  setLimit(session: string, l: { memoryHigh?: number; memoryMax?: number }, by: Requester): ActionResult;
  info(session?: string): GovernedInfo[];
  stats(): Record<string, number>;
  stop(): Promise<void>;
}

export interface GovernanceOptions {
  emit(ev: UnstampedEvent): void;
  actionFor(rule: string): RuleAction | undefined;
  log?(m: string): void;
  sessionCgroup?(ref: AgentRef): CgroupNode | undefined;
  /** Warden's own files (config, rules, audit log): closed to agents with protect on. */
  ownFiles?: string[];
}

export async function createGovernance(cfg: WatchConfig, o: GovernanceOptions): Promise<Governance> {
  const settings = governorSettings(cfg);
  const governor = new Governor({ settings, emit: o.emit, log: o.log, sessionCgroup: o.sessionCgroup });
  const protect = await startProtect(cfg, governor, o);
  const deny: DenyTarget | undefined = protect && {
    denyPath(p, cause) {
      const n = protect.p.mark([{ path: p, dir: false, why: `rule ${cause.rule}` }]);
      if (!protect.p.isMarked(p)) return { ok: false, error: `${p} could not be marked (gone, or not a file fanotify can mark)` };
      o.emit({
        ts: nowIso(),
        kind: 'action.deny',
        severity: 'warn',
        rule: cause.rule,
        category: cause.category,
        mitre: cause.mitre,
        ...(cause.agent ? { agent: cause.agent } : {}),
        ...(cause.proc ? { proc: cause.proc } : {}),
        file: { path: p, op: 'read' },
        message: `${p} is now refused by the kernel to agent processes (rule ${cause.rule}); ${n} paths protected`,
        data: { how: 'fanotify mark', cause: { seq: cause.seq, kind: cause.kind } },
      });
      return { ok: true };
    },
  };
  const responder = new Responder({ actionFor: o.actionFor, governor, emit: o.emit, deny });
  const pending: UnstampedEvent[] = [];
  let scheduled = false;
  const drain = () => {
    scheduled = false;
    let sessionsChanged = false;
    for (const ev of pending.splice(0)) {
      governor.observe(ev);
      responder.observe(ev);
      if (ev.kind === 'agent.start' || ev.kind === 'agent.exit') sessionsChanged = true;
      if (ev.kind === 'agent.start' && ev.agent?.cwd) protect?.addProject(ev.agent.cwd);
    }
    if (sessionsChanged) protect?.p.setRoots(governor.rootsWithoutCgroup());
  };
  return {
    observe(ev) {
      if (!ev.agent) return;
      pending.push(ev);
      if (!scheduled) {
        scheduled = true;
        setImmediate(drain);
      }
    },
    kill: (s, by, pid) => governor.kill(s, by, pid),
    freeze: (s, on, by, pid) => governor.freeze(s, on, by, undefined, pid),
    setLimit: (s, l, by) => governor.setLimit(s, l, by),
    info: (s) => governor.info(s),
    stats: () => ({ ...prefixed('governor_', governor.counters), ...prefixed('actions_', responder.counters), ...(protect?.p.stats() ?? {}) }),
    stop: async () => {
      drain();
      governor.stop();
      await protect?.stop();
    },
  };
}

/** protect: the fanotify group, its marks kept up to date, or one alert saying why not. */
async function startProtect(cfg: WatchConfig, governor: Governor, o: GovernanceOptions): Promise<{ p: Protector; addProject(dir: string): void; stop(): Promise<void> } | undefined> {
  const pc = cfg.protect === true ? { enabled: true, paths: [], builtin: true, decision_timeout_ms: 250, rescan_s: 10 } : cfg.protect === false ? undefined : cfg.protect;
  if (!pc?.enabled) return undefined;
  const { Protector } = await import('../actions/protect/protector.js');
  const { auditFiles, knownHomes, ownTargets, secretTargets } = await import('../actions/protect/targets.js');
  let p: Protector;
  try {
    p = new Protector({
      timeoutMs: pc.decision_timeout_ms,
      ownDirs: governor.sessionDirs,
      sessionByDir: (n) => governor.refByDir(n),
      sessionByRoot: (r) => governor.refByRoot(r),
      emit: o.emit,
      testDelayMs: Number(process.env.WARDEN_PROTECT_TEST_DELAY_MS) || undefined,
    });
  } catch (err) {
    o.emit({ ts: nowIso(), kind: 'monitor.protect_failed', severity: 'alert', rule: 'warden.protect', category: 'defense_evasion', mitre: ['T1562.001'], message: `protect is on but cannot run: ${(err as Error).message}; secrets are only watched, not refused`, data: { error: (err as Error).message } });
    return undefined;
  }
  const projects = new Set<string>();
  const own = (o.ownFiles ?? []).filter(Boolean);
  const targets = () => [
    ...secretTargets({ homes: knownHomes(), projects: [...projects], extra: pc.paths, builtin: pc.builtin }),
    ...ownTargets([...own, ...own.flatMap((f) => auditFiles(f))]),
  ];
  const n = p.mark(targets());
  o.emit({ ts: nowIso(), kind: 'monitor.protect', severity: 'info', message: `protect: ${n} secret and Warden paths refused to agent processes by the kernel (fail-open after ${pc.decision_timeout_ms} ms)`, data: { marks: n, decision_timeout_ms: pc.decision_timeout_ms } });
  const rescan = setInterval(() => p.mark(targets()), pc.rescan_s * 1000);
  rescan.unref();
  return {
    p,
    addProject(dir) {
      if (projects.has(dir)) return;
      projects.add(dir);
      p.mark(targets());
    },
    async stop() {
      clearInterval(rescan);
      await p.stop();
    },
  };
}

function prefixed(p: string, o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [p + k, v]));
}
