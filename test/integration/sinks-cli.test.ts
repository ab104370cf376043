// `warden events` over a rotated, gzip-compressed audit log (filters, table, JSON, --last,
// --follow across rotations) and `warden service` on a host without systemd.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { scanBackups } from '../../src/sinks/audit-files.js';
import { NdjsonFileSink } from '../../src/sinks/ndjson-file.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-cli-'));
const bin = path.resolve('bin/warden');
const file = path.join(tmp, 'log', 'events.ndjson');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
function ev(seq: number): WardenEvent {
  const alert = seq % 50 === 0;
  return {
    ts: new Date(T0 + seq * 1000).toISOString(),
    seq,
    kind: seq % 3 === 0 ? 'net.connect' : 'file.open',
    severity: alert ? 'alert' : seq % 7 === 0 ? 'warn' : 'info',
    ...(alert ? { rule: 'secret.read', category: 'credential_access' as const, message: `reads secret ${seq}` } : {}),
    ...(seq % 7 === 0 && !alert ? { rule: 'net.unexpected' } : {}),
    agent: { name: seq % 2 ? 'claude' : 'codex', root_pid: seq % 2 ? 100 : 200, session: seq % 2 ? 's-claude' : 's-codex' },
    proc: { pid: 1000 + seq, ppid: 1, exe: '/bin/cat', argv: ['cat', `f${seq}`], cwd: '/p', uid: 1000 },
    file: { path: `/p/f${seq}`, op: 'read' },
  };
}
const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });

beforeAll(async () => {
  const sink = new NdjsonFileSink(file, { maxBytes: 16 * 1024, maxBackups: 0, compress: true });
  for (let i = 1; i <= 1000; i++) sink.write(ev(i));
  await sink.idle();
  await sink.close();
  const b = scanBackups(file).backups;
  expect(b.length).toBeGreaterThan(5);
  expect(b.every((x) => x.gz)).toBe(true);
});

describe('warden events', () => {
  it('reads every event across gz backups and the live file, in order (JSON)', () => {
    const r = run(['events', '--file', file, '--json']);
    expect(r.status).toBe(0);
    const seqs = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as WardenEvent).seq);
    expect(seqs).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
  });

  it('filters by time range, severity, agent, rule and kind', () => {
    const since = new Date(T0 + 100_000).toISOString();
    const until = new Date(T0 + 400_000).toISOString();
    const r = run(['events', '--file', file, '--json', '--since', since, '--until', until, '--severity', 'alert', '--agent', 'codex', '--kind', 'file']);
    expect(r.status).toBe(0);
    const got = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as WardenEvent);
    const want = Array.from({ length: 1000 }, (_, i) => ev(i + 1)).filter(
      (e) => e.seq >= 100 && e.seq < 400 && e.severity === 'alert' && e.agent!.name === 'codex' && e.kind === 'file.open',
    );
    expect(want.length).toBeGreaterThan(0);
    expect(got.map((e) => e.seq)).toEqual(want.map((e) => e.seq));
    const byRule = run(['events', '--file', file, '--json', '--rule', 'net.*', '--last', '3']);
    expect(byRule.stdout.trim().split('\n').map((l) => (JSON.parse(l) as WardenEvent).rule)).toEqual(['net.unexpected', 'net.unexpected', 'net.unexpected']);
  });

  it('prints a table and reports bad usage / a missing log with the right exit codes', () => {
    const r = run(['events', '--file', file, '--severity', 'alert', '--last', '2']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^2026-03-01 10:16:40\.000\s+ALERT\s+secret\.read\s+codex\[200\]\s+2000\s+reads secret 1000$/);
    expect(run(['events', '--file', file, '--severity', 'loud']).status).toBe(2);
    expect(run(['events', '--file', file, '--since', 'yesterday-ish']).status).toBe(2);
    const missing = run(['events', '--file', path.join(tmp, 'nope.ndjson')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/no audit log/);
    const dir = run(['events', '--file', tmp]); // it was "warden: Error: EISDIR…", exit 1
    expect(dir.status).toBe(2);
    expect(dir.stderr).toContain(`${tmp} is a directory; pass the audit log file`);
  });

  it('--follow on a log that does not exist yet says it is waiting for it, then prints it', async () => {
    const f3 = path.join(tmp, 'later', 'events.ndjson');
    const child = spawn(process.execPath, [bin, 'events', '--file', f3, '--json', '--follow'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const until = async (cond: () => boolean) => {
      const end = Date.now() + 30_000;
      while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    };
    try {
      await until(() => err.includes('waiting'));
      expect(err).toContain(`no audit log at ${f3} yet; waiting for it`);
      const sink = new NdjsonFileSink(f3, { flushIntervalMs: 20 });
      sink.write(ev(1));
      await sink.close();
      await until(() => out.includes('"seq":1'));
      expect(JSON.parse(out.trim()).seq).toBe(1);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('--follow prints new events across rotations without gaps or repeats', async () => {
    const f2 = path.join(tmp, 'follow', 'events.ndjson');
    const sink = new NdjsonFileSink(f2, { maxBytes: 8 * 1024, maxBackups: 0, compress: true, flushIntervalMs: 20 });
    for (let i = 1; i <= 100; i++) sink.write(ev(i));
    sink.flushSync();
    const child = spawn(process.execPath, [bin, 'events', '--file', f2, '--json', '--follow'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    const count = () => out.split('\n').filter(Boolean).length;
    const until = async (n: number) => {
      const end = Date.now() + 30_000;
      while (count() < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    };
    try {
      await until(100);
      // Write in bursts so several rotations happen between two polls of the follower.
      for (let i = 101; i <= 1500; i++) {
        sink.write(ev(i));
        if (i % 100 === 0) await new Promise((r) => setTimeout(r, 30));
      }
      sink.flushSync();
      await until(1500);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await sink.close();
    }
    const seqs = out.trim().split('\n').map((l) => (JSON.parse(l) as WardenEvent).seq);
    expect(seqs).toEqual(Array.from({ length: 1500 }, (_, i) => i + 1));
    expect(sink.counters.rotations).toBeGreaterThan(5);
  });
});

describe('warden service', () => {
  it('without systemd: explains what to do, changes nothing, exits 1', () => {
    if (fs.existsSync('/run/systemd/system')) return void console.warn('skipped: this host runs systemd');
    const unit = '/etc/systemd/system/warden.service';
    const before = fs.existsSync(unit);
    const r = run(['service', 'install']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/systemd is not running/);
    expect(r.stderr).toMatch(/warden watch/);
    expect(fs.existsSync(unit)).toBe(before);
    const u = run(['service', 'uninstall', '--user']);
    expect(u.status).toBe(1);
    expect(u.stderr).toMatch(/systemd is not running/);
  });

  it('--dir writes a unit (system and user) with absolute paths, and removes it', () => {
    const cfg = path.join(tmp, 'watch config.yaml');
    fs.writeFileSync(cfg, 'rules: { min_severity: warn }\n');
    for (const user of [false, true]) {
      const dir = path.join(tmp, user ? 'user-units' : 'units');
      const r = run(['service', 'install', '--dir', dir, '--config', cfg, ...(user ? ['--user'] : [])]);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/wrote .*warden\.service/);
      const text = fs.readFileSync(path.join(dir, 'warden.service'), 'utf8');
      const exec = /^ExecStart=(.*)$/m.exec(text)![1]!;
      expect(exec).toBe(`${process.execPath} ${bin} watch --config "${cfg}" --quiet`);
      expect(text).toMatch(user ? /^WantedBy=default\.target$/m : /^WantedBy=multi-user\.target$/m);
      expect(/^LimitMEMLOCK=infinity$/m.test(text)).toBe(!user);
      const rm = run(['service', 'uninstall', '--dir', dir, ...(user ? ['--user'] : [])]);
      expect(rm.status).toBe(0);
      expect(fs.existsSync(path.join(dir, 'warden.service'))).toBe(false);
    }
    expect(run(['service', 'install', '--dir', tmp, '--config', path.join(tmp, 'missing.yaml')]).status).toBe(2);
  });

  it('refuses a config watch would refuse, and reports an unwritable --dir plainly (it was a stack trace)', () => {
    const bad = path.join(tmp, 'bad-service.yaml');
    fs.writeFileSync(bad, 'rules:\n  min_severity: loud\n');
    const r = run(['service', 'install', '--dir', path.join(tmp, 'units-bad'), '--config', bad]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${bad}:2: rules.min_severity`);
    expect(fs.existsSync(path.join(tmp, 'units-bad', 'warden.service'))).toBe(false);
    const file = path.join(tmp, 'not-a-dir');
    fs.writeFileSync(file, '');
    const w = run(['service', 'install', '--dir', file]);
    expect(w.status).toBe(1);
    expect(w.stderr).toContain(`cannot write ${file}/warden.service: EEXIST`);
    expect(w.stderr).not.toMatch(/\n\s+at /);
  });
});
