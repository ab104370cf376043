// Signals to the monitor and its sensor that no process sent with kill(): a file set to signal its
// owner on I/O (F_SETOWN + F_SETSIG, which may name SIGSTOP) raises the signal in whatever task
// makes the file ready, here the monitor writing its reply to an agent's API connection. The guard
// took that task for the sender and let "the monitor stopping its own loader" and "a process
// stopping itself" through: an agent stopped both for good, unreported (attacker round, issue #17).
// Compiled sensor, root.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { loaderOf, readEvents, run, until, WARDEN } from '../helpers/watch.js';

const root = process.getuid?.() === 0;


describe.skipIf(!root)('watch guard: stops raised by the monitor\'s own writes (F_SETSIG)', () => {
  let dir = '';
  let log = '';
  const started: ChildProcess[] = [];

  afterEach(async () => {
    for (const pid of spawnSync('pgrep', ['-f', log], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number))
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        /* gone */
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

  it('an agent whose API connections carry SIGSTOP as their SIGIO does not stop the monitor and its sensor for good, unreported', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-sigio-'));
    fs.chmodSync(dir, 0o755);
    log = path.join(dir, 'events.ndjson');
    const home = path.join(dir, 'home');
    fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
    const key = path.join(home, '.ssh', 'id_ed25519');
    fs.writeFileSync(key, '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n');
    const cfg = path.join(dir, 'watch.yaml');
    fs.writeFileSync(cfg, 'http:\n  listen: "127.0.0.1:0"\n');
    const m = spawn(WARDEN, ['watch', '-o', log, '--backend', 'ebpf', '--config', cfg], { env: { ...process.env, XDG_RUNTIME_DIR: dir }, stdio: ['ignore', 'ignore', 'ignore'] });
    started.push(m);
    const events = (): WardenEvent[] => readEvents(log);
    await until('monitor.ready', () => events().some((e) => e.kind === 'monitor.ready'), 60_000);
    const loader = loaderOf(m.pid!) ?? 0;
    expect(loader).toBeGreaterThan(0);
    const sock = path.join(dir, 'warden', 'warden.sock');
    expect(fs.existsSync(sock)).toBe(true);
    const script = path.join(dir, 'agent.py');
    fs.writeFileSync(
      script,
      [
        'import fcntl, os, socket, signal, time',
        'def arm(owner):',
        '    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
        `    s.connect(${JSON.stringify(sock)})`,
        '    fcntl.fcntl(s, fcntl.F_SETOWN, owner)',
        '    fcntl.fcntl(s, fcntl.F_SETSIG, signal.SIGSTOP)',
        '    fcntl.fcntl(s, fcntl.F_SETFL, fcntl.fcntl(s, fcntl.F_GETFL) | os.O_ASYNC)',
        '    s.send(b\'{"jsonrpc":"2.0","id":1,"method":"ping"}\\n\')',
        '    time.sleep(0.3)',
        '    return s',
        'a = arm(int(os.environ["LPID"]))  # the monitor replies: the loader stops (sender == monitor)',
        'b = arm(int(os.environ["WPID"]))  # the monitor replies: it stops itself (sender == target)',
        'time.sleep(0.3)',
        `open(${JSON.stringify(key)}).read()`,
        'time.sleep(8)',
      ].join('\n') + '\n',
    );
    // the interpreter itself: a shim (pyenv) is a script, and a script's exec drops argv[0]
    const python = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
    const r = run(python, [script], { env: { PATH: process.env.PATH, HOME: home, WPID: String(m.pid), LPID: String(loader) }, argv0: 'claude' });
    const read = await until('the read of a still running agent', () => events().find((e) => e.kind === 'file.open' && e.file?.path === key), 7_000).catch(() => undefined);
    const state = spawnSync('sh', ['-c', `grep '^State' /proc/${m.pid}/status /proc/${loader}/status`], { encoding: 'utf8' }).stdout;
    await r;
    const reported = events().filter((e) => e.kind === 'monitor.killed' || e.kind === 'monitor.signal');
    expect(state).not.toMatch(/stopped/);
    expect(read?.severity).toBe('alert');
    expect(reported.length).toBeGreaterThanOrEqual(1);
  }, 150_000);
});
