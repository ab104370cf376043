// Events on standard output, as NDJSON (for pipes) or one readable line each. Writes are
// synchronous like the audit log, so nothing buffered is lost at exit.
import type { EventSink } from '../events/dispatcher.js';
import { atLeast, type Severity, type WardenEvent } from '../events/types.js';
import { textLine } from './format.js';
import { NdjsonFileSink, type NdjsonFileSinkOptions } from './ndjson-file.js';

export class StdoutSink implements EventSink {
  readonly name = 'stdout';
  private readonly inner: NdjsonFileSink;
  private readonly text: boolean;

  constructor(opts: { format?: 'json' | 'text'; minSeverity?: Severity; onError?: NdjsonFileSinkOptions['onError'] } = {}) {
    this.text = opts.format === 'text';
    this.inner = new NdjsonFileSink('-', { minSeverity: opts.minSeverity, onError: opts.onError, flushIntervalMs: 100 });
    this.min = opts.minSeverity ?? 'info';
  }
  private readonly min: Severity;

  write(ev: WardenEvent): void {
    if (!this.text) return this.inner.write(ev);
    if (this.min !== 'info' && !atLeast(ev.severity, this.min)) return;
    // Reuse the buffered writer with a pre-rendered line (a shallow carrier object).
    this.inner.writeLine(textLine(ev) + '\n', ev.severity === 'alert');
  }

  stats() {
    return this.inner.stats();
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
