// The hook through which the kernel sensor (issue #2) watches a confined tree. `warden run`
// only loads it with --monitor: attaching bpftrace costs ~0.3 s and must stay off the default
// start path. The runner attaches before the command starts and detaches after it exits.
//
// The implementation is wired by the CLI (src/cli/sandbox-monitor.ts: sensor + model +
// rules); the sandbox only knows this interface.
import type { UnstampedEvent } from '../events/types.js';
import type { CgroupNode } from '../util/cgroup/node.js';

export interface MonitorTarget {
  sandboxId: string;
  /**
   * cgroup v2 directory that will contain every sandboxed process, created before the
   * sandbox starts (bpftrace: `cgroup == cgroupid("<dir>")`). Undefined where Warden could
   * not create one (no cgroup2 mount, or not root).
   */
  cgroupV2?: string;
  /** The sandbox's cgroups: the governed session of the run (its limits are the policy's). */
  cgroup?: CgroupNode;
  /** The confined command (names the session: an agent name, or the command's basename). */
  argv?: string[];
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
