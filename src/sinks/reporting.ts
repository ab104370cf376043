// Builds the reporting side of a monitor from its config: the audit log, stdout, OTLP,
// webhook, notifications, the in-memory ring with the JSON-RPC API, and the HTTP endpoints.
// Everything is reached through one fan-out sink so a config reload can swap outputs in a
// single synchronous step: the dispatcher never sees a gap, and no event is lost or doubled.
import fs from 'node:fs';
import { ConfigError } from '../config/load.js';
import { configSource, type WatchConfig } from '../config/watch-config.js';
import type { EventSink } from '../events/dispatcher.js';
import { nowIso } from '../events/time.js';
import type { UnstampedEvent, WardenEvent } from '../events/types.js';
import { parseSize } from '../util/size.js';
import { defaultAuditLog, defaultSocketPath } from '../util/xdg.js';
import { ApiServer } from './api-server.js';
import type { MonitorControl, Reporting, ReportingOptions } from './control.js';
import { HttpDeliverySink } from './http-delivery.js';
import { HttpServer, isLoopback, parseListen } from './http-server.js';
import { Metrics } from './metrics.js';
import { NdjsonFileSink, type NdjsonFileSinkOptions } from './ndjson-file.js';
import { acquireWriterLock, type WriterLock } from './writer-lock.js';
import { NotifySink } from './notify.js';
import { otlpSink } from './otlp.js';
import { EventRing } from './ring.js';
import { StdoutSink } from './stdout.js';
import { webhookSink } from './webhook.js';

/** Audit log defaults when the config does not say (README "Audit log"). */
export const AUDIT_DEFAULTS = { maxSize: 64 * 1024 * 1024, maxBackups: 10, compress: true };

interface Parts {
  file?: NdjsonFileSink;
  stdout?: StdoutSink;
  otlp?: HttpDeliverySink;
  webhook?: HttpDeliverySink;
  notify?: NotifySink;
}

/** Fans events out to every output; one failing output never affects the others. */
class FanoutSink implements EventSink {
  readonly name = 'reporting';
  children: EventSink[] = [];
  errors = 0;
  write(ev: WardenEvent): void {
    for (const c of this.children) {
      try {
        c.write(ev);
      } catch {
        this.errors++;
      }
    }
  }
  async flush(): Promise<void> {
    await Promise.all(this.children.map((c) => c.flush().catch(() => undefined)));
  }
  async close(): Promise<void> {
    /* Reporting.close() owns the order */
  }
}

export function auditOptions(cfg: WatchConfig): Omit<NdjsonFileSinkOptions, 'onError' | 'onRecover'> {
  const o = cfg.output;
  return {
    maxBytes: o.max_size !== undefined ? parseSize(o.max_size) : AUDIT_DEFAULTS.maxSize,
    maxBackups: o.max_backups ?? AUDIT_DEFAULTS.maxBackups,
    compress: o.compress ?? AUDIT_DEFAULTS.compress,
    minSeverity: o.min_severity,
    flushIntervalMs: o.flush_interval_ms,
    fsyncIntervalMs: o.fsync_interval_ms,
  };
}

interface HttpSettings {
  host: string;
  token?: string;
}

/** Reads http.token_file and checks http.listen; throws ConfigError (nothing is opened). */
export function httpSettings(c: WatchConfig): HttpSettings | undefined {
  if (!c.http) return undefined;
  let token: string | undefined;
  if (c.http.token_file) {
    try {
      token = fs.readFileSync(c.http.token_file, 'utf8').trim();
    } catch (err) {
      throw new ConfigError(c.http.token_file, undefined, 'http.token_file', `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (token.length < 16) throw new ConfigError(c.http.token_file, undefined, 'http.token_file', 'token must be at least 16 characters');
  }
  let host: string;
  try {
    host = parseListen(c.http.listen).host;
  } catch (err) {
    const src = configSource(c);
    throw new ConfigError(src?.file ?? '<config>', src?.line(['http', 'listen']), 'http.listen', (err as Error).message);
  }
  return { host, token };
}

export async function buildReporting(cfg: WatchConfig, ctl: MonitorControl, opts: ReportingOptions = {}): Promise<Reporting> {
  const stderr = opts.stderr ?? process.stderr;
  const say = (msg: string) => {
    try {
      stderr.write(`warden: ${msg}\n`);
    } catch {
      /* stderr gone */
    }
  };
  const pendingReports = new Map<NodeJS.Immediate, UnstampedEvent>();
  const emitNow = (ev: UnstampedEvent) => {
    try {
      ctl.emit(ev);
    } catch {
      /* the monitor is shutting down */
    }
  };
  /** Emits later: a sink reporting from inside write() must not re-enter the dispatcher. */
  const report = (ev: UnstampedEvent) => {
    const h = setImmediate(() => {
      pendingReports.delete(h);
      emitNow(ev);
    });
    pendingReports.set(h, ev);
  };
  const sinkError = (sink: string, err: Error, what?: string) => {
    say(`${sink}: ${what ? `${what} failed: ` : ''}${err.message}`);
    report({
      ts: nowIso(),
      kind: 'monitor.sink_error',
      severity: 'warn',
      rule: 'warden.sink_error',
      category: 'defense_evasion',
      mitre: ['T1562.006'],
      message: `${sink}: ${what ? `${what} failed: ` : ''}${err.message}`,
      data: { sink, error: err.message, code: (err as NodeJS.ErrnoException).code, op: what },
    });
  };
  const sinkRecovered = (sink: string, data: Record<string, unknown>) => {
    say(`${sink}: working again`);
    report({ ts: nowIso(), kind: 'monitor.sink_recovered', severity: 'info', message: `${sink}: working again`, data: { sink, ...data } });
  };
  // Drops are reported in aggregate, at most every 10 s per sink, so a flood of drops does not
  // become a flood of events.
  const drops = new Map<string, { n: number; total: number; reasons: Set<string>; timer?: NodeJS.Timeout }>();
  const sinkDrop = (sink: string, n: number, reason: string) => {
    let d = drops.get(sink);
    if (!d) drops.set(sink, (d = { n: 0, total: 0, reasons: new Set() }));
    d.n += n;
    d.total += n;
    d.reasons.add(reason);
    const fire = () => {
      const x = d!;
      x.timer = undefined;
      if (x.n === 0) return;
      const ev: UnstampedEvent = {
        ts: nowIso(),
        kind: 'monitor.sink_drop',
        severity: 'warn',
        rule: 'warden.sink_drop',
        category: 'defense_evasion',
        mitre: ['T1562.006'],
        message: `${sink}: ${x.n} events dropped (${[...x.reasons].join(', ')})`,
        data: { sink, dropped: x.n, total_dropped: x.total, reasons: [...x.reasons] },
      };
      x.n = 0;
      x.reasons.clear();
      if (reason === 'close') say(ev.message!);
      else report(ev);
    };
    if (reason === 'close') fire();
    else if (!d.timer) {
      d.timer = setTimeout(fire, 10_000);
      d.timer.unref();
    }
  };

  const fan = new FanoutSink();
  const ring = new EventRing(cfg.api.ring_size);
  const parts: Parts = {};
  let auditLog: string | undefined;
  let current = cfg;

  const fileLocks = new Map<EventSink, WriterLock>();
  const makeFile = (c: WatchConfig): NdjsonFileSink | undefined => {
    const out = opts.output ?? c.output.file ?? defaultAuditLog();
    if (out === '-') return undefined;
    const name = `audit log ${out}`;
    const lock = acquireWriterLock(out); // throws while another warden writes this file
    const sink = new NdjsonFileSink(out, {
      ...auditOptions(c),
      onError: (err, what) => sinkError(name, err, what),
      onRecover: ({ dropped }) => sinkRecovered(name, { dropped }),
    });
    if (lock) fileLocks.set(sink, lock);
    return sink;
  };
  const makeStdout = (c: WatchConfig): StdoutSink | undefined => {
    const s = c.sinks.stdout;
    const forced = opts.output === '-' || (opts.output === undefined && c.output.file === '-');
    if (!s && !forced) return undefined;
    const o = typeof s === 'object' ? s : { format: 'json' as const, min_severity: c.output.min_severity ?? ('info' as const) };
    return new StdoutSink({ format: o.format, minSeverity: o.min_severity, onError: (err) => sinkError('stdout', err, 'write') });
  };
  const delivery = (name: string, d: Omit<NonNullable<WatchConfig['sinks']['webhook']>, 'url'>) => ({
    headers: d.headers,
    minSeverity: d.min_severity,
    batchSize: d.batch_size,
    maxQueue: d.max_queue,
    timeoutMs: d.timeout_ms,
    backoffMs: d.backoff_ms,
    maxBackoffMs: d.max_backoff_ms,
    onError: (err: Error) => sinkError(name, err, 'delivery'),
    onRecover: (info: { failedAttempts: number }) => sinkRecovered(name, { failed_attempts: info.failedAttempts }),
    onDrop: (n: number, reason: string) => sinkDrop(name, n, reason),
  });
  const makeOtlp = (c: WatchConfig) =>
    c.sinks.otlp ? otlpSink({ endpoint: c.sinks.otlp.endpoint, serviceName: c.sinks.otlp.service_name, ...delivery('otlp', c.sinks.otlp) }) : undefined;
  const makeWebhook = (c: WatchConfig) => (c.sinks.webhook ? webhookSink({ url: c.sinks.webhook.url, ...delivery('webhook', c.sinks.webhook) }) : undefined);
  const makeNotify = (c: WatchConfig) => {
    const n = c.sinks.notify;
    if (!n.enabled) return undefined;
    return new NotifySink({
      minSeverity: n.min_severity,
      dedupS: n.dedup_s,
      rateMax: n.rate_max,
      rateWindowS: n.rate_window_s,
      terminal: n.terminal && !opts.quiet,
      announce: !opts.quiet,
      stderr,
    });
  };

  const rebuildChildren = () => {
    // The ring and metrics go last: a subscriber sees an event after it is in the audit log.
    fan.children = [parts.file, parts.stdout, parts.otlp, parts.webhook, parts.notify, ring, metrics].filter(
      (x): x is NonNullable<typeof x> => x !== undefined,
    );
  };

  // Checked before any output opens: a start refused here leaves no socket keeping the process alive.
  const http0 = httpSettings(cfg);
  parts.file = makeFile(cfg);
  auditLog = parts.file?.file;
  parts.stdout = makeStdout(cfg);
  parts.otlp = makeOtlp(cfg);
  parts.webhook = makeWebhook(cfg);
  parts.notify = makeNotify(cfg);

  let api: ApiServer | undefined;
  let httpServer: HttpServer | undefined;
  const sinkStats = () => {
    const out: Array<{ name: string; depth: number; dropped: number; errors: number }> = [];
    for (const s of [parts.file, parts.stdout]) {
      if (!s) continue;
      const st = s.stats();
      out.push({ name: s === parts.file ? 'audit' : 'stdout', depth: st.bufferedLines, dropped: st.dropped, errors: st.writeErrors });
    }
    for (const s of [parts.otlp, parts.webhook]) {
      if (!s) continue;
      const st = s.stats();
      out.push({ name: s.name, depth: st.queued + st.inflight, dropped: st.dropped, errors: st.failed_attempts });
    }
    if (parts.notify) out.push({ name: 'notify', depth: 0, dropped: parts.notify.counters.rate_limited, errors: parts.notify.counters.failures });
    return out;
  };
  const metrics = new Metrics({
    monitor: () => safe(() => ctl.stats(), {}),
    sinks: sinkStats,
    api: () => ({ clients: api?.clients ?? 0, subscribers: ring.subscribers }),
  });
  rebuildChildren();

  const stats = (): Record<string, number> => {
    const s: Record<string, number> = {};
    for (const x of sinkStats()) {
      s[`sink_${x.name}_queue`] = x.depth;
      s[`sink_${x.name}_dropped`] = x.dropped;
      s[`sink_${x.name}_errors`] = x.errors;
    }
    if (parts.file) {
      const f = parts.file.counters;
      s.audit_written = f.written;
      s.audit_rotations = f.rotations;
      s.audit_compressed = f.compressed;
      s.audit_compress_failures = f.compressFailures;
    }
    s.ring_events = ring.size;
    s.ring_evicted = ring.evicted;
    s.subscriptions = ring.subscribers;
    if (api) {
      s.api_clients = api.clients;
      s.api_requests = api.counters.requests;
      s.api_refused = api.counters.refused;
      s.api_rejected_peers = api.counters.rejected_peers;
      s.api_notifications_dropped = api.counters.notifications_dropped;
      s.alerts_acknowledged = api.acknowledged;
    }
    if (httpServer) s.sse_clients = httpServer.sseClients;
    if (parts.notify) {
      s.notify_sent = parts.notify.counters.notified;
      s.notify_deduplicated = parts.notify.counters.deduplicated;
      s.notify_rate_limited = parts.notify.counters.rate_limited;
    }
    s.sink_exceptions = fan.errors;
    return s;
  };

  const startApi = async (c: WatchConfig) => {
    if (!c.api.enabled) return undefined;
    const server = new ApiServer(c.api.socket ?? defaultSocketPath(), {
      ctl,
      ring,
      get auditLog() {
        return auditLog;
      },
      flushAudit: () => parts.file?.flushSync(),
      stats,
      report,
    });
    try {
      await server.listen();
      return server;
    } catch (err) {
      sinkError(`control socket ${server.socketPath}`, err as Error, 'listen');
      return undefined;
    }
  };
  const startHttp = async (c: WatchConfig, h: HttpSettings | undefined) => {
    if (!c.http || !h) return undefined;
    if (!isLoopback(h.host) && !h.token) say(`http: listening on ${c.http.listen} without http.token_file: anyone who can reach it can read events and metrics`);
    metrics.startProcessMetrics();
    const server = new HttpServer({
      listen: c.http.listen,
      metrics,
      ring,
      sse: c.http.sse,
      token: h.token,
      health: () => ({ pid: process.pid, uptime_s: Math.round(process.uptime()), events: ring.size + ring.evicted }),
    });
    try {
      await server.start();
      return server;
    } catch (err) {
      sinkError(`http ${c.http.listen}`, err as Error, 'listen');
      return undefined;
    }
  };

  api = await startApi(cfg);
  httpServer = await startHttp(cfg, http0);

  const closeQuietly = async (s: EventSink | undefined) => {
    await s?.close().catch(() => undefined);
    if (s) fileLocks.get(s)?.release();
    if (s) fileLocks.delete(s);
  };

  const rep: Reporting = {
    sink: fan,
    endpoints: { auditLog, socket: api?.socketPath, http: httpServer?.address },
    stats,
    async reload(next: WatchConfig) {
      const prev = current;
      // Before anything is swapped: a bad token file refuses the whole reload.
      const nextHttp = httpSettings(next);
      // A new audit log path is opened (and its writer lock taken) before anything changes too.
      const nextOut = opts.output ?? next.output.file ?? defaultAuditLog();
      const sameFile = parts.file !== undefined && nextOut === parts.file.file;
      const nextFile = sameFile ? undefined : makeFile(next);
      current = next;
      const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
      const retired: Array<EventSink | undefined> = [];
      // Audit log: same file → new options in place (buffer and descriptor kept).
      if (parts.file && sameFile) {
        parts.file.reconfigure({ ...auditOptions(next), onError: (e, w) => sinkError(`audit log ${nextOut}`, e, w), onRecover: ({ dropped }) => sinkRecovered(`audit log ${nextOut}`, { dropped }) });
      } else {
        parts.file?.flushSync();
        retired.push(parts.file);
        parts.file = nextFile;
        auditLog = parts.file?.file;
      }
      if (!same(prev.sinks.stdout, next.sinks.stdout) || !same(prev.output.min_severity, next.output.min_severity)) {
        parts.stdout?.flush();
        retired.push(parts.stdout);
        parts.stdout = makeStdout(next);
      }
      if (!same(prev.sinks.otlp, next.sinks.otlp)) {
        retired.push(parts.otlp);
        parts.otlp = makeOtlp(next);
      }
      if (!same(prev.sinks.webhook, next.sinks.webhook)) {
        retired.push(parts.webhook);
        parts.webhook = makeWebhook(next);
      }
      if (!same(prev.sinks.notify, next.sinks.notify)) {
        retired.push(parts.notify);
        parts.notify = makeNotify(next);
      }
      rebuildChildren(); // one synchronous swap
      await Promise.all(retired.map(closeQuietly));
      if (!same(prev.api, next.api)) {
        await api?.close();
        api = await startApi(next);
      }
      if (!same(prev.http, next.http)) {
        await httpServer?.close();
        httpServer = await startHttp(next, nextHttp);
      }
      rep.endpoints = { auditLog, socket: api?.socketPath, http: httpServer?.address };
    },
    async close() {
      // Reports still queued (sink errors, refusals) go out before the outputs close.
      for (const [h, ev] of [...pendingReports]) {
        clearImmediate(h);
        pendingReports.delete(h);
        emitNow(ev);
      }
      for (const d of drops.values()) if (d.timer) clearTimeout(d.timer);
      await api?.close();
      await httpServer?.close();
      fan.children = [];
      await Promise.all([parts.otlp, parts.webhook, parts.notify, parts.stdout].map(closeQuietly));
      await closeQuietly(parts.file);
      await ring.close();
    },
  };
  return rep;
}

function safe<T>(fn: () => T, dflt: T): T {
  try {
    return fn();
  } catch {
    return dflt;
  }
}
