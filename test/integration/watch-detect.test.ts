// Agent detection paths of `warden watch`: running before the monitor started (/proc scan,
// with descendants), a node CLI recognised by its script path, a process that renames
// itself, a custom signature from the config; plus sensor restart, degraded mode without
// root, and config errors.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KERNEL_BACKENDS, readEvents, run, startWatch, WARDEN, type RunningWatch } from '../helpers/watch.js';

const root = process.getuid?.() === 0;
const children: ChildProcess[] = [];
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-detect-'));
  fs.chmodSync(tmp, 0o777);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

function background(cmd: string, args: string[], opts: { argv0?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
  const c = spawn(cmd, args, { stdio: 'ignore', argv0: opts.argv0, env: opts.env ?? process.env });
  children.push(c);
  return c;
}

describe.skipIf(!root).each(KERNEL_BACKENDS)('agent detection (kernel sensor %s)', (backend) => {
  let w: RunningWatch;
  let early: ChildProcess;
  let earlyChild: number;

  beforeAll(async () => {
    // An agent that is already running, with a child, before the monitor starts.
    early = background('bash', ['-c', 'sleep 300 & wait'], { argv0: 'claude' });
    for (let i = 0; i < 50 && !earlyChild; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const kids = fs.existsSync(`/proc/${early.pid}/task/${early.pid}/children`)
        ? fs.readFileSync(`/proc/${early.pid}/task/${early.pid}/children`, 'utf8').trim()
        : '';
      if (kids) earlyChild = Number(kids.split(' ')[0]);
    }
    const cfg = path.join(tmp, 'watch.yaml');
    fs.writeFileSync(cfg, 'agents:\n  - name: my-agent\n    binary: my-agent\n    args_regex: "--serve"\n');
    w = await startWatch(['--config', cfg, '--backend', backend]);
  }, 120_000);

  afterAll(async () => {
    early?.kill('SIGKILL');
    await w?.stop();
  });

  it('finds an agent that was running before it started, with its descendants', async () => {
    const start = await w.waitFor((e) => e.kind === 'agent.start' && e.agent?.root_pid === early.pid, 10_000, 'scanned agent');
    expect(start.data?.detected_by).toBe('scan');
    // its pre-existing child is attributed: kill it and expect the exit in the session
    process.kill(earlyChild, 'SIGTERM');
    const exit = await w.waitFor((e) => e.kind === 'process.exit' && e.proc?.pid === earlyChild, 10_000, 'exit of the child');
    expect(exit.agent?.root_pid).toBe(early.pid);
  });

  it('recognises a node CLI by its script path', async () => {
    const dir = path.join(tmp, 'node_modules', '@anthropic-ai', 'claude-code');
    fs.mkdirSync(dir, { recursive: true });
    const cli = path.join(dir, 'cli.js');
    fs.writeFileSync(cli, "require('fs').readFileSync('/etc/hostname'); setTimeout(() => {}, 300);\n");
    const r = await run(process.execPath, [cli]);
    expect(r.code).toBe(0);
    const start = await w.waitFor((e) => e.kind === 'agent.start' && e.agent?.root_pid === r.pid, 10_000, 'node agent');
    expect(start.agent?.name).toBe('claude');
    await w.waitFor((e) => e.kind === 'file.open' && e.file?.path === '/etc/hostname' && e.agent?.root_pid === r.pid, 10_000, 'its file read');
  });

  it('recognises a process that renames itself to an agent name', async () => {
    const r = await run(process.execPath, ['-e', "process.title = 'claude'; setTimeout(() => require('fs').readFileSync('/etc/os-release'), 200); setTimeout(() => {}, 400);"]);
    expect(r.code).toBe(0);
    const start = await w.waitFor((e) => e.kind === 'agent.start' && e.agent?.root_pid === r.pid, 10_000, 'renamed agent');
    expect(start.data?.detected_by).toBe('rename');
    // /etc/os-release is a symlink: `path` is the file the kernel opened, `requested` what was asked for
    await w.waitFor((e) => e.kind === 'file.open' && (e.file?.requested ?? e.file?.path) === '/etc/os-release' && e.agent?.root_pid === r.pid, 10_000, 'read after rename');
  });

  it('uses custom signatures from the config (binary and argument regex)', async () => {
    const script = path.join(tmp, 'custom.sh');
    fs.writeFileSync(script, 'cat /etc/hostname >/dev/null\n');
    const hit = await run('bash', [script, '--serve'], { argv0: 'my-agent' });
    const miss = await run('bash', [script, '--once'], { argv0: 'my-agent' });
    const start = await w.waitFor((e) => e.kind === 'agent.start' && e.agent?.root_pid === hit.pid, 10_000, 'custom agent');
    expect(start.agent?.name).toBe('my-agent');
    await new Promise((r) => setTimeout(r, 500));
    expect(w.events().some((e) => e.agent?.root_pid === miss.pid)).toBe(false);
  });

  it('restarts a sensor that dies, says so, and keeps seeing events', async () => {
    const pattern = backend === 'ebpf' ? 'warden-sensor' : 'setpriv|bpftrace';
    const bpf = spawnSync('pgrep', ['-f', '-P', String(w.child.pid), pattern], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
    expect(bpf.length).toBeGreaterThan(0);
    for (const pid of bpf) process.kill(Number(pid), 'SIGKILL');
    await w.waitFor((e) => e.kind === 'monitor.sensor_died', 10_000, 'sensor_died');
    await w.waitFor((e) => e.kind === 'monitor.sensor_restart', 60_000, 'sensor_restart');
    const r = await run('bash', ['-c', 'cat /etc/hostname >/dev/null'], { argv0: 'claude' });
    await w.waitFor((e) => e.kind === 'file.open' && e.file?.path === '/etc/hostname' && e.agent?.root_pid === r.pid, 10_000, 'event after restart');
  }, 90_000);
});

describe('degraded mode and errors', () => {
  it.skipIf(!root)('runs without root as a /proc poller and says what it cannot see', async () => {
    const w = await startWatch([], { uid: 65534 });
    try {
      const ready = w.events().find((e) => e.kind === 'monitor.ready')!;
      expect(ready.data).toMatchObject({ backend: 'procfs', degraded: true });
      const deg = w.events().find((e) => e.kind === 'monitor.degraded');
      expect(deg?.severity).toBe('warn');
      expect(String(deg?.data?.reason)).toContain('root');
      expect(w.stderr()).toContain('DEGRADED');
      expect(w.stderr()).toContain('cannot see');
      // a long-lived agent of the same user is still found
      const agent = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', '-c', 'exec -a claude sleep 3'], { stdio: 'ignore' });
      children.push(agent);
      await w.waitFor((e) => e.kind === 'agent.start' && e.agent?.name === 'claude', 10_000, 'agent found by polling');
    } finally {
      expect(await w.stop()).toBe(0);
    }
  }, 60_000);

  it.skipIf(!root)('a kernel backend asked for by name that cannot run here is refused plainly (exit 2), and watch exits', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'nobody-'));
    fs.chmodSync(dir, 0o777);
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, WARDEN, 'watch', '--backend', 'bpftrace', '-o', path.join(dir, 'out.ndjson')], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, HOME: dir, XDG_RUNTIME_DIR: dir, XDG_STATE_HOME: dir },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('cannot use the bpftrace backend: not running as root');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it.skipIf(!root)('a degraded watch without an API socket keeps running until a signal (it exited 0 at once, writing nothing)', async () => {
    const cfg = path.join(tmp, 'no-api.yaml');
    fs.writeFileSync(cfg, 'api:\n  enabled: false\n');
    fs.chmodSync(cfg, 0o644);
    const w = await startWatch(['--config', cfg], { uid: 65534 });
    try {
      const agent = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', '-c', 'exec -a claude sleep 3'], { stdio: 'ignore' });
      children.push(agent);
      await w.waitFor((e) => e.kind === 'agent.start' && e.agent?.name === 'claude', 10_000, 'agent found by polling');
    } finally {
      expect(await w.stop()).toBe(0);
    }
    expect(w.events().some((e) => e.kind === 'monitor.stop')).toBe(true);
  }, 60_000);

  it.skipIf(!root)('a second watch writing the same audit log is refused while the first runs; the lock goes with the first', async () => {
    const w = await startWatch();
    try {
      const before = readEvents(w.file).length;
      const r = spawnSync(WARDEN, ['watch', '-o', w.file], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, XDG_RUNTIME_DIR: fs.mkdtempSync(path.join(tmp, 'rt-')) } });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`${w.file} is already written by another warden (pid `);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      // the second one wrote nothing into the first one's log
      expect(readEvents(w.file).filter((e) => e.kind === 'monitor.ready')).toHaveLength(1);
      expect(readEvents(w.file).length).toBeGreaterThanOrEqual(before);
    } finally {
      expect(await w.stop()).toBe(0);
    }
    expect(fs.existsSync(`${w.file}.lock`)).toBe(false);
  }, 90_000);

  it.skipIf(!root)('SIGTERM while the sensor is still attaching ends cleanly: exit 0, monitor.stop written', async () => {
    const out = path.join(tmp, 'early-stop.ndjson');
    const rt = fs.mkdtempSync(path.join(tmp, 'rt-'));
    const child = spawn(WARDEN, ['watch', '-o', out, '--quiet'], { env: { ...process.env, XDG_RUNTIME_DIR: rt }, stdio: 'ignore' });
    children.push(child);
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    // The audit log opens before the sensor attaches (which takes a second or more).
    for (let i = 0; i < 600 && !fs.existsSync(out); i++) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const kinds = readEvents(out).map((e) => e.kind);
    expect(kinds).toContain('monitor.stop');
  }, 60_000);

  it('refuses a bad config with file, line and key, exit 2', () => {
    const cfg = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(cfg, 'agents: []\nrules:\n  min_severity: loud\n');
    const r = spawnSync(WARDEN, ['watch', '--config', cfg, '-o', path.join(tmp, 'x.ndjson')], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${cfg}:3`);
    expect(r.stderr).toContain('rules.min_severity');
    expect(readEvents(path.join(tmp, 'x.ndjson'))).toEqual([]);
  });

  it('refuses an unreadable http.token_file plainly (exit 2) and exits instead of hanging on its API socket', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'token-'));
    const cfg = path.join(dir, 'watch.yaml');
    fs.writeFileSync(cfg, `api:\n  socket: ${dir}/api/warden.sock\nhttp:\n  listen: "127.0.0.1:0"\n  token_file: ${dir}/missing.token\n`);
    const r = spawnSync(WARDEN, ['watch', '--config', cfg, '-o', path.join(dir, 'x.ndjson')], { encoding: 'utf8', timeout: 30_000 });
    expect(r.signal).toBeNull(); // not killed by the timeout
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('http.token_file: cannot read: ENOENT');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(`${dir}/api/warden.sock`)).toBe(false);
  });

  it('exits 2 on an unknown option', () => {
    const r = spawnSync(WARDEN, ['watch', '--no-such-flag'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    // an unknown backend is refused before any output exists (nothing else printed first)
    const out = path.join(tmp, 'bogus.ndjson');
    const b = spawnSync(WARDEN, ['watch', '--backend', 'bogus', '-o', out], { encoding: 'utf8', env: { ...process.env, XDG_RUNTIME_DIR: tmp } });
    expect(b.status).toBe(2);
    expect(b.stderr).toBe('warden: unknown sensor backend "bogus" (expected auto, ebpf, bpftrace, procfs)\n');
    expect(fs.existsSync(out)).toBe(false);
  });
});
