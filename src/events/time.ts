// Kernel timestamps (CLOCK_MONOTONIC ns from bpftrace `nsecs`) to wall-clock ISO strings.
// The offset is measured once at start; drift over a run is far below the ms resolution.
// Every event goes through isoFromMonoNs, so it avoids BigInt division and Date objects on
// the hot path: the offset is split into whole ms and a sub-ms remainder (exact in float
// arithmetic for any uptime below 2^53 ns, ~104 days), and events of the same millisecond
// (most of them, under load) reuse the string of the previous one.

let offsetNs: bigint | undefined;
/** offsetNs = offMs * 1e6 + offRemNs, 0 <= offRemNs < 1e6. */
let offMs = 0;
let offRemNs = 0;

export function monoToWallOffset(): bigint {
  if (offsetNs === undefined) {
    const wall = BigInt(Date.now()) * 1_000_000n;
    const mono = process.hrtime.bigint(); // CLOCK_MONOTONIC, same clock as bpftrace nsecs
    offsetNs = wall - mono;
    const ms = offsetNs / 1_000_000n;
    const rem = offsetNs - ms * 1_000_000n;
    // floor division (the offset is positive on any real clock, but keep it exact)
    offMs = Number(rem < 0n ? ms - 1n : ms);
    offRemNs = Number(rem < 0n ? rem + 1_000_000n : rem);
  }
  return offsetNs;
}

/** Wall-clock ms since the epoch for a monotonic ns timestamp. */
export function monoNsToEpochMs(ns: bigint | number): number {
  monoToWallOffset();
  const n = typeof ns === 'bigint' ? ns : BigInt(Math.trunc(ns));
  if (n >= 0n && n < 9_007_199_254_740_992n) return offMs + Math.floor((Number(n) + offRemNs) / 1_000_000);
  return Number((n + monoToWallOffset()) / 1_000_000n);
}

let lastMs = NaN;
let lastIso = '';

export function isoFromMonoNs(ns: bigint | number): string {
  const ms = monoNsToEpochMs(ns);
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

export function nowIso(): string {
  return new Date().toISOString();
}
