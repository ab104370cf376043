// The actions stage wired behind the rules: the governor (per-session cgroups, limits, tiers,
// runaway tools, CPU burn) and the responder (rule actions carried out). Both see every
// classified event after it left the rules, and report through the same classify path, so
// their own events are rule-checked too (resource.cpu becomes impact_cpu_burn there). Their
// reactions run on the next turn of the event loop: the rules are never re-entered.
import type { WatchConfig } from '../config/watch-config.js';
import type { UnstampedEvent } from '../events/types.js';
import { Governor, type ActionResult, type GovernedInfo, type Requester } from '../actions/governor/governor.js';
import { governorSettings } from '../actions/governor/limits.js';
import { Responder } from '../actions/responder.js';
import type { CgroupNode } from '../util/cgroup/node.js';
import type { AgentRef } from '../events/types.js';
import type { RuleAction } from '../rules/schema.js';

export interface Governance {
  observe(ev: UnstampedEvent): void;
  kill(session: string, by: Requester, pid?: number): ActionResult;
  freeze(session: string, on: boolean, by: Requester, pid?: number): ActionResult;
  setLimit(session: string, l: { memoryHigh?: number; memoryMax?: number }, by: Requester): ActionResult;
  info(session?: string): GovernedInfo[];
  stats(): Record<string, number>;
  stop(): void;
}

export function createGovernance(cfg: WatchConfig, o: { emit(ev: UnstampedEvent): void; actionFor(rule: string): RuleAction | undefined; log?(m: string): void; sessionCgroup?(ref: AgentRef): CgroupNode | undefined }): Governance {
  const settings = governorSettings(cfg);
  const governor = new Governor({ settings, emit: o.emit, log: o.log, sessionCgroup: o.sessionCgroup });
  const responder = new Responder({ actionFor: o.actionFor, governor, emit: o.emit });
  const pending: UnstampedEvent[] = [];
  let scheduled = false;
  const drain = () => {
    scheduled = false;
    for (const ev of pending.splice(0)) {
      governor.observe(ev);
      responder.observe(ev);
    }
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
    stats: () => ({ ...prefixed('governor_', governor.counters), ...prefixed('actions_', responder.counters) }),
    stop: () => {
      drain();
      governor.stop();
    },
  };
}

function prefixed(p: string, o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [p + k, v]));
}
