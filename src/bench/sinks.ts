// Reporting benchmarks (issue #4):
// * events/s through the audit-log sink with rotation + gzip on, and with rotation off, against
//   writing the same serialised bytes with plain fs.writeSync (the floor for any NDJSON file);
// * subscribe latency: event emitted through the reporting sink → JSON-RPC notification parsed
//   by a unix-socket client, p50/p99, against a raw unix socket line (same process, same run).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { watchConfigSchema } from '../config/watch-config.js';
import { Dispatcher } from '../events/dispatcher.js';
import type { WardenEvent } from '../events/types.js';
import { connectApi } from '../sinks/api-client.js';
import { createReporting } from '../sinks/control.js';
import { NdjsonFileSink } from '../sinks/ndjson-file.js';
import { percentile, ratio, type Bench, type Figure } from './types.js';

function event(seq: number): WardenEvent {
  return {
    ts: new Date().toISOString(),
    seq,
    kind: 'file.open',
    severity: seq % 100 === 0 ? 'warn' : 'info',
    agent: { name: 'claude', root_pid: 4242, session: 'claude-4242-1732000000' },
    proc: { pid: 5000 + (seq % 64), ppid: 4242, exe: '/usr/bin/node', argv: ['node', '/usr/lib/node_modules/x/cli.js', '--flag'], cwd: '/home/dev/project', uid: 1000 },
    file: { path: `/home/dev/project/src/module-${seq % 997}/index.ts`, op: 'read', flags: ['read'], ret: 3 },
  };
}

async function fileRates(dir: string, n: number): Promise<{ raw: number; rawStringify: number; plain: number; rotating: number; rotatingAll: number; rotations: number; bytes: number }> {
  const events = Array.from({ length: n }, (_, i) => event(i + 1));
  // Baseline: the same bytes, serialised beforehand, written in 256 KiB chunks.
  const lines = events.map((e) => JSON.stringify(e) + '\n');
  const bytes = lines.reduce((a, l) => a + l.length, 0);
  const rawFile = path.join(dir, 'raw.ndjson');
  let t = performance.now();
  const fd = fs.openSync(rawFile, 'a');
  let chunk: string[] = [];
  let size = 0;
  for (const l of lines) {
    chunk.push(l);
    size += l.length;
    if (size >= 256 * 1024) {
      fs.writeSync(fd, chunk.join(''));
      chunk = [];
      size = 0;
    }
  }
  if (chunk.length) fs.writeSync(fd, chunk.join(''));
  fs.closeSync(fd);
  const raw = n / ((performance.now() - t) / 1000);

  // Second baseline: serialising in the loop, as any NDJSON writer must.
  t = performance.now();
  const fd2 = fs.openSync(path.join(dir, 'raw2.ndjson'), 'a');
  chunk = [];
  size = 0;
  for (const e of events) {
    const l = JSON.stringify(e) + '\n';
    chunk.push(l);
    size += l.length;
    if (size >= 256 * 1024) {
      fs.writeSync(fd2, chunk.join(''));
      chunk = [];
      size = 0;
    }
  }
  if (chunk.length) fs.writeSync(fd2, chunk.join(''));
  fs.closeSync(fd2);
  const rawStringify = n / ((performance.now() - t) / 1000);

  const run = async (name: string, opts: ConstructorParameters<typeof NdjsonFileSink>[1]) => {
    const sink = new NdjsonFileSink(path.join(dir, name, 'events.ndjson'), opts);
    const t0 = performance.now();
    for (const e of events) sink.write(e);
    sink.flushSync(); // every event written to the file (rotated ones included)
    const written = performance.now();
    await sink.close(120_000); // final fsync, and the background compression finishing
    const end = performance.now();
    return { rate: n / ((written - t0) / 1000), rateAll: n / ((end - t0) / 1000), rotations: sink.counters.rotations };
  };
  const plain = await run('plain', { maxBytes: 0 });
  const rot = await run('rotating', { maxBytes: 8 * 1024 * 1024, maxBackups: 0, compress: true });
  return { raw, rawStringify, plain: plain.rate, rotating: rot.rate, rotatingAll: rot.rateAll, rotations: rot.rotations, bytes };
}

async function subscribeLatency(dir: string, n: number): Promise<{ sub: number[]; raw: number[] }> {
  // Raw baseline: a server writes one line, a client on the same machine receives it.
  const rawSock = path.join(dir, 'raw.sock');
  const server = net.createServer();
  let serverSide!: net.Socket;
  const accepted = new Promise<void>((r) => server.on('connection', (s) => ((serverSide = s), r())));
  await new Promise<void>((r) => server.listen(rawSock, r));
  const client = net.connect(rawSock);
  await accepted;
  const line = JSON.stringify({ jsonrpc: '2.0', method: 'events.event', params: { subscription: 1, event: event(1) } }) + '\n';
  const raw: number[] = [];
  let pending: ((t: number) => void) | undefined;
  let buf = '';
  client.setEncoding('utf8');
  client.on('data', (c: string) => {
    buf += c;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      JSON.parse(buf.slice(0, i));
      buf = buf.slice(i + 1);
      pending?.(performance.now());
    }
  });
  for (let i = 0; i < n; i++) {
    const got = new Promise<number>((r) => (pending = r));
    const t0 = performance.now();
    serverSide.write(line);
    raw.push((await got) - t0);
  }
  client.destroy();
  await new Promise<void>((r) => server.close(() => r()));

  // Warden: dispatcher → reporting fan-out (audit log on) → ring → API notification.
  const d = new Dispatcher();
  const cfg = watchConfigSchema.parse({ output: { file: path.join(dir, 'sub', 'events.ndjson') }, api: { socket: path.join(dir, 'api', 'w.sock') }, sinks: { notify: { enabled: false } } });
  const rep = await createReporting(cfg, {
    sessions: () => [],
    agentOf: () => undefined,
    stats: () => ({}),
    reloadRules: async () => ({ ok: true }),
    emit: (e) => void d.emit(e),
  });
  d.addSink(rep.sink);
  const c = await connectApi(rep.endpoints.socket!);
  let waiter: ((t: number) => void) | undefined;
  c.onNotification((m) => {
    if (m === 'events.event') waiter?.(performance.now());
  });
  await c.call('events.subscribe', {});
  const sub: number[] = [];
  for (let i = 0; i < n; i++) {
    const got = new Promise<number>((r) => (waiter = r));
    const t0 = performance.now();
    d.emit(event(i + 1));
    sub.push((await got) - t0);
  }
  c.close();
  await rep.close();
  return { sub, raw };
}

const bench: Bench = {
  name: 'sinks',
  issue: 4,
  description: 'audit log throughput with rotation+gzip vs raw writeSync; subscribe latency vs raw unix socket',
  async run(ctx) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-sinks-'));
    fs.chmodSync(dir, 0o700);
    try {
      const n = Math.max(10_000, Math.round(300_000 * ctx.scale));
      const f = await fileRates(dir, n);
      ctx.log(`file sink: ${n} events (${(f.bytes / 1048576).toFixed(1)} MiB), ${f.rotations} rotations of 8 MiB with gzip`);
      ctx.log(
        `events/s: raw writeSync ${f.raw.toFixed(0)}, stringify+writeSync ${f.rawStringify.toFixed(0)}, sink no rotation ${f.plain.toFixed(0)}, ` +
          `sink rotation+gzip ${f.rotating.toFixed(0)} (${f.rotatingAll.toFixed(0)} counting until the last gzip finished)`,
      );
      const m = Math.max(500, Math.round(5_000 * ctx.scale));
      const l = await subscribeLatency(dir, m);
      const s = [...l.sub].sort((a, b) => a - b);
      const r = [...l.raw].sort((a, b) => a - b);
      ctx.log(`subscribe latency over ${m} events: p50 ${percentile(s, 50).toFixed(3)} ms, p99 ${percentile(s, 99).toFixed(3)} ms (raw socket p50 ${percentile(r, 50).toFixed(3)} ms, p99 ${percentile(r, 99).toFixed(3)} ms)`);
      const figures: Figure[] = [
        ratio('sinks.file_rotating_rate', 'file sink ev/s, rotation+gzip / raw writeSync of same bytes', f.rotating, f.raw, { lowerIsBetter: false, note: `${f.rotating.toFixed(0)} ev/s` }),
        ratio('sinks.file_rotating_vs_stringify', 'file sink ev/s, rotation+gzip / stringify+writeSync', f.rotating, f.rawStringify, { lowerIsBetter: false }),
        ratio('sinks.file_plain_vs_stringify', 'file sink ev/s, rotation off / stringify+writeSync', f.plain, f.rawStringify, { lowerIsBetter: false, note: `${f.plain.toFixed(0)} ev/s` }),
        ratio('sinks.rotation_gzip_done', 'ev/s incl. waiting for gzip / rotation off', f.rotatingAll, f.plain, { lowerIsBetter: false, note: `${f.rotatingAll.toFixed(0)} ev/s` }),
        ratio('sinks.subscribe_p50', 'subscribe latency p50 / raw unix socket p50', percentile(s, 50), percentile(r, 50), { note: `${percentile(s, 50).toFixed(3)} ms` }),
        ratio('sinks.subscribe_p99', 'subscribe latency p99 / raw unix socket p99', percentile(s, 99), percentile(r, 99), { note: `${percentile(s, 99).toFixed(3)} ms` }),
      ];
      return figures;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
