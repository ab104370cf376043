// CPU burn: a process that keeps a core busy for a whole window. Busy means asking for it: time
// run plus time waiting to run (schedstat), so a burner on a loaded machine is still one. Per
// process, samples of its CPU time and I/O counters are kept for the window; when its share of a core over the window
// reaches the threshold it is reported once (with what it read and wrote meanwhile, so the
// rules can tell a miner or `yes > /dev/null` from a compiler), and again only after it
// calmed down. What counts as a burn is the rules' decision (impact_cpu_burn).
import type { ProcIo } from '../../sensors/procfs/proc.js';

export interface BurnSample {
  t: number;
  /** CPU time in ms (all threads). */
  cpuMs: number;
  /** Main thread's time on a CPU plus waiting for one, ms (what it asked for). */
  demandMs?: number;
  io?: ProcIo;
}

export interface BurnReport {
  pid: number;
  /** Share of a core it wanted (ran or waited to run); on an idle machine what it used. */
  share: number;
  /** Share of a core it got. */
  used: number;
  windowMs: number;
  cpuMs: number;
  /** Deltas over the window (undefined when /proc/PID/io could not be read). */
  io?: ProcIo;
}

interface Series {
  start: number;
  samples: BurnSample[];
  reported: boolean;
}

export class BurnTracker {
  private readonly series = new Map<number, Series>();

  constructor(
    private readonly windowMs: number,
    private readonly minShare: number,
  ) {}

  /** `start` identifies the process (its start time): a reused pid starts a new series. */
  sample(pid: number, start: number, s: BurnSample): BurnReport | undefined {
    let ser = this.series.get(pid);
    if (!ser || ser.start !== start) this.series.set(pid, (ser = { start, samples: [], reported: false }));
    ser.samples.push(s);
    while (ser.samples.length > 2 && s.t - ser.samples[1]!.t >= this.windowMs) ser.samples.shift();
    const first = ser.samples[0]!;
    const span = s.t - first.t;
    if (span < this.windowMs * 0.95) return undefined;
    const cpu = s.cpuMs - first.cpuMs;
    const used = cpu / span;
    const demand = s.demandMs !== undefined && first.demandMs !== undefined ? (s.demandMs - first.demandMs) / span : 0;
    const share = Math.min(1, Math.max(used, demand));
    if (share < this.minShare) {
      // Re-armed once it has calmed down well below the threshold.
      if (share < this.minShare / 2) ser.reported = false;
      return undefined;
    }
    if (ser.reported) return undefined;
    ser.reported = true;
    return { pid, share, used, windowMs: span, cpuMs: cpu, io: s.io && first.io ? delta(s.io, first.io) : undefined };
  }

  /** Forgets processes not seen in the last sampling round. */
  retain(alive: Set<number>): void {
    for (const pid of this.series.keys()) if (!alive.has(pid)) this.series.delete(pid);
  }
}

function delta(a: ProcIo, b: ProcIo): ProcIo {
  return {
    rchar: a.rchar - b.rchar,
    wchar: a.wchar - b.wchar,
    syscr: a.syscr - b.syscr,
    syscw: a.syscw - b.syscw,
    readBytes: a.readBytes - b.readBytes,
    writeBytes: a.writeBytes - b.writeBytes,
  };
}
