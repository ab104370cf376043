// Recent events in memory and the live fan-out to subscribers (JSON-RPC subscriptions, SSE).
// The ring answers queries about the recent past without touching the disk; once it has
// evicted, older questions go to the audit log.
import type { EventSink } from '../events/dispatcher.js';
import type { WardenEvent } from '../events/types.js';
import type { EventPredicate } from './filter.js';

export type Subscriber = (ev: WardenEvent) => void;

export class EventRing implements EventSink {
  readonly name = 'ring';
  private buf: Array<WardenEvent | undefined>;
  private next = 0;
  private count = 0;
  private subs = new Set<{ pred: EventPredicate; fn: Subscriber }>();
  /** Wall-clock ms when the ring started: it has everything since then unless it evicted. */
  readonly startedMs = Date.now();
  evicted = 0;

  constructor(readonly capacity: number) {
    this.buf = new Array(capacity);
  }

  write(ev: WardenEvent): void {
    if (this.count === this.capacity) this.evicted++;
    else this.count++;
    this.buf[this.next] = ev;
    this.next = (this.next + 1) % this.capacity;
    for (const s of this.subs) {
      try {
        if (s.pred(ev)) s.fn(ev);
      } catch {
        /* a broken subscriber must not affect the others */
      }
    }
  }

  get size(): number {
    return this.count;
  }
  get subscribers(): number {
    return this.subs.size;
  }

  /** True if the ring holds every event since `sinceMs` (it never evicted, or evicted only older ones). */
  covers(sinceMs: number | undefined): boolean {
    if (this.evicted === 0) return sinceMs !== undefined && sinceMs >= this.startedMs;
    const oldest = this.at(0);
    return sinceMs !== undefined && oldest !== undefined && Date.parse(oldest.ts) < sinceMs;
  }

  private at(i: number): WardenEvent | undefined {
    if (i >= this.count) return undefined;
    const start = (this.next - this.count + this.capacity) % this.capacity;
    return this.buf[(start + i) % this.capacity];
  }

  /** The last `limit` matching events, oldest first. */
  query(pred: EventPredicate, limit: number): WardenEvent[] {
    const out: WardenEvent[] = [];
    for (let i = this.count - 1; i >= 0 && out.length < limit; i--) {
      const ev = this.at(i)!;
      if (pred(ev)) out.push(ev);
    }
    return out.reverse();
  }

  subscribe(pred: EventPredicate, fn: Subscriber): () => void {
    const s = { pred, fn };
    this.subs.add(s);
    return () => this.subs.delete(s);
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {
    this.subs.clear();
  }
}
