// Delivery of event batches over HTTP POST with retry: a bounded queue (oldest dropped and
// counted when full), exponential backoff with jitter (honouring Retry-After), a per-request
// timeout, and a bounded final attempt at close. Used by the webhook and OTLP sinks.
import type { EventSink } from '../events/dispatcher.js';
import { atLeast, type Severity, type WardenEvent } from '../events/types.js';

export interface HttpDeliveryOptions {
  name: string;
  url: string;
  headers?: Record<string, string>;
  minSeverity?: Severity;
  batchSize?: number;
  maxQueue?: number;
  timeoutMs?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  /** How long close() keeps trying to deliver what is queued. */
  closeTimeoutMs?: number;
  encode(batch: WardenEvent[]): { body: string; contentType: string };
  /** Once per failure streak. */
  onError?(err: Error): void;
  onRecover?(info: { failedAttempts: number }): void;
  /** Events dropped (queue overflow, rejected by the receiver, unsent at close). */
  onDrop?(count: number, reason: 'overflow' | 'rejected' | 'close'): void;
  fetchImpl?: typeof fetch;
}

export interface DeliveryStats {
  queued: number;
  inflight: number;
  sent: number;
  batches: number;
  dropped: number;
  failed_attempts: number;
  rejected: number;
}

export class HttpDeliverySink implements EventSink {
  readonly name: string;
  private queue: WardenEvent[] = [];
  private head = 0;
  private inflight: WardenEvent[] | undefined;
  private sending: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closing = false;
  private closed = false;
  private readonly c = { sent: 0, batches: 0, dropped: 0, failed_attempts: 0, rejected: 0 };
  private readonly o: Required<Omit<HttpDeliveryOptions, 'onError' | 'onRecover' | 'onDrop' | 'fetchImpl' | 'headers'>> &
    Pick<HttpDeliveryOptions, 'onError' | 'onRecover' | 'onDrop' | 'fetchImpl' | 'headers'>;

  constructor(opts: HttpDeliveryOptions) {
    this.name = opts.name;
    this.o = {
      minSeverity: 'info',
      batchSize: 100,
      maxQueue: 10_000,
      timeoutMs: 10_000,
      backoffMs: 500,
      maxBackoffMs: 30_000,
      closeTimeoutMs: 3_000,
      ...opts,
    };
  }

  get depth(): number {
    return this.queue.length - this.head + (this.inflight?.length ?? 0);
  }

  stats(): DeliveryStats {
    return { queued: this.queue.length - this.head, inflight: this.inflight?.length ?? 0, ...this.c };
  }

  write(ev: WardenEvent): void {
    if (this.closed || this.closing) return;
    if (this.o.minSeverity !== 'info' && !atLeast(ev.severity, this.o.minSeverity)) return;
    this.queue.push(ev);
    this.trim();
    this.pump();
  }

  private trim(): void {
    const over = this.queue.length - this.head - this.o.maxQueue;
    if (over > 0) {
      this.head += over;
      this.drop(over, 'overflow');
    }
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private drop(n: number, reason: 'overflow' | 'rejected' | 'close'): void {
    if (n <= 0) return;
    this.c.dropped += n;
    if (reason === 'rejected') this.c.rejected += n;
    this.o.onDrop?.(n, reason);
  }

  private pump(): void {
    if (this.sending || this.retryTimer || this.closed) return;
    if (this.queue.length - this.head === 0) return;
    const batch = this.queue.slice(this.head, this.head + this.o.batchSize);
    this.head += batch.length;
    this.inflight = batch;
    this.sending = this.send(batch).finally(() => {
      this.sending = undefined;
      if (!this.retryTimer) this.pump();
    });
  }

  private async send(batch: WardenEvent[]): Promise<void> {
    let err: Error | undefined;
    let retryAfterMs: number | undefined;
    let permanent = false;
    try {
      const { body, contentType } = this.o.encode(batch);
      const f = this.o.fetchImpl ?? fetch;
      const res = await f(this.o.url, {
        method: 'POST',
        headers: { 'content-type': contentType, 'user-agent': 'warden', ...(this.o.headers ?? {}) },
        body,
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined); // release the connection
      if (res.ok) {
        this.inflight = undefined;
        this.c.sent += batch.length;
        this.c.batches++;
        if (this.failures > 0) this.o.onRecover?.({ failedAttempts: this.failures });
        this.failures = 0;
        return;
      }
      err = new Error(`${this.name}: HTTP ${res.status}`);
      if (res.status === 429 || res.status === 503) {
        const ra = Number(res.headers.get('retry-after'));
        if (Number.isFinite(ra) && ra >= 0) retryAfterMs = Math.min(ra * 1000, this.o.maxBackoffMs);
      }
      // A receiver that rejects the request itself will reject it again: do not retry forever.
      permanent = res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429;
    } catch (e) {
      err = new Error(`${this.name}: ${(e as Error).name === 'TimeoutError' ? `timeout after ${this.o.timeoutMs} ms` : ((e as Error & { cause?: Error }).cause?.message ?? (e as Error).message)}`);
    }
    this.c.failed_attempts++;
    if (this.failures === 0) this.o.onError?.(err);
    this.failures++;
    this.inflight = undefined;
    if (permanent) {
      this.drop(batch.length, 'rejected');
    } else {
      // Back to the front of the queue, in order; overflow drops the oldest.
      this.queue.splice(this.head, 0, ...batch);
      this.trim();
    }
    if (this.closing) return;
    const exp = Math.min(this.o.maxBackoffMs, this.o.backoffMs * 2 ** Math.min(this.failures - 1, 30));
    const delay = retryAfterMs ?? Math.round(exp * (0.5 + Math.random() * 0.5));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.pump();
    }, delay);
    this.retryTimer.unref();
  }

  /** Waits (bounded) for what is queued now to be delivered; does not wait out a backoff. */
  async flush(timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.depth > 0 && !this.retryTimer && Date.now() < end) {
      this.pump();
      if (this.sending) await this.sending;
      else break;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    const end = Date.now() + this.o.closeTimeoutMs;
    let lastFailures = -1;
    while (this.depth > 0 && Date.now() < end) {
      if (this.sending) {
        await Promise.race([this.sending, new Promise((r) => setTimeout(r, Math.max(0, end - Date.now())))]);
        continue;
      }
      // One attempt per batch without backoff; stop at the first failure.
      if (lastFailures === this.failures && this.failures > 0) break;
      lastFailures = this.failures;
      this.pump();
      if (!this.sending) break;
    }
    this.closed = true;
    const left = this.queue.length - this.head + (this.inflight?.length ?? 0);
    this.queue = [];
    this.head = 0;
    this.drop(left, 'close');
  }
}
