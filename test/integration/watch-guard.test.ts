// Issue #17, vector 4: a root agent kills or stops the monitor with shell builtins. Each attempt
// must be noticed and say who did it (`monitor.killed` / `monitor.signal` with the sender in the
// agent's session), the pipeline must come back (the sensor restarts a killed monitor; the
// monitor restarts a killed sensor; a stop request from the agent is refused; SIGSTOP is
// undone), the gap must be in the log and on /metrics, and what the agent did meanwhile must
// still be seen: the kernel side is pinned and keeps recording while nothing reads it.
// Compiled sensor; no systemd (the sensor is the watchdog here).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { loaderOf, readEvents, run, until, WARDEN } from '../helpers/watch.js';

const root = process.getuid?.() === 0;


function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}


function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

describe.skipIf(!root)('a monitor that is killed is noticed and comes back (compiled sensor)', () => {
  let dir: string;
  let log: string;
  let home: string;
  let cfg: string;
  const started: ChildProcess[] = [];
  const key = (n: number) => path.join(home, '.ssh', `id_${n}`);
  let stderr = '';

  function startMonitor(): ChildProcess {
    const c = spawn(WARDEN, ['watch', '-o', log, '--backend', 'ebpf', '--config', cfg], { env: { ...process.env, XDG_RUNTIME_DIR: dir }, stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr!.on('data', (d) => (stderr += d));
    started.push(c);
    return c;
  }

  const events = (): WardenEvent[] => readEvents(log);
  const readyCount = () => events().filter((e) => e.kind === 'monitor.ready').length;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-guard-'));
    fs.chmodSync(dir, 0o755);
    log = path.join(dir, 'events.ndjson');
    home = path.join(dir, 'home');
    fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
    for (let i = 1; i <= 4; i++) fs.writeFileSync(key(i), `-----BEGIN OPENSSH PRIVATE KEY-----\n${i}\n`);
    cfg = path.join(dir, 'watch.yaml');
    fs.writeFileSync(cfg, 'http:\n  listen: "127.0.0.1:0"\n');
  });

  afterAll(async () => {
    // every monitor of this log, the respawned ones included (found by the log in their command
    // line: one may have started after the last event was read), is stopped cleanly
    for (let round = 0; round < 10; round++) {
      const pids = spawnSync('pgrep', ['-f', `watch -o ${log}`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
      if (pids.length === 0) break;
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGINT');
      await new Promise((r) => setTimeout(r, 2000));
    }
    for (const c of started) c.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const agent = (lines: string[], env: Record<string, string>) => {
    const script = path.join(dir, `agent-${Math.random().toString(36).slice(2)}.sh`);
    fs.writeFileSync(script, lines.join('\n') + '\n');
    return run('bash', [script], { env: { PATH: process.env.PATH, HOME: home, ...env }, argv0: 'claude' });
  };

  it('a stop request from the agent is refused, SIGSTOP is undone, a killed sensor is restarted: all reported with the sender', async () => {
    const m = startMonitor();
    await until('monitor.ready', () => readyCount() >= 1, 60_000);
    const loader = loaderOf(m.pid!)!;
    expect(loader).toBeGreaterThan(0);
    const r = await agent(
      ['kill -TERM $WPID', 'sleep 0.5', 'kill -STOP $WPID', 'sleep 1', 'kill -9 $LPID', 'sleep 0.2', `cat ${key(1)} > /dev/null`, 'sleep 3'],
      { WPID: String(m.pid), LPID: String(loader) },
    );
    expect(r.code, r.out).toBe(0);
    await until('the read made while the sensor was down', () => events().find((e) => e.kind === 'file.open' && e.file?.path === key(1)), 20_000);
    expect(m.exitCode).toBeNull();
    const ev = events();
    const session = ev.find((e) => e.kind === 'agent.start' && e.agent?.root_pid === r.pid)?.agent?.session;
    const term = ev.find((e) => e.kind === 'monitor.signal' && e.data?.signal === 'SIGTERM');
    expect(term?.severity).toBe('alert');
    expect(term?.agent?.session).toBe(session);
    const stop = ev.find((e) => e.kind === 'monitor.killed' && e.data?.signal === 'SIGSTOP');
    expect(stop?.agent?.session).toBe(session);
    expect(spawnSync('sh', ['-c', `grep '^State' /proc/${m.pid}/status`], { encoding: 'utf8' }).stdout).not.toMatch(/stopped/);
    const kill = ev.find((e) => e.kind === 'monitor.killed' && e.data?.target === 'sensor' && e.data?.signal === 'SIGKILL');
    expect(kill?.severity).toBe('alert');
    expect(kill?.agent?.session).toBe(session);
    expect((kill?.data?.sender as { pid: number }).pid).toBe(r.pid); // the agent's shell, with the kill builtin
    expect(ev.find((e) => e.kind === 'monitor.gap')).toBeDefined();
    const read = ev.find((e) => e.kind === 'file.open' && e.file?.path === key(1));
    expect(read?.agent?.session).toBe(session);
    expect(read?.severity).toBe('alert');
    // the gap on /metrics
    const addr = /http:\/\/(127\.0\.0\.1:\d+)/.exec(stderr)?.[1];
    expect(addr).toBeDefined();
    const metrics = await get(`http://${addr}/metrics`);
    expect(metrics).toMatch(/warden_monitor_counter\{name="gaps"\} [1-9]/);
    expect(metrics).toMatch(/warden_monitor_counter\{name="monitor_kills"\} [1-9]/);
  }, 120_000);

  it('a sensor killed while it holds a batch loses nothing: what it had not sent waits in the kernel for the next', async () => {
    const current = events().filter((e) => e.kind === 'monitor.ready').pop()!;
    const loader = loaderOf(current.data!.pid as number)!;
    expect(loader).toBeGreaterThan(0);
    // a stream of records first (the loader then hands them over once per batch), the read,
    // and the kill straight after it: the read was recorded but not yet handed over
    const r = await agent(['for i in $(seq 300); do cat /etc/hostname > /dev/null; done', `cat ${key(4)} > /dev/null`, 'kill -9 $LPID', 'sleep 1'], { LPID: String(loader) });
    expect(r.code, r.out).toBe(0);
    const read = await until('the read made just before the kill', () => events().find((e) => e.kind === 'file.open' && e.file?.path === key(4)), 30_000);
    expect(read.severity).toBe('alert');
    expect(read.agent?.root_pid).toBe(r.pid);
  }, 120_000);

  it('a killed monitor is restarted by its sensor; the kill, the gap and what the agent did meanwhile are in the log', async () => {
    const before = readyCount();
    const m = started[started.length - 1]!;
    const r = await agent(['kill -9 $WPID', 'sleep 0.3', `cat ${key(2)} > /dev/null`, 'sleep 1'], { WPID: String(m.pid) });
    expect(r.code, r.out).toBe(0);
    await until('the restarted monitor', () => readyCount() > before, 60_000);
    const killed = await until('monitor.killed of the monitor', () => events().find((e) => e.kind === 'monitor.killed' && e.data?.target === 'monitor' && e.data?.signal === 'SIGKILL'), 30_000);
    expect(killed.severity, JSON.stringify(killed)).toBe('alert');
    expect(killed.agent?.root_pid).toBe(r.pid);
    const gap = events().filter((e) => e.kind === 'monitor.gap').pop();
    expect(gap?.data?.respawned).toBe(true);
    const read = await until('the read made while no monitor ran', () => events().find((e) => e.kind === 'file.open' && e.file?.path === key(2)), 30_000);
    expect(read.severity).toBe('alert');
    expect(read.agent?.root_pid).toBe(r.pid);
    // the records last sent to the dead monitor were sent again to the new one: what the log
    // already had is not written twice
    const all = events();
    const restart = all.findIndex((e, i) => e.kind === 'monitor.ready' && all.slice(0, i).filter((x) => x.kind === 'monitor.ready').length === before);
    const idOf = (e: WardenEvent) => JSON.stringify([e.ts, e.kind, e.proc?.pid, e.file, e.net, e.dns]);
    const logged = new Set(all.slice(0, restart).filter((e) => !e.kind.startsWith('monitor.')).map(idOf));
    expect(restart).toBeGreaterThan(0);
    expect(all.slice(restart).filter((e) => logged.has(idOf(e))).map(idOf)).toEqual([]);
  }, 120_000);

  it('killed together, monitor and sensor leave the kernel recording: the next start reports who did it and what followed', async () => {
    const current = events().filter((e) => e.kind === 'monitor.ready').pop()!;
    const mon = current.data!.pid as number;
    const loader = loaderOf(mon)!;
    expect(loader).toBeGreaterThan(0);
    const before = readyCount();
    // another agent busy meanwhile: the sensor then holds what it reads for a batch window, and
    // is killed holding this agent's start (its session is only known again from the ring
    // buffer, after the kills come from the sensor's list)
    const busy = agent(['for i in $(seq 3000); do cat /etc/hostname > /dev/null; done'], {});
    await new Promise((res) => setTimeout(res, 300));
    const r = await agent(['kill -9 $LPID $WPID', 'sleep 0.3', `cat ${key(3)} > /dev/null`], { WPID: String(mon), LPID: String(loader) });
    expect(r.code, r.out).toBe(0);
    expect((await busy).code).toBe(0);
    await new Promise((res) => setTimeout(res, 3000));
    // nothing restarts it here (no service manager): the user (or systemd) starts it again
    if (readyCount() === before) startMonitor();
    await until('the monitor started again', () => readyCount() > before, 60_000);
    const kills = await until('both kills', () => {
      const k = events().filter((e) => e.kind === 'monitor.killed' && e.agent?.root_pid === r.pid);
      return k.length >= 2 ? k : undefined;
    }, 30_000, () =>
      events()
        .filter((e) => e.kind.startsWith('monitor.') || e.agent?.root_pid === r.pid || e.proc?.pid === r.pid)
        .map((e) => `${e.ts} ${e.kind} ${e.severity} ${e.agent?.root_pid ?? '-'} ${e.proc?.pid ?? '-'} ${e.message ?? ''} ${e.file?.path ?? ''}`.slice(0, 300))
        .join('\n'));
    expect(new Set(kills.map((k) => k.data?.target))).toEqual(new Set(['monitor', 'sensor']));
    const read = await until('the read made while nothing ran', () => events().find((e) => e.kind === 'file.open' && e.file?.path === key(3)), 30_000);
    expect(read.severity).toBe('alert');
  }, 120_000);
});
