// The guard's attribution of a signal to the monitor: a sender in a tree the kernel tracked
// (root given) whose session the monitor does not know yet (a restart reads the kill from the
// sensor's list before the agent's exec from the ring buffer) is reported once the session is
// known, not unattributed; and acknowledged only then.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Guard } from '../../src/cli/guard.js';
import type { AgentRef, UnstampedEvent } from '../../src/events/types.js';
import type { RawRecord } from '../../src/sensors/raw.js';

type Sig = RawRecord & { t: 'signal' };

const rec = (over: Partial<Sig>): Sig => ({
  t: 'signal',
  ns: 1n,
  pid: 4242,
  tid: 4242,
  root: 4240,
  sig: 9,
  target: 100,
  role: 'monitor',
  uid: 0,
  code: 0,
  seq: 1,
  comm: 'bash',
  ancestry: [{ pid: 1, comm: 'init' }],
  ...over,
});

describe('guard attribution', () => {
  let known: Map<number, AgentRef>;
  let emitted: UnstampedEvent[];
  let acked: number[];
  let guard: Guard;

  beforeEach(() => {
    vi.useFakeTimers();
    known = new Map();
    emitted = [];
    acked = [];
    guard = new Guard({
      agentOf: () => undefined,
      sessionRoot: (root) => known.get(root),
      emit: (e) => emitted.push(e),
      ack: (s) => acked.push(s),
      isoFromNs: () => '2026-12-07T00:00:00.000Z',
    });
  });
  afterEach(() => vi.useRealTimers());

  it('waits for the session the kernel names, then reports it with the agent and acknowledges it', () => {
    guard.onRecord(rec({ seq: 7 }));
    expect(emitted).toEqual([]);
    expect(acked).toEqual([]);
    vi.advanceTimersByTime(120);
    expect(emitted).toEqual([]);
    known.set(4240, { name: 'claude', root_pid: 4240, session: 's1' });
    vi.advanceTimersByTime(60);
    expect(emitted).toHaveLength(1);
    expect(emitted[0]).toMatchObject({ kind: 'monitor.killed', severity: 'alert', agent: { root_pid: 4240 } });
    expect(acked).toEqual([7]);
  });

  it('reports a sender whose session never comes, unattributed, after the wait', () => {
    guard.onRecord(rec({ seq: 8 }));
    vi.advanceTimersByTime(3100);
    expect(emitted).toHaveLength(1);
    expect(emitted[0]!.agent).toBeUndefined();
    expect(emitted[0]!.severity).toBe('warn');
    expect(acked).toEqual([8]);
  });

  it('reports what still waits when the monitor stops', () => {
    guard.onRecord(rec({ seq: 10 }));
    guard.flush();
    expect(emitted).toHaveLength(1);
    expect(acked).toEqual([10]);
    vi.advanceTimersByTime(3100);
    expect(emitted).toHaveLength(1); // not twice
  });

  it('reports at once a sender outside any tracked tree, and a record seen twice once', () => {
    guard.onRecord(rec({ seq: 9, root: 0 }));
    guard.onRecord(rec({ seq: 9, root: 0 }));
    expect(emitted).toHaveLength(1);
    expect(acked).toEqual([9, 9]);
  });
});
