// Issue #2 benchmark: a stub agent (argv[0] "claude") runs the standard workload (2,000
// short processes, 100,000 file opens, 1,000 loopback connects) without the monitor and
// with `warden watch` running. Reports wall time ratio, events lost, syscall-to-event
// latency (under the burst and under a paced load) and the monitor's peak RSS.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { watchConfigSchema } from '../config/watch-config.js';
import type { EventSink } from '../events/dispatcher.js';
import type { UnstampedEvent, WardenEvent } from '../events/types.js';
import { bpfUnavailable, startMonitor } from '../cli/watch.js';
import { percentile, ratio, type Bench, type BenchContext, type Figure } from './types.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const WARDEN = path.join(repo, 'bin', 'warden');

interface Env {
  dir: string;
  bin: string;
  file: string;
  port: number;
  server: net.Server;
}

async function setup(): Promise<Env> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-'));
  const bin = path.join(dir, 'workload');
  execFileSync('cc', ['-O2', '-o', bin, path.join(repo, 'bench', 'workload.c')]);
  const file = path.join(dir, 'target.txt');
  fs.writeFileSync(file, 'x');
  const server = net.createServer((s) => s.destroy());
  server.maxConnections = 100_000;
  await new Promise<void>((r) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, r));
  return { dir, bin, file, port: (server.address() as net.AddressInfo).port, server };
}

function runWorkload(env: Env, n: { proc: number; open: number; conn: number; paceUs?: number }, asAgent: boolean): Promise<{ ms: number; pid: number }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const c = spawn(env.bin, [String(n.proc), String(n.open), String(n.conn), String(env.port), env.file, String(n.paceUs ?? 0)], {
      argv0: asAgent ? 'claude' : 'workload',
      stdio: 'ignore',
    });
    c.on('error', reject);
    c.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`workload exited ${code}`));
      resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, pid: c.pid! });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function vmHwmKb(pid: number): number {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  const q = [pid];
  while (q.length) {
    const p = q.shift()!;
    try {
      for (const c of fs.readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(' ').filter(Boolean)) {
        out.push(Number(c));
        q.push(Number(c));
      }
    } catch {
      /* gone */
    }
  }
  return out;
}

async function startCli(file: string, dir: string, config?: string): Promise<ChildProcess> {
  const args = ['watch', '-o', file, '--quiet', ...(config ? ['--config', config] : [])];
  const child = spawn(WARDEN, args, { stdio: 'ignore', env: { ...process.env, XDG_RUNTIME_DIR: dir } });
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes('"monitor.ready"')) return child;
    if (child.exitCode !== null) throw new Error(`warden watch exited ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('warden watch did not become ready');
}

async function latency(env: Env, n: { proc: number; open: number; conn: number; paceUs?: number }): Promise<{ p50: number; p99: number; count: number }> {
  const stamps = new WeakMap<object, bigint>();
  const lat: number[] = [];
  const sink: EventSink = {
    name: 'latency',
    write(ev: WardenEvent) {
      const ns = stamps.get(ev);
      if (ns !== undefined && ev.file?.path === env.file) lat.push(Number(process.hrtime.bigint() - ns) / 1e6);
    },
    flush: async () => {},
    close: async () => {},
  };
  const cfg = watchConfigSchema.parse({});
  const m = await startMonitor(cfg, {
    makeSinks: async () => ({ sinks: [sink] }),
    observe: (ev: UnstampedEvent, ns: bigint) => stamps.set(ev, ns),
  });
  try {
    await runWorkload(env, n, true);
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await m.stop();
  }
  lat.sort((a, b) => a - b);
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), count: lat.length };
}

interface WithResult {
  withW: number[];
  untracked: number[];
  lost: number;
  kernelLost: number;
  events: number;
  rssKb: number;
  attachMs: number;
}

/** Runs the agent workload `reps` times under a real `warden watch` and accounts for every syscall. */
async function measureWith(
  env: Env,
  n: { proc: number; open: number; conn: number },
  reps: number,
  ctx: BenchContext,
  config: string | undefined,
  tag: string,
): Promise<WithResult> {
  const out = path.join(env.dir, `events-${tag}.ndjson`);
  const t0 = Date.now();
  const watch = await startCli(out, env.dir, config);
  const attachMs = Date.now() - t0;
  const withW: number[] = [];
  const agentPids: number[] = [];
  const untracked: number[] = [];
  let rssKb = 0;
  try {
    for (let i = 0; i < reps; i++) {
      const r = await runWorkload(env, n, true);
      withW.push(r.ms);
      agentPids.push(r.pid);
    }
    for (let i = 0; i < reps; i++) untracked.push((await runWorkload(env, n, false)).ms);
    await new Promise((r) => setTimeout(r, 1000));
    rssKb = vmHwmKb(watch.pid!) + descendants(watch.pid!).reduce((a, p) => a + vmHwmKb(p), 0);
  } finally {
    const done = new Promise((r) => watch.once('exit', r));
    watch.kill('SIGINT');
    await done;
  }
  ctx.log(`[${tag}] with monitor (agent): ${withW.map((x) => x.toFixed(0)).join(', ')} ms; not an agent: ${untracked.map((x) => x.toFixed(0)).join(', ')} ms`);
  // Count what the monitor wrote for each agent run against what the workload did.
  const seen = new Map<number, { exec: number; open: number; conn: number }>();
  for (const p of agentPids) seen.set(p, { exec: 0, open: 0, conn: 0 });
  let kernelLost = 0;
  let events = 0;
  for (const line of fs.readFileSync(out, 'utf8').split('\n')) {
    if (!line) continue;
    events++;
    const e = JSON.parse(line) as WardenEvent;
    if (e.kind === 'monitor.stop') kernelLost = Number((e.data as { counters: Record<string, number> }).counters.lost ?? 0);
    const s = e.agent ? seen.get(e.agent.root_pid) : undefined;
    if (!s) continue;
    if (e.kind === 'process.exec' && e.proc?.exe === '/bin/true') s.exec++;
    else if (e.kind === 'file.open' && e.file?.path === env.file) s.open++;
    else if (e.kind === 'file.repeat' && e.file?.path === env.file) s.open += Number(e.data?.count ?? 0);
    else if (e.kind === 'net.connect' && e.net?.dst_port === env.port) s.conn++;
  }
  let lost = 0;
  for (const s of seen.values()) lost += Math.abs(n.proc - s.exec) + Math.abs(n.open - s.open) + Math.abs(n.conn - s.conn);
  return { withW, untracked, lost, kernelLost, events, rssKb, attachMs };
}

const bench: Bench = {
  name: 'watch',
  issue: 2,
  description: 'stub agent workload with and without warden watch (kernel sensor)',
  async unavailable() {
    const why = bpfUnavailable();
    if (why) return why;
    try {
      execFileSync('cc', ['--version'], { stdio: 'ignore' });
    } catch {
      return 'no C compiler (cc) to build the workload';
    }
    return undefined;
  },
  async run(ctx: BenchContext): Promise<Figure[]> {
    const env = await setup();
    const n = { proc: Math.round(2000 * ctx.scale), open: Math.round(100_000 * ctx.scale), conn: Math.round(1000 * ctx.scale) };
    const reps = 3;
    const figures: Figure[] = [];
    try {
      ctx.log(`workload: ${n.proc} processes, ${n.open} opens, ${n.conn} connects; ${reps} runs each`);
      await runWorkload(env, { proc: 50, open: 1000, conn: 10 }, false); // warm the page cache
      const base: number[] = [];
      for (let i = 0; i < reps; i++) base.push((await runWorkload(env, n, true)).ms);
      ctx.log(`without monitor: ${base.map((x) => x.toFixed(0)).join(', ')} ms`);

      const fold = await measureWith(env, n, reps, ctx, undefined, 'fold');
      const cfgAll = path.join(env.dir, 'every-open.yaml');
      fs.writeFileSync(cfgAll, 'sensor:\n  fold_opens_ms: 0\n');
      const every = await measureWith(env, n, reps, ctx, cfgAll, 'every');
      const total = reps * (n.proc + n.open + n.conn);

      const burst = await latency(env, n);
      const paced = await latency(env, { proc: 0, open: 2000, conn: 0, paceUs: 500 });

      figures.push(
        ratio('watch.wall_ratio', 'workload wall time with watch / without (agent)', median(fold.withW), median(base), { target: 1.1 }),
        ratio('watch.untracked_ratio', 'same workload, not an agent, watch running / without', median(fold.untracked), median(base), { note: 'cost outside agent trees' }),
        { id: 'watch.events_lost', label: `syscalls not accounted for (of ${total})`, value: fold.lost, unit: 'events', target: '= 0', met: fold.lost === 0, note: `kernel-reported loss ${fold.kernelLost}; ${fold.events} events written` },
        ratio('watch.wall_ratio_every_open', 'same, every open reported (fold_opens_ms: 0) / without', median(every.withW), median(base)),
        { id: 'watch.events_lost_every_open', label: `syscalls not accounted for, every open reported`, value: every.lost, unit: 'events', note: `kernel-reported loss ${every.kernelLost}; ${every.events} events written` },
        { id: 'watch.latency_burst_p50', label: 'syscall -> event dispatched, p50 (burst workload)', value: burst.p50, unit: 'ms' },
        { id: 'watch.latency_burst_p99', label: 'syscall -> event dispatched, p99 (burst workload)', value: burst.p99, unit: 'ms' },
        { id: 'watch.latency_paced_p50', label: 'syscall -> event dispatched, p50 (2,000 opens/s)', value: paced.p50, unit: 'ms' },
        { id: 'watch.latency_paced_p99', label: 'syscall -> event dispatched, p99 (2,000 opens/s)', value: paced.p99, unit: 'ms', note: 'the audit log adds its flush interval (200 ms; alerts at once)' },
        { id: 'watch.peak_rss', label: 'monitor peak RSS (node + bpftrace)', value: Math.max(fold.rssKb, every.rssKb) / 1024, unit: 'MiB' },
        { id: 'watch.attach', label: 'start to monitor.ready', value: fold.attachMs / 1000, unit: 's' },
      );
    } finally {
      env.server.close();
      fs.rmSync(env.dir, { recursive: true, force: true });
    }
    return figures;
  },
};

export default bench;
