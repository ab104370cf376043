// The rotating audit log: every event accounted for across rotations and gzip, pruning,
// crash leftovers, failing disks and unwritable paths (reported, never thrown).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scanBackups } from '../../src/sinks/audit-files.js';
import { lastSeqInLog, readAuditLog } from '../../src/sinks/audit-reader.js';
import { NdjsonFileSink } from '../../src/sinks/ndjson-file.js';
import type { WardenEvent } from '../../src/events/types.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-filesink-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function ev(seq: number, extra: Partial<WardenEvent> = {}): WardenEvent {
  return {
    ts: new Date().toISOString(),
    seq,
    kind: 'file.open',
    severity: seq % 97 === 0 ? 'alert' : seq % 13 === 0 ? 'warn' : 'info',
    file: { path: `/home/u/project/src/file-${seq}.ts`, op: 'read' },
    proc: { pid: 1000 + (seq % 50), ppid: 1, exe: '/usr/bin/node', argv: ['node', 'x.js'], cwd: '/home/u/project', uid: 1000 },
    ...extra,
  };
}

async function seqs(file: string): Promise<number[]> {
  const out: number[] = [];
  await readAuditLog(file, () => true, (e) => void out.push(e.seq));
  return out;
}

describe('rotating NDJSON file sink', () => {
  it('accounts for every event across rotations, gzip included', async () => {
    const file = path.join(tmp, 'rot', 'events.ndjson');
    const errors: string[] = [];
    const sink = new NdjsonFileSink(file, { maxBytes: 64 * 1024, maxBackups: 0, compress: true, onError: (e, w) => errors.push(`${w}: ${e.message}`) });
    const N = 20_000;
    for (let i = 1; i <= N; i++) {
      sink.write(ev(i));
      if (i % 500 === 0) await new Promise((r) => setImmediate(r)); // let compression interleave
    }
    await sink.close(60_000);
    expect(errors).toEqual([]);
    const scan = scanBackups(file);
    expect(scan.temps).toEqual([]);
    expect(scan.backups.length).toBeGreaterThan(10);
    expect(scan.backups.every((b) => b.gz)).toBe(true);
    for (const b of scan.backups) expect(fs.statSync(b.path).mode & 0o777).toBe(0o600);
    const got = await seqs(file);
    expect(got.length).toBe(N);
    expect(got).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    // No file grows past max_size (lines are never split across files).
    const live = fs.statSync(file).size;
    expect(live).toBeLessThanOrEqual(64 * 1024);
    expect(await lastSeqInLog(file)).toBe(N);
    expect(sink.counters.rotations).toBe(scan.backups.length);
  });

  it('keeps at most max_backups rotated files, removing the oldest', async () => {
    const file = path.join(tmp, 'prune', 'events.ndjson');
    const sink = new NdjsonFileSink(file, { maxBytes: 8 * 1024, maxBackups: 3, compress: false });
    for (let i = 1; i <= 2000; i++) sink.write(ev(i));
    await sink.close();
    const scan = scanBackups(file);
    expect(scan.backups.length).toBe(3);
    const got = await seqs(file);
    // What is left is the newest contiguous tail, ending at the last event.
    expect(got.at(-1)).toBe(2000);
    for (let i = 1; i < got.length; i++) expect(got[i]).toBe(got[i - 1]! + 1);
  });

  it('keeps the uncompressed backup when compression fails, and reports it', async () => {
    const dir = path.join(tmp, 'gzfail');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'events.ndjson');
    const backup = path.join(dir, 'events-20200101T000000.000Z.ndjson');
    fs.writeFileSync(backup, JSON.stringify(ev(1)) + '\n');
    fs.mkdirSync(`${backup}.gz.tmp`); // the compressor cannot create its output
    const errors: string[] = [];
    const sink = new NdjsonFileSink(file, { compress: true, onError: (_e, w) => errors.push(w) });
    await sink.idle();
    await sink.close();
    expect(errors).toContain('compress');
    expect(fs.existsSync(backup)).toBe(true);
    expect(sink.counters.compressFailures).toBe(1);
    expect(await seqs(file)).toEqual([1]);
  });

  it('cleans crash leftovers and resumes compression at start', async () => {
    const dir = path.join(tmp, 'leftover');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'events.ndjson');
    const b1 = path.join(dir, 'events-20200101T000000.000Z.ndjson');
    const b2 = path.join(dir, 'events-20200101T000001.000Z.ndjson');
    fs.writeFileSync(b1, JSON.stringify(ev(1)) + '\n');
    fs.writeFileSync(`${b1}.gz.tmp`, 'partial');
    fs.writeFileSync(b2, JSON.stringify(ev(2)) + '\n');
    const sink = new NdjsonFileSink(file, { compress: true });
    sink.write(ev(3));
    await sink.idle();
    await sink.close();
    const scan = scanBackups(file);
    expect(scan.temps).toEqual([]);
    expect(scan.backups.map((b) => b.gz)).toEqual([true, true]);
    expect(await seqs(file)).toEqual([1, 2, 3]);
  });

  it('reports a full disk once, keeps events buffered and never throws', async () => {
    const errors: Array<{ what: string; code?: string }> = [];
    const sink = new NdjsonFileSink('/dev/full', { onError: (e, w) => errors.push({ what: w, code: (e as NodeJS.ErrnoException).code }) });
    for (let i = 1; i <= 100; i++) sink.write(ev(i, { severity: 'alert' })); // alerts flush at once
    sink.flushSync();
    expect(errors).toEqual([{ what: 'write', code: 'ENOSPC' }]);
    expect(sink.stats().bufferedLines + (sink.stats().bufferedBytes > 0 ? 0 : 0)).toBeGreaterThan(0);
    expect(sink.counters.writeErrors).toBeGreaterThan(1);
    await sink.close(); // reports what it could not write, still no throw
    expect(errors.length).toBe(2);
  });

  it('bounds memory while failing: oldest dropped and counted', async () => {
    const sink = new NdjsonFileSink('/dev/full', { maxPendingBytes: 10_000, onError: () => undefined });
    for (let i = 1; i <= 1000; i++) sink.write(ev(i, { severity: 'alert' }));
    expect(sink.counters.dropped).toBeGreaterThan(900);
    expect(sink.stats().bufferedBytes).toBeLessThanOrEqual(10_000 + 2000);
    await sink.close();
  });

  it('reports an unwritable path instead of crashing, and recovers when it becomes writable', async () => {
    const blocker = path.join(tmp, 'blocker');
    fs.writeFileSync(blocker, 'a file where a directory should be');
    const file = path.join(blocker, 'sub', 'events.ndjson');
    const errors: string[] = [];
    let recovered = false;
    const sink = new NdjsonFileSink(file, { onError: (e, w) => errors.push(`${w}:${(e as NodeJS.ErrnoException).code}`), onRecover: () => (recovered = true) });
    sink.write(ev(1));
    sink.write(ev(2, { severity: 'alert' }));
    expect(errors[0]).toMatch(/^open:(ENOTDIR|EEXIST)$/);
    expect(errors.length).toBe(1);
    fs.rmSync(blocker);
    sink.flushSync();
    expect(recovered).toBe(true);
    await sink.close();
    expect(await seqs(file)).toEqual([1, 2]);
  });

  it('applies new options on reload without losing buffered events', async () => {
    const file = path.join(tmp, 'reload', 'events.ndjson');
    const sink = new NdjsonFileSink(file, { maxBytes: 0, flushIntervalMs: 60_000 });
    for (let i = 1; i <= 100; i++) sink.write(ev(i));
    sink.reconfigure({ maxBytes: 4096, maxBackups: 0, compress: false, minSeverity: 'info' });
    for (let i = 101; i <= 300; i++) sink.write(ev(i));
    await sink.close();
    expect(await seqs(file)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(scanBackups(file).backups.length).toBeGreaterThan(3);
  });

  it('filters by min_severity', async () => {
    const file = path.join(tmp, 'sev', 'events.ndjson');
    const sink = new NdjsonFileSink(file, { minSeverity: 'warn' });
    for (let i = 1; i <= 200; i++) sink.write(ev(i));
    await sink.close();
    const got = await seqs(file);
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => i + 1).filter((i) => i % 13 === 0 || i % 97 === 0));
  });
});
