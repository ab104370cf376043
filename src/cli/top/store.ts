// The client-side state of `warden top`: the recent events (bounded), what they say about
// processes (for chains) and egress, the sessions and counters polled from the API. No
// terminal code here: the view reads it, tests drive it directly.
import type { WardenEvent } from '../../events/types.js';
import type { SessionInfo } from '../../sinks/control.js';
import { buildChain, ProcTable, type ChainLink } from './chain.js';
import { EgressTable } from './egress.js';
import { isRoutine, matches, type TopFilters } from './filters.js';

export interface StoreOptions {
  /** Events kept per agent session (and for events of no session); older ones are dropped, the API still has them. */
  perSession?: number;
  /** Sessions (buckets) kept; the least recently active is dropped first. */
  maxSessions?: number;
  /** Warnings and alerts kept even after their session's bucket dropped them. */
  maxNotable?: number;
}

/**
 * Events are kept per agent session, so one agent flooding the stream cannot push another
 * agent's events (or any alert) out of view.
 */
export class TopStore {
  readonly procs = new ProcTable();
  readonly egress = new EgressTable();
  private readonly buckets = new Map<string, WardenEvent[]>();
  private notable: WardenEvent[] = [];
  /** seq → how many of the lists (session bucket, notable) hold it. */
  private readonly refs = new Map<number, number>();
  private readonly perSession: number;
  private readonly maxSessions: number;
  private readonly maxNotable: number;
  private cache: { version: number; key: string; out: WardenEvent[] } | undefined;
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
    this.perSession = o.perSession ?? 3000;
    this.maxSessions = o.maxSessions ?? 64;
    this.maxNotable = o.maxNotable ?? 3000;
  }

  add(ev: WardenEvent): void {
    if (this.refs.has(ev.seq)) return;
    this.received++;
    this.procs.note(ev);
    this.egress.add(ev);
    this.kinds.add(ev.kind);
    if (ev.kind === 'alert.ack' && typeof ev.data?.seq === 'number') this.acked.add(ev.data.seq);
    const key = ev.agent?.session ?? (ev.sandbox ? `sandbox:${ev.sandbox.id}` : '');
    let bucket = this.buckets.get(key);
    if (bucket) this.buckets.delete(key);
    else bucket = [];
    // Most recently active last, so the first key is the one to drop.
    this.buckets.set(key, bucket);
    insertSorted(bucket, ev);
    this.refs.set(ev.seq, 1);
    if (bucket.length > this.perSession) for (const old of bucket.splice(0, bucket.length - this.perSession)) this.forget(old);
    if (ev.severity !== 'info') {
      insertSorted(this.notable, ev);
      this.refs.set(ev.seq, 2);
      if (this.notable.length > this.maxNotable) for (const old of this.notable.splice(0, this.notable.length - this.maxNotable)) this.forget(old);
    }
    if (this.buckets.size > this.maxSessions) {
      const [k, evs] = this.buckets.entries().next().value!;
      this.buckets.delete(k);
      for (const old of evs) this.forget(old);
    }
    this.version++;
  }

  private forget(ev: WardenEvent): void {
    const n = (this.refs.get(ev.seq) ?? 1) - 1;
    if (n > 0) this.refs.set(ev.seq, n);
    else this.refs.delete(ev.seq);
  }

  /** Forgets everything (connected to another monitor: its seq numbers start over). */
  reset(): void {
    this.buckets.clear();
    this.notable = [];
    this.refs.clear();
    this.procs.clear();
    this.egress.clear();
    this.acked.clear();
    this.kinds.clear();
    this.sessions = [];
    this.stats = {};
    this.dropped = 0;
    this.received = 0;
    this.cache = undefined;
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

  /** Every event kept, in seq order. */
  all(): readonly WardenEvent[] {
    return this.filtered({ routine: true });
  }

  get size(): number {
    return this.refs.size;
  }

  filtered(f: TopFilters): WardenEvent[] {
    const key = JSON.stringify(f);
    if (this.cache && this.cache.version === this.version && this.cache.key === key) return this.cache.out;
    const seen = new Set<number>();
    const out: WardenEvent[] = [];
    const take = (e: WardenEvent) => {
      if (seen.has(e.seq) || !matches(e, f)) return;
      seen.add(e.seq);
      out.push(e);
    };
    for (const [k, evs] of this.buckets) {
      // A session's bucket holds only that session's events: skip whole buckets that cannot match.
      if (f.agent !== undefined && (k === '' || k.startsWith('sandbox:') || !matches(evs[0]!, { agent: f.agent, routine: true }))) continue;
      for (const e of evs) take(e);
    }
    for (const e of this.notable) take(e);
    out.sort((a, b) => a.seq - b.seq);
    this.cache = { version: this.version, key, out };
    return out;
  }

  bySeq(seq: number): WardenEvent | undefined {
    if (!this.refs.has(seq)) return undefined;
    return this.all().find((e) => e.seq === seq);
  }

  chain(ev: WardenEvent): ChainLink[] {
    return buildChain(ev, this.procs);
  }

  /** Alerts and warnings per session among the events kept (for sessions the API lost). */
  alertsFor(session: string): { alert: number; warn: number } {
    let alert = 0;
    let warn = 0;
    for (const e of this.all()) {
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
    for (const e of session ? this.filtered({ agent: session, routine: true }) : this.all()) {
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

function insertSorted(list: WardenEvent[], ev: WardenEvent): void {
  const last = list[list.length - 1];
  if (!last || last.seq < ev.seq) {
    list.push(ev);
    return;
  }
  let i = list.length;
  while (i > 0 && list[i - 1]!.seq > ev.seq) i--;
  list.splice(i, 0, ev);
}
