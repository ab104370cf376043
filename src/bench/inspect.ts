// Cost of TLS inspection (issue #13), root design, on a namespace this bench makes: the added
// latency of an HTTPS request (new connection, handshake, request, first byte) when the proxy
// opens TLS (intercepted), against the same request passed through (spliced, not opened) and
// against a direct connection, p50 and p99; and the throughput of a 1 GiB HTTPS download
// intercepted against direct (and passed through), all in the same run.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { allowlistProvider } from '../egress/provider.js';
import type { PreparedNetwork } from '../sandbox/network-provider.js';
import { percentile, ratio, type Bench, type BenchContext, type Figure } from './types.js';

const SERVER = `
const https = require('https'); const fs = require('fs');
const [cert, key] = process.argv.slice(1);
const block = Buffer.alloc(1 << 20, 97);
https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (req, res) => {
  const m = /^\\/bytes\\/(\\d+)/.exec(req.url);
  if (!m) return res.end('ok');
  let left = Number(m[1]);
  res.writeHead(200, { 'content-length': String(left) });
  const pump = () => { while (left > 0) { const n = Math.min(left, block.length); left -= n; if (!res.write(n === block.length ? block : block.subarray(0, n))) return res.once('drain', pump); } res.end(); };
  pump();
}).listen(8443, '0.0.0.0', () => console.log('ready'));
`;

const CLIENT = `
const https = require('https'); const fs = require('fs');
const [mode, host, connectTo, n, caFile] = process.argv.slice(1);
const ca = fs.readFileSync(caFile);
const get = (p) => new Promise((res, rej) => {
  const t0 = process.hrtime.bigint();
  let first = 0, got = 0;
  const r = https.get({ host: connectTo, servername: host, port: 8443, path: p, headers: { host }, agent: false, ca }, (resp) => {
    resp.on('data', (d) => { if (!first) first = Number(process.hrtime.bigint() - t0) / 1e6; got += d.length; });
    resp.on('end', () => res({ first, got, s: Number(process.hrtime.bigint() - t0) / 1e9 }));
  });
  r.on('error', rej);
});
(async () => {
  if (mode === 'latency') {
    const ms = [];
    for (let i = 0; i < Number(n); i++) ms.push((await get('/ping')).first);
    console.log(JSON.stringify({ ms }));
  } else {
    const r = await get('/bytes/' + n);
    console.log(JSON.stringify(r));
  }
})().catch((e) => { console.log(JSON.stringify({ error: e.message })); process.exit(1); });
`;

function sh(args: string[]): string {
  return execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function runClient(prefix: string[], args: string[], timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const p = spawn(prefix[0] ?? process.execPath, [...prefix.slice(1), ...(prefix.length ? [process.execPath] : []), '-e', CLIENT, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stdout.on('data', (d) => (out += d));
    p.on('close', () => {
      clearTimeout(t);
      try {
        const r = JSON.parse(out.trim().split('\n').at(-1) ?? '') as Record<string, unknown>;
        if (r.error) reject(new Error(`bench client: ${r.error as string}`));
        else resolve(r);
      } catch {
        reject(new Error(`bench client failed: ${out}`));
      }
    });
  });
}

const bench: Bench = {
  name: 'inspect',
  issue: 13,
  description: 'TLS inspection: HTTPS latency intercepted vs passed through vs direct, 1 GiB intercepted download vs direct',
  async unavailable() {
    if (process.getuid?.() !== 0) return 'needs root (network namespaces, nft in the host namespace)';
    return undefined;
  },
  async run(ctx: BenchContext): Promise<Figure[]> {
    const sfx = crypto.randomBytes(3).toString('hex');
    const ns = `wdinsp-${sfx}`;
    const vh = `wdk${sfx}`;
    const vn = `wdl${sfx}`;
    const third = 1 + Math.floor(Math.random() * 250);
    const gw = `203.0.113.${(third & 0xf0) + 1}`;
    const srv = `203.0.113.${(third & 0xf0) + 2}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-inspect-'));
    let server: ChildProcess | undefined;
    let prepared: PreparedNetwork | undefined;
    const figures: Figure[] = [];
    try {
      // A test CA for the upstream (Warden trusts it through extraCaCerts, as NODE_EXTRA_CA_CERTS).
      const ca = path.join(dir, 'ca.pem');
      const caKey = path.join(dir, 'ca.key');
      const cert = path.join(dir, 'leaf.pem');
      const key = path.join(dir, 'leaf.key');
      sh(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=bench CA', '-keyout', caKey, '-out', ca]);
      sh(['openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=bench', '-keyout', key, '-out', path.join(dir, 'leaf.csr')]);
      fs.writeFileSync(path.join(dir, 'ext'), 'subjectAltName=DNS:pass.test,DNS:insp.test\n');
      sh(['openssl', 'x509', '-req', '-in', path.join(dir, 'leaf.csr'), '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '1', '-extfile', path.join(dir, 'ext'), '-out', cert]);
      sh(['ip', 'netns', 'add', ns]);
      sh(['ip', 'link', 'add', vh, 'type', 'veth', 'peer', 'name', vn, 'netns', ns]);
      sh(['ip', 'addr', 'add', `${gw}/28`, 'dev', vh]);
      sh(['ip', 'link', 'set', vh, 'up']);
      sh(['ip', '-n', ns, 'addr', 'add', `${srv}/28`, 'dev', vn]);
      sh(['ip', '-n', ns, 'link', 'set', vn, 'up']);
      sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      server = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SERVER, cert, key], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((res) => server!.stdout!.once('data', () => res()));
      prepared = await allowlistProvider({ headerTimeoutMs: 60_000, maxConnections: 4096, procLookup: false, eventRatePerSec: 1e9 }).prepare({
        sandboxId: `bench-insp-${sfx}`,
        allow: ['pass.test:8443', 'insp.test:8443'],
        resolve: { 'pass.test': srv, 'insp.test': srv },
        rules: { 'insp.test': { inspect: true } },
        root: true,
        extraCaCerts: ca,
        runDir: dir,
        emit: () => {},
      });
      // What the sandbox would trust: the bundle handed in by descriptor (system store + run CA).
      const bundle = path.join(dir, 'inside-bundle.pem');
      fs.writeFileSync(bundle, fs.readFileSync(`/proc/self/fd/${prepared.fds![0]}`, 'utf8') + fs.readFileSync(ca, 'utf8'));
      const sbx = prepared.commandPrefix;
      const paths = [
        ['direct', [] as string[], 'pass.test', srv],
        ['pass', sbx, 'pass.test', 'pass.test'],
        ['insp', sbx, 'insp.test', 'insp.test'],
      ] as const;

      const n = Math.max(40, Math.round(400 * ctx.scale));
      for (const [, prefix, host, to] of paths) await runClient([...prefix], ['latency', host, to, '10', bundle], 60_000); // warm-up
      const ms: Record<string, number[]> = { direct: [], pass: [], insp: [] };
      for (let round = 0; round < 4; round++)
        for (const [k, prefix, host, to] of paths) ms[k]!.push(...((await runClient([...prefix], ['latency', host, to, String(n / 4), bundle], 180_000)).ms as number[]));
      const p = (k: string, q: number) => percentile(ms[k]!.sort((a, b) => a - b), q);
      ctx.log(
        `HTTPS request on a new connection (${ms.direct!.length} each): direct p50 ${p('direct', 50).toFixed(2)} p99 ${p('direct', 99).toFixed(2)} ms; ` +
          `passed through p50 ${p('pass', 50).toFixed(2)} p99 ${p('pass', 99).toFixed(2)} ms; intercepted p50 ${p('insp', 50).toFixed(2)} p99 ${p('insp', 99).toFixed(2)} ms`,
      );
      for (const q of [50, 99]) {
        figures.push({ id: `inspect.added_p${q}_ms`, label: `added latency per HTTPS request (new connection), p${q}, intercepted − direct`, value: p('insp', q) - p('direct', q), unit: 'ms', measured: p('insp', q), baseline: p('direct', q) });
        figures.push({ id: `inspect.pass_added_p${q}_ms`, label: `added latency per HTTPS request, p${q}, passed through − direct`, value: p('pass', q) - p('direct', q), unit: 'ms', measured: p('pass', q), baseline: p('direct', q) });
        figures.push(ratio(`inspect.p${q}_vs_pass`, `HTTPS request p${q}, intercepted / passed through`, p('insp', q), p('pass', q)));
      }

      const bytes = Math.round(2 ** 30 * Math.max(ctx.scale, 0.1));
      const best: Record<string, number> = { direct: Infinity, pass: Infinity, insp: Infinity };
      const cpu: Record<string, number> = { pass: Infinity, insp: Infinity };
      for (let i = 0; i < 2; i++)
        for (const [k, prefix, host, to] of paths) {
          const c0 = process.cpuUsage();
          const r = await runClient([...prefix], ['throughput', host, to, String(bytes), bundle], 600_000);
          const c = process.cpuUsage(c0);
          if ((r.got as number) < bytes) throw new Error(`short transfer (${k}): ${r.got as number} of ${bytes}`);
          best[k] = Math.min(best[k]!, r.s as number);
          if (k !== 'direct') cpu[k] = Math.min(cpu[k]!, (c.user + c.system) / 1e6 / (bytes / 2 ** 30));
        }
      const mib = (s: number) => bytes / s / 2 ** 20;
      const gib = (bytes / 2 ** 30).toFixed(2);
      ctx.log(
        `HTTPS download of ${gib} GiB (best of 2): direct ${mib(best.direct!).toFixed(0)} MiB/s, passed through ${mib(best.pass!).toFixed(0)} MiB/s, ` +
          `intercepted ${mib(best.insp!).toFixed(0)} MiB/s; proxy CPU per GiB: passed through ${cpu.pass!.toFixed(2)} s, intercepted ${cpu.insp!.toFixed(2)} s`,
      );
      figures.push(ratio('inspect.throughput_ratio', `HTTPS download of ${gib} GiB, intercepted / direct`, mib(best.insp!), mib(best.direct!), { lowerIsBetter: false }));
      figures.push(ratio('inspect.throughput_pass_ratio', `HTTPS download of ${gib} GiB, passed through / direct`, mib(best.pass!), mib(best.direct!), { lowerIsBetter: false }));
      figures.push({ id: 'inspect.cpu_per_gib', label: 'proxy CPU per GiB intercepted (decrypt, inspect, re-encrypt)', value: cpu.insp!, unit: 's' });
      return figures;
    } finally {
      await prepared?.cleanup();
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
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
