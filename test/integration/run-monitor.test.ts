// `warden run --monitor`: the kernel sensor and rules watch the confined tree, and their
// events (attributed to the sandbox) go to the run's audit file.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readEvents, WARDEN } from '../helpers/watch.js';

const root = process.getuid?.() === 0;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-runmon-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!root)('warden run --monitor', () => {
  it('reports what the confined command does, attributed to the sandbox, without the launcher noise', () => {
    const ws = path.join(tmp, 'ws');
    fs.mkdirSync(ws);
    const audit = path.join(tmp, 'audit.ndjson');
    const r = spawnSync(WARDEN, ['run', '--monitor', '--audit', audit, '--', 'sh', '-c', 'cat /etc/hostname >/dev/null; echo hi > note.txt'], {
      cwd: ws,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const evs = readEvents(audit);
    const start = evs.find((e) => e.kind === 'sandbox.start');
    expect(start?.sandbox?.id).toBeTruthy();
    const read = evs.find((e) => e.kind === 'file.open' && e.file?.path === '/etc/hostname');
    expect(read, 'the confined read').toBeDefined();
    expect(read!.sandbox?.id).toBe(start!.sandbox!.id);
    expect(read!.proc?.argv[0]).toBe('cat');
    expect(read!.agent?.name).toBe('sh');
    const write = evs.find((e) => e.kind === 'file.open' && e.file?.path === path.join(ws, 'note.txt'));
    expect(write?.file?.flags).toContain('create');
    expect(evs.some((e) => e.proc && path.basename(e.proc.exe) === 'bwrap')).toBe(false);
    expect(evs.some((e) => e.kind === 'monitor.ready')).toBe(true);
    expect(evs[evs.length - 1]!.kind === 'sandbox.exit' || evs.some((e) => e.kind === 'sandbox.exit')).toBe(true);
  }, 150_000);
});
