// The hook through which the kernel sensor (issue #2) watches a confined tree. `warden run`
// only loads it with --monitor: attaching bpftrace costs ~0.3 s and must stay off the default
// start path. The runner attaches before the command starts and detaches after it exits.
//
// Contract of the sensor module (src/sensors/sandbox-monitor.ts):
//   export function createSandboxMonitor(): SandboxMonitor
import type { UnstampedEvent } from '../events/types.js';

export interface MonitorTarget {
  sandboxId: string;
  /**
   * cgroup v2 directory that will contain every sandboxed process, created before the
   * sandbox starts (bpftrace: `cgroup == cgroupid("<dir>")`). Undefined where Warden could
   * not create one (no cgroup2 mount, or not root).
   */
  cgroupV2?: string;
  /** Events from the sensor, already attributed to this sandbox by the caller's emit. */
  emit(ev: UnstampedEvent): void;
}

export interface SandboxMonitor {
  /** Resolves once the sensor is attached; the command starts only after that. */
  attach(target: MonitorTarget): Promise<void>;
  /** Host pid of the sandbox launcher (bwrap), right after it was spawned. */
  launched?(pid: number): void;
  /** Flushes and stops; called after the sandbox exited. */
  detach(): Promise<void>;
}

export interface SandboxMonitorModule {
  createSandboxMonitor(): SandboxMonitor;
}

const SENSOR_MODULE = '../sensors/sandbox-monitor.js';

export async function loadSandboxMonitor(): Promise<SandboxMonitor> {
  let mod: SandboxMonitorModule;
  try {
    mod = (await import(SENSOR_MODULE)) as SandboxMonitorModule;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND')
      throw new Error('--monitor needs the kernel sensor (src/sensors/sandbox-monitor.ts, issue #2), which is not in this build yet');
    throw err;
  }
  return mod.createSandboxMonitor();
}
