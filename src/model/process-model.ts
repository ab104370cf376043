// The process model: which live processes belong to which agent session, with their
// image, argv, cwd, uid and environment, so that every event carries `agent` and `proc`. It
// consumes raw sensor records and produces WardenEvents (unstamped; the dispatcher numbers
// them). Turning one process's activity into events is activity.ts.
//
// Attribution rules: an agent start begins a session; fork and exec inherit it; a wrapper
// and the native binary or relaunched child it becomes stay one session (a different agent
// started inside a tree gets its own); work handed to a tmux/screen/sshd/atd/cron server is
// the session's (handoff.ts); a process that exits stays resolvable for `lingerMs` so its
// late events are still attributed. Records for a pid the model does not know yet wait
// briefly for the record that introduces it, then are resolved through the kernel's session
// root, /proc ancestry, or counted as unattributed. Nothing is dropped without a counter.
import { isoFromMonoNs } from '../events/time.js';
import type { AgentRef, FileInfo, ProcRef, UnstampedEvent } from '../events/types.js';
import type { RawRecord } from '../sensors/raw.js';
import * as proc from '../sensors/procfs/proc.js';
import { ActivityMapper } from './activity.js';
import { type AgentMatcher, basename, isBuiltinAgentName } from './agents.js';
import { AuthoredFiles } from './authored.js';
import { EXEC_ENV_NAMES, changedEnv, reportedEnv } from './exec-env.js';
import { HOLD_MS, type Handoff, Handoffs } from './handoff.js';
import { SecretIdentity } from './identity.js';
import { normalize, resolveAgainst } from './paths.js';
import { homeOf } from './users.js';

export interface Session {
  id: string;
  name: string;
  rootPid: number;
  cwd: string;
  home?: string;
  /** The agent's project directories: its cwd at start, then the ones its own processes cd into. */
  workspaces: string[];
  startedAt: number;
  endedAt?: number;
  parentSession?: string;
  ref: AgentRef;
  live: number;
  counts: { info: number; warn: number; alert: number };
  /** address -> name this session resolved (from DNS answers it received). */
  names: Map<string, string>;
  /** Events attributed to it (for loss reports: whose flood it was). */
  events: number;
  /** The root's start (CLOCK_MONOTONIC ns), part of the session id. */
  startNs: bigint;
}

export interface Proc {
  pid: number;
  ppid: number;
  exe: string;
  argv: string[];
  cwd: string;
  uid: number;
  comm?: string;
  startNs: bigint;
  session?: Session;
  exitedAt?: number;
  ref?: ProcRef;
  /** fd -> path for files this process (or its parent before fork) opened (bpftrace fallback). */
  fds?: Map<number, string>;
  /** The last file.open reported, which kernel-folded repeats refer to. */
  lastOpen?: FileInfo;
  /** The last few files opened, by device and inode: what a kernel repeat count names. */
  recentOpens?: Map<string, FileInfo>;
  /** The security-relevant environment of its image (exec-env.ts). */
  env?: Record<string, string>;
  /** The kernel's exec generation (a decision applies to one image). */
  gen?: number;
  /** The image is an agent (its name), for "the agent's own processes". */
  agent?: string;
  /** Why its program is not the tool its name says (authored.ts). */
  toolUntrusted?: string;
  /** The executable the kernel loaded, when it differs from `exe`. */
  realExe?: string;
  /** Made from its session root alone (resolveLate): its own fork record may still come, with a parent the model never saw. */
  late?: boolean;
}

/** A process whose session is not decided yet: a hand-off child, or a launcher candidate. */
interface Held {
  kind: 'handoff' | 'launcher';
  since: number;
  parent: number;
  records: RawRecord[];
}

const MAX_FDS = 512;
const MAX_HELD_RECORDS = 4000;
const MAX_WORKSPACES = 16;

export interface ModelOptions {
  matcher: AgentMatcher;
  emit: (ev: UnstampedEvent) => void;
  /** Kernel filter control (sensor.track / untrack / servers / protected inodes). */
  track?: (pid: number, root?: number) => void;
  untrack?: (pid: number, gen?: number) => void;
  serve?: (pid: number, root: number) => void;
  unserve?: (pid: number) => void;
  /** Whether a sensor took it (false: none runs yet). */
  protect?: (dev: number, ino: number) => boolean;
  /** Keeps a session with the kernel's pinned state (sensor.rememberSession / forgetSession). */
  remember?: (s: Session, startNs: bigint) => void;
  forget?: (root: number) => void;
  lingerMs?: number;
  /** How long records for an unknown pid wait for the record that introduces it. */
  pendingMs?: number;
  now?: () => number;
  /** Sees each activity event with the kernel timestamp it came from (latency benchmark). */
  observe?: (ev: UnstampedEvent, ns: bigint) => void;
}

const MAX_PENDING = 20_000;

/** Directories a cd into never makes a workspace (an agent looking around is not working there). */
const NOT_WORKSPACE = /^\/(bin|boot|dev|etc|lib|lib32|lib64|libx32|proc|run|sbin|sys|usr|var)?(\/|$)/;

export class ProcessModel {
  private readonly procs = new Map<number, Proc>();
  private readonly sessionsById = new Map<string, Session>();
  private readonly sessionsByRoot = new Map<number, Session>();
  /** Candidates that turned out not to be agents: their late records are counted, not kept. */
  private readonly rejected = new Map<number, number>();
  private readonly pending = new Map<number, { since: number; records: RawRecord[] }>();
  private readonly held = new Map<number, Held>();
  private pendingCount = 0;
  private readonly lingering: Array<{ pid: number; at: number }> = [];
  private readonly linger: number;
  private readonly pendingMs: number;
  private readonly now: () => number;
  readonly authored = new AuthoredFiles();
  readonly identity: SecretIdentity;
  readonly handoffs: Handoffs;
  private readonly activity: ActivityMapper;
  readonly counters = {
    records: 0,
    events: 0,
    unattributed: 0,
    rejected_candidates: 0,
    /** records of processes found not to be agents (their provisional tracking) */
    rejected_records: 0,
    pending_dropped: 0,
    unresolved_paths: 0,
    /** records attributed through the kernel's session root (their fork record came late or never) */
    attributed_by_root: 0,
    held_released: 0,
    held_records_dropped: 0,
    sessions_joined: 0,
  };

  constructor(private readonly o: ModelOptions) {
    this.linger = o.lingerMs ?? 5000;
    this.pendingMs = o.pendingMs ?? 250;
    this.now = o.now ?? Date.now;
    this.identity = new SecretIdentity({ homes: () => this.homes(), protect: o.protect, now: this.now });
    this.handoffs = new Handoffs({ serve: (p, r) => o.serve?.(p, r), unserve: (p) => o.unserve?.(p), now: this.now });
    this.activity = new ActivityMapper(this, {
      emitFor: (p, ns, kind, extra) => this.emitFor(p, ns, kind, extra),
      counters: this.counters,
    });
  }

  // ---- queries ----------------------------------------------------------------------

  sessions(): Session[] {
    return [...this.sessionsById.values()];
  }

  sessionByRoot(root: number): Session | undefined {
    return this.sessionsByRoot.get(root);
  }

  /** The model's process entry (activity.ts, resolve.ts). */
  proc(pid: number): Proc | undefined {
    return this.procs.get(pid);
  }

  /** The agent a pid belongs to, if it is (or very recently was) in an agent's tree. */
  agentOf(pid: number): AgentRef | undefined {
    const p = this.procs.get(pid);
    if (p?.session) return p.session.ref;
    // Not seen by the sensor (e.g. degraded mode): walk the /proc ancestry.
    let cur = pid;
    for (let i = 0; i < 64 && cur > 1; i++) {
      const known = this.procs.get(cur);
      if (known?.session) return known.session.ref;
      const st = proc.readStat(cur);
      if (!st) return undefined;
      cur = st.ppid;
    }
    return undefined;
  }

  /** Counts a classified event against its session (for sessions.list). */
  noteSeverity(session: string, severity: 'info' | 'warn' | 'alert'): void {
    const s = this.sessionsById.get(session);
    if (s) s.counts[severity]++;
  }

  /**
   * Makes a live process the root of a session under a given name whatever its command line
   * (the launcher of a sandbox). Its descendants are attributed through fork and exec.
   */
  adoptRoot(pid: number, name: string): Session | undefined {
    const st = proc.readStat(pid);
    if (!st) return undefined;
    const p = this.adopt(pid, st, proc.readCmdline(pid) ?? []);
    if (!p) return undefined;
    this.o.track?.(pid, pid);
    const s = this.startSession(p, name, 'launch');
    for (const d of proc.readDescendants(pid)) {
      const dst = proc.readStat(d);
      const dp = dst && this.adopt(d, dst, proc.readCmdline(d) ?? []);
      if (dp) {
        dp.session = s;
        s.live++;
        this.o.track?.(d, pid);
      }
    }
    this.replayPending(pid);
    return s;
  }

  /** Every pid attributed to a live session, with its session root (to re-seed a restarted sensor). */
  trackedPids(): number[] {
    const out: number[] = [];
    for (const p of this.procs.values()) if (p.session && p.exitedAt === undefined) out.push(p.pid);
    return out;
  }

  /**
   * Sends every tracked pid's session root to the kernel (seeds start with themselves as root),
   * and the sessions to its pinned state (those found before the sensor ran).
   */
  resendRoots(): void {
    for (const p of this.procs.values()) if (p.session && p.exitedAt === undefined) this.o.track?.(p.pid, p.session.rootPid);
    for (const s of this.sessionsById.values()) if (s.endedAt === undefined) this.o.remember?.(s, s.startNs);
  }

  get size(): number {
    return this.procs.size;
  }

  /** The homes of the sessions (for the secret identity). */
  private homes(): string[] {
    const out = new Set<string>();
    for (const s of this.sessionsById.values()) if (s.home) out.add(s.home);
    return [...out];
  }

  // ---- inventory --------------------------------------------------------------------

  /**
   * Finds agents already running (and their descendants) in /proc. Returns the pids to
   * seed the kernel filter with. Emits agent.start for each session found.
   */
  scan(): number[] {
    const seeds: number[] = [];
    const self = process.pid;
    for (const pid of proc.listPids()) {
      if (pid === self || this.procs.get(pid)?.session) continue;
      const argv = proc.readCmdline(pid);
      if (!argv || argv.length === 0) continue;
      const st = proc.readStat(pid);
      if (!st) continue;
      const name = this.o.matcher.match({ argv, exe: proc.readExe(pid), comm: st.comm });
      if (!name) continue;
      // The outermost agent owns the tree; nested agents found later become their own roots.
      if (this.hasAgentAncestor(st.ppid)) continue;
      const root = this.adopt(pid, st, argv);
      if (!root) continue;
      root.agent = name;
      const s = this.startSession(root, name, 'scan');
      seeds.push(pid);
      for (const d of proc.readDescendants(pid)) {
        const dst = proc.readStat(d);
        if (!dst) continue;
        const dp = this.adopt(d, dst, proc.readCmdline(d) ?? []);
        if (dp) {
          dp.session = s;
          s.live++;
          seeds.push(d);
        }
      }
    }
    return seeds;
  }

  private hasAgentAncestor(ppid: number): boolean {
    let cur = ppid;
    for (let i = 0; i < 64 && cur > 1; i++) {
      const argv = proc.readCmdline(cur);
      const st = proc.readStat(cur);
      if (!st) return false;
      if (argv && this.o.matcher.match({ argv, comm: st.comm })) return true;
      cur = st.ppid;
    }
    return false;
  }

  /** Creates a model entry from /proc for a live process. */
  private adopt(pid: number, st: proc.ProcStat, argv: string[]): Proc | undefined {
    const status = proc.readStatus(pid);
    const p: Proc = {
      pid,
      ppid: st.ppid,
      exe: proc.readExe(pid) ?? argv[0] ?? st.comm,
      argv,
      cwd: proc.readCwd(pid) ?? '/',
      uid: status?.uid ?? -1,
      comm: st.comm,
      startNs: proc.startTicksToMonoNs(st.startTicks),
      env: proc.readEnv(pid, EXEC_ENV_NAMES),
    };
    this.procs.set(pid, p);
    return p;
  }

  private startSession(root: Proc, name: string, how: string, parent?: Session): Session {
    const id = `${name}-${root.pid}-${(root.startNs / 1_000_000n).toString(36)}`;
    // An agent started inside another keeps the outer session's home: a nested agent started
    // with a forged HOME must not move where `~/.ssh` is for its rules (its HOME is reported).
    // Secrets in every user's home are also known by inode (identity.ts), whatever HOME says.
    const envHome = root.env?.HOME ?? proc.readEnvVar(root.pid, 'HOME');
    const home = parent?.home ?? envHome ?? homeOf(root.uid);
    const workspaces = root.cwd && root.cwd !== '/' ? [root.cwd] : [];
    const newHome = home !== undefined && !this.homes().includes(home);
    const s: Session = {
      id,
      name,
      rootPid: root.pid,
      cwd: root.cwd,
      home,
      workspaces,
      startedAt: this.now(),
      parentSession: parent?.id,
      ref: this.makeRef(name, root.pid, id, root.cwd, home, workspaces, envHome),
      live: 1,
      counts: { info: 0, warn: 0, alert: 0 },
      names: new Map(),
      events: 0,
      startNs: root.startNs,
    };
    this.sessionsById.set(id, s);
    this.sessionsByRoot.set(root.pid, s);
    root.session = s;
    root.ref = undefined;
    this.o.remember?.(s, s.startNs);
    this.o.emit({
      ts: isoFromMonoNs(root.startNs > 0n ? root.startNs : process.hrtime.bigint()),
      kind: 'agent.start',
      severity: 'info',
      agent: s.ref,
      proc: this.refOf(root),
      message: `${name} agent started (pid ${root.pid}, ${root.cwd})`,
      data: { detected_by: how, ...(parent ? { parent_session: parent.id } : {}), ...(envHome && envHome !== home ? { env_home: envHome } : {}) },
    });
    // secrets of a home not seen before are learnt now (by inode)
    this.identity.refreshIfOlder(newHome ? 0 : 30_000);
    return s;
  }

  /**
   * A session the kernel's pinned state remembers: after a monitor was killed, the records
   * written meanwhile (and a signal record of who killed it) belong to it, even when its agent
   * has exited since. The same id as before: the session continues.
   */
  recoverSession(info: { root: number; name: string; session: string; cwd: string; home: string }): void {
    if (this.sessionsByRoot.has(info.root) || this.sessionsById.has(info.session)) return;
    const workspaces = info.cwd && info.cwd !== '/' ? [info.cwd] : [];
    const s: Session = {
      id: info.session,
      name: info.name,
      rootPid: info.root,
      cwd: info.cwd || '/',
      home: info.home || undefined,
      workspaces,
      startedAt: this.now(),
      ref: this.makeRef(info.name, info.root, info.session, info.cwd || '/', info.home || undefined, workspaces),
      live: proc.readStat(info.root) ? 1 : 0,
      counts: { info: 0, warn: 0, alert: 0 },
      names: new Map(),
      events: 0,
      startNs: 0n,
    };
    if (!s.live) s.endedAt = this.now();
    this.sessionsById.set(s.id, s);
    this.sessionsByRoot.set(info.root, s);
  }

  private makeRef(name: string, root: number, id: string, cwd: string, home: string | undefined, workspaces: string[], envHome?: string): AgentRef {
    const ref: AgentRef = { name, root_pid: root, session: id, cwd };
    if (home) ref.home = home;
    if (workspaces.length) ref.workspaces = workspaces;
    if (envHome && envHome !== home) ref.env_home = envHome;
    return ref;
  }

  /** An agent's own process moved into a directory: a project it works in from now on. */
  noteCwd(p: Proc, dir: string): void {
    const s = p.session;
    if (!s || p.agent !== s.name || NOT_WORKSPACE.test(dir) || dir === s.home || s.workspaces.includes(dir)) return;
    if (s.workspaces.length >= MAX_WORKSPACES) return;
    s.workspaces = [...s.workspaces, dir];
    s.ref = this.makeRef(s.name, s.rootPid, s.id, s.cwd, s.home, s.workspaces, s.ref.env_home);
  }

  // ---- records ----------------------------------------------------------------------

  record(r: RawRecord): void {
    this.counters.records++;
    switch (r.t) {
      case 'exec':
        return this.onExec(r);
      case 'fork':
        return this.onFork(r);
      case 'exit':
        return this.onExit(r);
      case 'signal':
        return; // the guard's records are the monitor's (monitor-core)
    }
    const h = this.held.get(r.pid);
    if (h) return this.hold(r.pid, h, r);
    const p = this.procs.get(r.pid);
    if (!p) {
      // A process that renamed itself to an agent name (process.title = "claude").
      if (r.t === 'rename') return this.onRenamed(r);
      return this.defer(r);
    }
    if (!p.session) return;
    if (r.t === 'rename' && p.session.rootPid !== p.pid && this.o.matcher.match({ argv: [r.comm] })) {
      // an agent inside another agent's tree renamed itself: its own session from now on,
      // unless it is the same agent (a worker of the one it belongs to)
      const name = this.o.matcher.match({ argv: [r.comm] })!;
      p.comm = r.comm;
      if (name !== p.session.name) {
        const parent = p.session;
        parent.live--;
        p.agent = name;
        this.startSession(p, name, 'rename', parent);
        return;
      }
    }
    this.activity.onActivity(p, r);
  }

  private onRenamed(r: RawRecord & { t: 'rename' }): void {
    const st = proc.readStat(r.pid);
    const argv = proc.readCmdline(r.pid) ?? [];
    const exe = proc.readExe(r.pid);
    const name = this.o.matcher.match({ argv, exe, comm: r.comm }) ?? this.o.matcher.match({ argv: [r.comm] });
    if (!st || !name) return this.reject(r.pid);
    this.rejected.delete(r.pid);
    const p = this.adopt(r.pid, st, argv);
    if (!p) return;
    p.comm = r.comm;
    p.agent = name;
    this.o.track?.(r.pid, r.pid);
    this.startSession(p, name, 'rename');
    this.replayPending(r.pid);
  }

  /** Periodic work: resolve or drop deferred records, release held processes, forget the exited. */
  tick(): void {
    const now = this.now();
    for (const [pid, q] of this.pending) {
      if (now - q.since < this.pendingMs) continue;
      this.pending.delete(pid);
      this.pendingCount -= q.records.length;
      const gone = !proc.readStat(pid);
      const p = this.resolveLate(pid, q.records);
      if (p) {
        for (const r of q.records) this.record(r);
        // gone already, and its records did not say when: it ends now (its records were its
        // past; set before them, a gone process's own exec looked like a reused pid)
        const still = this.procs.get(pid);
        if (gone && still && still.exitedAt === undefined) {
          still.exitedAt = now;
          this.lingering.push({ pid, at: now });
        }
      } else if (this.rejected.has(pid)) this.counters.rejected_records += q.records.length;
      else {
        this.counters.unattributed += q.records.length;
        this.o.untrack?.(pid);
      }
    }
    for (const [pid, h] of this.held) {
      if (now - h.since < HOLD_MS) continue;
      this.release(pid, h);
    }
    this.handoffs.tick();
    while (this.lingering.length > 0 && now - this.lingering[0]!.at >= this.linger) {
      const { pid } = this.lingering.shift()!;
      const p = this.procs.get(pid);
      if (p && p.exitedAt !== undefined && now - p.exitedAt >= this.linger) this.procs.delete(pid);
    }
    for (const [pid, at] of this.rejected) if (now - at > 10_000) this.rejected.delete(pid);
  }

  private defer(r: RawRecord): void {
    if (this.rejected.has(r.pid)) {
      this.counters.rejected_records++;
      return;
    }
    if (this.pendingCount >= MAX_PENDING) {
      this.counters.pending_dropped++;
      return;
    }
    let q = this.pending.get(r.pid);
    if (!q) this.pending.set(r.pid, (q = { since: this.now(), records: [] }));
    q.records.push(r);
    this.pendingCount++;
  }

  private replayPending(pid: number): void {
    const q = this.pending.get(pid);
    if (!q) return;
    this.pending.delete(pid);
    this.pendingCount -= q.records.length;
    for (const r of q.records) this.record(r);
  }

  /**
   * A tracked pid the model missed (its fork record lost or never sent): the kernel's session
   * root says whose it is; else its /proc ancestry.
   */
  private resolveLate(pid: number, records: RawRecord[]): Proc | undefined {
    const root = records.find((r) => r.root)?.root;
    const s = root ? this.sessionsByRoot.get(root) : undefined;
    const st = proc.readStat(pid);
    if (s) {
      const p: Proc = st
        ? this.adopt(pid, st, proc.readCmdline(pid) ?? [])!
        : { pid, ppid: 0, exe: '[exited]', argv: [], cwd: s.cwd, uid: -1, startNs: 0n };
      this.procs.set(pid, p);
      p.session = s;
      p.late = true;
      s.live++;
      this.counters.attributed_by_root += records.length;
      return p;
    }
    if (!st) return undefined;
    let cur = st.ppid;
    for (let i = 0; i < 64 && cur > 1; i++) {
      const known = this.procs.get(cur);
      if (known) {
        if (!known.session) return undefined;
        const p = this.adopt(pid, st, proc.readCmdline(pid) ?? []);
        if (!p) return undefined;
        p.session = known.session;
        known.session.live++;
        return p;
      }
      const up = proc.readStat(cur);
      if (!up) return undefined;
      cur = up.ppid;
    }
    return undefined;
  }

  // ---- held processes (hand-off children, launchers) ----------------------------------

  private hold(pid: number, h: Held, r: RawRecord): void {
    if (h.records.length >= MAX_HELD_RECORDS) {
      this.counters.held_records_dropped++;
      return;
    }
    h.records.push(r);
    if (h.kind !== 'handoff') return;
    // atd: the child that opens a job file an agent wrote is that agent's
    if (r.t === 'open') {
      const d = this.handoffs.decideOpen(r.kpath ?? r.path, r.base ?? proc.readCwd(pid));
      if (d) this.confirmHeld(pid, h, d);
    }
  }

  /** A held process and what it started are the session's: replay its records attributed. */
  private confirmHeld(pid: number, h: Held, d: { session: string; root: number; via: string }): void {
    const s = this.sessionsById.get(d.session) ?? this.sessionsByRoot.get(d.root);
    this.held.delete(pid);
    if (!s) return this.release(pid, h);
    const st = proc.readStat(pid);
    const p: Proc = (st && this.adopt(pid, st, proc.readCmdline(pid) ?? [])) || { pid, ppid: h.parent, exe: '[exited]', argv: [], cwd: s.cwd, uid: -1, startNs: 0n };
    this.procs.set(pid, p);
    p.session = s;
    s.live++;
    this.o.track?.(pid, s.rootPid);
    this.emitFor(p, process.hrtime.bigint(), 'process.handoff_start', {
      data: { via: d.via, server_pid: h.parent, server: basename(proc.readExe(h.parent) ?? String(h.parent)) },
      message: `${s.name} session: work handed to ${d.via} (server pid ${h.parent}) runs as pid ${pid}`,
    });
    for (const r of h.records) this.record(r);
    // its own held children follow
    for (const [cp, ch] of [...this.held]) if (ch.parent === pid) this.confirmHeld(cp, ch, d);
  }

  /** Not an agent's after all: untracked, its records counted. */
  private release(pid: number, h: Held): void {
    this.held.delete(pid);
    this.counters.held_released++;
    this.counters.rejected_records += h.records.length;
    this.rejected.set(pid, this.now());
    this.o.untrack?.(pid);
    for (const [cp, ch] of [...this.held]) if (ch.parent === pid) this.release(cp, ch);
  }

  // ---- processes ------------------------------------------------------------------------

  private onFork(r: RawRecord & { t: 'fork' }): void {
    const parent = this.procs.get(r.ppid);
    const ph = this.held.get(r.ppid);
    if (ph) {
      // a child of a held process is held with it
      this.held.set(r.pid, { kind: ph.kind, since: this.now(), parent: r.ppid, records: [r] });
      return;
    }
    const late = this.procs.get(r.pid);
    if ((!parent || !parent.session) && late?.late && late.session) {
      // its session came from the kernel's root (resolveLate); the parent is gone or never seen
      late.late = false;
      late.ppid = r.ppid;
      late.startNs = r.ns;
      this.emitFor(late, r.ns, 'process.fork', { data: { parent_pid: r.ppid } });
      return;
    }
    if (!parent || !parent.session) {
      if (r.handoff) return this.onHandoffFork(r);
      if (this.rejected.has(r.ppid) || (parent && !parent.session)) {
        this.rejected.set(r.pid, this.now());
        this.counters.rejected_records++;
        this.o.untrack?.(r.pid);
        return;
      }
      return this.defer(r);
    }
    const child: Proc = {
      pid: r.pid,
      ppid: r.ppid,
      exe: parent.exe,
      argv: parent.argv,
      cwd: parent.cwd,
      uid: parent.uid,
      comm: parent.comm,
      startNs: r.ns,
      session: parent.session,
      fds: parent.fds && parent.fds.size > 0 ? new Map(parent.fds) : undefined,
      env: parent.env,
      agent: parent.agent,
      toolUntrusted: parent.toolUntrusted,
      realExe: parent.realExe,
    };
    this.procs.set(r.pid, child);
    parent.session.live++;
    this.emitFor(child, r.ns, 'process.fork', { data: { parent_pid: r.ppid } });
    this.replayPending(r.pid);
  }

  /** A new child of a hand-off server: the agent's now, later (held), or not at all. */
  private onHandoffFork(r: RawRecord & { t: 'fork' }): void {
    const d = this.handoffs.decideFork(r.pid, r.ppid, r.root);
    if (d === 'wait') {
      this.held.set(r.pid, { kind: 'handoff', since: this.now(), parent: r.ppid, records: [] });
      return;
    }
    if (!d) {
      this.rejected.set(r.pid, this.now());
      this.o.untrack?.(r.pid);
      return;
    }
    this.held.set(r.pid, { kind: 'handoff', since: this.now(), parent: r.ppid, records: [] });
    this.confirmHeld(r.pid, this.held.get(r.pid)!, d);
  }

  private onExec(r: RawRecord & { t: 'exec' }): void {
    const h = this.held.get(r.pid);
    if (h) {
      if (h.kind === 'handoff') {
        // cron: the command a held child runs says whose job it is
        const d = this.handoffs.decideExec(r.argv ?? proc.readCmdline(r.pid) ?? []);
        h.records.push(r);
        if (d) this.confirmHeld(r.pid, h, d);
        return;
      }
      // a held launcher executes its next image: decided anew below
      this.held.delete(r.pid);
      this.counters.rejected_records += h.records.length;
    }
    let p = this.procs.get(r.pid);
    if (p && p.exitedAt !== undefined) {
      // pid reused after the old process exited
      this.procs.delete(r.pid);
      p = undefined;
    }
    if (p && !p.session) p = undefined;
    if (!p) {
      const parent = this.procs.get(r.ppid);
      if (parent?.session) {
        p = { pid: r.pid, ppid: r.ppid, exe: parent.exe, argv: parent.argv, cwd: parent.cwd, uid: parent.uid, startNs: r.ns, session: parent.session, env: parent.env, agent: parent.agent };
        this.procs.set(r.pid, p);
        parent.session.live++;
      } else if (r.candidate || r.scanned) {
        return this.onCandidate(r);
      } else if (r.handoff) {
        this.held.set(r.pid, { kind: 'handoff', since: this.now(), parent: r.ppid, records: [r] });
        return;
      } else {
        return this.defer(r);
      }
    }
    this.rejected.delete(r.pid);
    const argv = r.argv ?? proc.readCmdline(r.pid) ?? [r.filename];
    const exe = r.exe ?? (r.filename.startsWith('/') ? normalize(r.filename) : resolveAgainst(r.cwd ?? p.cwd, r.filename));
    const prevEnv = p.env;
    this.applyImage(p, r, argv, exe);
    if (!p.session) return;
    const s0 = p.session;
    // An agent started from inside another agent's tree becomes a session of its own, unless it
    // is the same agent becoming itself (a wrapper executing or spawning its native binary, a
    // CLI relaunching itself): one session per agent start.
    const name = s0.rootPid !== p.pid ? this.o.matcher.match({ argv, exe }) : undefined;
    if (name) {
      const parent = this.procs.get(p.ppid);
      const sameAgent = name === s0.name && (p.ppid === s0.rootPid || parent?.agent === name);
      p.agent = name;
      if (sameAgent) this.counters.sessions_joined++;
      else {
        s0.live--;
        this.startSession(p, name, 'exec', s0);
      }
    } else if (s0.rootPid === p.pid) {
      p.agent = this.o.matcher.match({ argv, exe }) ?? p.agent;
    } else p.agent = undefined;
    this.emitExec(p, r, prevEnv);
    const ho = this.handoffs.onExec(basename(exe));
    if (ho) this.emitHandoff(p, r.ns, ho);
    this.replayPending(r.pid);
  }

  /** The new image's fields on the process entry (shared by every exec path). */
  private applyImage(p: Proc, r: RawRecord & { t: 'exec' }, argv: string[], exe: string): void {
    p.exe = exe;
    p.argv = argv;
    p.uid = r.uid;
    p.comm = basename(exe).slice(0, 15);
    p.gen = r.gen;
    if (r.cwd) p.cwd = r.cwd;
    p.realExe = r.realExe && r.realExe !== exe ? r.realExe : undefined;
    if (r.env) p.env = reportedEnv(r.env);
    else if (r.ldPreload !== undefined) p.env = { ...(p.env ?? {}), LD_PRELOAD: r.ldPreload };
    p.toolUntrusted = this.authored.untrusted([exe, this.activity.scriptOf(p)]);
    p.ref = undefined;
  }

  private emitExec(p: Proc, r: RawRecord & { t: 'exec' }, prevEnv: Record<string, string> | undefined): void {
    const data: Record<string, unknown> = { filename: r.filename };
    if (r.euid !== r.uid) data.euid = r.euid;
    if (p.env?.LD_PRELOAD !== undefined) data.ld_preload = p.env.LD_PRELOAD;
    if (p.env) data.env = p.env;
    const changed = r.env || r.ldPreload !== undefined ? changedEnv(prevEnv, p.env) : [];
    if (changed.length) data.env_changed = changed;
    if (r.envTruncated) data.env_truncated = true;
    if (r.argvTruncated) data.argv_truncated = true;
    if (p.realExe) data.real_exe = p.realExe;
    this.emitFor(p, r.ns, 'process.exec', { data });
  }

  /**
   * An exec the kernel flagged as a possible agent, or a process found by a scan. Decided on
   * this image alone: an agent (a session starts, or the one its parent belongs to continues),
   * a launcher that may become one (held until its next exec), or not an agent (untracked for
   * this image only: if it has executed something else meanwhile, the kernel keeps it).
   */
  private onCandidate(r: RawRecord & { t: 'exec' }): void {
    const st = proc.readStat(r.pid);
    const argv = r.argv ?? proc.readCmdline(r.pid) ?? [];
    const exe = r.exe ?? proc.readExe(r.pid);
    const name = this.o.matcher.match({ argv, exe, comm: st?.comm });
    if (!name) {
      const comm = basename(r.filename);
      if (isBuiltinAgentName(comm) || this.o.matcher.match({ argv: [comm] })) {
        // a launcher named like an agent (a shell script, a shim): its next image decides
        this.held.set(r.pid, { kind: 'launcher', since: this.now(), parent: r.ppid, records: [] });
        return;
      }
      this.reject(r.pid, r.gen);
      return;
    }
    this.rejected.delete(r.pid);
    const p: Proc = {
      pid: r.pid,
      ppid: r.ppid,
      exe: exe ?? r.filename,
      argv,
      cwd: r.cwd ?? proc.readCwd(r.pid) ?? '/',
      uid: r.uid,
      comm: st?.comm,
      startNs: r.ns,
      agent: name,
    };
    this.procs.set(r.pid, p);
    p.gen = r.gen;
    p.realExe = r.realExe && r.realExe !== p.exe ? r.realExe : undefined;
    p.env = r.env ? reportedEnv(r.env) : proc.readEnv(r.pid, EXEC_ENV_NAMES);
    p.toolUntrusted = this.authored.untrusted([p.exe, this.activity.scriptOf(p)]);
    const parent = this.procs.get(r.ppid);
    if (parent?.session && parent.agent === name) {
      // the agent's own child becoming the agent again (relaunch, native binary): same session
      p.session = parent.session;
      parent.session.live++;
      this.counters.sessions_joined++;
      this.o.track?.(r.pid, parent.session.rootPid);
    } else {
      this.o.track?.(r.pid, r.pid);
      this.startSession(p, name, r.scanned ? 'scan' : 'exec', parent?.session);
    }
    this.emitExec(p, r, parent?.env);
    this.replayPending(r.pid);
  }

  private reject(pid: number, gen?: number): void {
    this.counters.rejected_candidates++;
    this.rejected.set(pid, this.now());
    this.o.untrack?.(pid, gen);
    const q = this.pending.get(pid);
    if (q) {
      this.pending.delete(pid);
      this.pendingCount -= q.records.length;
      this.counters.rejected_records += q.records.length;
    }
  }

  private onExit(r: RawRecord & { t: 'exit' }): void {
    this.handoffs.onExit(r.pid);
    const h = this.held.get(r.pid);
    if (h) {
      h.records.push(r);
      // a held process that ends undecided was not an agent's
      if (h.kind === 'launcher' || this.now() - h.since >= 0) this.release(r.pid, h);
      return;
    }
    const p = this.procs.get(r.pid);
    if (!p) {
      if (this.pending.has(r.pid)) this.defer(r);
      else if (this.rejected.has(r.pid)) this.counters.rejected_records++;
      else if (r.root) this.defer(r);
      return;
    }
    if (p.exitedAt !== undefined) return;
    p.exitedAt = this.now();
    this.lingering.push({ pid: r.pid, at: p.exitedAt });
    const s = p.session;
    if (!s) {
      this.procs.delete(r.pid);
      return;
    }
    s.live--;
    const durationMs = r.durationNs !== undefined ? Number(r.durationNs / 1000n) / 1000 : undefined;
    const exit = { code: r.code, ...(r.signal ? { signal: r.signal } : {}), ...(durationMs !== undefined ? { duration_ms: durationMs } : {}) };
    // the shared objects it loaded were counted by the sensor, not reported one by one
    this.emitFor(p, r.ns, 'process.exit', { exit, ...(r.libraryLoads ? { data: { library_loads: r.libraryLoads } } : {}) });
    if (s.live <= 0 && s.endedAt !== undefined) this.o.forget?.(s.rootPid);
    if (s.rootPid === p.pid && s.endedAt === undefined) {
      s.endedAt = this.now();
      if (s.live <= 0) this.o.forget?.(s.rootPid);
      // what the agent leaves running stays attributed to it, and the exit says so
      const left = this.liveOf(s);
      this.o.emit({
        ts: isoFromMonoNs(r.ns),
        kind: 'agent.exit',
        severity: 'info',
        agent: s.ref,
        proc: this.refOf(p),
        exit,
        message: `${s.name} agent exited (code ${r.code}${r.signal ? `, signal ${r.signal}` : ''})${left.length ? `; ${left.length} of its processes still run, attributed to this session` : ''}`,
        ...(left.length ? { data: { left_running: left.slice(0, 20) } } : {}),
      });
    }
  }

  /** The session's processes still alive (daemons the agent leaves behind). */
  private liveOf(s: Session): Array<{ pid: number; exe: string }> {
    const out: Array<{ pid: number; exe: string }> = [];
    for (const q of this.procs.values()) if (q.session === s && q.exitedAt === undefined && q.pid !== s.rootPid && proc.readStat(q.pid)) out.push({ pid: q.pid, exe: q.exe });
    return out;
  }

  // ---- output -------------------------------------------------------------------------

  /** A hand-off an agent process made (attributed or not). */
  emitHandoff(p: Proc, ns: bigint, h: Handoff): void {
    this.emitFor(p, ns, 'process.handoff', {
      data: { via: h.via, server_pid: h.server || undefined, server: h.serverExe, target: h.target, attributed: h.attributed },
      message: h.attributed
        ? `work handed to ${h.via} (${h.target ?? `pid ${h.server}`}) is followed as this session's`
        : `work handed to ${h.via} (${h.target}) cannot be followed from here`,
    });
  }

  refOf(p: Proc): ProcRef {
    if (!p.ref) {
      const ref: ProcRef = { pid: p.pid, ppid: p.ppid, exe: p.exe, argv: p.argv, cwd: p.cwd, uid: p.uid };
      if (p.toolUntrusted) ref.tool_untrusted = p.toolUntrusted;
      if (p.realExe) ref.real_exe = p.realExe;
      p.ref = ref;
    }
    return p.ref;
  }

  private emitFor(p: Proc, ns: bigint, kind: string, extra: Partial<UnstampedEvent>): void {
    this.counters.events++;
    const s = p.session!;
    s.events++;
    const ev: UnstampedEvent = { ts: isoFromMonoNs(ns), kind, severity: 'info', agent: s.ref, proc: this.refOf(p), ...extra };
    this.o.observe?.(ev, ns);
    this.o.emit(ev);
  }

  /** For activity.ts: files the model uses to keep fds (bpftrace fallback). */
  rememberFd(p: Proc, fd: number, path: string): void {
    const fds = p.fds ?? (p.fds = new Map());
    if (fds.size >= MAX_FDS && !fds.has(fd)) fds.delete(fds.keys().next().value!);
    fds.set(fd, path);
  }
}
