// The reporting plane through createReporting() with a fake monitor: JSON-RPC API (queries,
// subscriptions, owner-allowed mutations), metrics scrape, SSE, OTLP and a webhook target that
// fails and recovers — all on loopback.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWatchConfig, watchConfigSchema, type WatchConfig } from '../../src/config/watch-config.js';
import { Dispatcher } from '../../src/events/dispatcher.js';
import type { AgentRef, UnstampedEvent, WardenEvent } from '../../src/events/types.js';
import { connectApi, RpcError } from '../../src/sinks/api-client.js';
import { createReporting, type MonitorControl, type Reporting } from '../../src/sinks/control.js';
import { MUTATING_METHODS } from '../../src/sinks/api-server.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-rep-'));
fs.chmodSync(tmp, 0o700);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function fakeControl(d: Dispatcher, agentPids: Map<number, AgentRef> = new Map()) {
  const calls: string[] = [];
  const ctl: MonitorControl = {
    sessions: () => [{ name: 'claude', root_pid: 4242, session: 's-1', started: new Date().toISOString(), alive: true, counts: { info: 3, warn: 1, alert: 0 } }],
    agentOf: (pid) => agentPids.get(pid),
    stats: () => ({ events_total: d.lastSeq, lost: 0, sensor_lag_ms: 12 }),
    reloadRules: async () => {
      calls.push('reload');
      return { ok: true };
    },
    emit: (ev: UnstampedEvent) => void d.emit(ev),
    kill: async (s) => {
      calls.push(`kill:${s}`);
      return { ok: true };
    },
  };
  return { ctl, calls };
}

function mk(i: number, extra: Partial<UnstampedEvent> = {}): UnstampedEvent {
  return {
    ts: new Date().toISOString(),
    kind: i % 2 ? 'file.open' : 'net.connect',
    severity: i % 10 === 0 ? 'alert' : 'info',
    ...(i % 10 === 0 ? { rule: 'secret.read', category: 'credential_access' as const, mitre: ['T1552.004'] } : {}),
    agent: { name: 'claude', root_pid: 4242, session: 's-1' },
    ...extra,
  };
}

function cfgWith(extra: Record<string, unknown>): WatchConfig {
  return watchConfigSchema.parse({ sinks: { notify: { enabled: false } }, ...extra });
}

const waitFor = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('a refused start', () => {
  it('opens nothing when http.token_file cannot be read (an API socket left open kept watch alive)', async () => {
    const dir = path.join(tmp, 'refused');
    const sock = path.join(dir, 'warden.sock');
    const cfg = cfgWith({ output: { file: path.join(dir, 'events.ndjson') }, api: { socket: sock }, http: { listen: '127.0.0.1:0', token_file: path.join(dir, 'missing.token') } });
    await expect(createReporting(cfg, fakeControl(new Dispatcher()).ctl, { quiet: true })).rejects.toThrow(/http.token_file: cannot read: ENOENT/);
    expect(fs.existsSync(sock)).toBe(false);
    expect(fs.existsSync(path.join(dir, 'events.ndjson'))).toBe(false);
  });
});

describe('JSON-RPC API over the unix socket', () => {
  const d = new Dispatcher();
  const { ctl, calls } = fakeControl(d);
  let rep: Reporting;
  const sock = path.join(tmp, 'api', 'warden.sock');
  const log = path.join(tmp, 'api', 'events.ndjson');
  beforeAll(async () => {
    rep = await createReporting(cfgWith({ output: { file: log }, api: { socket: sock, ring_size: 100 } }), ctl);
    d.addSink(rep.sink);
  });
  afterAll(async () => rep.close());

  it('creates the socket 0600 and answers read-only calls', async () => {
    expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
    const c = await connectApi(sock);
    expect(await c.call('ping')).toMatchObject({ pong: true, pid: process.pid });
    const sessions = await c.call<Array<{ session: string }>>('sessions.list');
    expect(sessions[0]!.session).toBe('s-1');
    const stats = await c.call<Record<string, number>>('stats.get');
    expect(stats.sensor_lag_ms).toBe(12);
    expect(stats.api_clients).toBe(1);
    await expect(c.call('no.such')).rejects.toMatchObject({ code: -32601 });
    await expect(c.call('events.query', { severity: 'loud' })).rejects.toMatchObject({ code: -32602 });
    c.close();
  });

  it('queries from memory, then from the audit log once the ring has evicted', async () => {
    const t0 = Date.now();
    for (let i = 1; i <= 50; i++) d.emit(mk(i));
    const c = await connectApi(sock);
    const r1 = await c.call<{ events: WardenEvent[]; source: string }>('events.query', { since: t0, severity: 'alert', limit: 10 });
    expect(r1.source).toBe('memory');
    expect(r1.events.map((e) => e.rule)).toEqual(Array(5).fill('secret.read'));
    for (let i = 51; i <= 400; i++) d.emit(mk(i)); // ring holds 100
    const r2 = await c.call<{ events: WardenEvent[]; source: string; truncated: boolean }>('events.query', { since: t0, kind: 'file', limit: 1000 });
    expect(r2.source).toBe('log');
    expect(r2.events.length).toBe(200);
    expect(r2.events.every((e) => e.kind === 'file.open')).toBe(true);
    const r3 = await c.call<{ events: WardenEvent[]; truncated: boolean }>('events.query', { limit: 3 });
    expect(r3.events.map((e) => e.seq)).toEqual([398, 399, 400]);
    expect(r3.truncated).toBe(true);
    c.close();
  });

  it('streams live events to a subscriber with its filter, until unsubscribed', async () => {
    const c = await connectApi(sock);
    const got: WardenEvent[] = [];
    c.onNotification((m, p) => {
      if (m === 'events.event') got.push(p.event as WardenEvent);
    });
    const { subscription } = await c.call<{ subscription: number }>('events.subscribe', { severity: 'alert' });
    for (let i = 1; i <= 30; i++) d.emit(mk(i));
    await waitFor(() => got.length === 3);
    expect(got.every((e) => e.severity === 'alert')).toBe(true);
    await c.call('events.unsubscribe', { subscription });
    for (let i = 1; i <= 30; i++) d.emit(mk(i));
    await c.call('ping'); // a round trip after the emits: nothing more arrived
    expect(got.length).toBe(3);
    c.close();
  });

  it('lets the owner (not in an agent tree) change state, and records acknowledgements', async () => {
    const c = await connectApi(sock);
    expect(await c.call('rules.reload')).toEqual({ ok: true });
    expect(await c.call('session.kill', { session: 's-1' })).toEqual({ ok: true });
    await expect(c.call('session.freeze', { session: 's-1' })).rejects.toMatchObject({ code: -32002 });
    const before = d.lastSeq;
    expect(await c.call('alerts.ack', { seq: 10, note: 'expected' })).toEqual({ ok: true, seq: 10 });
    await waitFor(() => d.lastSeq > before);
    const r = await c.call<{ events: WardenEvent[] }>('events.query', { kind: 'alert.ack', limit: 1 });
    expect(r.events[0]!.data).toMatchObject({ seq: 10, note: 'expected', by: { pid: process.pid } });
    expect(calls).toEqual(['reload', 'kill:s-1']);
    expect(MUTATING_METHODS).toContain('alerts.ack');
    c.close();
  });

  it('refuses mutations from a pid the model places in an agent tree (fake model)', async () => {
    const d2 = new Dispatcher();
    const agent: AgentRef = { name: 'claude', root_pid: 1, session: 's-evil' };
    const { ctl: ctl2, calls: calls2 } = fakeControl(d2, new Map([[process.pid, agent]]));
    const sock2 = path.join(tmp, 'api2', 'w.sock');
    const rep2 = await createReporting(cfgWith({ output: { file: path.join(tmp, 'o0', 'events.ndjson') }, api: { socket: sock2 } }), ctl2, { quiet: true });
    const seen: WardenEvent[] = [];
    d2.addSink({ name: 't', write: (e) => void seen.push(e), flush: async () => {}, close: async () => {} });
    d2.addSink(rep2.sink);
    const c = await connectApi(sock2);
    for (const m of MUTATING_METHODS) {
      const err = await c.call(m, { session: 's-1', seq: 1 }).catch((e: RpcError) => e);
      expect(err).toBeInstanceOf(RpcError);
      expect((err as RpcError).code).toBe(-32001);
    }
    expect(await c.call('ping')).toMatchObject({ pong: true }); // reads still work
    await waitFor(() => seen.filter((e) => e.kind === 'api.refused').length === MUTATING_METHODS.length);
    expect(calls2).toEqual([]);
    const ev = seen.find((e) => e.kind === 'api.refused')!;
    expect(ev).toMatchObject({ severity: 'warn', rule: 'warden.api_refused', agent: { session: 's-evil' }, proc: { pid: process.pid } });
    c.close();
    await rep2.close();
  });

  it('will not take over a socket another live monitor is using', async () => {
    const d3 = new Dispatcher();
    const err: string[] = [];
    const rep3 = await createReporting(cfgWith({ output: { file: path.join(tmp, 'o1', 'events.ndjson') }, api: { socket: sock } }), fakeControl(d3).ctl, {
      stderr: { write: (s: string) => void err.push(s) } as unknown as NodeJS.WritableStream,
    });
    expect(rep3.endpoints.socket).toBeUndefined();
    expect(err.join('')).toMatch(/another monitor is listening/);
    await rep3.close();
    expect(fs.existsSync(sock)).toBe(true); // still the first one's
  });
});

describe('HTTP: metrics scrape, health, SSE, token', () => {
  it('exposes events by kind, alerts by rule, lost events, lag and queue depth', async () => {
    const d = new Dispatcher();
    const { ctl } = fakeControl(d);
    const tokenFile = path.join(tmp, 'token');
    fs.writeFileSync(tokenFile, 'correct-horse-battery-staple\n');
    const rep = await createReporting(cfgWith({ output: { file: path.join(tmp, 'o2', 'events.ndjson') }, api: { enabled: false }, http: { listen: '127.0.0.1:0', token_file: tokenFile } }), ctl);
    d.addSink(rep.sink);
    try {
      const base = `http://${rep.endpoints.http}`;
      for (let i = 1; i <= 20; i++) d.emit(mk(i));
      d.emit({ ts: new Date().toISOString(), kind: 'monitor.loss', severity: 'warn', rule: 'warden.loss', data: { lost: 7, total_lost: 7, source: 'kernel' } });
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/metrics`)).status).toBe(401);
      const auth = { headers: { authorization: 'Bearer correct-horse-battery-staple' } };
      const text = await (await fetch(`${base}/metrics`, auth)).text();
      expect(text).toMatch(/^warden_events_total\{kind="file.open",severity="info"\} 10$/m);
      expect(text).toMatch(/^warden_events_total\{kind="net.connect",severity="alert"\} 2$/m);
      expect(text).toMatch(/^warden_alerts_total\{rule="secret.read"\} 2$/m);
      expect(text).toMatch(/^warden_events_lost_total\{source="kernel"\} 7$/m);
      expect(text).toMatch(/^warden_sensor_lag_seconds 0.012$/m);
      expect(text).toMatch(/^warden_sink_queue_depth\{sink="audit"\} \d+$/m);
      expect(text).toMatch(/^warden_monitor_counter\{name="events_total"\} 21$/m);

      // SSE: a live alert arrives with its seq as the event id.
      const ac = new AbortController();
      const res = await fetch(`${base}/events?severity=alert`, { ...auth, signal: ac.signal });
      expect(res.headers.get('content-type')).toBe('text/event-stream');
      const reader = res.body!.getReader();
      d.emit(mk(10));
      let buf = '';
      while (!buf.includes('\n\ndata') && !/data: .*\n\n/.test(buf)) buf += new TextDecoder().decode((await reader.read()).value);
      expect(buf).toMatch(/id: 22\nevent: alert\ndata: \{.*"rule":"secret.read"/);
      ac.abort();
    } finally {
      await rep.close();
    }
  });
});

describe('network sinks on loopback', () => {
  let server: http.Server;
  let port = 0;
  let failFirst = 0;
  const bodies: Array<{ url: string; body: unknown }> = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let b = '';
      req.on('data', (c) => (b += c));
      req.on('end', () => {
        if (failFirst > 0) {
          failFirst--;
          res.writeHead(503).end();
          return;
        }
        bodies.push({ url: req.url!, body: JSON.parse(b) });
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('webhook: target fails, then recovers; every event delivered once, in order; failure reported', async () => {
    bodies.length = 0;
    failFirst = 4;
    const d = new Dispatcher();
    const seen: WardenEvent[] = [];
    d.addSink({ name: 't', write: (e) => void seen.push(e), flush: async () => {}, close: async () => {} });
    const errs: string[] = [];
    const rep = await createReporting(
      cfgWith({ output: { file: path.join(tmp, 'o3', 'events.ndjson') }, api: { enabled: false }, sinks: { notify: { enabled: false }, webhook: { url: `http://127.0.0.1:${port}/hook`, min_severity: 'info', batch_size: 7, backoff_ms: 20, max_backoff_ms: 100 } } }),
      fakeControl(d).ctl,
      { stderr: { write: (s: string) => void errs.push(s) } as unknown as NodeJS.WritableStream },
    );
    d.addSink(rep.sink);
    for (let i = 1; i <= 50; i++) d.emit(mk(i, { severity: 'warn' }));
    await waitFor(() => seen.some((e) => e.kind === 'monitor.sink_recovered'));
    await waitFor(() => rep.stats().sink_webhook_queue === 0);
    const delivered = bodies.flatMap((b) => (b.body as { events: WardenEvent[] }).events.map((e) => e.seq));
    const firstFifty = delivered.filter((s) => s <= 50);
    expect(firstFifty).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(rep.stats().sink_webhook_errors).toBe(4);
    expect(rep.stats().sink_webhook_dropped).toBe(0);
    expect(seen.filter((e) => e.kind === 'monitor.sink_error')).toHaveLength(1);
    expect(errs.join('')).toMatch(/webhook: delivery failed: webhook: HTTP 503/);
    expect(bodies[0]!.url).toBe('/hook');
    await rep.close();
  });

  it('webhook: bounded queue drops the oldest and counts them while the target is down', async () => {
    const { HttpDeliverySink } = await import('../../src/sinks/http-delivery.js');
    const dropped: Array<[number, string]> = [];
    const s = new HttpDeliverySink({
      name: 'webhook',
      url: 'http://127.0.0.1:1/none', // nothing listens on port 1
      maxQueue: 20,
      batchSize: 5,
      backoffMs: 60_000,
      closeTimeoutMs: 200,
      encode: (b) => ({ body: JSON.stringify(b), contentType: 'application/json' }),
      onDrop: (n, r) => void dropped.push([n, r]),
    });
    for (let i = 1; i <= 100; i++) s.write({ ...(mk(i) as WardenEvent), seq: i });
    await waitFor(() => s.stats().failed_attempts >= 1);
    const st = s.stats();
    expect(st.queued).toBe(20);
    expect(dropped.filter(([, r]) => r === 'overflow').reduce((a, [n]) => a + n, 0)).toBe(100 - 20 - 5 + 5); // 5 in flight went back
    await s.close();
    expect(s.stats().dropped).toBe(100);
    expect(dropped.at(-1)).toEqual([20, 'close']);
  });

  it('OTLP/HTTP JSON logs reach a loopback receiver with severity and attributes', async () => {
    bodies.length = 0;
    failFirst = 0;
    const d = new Dispatcher();
    const rep = await createReporting(
      cfgWith({ output: { file: path.join(tmp, 'o4', 'events.ndjson') }, api: { enabled: false }, sinks: { notify: { enabled: false }, otlp: { endpoint: `http://127.0.0.1:${port}`, service_name: 'warden-test', min_severity: 'warn' } } }),
      fakeControl(d).ctl,
    );
    d.addSink(rep.sink);
    d.emit(mk(1));
    d.emit(mk(10, { file: { path: '/home/u/.ssh/id_rsa', op: 'read' }, message: 'reads an SSH key' }));
    await waitFor(() => bodies.length === 1);
    await rep.close();
    expect(bodies[0]!.url).toBe('/v1/logs');
    const rl = (bodies[0]!.body as { resourceLogs: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeLogs: Array<{ logRecords: Array<Record<string, unknown>> }> }> }).resourceLogs[0]!;
    expect(rl.resource.attributes.find((a) => a.key === 'service.name')!.value.stringValue).toBe('warden-test');
    const recs = rl.scopeLogs[0]!.logRecords;
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ severityNumber: 17, severityText: 'ALERT', body: { stringValue: 'reads an SSH key' }, eventName: 'warden.net.connect' });
    const attrs = recs[0]!.attributes as Array<{ key: string; value: Record<string, unknown> }>;
    expect(attrs).toContainEqual({ key: 'warden.file.path', value: { stringValue: '/home/u/.ssh/id_rsa' } });
    expect(attrs).toContainEqual({ key: 'warden.seq', value: { intValue: '2' } });
    expect(attrs).toContainEqual({ key: 'warden.rule', value: { stringValue: 'secret.read' } });
    expect(String(recs[0]!.timeUnixNano)).toMatch(/^\d{19}$/);
  });
});

describe('config reload', () => {
  it('swaps outputs without losing or doubling an event', async () => {
    const d = new Dispatcher();
    const log = path.join(tmp, 'reload', 'events.ndjson');
    const cfg1 = loadWatchConfig(undefined);
    cfg1.output.file = log;
    cfg1.api.enabled = false;
    cfg1.sinks.notify.enabled = false;
    const rep = await createReporting(cfg1, fakeControl(d).ctl);
    d.addSink(rep.sink);
    for (let i = 1; i <= 100; i++) d.emit(mk(i));
    const cfg2 = structuredClone(cfg1);
    cfg2.output.max_size = '4KB';
    cfg2.output.compress = false;
    const reloading = rep.reload(cfg2);
    for (let i = 101; i <= 200; i++) d.emit(mk(i));
    await reloading;
    for (let i = 201; i <= 300; i++) d.emit(mk(i));
    await rep.close();
    const { readAuditLog } = await import('../../src/sinks/audit-reader.js');
    const got: number[] = [];
    await readAuditLog(log, () => true, (e) => void got.push(e.seq));
    expect(got).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
  });
});
