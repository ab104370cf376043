// Start-up cost of `warden run -- true` (network none, default policy) against, in the same
// run and interleaved: `true` itself, bare bwrap with the same flags and seccomp filter, and
// `node -e 0` (the floor for any Node CLI). `warden run` four ways (issue #16): warm (the
// native launcher with its supervisor running: the default), cold (first run: no supervisor
// yet, a fresh runtime directory each time), the Node path (WARDEN_FAST=0: what every run cost
// before the launcher), and network allowlist (fewer samples: it costs a proxy and namespaces).
// Targets: issue #6, under 60 ms over `true`; issue #16, warm <= bare bwrap + 10 ms, cold <=
// the Node path, allowlist <= bare bwrap + 30 ms.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bwrapArgs } from '../sandbox/bwrap.js';
import { planFilesystem } from '../sandbox/fs-plan.js';
import { defaultRunPolicy } from '../sandbox/policy.js';
import { which } from '../sandbox/host.js';
import { buildSeccompFilter } from '../sandbox/seccomp.js';
import { cgroupViewOps, detectLayout } from '../sandbox/run-host.js';
import type { MountOp } from '../sandbox/mount-ops.js';
import { percentile, ratio, type Bench, type Figure } from './types.js';
import { listPids, readCmdline } from '../sensors/procfs/proc.js';

/** Waits for the supervisor a cold run started under runtime directory `dir`, then stops it (bounded: 5 s). */
function stopSupervisorOf(dir: string): void {
  const until = Date.now() + 5000;
  const sock = () => fs.existsSync(path.join(dir, 'warden')) && fs.readdirSync(path.join(dir, 'warden')).some((n) => n.endsWith('.sock'));
  while (Date.now() < until && !sock()) spawnSync('sleep', ['0.02']);
  const pid = listPids().find((p) => readCmdline(p)?.some((a) => a.startsWith(`${dir}/`)));
  if (!pid) return;
  process.kill(pid, 'SIGTERM');
  while (Date.now() < until && readCmdline(pid)?.length) spawnSync('sleep', ['0.02']);
}

/** CPU time (user + system, ms) of all waited-for children so far: /proc/self/stat cutime + cstime. */
function childrenCpuMs(): number {
  const s = fs.readFileSync('/proc/self/stat', 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100; // fields 16, 17; USER_HZ = 100 on Linux
}

const WARDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/warden');

function timeOnce(argv: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; stdio?: Array<'ignore' | 'inherit' | number> }): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env, stdio: opts.stdio ?? 'ignore' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.slice(0, 3).join(' ')} exited ${r.status}: ${r.error?.message ?? ''}`);
  return ms;
}

const bench: Bench = {
  name: 'run',
  issue: 6,
  description: '`warden run -- true` wall time vs bare bwrap (same flags, same seccomp filter) vs `true`, interleaved',
  async unavailable() {
    if (!which('bwrap', process.env.PATH ?? '/usr/bin:/bin')) return 'bwrap is not installed';
    if (!fs.existsSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../cli/entry.js'))) return 'not built';
    return undefined;
  },
  async run(ctx): Promise<Figure[]> {
    const n = Math.max(10, Math.round(40 * ctx.scale));
    // A workspace outside /tmp would be scanned like a project; an empty one isolates start-up.
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-run-'));
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS; // bin/warden hides it from `run` anyway; keep node -e 0 comparable
    const bwrap = which('bwrap', env.PATH ?? '/usr/bin:/bin')!;

    // The same flags warden builds (plain --bind instead of --bind-fd: same mount).
    const policy = defaultRunPolicy();
    const homes = [...new Set([env.HOME, os.userInfo().homedir].filter((h): h is string => !!h))];
    const wsReal = fs.realpathSync(ws);
    const plan = planFilesystem({ policy, workspace: wsReal, homes, identity: { uid: process.getuid!(), gids: process.getgroups!() } });
    const filterFile = path.join(ws, '..', `warden-bench-${process.pid}.bpf`);
    fs.writeFileSync(filterFile, buildSeccompFilter().program);
    const root = process.getuid?.() === 0;
    const bwrapWith = (mounts: MountOp[]) => bwrapArgs({ mounts, unshareNet: true, uid: root ? 65534 : process.getuid!(), gid: root ? 65534 : process.getgid!(), chdir: fs.realpathSync(ws), emptyFile: '/dev/null', seccompFd: 4, statusFd: 3, argv: ['true'] });
    const args = bwrapWith(plan.mounts);
    // All of what a run shows: also the sandbox's own /sys/fs/cgroup (an empty read-only tree, not
    // the host's) and, for root's stand-in, its homes as views (a bind each, before the workspace's).
    const homeViews: MountOp[] = root ? homes.filter((h) => fs.existsSync(h)).map((h) => ({ op: 'ro-bind', src: h, dest: h })) : [];
    const at = plan.mounts.findIndex((m) => m.dest === wsReal);
    const full = [...plan.mounts.slice(0, at), ...homeViews, ...plan.mounts.slice(at), ...cgroupViewOps(detectLayout(), [])];
    const argsFull = bwrapWith(full);
    const samples = { true: [] as number[], bwrap: [] as number[], bwrapFull: [] as number[], warden: [] as number[], node: [] as number[], nodePath: [] as number[], cold: [] as number[], allowlist: [] as number[], allowlistNode: [] as number[] };
    const devnull = fs.openSync('/dev/null', 'w');
    // The warm supervisor has a runtime directory of its own; each cold run gets a fresh one.
    const runtimes = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-xdg-'));
    const warmEnv = { ...env, XDG_RUNTIME_DIR: path.join(runtimes, 'warm'), WARDEN_FAST: '1' };
    fs.mkdirSync(warmEnv.XDG_RUNTIME_DIR, { mode: 0o700 });
    const nodeEnv = { ...env, WARDEN_FAST: '0' };
    const launcher = fs.existsSync(path.resolve(path.dirname(WARDEN), '../native/build/warden-launch'));
    if (!launcher) ctx.log('the native launcher is not built (scripts/build-launcher.sh): warm and cold are the Node path too');
    let allowlist = true;
    try {
      // Warm up caches (page cache, dentries) for every variant once; start the warm supervisor.
      timeOnce([WARDEN, 'run', '--', 'true'], { cwd: ws, env: warmEnv });
      timeOnce([WARDEN, 'run', '--', 'true'], { cwd: ws, env: nodeEnv });
      try {
        timeOnce([WARDEN, 'run', '--network', 'allowlist', '--', 'true'], { cwd: ws, env: warmEnv });
      } catch (err) {
        allowlist = false;
        ctx.log(`network allowlist not measured: ${(err as Error).message}`);
      }
      for (let i = 0; i < 50 && launcher && !fs.readdirSync(path.join(warmEnv.XDG_RUNTIME_DIR, 'warden')).some((f) => f.endsWith('.sock')); i++) spawnSync('sleep', ['0.1']);
      for (let i = 0; i < n; i++) {
        samples.true.push(timeOnce(['/bin/true'], { cwd: ws, env }));
        const seccompFd = fs.openSync(filterFile, 'r');
        samples.bwrap.push(timeOnce([bwrap, ...args], { cwd: ws, env, stdio: ['ignore', 'ignore', 'inherit', devnull, seccompFd] }));
        fs.closeSync(seccompFd);
        const seccompFd2 = fs.openSync(filterFile, 'r');
        samples.bwrapFull.push(timeOnce([bwrap, ...argsFull], { cwd: ws, env, stdio: ['ignore', 'ignore', 'inherit', devnull, seccompFd2] }));
        fs.closeSync(seccompFd2);
        samples.warden.push(timeOnce([WARDEN, 'run', '--', 'true'], { cwd: ws, env: warmEnv, stdio: ['ignore', 'ignore', 'inherit'] }));
        samples.nodePath.push(timeOnce([WARDEN, 'run', '--', 'true'], { cwd: ws, env: nodeEnv, stdio: ['ignore', 'ignore', 'inherit'] }));
        // Cold: no supervisor answers yet; the one this run starts goes away with its directory.
        const fresh = fs.mkdtempSync(path.join(runtimes, 'cold-'));
        samples.cold.push(timeOnce([WARDEN, 'run', '--', 'true'], { cwd: ws, env: { ...env, XDG_RUNTIME_DIR: fresh, WARDEN_FAST: '1', WARDEN_SUPERVISOR_IDLE_MS: '2000' }, stdio: ['ignore', 'ignore', 'inherit'] }));
        // The supervisor it started in the background loads while the next variants run: a
        // user's first run happens once, not between every two runs, so it is stopped first.
        if (launcher) stopSupervisorOf(fresh);
        samples.node.push(timeOnce([process.execPath, '-e', '0'], { cwd: ws, env }));
        // Allowlist runs one in four, far enough apart for the supervisor's spare namespace to be
        // made again (an agent's commands come seconds apart); the Node path's alongside.
        if (allowlist && i % 4 === 0) samples.allowlist.push(timeOnce([WARDEN, 'run', '--network', 'allowlist', '--', 'true'], { cwd: ws, env: warmEnv, stdio: ['ignore', 'ignore', 'inherit'] }));
        if (allowlist && i % 4 === 2) samples.allowlistNode.push(timeOnce([WARDEN, 'run', '--network', 'allowlist', '--', 'true'], { cwd: ws, env: nodeEnv, stdio: ['ignore', 'ignore', 'inherit'] }));
      }
    } finally {
      fs.closeSync(devnull);
      fs.rmSync(ws, { recursive: true, force: true });
      fs.rmSync(runtimes, { recursive: true, force: true }); // their supervisors see their sockets gone and exit
    }
    // CPU time per run, each variant in a block of its own (children's CPU cannot be told apart
    // when interleaved). Unlike wall time it hardly moves when other work shares the machine.
    const cpu: Record<'true' | 'bwrap' | 'warden' | 'nodePath' | 'node', number> = { true: 0, bwrap: 0, warden: 0, nodePath: 0, node: 0 };
    const warm2 = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-xdg-'));
    const warm2Env = { ...env, XDG_RUNTIME_DIR: warm2, WARDEN_FAST: '1' };
    const ws2 = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-run-'));
    const devnull2 = fs.openSync('/dev/null', 'w');
    fs.writeFileSync(filterFile, buildSeccompFilter().program);
    try {
      const block = (name: keyof typeof cpu, fn: () => void) => {
        const before = childrenCpuMs();
        for (let i = 0; i < n; i++) fn();
        cpu[name] = (childrenCpuMs() - before) / n;
      };
      const ws2Real = fs.realpathSync(ws2);
      const args2 = args.map((a) => (a === wsReal ? ws2Real : a));
      block('true', () => timeOnce(['/bin/true'], { cwd: ws2, env }));
      block('bwrap', () => {
        const fd = fs.openSync(filterFile, 'r');
        timeOnce([bwrap, ...args2], { cwd: ws2, env, stdio: ['ignore', 'ignore', 'inherit', devnull2, fd] });
        fs.closeSync(fd);
      });
      timeOnce([WARDEN, 'run', '--', 'true'], { cwd: ws2, env: warm2Env });
      for (let i = 0; i < 50 && launcher && !fs.readdirSync(path.join(warm2, 'warden')).some((f) => f.endsWith('.sock')); i++) spawnSync('sleep', ['0.1']);
      // The supervisor's CPU is not a child's: only the launcher and bwrap count here.
      block('warden', () => timeOnce([WARDEN, 'run', '--', 'true'], { cwd: ws2, env: warm2Env, stdio: ['ignore', 'ignore', 'inherit'] }));
      block('nodePath', () => timeOnce([WARDEN, 'run', '--', 'true'], { cwd: ws2, env: nodeEnv, stdio: ['ignore', 'ignore', 'inherit'] }));
      block('node', () => timeOnce([process.execPath, '-e', '0'], { cwd: ws2, env }));
    } finally {
      fs.closeSync(devnull2);
      fs.rmSync(filterFile, { force: true });
      fs.rmSync(ws2, { recursive: true, force: true });
      fs.rmSync(warm2, { recursive: true, force: true });
    }
    ctx.log(`CPU time per run (user+system, child processes): true ${cpu.true.toFixed(1)} ms, bwrap ${cpu.bwrap.toFixed(1)} ms, node -e 0 ${cpu.node.toFixed(1)} ms, warden run warm ${cpu.warden.toFixed(1)} ms (launcher + bwrap; the supervisor's share not counted), Node path ${cpu.nodePath.toFixed(1)} ms; load average ${os.loadavg()[0]!.toFixed(2)}`);

    const med = (a: number[]) => percentile([...a].sort((x, y) => x - y), 50);
    const p90 = (a: number[]) => percentile([...a].sort((x, y) => x - y), 90);
    const m = { true: med(samples.true), bwrap: med(samples.bwrap), bwrapFull: med(samples.bwrapFull), warden: med(samples.warden), node: med(samples.node), nodePath: med(samples.nodePath), cold: med(samples.cold), allowlist: samples.allowlist.length ? med(samples.allowlist) : NaN, allowlistNode: samples.allowlistNode.length ? med(samples.allowlistNode) : NaN };
    ctx.log(
      `medians over ${n} interleaved runs (${root ? 'root' : 'unprivileged'}): true ${m.true.toFixed(2)} ms, bwrap ${m.bwrap.toFixed(2)} ms, bwrap with all of a run's mounts ${m.bwrapFull.toFixed(2)} ms, node -e 0 ${m.node.toFixed(2)} ms, ` +
        `warden run warm ${m.warden.toFixed(2)} ms (p90 ${p90(samples.warden).toFixed(1)} ms), cold ${m.cold.toFixed(2)} ms, Node path ${m.nodePath.toFixed(2)} ms, ` +
        `network allowlist ${m.allowlist.toFixed(2)} ms (${samples.allowlist.length} runs; Node path ${m.allowlistNode.toFixed(2)} ms)`,
    );
    const over = m.warden - m.true;
    const warmOver = m.warden - m.bwrap;
    const warmOverFull = m.warden - m.bwrapFull;
    const allowOver = m.allowlist - m.bwrap;
    return [
      { id: 'run.warm_over_bwrap_ms', label: 'warm `warden run -- true` minus bare bwrap (median)', value: warmOver, unit: 'ms', measured: m.warden, baseline: m.bwrap, target: '<= 10', met: warmOver <= 10 },
      {
        id: 'run.warm_over_bwrap_full_ms',
        label: 'warm `warden run -- true` minus bwrap with all of its mounts (+ cgroup view, home views)',
        value: warmOverFull,
        unit: 'ms',
        measured: m.warden,
        baseline: m.bwrapFull,
        target: '<= 10',
        met: warmOverFull <= 10,
      },
      ratio('run.cold_vs_node_path', 'cold `warden run -- true` (no supervisor yet) / the Node path (WARDEN_FAST=0)', m.cold, m.nodePath),
      ratio('run.node_path_vs_bwrap', 'the Node path (WARDEN_FAST=0) / bare bwrap', m.nodePath, m.bwrap),
      ...(samples.allowlist.length
        ? [
            { id: 'run.allowlist_over_bwrap_ms', label: '`warden run --network allowlist -- true` minus bare bwrap (median)', value: allowOver, unit: 'ms', measured: m.allowlist, baseline: m.bwrap, target: '<= 30', met: allowOver <= 30 },
            ratio('run.allowlist_vs_node_path', 'network allowlist: fast path / the Node path (WARDEN_FAST=0)', m.allowlist, m.allowlistNode),
          ]
        : []),
      {
        id: 'run.over_true_ms',
        label: '`warden run -- true` minus `true` (median)',
        value: over,
        unit: 'ms',
        measured: m.warden,
        baseline: m.true,
        target: '<= 60',
        met: over <= 60,
      },
      ratio('run.vs_bwrap', '`warden run -- true` / bare bwrap, same flags', m.warden, m.bwrap),
      ratio('run.vs_node', '`warden run -- true` / `node -e 0` (Node start-up floor)', m.warden, m.node),
      ratio('run.bwrap_vs_true', 'bare bwrap / `true`', m.bwrap, m.true),
      ratio('run.vs_true', '`warden run -- true` / `true`', m.warden, m.true),
      { id: 'run.cpu_over_true_ms', label: 'CPU time of `warden run -- true` minus `true`', value: cpu.warden - cpu.true, unit: 'ms', measured: cpu.warden, baseline: cpu.true },
      ratio('run.cpu_vs_node', 'CPU time: `warden run -- true` / `node -e 0`', cpu.warden, cpu.node),
      ratio('run.cpu_vs_bwrap', 'CPU time: `warden run -- true` / bare bwrap', cpu.warden, cpu.bwrap),
    ];
  },
};

export default bench;
