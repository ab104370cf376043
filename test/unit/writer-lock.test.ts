// The audit log's writer lock: a live writer refuses a second one, a lock left by a dead
// process (or by a reused pid, told apart by start time) is taken over, release removes it.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDirs } from '../helpers/tmp.js';
import { acquireWriterLock, WriterLockError } from '../../src/sinks/writer-lock.js';

const newDir = tempDirs('warden-lock-');
const logFile = () => path.join(newDir(), 'events.ndjson');
const startOf = (pid: number) => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
};

describe('acquireWriterLock', () => {
  it('takes the lock, and release removes it', () => {
    const f = logFile();
    const lock = acquireWriterLock(f)!;
    expect(fs.readFileSync(`${f}.lock`, 'utf8')).toMatch(new RegExp(`^${process.pid} \\d+\\n$`));
    lock.release();
    expect(fs.existsSync(`${f}.lock`)).toBe(false);
  });

  it('refuses while another live process holds it, naming the file and the pid', async () => {
    const f = logFile();
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => other.once('spawn', r));
      fs.writeFileSync(`${f}.lock`, `${other.pid} ${startOf(other.pid!)}\n`);
      expect(() => acquireWriterLock(f)).toThrow(WriterLockError);
      expect(() => acquireWriterLock(f)).toThrow(new RegExp(`${f.replace(/[.]/g, '\\.')} is already written by another warden \\(pid ${other.pid}`));
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('takes over a lock whose writer is gone, or whose pid now belongs to another process', () => {
    const f = logFile();
    const dead = spawnSync('true').pid;
    fs.writeFileSync(`${f}.lock`, `${dead} 12345\n`);
    acquireWriterLock(f)!.release();
    // pid 1 is alive, but it did not start at that time: a reused pid, not the writer
    fs.writeFileSync(`${f}.lock`, `1 999999999\n`);
    const lock = acquireWriterLock(f);
    expect(lock).toBeDefined();
    expect(fs.readFileSync(`${f}.lock`, 'utf8').startsWith(`${process.pid} `)).toBe(true);
    lock!.release();
  });

  it('does not stand in the way when no lock can be made (the audit log reports its own errors)', () => {
    expect(acquireWriterLock('/nonexistent-dir-for-warden/events.ndjson')).toBeUndefined();
  });
});
