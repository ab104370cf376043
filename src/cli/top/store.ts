// The client-side state of `warden top`: the recent events (bounded), what they say about
// processes (for chains) and egress, the sessions and counters polled from the API. No
// terminal code here: the view reads it, tests drive it directly.
import type { WardenEvent } from '../../events/types.js';
import type { SessionInfo } from '../../sinks/control.js';
import { buildChain, ProcTable, type ChainLink } from './chain.js';
import { EgressTable } from './egress.js';
import { isRoutine, matches, type TopFilters } from './filters.js';

export interface StoreOptions {
  /** Events kept for the stream (older ones are dropped; the API still has them). */
  maxEvents?: number;
}

export class TopStore {
  readonly procs = new ProcTable();
  readonly egress = new EgressTable();
  private events: WardenEvent[] = [];
  private readonly seqs = new Set<number>();
  private readonly max: number;
  sessions: SessionInfo[] = [];
  stats: Record<string, number> = {};
  /** Alerts acknowledged (alert.ack events seen), by seq. */
  readonly acked = new Set<number>();
  /** Kinds seen (for the kind filter's cycle). */
  readonly kinds = new Set<string>();
  /** Events the API said it dropped because this client fell behind. */
  dropped = 0;
  received = 0;
  /** Bumped on every change, so a view can tell it has to redraw. */
  version = 0;

  constructor(o: StoreOptions = {}) {
    this.max = o.maxEvents ?? 5000;
  }

  add(ev: WardenEvent): void {
    if (this.seqs.has(ev.seq)) return;
    this.received++;
    this.procs.note(ev);
    this.egress.add(ev);
    this.kinds.add(ev.kind);
    if (ev.kind === 'alert.ack' && typeof ev.data?.seq === 'number') this.acked.add(ev.data.seq);
    // Replayed history can arrive after live events: keep the list ordered by seq.
    const last = this.events[this.events.length - 1];
    if (!last || last.seq < ev.seq) this.events.push(ev);
    else {
      let i = this.events.length;
      while (i > 0 && this.events[i - 1]!.seq > ev.seq) i--;
      this.events.splice(i, 0, ev);
    }
    this.seqs.add(ev.seq);
    if (this.events.length > this.max) {
      for (const old of this.events.splice(0, this.events.length - this.max)) this.seqs.delete(old.seq);
    }
    this.version++;
  }

  /** Merges process history fetched from the API (for chains), without touching the stream. */
  noteProcesses(evs: WardenEvent[]): void {
    for (const ev of evs) this.procs.note(ev);
    this.version++;
  }

  setSessions(s: SessionInfo[]): void {
    this.sessions = s;
    this.version++;
  }

  setStats(s: Record<string, number>): void {
    this.stats = s;
    this.version++;
  }

  all(): readonly WardenEvent[] {
    return this.events;
  }

  filtered(f: TopFilters): WardenEvent[] {
    return this.events.filter((e) => matches(e, f));
  }

  bySeq(seq: number): WardenEvent | undefined {
    if (!this.seqs.has(seq)) return undefined;
    return this.events.find((e) => e.seq === seq);
  }

  chain(ev: WardenEvent): ChainLink[] {
    return buildChain(ev, this.procs);
  }

  /** Alerts and warnings per session among the events kept (for sessions the API lost). */
  alertsFor(session: string): { alert: number; warn: number } {
    let alert = 0;
    let warn = 0;
    for (const e of this.events) {
      if (e.agent?.session !== session) continue;
      if (e.severity === 'alert') alert++;
      else if (e.severity === 'warn') warn++;
    }
    return { alert, warn };
  }

  /**
   * What the acting process touched: the event's own target, then other file, network and
   * exec events of the same process (and the processes it started), most relevant first.
   * Library and locale loads are left out: they say nothing about intent.
   */
  touched(ev: WardenEvent, limit = 12): WardenEvent[] {
    const pid = ev.proc?.pid;
    if (pid === undefined) return [];
    const session = ev.agent?.session;
    const pids = new Set<number>([pid]);
    const out: WardenEvent[] = [];
    for (const e of this.events) {
      if (!e.proc || (session && e.agent?.session !== session)) continue;
      if (pids.has(e.proc.ppid) && e.kind === 'process.exec') pids.add(e.proc.pid);
      if (!pids.has(e.proc.pid) || e.seq === ev.seq) continue;
      if (!interesting(e)) continue;
      out.push(e);
    }
    // Closest in time to the event first.
    out.sort((a, b) => Math.abs(a.seq - ev.seq) - Math.abs(b.seq - ev.seq));
    return out.slice(0, limit).sort((a, b) => a.seq - b.seq);
  }
}

/** Events worth listing under "touched". */
export function interesting(e: WardenEvent): boolean {
  if (e.severity !== 'info') return true;
  if (isRoutine(e)) return false;
  return Boolean(e.file) || e.kind.startsWith('net.') || e.kind === 'process.exec' || e.kind.startsWith('egress.');
}
