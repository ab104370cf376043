// Prometheus metrics (prom-client, own registry): events by kind, alerts by rule, lost events,
// sensor lag, sink queue depths and drops, plus every monitor counter. A sink, so it counts
// exactly what the dispatcher emitted.
import client from 'prom-client';
import type { EventSink } from '../events/dispatcher.js';
import type { WardenEvent } from '../events/types.js';
import { FastHistogram } from './histogram.js';

export interface MetricsSources {
  /** Monitor counters (MonitorControl.stats()). */
  monitor(): Record<string, number>;
  /** Per-sink queue depth and drops. */
  sinks(): Array<{ name: string; depth: number; dropped: number; errors: number }>;
  api(): { clients: number; subscribers: number };
}

export class Metrics implements EventSink {
  readonly name = 'metrics';
  readonly registry = new client.Registry();
  private readonly events: client.Counter<'kind' | 'severity'>;
  private readonly alerts: client.Counter<'rule'>;
  private readonly lost: client.Counter<'source'>;
  private readonly lag: FastHistogram;

  constructor(src: MetricsSources) {
    const registers = [this.registry];
    // Both counters are filled from the maps write() keeps, whenever metrics are read.
    const flush = () => this.flushCounts();
    this.events = new client.Counter({ name: 'warden_events_total', help: 'Events emitted, by kind and severity', labelNames: ['kind', 'severity'], registers, collect: flush });
    this.alerts = new client.Counter({ name: 'warden_alerts_total', help: 'Alerts and warnings, by rule', labelNames: ['rule'], registers, collect: flush });
    this.lost = new client.Counter({
      name: 'warden_events_lost_total',
      help: 'Events the sensors lost (sum of monitor.loss data.lost)',
      labelNames: ['source'],
      registers,
    });
    this.lag = new FastHistogram(
      'warden_event_delay_seconds',
      'Time from an event (its ts) to its arrival at the outputs',
      [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      this.registry,
    );
    new client.Gauge({
      name: 'warden_sensor_lag_seconds',
      help: 'Sensor lag reported by the monitor (sensor_lag_ms)',
      registers,
      collect() {
        const v = src.monitor().sensor_lag_ms;
        this.set(typeof v === 'number' ? v / 1000 : 0);
      },
    });
    new client.Gauge({
      name: 'warden_sink_queue_depth',
      help: 'Events waiting in an output',
      labelNames: ['sink'],
      registers,
      collect() {
        this.reset();
        for (const s of src.sinks()) this.set({ sink: s.name }, s.depth);
      },
    });
    new client.Gauge({
      name: 'warden_sink_dropped_events',
      help: 'Events an output dropped (queue overflow, rejected, unwritable), since start',
      labelNames: ['sink'],
      registers,
      collect() {
        this.reset();
        for (const s of src.sinks()) this.set({ sink: s.name }, s.dropped);
      },
    });
    new client.Gauge({
      name: 'warden_sink_errors',
      help: 'Failed writes or deliveries of an output, since start',
      labelNames: ['sink'],
      registers,
      collect() {
        this.reset();
        for (const s of src.sinks()) this.set({ sink: s.name }, s.errors);
      },
    });
    new client.Gauge({
      name: 'warden_monitor_counter',
      help: 'Monitor counters by name (MonitorControl.stats())',
      labelNames: ['name'],
      registers,
      collect() {
        this.reset();
        for (const [k, v] of Object.entries(src.monitor())) if (typeof v === 'number' && Number.isFinite(v)) this.set({ name: k }, v);
      },
    });
    new client.Gauge({
      name: 'warden_api_clients',
      help: 'Connected API clients',
      registers,
      collect() {
        this.set(src.api().clients);
      },
    });
    new client.Gauge({
      name: 'warden_api_subscriptions',
      help: 'Live event subscriptions (API and SSE)',
      registers,
      collect() {
        this.set(src.api().subscribers);
      },
    });
  }

  private processMetrics = false;

  /**
   * Starts the Node process metrics (CPU, memory, event loop delay). Only once something can
   * read them (the HTTP server): the event loop delay monitor samples every 10 ms, ~100
   * wakeups a second for a monitor that is otherwise idle between kernel records.
   */
  startProcessMetrics(): void {
    if (this.processMetrics) return;
    this.processMetrics = true;
    client.collectDefaultMetrics({ register: this.registry, prefix: 'warden_' });
  }

  /**
   * Per-event counts kept in plain maps and handed to prom-client when it collects: a labelled
   * inc() hashes its label object on every call, and this sink sees every event.
   */
  private readonly byKind = new Map<string, { info: number; warn: number; alert: number }>();
  private readonly byRule = new Map<string, number>();
  /** The last ts seen and its parsed value (events of one millisecond share their ts). */
  private lastTs = '';
  private lastT = NaN;

  private flushCounts(): void {
    for (const [kind, c] of this.byKind) {
      if (c.info) this.events.inc({ kind, severity: 'info' }, c.info);
      if (c.warn) this.events.inc({ kind, severity: 'warn' }, c.warn);
      if (c.alert) this.events.inc({ kind, severity: 'alert' }, c.alert);
      c.info = c.warn = c.alert = 0;
    }
    for (const [rule, n] of this.byRule) if (n) this.alerts.inc({ rule }, n);
    this.byRule.clear();
  }

  write(ev: WardenEvent): void {
    let c = this.byKind.get(ev.kind);
    if (c === undefined) this.byKind.set(ev.kind, (c = { info: 0, warn: 0, alert: 0 }));
    if (ev.severity === 'info' || ev.severity === 'warn' || ev.severity === 'alert') c[ev.severity]++;
    if (ev.severity !== 'info' && ev.rule) this.byRule.set(ev.rule, (this.byRule.get(ev.rule) ?? 0) + 1);
    if (ev.kind === 'monitor.loss') {
      const n = Number(ev.data?.lost);
      if (Number.isFinite(n) && n > 0) this.lost.inc({ source: String(ev.data?.source ?? 'sensor') }, n);
    }
    if (ev.ts !== this.lastTs) {
      this.lastTs = ev.ts;
      this.lastT = Date.parse(ev.ts);
    }
    const t = this.lastT;
    if (!Number.isNaN(t)) this.lag.observe(Math.max(0, (Date.now() - t) / 1000));
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
  get contentType(): string {
    return this.registry.contentType;
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
