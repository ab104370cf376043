// Issue #2 benchmark: a stub agent (argv[0] "claude") runs the standard workload (2,000
// short processes, 100,000 file opens, 1,000 loopback connects) without the monitor and
// with `warden watch` running. Reports wall time ratio, events lost, syscall-to-event
// latency (under the burst and under a paced load) and the monitor's peak RSS. The main
// figures are the compiled ebpf backend's; the bpftrace backend is measured in the same
// run for comparison (ids watch.bpftrace.*). Baselines are interleaved with the runs.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { watchConfigSchema } from '../config/watch-config.js';
import type { EventSink } from '../events/dispatcher.js';
import type { UnstampedEvent, WardenEvent } from '../events/types.js';
import { ebpfUnavailable } from '../cli/sensor-choice.js';
import { bpfUnavailable, startMonitor } from '../cli/watch.js';
import { PIN_ROOT, reapStale } from '../sensors/ebpf/pins.js';
import { listPids, readStat } from '../sensors/procfs/proc.js';
import { EbpfSensor } from '../sensors/ebpf/sensor.js';
import { kernelTime, kernelTimeUnavailable, type ProgTime } from './kernel-time.js';
import type { RawRecord } from '../sensors/raw.js';
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

interface Run {
  ms: number;
  /** CPU time of the workload and its children (ms). */
  cpu: number;
  pid: number;
}

/**
 * The stub agent's name: unique per run and declared in the bench's own watch config, so
 * that other monitors running on this shared machine (other engineers' tests) do not take
 * the workload for an agent and trace it, which would slow the baseline and the runs.
 */
const AGENT = `wbench${process.pid.toString(36)}`;

function runWorkload(env: Env, n: { proc: number; open: number; conn: number; paceUs?: number }, asAgent: boolean): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const c = spawn(env.bin, [String(n.proc), String(n.open), String(n.conn), String(env.port), env.file, String(n.paceUs ?? 0)], {
      argv0: asAgent ? AGENT : 'workload',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('close', (code) => {
      if (code !== 0) return reject(new Error(`workload exited ${code}`));
      const cpu = Number(/cpu_us (\d+)/.exec(out)?.[1] ?? NaN) / 1000;
      resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, cpu, pid: c.pid! });
    });
  });
}

/** Pinned sensor instances and running loaders on this host (before this bench starts any). */
function foreignSensors(): number {
  let pinned = 0;
  try {
    pinned = fs.readdirSync(PIN_ROOT).length;
  } catch {
    /* no bpffs state */
  }
  const loaders = listPids().filter((p) => readStat(p)?.comm === 'warden-sensor').length;
  return Math.max(pinned, loaders);
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

type Backend = 'ebpf' | 'bpftrace';

async function startCli(file: string, dir: string, backend: Backend, config?: string): Promise<ChildProcess> {
  const args = ['watch', '-o', file, '--quiet', '--backend', backend, ...(config ? ['--config', config] : [])];
  const child = spawn(WARDEN, args, { stdio: 'ignore', env: { ...process.env, XDG_RUNTIME_DIR: dir } });
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes('"monitor.ready"')) return child;
    if (child.exitCode !== null) throw new Error(`warden watch exited ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('warden watch did not become ready');
}

/**
 * The compiled sensor alone (kernel programs, loader, decoding; no process model, rules or
 * outputs), in this process: what the sensor costs, apart from the rest of the pipeline.
 * Same cycles as measureWith; every exec, open (first + repeats) and connect is counted.
 */
async function measureSensorOnly(env: Env, n: { proc: number; open: number; conn: number }, cycles: number, ctx: BenchContext): Promise<{ ratios: number[]; cpuRatios: number[]; lost: number }> {
  const out = { ratios: [] as number[], cpuRatios: [] as number[], lost: 0 };
  for (let i = 0; i < cycles; i++) {
    let b: Run | undefined;
    if (i % 2 === 0) b = await runWorkload(env, n, true);
    const seen = { exec: 0, open: 0, conn: 0 };
    const lastOpen = new Map<number, string>();
    const record = (r: RawRecord) => {
      if (r.t === 'exec' && r.filename === '/bin/true') seen.exec++;
      else if (r.t === 'open') {
        lastOpen.set(r.pid, r.path);
        if (r.path === env.file) seen.open++;
      } else if (r.t === 'repeat' && lastOpen.get(r.pid) === env.file) seen.open += r.count;
      else if (r.t === 'connect' && r.port === env.port) seen.conn++;
    };
    const sensor = await startSensorAlone(record);
    let a: Run;
    try {
      a = await runWorkload(env, n, true);
      await new Promise((res) => setTimeout(res, 300));
    } finally {
      await sensor.stop();
    }
    if (!b) b = await runWorkload(env, n, true);
    out.ratios.push(a.ms / b.ms);
    out.cpuRatios.push(a.cpu / b.cpu);
    out.lost += Math.abs(n.proc - seen.exec) + Math.abs(n.open - seen.open) + Math.abs(n.conn - seen.conn);
  }
  ctx.log(`[ebpf sensor only] ratios ${out.ratios.map((x) => x.toFixed(2)).join(', ')}; cpu ${out.cpuRatios.map((x) => x.toFixed(2)).join(', ')}`);
  return out;
}

/** The compiled sensor alone, in this process, following the bench's agent; `record` sees every record. */
async function startSensorAlone(record: (r: RawRecord) => void): Promise<EbpfSensor> {
  const sensor: EbpfSensor = new EbpfSensor({
    sink: {
      record: (r) => {
        record(r);
        // what the process model does for a candidate: keep it tracked
        if (r.t === 'exec' && r.candidate) sensor.track(r.pid);
      },
      signal: () => {},
    },
    execNames: [AGENT],
    agentNames: [AGENT],
    prefixes: [],
    seedsOnRestart: () => [],
  });
  await sensor.start([]);
  return sensor;
}

/**
 * One agent run under the sensor alone with BPF run-time statistics on (a run of its own: the
 * statistics cost a clock read per program run): the share of the workload's CPU time spent in
 * the sensor's programs, and which programs.
 */
async function measureKernelTime(env: Env, n: { proc: number; open: number; conn: number }, ctx: BenchContext): Promise<Figure | undefined> {
  const why = kernelTimeUnavailable();
  if (why) {
    ctx.log(`[ebpf kernel time] skipped: ${why}`);
    return undefined;
  }
  const sensor = await startSensorAlone(() => {});
  let run: Run | undefined;
  let progs: ProgTime[];
  try {
    progs = await kernelTime(sensor.loaderPid!, async () => {
      run = await runWorkload(env, n, true);
    });
  } finally {
    await sensor.stop();
  }
  const total = progs.reduce((a, p) => a + p.ns, 0) / 1e6;
  const top = progs.slice(0, 6).map((p) => `${p.name} ${(p.ns / 1e6).toFixed(1)} ms (${p.runs} runs, ${Math.round(p.ns / p.runs)} ns each)`);
  ctx.log(`[ebpf kernel time] ${total.toFixed(1)} ms in ${progs.length} programs of ${run!.cpu.toFixed(0)} ms workload CPU; ${top.join('; ')}`);
  return {
    ...ratio('watch.kernel_time_share', "time in the sensor's BPF programs / workload CPU time (agent, sensor alone)", total, run!.cpu),
    note: `bpf_stats, a run of its own; ${top.join('; ')}`,
  };
}

async function latency(env: Env, backend: Backend, n: { proc: number; open: number; conn: number; paceUs?: number }): Promise<{ p50: number; p99: number; count: number }> {
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
  const cfg = watchConfigSchema.parse({ agents: [{ name: 'bench-agent', binary: AGENT }] });
  const m = await startMonitor(cfg, {
    backend,
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
  /** Baseline runs (no monitor), one per cycle, next to the runs they are compared with. */
  base: number[];
  /** Per-cycle ratios: agent run / baseline, not-an-agent run / baseline, CPU time. */
  ratios: number[];
  uratios: number[];
  cpuRatios: number[];
  cpuWith: number[];
  cpuBase: number[];
  lost: number;
  kernelLost: number;
  events: number;
  rssKb: number;
  attachMs: number[];
}

/**
 * Runs `cycles` cycles of: a baseline run (no monitor), a real `warden watch`, the workload as
 * an agent and as a non-agent under it, monitor stopped; the baseline goes first in even cycles
 * and last in odd ones. The machine is shared and its load drifts over seconds, so each ratio
 * compares runs a few seconds apart, and the figure is the median of the per-cycle ratios.
 * Every syscall of every agent run is accounted for in the events written.
 */
async function measureWith(
  env: Env,
  n: { proc: number; open: number; conn: number },
  cycles: number,
  ctx: BenchContext,
  config: string | undefined,
  tag: string,
  backend: Backend,
): Promise<WithResult> {
  const r: WithResult = { withW: [], untracked: [], base: [], ratios: [], uratios: [], cpuRatios: [], cpuWith: [], cpuBase: [], lost: 0, kernelLost: 0, events: 0, rssKb: 0, attachMs: [] };
  for (let i = 0; i < cycles; i++) {
    let b: Run | undefined;
    if (i % 2 === 0) b = await runWorkload(env, n, true);
    const out = path.join(env.dir, `events-${backend}-${tag}-${i}.ndjson`);
    const t0 = Date.now();
    const watch = await startCli(out, env.dir, backend, config);
    r.attachMs.push(Date.now() - t0);
    let a: Run;
    let u: Run;
    try {
      a = await runWorkload(env, n, true);
      u = await runWorkload(env, n, false);
      await new Promise((res) => setTimeout(res, 300));
      r.rssKb = Math.max(r.rssKb, vmHwmKb(watch.pid!) + descendants(watch.pid!).reduce((acc, p) => acc + vmHwmKb(p), 0));
    } finally {
      const done = new Promise((res) => watch.once('exit', res));
      watch.kill('SIGINT');
      await done;
    }
    if (!b) b = await runWorkload(env, n, true);
    r.base.push(b.ms);
    r.withW.push(a.ms);
    r.untracked.push(u.ms);
    r.ratios.push(a.ms / b.ms);
    r.uratios.push(u.ms / b.ms);
    r.cpuRatios.push(a.cpu / b.cpu);
    r.cpuWith.push(a.cpu);
    r.cpuBase.push(b.cpu);
    // Count what the monitor wrote for the agent run against what the workload did.
    const seen = { exec: 0, open: 0, conn: 0 };
    for (const line of fs.readFileSync(out, 'utf8').split('\n')) {
      if (!line) continue;
      r.events++;
      const e = JSON.parse(line) as WardenEvent;
      if (e.kind === 'monitor.stop') r.kernelLost += Number((e.data as { counters: Record<string, number> }).counters.lost ?? 0);
      if (e.agent?.root_pid !== a.pid) continue;
      if (e.kind === 'process.exec' && e.proc?.exe === '/bin/true') seen.exec++;
      else if (e.kind === 'file.open' && e.file?.path === env.file) seen.open++;
      else if (e.kind === 'file.repeat' && e.file?.path === env.file) seen.open += Number(e.data?.count ?? 0);
      else if (e.kind === 'net.connect' && e.net?.dst_port === env.port) seen.conn++;
    }
    r.lost += Math.abs(n.proc - seen.exec) + Math.abs(n.open - seen.open) + Math.abs(n.conn - seen.conn);
    fs.rmSync(out, { force: true });
  }
  const ms = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
  ctx.log(
    `[${backend} ${tag}] attach ${ms(r.attachMs)} ms; without: ${ms(r.base)} ms; agent: ${ms(r.withW)} ms; not an agent: ${ms(r.untracked)} ms; ` +
      `ratios ${r.ratios.map((x) => x.toFixed(2)).join(', ')}; cpu ratios ${r.cpuRatios.map((x) => x.toFixed(2)).join(', ')}; load ${os.loadavg()[0]!.toFixed(2)}`,
  );
  return r;
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
    const reps = Number(process.env.BENCH_WATCH_REPS ?? 5);
    const wanted = (process.env.BENCH_WATCH_BACKENDS ?? 'ebpf,bpftrace').split(',');
    const backends = (['ebpf', 'bpftrace'] as Backend[]).filter((b) => wanted.includes(b) && !(b === 'ebpf' && ebpfUnavailable()));
    // To iterate faster: BENCH_WATCH_PARTS=fold,sensor skips the every-open, governor-off and latency runs.
    const parts = new Set((process.env.BENCH_WATCH_PARTS ?? 'fold,every,nogov,latency,sensor,kernel').split(','));
    const figures: Figure[] = [];
    try {
      ctx.log(`workload: ${n.proc} processes, ${n.open} opens, ${n.conn} connects; ${reps} cycles (baseline, agent, not an agent) per mode; backends ${backends.join(', ')}`);
      await runWorkload(env, { proc: 50, open: 1000, conn: 10 }, false); // warm the page cache
      // Kernel state of monitors that are gone (a killed test's) costs every traced syscall on
      // the host: removed first, and what remains (other monitors running) is said.
      reapStale();
      const others = foreignSensors();
      if (others) ctx.log(`note: ${others} other warden sensor instance(s) attached on this host; their cost is in every figure`);
      // One audit file per run (no rotation), so every event can be counted.
      const cfgFold = path.join(env.dir, 'fold.yaml');
      const agents = `agents:\n  - name: bench-agent\n    binary: ${AGENT}\n`;
      fs.writeFileSync(cfgFold, `${agents}output:\n  max_size: 8GB\n`);
      const cfgAll = path.join(env.dir, 'every-open.yaml');
      fs.writeFileSync(cfgAll, `${agents}output:\n  max_size: 8GB\nsensor:\n  fold_opens_ms: 0\n`);
      // the governor moves the agent into cgroups of its own (memory charged to them): its share
      const cfgNoGov = path.join(env.dir, 'no-governor.yaml');
      fs.writeFileSync(cfgNoGov, `${agents}output:\n  max_size: 8GB\ngovernor:\n  enabled: false\n`);
      for (const backend of backends) {
        const fold = await measureWith(env, n, reps, ctx, cfgFold, 'fold', backend);
        const none: WithResult = { withW: [], untracked: [], base: [], ratios: [], uratios: [], cpuRatios: [], cpuWith: [], cpuBase: [], lost: 0, kernelLost: 0, events: 0, rssKb: 0, attachMs: [] };
        const every = parts.has('every') ? await measureWith(env, n, Math.max(1, Math.ceil(reps / 2)), ctx, cfgAll, 'every', backend) : none;
        const noLat = { p50: 0, p99: 0, count: 0 };
        const burst = parts.has('latency') ? await latency(env, backend, n) : noLat;
        const paced = parts.has('latency') ? await latency(env, backend, { proc: 0, open: 2000, conn: 0, paceUs: 500 }) : noLat;
        const p = backend === 'ebpf' ? 'watch' : `watch.${backend}`;
        const b = backend === 'ebpf' ? '' : ` [${backend}]`;
        const main = backend === backends[0];
        const pct = (xs: number[]) => median(xs);
        const rfig = (id: string, label: string, xs: number[], meas: number[], basev: number[], extra: { target?: number; note?: string } = {}): Figure => ({
          ...ratio(id, label, median(meas), median(basev), extra),
          value: pct(xs),
          note: `median of ${xs.length} cycle ratios ${xs.map((x) => x.toFixed(2)).join(' ')}${extra.note ? `; ${extra.note}` : ''}`,
          met: extra.target === undefined ? undefined : pct(xs) <= extra.target,
        });
        figures.push(
          rfig(`${p}.wall_ratio`, `workload wall time with watch / without (agent)${b}`, fold.ratios, fold.withW, fold.base, { target: main ? 1.1 : undefined }),
          rfig(`${p}.cpu_ratio`, `workload CPU time (incl. in-kernel probes) with / without${b}`, fold.cpuRatios, fold.cpuWith, fold.cpuBase, { note: 'steadier than wall time on a shared machine' }),
          rfig(`${p}.untracked_ratio`, `same workload, not an agent, watch running / without${b}`, fold.uratios, fold.untracked, fold.base, { note: 'cost outside agent trees' }),
          { id: `${p}.events_lost`, label: `syscalls not accounted for (of ${fold.ratios.length * (n.proc + n.open + n.conn)})${b}`, value: fold.lost, unit: 'events', target: main ? '= 0' : undefined, met: main ? fold.lost === 0 : undefined, note: `kernel-reported loss ${fold.kernelLost}; ${fold.events} events written` },
        );
        if (parts.has('every')) {
          figures.push(
            rfig(`${p}.wall_ratio_every_open`, `same, every open reported (fold_opens_ms: 0) / without${b}`, every.ratios, every.withW, every.base),
            { id: `${p}.events_lost_every_open`, label: `syscalls not accounted for, every open reported${b}`, value: every.lost, unit: 'events', note: `kernel-reported loss ${every.kernelLost}; ${every.events} events written` },
          );
        }
        if (backend === 'ebpf' && parts.has('nogov')) {
          const ng = await measureWith(env, n, reps, ctx, cfgNoGov, 'no governor', backend);
          figures.push(rfig('watch.wall_ratio_no_governor', 'same, governor off (no cgroups for the agent) / without', ng.ratios, ng.withW, ng.base, { note: 'the rest of wall_ratio is the governor' }));
        }
        if (backend === 'ebpf' && parts.has('sensor')) {
          const so = await measureSensorOnly(env, n, reps, ctx);
          figures.push(
            { ...ratio('watch.sensor_only_ratio', 'compiled sensor alone (no model/rules/outputs) / without', median(so.ratios), 1), note: `median of ${so.ratios.length} cycle ratios; ${so.lost} syscalls not accounted for; the rest of watch_ratio is the event pipeline in node` },
            { ...ratio('watch.sensor_only_cpu_ratio', 'workload CPU time, compiled sensor alone / without', median(so.cpuRatios), 1), note: 'in-kernel probe cost charged to the workload' },
          );
        }
        if (backend === 'ebpf' && parts.has('kernel')) {
          const k = await measureKernelTime(env, n, ctx);
          if (k) figures.push(k);
        }
        if (parts.has('latency')) {
          figures.push(
          { id: `${p}.latency_burst_p50`, label: `syscall -> event dispatched, p50 (burst workload)${b}`, value: burst.p50, unit: 'ms' },
          { id: `${p}.latency_burst_p99`, label: `syscall -> event dispatched, p99 (burst workload)${b}`, value: burst.p99, unit: 'ms' },
          { id: `${p}.latency_paced_p50`, label: `syscall -> event dispatched, p50 (2,000 opens/s)${b}`, value: paced.p50, unit: 'ms' },
          { id: `${p}.latency_paced_p99`, label: `syscall -> event dispatched, p99 (2,000 opens/s)${b}`, value: paced.p99, unit: 'ms', note: 'the audit log adds its flush interval (200 ms; alerts at once)' },
          );
        }
        figures.push(
          { id: `${p}.peak_rss`, label: `monitor peak RSS (node + sensor process)${b}`, value: Math.max(fold.rssKb, every.rssKb) / 1024, unit: 'MiB' },
          { id: `${p}.attach`, label: `start to monitor.ready (CLI, median)${b}`, value: median(fold.attachMs) / 1000, unit: 's' },
        );
      }
    } finally {
      env.server.close();
      fs.rmSync(env.dir, { recursive: true, force: true });
    }
    return figures;
  },
};

export default bench;
