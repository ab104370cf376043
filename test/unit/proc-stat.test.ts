import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { procStartTime } from '../../src/util/proc-stat.js';

describe('procStartTime', () => {
  it('names a live process, and no zombie (a child its parent does not reap)', async () => {
    expect(procStartTime(process.pid)).toBeGreaterThan(0);
    // `sleep 0.05` becomes a zombie: its parent execs a sleep that never waits for it
    const p = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 3'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const child = Number(await new Promise<string>((r) => p.stdout.once('data', (d) => r(String(d)))));
    try {
      let state = '';
      for (let i = 0; i < 100 && state !== 'Z'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        const s = fs.readFileSync(`/proc/${child}/stat`, 'utf8');
        state = s.slice(s.lastIndexOf(')') + 2)[0]!;
      }
      expect(state).toBe('Z');
      expect(procStartTime(child)).toBeUndefined();
    } finally {
      p.kill('SIGKILL');
    }
  });
});

describe('procStartTime of a process whose main thread exited', () => {
  it('is still a live process while another thread runs', async () => {
    // python: the main thread ends with pthread_exit; a second thread keeps the process
    const py = [
      'import ctypes, os, sys, threading, time',
      'threading.Thread(target=lambda: time.sleep(3)).start()',
      'print(os.getpid(), flush=True)',
      'ctypes.CDLL(None).pthread_exit(None)',
    ].join('\n');
    const p = spawn('python3', ['-c', py], { stdio: ['ignore', 'pipe', 'ignore'] });
    const pid = Number(await new Promise<string>((r) => p.stdout.once('data', (d) => r(String(d)))));
    try {
      let state = '';
      for (let i = 0; i < 100 && state !== 'Z'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        state = s.slice(s.lastIndexOf(')') + 2)[0]!;
      }
      expect(state).toBe('Z');
      expect(procStartTime(pid)).toBeGreaterThan(0);
    } finally {
      p.kill('SIGKILL');
    }
  });
});
