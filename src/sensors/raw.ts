// Raw records: what a sensor saw, in kernel terms (pids, fds, dfds, flags), before the
// process model attributes them to an agent and turns them into WardenEvents. Every
// sensor backend (bpftrace, /proc poller) produces these.

interface Base {
  /** CLOCK_MONOTONIC nanoseconds (bpftrace `nsecs`, process.hrtime). */
  ns: bigint;
  /** Thread-group id (the process). */
  pid: number;
  /** Thread id. */
  tid: number;
}

export type RawRecord =
  | (Base & {
      t: 'exec';
      ppid: number;
      uid: number;
      euid: number;
      filename: string;
      /** Absent when the sensor could not read it in the kernel (candidates, procfs). */
      argv?: string[];
      argvTruncated?: boolean;
      ldPreload?: string;
      /** An exec the kernel flagged as a possible agent (not yet tracked). */
      candidate: boolean;
      /** Found by a /proc scan rather than seen at exec time. */
      scanned?: boolean;
      cwd?: string;
      exe?: string;
    })
  | (Base & { t: 'fork'; ppid: number })
  | (Base & { t: 'exit'; code: number; signal: number; durationNs?: bigint })
  | (Base & { t: 'rename'; comm: string })
  | (Base & { t: 'open'; dfd: number; flags: number; mode: number; ret: number; path: string; truncated?: boolean })
  | (Base & { t: 'frename'; olddfd: number; oldpath: string; newdfd: number; newpath: string; flags: number; truncated?: boolean })
  | (Base & { t: 'unlink'; dfd: number; path: string; flags: number; truncated?: boolean })
  | (Base & { t: 'symlink'; target: string; newdfd: number; path: string; truncated?: boolean })
  | (Base & { t: 'link'; olddfd: number; oldpath: string; newdfd: number; path: string; flags: number; truncated?: boolean })
  | (Base & { t: 'truncate'; fd: number; path: string; length: number; truncated?: boolean })
  | (Base & { t: 'chmod'; dfd: number; path: string; mode: number; truncated?: boolean })
  | (Base & { t: 'chown'; dfd: number; path: string; uid: number; gid: number; truncated?: boolean })
  | (Base & { t: 'setxattr'; fd: number; path: string; name: string; truncated?: boolean })
  /** `ret`: the syscall's result when the sensor reports at exit (EEXIST is not reported). */
  | (Base & { t: 'mkdir'; dfd: number; path: string; mode: number; ret?: number; truncated?: boolean })
  | (Base & { t: 'utimes'; dfd: number; path: string; truncated?: boolean })
  | (Base & { t: 'chdir'; path: string; truncated?: boolean })
  | (Base & { t: 'fchdir'; fd: number })
  | (Base & {
      t: 'connect';
      fd: number;
      family: number;
      socktype: number;
      port: number;
      ip?: string;
      unixPath?: string;
      abstract?: boolean;
    })
  | (Base & { t: 'send'; fd: number; family: number; port: number; len: number; ip?: string; payload?: Buffer })
  | (Base & { t: 'dns_answer'; payload: Buffer })
  | (Base & { t: 'bind'; fd: number; family: number; socktype: number; port: number; ip: string })
  | (Base & { t: 'listen'; fd: number; socktype: number; port: number; backlog: number })
  | (Base & { t: 'ptrace'; request: number; target: number })
  | (Base & { t: 'memfd'; flags: number; name: string })
  | (Base & { t: 'io_uring'; entries: number })
  /** `count` more opens identical to the process's last reported open, folded in the kernel. */
  | (Base & { t: 'repeat'; count: number })
  /** The /proc poller's view of an open fd (degraded mode). */
  | (Base & { t: 'fd'; path: string; write: boolean });

export type RawKind = RawRecord['t'];

/** Sensor status and health, reported next to records. */
export type SensorSignal =
  | { s: 'ready'; backend: string; attachMs: number; missing: string[] }
  | { s: 'lost'; count: number; source: string }
  | { s: 'parse_error'; line: string }
  | { s: 'died'; reason: string }
  | { s: 'restarted'; restarts: number; gapMs: number }
  | { s: 'ctl'; op: 'track' | 'untrack'; pid: number };

export interface SensorSink {
  record(r: RawRecord): void;
  signal(s: SensorSignal): void;
}

/** What every sensor backend offers to the monitor. */
export interface Sensor {
  readonly backend: 'ebpf' | 'bpftrace' | 'procfs';
  /** What this backend cannot see (reported in monitor.ready and doctor). */
  readonly blindSpots: string[];
  start(seeds: number[]): Promise<void>;
  /** Adds a pid (and, from now on, its descendants) to the kernel filter. */
  track(pid: number): void;
  untrack(pid: number): void;
  stop(): Promise<void>;
  stats(): Record<string, number>;
}
