// Kernel timestamps (CLOCK_MONOTONIC ns from bpftrace `nsecs`) to wall-clock ISO strings.
// The offset is measured once at start; drift over a run is far below the ms resolution.

let offsetNs: bigint | undefined;

function monoToWallOffset(): bigint {
  if (offsetNs === undefined) {
    const wall = BigInt(Date.now()) * 1_000_000n;
    const mono = process.hrtime.bigint(); // CLOCK_MONOTONIC, same clock as bpftrace nsecs
    offsetNs = wall - mono;
  }
  return offsetNs;
}

/** Wall-clock ms since the epoch for a monotonic ns timestamp. */
export function monoNsToEpochMs(ns: bigint | number): number {
  const n = typeof ns === 'bigint' ? ns : BigInt(Math.trunc(ns));
  return Number((n + monoToWallOffset()) / 1_000_000n);
}

export function isoFromMonoNs(ns: bigint | number): string {
  return new Date(monoNsToEpochMs(ns)).toISOString();
}

export function nowIso(): string {
  return new Date().toISOString();
}
