// Kernel-refused reads in `warden watch` (`protect: true`): a fanotify permission group marks
// the protected secrets and Warden's own files; a worker thread answers each open at once,
// refused when the opening process belongs to an agent session, allowed otherwise. This side
// owns the group and its marks, tells the worker which agent roots have no cgroup of ours, turns
// the worker's refusals into `action.deny` events, and runs the watchdog: a decision not made
// within `decision_timeout_ms` is answered "allow" here (fail-open) and reported as an alert,
// so no open on the host ever waits on Warden for long. When the monitor dies, its group fd
// closes and the kernel allows every pending and later open (fail-open by construction).
import path from 'node:path';
import { MessageChannel, Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { AgentRef, UnstampedEvent } from '../../events/types.js';
import { nowIso } from '../../events/time.js';
import { procRefOf } from '../governor/procs.js';
import { FAN, loadFanotify, O_CLOEXEC, O_LARGEFILE, O_RDONLY, response, type Fanotify } from './fanotify.js';
import { C, type WorkerData, type WorkerNote } from './shared.js';
import type { Target } from './targets.js';

export interface ProtectorOptions {
  timeoutMs: number;
  /** This monitor's governor session directories per hierarchy (`/x/warden.governor/`). */
  ownDirs: string[];
  /** The session of a governor directory name, or of an agent root pid. */
  sessionByDir(name: string): AgentRef | undefined;
  sessionByRoot(root: number): AgentRef | undefined;
  emit(ev: UnstampedEvent): void;
  testDelayMs?: number;
}

export class ProtectUnavailable extends Error {}

export class Protector {
  private readonly fan: Fanotify;
  private readonly fd: number;
  private readonly worker: Worker;
  private readonly ctrl: Int32Array;
  private readonly since: BigInt64Array;
  private readonly port: MessageChannel['port1'];
  private readonly marks = new Set<string>();
  private readonly watchdog: NodeJS.Timeout;
  private readonly resp = Buffer.alloc(8);
  readonly counters = { protect_marks: 0, protect_mark_errors: 0, protect_timeouts: 0 };
  private stopped = false;

  constructor(private readonly o: ProtectorOptions) {
    const fan = loadFanotify();
    if (!fan) throw new ProtectUnavailable('koffi/libc could not be loaded');
    if (process.getuid?.() !== 0) throw new ProtectUnavailable('protect needs root (fanotify permission events)');
    const fd = fan.init(FAN.CLASS_CONTENT | FAN.CLOEXEC | FAN.NONBLOCK | FAN.UNLIMITED_MARKS, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
    if (fd < 0) throw new ProtectUnavailable(`fanotify_init failed (errno ${fan.errno()}): the kernel needs CONFIG_FANOTIFY_ACCESS_PERMISSIONS`);
    this.fan = fan;
    this.fd = fd;
    this.ctrl = new Int32Array(new SharedArrayBuffer(C.SIZE * 4));
    this.since = new BigInt64Array(new SharedArrayBuffer(8));
    const ports = new MessageChannel();
    const notes = new MessageChannel();
    this.port = ports.port1;
    const data: WorkerData = {
      fd,
      selfPid: process.pid,
      ownDirs: o.ownDirs,
      ctrl: this.ctrl.buffer as SharedArrayBuffer,
      since: this.since.buffer as SharedArrayBuffer,
      port: ports.port2,
      notes: notes.port2,
      testDelayMs: o.testDelayMs,
    };
    const here = path.dirname(fileURLToPath(import.meta.url));
    this.worker = new Worker(path.join(here, 'worker.js'), { workerData: data, transferList: [ports.port2, notes.port2] });
    this.worker.unref();
    this.worker.on('error', (err) => this.report('monitor.protect_failed', 'alert', `the decision thread of protect failed: ${err.message}; opens are allowed`, { error: err.message }));
    notes.port1.on('message', (n: WorkerNote) => this.denied(n));
    notes.port1.unref();
    this.watchdog = setInterval(() => this.check(), Math.max(5, Math.floor(o.timeoutMs / 4)));
    this.watchdog.unref();
  }

  /** Marks targets (files, or directories for the files in them); returns how many marks are in place. */
  mark(targets: Target[]): number {
    for (const t of targets) {
      if (this.marks.has(t.path)) continue;
      const mask = t.dir ? FAN.OPEN_PERM | FAN.EVENT_ON_CHILD : FAN.OPEN_PERM;
      if (this.fan.mark(this.fd, FAN.MARK_ADD, mask, -100, t.path) === 0) {
        this.marks.add(t.path);
        this.counters.protect_marks++;
      } else this.counters.protect_mark_errors++;
    }
    return this.marks.size;
  }

  isMarked(p: string): boolean {
    return this.marks.has(p);
  }

  /** Agent roots whose processes are not in a governor cgroup of ours (found by ancestry instead). */
  setRoots(roots: number[]): void {
    this.port.postMessage({ roots });
  }

  stats(): Record<string, number> {
    return {
      ...this.counters,
      protect_allowed: Atomics.load(this.ctrl, C.ALLOWED),
      protect_denied: Atomics.load(this.ctrl, C.DENIED),
      protect_errors: Atomics.load(this.ctrl, C.ERRORS),
    };
  }

  /** The watchdog: a decision older than the timeout is answered "allow" here and reported. */
  private check(): void {
    const g = Atomics.load(this.ctrl, C.GEN);
    if (g <= 0) return;
    const age = Date.now() - Number(Atomics.load(this.since, 0));
    if (age < this.o.timeoutMs) return;
    if (Atomics.compareExchange(this.ctrl, C.GEN, g, -g) !== g) return;
    const efd = Atomics.load(this.ctrl, C.FD);
    this.fan.write(this.fd, response(this.resp, efd, FAN.ALLOW), 8);
    Atomics.store(this.ctrl, C.DONE, g);
    Atomics.notify(this.ctrl, C.DONE);
    this.counters.protect_timeouts++;
    this.report('monitor.protect_timeout', 'alert', `a protected open waited ${age} ms for a decision and was allowed (fail-open after ${this.o.timeoutMs} ms)`, {
      waited_ms: age,
      timeout_ms: this.o.timeoutMs,
    });
  }

  private denied(n: WorkerNote): void {
    const agent = n.session !== undefined ? this.o.sessionByDir(n.session) : n.root !== undefined ? this.o.sessionByRoot(n.root) : undefined;
    const proc = n.argv ? { pid: n.pid, ppid: n.ppid ?? 0, exe: n.exe ?? n.argv[0] ?? '', argv: n.argv, cwd: '', uid: n.uid ?? -1 } : procRefOf(n.pid);
    const ev: UnstampedEvent = {
      ts: new Date(n.ts).toISOString(),
      kind: 'action.deny',
      severity: 'alert',
      rule: 'warden.protect',
      category: 'credential_access',
      mitre: ['T1552.001'],
      message: `open of ${n.path} refused by the kernel (protect): pid ${n.pid}${proc ? ` ${proc.argv.join(' ').slice(0, 80)}` : ''} is in ${agent ? `${agent.name} session ${agent.session}` : 'an agent session'}`,
      file: { path: n.path, op: 'read' },
      data: { how: 'fanotify', pid: n.pid },
    };
    if (agent) ev.agent = agent;
    ev.proc = proc ?? { pid: n.pid, ppid: 0, exe: '', argv: [], cwd: '', uid: -1 };
    this.o.emit(ev);
  }

  private report(kind: string, severity: UnstampedEvent['severity'], message: string, data: Record<string, unknown>): void {
    this.o.emit({ ts: nowIso(), kind, severity, message, data, ...(severity !== 'info' ? { rule: 'warden.protect', category: 'defense_evasion', mitre: ['T1562.001'] } : {}) });
  }

  /** Stops the worker (bounded) and closes the group: the kernel then allows what was pending. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.watchdog);
    Atomics.store(this.ctrl, C.STOP, 1);
    const exited = new Promise<void>((r) => this.worker.once('exit', () => r()));
    await Promise.race([exited, new Promise((r) => setTimeout(r, 1000))]);
    await this.worker.terminate().catch(() => undefined);
    this.fan.close(this.fd);
  }
}
