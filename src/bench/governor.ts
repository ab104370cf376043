// Issue #14 benchmark: what the governor and protect cost, and how fast they act.
// * A workload (fork+exec, opens, memory) run as a governed session (its cgroups, the governor
//   sampling every 250 ms) against the same workload ungoverned, alternating, same run.
// * A permission-checked open with protect on (a marked file, opened by a process outside any
//   agent tree, so every open is decided and allowed) against the same opens without marks.
// * The time from a tool crossing its session's memory limit to the governor's action (kill
//   mode), from the tool's own clock just before it jumps past the limit.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Governor } from '../actions/governor/governor.js';
import { governorSettings } from '../actions/governor/limits.js';
import { watchConfigSchema } from '../config/watch-config.js';
import type { UnstampedEvent } from '../events/types.js';
import { ratio, type Bench, type Figure } from './types.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function spawnTimed(cmd: string, args: string[], onStart?: (pid: number) => void): Promise<{ ms: number; out: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    if (onStart) onStart(c.pid!);
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve({ ms: performance.now() - t0, out }) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

function governor(mode: 'warn' | 'kill', limits: { memory_high: string; memory_max: string }, events: UnstampedEvent[]): Governor {
  const cfg = watchConfigSchema.parse({ agents: [{ name: 'benchagent', binary: 'benchagent' }], governor: { mode, agents: { benchagent: limits } } });
  return new Governor({ settings: governorSettings(cfg), emit: (e) => events.push(e) });
}

const start = (pid: number, id: string): UnstampedEvent => ({
  ts: new Date().toISOString(),
  kind: 'agent.start',
  severity: 'info',
  agent: { name: 'benchagent', root_pid: pid, session: id },
});

async function workloadRatio(bin: string, file: string, reps: number): Promise<Figure[]> {
  const args = ['400', '20000', '0', '0', file, '0'];
  const base: number[] = [];
  const gov: number[] = [];
  const cpuBase: number[] = [];
  const cpuGov: number[] = [];
  const cpu = (out: string) => Number(/cpu_us (\d+)/.exec(out)?.[1]);
  const events: UnstampedEvent[] = [];
  const g = governor('warn', { memory_high: '2GB', memory_max: '3GB' }, events);
  try {
    for (let i = 0; i < reps; i++) {
      const b = await spawnTimed(bin, args);
      base.push(b.ms);
      cpuBase.push(cpu(b.out));
      // Governed: moved into its session cgroup as soon as it is found, as watch does.
      const r = await spawnTimed(bin, args, (pid) => g.observe(start(pid, `bench-${process.pid}-${i}`)));
      gov.push(r.ms);
      cpuGov.push(cpu(r.out));
      g.tick();
    }
  } finally {
    g.stop();
  }
  const governed = events.filter((e) => e.kind === 'resource.session' && !(e.data?.unenforced));
  return [
    ratio('governor.workload_wall_ratio', 'workload wall time, governed session / ungoverned', median(gov), median(base), {
      target: 1.05,
      note: `${governed.length}/${reps} runs in a session cgroup; median of ${reps}`,
    }),
    ratio('governor.workload_cpu_ratio', 'workload CPU time, governed session / ungoverned', median(cpuGov), median(cpuBase), { note: 'steadier than wall time on a shared machine' }),
  ];
}

async function checkedOpen(n: number): Promise<Figure[]> {
  const { Protector } = await import('../actions/protect/protector.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-protect-'));
  const f = path.join(dir, 'secret');
  fs.writeFileSync(f, 'x');
  const py = `import os,time\nt=time.perf_counter()\nfor i in range(${n}):\n    os.close(os.open(${JSON.stringify(f)}, os.O_RDONLY))\nprint((time.perf_counter()-t)*1e6/${n})\n`;
  const run = async () => Number((await spawnTimed('python3', ['-c', py])).out.trim());
  const off: number[] = [];
  const on: number[] = [];
  const events: UnstampedEvent[] = [];
  for (let i = 0; i < 3; i++) off.push(await run());
  const p = new Protector({ timeoutMs: 250, ownDirs: [], sessionByDir: () => undefined, sessionByRoot: () => undefined, emit: (e) => events.push(e) });
  try {
    p.mark([{ path: f, dir: false, why: 'bench' }]);
    for (let i = 0; i < 3; i++) on.push(await run());
  } finally {
    await p.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const perOpen = median(on) - median(off);
  return [
    ratio('governor.protect_open_ratio', 'open+close of a protected file, protect on / off', median(on), median(off), { note: `µs per open: ${median(on).toFixed(1)} vs ${median(off).toFixed(1)}` }),
    { id: 'governor.protect_open_cost', label: 'added cost of one permission-checked open', value: perOpen, unit: 'µs', target: '<= 30', met: perOpen <= 30 },
  ];
}

async function limitToAction(trials: number): Promise<Figure[]> {
  // The tool prints its clock, then jumps 200 MB past a 100 MB soft limit in one step.
  const py = 'import time,sys\nb=bytearray(20*1024*1024)\ntime.sleep(0.5)\nprint(time.time()*1000, flush=True)\nc=bytearray(200*1024*1024)\ntime.sleep(30)\n';
  const waits: number[] = [];
  for (let i = 0; i < trials; i++) {
    const events: UnstampedEvent[] = [];
    const g = governor('kill', { memory_high: '100MB', memory_max: '400MB' }, events);
    try {
      const killedAt = await new Promise<number>((resolve, reject) => {
        const sh = spawn('bash', ['-c', `python3 -c '${py}'`], { argv0: 'benchagent', stdio: ['ignore', 'pipe', 'ignore'] });
        let out = '';
        sh.stdout!.on('data', (d) => (out += d));
        g.observe(start(sh.pid!, `bench-limit-${process.pid}-${i}`));
        const timer = setInterval(() => {
          const k = events.find((e) => e.kind === 'resource.kill');
          if (k) {
            clearInterval(timer);
            const crossed = Number(out.trim().split('\n')[0]);
            sh.kill('SIGKILL');
            resolve(Date.parse(k.ts) - crossed);
          }
        }, 10);
        setTimeout(() => {
          clearInterval(timer);
          sh.kill('SIGKILL');
          reject(new Error('no resource.kill within 20 s'));
        }, 20_000);
      });
      waits.push(killedAt);
    } finally {
      g.stop();
    }
  }
  return [{ id: 'governor.limit_to_action_ms', label: 'memory limit crossed -> tool killed (kill mode, 250 ms sampling)', value: median(waits), unit: 'ms', note: `median of ${trials}; all: ${waits.map((w) => Math.round(w)).join(', ')}` }];
}

const bench: Bench = {
  name: 'governor',
  issue: 14,
  description: 'governed session vs not; protected open cost; memory limit to action',
  async unavailable() {
    if (process.getuid?.() !== 0) return 'needs root (cgroups, fanotify)';
    try {
      execFileSync('cc', ['--version'], { stdio: 'ignore' });
    } catch {
      return 'no C compiler (cc) to build the workload';
    }
    return undefined;
  },
  async run(ctx) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-gov-'));
    try {
      const bin = path.join(dir, 'workload');
      execFileSync('cc', ['-O2', '-o', bin, path.join(repo, 'bench', 'workload.c')]);
      const reps = Math.max(3, Math.round(7 * ctx.scale * 10) / 10) | 0;
      ctx.log(`workload: 400 processes, 20000 opens; ${reps} alternating runs`);
      fs.writeFileSync(path.join(dir, 'f'), 'x');
      const figs = await workloadRatio(bin, path.join(dir, 'f'), reps);
      figs.push(...(await checkedOpen(Math.max(2000, Math.round(20_000 * ctx.scale)))));
      figs.push(...(await limitToAction(ctx.scale < 1 ? 2 : 5)));
      return figs;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
