// The audit log under process death and a full disk, with real processes and a real tmpfs:
// SIGKILL loses at most the unflushed buffer (never more than one flush interval / buffer),
// a restart resumes numbering and cleans up, SIGTERM loses nothing, ENOSPC is survived.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { scanBackups } from '../../src/sinks/audit-files.js';
import { readAuditLog } from '../../src/sinks/audit-reader.js';
import { NdjsonFileSink } from '../../src/sinks/ndjson-file.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-durable-'));
const children: ChildProcess[] = [];
let mounted: string | undefined;
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (mounted) execFileSync('umount', ['-l', mounted]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

const writer = path.join(tmp, 'writer.mjs');
fs.writeFileSync(
  writer,
  `import fs from 'node:fs';
import { NdjsonFileSink } from ${JSON.stringify(path.resolve('dist/sinks/ndjson-file.js'))};
import { lastSeqInLog } from ${JSON.stringify(path.resolve('dist/sinks/audit-reader.js'))};
const [file, progress] = process.argv.slice(2);
const env = process.env;
let seq = await lastSeqInLog(file);
const first = seq + 1;
const sink = new NdjsonFileSink(file, { flushIntervalMs: Number(env.FLUSH_MS), maxBufferBytes: Number(env.BUF), maxBytes: Number(env.MAX), maxBackups: 0, compress: true, onError: (e, w) => process.stderr.write(w + ': ' + e.message + '\\n') });
const pfd = fs.openSync(progress, 'w');
const count = Number(env.COUNT);
process.on('SIGTERM', async () => { await sink.close(); process.exit(0); });
const step = () => {
  for (let i = 0; i < 100 && (count === 0 || seq < first - 1 + count); i++) {
    seq++;
    sink.write({ ts: new Date().toISOString(), seq, kind: 'file.open', severity: 'info', file: { path: '/home/u/p/f' + seq, op: 'read' }, proc: { pid: 1, ppid: 0, exe: '/bin/x', argv: ['x'], cwd: '/', uid: 0 } });
    fs.writeSync(pfd, String(seq).padStart(12), 0);   // what was handed to the sink
  }
  if (count !== 0 && seq >= first - 1 + count) { process.stdout.write('done ' + first + ' ' + seq + '\\n'); setInterval(() => {}, 1000); }
  else setImmediate(step);
};
step();
`,
);

function start(file: string, env: Record<string, string>): { child: ChildProcess; progress: string; out: () => string } {
  const progress = path.join(tmp, `progress-${children.length}`);
  const child = spawn(process.execPath, [writer, file, progress], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  return { child, progress, out: () => out };
}
const until = async (cond: () => boolean, what: string, ms = 30_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};
const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));
const readProgress = (p: string) => Number(fs.readFileSync(p, 'utf8').trim() || 0);
async function seqs(file: string): Promise<number[]> {
  const s: number[] = [];
  await readAuditLog(file, () => true, (e) => void s.push(e.seq));
  return s;
}
const contiguous = (s: number[], from = 1) => s.every((v, i) => v === from + i);

describe('audit log durability with real processes', () => {
  it('flushes on its timer alone: everything older than the flush interval survives SIGKILL', async () => {
    const file = path.join(tmp, 'timer', 'events.ndjson');
    const w = start(file, { FLUSH_MS: '200', BUF: String(64 << 20), MAX: '0', COUNT: '5000' });
    await until(() => w.out().startsWith('done'), 'writer done');
    // No flush call, no exit: only the 200 ms timer can put these on disk.
    await until(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8').split('\n').length - 1 === 5000, 'timer flush');
    w.child.kill('SIGKILL');
    await exited(w.child);
    expect(await seqs(file)).toEqual(Array.from({ length: 5000 }, (_, i) => i + 1));
  });

  it('SIGKILL mid-stream loses at most the unflushed buffer; a restart resumes seq and cleans up', async () => {
    const file = path.join(tmp, 'kill', 'events.ndjson');
    const BUF = 32 * 1024;
    // Flush interval long enough that only the buffer bound applies: the loss bound is a count.
    const w = start(file, { FLUSH_MS: '60000', BUF: String(BUF), MAX: String(256 * 1024), COUNT: '0' });
    await until(() => fs.existsSync(w.progress) && readProgress(w.progress) >= 30_000, 'writer progress');
    w.child.kill('SIGKILL');
    await exited(w.child);
    const handed = readProgress(w.progress);
    const got = await seqs(file);
    expect(got.length).toBeGreaterThan(0);
    expect(contiguous(got)).toBe(true); // a prefix: no holes, no duplicates, across plain and gz files
    const minLine = 150; // every line of this writer is longer than this
    const lost = handed - got.at(-1)!;
    expect(lost).toBeGreaterThanOrEqual(0);
    expect(lost).toBeLessThanOrEqual(Math.ceil(BUF / minLine) + 1);
    expect(scanBackups(file).backups.length).toBeGreaterThan(3);

    // Restart: numbering continues after the last persisted event, crash leftovers are cleaned.
    const last = got.at(-1)!;
    const r = start(file, { FLUSH_MS: '200', BUF: String(BUF), MAX: String(256 * 1024), COUNT: '3000' });
    await until(() => r.out().startsWith('done'), 'restart done');
    expect(r.out()).toMatch(new RegExp(`^done ${last + 1} ${last + 3000}`));
    r.child.kill('SIGTERM');
    await exited(r.child);
    expect(r.child.exitCode).toBe(0);
    const all = await seqs(file);
    expect(contiguous(all)).toBe(true);
    expect(all.at(-1)).toBe(last + 3000);
    expect(scanBackups(file).temps).toEqual([]);
    expect(scanBackups(file).duplicates).toEqual([]);
  });

  it('SIGTERM loses nothing, even with a long flush interval', async () => {
    const file = path.join(tmp, 'term', 'events.ndjson');
    const w = start(file, { FLUSH_MS: '60000', BUF: String(64 << 20), MAX: String(128 * 1024), COUNT: '20000' });
    await until(() => w.out().startsWith('done'), 'writer done');
    w.child.kill('SIGTERM');
    await exited(w.child);
    expect(w.child.exitCode).toBe(0);
    expect(await seqs(file)).toEqual(Array.from({ length: 20000 }, (_, i) => i + 1));
  });

  it('a full disk is reported once and survived; when space returns nothing is missing', async () => {
    if (process.getuid?.() !== 0) return void console.warn('skipped: mounting a tmpfs needs root');
    const mnt = path.join(tmp, 'small');
    fs.mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'warden-test', mnt]);
    mounted = mnt;
    const file = path.join(mnt, 'events.ndjson');
    const errors: string[] = [];
    let recovered = false;
    const sink = new NdjsonFileSink(file, { onError: (e, w) => errors.push(`${w}:${(e as NodeJS.ErrnoException).code}`), onRecover: () => (recovered = true) });
    const filler = path.join(mnt, 'filler');
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k', 'count=1000'], { stdio: 'ignore' });
    } catch {
      /* dd stops at ENOSPC: the point */
    }
    const ev = (seq: number) => ({ ts: new Date().toISOString(), seq, kind: 'file.open', severity: 'alert' as const, file: { path: `/x/${seq}`.padEnd(200, 'x'), op: 'read' as const } });
    for (let i = 1; i <= 300; i++) sink.write(ev(i)); // alerts: written (attempted) at once
    expect(errors).toEqual(['write:ENOSPC']);
    expect(sink.stats().bufferedLines).toBeGreaterThan(0);
    fs.rmSync(filler);
    await until(() => recovered, 'recovery after space returns', 10_000); // the 1 s retry timer
    for (let i = 301; i <= 310; i++) sink.write(ev(i));
    await sink.close();
    expect(await seqs(file)).toEqual(Array.from({ length: 310 }, (_, i) => i + 1));
    expect(sink.counters.dropped).toBe(0);
  });
});
