// The reaping of pinned sensor state nobody will adopt: a monitor is identified by pid and
// start time, so a reused pid does not keep a dead monitor's kernel programs attached.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADOPT_MS, reapStale } from '../../src/sensors/ebpf/pins.js';
import { procStartTime } from '../../src/util/proc-stat.js';

let dir: string;
let dirs: { registry: string; pins: string };

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-pins-'));
  dirs = { registry: path.join(dir, 'run'), pins: path.join(dir, 'bpf') };
  fs.mkdirSync(dirs.registry);
  fs.mkdirSync(dirs.pins);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function instance(id: string, entry: Record<string, unknown>): void {
  fs.writeFileSync(path.join(dirs.registry, `${id}.json`), JSON.stringify({ created: new Date().toISOString(), ...entry }));
  fs.mkdirSync(path.join(dirs.pins, id, 'links'), { recursive: true });
}

describe('reapStale', () => {
  it('reaps an instance whose pid now belongs to another process (start time differs)', () => {
    const start = procStartTime(process.pid)!;
    instance('reused', { log: path.join(dir, 'gone.ndjson'), monitor_pid: process.pid, monitor_start: start + 1 });
    expect(reapStale(undefined, dirs)).toEqual(['reused']);
    expect(fs.existsSync(path.join(dirs.pins, 'reused'))).toBe(false);
    expect(fs.existsSync(path.join(dirs.registry, 'reused.json'))).toBe(false);
  });

  it('keeps an instance whose monitor still runs', () => {
    instance('live', { log: path.join(dir, 'gone.ndjson'), monitor_pid: process.pid, monitor_start: procStartTime(process.pid) });
    expect(reapStale(undefined, dirs)).toEqual([]);
    expect(fs.existsSync(path.join(dirs.pins, 'live'))).toBe(true);
  });

  it('keeps an instance whose audit log exists for its next monitor to adopt, for ADOPT_MS', () => {
    const log = path.join(dir, 'events.ndjson');
    fs.writeFileSync(log, '');
    instance('kept', { log, monitor_pid: 999_999_999 });
    expect(reapStale(undefined, dirs)).toEqual([]);
    // its monitor's last heartbeat longer ago than that: nobody is coming
    const old = new Date(Date.now() - ADOPT_MS - 60_000);
    fs.utimesSync(path.join(dirs.registry, 'kept.json'), old, old);
    expect(reapStale(undefined, dirs)).toEqual(['kept']);
  });

  it('reaps an entry without a start time when its pid is not a warden monitor', () => {
    // this test's own process is vitest, not `warden watch`
    instance('old', { log: path.join(dir, 'gone.ndjson'), monitor_pid: process.pid });
    expect(reapStale(undefined, dirs)).toEqual(['old']);
  });

  it('skips the caller’s own instance and unreadable entries', () => {
    instance('mine', { log: path.join(dir, 'gone.ndjson'), monitor_pid: 999_999_999 });
    fs.writeFileSync(path.join(dirs.registry, 'bad.json'), '{');
    expect(reapStale('mine', dirs)).toEqual([]);
  });

  it('removes a spool, in-flight buffer or respawn log left without its instance after an hour, not before', () => {
    const old = new Date(Date.now() - 2 * 3_600_000);
    for (const f of ['a.spool', 'b.log', 'c.spool', 'd.spool.inflight', 'e.spool.inflight']) fs.writeFileSync(path.join(dirs.registry, f), 'x');
    for (const f of ['a.spool', 'b.log', 'd.spool.inflight']) fs.utimesSync(path.join(dirs.registry, f), old, old);
    reapStale(undefined, dirs);
    expect(fs.readdirSync(dirs.registry).sort()).toEqual(['c.spool', 'e.spool.inflight']);
  });
});
