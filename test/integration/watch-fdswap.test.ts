// The descriptor an open returns, replaced by another thread before the call returns (attacker
// round 7): thread B spins on the slot the kernel is about to fill (fcntl fails with EBADF until
// then) and dup2()s a decoy onto it, so the sensor, which reads the file at that slot in the
// call's exit tracepoint, saw the decoy: a read of a key reported as a repeat read of an innocent
// file (folded away), a read-write open of a file as a load of a library (counted away). Every
// raced open must be accounted for: as what it opened, or as an open whose descriptor another
// thread filled (compiled sensor: an `evasion_open_fd_replaced` alert naming what was asked for).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { noCompiler } from '../helpers/cc.js';
import { KERNEL_BACKENDS, run, startWatch, type RunningWatch } from '../helpers/watch.js';

const root = process.getuid?.() === 0;
const SRC = path.resolve(__dirname, 'helpers', 'fd-swap.c');
const ITERS = 2000;

const noCc = noCompiler();
if (noCc) console.warn(`watch-fdswap: skipped: ${noCc}`);

/** The C library this process loaded: a file the sensor records as a library at start. */
function libc(): string {
  const line = fs.readFileSync('/proc/self/maps', 'utf8').split('\n').find((l) => /\/libc\.so\.6$/.test(l));
  return line ? line.slice(line.indexOf('/')) : '/usr/lib/x86_64-linux-gnu/libc.so.6';
}

describe.skipIf(!root || !!noCc).each(KERNEL_BACKENDS)('kernel sensor %s: an open whose descriptor another thread filled', (backend) => {
  let w: RunningWatch;
  let tmp = '';
  let key = '';
  let work = '';
  let closed = '';
  let out = '';
  let events: WardenEvent[] = [];

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-fdswap-'));
    fs.chmodSync(tmp, 0o755);
    const home = path.join(tmp, 'home');
    key = path.join(home, '.ssh', 'id_ed25519');
    fs.mkdirSync(path.dirname(key), { recursive: true });
    fs.writeFileSync(key, '-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n');
    const innocent = path.join(tmp, 'innocent.txt');
    fs.writeFileSync(innocent, 'innocent\n');
    work = path.join(tmp, 'work.txt');
    fs.writeFileSync(work, 'data\n');
    const marker = path.join(tmp, 'marker.txt');
    fs.writeFileSync(marker, 'done\n');
    const bin = path.join(tmp, 'fd-swap');
    execFileSync('cc', ['-O2', '-pthread', '-o', bin, SRC]);
    const script = path.join(tmp, 'agent.sh');
    // The compiled sensor reports the kernel's path: a long walk (the attacker's way to land the
    // swap often) is fine. bpftrace reports the path as given, cut past ~200 bytes: a short one.
    const race = backend === 'ebpf' ? '1500 5000' : '0 5000';
    closed = path.join(home, '.aws', 'credentials');
    fs.mkdirSync(path.dirname(closed), { recursive: true });
    fs.writeFileSync(closed, '[default]\naws_secret_access_key = fake\n');
    fs.writeFileSync(script, [`${bin} r "$HOME/.ssh/id_ed25519" ${innocent} ${ITERS} ${race}`, `${bin} w ${work} ${libc()} ${ITERS} ${race}`, `${bin} c "$HOME/.aws/credentials" ${innocent} ${ITERS} 0 0`, `cat ${marker} >/dev/null`].join('\n') + '\n');
    w = await startWatch(['--backend', backend]);
    const r = await run('bash', [script], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: home }, argv0: 'claude', cwd: tmp });
    expect(r.code, r.out).toBe(0);
    out = r.out;
    const agentPid = r.pid;
    await w.waitFor((e) => e.kind === 'file.open' && e.file?.path === marker && e.agent?.root_pid === agentPid, 60_000, 'the marker read');
    await w.waitFor((e) => e.kind === 'agent.exit' && e.agent?.root_pid === agentPid, 30_000, 'agent.exit');
    expect(await w.stop()).toBe(0);
    events = w.events().filter((e) => e.agent?.root_pid === agentPid);
  }, 300_000);

  afterAll(async () => {
    await w?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** Opens of `target` the events account for: reported as it, asked for as it, or counted as its repeats. */
  const accounted = (target: string) =>
    events.filter((e) => e.kind === 'file.open' && (e.file?.path === target || e.file?.requested === target)).length +
    events.filter((e) => e.kind === 'file.repeat' && e.file?.path === target).reduce((n, e) => n + Number((e.data as { count?: number } | undefined)?.count ?? 0), 0);

  it('the race ran (the helper opened every time; the swap landed)', () => {
    const runs = [...out.matchAll(/^iters=(\d+) opened=(\d+) swapped=(\d+)$/gm)].map((m) => m.slice(1).map(Number));
    expect(runs.length).toBe(3);
    for (const [iters, opened, swapped] of runs.slice(0, 2)) {
      expect(opened).toBe(iters);
      expect(swapped).toBeGreaterThan(0);
    }
    expect(runs[2]![1]).toBe(ITERS);
  });

  it('every read of the key is accounted for, none hidden behind the decoy', () => {
    expect(accounted(key)).toBe(ITERS);
  });

  it('every read-write open is accounted for, none counted as a library load', () => {
    expect(accounted(work)).toBe(ITERS);
    const opens = events.filter((e) => e.kind === 'file.open' && e.file?.path === work);
    expect(opens.every((e) => e.file?.op === 'write')).toBe(true);
  });

  it('an open whose descriptor another thread closed is accounted for, flagged and an alert', () => {
    expect(accounted(closed)).toBe(ITERS);
    const flagged = events.filter((e) => e.kind === 'file.open' && (e.data as { fd_replaced?: unknown } | undefined)?.fd_replaced === 'closed');
    expect(flagged.length).toBeGreaterThan(0);
    expect(flagged.every((e) => [e.rule, ...(e.also ?? [])].includes('evasion_open_fd_replaced'))).toBe(true);
  });

  it('an open answered with the decoy is flagged; the compiled sensor, which names the file by what the kernel opened, makes it an alert naming what was asked for', () => {
    const flagged = events.filter((e) => e.kind === 'file.open' && (e.data as { fd_replaced?: unknown } | undefined)?.fd_replaced === true);
    expect(flagged.length).toBeGreaterThan(0);
    const alerts = events.filter((e) => (e.data as { fd_replaced?: unknown } | undefined)?.fd_replaced === true && [e.rule, ...(e.also ?? [])].includes('evasion_open_fd_replaced'));
    // bpftrace reports the path the call was given: the decoy cannot take its name, no alert is due
    if (backend === 'ebpf') expect(alerts.length).toBeGreaterThan(0);
    else expect(alerts).toEqual([]);
    expect(alerts.every((e) => e.file?.requested === key || e.file?.requested === work)).toBe(true);
  });
});
