// isoFromMonoNs takes a float fast path: it must give the same millisecond as exact BigInt
// arithmetic, including at millisecond boundaries and past 2^53 ns.
import { describe, expect, it } from 'vitest';
import { isoFromMonoNs, monoNsToEpochMs, monoToWallOffset } from '../../src/events/time.js';

const exact = (ns: bigint) => Number((ns + monoToWallOffset()) / 1_000_000n);

describe('monoNsToEpochMs', () => {
  it('matches BigInt arithmetic', () => {
    const off = monoToWallOffset();
    const rem = ((off % 1_000_000n) + 1_000_000n) % 1_000_000n;
    const samples: bigint[] = [0n, 1n, 999_999n, 1_000_000n, process.hrtime.bigint(), 2n ** 53n - 1n, 2n ** 53n, 2n ** 60n];
    // the nanoseconds around a wall-clock millisecond boundary
    for (const k of [1n, 12_345n, 987_654_321n]) {
      const b = k * 1_000_000n - rem;
      samples.push(b - 1n, b, b + 1n);
    }
    for (let i = 0; i < 2000; i++) samples.push(BigInt(Math.floor(Math.random() * 2 ** 52)) * 2n + BigInt(i & 1));
    for (const ns of samples) expect(monoNsToEpochMs(ns), String(ns)).toBe(exact(ns));
  });

  it('formats consecutive events of one millisecond and the next', () => {
    const ns = process.hrtime.bigint();
    const a = isoFromMonoNs(ns);
    expect(isoFromMonoNs(ns + 1n)).toBe(new Date(exact(ns + 1n)).toISOString());
    expect(isoFromMonoNs(ns + 2_000_000n)).toBe(new Date(exact(ns + 2_000_000n)).toISOString());
    expect(a).toBe(new Date(exact(ns)).toISOString());
  });
});
