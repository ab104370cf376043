// Test helper: runs the real `warden watch` CLI as a child process writing NDJSON to a temp
// file, and lets tests wait for events in it.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { WardenEvent } from '../../src/events/types.js';

export const WARDEN = path.resolve(__dirname, '../../bin/warden');

/**
 * The kernel sensor backends the watch tests run against. Both must pass in CI (setup.sh
 * builds the compiled sensor); WARDEN_TEST_BACKENDS=ebpf (or bpftrace) narrows a local run.
 */
export const KERNEL_BACKENDS: Array<'ebpf' | 'bpftrace'> = (process.env.WARDEN_TEST_BACKENDS ?? 'ebpf,bpftrace')
  .split(',')
  .filter((b): b is 'ebpf' | 'bpftrace' => b === 'ebpf' || b === 'bpftrace');

export interface RunningWatch {
  child: ChildProcess;
  file: string;
  dir: string;
  stderr(): string;
  events(): WardenEvent[];
  waitFor(pred: (e: WardenEvent) => boolean, timeoutMs?: number, what?: string): Promise<WardenEvent>;
  stop(): Promise<number | null>;
}

export function readEvents(file: string): WardenEvent[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as WardenEvent);
}

export async function startWatch(args: string[] = [], opts: { uid?: number; env?: NodeJS.ProcessEnv; readyTimeoutMs?: number } = {}): Promise<RunningWatch> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-watch-'));
  fs.chmodSync(dir, 0o777);
  const file = path.join(dir, 'events.ndjson');
  const cmd = opts.uid !== undefined ? 'setpriv' : WARDEN;
  const argv = ['watch', '-o', file, ...args];
  const full = opts.uid !== undefined ? [`--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', '--', process.execPath, WARDEN, ...argv] : argv;
  // Own runtime dir: the API socket of concurrent monitors (other tests) must not clash.
  const child = spawn(cmd, full, { env: { ...process.env, XDG_RUNTIME_DIR: dir, ...opts.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const w: RunningWatch = {
    child,
    file,
    dir,
    stderr: () => err,
    events: () => readEvents(file),
    async waitFor(pred, timeoutMs = 30_000, what = 'event') {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = readEvents(file).find(pred);
        if (hit) return hit;
        if (child.exitCode !== null) throw new Error(`warden watch exited (${child.exitCode}) while waiting for ${what}: ${err}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr: ${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const done = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      child.kill('SIGINT');
      return done;
    },
  };
  await w.waitFor((e) => e.kind === 'monitor.ready', opts.readyTimeoutMs ?? 60_000, 'monitor.ready');
  return w;
}

/** Runs a command to completion; resolves with its exit code and output. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; argv0?: string } = {}): Promise<{ code: number | null; out: string; pid: number }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env: opts.env, cwd: opts.cwd, argv0: opts.argv0, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    c.stderr!.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('exit', (code) => resolve({ code, out, pid: c.pid! }));
  });
}

/** Polls fn every 100 ms until it returns something other than undefined/false; detail() is added to the timeout's message. */
export async function until<T>(what: string, fn: () => T | undefined, ms = 30_000, detail?: () => string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The compiled sensor (warden-sensor) a monitor runs, if any. */
export function loaderOf(monitor: number): number | undefined {
  const out = spawnSync('pgrep', ['-P', String(monitor), '-x', 'warden-sensor'], { encoding: 'utf8' }).stdout.trim();
  return out ? Number(out.split('\n')[0]) : undefined;
}
