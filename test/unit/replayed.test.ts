// The records last sent to a monitor that died are sent again to the next: the events the audit
// log already has are dropped once each, the others go through.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ReplayFilter } from '../../src/cli/replayed.js';
import type { UnstampedEvent } from '../../src/events/types.js';

const open = (ts: string, pid: number, p: string): UnstampedEvent => ({ ts, kind: 'file.open', severity: 'info', proc: { pid, ppid: 1, exe: '/usr/bin/cat', argv: ['cat', p] } as never, file: { path: p, op: 'read' } as never });

describe('ReplayFilter', () => {
  it('drops each event the log has once, keeps the rest and what is newer than the log', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-replay-'));
    const log = path.join(dir, 'events.ndjson');
    const a = open('2026-01-01T00:00:00.001Z', 10, '/a');
    const b = open('2026-01-01T00:00:00.001Z', 10, '/b');
    // the rules changed severity and added a message: still the same event
    const logged = [a, a, { ...b, severity: 'alert', rule: 'x', message: 'read /b' }].map((e, i) => JSON.stringify({ ...e, seq: i + 1 }));
    fs.writeFileSync(log, logged.join('\n') + '\n{"ts":"2026-01-01T00:00:00.0'); // a line cut by the death of the writer
    const f = ReplayFilter.fromLog(log);
    expect(f.seen(a)).toBe(true);
    expect(f.seen(a)).toBe(true);
    expect(f.seen(a)).toBe(false); // a third one is new
    expect(f.seen(b)).toBe(true);
    expect(f.seen(open('2026-01-01T00:00:00.001Z', 11, '/a'))).toBe(false);
    expect(f.seen(open('2026-01-01T00:00:05.000Z', 10, '/b'))).toBe(false);
    expect(f.dropped).toBe(3);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a missing log filters nothing', () => {
    expect(ReplayFilter.fromLog('/nonexistent/events.ndjson').seen(open('2026-01-01T00:00:00.001Z', 10, '/a'))).toBe(false);
  });
});
