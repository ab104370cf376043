// Crash records (sandbox/state.ts): which are stale. A record is another Warden's to clean only
// when the Warden that wrote it is gone and so is the process that holds its sandbox (the fast
// path's launcher); a spare network's record lives beside its run's without replacing it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { claimStale, procStartTime, RecordFile, type SandboxRecord } from '../../src/sandbox/state.js';

let dir: string;
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A pid that is certainly gone: a child that exited and was reaped. */
async function deadPid(): Promise<number> {
  const c = spawn('true');
  await new Promise((r) => c.on('exit', r));
  return c.pid!;
}

const rec = (id: string, pid: number, extra: Partial<SandboxRecord> = {}): SandboxRecord => ({ version: 1, id, pid, start: 1, created: '', workspace: '', cgroups: { dirs: [] }, protected: [], ...extra });

describe('stale crash records', () => {
  it('a dead Warden whose sandbox holder still lives is not stale; once the holder is gone it is', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-state-'));
    const gone = await deadPid();
    const holder = spawn('sleep', ['30']);
    try {
      new RecordFile(dir, rec('held1', gone, { holder: { pid: holder.pid!, start: procStartTime(holder.pid!)! } }));
      new RecordFile(dir, rec('free1', gone));
      expect(claimStale(dir).map((r) => r.record.id)).toEqual(['free1']);
      holder.kill('SIGKILL');
      await new Promise((r) => holder.on('exit', r));
      expect(claimStale(dir).map((r) => r.record.id)).toEqual(['held1']);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('a holder pid reused by another process (another start time) does not keep a record', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-state-'));
    new RecordFile(dir, rec('reused1', await deadPid(), { holder: { pid: process.pid, start: (procStartTime(process.pid) ?? 0) + 1 } }));
    expect(claimStale(dir).map((r) => r.record.id)).toEqual(['reused1']);
  });

  it("a spare's record is a file of its own beside its run's, and both are claimed", async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-state-'));
    const gone = await deadPid();
    const run = new RecordFile(dir, rec('both1', gone));
    const spare = new RecordFile(dir, rec('both1', gone), 'spare');
    expect(spare.file).not.toBe(run.file);
    spare.remove();
    expect(fs.existsSync(run.file)).toBe(true); // removing the spare's record leaves the run's
    new RecordFile(dir, rec('both1', gone), 'spare');
    expect(claimStale(dir).map((r) => path.basename(r.file)).sort()).toEqual([`both1.json.claimed-${process.pid}`, `both1.spare.json.claimed-${process.pid}`]);
  });
});
