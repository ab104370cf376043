// NDJSON file sink: one event per line, appended. Lines are buffered and written on a short
// timer (or when the buffer grows) with synchronous writes, so flush() before exit can never
// be cut short by the event loop ending. `-` means stdout.
import fs from 'node:fs';
import path from 'node:path';
import type { EventSink } from '../events/dispatcher.js';
import { atLeast, type Severity, type WardenEvent } from '../events/types.js';

export interface NdjsonFileSinkOptions {
  /** Milliseconds between background flushes (the most a SIGKILL can lose). */
  flushIntervalMs?: number;
  /** Flush as soon as this many bytes are buffered. */
  maxBufferBytes?: number;
  minSeverity?: Severity;
  /** Called once per failure streak (disk full, unwritable path). */
  onError?: (err: Error) => void;
}

export class NdjsonFileSink implements EventSink {
  readonly name: string;
  private fd: number;
  private buf: string[] = [];
  private bufBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  written = 0;
  dropped = 0;
  private readonly interval: number;
  private readonly maxBytes: number;
  private readonly min: Severity;

  constructor(
    readonly file: string,
    private readonly opts: NdjsonFileSinkOptions = {},
  ) {
    this.name = `file:${file}`;
    this.interval = opts.flushIntervalMs ?? 200;
    this.maxBytes = opts.maxBufferBytes ?? 256 * 1024;
    this.min = opts.minSeverity ?? 'info';
    if (file === '-') this.fd = 1;
    else {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      this.fd = fs.openSync(file, 'a', 0o600);
    }
  }

  write(ev: WardenEvent): void {
    if (this.min !== 'info' && !atLeast(ev.severity, this.min)) return;
    const line = JSON.stringify(ev) + '\n';
    this.buf.push(line);
    this.bufBytes += line.length;
    if (this.bufBytes >= this.maxBytes) this.flushSync();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flushSync();
      }, this.interval);
      this.timer.unref();
    }
  }

  flushSync(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.buf.length === 0) return;
    const data = Buffer.from(this.buf.join(''));
    const lines = this.buf.length;
    try {
      let off = 0;
      while (off < data.length) off += fs.writeSync(this.fd, data, off);
      this.buf = [];
      this.bufBytes = 0;
      this.written += lines;
      this.failing = false;
    } catch (err) {
      // Keep the lines for the next attempt, but bound memory: beyond 64 MiB, drop oldest
      // and count them, so the failure is visible rather than an OOM.
      if (!this.failing) this.opts.onError?.(err as Error);
      this.failing = true;
      while (this.bufBytes > 64 * 1024 * 1024 && this.buf.length > 0) {
        this.bufBytes -= this.buf.shift()!.length;
        this.dropped++;
      }
      if (!this.timer) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.flushSync();
        }, 1000);
        this.timer.unref();
      }
    }
  }

  async flush(): Promise<void> {
    this.flushSync();
  }

  async close(): Promise<void> {
    this.flushSync();
    if (this.fd > 2) {
      try {
        fs.fsyncSync(this.fd);
      } catch {
        /* fsync on pipes/ttys fails; nothing more to do */
      }
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }
}
