// A root agent that sets the system clock: the act is reported (process.clock, alert). The
// compiled sensor's count of library opens trusts no clock (it used inode ctimes against the
// time monitoring began: a clock wound back for a millisecond around the move of a secret into a
// library directory made the secret's reads counted; attacker round at 9315ca3), nor the library
// directories as they are when a sensor restarts (a directory renamed into /usr/lib/locale was
// counted after a restart; attacker round at 5716316): it counts the files recorded when
// monitoring began, by inode and ctime. The clock is set back 90 s for about a millisecond and put
// forward again by the same amount plus the monotonic time that passed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { KERNEL_BACKENDS, loaderOf, run, startWatch, until, type RunningWatch } from '../helpers/watch.js';

const root = process.getuid?.() === 0;
const LIBDIR = fs.existsSync('/usr/lib/x86_64-linux-gnu') ? '/usr/lib/x86_64-linux-gnu' : '/usr/lib';

// step(-90) then mv then step back; a second step through clock_adjtime(ADJ_SETOFFSET); a
// read-only adjtimex; then the moved file read by cat
const AGENT = String.raw`
import ctypes, os, struct, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
def back_and_forth(do):
    r0, m0 = time.clock_gettime(time.CLOCK_REALTIME), time.monotonic()
    time.clock_settime(time.CLOCK_REALTIME, r0 - 90)
    try:
        do()
    finally:
        time.clock_settime(time.CLOCK_REALTIME, r0 + (time.monotonic() - m0))
def setoffset(sec):
    tx = ctypes.create_string_buffer(208)
    struct.pack_into('I', tx, 0, 0x0100 | 0x2000)  # ADJ_SETOFFSET | ADJ_NANO
    struct.pack_into('qq', tx, 72, sec, 0)          # struct timeval time
    if libc.clock_adjtime(0, tx) < 0:
        sys.exit('clock_adjtime: %d' % ctypes.get_errno())
    struct.pack_into('I', tx, 0, 0x1000)            # ADJ_MICRO: as it was
    libc.clock_adjtime(0, tx)
src, dst = sys.argv[1], sys.argv[2]
back_and_forth(lambda: os.rename(src, dst))
setoffset(-30); setoffset(30)
libc.clock_adjtime(0, ctypes.create_string_buffer(208))
subprocess.run(['cat', dst], stdout=subprocess.DEVNULL, check=True)
`;

describe.skipIf(!root).each(KERNEL_BACKENDS)('kernel sensor %s: an agent that sets the system clock', (backend) => {
  let w: RunningWatch;
  let tmp = '';
  let moved = '';
  let events: WardenEvent[] = [];
  let all: WardenEvent[] = [];

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-clock-'));
    const script = path.join(tmp, 'agent.py');
    fs.writeFileSync(script, AGENT);
    const shell = path.join(tmp, 'agent.sh');
    fs.writeFileSync(shell, 'exec python3 "$@"\n');
    const src = path.join(tmp, 'credentials');
    fs.writeFileSync(src, '[default]\naws_secret_access_key = x\n');
    moved = `${LIBDIR}/libwarden-clock-${path.basename(tmp).replace(/[^A-Za-z0-9]/g, '')}.so.1`;
    w = await startWatch(['--backend', backend]);
    const r = await run('bash', [shell, script, src, moved], { env: { PATH: process.env.PATH }, argv0: 'claude' });
    expect(r.code, r.out).toBe(0);
    await w.waitFor((e) => e.kind === 'agent.exit' && e.agent?.root_pid === r.pid, 30_000, 'agent.exit');
    expect(await w.stop()).toBe(0);
    all = w.events();
    events = all.filter((e) => e.agent?.root_pid === r.pid);
  }, 180_000);

  afterAll(async () => {
    await w?.stop();
    if (moved) fs.rmSync(moved, { force: true });
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('reports each setting of the clock as an alert, and a read of its state as nothing', () => {
    const clock = events.filter((e) => e.kind === 'process.clock');
    const calls = clock.map((e) => `${e.data?.call}:${e.data?.sets}:${e.data?.ret}`);
    expect(calls.filter((c) => c === 'clock_settime:true:0')).toHaveLength(2);
    expect(calls.filter((c) => c.startsWith('clock_adjtime:true:'))).toHaveLength(2);
    const alerts = events.filter((e) => e.rule === 'time_clock_set');
    expect(alerts.length).toBe(4);
    expect(alerts.every((e) => e.severity === 'alert')).toBe(true);
    const reads = clock.filter((e) => e.data?.sets === false);
    expect(reads.length).toBeGreaterThanOrEqual(2); // ADJ_MICRO twice, the read-only call
    const readOnly = reads.filter((e) => e.data?.modes === 0);
    expect(readOnly.length).toBe(1);
    expect(readOnly[0]!.rule).toBeUndefined();
  });

  it.runIf(backend === 'ebpf')('measures the step across each call', () => {
    const steps = events.filter((e) => e.kind === 'process.clock' && e.data?.sets === true).map((e) => Number(e.data?.step_ms));
    expect(steps.some((s) => s < -89_000 && s > -91_000), `steps ${steps}`).toBe(true);
    expect(steps.some((s) => s < -29_000 && s > -31_000), `steps ${steps}`).toBe(true);
  });

  it.runIf(backend === 'ebpf')('reports the read of the file moved into a library directory while the clock was back, and still counts the real libraries', () => {
    const read = events.find((e) => e.kind === 'file.open' && e.file?.path === moved && e.proc?.argv[0] === 'cat');
    expect(read, 'the read of the moved file').toBeDefined();
    const catLibs = events.filter((e) => e.kind === 'file.open' && e.proc?.argv[0] === 'cat' && /\/libc\.so/.test(e.file?.path ?? ''));
    expect(catLibs).toEqual([]);
    expect(all.filter((e) => e.kind === 'monitor.degraded')).toEqual([]);
  });
});

// Link a file to a new name keeping the ctime recorded for it: its mode set again (a change that
// clears the multigrain "queried" flag), the clock set to the recorded ctime, the link made in that
// tick, the clock put forward again (attacker round at 01b4627).
const FORGE_LINK = String.raw`
import os, sys, time
src, dst, ctime = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.chmod(src, os.stat(src).st_mode & 0o7777)
r0, m0 = time.clock_gettime_ns(time.CLOCK_REALTIME), time.monotonic_ns()
time.clock_settime_ns(time.CLOCK_REALTIME, ctime)
try:
    os.link(src, dst)
finally:
    time.clock_settime_ns(time.CLOCK_REALTIME, r0 + (time.monotonic_ns() - m0))
print(os.stat(dst).st_ctime_ns == ctime)
`;

describe.skipIf(!root)('compiled sensor: only library files in their own directories, as they were when monitoring began, are counted (a sensor restart too)', () => {
  let w: RunningWatch;
  let tmp = '';
  let moved = '';
  let dataFile = '';
  let linked = '';
  const GCONV = `${LIBDIR}/gconv`;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-libdir-'));
    const tag = path.basename(tmp).replace(/[^A-Za-z0-9]/g, '');
    // a file of a data directory (any name is recorded there) that holds a secret
    if (fs.existsSync(GCONV)) {
      dataFile = `${GCONV}/warden-${tag}`;
      fs.writeFileSync(dataFile, '[default]\naws_secret_access_key = x\n');
      linked = `${LIBDIR}/libwarden-${tag}.so.1`;
    }
    moved = `/usr/lib/locale/warden-${tag}`;
    w = await startWatch(['--backend', 'ebpf']);
  }, 120_000);

  afterAll(async () => {
    await w?.stop();
    for (const f of [moved, dataFile, linked]) if (f) fs.rmSync(f, { recursive: true, force: true });
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it.runIf(fs.existsSync(GCONV))("a recorded file linked into another library directory under a library's name, its ctime kept with the clock: its reads are reported", async () => {
    const script = path.join(tmp, 'forge.py');
    fs.writeFileSync(script, FORGE_LINK);
    const ctime = String(fs.statSync(dataFile, { bigint: true }).ctimeNs);
    const r = await run('bash', ['-c', 'python3 "$1" "$2" "$3" "$4" && cat "$3" > /dev/null && cat "$2" > /dev/null', 'forge', script, dataFile, linked, ctime], { env: { PATH: process.env.PATH }, argv0: 'claude' });
    expect(r.code, r.out).toBe(0);
    expect(r.out.trim(), 'the ctime was kept (else this test proves nothing)').toBe('True');
    await w.waitFor((e) => e.kind === 'agent.exit' && e.agent?.root_pid === r.pid, 30_000, 'agent.exit');
    const reads = w.events().filter((e) => e.kind === 'file.open' && e.agent?.root_pid === r.pid && e.proc?.argv[0] === 'cat').map((e) => e.file?.path);
    expect(reads).toEqual(expect.arrayContaining([linked, dataFile]));
  });

  it('a directory renamed into /usr/lib/locale, then a sensor restart: the reads of its files are reported', async () => {
    const dir = path.join(tmp, 'aws');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'credentials'), '[default]\naws_secret_access_key = x\n');
    const mv = await run('bash', ['-c', 'mv "$1" "$2"', 'mv', dir, moved], { env: { PATH: process.env.PATH }, argv0: 'claude' });
    expect(mv.code, mv.out).toBe(0);
    // the sensor dies (a crash, or a kill from outside the agent's tree) and is restarted
    const monitor = w.child.pid!;
    const loader = await until('the sensor', () => loaderOf(monitor));
    process.kill(loader, 'SIGKILL');
    await w.waitFor((e) => e.kind === 'monitor.sensor_restart', 30_000, 'monitor.sensor_restart');
    await until('the new sensor', () => loaderOf(monitor) !== loader && loaderOf(monitor));
    const cat = await run('bash', ['-c', 'cat "$1/credentials" > /dev/null; cat "$1/credentials" > /dev/null', 'cat', moved], { env: { PATH: process.env.PATH }, argv0: 'claude' });
    expect(cat.code, cat.out).toBe(0);
    await w.waitFor((e) => e.kind === 'agent.exit' && e.agent?.root_pid === cat.pid, 30_000, 'agent.exit');
    const reads = w.events().filter((e) => e.kind === 'file.open' && e.file?.path === `${moved}/credentials` && e.agent?.root_pid === cat.pid);
    expect(reads.length, 'reads of the moved file').toBeGreaterThan(0);
  }, 180_000);
});
