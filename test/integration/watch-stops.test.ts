// A monitor that does not run is blind: an agent (as root) that stops it and its sensor together
// (each was the other's only watchdog), or holds it with ptrace, must not end its reporting. Found
// by an attacker round on the batching loader (issue #17). Compiled sensor, root.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { loaderOf, readEvents, run, until, WARDEN } from '../helpers/watch.js';

const root = process.getuid?.() === 0;
/** The kernel can send a signal from a BPF program (bpf_send_signal_task, Linux 6.13). */
const kernelResumes = (() => {
  try {
    return fs.readFileSync('/sys/kernel/btf/vmlinux').includes('bpf_send_signal_task');
  } catch {
    return false;
  }
})();


describe.skipIf(!root)('batching: acts around a kill or stop of the monitor (compiled sensor)', () => {
  let dir = '';
  let log = '';
  const started: ChildProcess[] = [];

  function setup(): { home: string; key: string; cfg: string } {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-batchatk-'));
    fs.chmodSync(dir, 0o755);
    log = path.join(dir, 'events.ndjson');
    const home = path.join(dir, 'home');
    fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
    const key = path.join(home, '.ssh', 'id_ed25519');
    fs.writeFileSync(key, '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n');
    const cfg = path.join(dir, 'watch.yaml');
    fs.writeFileSync(cfg, 'http:\n  listen: "127.0.0.1:0"\n');
    return { home, key, cfg };
  }

  /** A fresh log, home and key, and a monitor on them that is ready. */
  async function readyMonitor(): Promise<{ home: string; key: string; m: ChildProcess }> {
    const { home, key, cfg } = setup();
    const m = startMonitor(cfg);
    await until('monitor.ready', () => events().some((e) => e.kind === 'monitor.ready'), 60_000);
    return { home, key, m };
  }

  /** Shell lines: waits (10 s at most) for a monitor on $LOG other than $<prev> and puts its pid in $n. */
  const nextMonitor = (prev: string, failure: string) => [
    `for t in $(seq 200); do n=$(pgrep -f "watch -o $LOG" | grep -vx "$${prev}" | head -1); [ -n "$n" ] && break; sleep 0.05; done`,
    `[ -z "$n" ] && { echo "${failure}"; exit 3; }`,
  ];

  function startMonitor(cfg: string): ChildProcess {
    const c = spawn(WARDEN, ['watch', '-o', log, '--backend', 'ebpf', '--config', cfg], { env: { ...process.env, XDG_RUNTIME_DIR: dir }, stdio: ['ignore', 'ignore', 'ignore'] });
    started.push(c);
    return c;
  }

  const events = (): WardenEvent[] => readEvents(log);

  afterEach(async () => {
    for (const pid of spawnSync('pgrep', ['-f', log], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number)) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        /* gone */
      }
    }
    for (let round = 0; round < 10; round++) {
      const pids = spawnSync('pgrep', ['-f', `watch -o ${log}`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
      if (pids.length === 0) break;
      for (const pid of pids) process.kill(pid, 'SIGINT');
      await new Promise((r) => setTimeout(r, 2000));
    }
    for (const c of started) c.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an agent that SIGSTOPs the monitor and its sensor together is undone, and its read reported while it runs', async () => {
    const { home, key, m } = await readyMonitor();
    const loader = loaderOf(m.pid!);
    expect(loader).toBeGreaterThan(0);
    const script = path.join(dir, 'agent.sh');
    fs.writeFileSync(script, ['kill -STOP $WPID $LPID', 'sleep 0.3', `cat ${key} > /dev/null`, 'sleep 6'].join('\n') + '\n');
    const r = run('bash', [script], { env: { PATH: process.env.PATH, HOME: home, WPID: String(m.pid), LPID: String(loader) }, argv0: 'claude' });
    // the agent still runs: its read must be in the log by now
    const read = await until('the read of a still running agent', () => events().find((e) => e.kind === 'file.open' && e.file?.path === key), 5_000).catch(() => undefined);
    const state = spawnSync('sh', ['-c', `grep '^State' /proc/${m.pid}/status /proc/${loader}/status`], { encoding: 'utf8' }).stdout;
    const agent = await r;
    expect(state).not.toMatch(/stopped/);
    expect(read?.severity).toBe('alert');
    // continued by the kernel program where the kernel can send signals from it (6.13)
    const killed = events().filter((e) => e.kind === 'monitor.killed' && e.agent?.root_pid === agent.pid);
    expect(killed.length).toBeGreaterThanOrEqual(1);
    if (kernelResumes) for (const k of killed) expect(k.data?.resumed, k.message).toBe(true);
  }, 150_000);

  it('an agent that kills the monitor again and again, even while it starts, does not end monitoring; its read is reported while it runs', async () => {
    const { home, key, m } = await readyMonitor();
    const script = path.join(dir, 'agent.sh');
    // seven kills in well under a minute (the sensor restarted five a minute at most), the later
    // ones as soon as the next monitor exists, before it has started its own sensor
    fs.writeFileSync(
      script,
      [
        'last=$WPID',
        'for i in 1 2 3 4 5 6 7; do',
        '  kill -9 $last',
        ...nextMonitor('last', 'no monitor after kill $i'),
        '  last=$n; sleep 0.3',
        'done',
        `cat ${key} > /dev/null`,
        'sleep 25',
      ].join('\n') + '\n',
    );
    const r = run('bash', [script], { env: { PATH: process.env.PATH, HOME: home, WPID: String(m.pid), LOG: log }, argv0: 'claude' });
    const read = await until('the read of a still running agent', () => events().find((e) => e.kind === 'file.open' && e.file?.path === key), 40_000).catch(() => undefined);
    const agent = await r;
    expect(agent.out).not.toContain('no monitor after kill');
    expect(read?.severity).toBe('alert');
    await until('the kills', () => events().filter((e) => e.kind === 'monitor.killed' && e.agent?.root_pid === agent.pid).length >= 7 || undefined, 30_000).catch(() => undefined);
    expect(events().filter((e) => e.kind === 'monitor.killed' && e.agent?.root_pid === agent.pid).length).toBeGreaterThanOrEqual(7);
  }, 180_000);

  it('an agent that kills the monitor and sends the restarted one SIGTERM while it starts does not stop it', async () => {
    const { home, key, m } = await readyMonitor();
    const script = path.join(dir, 'agent.sh');
    fs.writeFileSync(
      script,
      [
        'kill -9 $WPID',
        ...nextMonitor('WPID', 'no monitor after the kill'),
        'sleep 0.5; kill -TERM $n',
        'sleep 1; kill -TERM $n',
        'sleep 8',
        `cat ${key} > /dev/null`,
        'sleep 3',
      ].join('\n') + '\n',
    );
    const r = await run('bash', [script], { env: { PATH: process.env.PATH, HOME: home, WPID: String(m.pid), LOG: log }, argv0: 'claude' });
    expect(r.out).not.toContain('no monitor after the kill');
    const read = await until('the read made after the stop requests', () => events().find((e) => e.kind === 'file.open' && e.file?.path === key), 30_000).catch(() => undefined);
    expect(read?.severity).toBe('alert');
    expect(events().filter((e) => e.kind === 'monitor.stop')).toEqual([]);
    expect(events().some((e) => e.kind === 'monitor.signal' && e.data?.signal === 'SIGTERM' && e.agent?.root_pid === r.pid)).toBe(true);
  }, 120_000);

  it('an agent that holds the monitor with ptrace gets it killed and started again; its read is reported while it runs', async () => {
    const { home, key, m } = await readyMonitor();
    const script = path.join(dir, 'agent.py');
    // PTRACE_SEIZE + PTRACE_INTERRUPT: the monitor sits in a tracing stop (no signal to undo)
    fs.writeFileSync(
      script,
      [
        'import ctypes, os, time',
        'libc = ctypes.CDLL(None, use_errno=True)',
        'libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]',
        'pid = int(os.environ["WPID"])',
        'assert libc.ptrace(0x4206, pid, None, None) == 0, ctypes.get_errno()',
        'assert libc.ptrace(0x4207, pid, None, None) == 0, ctypes.get_errno()',
        'time.sleep(0.5)',
        `open(${JSON.stringify(key)}).read()`,
        'time.sleep(20)',
      ].join('\n') + '\n',
    );
    // the interpreter itself: a shim (pyenv) is a script, and a script's exec drops argv[0]
    const python = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
    const r = run(python, [script], { env: { PATH: process.env.PATH, HOME: home, WPID: String(m.pid) }, argv0: 'claude' });
    const read = await until('the read of a still running agent', () => events().find((e) => e.kind === 'file.open' && e.file?.path === key), 18_000).catch(() => undefined);
    const gap = events().find((e) => e.kind === 'monitor.gap');
    await r;
    if (!read) console.log(events().map((e) => `${e.kind} ${e.agent?.root_pid ?? ''} ${e.proc?.pid ?? ''} ${e.file?.path ?? ''} ${e.message.slice(0, 100)}`).join('\n'));
    expect(read?.severity).toBe('alert');
    expect(gap?.data?.respawned, JSON.stringify(gap)).toBe(true);
  }, 150_000);
});
