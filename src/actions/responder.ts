// Rule actions carried out. A rule names what should happen when it fires (`action: kill |
// kill_session | freeze | deny`); here the classified event meets that action: the acting
// process (and what it started) is killed, or the whole session through its cgroup, or the
// session is frozen until resumed, or the file is added to what the kernel refuses to the
// agent's processes from now on. Each is reported as an `action.*` event naming the rule.
import type { UnstampedEvent } from '../events/types.js';
import type { RuleAction } from '../rules/schema.js';
import type { Governor } from './governor/governor.js';

export interface DenyTarget {
  /** Adds a path to what agents are refused; false when protection cannot run here. */
  denyPath(path: string, cause: UnstampedEvent): { ok: boolean; error?: string };
}

export interface ResponderOptions {
  actionFor(rule: string): RuleAction | undefined;
  governor: Governor;
  deny?: DenyTarget;
  emit(ev: UnstampedEvent): void;
}

/** The same action for the same rule, session and process is carried out once in this window. */
const REPEAT_MS = 2000;

export class Responder {
  private readonly recent = new Map<string, number>();
  readonly counters = { kill: 0, kill_session: 0, freeze: 0, deny: 0, failed: 0 };

  constructor(private readonly o: ResponderOptions) {}

  observe(ev: UnstampedEvent): void {
    if (!ev.rule || !ev.agent || ev.severity === 'info') return;
    if (ev.kind.startsWith('action.') || ev.kind.startsWith('resource.') || ev.kind.startsWith('monitor.')) return;
    const action = this.o.actionFor(ev.rule);
    if (!action) return;
    const key = `${action}|${ev.rule}|${ev.agent.session}|${action === 'deny' ? ev.file?.path : ev.proc?.pid}`;
    const now = Date.now();
    const last = this.recent.get(key);
    if (last !== undefined && now - last < REPEAT_MS) return;
    this.recent.set(key, now);
    if (this.recent.size > 4096) for (const [k, t] of this.recent) if (now - t > REPEAT_MS) this.recent.delete(k);
    const r = this.carryOut(action, ev);
    if (r.ok) this.counters[action]++;
    else {
      this.counters.failed++;
      this.o.emit({
        ts: ev.ts,
        kind: 'action.failed',
        severity: 'warn',
        rule: ev.rule,
        category: ev.category,
        mitre: ev.mitre,
        agent: ev.agent,
        ...(ev.proc ? { proc: ev.proc } : {}),
        message: `rule ${ev.rule} asks to ${action}, which could not be done: ${r.error}`,
        data: { action, error: r.error, cause: { seq: ev.seq, kind: ev.kind } },
      });
    }
  }

  private carryOut(action: RuleAction, ev: UnstampedEvent): { ok: boolean; error?: string } {
    const g = this.o.governor;
    const session = ev.agent!.session;
    const by = { via: `rule ${ev.rule}` };
    switch (action) {
      case 'kill': {
        const pid = ev.proc?.pid;
        if (pid === undefined) return { ok: false, error: 'the event names no process' };
        return g.kill(session, by, pid === ev.agent!.root_pid ? undefined : pid, ev);
      }
      case 'kill_session':
        return g.kill(session, by, undefined, ev);
      case 'freeze':
        return g.freeze(session, true, by, ev);
      case 'deny': {
        const p = ev.file?.path;
        if (!p) return { ok: false, error: 'deny applies to file events (a path to refuse)' };
        if (!this.o.deny) return { ok: false, error: 'kernel-refused reads are not available (protect needs root and fanotify)' };
        return this.o.deny.denyPath(p, ev);
      }
    }
  }
}
