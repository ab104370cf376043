// `warden top`'s API client against a fake monitor speaking the same newline-delimited
// JSON-RPC: subscribe with replay, live notifications, polling, agent backfill, ack errors,
// the no-monitor errors, and reconnecting to a restarted monitor (whose seqs start over).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectMonitor, NoMonitorError, TopSource } from '../../src/cli/top/source.js';
import type { WardenEvent } from '../../src/events/types.js';

interface Fake {
  socket: string;
  pid: number;
  calls: Array<{ method: string; params: Record<string, unknown> }>;
  push(ev: WardenEvent): void;
  close(): Promise<void>;
}

const dirs: string[] = [];
const fakes: Fake[] = [];
afterEach(async () => {
  for (const f of fakes.splice(0)) await f.close();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function ev(seq: number, over: Partial<WardenEvent> = {}): WardenEvent {
  return { ts: new Date().toISOString(), seq, kind: 'process.exec', severity: 'info', agent: { name: 'claude', root_pid: 10, session: 's1' }, ...over };
}

async function fake(socket: string, pid: number, history: WardenEvent[]): Promise<Fake> {
  const calls: Fake['calls'] = [];
  const conns = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    let rest = '';
    sock.on('data', (d) => {
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop()!;
      for (const l of lines) {
        const m = JSON.parse(l) as { id: number; method: string; params?: Record<string, unknown> };
        calls.push({ method: m.method, params: m.params ?? {} });
        const reply = (result: unknown) => sock.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, result }) + '\n');
        const error = (code: number, message: string) => sock.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, error: { code, message } }) + '\n');
        switch (m.method) {
          case 'ping':
            reply({ pong: true, pid, version: 't' });
            break;
          case 'events.subscribe':
            reply({ subscription: 1 });
            for (const e of history.slice(-Number(m.params?.replay ?? 0))) sock.write(JSON.stringify({ jsonrpc: '2.0', method: 'events.event', params: { subscription: 1, event: e } }) + '\n');
            break;
          case 'sessions.list':
            reply([{ name: 'claude', root_pid: 10, session: 's1', started: new Date().toISOString(), alive: true, counts: { info: 1, warn: 0, alert: 0 } }]);
            break;
          case 'stats.get':
            reply({ events: history.length });
            break;
          case 'events.query':
            reply({ events: history.filter((e) => e.agent?.session === m.params?.agent || e.agent?.name === m.params?.agent), source: 'memory', truncated: false });
            break;
          case 'alerts.ack':
            error(-32001, 'refused: caller pid 1 is inside agent session s1');
            break;
          default:
            error(-32601, 'no method');
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(socket, () => r()));
  const f: Fake = {
    socket,
    pid,
    calls,
    push: (e) => {
      for (const c of conns) c.write(JSON.stringify({ jsonrpc: '2.0', method: 'events.event', params: { subscription: 1, event: e } }) + '\n');
    },
    close: () =>
      new Promise<void>((r) => {
        for (const c of conns) c.destroy();
        server.close(() => r());
      }),
  };
  fakes.push(f);
  return f;
}

function sockPath(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-top-src-'));
  dirs.push(d);
  return path.join(d, 'warden.sock');
}

const until = async (pred: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('TopSource', () => {
  it('explains a missing socket and a stale one', async () => {
    const p = sockPath();
    await expect(connectMonitor(p, undefined)).rejects.toMatchObject({ reason: 'missing' });
    // Missing, while the system monitor's socket exists: say so rather than "no monitor is running".
    const rootSock = path.join(path.dirname(p), 'root.sock');
    fs.writeFileSync(rootSock, '');
    await expect(connectMonitor(p, rootSock)).rejects.toMatchObject({ reason: 'denied', message: expect.stringContaining('one runs as root: sudo warden top') });
    fs.rmSync(rootSock);
    // A socket file nobody listens on (a monitor that died).
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(p, () => r()));
    await new Promise<void>((r) => s.close(() => r()));
    if (!fs.existsSync(p)) fs.writeFileSync(p, '');
    const err = await connectMonitor(p).catch((e) => e);
    expect(err).toBeInstanceOf(NoMonitorError);
    expect(['refused', 'other']).toContain((err as NoMonitorError).reason);
  });

  it('replays history, follows live events, polls sessions, backfills an agent, reports a refused ack', async () => {
    const p = sockPath();
    const f = await fake(p, 111, [ev(1), ev(2, { severity: 'alert', rule: 'r' })]);
    const src = new TopSource({ socket: p, replay: 50, memory: false, pollMs: 50 });
    await src.start();
    try {
      expect(src.status).toMatchObject({ connected: true, monitorPid: 111 });
      await until(() => src.store.size === 2);
      f.push(ev(3));
      await until(() => src.store.size === 3);
      expect(src.store.sessions.map((s) => s.session)).toEqual(['s1']);
      expect(f.calls.find((c) => c.method === 'events.subscribe')!.params.replay).toBe(50);
      await src.backfill('s1');
      // the agent's findings on their own (a busy agent's newest events are all routine), then its recent events
      const queries = f.calls.filter((c) => c.method === 'events.query');
      expect(queries.map((c) => [c.params.agent, c.params.min_severity])).toEqual([
        ['s1', 'warn'],
        ['s1', undefined],
      ]);
      await src.backfill('s1'); // once per agent
      expect(f.calls.filter((c) => c.method === 'events.query')).toHaveLength(2);
      expect(await src.ack(2)).toMatch(/^not acknowledged: refused/);
    } finally {
      src.close();
    }
  });

  it('reconnects after the monitor restarts, and forgets the old events (their seqs start over)', async () => {
    const p = sockPath();
    const f1 = await fake(p, 111, [ev(1, { kind: 'old.event' }), ev(2, { kind: 'old.event' })]);
    const src = new TopSource({ socket: p, replay: 50, memory: false, reconnectMs: 50 });
    await src.start();
    try {
      await until(() => src.store.size === 2);
      await f1.close();
      fakes.splice(fakes.indexOf(f1), 1);
      await until(() => !src.status.connected);
      expect(src.status.error).toContain('closed');
      fs.rmSync(p, { force: true });
      await fake(p, 222, [ev(1, { kind: 'new.event' })]);
      await until(() => src.status.connected && src.status.monitorPid === 222);
      await until(() => src.store.size === 1);
      expect(src.store.all().map((e) => e.kind)).toEqual(['new.event']);
    } finally {
      src.close();
    }
  });
});
