// What the main thread and the decision worker of kernel-refused reads share: the layout of
// the control block (stop flag, the decision in progress, counters) and the messages.
import type { MessagePort } from 'node:worker_threads';

/** Indexes into the Int32Array control block. */
export const C = {
  STOP: 0,
  /** Generation of the decision in progress (0 = none; negative = claimed by the watchdog). */
  GEN: 1,
  /** Event descriptor of the decision in progress. */
  FD: 2,
  /** Generation the watchdog finished answering. */
  DONE: 3,
  ALLOWED: 4,
  DENIED: 5,
  /** Decisions that could not read the process (allowed). */
  ERRORS: 6,
  /** Incremented on every turn of the worker's loop (at least 10 a second). */
  ALIVE: 7,
  SIZE: 8,
} as const;

export interface WorkerData {
  fd: number;
  selfPid: number;
  /** This monitor's session directories per hierarchy (`/x/warden.governor/`). */
  ownDirs: string[];
  ctrl: SharedArrayBuffer;
  since: SharedArrayBuffer;
  port: MessagePort;
  notes: MessagePort;
  /** Tests: every decision takes this long (to exercise the fail-open watchdog). */
  testDelayMs?: number;
}

/** A refused open, reported after the answer was given. */
export interface WorkerNote {
  pid: number;
  path: string;
  /** The session directory name (safeName of the session id), when found by cgroup. */
  session?: string;
  /** The agent root it descends from, when found by ancestry. */
  root?: number;
  ts: number;
  /** The refused process, read before the answer (it is usually gone by the time this arrives). */
  argv?: string[];
  exe?: string;
  ppid?: number;
  uid?: number;
}
