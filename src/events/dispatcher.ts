// Fan-out of finished events to sinks, and the single place where `seq` is assigned, so
// the numbering is strictly increasing in the order sinks see events.
import type { UnstampedEvent, WardenEvent } from './types.js';

export interface EventSink {
  readonly name: string;
  /** Must not throw; a sink reports its own failures (as counters or monitor events). */
  write(ev: WardenEvent): void;
  /** Resolves once everything written so far is durable (as durable as the sink allows). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export class Dispatcher {
  private seq = 0;
  private readonly sinks: EventSink[] = [];

  constructor(startSeq = 0) {
    this.seq = startSeq;
  }

  addSink(sink: EventSink): void {
    this.sinks.push(sink);
  }

  removeSink(sink: EventSink): void {
    const i = this.sinks.indexOf(sink);
    if (i >= 0) this.sinks.splice(i, 1);
  }

  /** Continues numbering after `seq` (e.g. the last one in an existing audit log). */
  continueFrom(seq: number): void {
    if (seq > this.seq) this.seq = seq;
  }

  get lastSeq(): number {
    return this.seq;
  }

  emit(ev: UnstampedEvent): WardenEvent {
    const stamped = ev as WardenEvent;
    stamped.seq = ++this.seq;
    for (const s of this.sinks) s.write(stamped);
    return stamped;
  }

  async flush(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.flush()));
  }

  async close(): Promise<void> {
    await Promise.all(this.sinks.map((s) => s.close()));
  }
}
