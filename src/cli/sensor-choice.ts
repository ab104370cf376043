// Which kernel sensor a monitor runs with (`sensor.backend` / `--backend`):
//   ebpf     - the compiled libbpf sensor (native/build/warden-sensor): cheapest, fastest attach
//   bpftrace - the generated bpftrace program: no build step, slower (LLVM at start, more
//              in-kernel work per event)
//   procfs   - the /proc poller: no root or no BPF; degraded, says what it cannot see
//   auto     - ebpf if it is built and loads, else bpftrace if installed, else procfs
// Every choice comes with the reason, reported in monitor.ready.
import type { Sensor } from '../sensors/raw.js';
import { ebpfSensorStatus } from '../sensors/ebpf/sensor.js';
import { UsageError } from './main.js';

export const BACKENDS = ['auto', 'ebpf', 'bpftrace', 'procfs'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** Whether `auto` tries the compiled sensor before bpftrace. */
export const AUTO_PREFERS_EBPF = true;

export interface SensorMakers {
  ebpf: () => Sensor;
  bpftrace: () => Sensor;
  procfs: () => Sensor;
  /** Why bpftrace cannot run here (not root, not installed), or undefined. */
  bpftraceUnavailable: () => string | undefined;
}

export interface ChosenSensor {
  sensor: Sensor;
  /** Why this backend (and not a better one). */
  reason: string;
  /** Set when running as the degraded /proc poller. */
  degradedBecause?: string;
}

/** An explicitly requested backend that cannot run here: reported like a bad invocation (exit 2). */
export class BackendError extends UsageError {}

export function parseBackend(name: string): BackendName {
  if ((BACKENDS as readonly string[]).includes(name)) return name as BackendName;
  throw new UsageError(`unknown sensor backend "${name}" (expected ${BACKENDS.join(', ')})`);
}

/** Why the compiled sensor cannot be tried here (not root, not built), or undefined. */
export function ebpfUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root (BPF needs root)';
  const st = ebpfSensorStatus();
  return st.built ? undefined : `compiled sensor ${st.detail}`;
}

/** Starts the requested backend, falling back as `auto` allows; throws when an explicit one fails. */
export async function startSensor(requested: BackendName, m: SensorMakers, seeds: number[], log: (msg: string) => void): Promise<ChosenSensor> {
  const notes: string[] = [];
  const tryEbpf = async (): Promise<ChosenSensor | undefined> => {
    const why = ebpfUnavailable();
    if (why) {
      if (requested === 'ebpf') throw new BackendError(`cannot use the ebpf backend: ${why}`);
      notes.push(`ebpf: ${why}`);
      return undefined;
    }
    const s = m.ebpf();
    try {
      await s.start(seeds);
      return { sensor: s, reason: requested === 'ebpf' ? 'requested' : `compiled sensor loaded${notes.length ? ` (${notes.join('; ')})` : ''}` };
    } catch (err) {
      const msg = (err as Error).message;
      if (requested === 'ebpf') throw new BackendError(`cannot use the ebpf backend: ${msg}`);
      notes.push(`ebpf: ${msg}`);
      log(`compiled sensor did not start, trying the next backend: ${msg}`);
      await s.stop().catch(() => {});
      return undefined;
    }
  };
  const tryBpftrace = async (): Promise<ChosenSensor | undefined> => {
    const why = m.bpftraceUnavailable();
    if (why) {
      if (requested === 'bpftrace') throw new BackendError(`cannot use the bpftrace backend: ${why}`);
      notes.push(`bpftrace: ${why}`);
      return undefined;
    }
    const s = m.bpftrace();
    try {
      await s.start(seeds);
      return { sensor: s, reason: requested === 'bpftrace' ? 'requested' : notes.length ? `fallback (${notes.join('; ')})` : 'bpftrace available' };
    } catch (err) {
      const msg = (err as Error).message;
      if (requested === 'bpftrace') throw err;
      notes.push(`bpftrace: ${msg}`);
      await s.stop().catch(() => {});
      return undefined;
    }
  };
  if (requested === 'ebpf') return (await tryEbpf())!;
  if (requested === 'bpftrace') return (await tryBpftrace())!;
  if (requested === 'auto') {
    const order = AUTO_PREFERS_EBPF ? [tryEbpf, tryBpftrace] : [tryBpftrace, tryEbpf];
    for (const t of order) {
      const got = await t();
      if (got) return got;
    }
  }
  const degradedBecause = requested === 'procfs' ? 'procfs backend requested' : notes.join('; ');
  const s = m.procfs();
  await s.start(seeds);
  return { sensor: s, reason: degradedBecause, degradedBecause };
}
