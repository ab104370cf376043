// Loss reports by session. The compiled sensor counts every record it could not deliver by
// the session root it belonged to, its type and why (ring full, shed under pressure, a
// syscall failing in a loop); this turns those counts into `monitor.loss` events: one per
// session and second that lost something (with `agent`, what kinds, why), and one for what
// belonged to no session. A session that lost records during a flood it made itself (its
// records were shed or rate limited, or it produced most of the traffic) is flagged
// `data.own_flood`: rules/default/evasion.yaml makes that an alert (an agent drowning the
// monitor to hide an act).
import type { AgentRef, UnstampedEvent } from '../events/types.js';
import type { Session } from '../model/process-model.js';
import type { LossWhy } from '../sensors/raw.js';

interface Tally {
  byKind: Record<string, number>;
  byWhy: Record<string, number>;
  total: number;
}

export interface LossHost {
  sessionByRoot(root: number): Session | undefined;
  sessions(): Session[];
  emit(ev: UnstampedEvent): void;
  now(): string;
}

/** A session produced at least this share of the events of the last window: its flood. */
const FLOOD_SHARE = 0.5;

export class LossReporter {
  private pending = new Map<number, Tally>();
  private lastEvents = new Map<string, number>();
  total = 0;

  constructor(private readonly host: LossHost) {}

  add(count: number, root: number | undefined, kind: string | undefined, why: LossWhy | undefined): void {
    this.total += count;
    const key = root ?? 0;
    let t = this.pending.get(key);
    if (!t) this.pending.set(key, (t = { byKind: {}, byWhy: {}, total: 0 }));
    t.total += count;
    const k = kind ?? 'unknown';
    t.byKind[k] = (t.byKind[k] ?? 0) + count;
    const w = why ?? 'dropped';
    t.byWhy[w] = (t.byWhy[w] ?? 0) + count;
  }

  /** Emits what was counted since the last flush (the monitor calls it once a second). */
  flush(): void {
    // events per session since the last flush: whose traffic it was
    const share = new Map<string, number>();
    let all = 0;
    for (const s of this.host.sessions()) {
      const d = s.events - (this.lastEvents.get(s.id) ?? 0);
      this.lastEvents.set(s.id, s.events);
      share.set(s.id, d);
      all += d;
    }
    if (this.pending.size === 0) return;
    const pending = this.pending;
    this.pending = new Map();
    for (const [root, t] of pending) {
      const s = root ? this.host.sessionByRoot(root) : undefined;
      const data: Record<string, unknown> = { lost: t.total, total_lost: this.total, source: 'kernel', by_kind: t.byKind, by_reason: t.byWhy };
      let agent: AgentRef | undefined;
      if (s) {
        agent = s.ref;
        const mine = share.get(s.id) ?? 0;
        const own = (t.byWhy.shed ?? 0) + (t.byWhy.rate_limited ?? 0) > 0 || (all > 0 && mine / all >= FLOOD_SHARE);
        data.own_flood = own;
        data.session_events = mine;
      } else if (root) data.root_pid = root;
      const what = Object.entries(t.byKind)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4)
        .map(([k, n]) => `${n} ${k}`)
        .join(', ');
      this.host.emit({
        ts: this.host.now(),
        kind: 'monitor.loss',
        severity: 'warn',
        ...(agent ? { agent } : {}),
        message: `${t.total} kernel records ${agent ? `of ${agent.name} session ${agent.session} ` : ''}not delivered (${what}; ${Object.entries(t.byWhy)
          .map(([w, n]) => `${w} ${n}`)
          .join(', ')})`,
        data,
      });
    }
  }
}
