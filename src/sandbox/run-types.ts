// The shapes shared by the phases of a run (run-plan, run-host, run-launch) and its two
// drivers: runner.ts (Node starts bwrap itself) and fast-run.ts (the native launcher does,
// served by the resident supervisor).
import type { UnstampedEvent } from '../events/types.js';
import type { CgroupLayout, SandboxCgroups } from './cgroups.js';
import type { LayerPlan } from './layers.js';
import type { Learner } from './learn.js';
import type { SandboxMonitor } from './monitor-hook.js';
import type { NetworkProvider, PreparedNetwork } from './network-provider.js';
import type { RunPolicy } from './policy.js';
import type { RunSetup } from './run-plan.js';
import type { RecordFile } from './state.js';
import type { ViewMounter } from './view-mounts.js';

export interface RunOptions {
  policy: RunPolicy;
  argv: string[];
  cwd?: string;
  /** The caller's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Audit sink; undefined = no audit events are built at all. */
  emit?: (ev: UnstampedEvent) => void;
  /** More for the data of sandbox.start (the trusted policy's ref and merge: --policy-ref). */
  startData?: Record<string, unknown>;
  network: NetworkProvider;
  monitor?: SandboxMonitor;
  /** Attaches idmapped views (root runs whose sandbox uid does not own what it is given). */
  views?: () => Promise<ViewMounter>;
  /** Messages for the user (stderr). */
  log?: (msg: string) => void;
  /** Override for tests: where crash records live. */
  stateDir?: string;
  /** No hints on stderr (denials are still recorded). */
  quiet?: boolean;
  /** `--learn`: every destination allowed and recorded, home writes seen. */
  learn?: Learner;
  /** Called once bwrap created the sandbox (its namespaces exist), whatever the command then does. */
  sandboxCreated?: () => void;
  /** The sandbox's cgroups go below this process's (the caller of the supervisor); default: this process's. */
  cgroupOf?: number;
  /** The sandbox id, when the caller made something for it ahead (the supervisor's spare network); default: a new one. */
  id?: string;
  /** The process that starts and holds the sandbox when it is not this one (the fast path's launcher): in the crash record. */
  holderPid?: number;
  /**
   * Takes the removal of the run's network (namespace, nft table) to finish after the run's
   * answer: the supervisor, whose launcher is waiting. The crash record keeps the network until
   * it is done. Default: removed before the run ends.
   */
  releaseLater?: (release: () => Promise<void>) => void;
}

/** One run: its plan, its id and the descriptors closed before it. */
export interface Setup extends RunSetup {
  id: string;
  closedFds: number[];
}

/** What exists on the host for this run, and how to remove it. */
export interface Resources {
  layout: CgroupLayout;
  layersMade?: LayerPlan;
  cg?: SandboxCgroups;
  net?: PreparedNetwork;
  runDir?: string;
  mountDir?: string;
  mounter?: ViewMounter;
  monitorAttached: boolean;
  openedFds: number[];
  record: RecordFile;
}
