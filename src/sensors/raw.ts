// Raw records: what a sensor saw, in kernel terms (pids, fds, dfds, flags), before the
// process model attributes them to an agent and turns them into WardenEvents. Every
// sensor backend (compiled sensor, bpftrace, /proc poller) produces these; the optional
// fields are what only some backends can give (docs/sensor.md lists which).

interface Base {
  /** CLOCK_MONOTONIC nanoseconds (bpftrace `nsecs`, process.hrtime). */
  ns: bigint;
  /** Thread-group id (the process). */
  pid: number;
  /** Thread id. */
  tid: number;
  /** Session root pid the kernel's tracking map holds for this process (compiled sensor). */
  root?: number;
}

/** What the kernel resolved for a path argument (compiled sensor). */
export interface KernelPaths {
  /** The directory a relative path is relative to (the dfd's or the cwd), or the file of an f*() call. */
  base?: string;
  /** The same for the second path (rename/link source). */
  base2?: string;
  /** The kernel's path was cut at its start (longer than PATH_MAX) or did not reach the root. */
  kpathPartial?: boolean;
  /** The path argument could not be read from the process's memory, even at syscall exit. */
  unreadable?: boolean;
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
      /** Security-relevant environment variables of the new image, by name (a fixed list). */
      env?: Record<string, string>;
      envTruncated?: boolean;
      /** An exec the kernel flagged as a possible agent (not yet tracked, or still provisional). */
      candidate: boolean;
      /** A child of a hand-off server (tmux, sshd, atd...), provisionally attributed. */
      handoff?: boolean;
      /** Exec generation of the pid (an untrack applies to the image it was decided for). */
      gen?: number;
      /** Found by a /proc scan rather than seen at exec time. */
      scanned?: boolean;
      cwd?: string;
      exe?: string;
      /** The executable the kernel loaded (symlinks resolved; the interpreter of a script). */
      realExe?: string;
    })
  | (Base & { t: 'fork'; ppid: number; handoff?: boolean; candidate?: boolean })
  | (Base & { t: 'exit'; code: number; signal: number; durationNs?: bigint; /** read-only opens of shared objects and ld.so.cache the sensor counted instead of reporting */ libraryLoads?: number })
  | (Base & { t: 'rename'; comm: string })
  | (Base &
      KernelPaths & {
        t: 'open';
        dfd: number;
        flags: number;
        mode: number;
        ret: number;
        path: string;
        truncated?: boolean;
        /** The file the kernel opened (successful opens, compiled sensor). */
        kpath?: string;
        /** Device (kernel dev_t) and inode of the file opened. */
        dev?: number;
        ino?: number;
        /** The file or its directory is on the protected list (by inode). */
        protected?: boolean;
        /** A failed open reported because a component of the path is a watched name. */
        watched?: boolean;
        deleted?: boolean;
        /** The file at the returned fd may have been put there by another task sharing the fd table (a dup2 onto it before the call returned). */
        replaced?: boolean;
        /** ...and nothing was left at it: another task closed it (the path is then only the process's string). */
        closed?: boolean;
      })
  | (Base & KernelPaths & { t: 'frename'; olddfd: number; oldpath: string; newdfd: number; newpath: string; flags: number; ret?: number; truncated?: boolean })
  | (Base & KernelPaths & { t: 'unlink'; dfd: number; path: string; flags: number; ret?: number; truncated?: boolean })
  | (Base & KernelPaths & { t: 'symlink'; target: string; newdfd: number; path: string; ret?: number; truncated?: boolean })
  | (Base & KernelPaths & { t: 'link'; olddfd: number; oldpath: string; newdfd: number; path: string; flags: number; ret?: number; truncated?: boolean })
  | (Base & KernelPaths & { t: 'truncate'; fd: number; path: string; length: number; ret?: number; truncated?: boolean })
  | (Base & KernelPaths & { t: 'chmod'; dfd: number; path: string; mode: number; ret?: number; truncated?: boolean })
  | (Base & KernelPaths & { t: 'chown'; dfd: number; path: string; uid: number; gid: number; ret?: number; truncated?: boolean })
  | (Base & KernelPaths & { t: 'setxattr'; fd: number; path: string; name: string; ret?: number; truncated?: boolean })
  /** `ret`: the syscall's result when the sensor reports at exit (EEXIST is not reported). */
  | (Base & KernelPaths & { t: 'mkdir'; dfd: number; path: string; mode: number; ret?: number; truncated?: boolean })
  | (Base & KernelPaths & { t: 'utimes'; dfd: number; path: string; ret?: number; truncated?: boolean })
  /** A failed stat/access/readlink of a watched name (someone looking for a secret). */
  | (Base & KernelPaths & { t: 'lookup'; call: string; dfd: number; path: string; ret: number; truncated?: boolean })
  /** `kcwd`: the cwd after the call, as the kernel has it. */
  | (Base & { t: 'chdir'; path: string; truncated?: boolean; kcwd?: string })
  | (Base & { t: 'fchdir'; fd: number; kcwd?: string })
  | (Base & {
      t: 'connect';
      fd: number;
      family: number;
      socktype: number;
      port: number;
      ip?: string;
      unixPath?: string;
      abstract?: boolean;
      /** Reported at syscall exit: the result, and for unix sockets the listening process. */
      ret?: number;
      peerPid?: number;
      localPort?: number;
      unreadable?: boolean;
    })
  | (Base & { t: 'send'; fd: number; family: number; port: number; len: number; ip?: string; payload?: Buffer; ret?: number; unreadable?: boolean })
  | (Base & { t: 'dns_answer'; payload: Buffer; srcIp?: string; srcPort?: number })
  | (Base & { t: 'bind'; fd: number; family: number; socktype: number; port: number; ip: string })
  | (Base & { t: 'listen'; fd: number; socktype: number; port: number; backlog: number })
  | (Base & { t: 'ptrace'; request: number; target: number })
  | (Base & { t: 'memfd'; flags: number; name: string; ret?: number })
  | (Base & { t: 'io_uring'; entries: number })
  /** setuid family: the call, its arguments, result, credentials before and after. */
  | (Base & {
      t: 'setid';
      call: string;
      args: number[];
      ret: number;
      before?: { uid: number; euid: number; gid: number; egid: number };
      after?: { uid: number; euid: number };
    })
  | (Base & { t: 'setns'; fd: number; nstype: number; ret: number; nsInode?: number; fsMagic?: number })
  | (Base & { t: 'unshare'; flags: number; ret: number; via: 'unshare' | 'clone' | 'clone3' })
  | (Base & { t: 'userfaultfd'; flags: number; ret: number })
  /**
   * A call that sets or adjusts the system clock (settimeofday, clock_settime, adjtimex,
   * clock_adjtime): `modes` is adjtimex's (-1 unreadable), `stepNs` the realtime step seen across
   * the call (compiled sensor; 0 none or unknown), `sets` whether it asked to set the clock.
   */
  | (Base & { t: 'clock'; call: string; clock: number; modes?: number; ret: number; stepNs: number; sets: boolean })
  /** bpf() by a traced process, at entry (compiled sensor). */
  | (Base & { t: 'bpf'; cmd: number })
  /** A call that reaches another process or makes another view of the file system, at entry (compiled sensor): raw arguments and path/name strings. */
  | (Base & { t: 'xcall'; nr: number; args: number[]; strs: Array<string | undefined> })
  /** socket() of a packet or raw socket (AF_PACKET, SOCK_RAW, SOCK_PACKET). */
  | (Base & { t: 'socket'; family: number; type: number; protocol: number; ret: number })
  /** A signal to the monitor or its sensor, with the sender's ancestry (the guard). */
  | (Base & {
      t: 'signal';
      sig: number;
      target: number;
      role: 'monitor' | 'sensor' | 'other';
      uid: number;
      code: number;
      seq: number;
      /** A stop that the kernel program continued at once. */
      resumed?: boolean;
      comm: string;
      ancestry: Array<{ pid: number; comm: string }>;
    })
  /** `count` more opens identical to the process's last reported open, folded in the kernel. */
  /** Opens counted in the kernel since the last one reported, with the device and inode counted (not the bpftrace backend's). */
  | (Base & { t: 'repeat'; count: number; dev?: number; ino?: number })
  /** The /proc poller's view of an open fd (degraded mode). */
  | (Base & { t: 'fd'; path: string; write: boolean });

export type RawKind = RawRecord['t'];

/** Why records were not delivered (compiled sensor). */
export type LossWhy = 'dropped' | 'shed' | 'rate_limited';

/** Sensor status and health, reported next to records. */
export type SensorSignal =
  | {
      s: 'ready';
      backend: string;
      attachMs: number;
      missing: string[];
      /** Pinned kernel state left by a sensor that died was taken over (compiled sensor). */
      adopted?: boolean;
      /** How long nothing read the kernel's records before this start, when adopted. */
      gapMs?: number;
    }
  | { s: 'lost'; count: number; source: string; root?: number; kind?: RawKind | string; why?: LossWhy }
  | { s: 'parse_error'; line: string }
  /** stateRemoved: its pinned kernel state was gone when it died (removed by someone: the next sensor starts afresh). */
  | { s: 'died'; reason: string; stateRemoved?: boolean }
  | { s: 'restarted'; restarts: number; gapMs: number }
  | { s: 'ctl'; op: 'track' | 'untrack' | 'server' | 'unserver' | 'protect'; pid: number; result?: number }
  /** The kernel stopped counting library opens (they are reported one by one from now on). */
  | { s: 'fold_off'; reasons: Array<'protected_list_full'> }
  /** A session the pinned kernel state remembers (its root may have exited while no monitor ran). */
  | { s: 'root'; root: number; startNs: bigint; name: string; session: string; cwd: string; home: string }
  /** Records kept for a monitor that died, sent again to this one (its log may have some of their events). */
  | { s: 'replayed'; count: number };

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
  /** Adds a pid (and, from now on, its descendants) to the kernel filter, as part of root's session. */
  track(pid: number, root?: number): void;
  /** Removes a pid; with `gen`, only while it still runs the image that decision was about. */
  untrack(pid: number, gen?: number): void;
  /** Makes the new children of a server provisionally part of root's session (hand-offs). */
  serve?(pid: number, root: number): void;
  unserve?(pid: number): void;
  /** A protected file or directory by kernel device and inode (its opens are high-value). */
  protect?(dev: number, ino: number): void;
  /** The monitor recorded signal record `seq` (the sensor may forget it). */
  ackSignal?(seq: number): void;
  /** Keeps a session with the pinned kernel state (a monitor started after a kill knows it). */
  rememberSession?(root: number, startNs: bigint, name: string, session: string, cwd: string, home: string): void;
  forgetSession?(root: number): void;
  stop(): Promise<void>;
  stats(): Record<string, number>;
}
