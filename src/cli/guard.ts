// The monitor's guard: signals sent to the monitor or its kernel sensor, as the kernel saw
// them (the sender, its ancestry, its agent session). Each becomes an event: `monitor.killed`
// for a signal that stops or kills (an alert when the sender is in an agent's tree, else a
// warning), `monitor.signal` for the others. A stop request (SIGTERM/SIGINT/SIGHUP) from inside
// an agent's tree is refused by `warden watch`; SIGSTOP is undone by the sensor at once. The
// records are acknowledged to the sensor, which otherwise keeps them for the next monitor (a
// monitor killed before it could write the record reports it after its restart).
import type { AgentRef, UnstampedEvent } from '../events/types.js';
import type { RawRecord } from '../sensors/raw.js';
import type { GuardSignal } from './monitor-core.js';

const SIGNAL_NAMES: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  3: 'SIGQUIT',
  4: 'SIGILL',
  5: 'SIGTRAP',
  6: 'SIGABRT',
  7: 'SIGBUS',
  8: 'SIGFPE',
  9: 'SIGKILL',
  10: 'SIGUSR1',
  11: 'SIGSEGV',
  12: 'SIGUSR2',
  15: 'SIGTERM',
  16: 'SIGSTKFLT',
  19: 'SIGSTOP',
  20: 'SIGTSTP',
  21: 'SIGTTIN',
  22: 'SIGTTOU',
  24: 'SIGXCPU',
  25: 'SIGXFSZ',
  30: 'SIGPWR',
  31: 'SIGSYS',
};

export function signalName(sig: number): string {
  return SIGNAL_NAMES[sig] ?? `signal ${sig}`;
}

/**
 * Signals that kill or stop the monitor whatever it does (it handles SIGINT, SIGTERM and SIGHUP
 * itself: those are requests, refused from an agent's tree).
 */
const KILLING = new Set([3, 4, 5, 6, 7, 8, 9, 11, 19, 20, 21, 22, 24, 25, 31]);

export interface GuardHost {
  agentOf(pid: number): AgentRef | undefined;
  sessionRoot(root: number): AgentRef | undefined;
  emit(ev: UnstampedEvent): void;
  ack(seq: number): void;
  isoFromNs(ns: bigint): string;
}

/** How long a signal from a tracked tree waits for its session to be known (a restart's backlog). */
const SESSION_WAIT_MS = 3000;
/** Signals waiting so at once, at most (a flood of them is reported unattributed). */
const MAX_WAITING = 64;

/** si_code of a signal raised for a file's owner on I/O (F_SETOWN without F_SETSIG's band codes). */
const SI_SIGIO = -5;

export class Guard {
  private readonly seen = new Set<number>();
  private readonly recent: GuardSignal[] = [];
  private readonly waiters: Array<{ sig: number; resolve: (g: GuardSignal) => void }> = [];
  readonly counters = { monitor_signals: 0, monitor_kills: 0 };
  /** Signal records waiting for the session their kernel root names, by seq. */
  private readonly waiting = new Map<number, RawRecord & { t: 'signal' }>();

  constructor(private readonly host: GuardHost) {}

  onRecord(r: RawRecord & { t: 'signal' }): void {
    // the same record can arrive twice: from the ring buffer and, after a restart, from the
    // sensor's list of records nobody acknowledged
    if (this.seen.has(r.seq)) return this.host.ack(r.seq);
    this.seen.add(r.seq);
    const agent = this.attribute(r);
    const g: GuardSignal = { sig: r.sig, target: r.target, role: r.role, sender: r.pid, comm: r.comm, uid: r.uid, ancestry: r.ancestry, agent, ns: r.ns };
    this.recent.push(g);
    if (this.recent.length > 32) this.recent.shift();
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.sig === r.sig && r.role === 'monitor') {
        this.waiters.splice(i, 1);
        w.resolve(g);
      }
    }
    this.counters.monitor_signals++;
    if (KILLING.has(r.sig)) this.counters.monitor_kills++;
    if (agent || !r.root || this.waiting.size >= MAX_WAITING) return this.report(r, agent);
    // The kernel says the sender was in a tracked tree whose session this monitor does not know
    // yet: after a restart the records of the last one are read again, and the kill comes
    // from the sensor's list before the agent's exec comes from the ring buffer. The report
    // waits for that session (not acknowledged meanwhile: a monitor killed again leaves it
    // to the next).
    this.waiting.set(r.seq, r);
    const started = Date.now();
    const retry = () => {
      if (!this.waiting.has(r.seq)) return; // reported by flush()
      const later = this.attribute(r);
      if (later || Date.now() - started >= SESSION_WAIT_MS) {
        this.waiting.delete(r.seq);
        this.report(r, later);
      } else setTimeout(retry, 50).unref();
    };
    setTimeout(retry, 50).unref();
  }

  /** The monitor stops: what still waits for its session is reported as it is. */
  flush(): void {
    for (const r of [...this.waiting.values()]) {
      this.waiting.delete(r.seq);
      this.report(r, this.attribute(r));
    }
  }

  private attribute(r: RawRecord & { t: 'signal' }): AgentRef | undefined {
    return this.host.agentOf(r.pid) ?? (r.root ? this.host.sessionRoot(r.root) : undefined) ?? this.ancestorAgent(r.ancestry);
  }

  private report(r: RawRecord & { t: 'signal' }, agent: AgentRef | undefined): void {
    const stopping = KILLING.has(r.sig);
    const what = r.role === 'monitor' ? 'the monitor' : r.role === 'sensor' ? "the monitor's kernel sensor" : `process ${r.target}`;
    const chain = [`${r.comm}(${r.pid})`, ...r.ancestry.map((a) => `${a.comm}(${a.pid})`)].join(' <- ');
    // raised by I/O on a file set to signal its owner (F_SETSIG): the task named made the file ready, someone else armed it
    const viaIo = r.code === SI_SIGIO || (r.code >= 1 && r.code <= 6);
    this.host.emit({
      ts: this.host.isoFromNs(r.ns),
      kind: stopping ? 'monitor.killed' : 'monitor.signal',
      // from an agent's tree: an alert whatever the signal; else a kill is worth a look, and a
      // stop or reload request (SIGTERM, SIGINT, SIGHUP) is the user's
      severity: agent ? 'alert' : stopping ? 'warn' : 'info',
      ...(agent || stopping ? { rule: stopping ? 'warden.monitor_killed' : 'warden.monitor_signal', category: 'defense_evasion' as const, mitre: ['T1562.001'] } : {}),
      ...(agent ? { agent } : {}),
      message: `${signalName(r.sig)} to ${what} (pid ${r.target}) ${viaIo ? `raised by I/O on a file set to signal it (F_SETSIG) while ${chain} wrote to it` : `from ${chain}`}${agent ? `, in ${agent.name} session ${agent.session}` : ''}${r.resumed ? '; continued at once by the kernel sensor' : ''}`,
      data: {
        signal: signalName(r.sig),
        signo: r.sig,
        target_pid: r.target,
        target: r.role,
        sender: { pid: r.pid, comm: r.comm, uid: r.uid },
        ancestry: r.ancestry,
        si_code: r.code,
        ...(viaIo ? { via_io: true } : {}),
        ...(r.resumed ? { resumed: true } : {}),
      },
    });
    this.host.ack(r.seq);
  }

  /** The record of `sig` just sent to the monitor, or since `sinceNs` (waits up to waitMs for it to arrive). */
  senderOf(sig: number, waitMs: number, sinceNs?: bigint): Promise<GuardSignal | undefined> {
    const after = sinceNs ?? process.hrtime.bigint() - 2_000_000_000n;
    const hit = [...this.recent].reverse().find((g) => g.sig === sig && g.role === 'monitor' && g.ns >= after);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve) => {
      const w = { sig, resolve: (g: GuardSignal | undefined) => resolve(g) };
      this.waiters.push(w as { sig: number; resolve: (g: GuardSignal) => void });
      setTimeout(() => {
        const i = this.waiters.indexOf(w as { sig: number; resolve: (g: GuardSignal) => void });
        if (i >= 0) {
          this.waiters.splice(i, 1);
          resolve(undefined);
        }
      }, waitMs).unref();
    });
  }

  /** A sender the model does not know may still descend from an agent it knows. */
  private ancestorAgent(anc: Array<{ pid: number }>): AgentRef | undefined {
    for (const a of anc) {
      const x = this.host.agentOf(a.pid);
      if (x) return x;
    }
    return undefined;
  }
}
