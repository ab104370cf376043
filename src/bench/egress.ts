// Egress proxy cost (issue #7), root design, all on namespaces this bench makes: added
// latency per connection (p50/p99) and 1 GiB throughput through the proxy, each against a
// direct connection to the same server in the same run (and against the stream-pipe proxy
// that splice replaced); memory per 1,000 idle proxied connections against a plain Node
// server holding as many.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { allowlistProvider } from '../egress/provider.js';
import type { PreparedNetwork } from '../sandbox/network-provider.js';
import { percentile, ratio, type Bench, type BenchContext, type Figure } from './types.js';

const SERVER = `
const net = require('net');
const block = Buffer.alloc(1 << 20, 97);
net.createServer((c) => {
  c.on('error', () => {});
  c.once('data', (d) => {
    const m = /^GET \\/(\\w+)\\/(\\d+)/.exec(d.toString('latin1'));
    if (!m) return c.destroy();
    if (m[1] === 'idle') return; // hold the connection open, say nothing
    if (m[1] === 'ping') return c.end('HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok');
    let left = Number(m[2]);
    c.write('HTTP/1.1 200 OK\\r\\nConnection: close\\r\\n\\r\\n');
    const pump = () => { while (left > 0) { const n = Math.min(left, block.length); left -= n; if (!c.write(n === block.length ? block : block.subarray(0, n))) return c.once('drain', pump); } c.end(); };
    pump();
  });
}).listen(8080, '0.0.0.0', () => console.log('ready'));
`;

const CLIENT = `
const net = require('net');
const [mode, host, port, n, extra] = process.argv.slice(1);
const req = (p) => 'GET /' + p + ' HTTP/1.1\\r\\nHost: ' + host + '\\r\\n\\r\\n';
require('dns').lookup(host, { family: 4 }, async (err, addr) => {
  if (err) { console.log(JSON.stringify({ error: err.message })); process.exit(1); }
  if (mode === 'latency') {
    const out = [];
    for (let i = 0; i < Number(n); i++) {
      out.push(await new Promise((res, rej) => {
        const t0 = process.hrtime.bigint();
        const s = net.connect({ host: addr, port: Number(port), noDelay: true }, () => s.write(req('ping/0')));
        s.once('data', () => { res(Number(process.hrtime.bigint() - t0) / 1e6); s.destroy(); });
        s.on('error', rej);
      }));
    }
    console.log(JSON.stringify({ ms: out }));
  } else if (mode === 'throughput') {
    const bytes = Number(n);
    const t0 = process.hrtime.bigint();
    let got = 0;
    const s = net.connect({ host: addr, port: Number(port) }, () => s.write(req('bytes/' + bytes)));
    s.on('data', (d) => (got += d.length));
    s.on('end', () => console.log(JSON.stringify({ got, s: Number(process.hrtime.bigint() - t0) / 1e9 })));
  } else if (mode === 'idle') {
    const socks = [];
    let ready = 0;
    for (let i = 0; i < Number(n); i++) {
      const s = net.connect({ host: addr, port: Number(port) }, () => { s.write(req('idle/0')); if (++ready === Number(n)) console.log('held'); });
      s.on('error', () => {});
      socks.push(s);
    }
    process.stdin.on('data', () => process.exit(0));
  }
});
`;

function sh(args: string[]): void {
  execFileSync(args[0]!, args.slice(1), { stdio: 'ignore' });
}

function runClient(prefix: string[], args: string[], timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const p = spawn(prefix[0] ?? process.execPath, [...prefix.slice(1), ...(prefix.length ? [process.execPath] : []), '-e', CLIENT, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stdout.on('data', (d) => (out += d));
    p.on('close', () => {
      clearTimeout(t);
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as Record<string, unknown>);
      } catch {
        reject(new Error(`bench client failed: ${out}`));
      }
    });
  });
}

/** Starts `n` idle connections from a client process; resolves once all are held. */
function holdIdle(prefix: string[], host: string, port: number, n: number): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const p = spawn(prefix[0] ?? process.execPath, [...prefix.slice(1), ...(prefix.length ? [process.execPath] : []), '-e', CLIENT, 'idle', host, String(port), String(n)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const t = setTimeout(() => reject(new Error('idle connections not established')), 30_000);
    p.stdout!.on('data', (d) => {
      if (String(d).includes('held')) {
        clearTimeout(t);
        resolve(p);
      }
    });
  });
}

async function settle(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

let gc: (() => void) | undefined;
function rss(): number {
  if (!gc) {
    // A collection before each reading, so the figure is live memory rather than GC timing.
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
  return process.memoryUsage().rss;
}

async function idleMemory(prefix: string[], host: string, port: number, n: number): Promise<number> {
  // Let what earlier phases freed settle first, or it shows up as a negative delta.
  for (let i = 0; i < 3; i++) {
    await settle(300);
    rss();
  }
  const before = rss();
  const p = await holdIdle(prefix, host, port, n);
  await settle(500);
  const after = rss();
  p.stdin!.end('x');
  await new Promise((r) => p.once('close', r));
  return (after - before) / n;
}

const bench: Bench = {
  name: 'egress',
  issue: 7,
  description: 'transparent egress proxy (root design): connection latency, 1 GiB throughput, idle memory',
  async unavailable() {
    if (process.getuid?.() !== 0) return 'needs root (network namespaces, nft in the host namespace)';
    return undefined;
  },
  async run(ctx: BenchContext): Promise<Figure[]> {
    const sfx = crypto.randomBytes(3).toString('hex');
    const ns = `wdbench-${sfx}`;
    const vh = `wdb${sfx}`;
    const vn = `wdc${sfx}`;
    const third = 1 + Math.floor(Math.random() * 250);
    const gw = `198.51.100.${(third & 0xf0) + 1}`;
    const srv = `198.51.100.${(third & 0xf0) + 2}`;
    let server: ChildProcess | undefined;
    let prepared: PreparedNetwork | undefined;
    let pipeNet: PreparedNetwork | undefined;
    let rootlessNet: PreparedNetwork | undefined;
    const figures: Figure[] = [];
    try {
      sh(['ip', 'netns', 'add', ns]);
      sh(['ip', 'link', 'add', vh, 'type', 'veth', 'peer', 'name', vn, 'netns', ns]);
      sh(['ip', 'addr', 'add', `${gw}/28`, 'dev', vh]);
      sh(['ip', 'link', 'set', vh, 'up']);
      sh(['ip', '-n', ns, 'addr', 'add', `${srv}/28`, 'dev', vn]);
      sh(['ip', '-n', ns, 'link', 'set', vn, 'up']);
      sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((res) => server!.stdout!.once('data', () => res()));
      prepared = await allowlistProvider({ headerTimeoutMs: 60_000, maxConnections: 4096, procLookup: false, eventRatePerSec: 1e9 }).prepare({
        sandboxId: `bench-${sfx}`,
        allow: ['bench.test:8080'],
        resolve: { 'bench.test': srv },
        root: true,
        emit: () => {},
      });
      const sbx = prepared.commandPrefix;
      const n = Math.max(50, Math.round(1000 * ctx.scale));

      // Latency: interleave direct and proxied rounds so drift on a shared machine hits both;
      // one warm-up round each first (JIT, koffi load, worker start).
      await runClient([], ['latency', srv, '8080', '20'], 60_000);
      await runClient(sbx, ['latency', 'bench.test', '8080', '20'], 60_000);
      const direct: number[] = [];
      const proxied: number[] = [];
      for (let round = 0; round < 4; round++) {
        direct.push(...((await runClient([], ['latency', srv, '8080', String(n / 4)], 120_000)).ms as number[]));
        proxied.push(...((await runClient(sbx, ['latency', 'bench.test', '8080', String(n / 4)], 120_000)).ms as number[]));
      }
      direct.sort((a, b) => a - b);
      proxied.sort((a, b) => a - b);
      const d50 = percentile(direct, 50);
      const p50 = percentile(proxied, 50);
      const d99 = percentile(direct, 99);
      const p99 = percentile(proxied, 99);
      ctx.log(`latency over ${direct.length} connections each: direct p50 ${d50.toFixed(3)} ms p99 ${d99.toFixed(3)} ms; proxied p50 ${p50.toFixed(3)} ms p99 ${p99.toFixed(3)} ms`);
      figures.push(ratio('egress.connect_p50_ratio', 'connection + first response, p50, proxied / direct', p50, d50));
      figures.push(ratio('egress.connect_p99_ratio', 'connection + first response, p99, proxied / direct', p99, d99));
      const added = p50 - d50;
      figures.push({ id: 'egress.added_p50_ms', label: 'added latency per connection, p50', value: added, unit: 'ms', measured: p50, baseline: d50, target: '< 1', met: added < 1 });
      figures.push({ id: 'egress.added_p99_ms', label: 'added latency per connection, p99', value: p99 - d99, unit: 'ms', measured: p99, baseline: d99 });

      // Throughput: 1 GiB (scaled), best of 3 each, alternating direct / splice / stream pipe.
      // Wall time suffers from other load on a shared machine; the proxy's own CPU per GiB
      // (both threads) does not, so it is reported too.
      pipeNet = await allowlistProvider({ headerTimeoutMs: 60_000, procLookup: false, eventRatePerSec: 1e9, splice: false }).prepare({
        sandboxId: `bench-pipe-${sfx}`,
        allow: ['bench.test:8080'],
        resolve: { 'bench.test': srv },
        root: true,
        emit: () => {},
      });
      const bytes = Math.round(2 ** 30 * Math.max(ctx.scale, 0.1));
      rootlessNet = await allowlistProvider({ headerTimeoutMs: 60_000, procLookup: false, eventRatePerSec: 1e9 }).prepare({
        sandboxId: `bench-rl-${sfx}`,
        allow: ['bench.test:8080'],
        resolve: { 'bench.test': srv },
        root: false,
        emit: () => {},
      });
      const best = { direct: Infinity, splice: Infinity, pipe: Infinity, rootless: Infinity };
      const cpu = { splice: Infinity, pipe: Infinity, rootless: Infinity };
      for (let i = 0; i < 3; i++) {
        for (const [k, prefix, host] of [
          ['direct', [], srv],
          ['splice', sbx, 'bench.test'],
          ['pipe', pipeNet.commandPrefix, 'bench.test'],
          ['rootless', rootlessNet.commandPrefix, 'bench.test'],
        ] as const) {
          const c0 = process.cpuUsage();
          const r = await runClient([...prefix], ['throughput', host, '8080', String(bytes)], 300_000);
          const c = process.cpuUsage(c0);
          if ((r.got as number) < bytes) throw new Error(`short transfer (${k}): ${r.got} of ${bytes}`);
          best[k] = Math.min(best[k], r.s as number);
          if (k !== 'direct') cpu[k] = Math.min(cpu[k], (c.user + c.system) / 1e6 / (bytes / 2 ** 30));
        }
      }
      const mib = (s: number) => bytes / s / 2 ** 20;
      ctx.log(
        `throughput of ${(bytes / 2 ** 20).toFixed(0)} MiB (best of 3): direct ${mib(best.direct).toFixed(0)} MiB/s, ` +
          `splice ${mib(best.splice).toFixed(0)} MiB/s, stream pipe ${mib(best.pipe).toFixed(0)} MiB/s, rootless ${mib(best.rootless).toFixed(0)} MiB/s; ` +
          `proxy CPU per GiB: splice ${cpu.splice.toFixed(2)} s, pipe ${cpu.pipe.toFixed(2)} s`,
      );
      const gib = (bytes / 2 ** 30).toFixed(2);
      figures.push(ratio('egress.throughput_ratio', `throughput of ${gib} GiB, proxied (splice) / direct`, mib(best.splice), mib(best.direct), { target: 0.8, lowerIsBetter: false }));
      figures.push(ratio('egress.throughput_pipe_ratio', `throughput of ${gib} GiB, stream-pipe proxy / direct`, mib(best.pipe), mib(best.direct), { lowerIsBetter: false, note: 'the design splice replaced' }));
      figures.push(ratio('egress.throughput_rootless_ratio', `throughput of ${gib} GiB, rootless design (relay + proxy) / direct`, mib(best.rootless), mib(best.direct), { lowerIsBetter: false }));
      figures.push(ratio('egress.cpu_per_gib_ratio', 'proxy CPU per GiB, splice / stream pipe', cpu.splice, cpu.pipe, { note: `${cpu.splice.toFixed(2)} s vs ${cpu.pipe.toFixed(2)} s per GiB` }));

      // The same transfer over a link that is the bottleneck (as an uplink to the internet is):
      // a 1 Gbit/s token bucket on the server's side of its veth, for both paths alike.
      sh(['ip', 'netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', vn, 'root', 'tbf', 'rate', '1gbit', 'burst', '256kb', 'latency', '50ms']);
      const shaped = { direct: Infinity, splice: Infinity };
      for (let i = 0; i < 2; i++) {
        for (const [k, prefix, host] of [['direct', [], srv], ['splice', sbx, 'bench.test']] as const) {
          const r = await runClient([...prefix], ['throughput', host, '8080', String(bytes)], 300_000);
          if ((r.got as number) < bytes) throw new Error(`short transfer (shaped ${k}): ${r.got} of ${bytes}`);
          shaped[k] = Math.min(shaped[k], r.s as number);
        }
      }
      sh(['ip', 'netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', vn, 'root']);
      ctx.log(`over a 1 Gbit/s link: direct ${mib(shaped.direct).toFixed(0)} MiB/s, splice ${mib(shaped.splice).toFixed(0)} MiB/s`);
      figures.push(ratio('egress.throughput_link_ratio', `throughput of ${gib} GiB over a 1 Gbit/s link, proxied / direct`, mib(shaped.splice), mib(shaped.direct), { target: 0.8, lowerIsBetter: false }));

      // Memory: 1,000 idle connections held by a plain in-process server, then through the proxy.
      const idleN = 1000;
      const plain = net.createServer({ pauseOnConnect: true }, (c) => c.on('error', () => {}));
      await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
      const perPlain = await idleMemory([], '127.0.0.1', (plain.address() as net.AddressInfo).port, idleN);
      plain.close();
      const perProxied = await idleMemory(sbx, 'bench.test', 8080, idleN);
      ctx.log(`memory per idle connection: proxied ${(perProxied / 1024).toFixed(1)} KiB, plain server ${(perPlain / 1024).toFixed(1)} KiB`);
      figures.push({ id: 'egress.idle_mib_per_1000', label: 'proxy memory for 1,000 idle connections', value: (perProxied * 1000) / 2 ** 20, unit: 'MiB' });
      figures.push(ratio('egress.idle_memory_ratio', 'memory per idle connection, proxied / plain server', perProxied, perPlain, { note: 'process RSS; a proxied connection is two sockets' }));
      return figures;
    } finally {
      await prepared?.cleanup();
      await pipeNet?.cleanup();
      await rootlessNet?.cleanup();
      server?.kill('SIGKILL');
      try {
        sh(['ip', 'link', 'del', vh]);
      } catch {
        // gone with the namespace
      }
      try {
        sh(['ip', 'netns', 'del', ns]);
      } catch {
        // already removed
      }
    }
  },
};

export default bench;
