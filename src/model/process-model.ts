// The process model: which live processes belong to which agent session, with their
// image, argv, cwd and uid, so that every event carries `agent` and `proc`. It consumes
// raw sensor records and produces WardenEvents (unstamped; the dispatcher numbers them).
//
// Attribution rules: an agent root starts a session; fork and exec inherit it; a process
// that exits stays resolvable for `lingerMs` so its late events (other CPUs' buffers
// arrive later) are still attributed. Records for a pid the model does not know yet
// (the fork that introduced it is still in another CPU's buffer) wait briefly, then are
// resolved through /proc ancestry or counted as unattributed.
import { isoFromMonoNs } from '../events/time.js';
import type { AgentRef, FileInfo, NetInfo, ProcRef, UnstampedEvent } from '../events/types.js';
import type { RawRecord } from '../sensors/raw.js';
import * as proc from '../sensors/procfs/proc.js';
import { type AgentMatcher, basename } from './agents.js';
import { decodeAnswer, decodeQuery } from './dns.js';
import { normalize, resolveAgainst } from './paths.js';
import { homeOf } from './users.js';

export interface Session {
  id: string;
  name: string;
  rootPid: number;
  cwd: string;
  home?: string;
  startedAt: number;
  endedAt?: number;
  parentSession?: string;
  ref: AgentRef;
  live: number;
  counts: { info: number; warn: number; alert: number };
  /** address -> name this session resolved (from DNS answers it received). */
  names: Map<string, string>;
}

interface Proc {
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
  /** fd -> path for files this process (or its parent before fork) opened. */
  fds?: Map<number, string>;
  /** The last file.open reported, which kernel-folded repeats refer to. */
  lastOpen?: FileInfo;
}

const MAX_FDS = 512;

export interface ModelOptions {
  matcher: AgentMatcher;
  emit: (ev: UnstampedEvent) => void;
  /** Kernel filter control (sensor.track / untrack). */
  track?: (pid: number) => void;
  untrack?: (pid: number) => void;
  lingerMs?: number;
  /** How long records for an unknown pid wait for the record that introduces it. */
  pendingMs?: number;
  now?: () => number;
  /** Sees each activity event with the kernel timestamp it came from (latency benchmark). */
  observe?: (ev: UnstampedEvent, ns: bigint) => void;
}

const MAX_PENDING = 20_000;
const MAX_NAMES = 4096;

export class ProcessModel {
  private readonly procs = new Map<number, Proc>();
  private readonly sessionsById = new Map<string, Session>();
  /** Candidates that turned out not to be agents: their late records are dropped. */
  private readonly rejected = new Map<number, number>();
  private readonly pending = new Map<number, { since: number; records: RawRecord[] }>();
  private pendingCount = 0;
  private readonly lingering: Array<{ pid: number; at: number }> = [];
  private readonly linger: number;
  private readonly pendingMs: number;
  private readonly now: () => number;
  readonly counters = {
    records: 0,
    events: 0,
    unattributed: 0,
    rejected_candidates: 0,
    pending_dropped: 0,
    unresolved_paths: 0,
  };

  constructor(private readonly o: ModelOptions) {
    this.linger = o.lingerMs ?? 5000;
    this.pendingMs = o.pendingMs ?? 250;
    this.now = o.now ?? Date.now;
  }

  // ---- queries ----------------------------------------------------------------------

  sessions(): Session[] {
    return [...this.sessionsById.values()];
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
    this.o.track?.(pid);
    const s = this.startSession(p, name, 'launch');
    for (const d of proc.readDescendants(pid)) {
      const dst = proc.readStat(d);
      const dp = dst && this.adopt(d, dst, proc.readCmdline(d) ?? []);
      if (dp) {
        dp.session = s;
        s.live++;
        this.o.track?.(d);
      }
    }
    this.replayPending(pid);
    return s;
  }

  /** Every pid currently attributed to a live session (to re-seed a restarted sensor). */
  trackedPids(): number[] {
    const out: number[] = [];
    for (const p of this.procs.values()) if (p.session && p.exitedAt === undefined) out.push(p.pid);
    return out;
  }

  get size(): number {
    return this.procs.size;
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
    };
    this.procs.set(pid, p);
    return p;
  }

  private startSession(root: Proc, name: string, how: string, parent?: Session): Session {
    const id = `${name}-${root.pid}-${(root.startNs / 1_000_000n).toString(36)}`;
    const home = proc.readEnvVar(root.pid, 'HOME') ?? homeOf(root.uid);
    const s: Session = {
      id,
      name,
      rootPid: root.pid,
      cwd: root.cwd,
      home,
      startedAt: this.now(),
      parentSession: parent?.id,
      ref: { name, root_pid: root.pid, session: id, cwd: root.cwd, ...(home ? { home } : {}) },
      live: 1,
      counts: { info: 0, warn: 0, alert: 0 },
      names: new Map(),
    };
    this.sessionsById.set(id, s);
    root.session = s;
    root.ref = undefined;
    this.o.emit({
      ts: isoFromMonoNs(root.startNs > 0n ? root.startNs : process.hrtime.bigint()),
      kind: 'agent.start',
      severity: 'info',
      agent: s.ref,
      proc: this.refOf(root),
      message: `${name} agent started (pid ${root.pid}, ${root.cwd})`,
      data: { detected_by: how, ...(parent ? { parent_session: parent.id } : {}) },
    });
    return s;
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
    }
    const p = this.procs.get(r.pid);
    if (!p) {
      // A process that renamed itself to an agent name (process.title = "claude").
      if (r.t === 'rename') return this.onRenamed(r);
      return this.defer(r);
    }
    if (!p.session) return;
    if (r.t === 'rename' && p.session.rootPid !== p.pid && this.o.matcher.match({ argv: [r.comm] })) {
      // an agent inside another agent's tree renamed itself: its own session from now on
      const parent = p.session;
      parent.live--;
      p.comm = r.comm;
      this.startSession(p, this.o.matcher.match({ argv: [r.comm] })!, 'rename', parent);
      return;
    }
    this.onActivity(p, r);
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
    this.o.track?.(r.pid);
    this.startSession(p, name, 'rename');
    this.replayPending(r.pid);
  }

  /** Periodic work: resolve or drop deferred records, forget processes that exited. */
  tick(): void {
    const now = this.now();
    for (const [pid, q] of this.pending) {
      if (now - q.since < this.pendingMs) continue;
      this.pending.delete(pid);
      this.pendingCount -= q.records.length;
      const p = this.resolveFromProc(pid);
      if (p) for (const r of q.records) this.record(r);
      else {
        this.counters.unattributed += q.records.length;
        this.o.untrack?.(pid);
      }
    }
    while (this.lingering.length > 0 && now - this.lingering[0]!.at >= this.linger) {
      const { pid } = this.lingering.shift()!;
      const p = this.procs.get(pid);
      if (p && p.exitedAt !== undefined && now - p.exitedAt >= this.linger) this.procs.delete(pid);
    }
    for (const [pid, at] of this.rejected) if (now - at > 10_000) this.rejected.delete(pid);
  }

  private defer(r: RawRecord): void {
    if (this.rejected.has(r.pid)) return;
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

  /** A tracked pid the model missed: find its agent through /proc ancestry. */
  private resolveFromProc(pid: number): Proc | undefined {
    const st = proc.readStat(pid);
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

  private onFork(r: RawRecord & { t: 'fork' }): void {
    const parent = this.procs.get(r.ppid);
    if (!parent) {
      if (this.rejected.has(r.ppid)) {
        this.rejected.set(r.pid, this.now());
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
    };
    this.procs.set(r.pid, child);
    if (parent.session) {
      parent.session.live++;
      this.emitFor(child, r.ns, 'process.fork', { data: { parent_pid: r.ppid } });
    }
    this.replayPending(r.pid);
  }

  private onExec(r: RawRecord & { t: 'exec' }): void {
    let p = this.procs.get(r.pid);
    if (p && p.exitedAt !== undefined) {
      // pid reused after the old process exited
      this.procs.delete(r.pid);
      p = undefined;
    }
    if (!p) {
      const parent = this.procs.get(r.ppid);
      if (parent?.session) {
        p = { pid: r.pid, ppid: r.ppid, exe: parent.exe, argv: parent.argv, cwd: parent.cwd, uid: parent.uid, startNs: r.ns, session: parent.session };
        this.procs.set(r.pid, p);
        parent.session.live++;
      } else if (r.candidate || r.scanned) {
        return this.onCandidate(r);
      } else {
        return this.defer(r);
      }
    }
    const argv = r.argv ?? proc.readCmdline(r.pid) ?? [r.filename];
    const exe = r.exe ?? (r.filename.startsWith('/') ? normalize(r.filename) : resolveAgainst(p.cwd, r.filename));
    p.exe = exe;
    p.argv = argv;
    p.uid = r.uid;
    p.comm = basename(exe).slice(0, 15);
    p.ref = undefined;
    if (!p.session) return;
    // An agent started from inside another agent's tree becomes a session of its own.
    const nested = p.session.rootPid !== p.pid ? this.o.matcher.match({ argv, exe }) : undefined;
    const data: Record<string, unknown> = { filename: r.filename };
    if (r.euid !== r.uid) data.euid = r.euid;
    if (r.ldPreload !== undefined) data.ld_preload = r.ldPreload;
    if (r.argvTruncated) data.argv_truncated = true;
    if (nested) {
      const parentSession = p.session;
      parentSession.live--;
      this.startSession(p, nested, 'exec', parentSession);
    }
    this.emitFor(p, r.ns, 'process.exec', { data });
    this.replayPending(r.pid);
  }

  /** An exec the kernel flagged as a possible agent, or a process found by a scan. */
  private onCandidate(r: RawRecord & { t: 'exec' }): void {
    const st = proc.readStat(r.pid);
    const argv = r.argv ?? proc.readCmdline(r.pid) ?? [];
    const exe = r.exe ?? proc.readExe(r.pid);
    const name = this.o.matcher.match({ argv, exe, comm: st?.comm });
    if (!name) {
      this.reject(r.pid);
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
    };
    this.procs.set(r.pid, p);
    this.o.track?.(r.pid);
    this.startSession(p, name, r.scanned ? 'scan' : 'exec');
    const data: Record<string, unknown> = { filename: r.filename };
    if (r.ldPreload !== undefined) data.ld_preload = r.ldPreload;
    this.emitFor(p, r.ns, 'process.exec', { data });
    this.replayPending(r.pid);
  }

  private reject(pid: number): void {
    this.counters.rejected_candidates++;
    this.rejected.set(pid, this.now());
    this.o.untrack?.(pid);
    const q = this.pending.get(pid);
    if (q) {
      this.pending.delete(pid);
      this.pendingCount -= q.records.length;
    }
  }

  private onExit(r: RawRecord & { t: 'exit' }): void {
    const p = this.procs.get(r.pid);
    if (!p) {
      if (this.pending.has(r.pid)) this.defer(r);
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
    this.emitFor(p, r.ns, 'process.exit', { exit });
    if (s.rootPid === p.pid && s.endedAt === undefined) {
      s.endedAt = this.now();
      this.o.emit({
        ts: isoFromMonoNs(r.ns),
        kind: 'agent.exit',
        severity: 'info',
        agent: s.ref,
        proc: this.refOf(p),
        exit,
        message: `${s.name} agent exited (code ${r.code}${r.signal ? `, signal ${r.signal}` : ''})`,
      });
    }
  }

  // ---- activity ---------------------------------------------------------------------

  private onActivity(p: Proc, r: RawRecord): void {
    switch (r.t) {
      case 'open': {
        const flags = r.flags;
        const acc = flags & 3;
        const list: NonNullable<FileInfo['flags']> = [];
        if (acc === 0 || acc === 2) list.push('read');
        if (acc === 1 || acc === 2) list.push('write');
        if (flags & 0x40) list.push('create');
        if (flags & 0x200) list.push('truncate');
        if (flags & 0x400) list.push('append');
        if (flags & 0x10000) list.push('directory');
        const op = flags & 0x40 ? 'create' : flags & 0x200 ? 'truncate' : acc !== 0 ? 'write' : 'read';
        const file: FileInfo = { path: this.path(p, r.dfd, r.path), op, flags: list };
        if (r.ret < 0) file.ret = r.ret;
        else {
          const fds = p.fds ?? (p.fds = new Map());
          if (fds.size >= MAX_FDS && !fds.has(r.ret)) fds.delete(fds.keys().next().value!);
          fds.set(r.ret, file.path);
        }
        if (flags & 0x40) file.mode = r.mode;
        if (r.ret >= 0) p.lastOpen = file;
        return this.fileEvent(p, r, 'file.open', file);
      }
      case 'frename':
        return this.fileEvent(p, r, 'file.rename', {
          path: this.path(p, r.newdfd, r.newpath),
          src: this.path(p, r.olddfd, r.oldpath),
          op: 'rename',
        });
      case 'unlink':
        return this.fileEvent(p, r, 'file.unlink', { path: this.path(p, r.dfd, r.path), op: r.flags & 0x200 ? 'rmdir' : 'unlink' });
      case 'symlink':
        return this.fileEvent(p, r, 'file.symlink', { path: this.path(p, r.newdfd, r.path), target: r.target, op: 'symlink' });
      case 'link':
        return this.fileEvent(p, r, 'file.link', { path: this.path(p, r.newdfd, r.path), src: this.path(p, r.olddfd, r.oldpath), op: 'link' });
      case 'truncate':
        return this.fileEvent(p, r, 'file.truncate', { path: r.path ? this.path(p, r.fd, r.path) : this.fdPath(p, r.fd), op: 'truncate' });
      case 'chmod':
        return this.fileEvent(p, r, 'file.chmod', { path: r.path ? this.path(p, r.dfd, r.path) : this.fdPath(p, r.dfd), op: 'chmod', mode: r.mode });
      case 'chown':
        return this.fileEvent(p, r, 'file.chown', { path: r.path ? this.path(p, r.dfd, r.path) : this.fdPath(p, r.dfd), op: 'chown' }, { uid: r.uid, gid: r.gid });
      case 'setxattr':
        return this.fileEvent(p, r, 'file.setxattr', { path: r.path ? this.path(p, r.fd, r.path) : this.fdPath(p, r.fd), op: 'setxattr', xattr: r.name });
      case 'mkdir': {
        if (r.ret === -17) return; // EEXIST: `mkdir -p` over existing parents
        const file: FileInfo = { path: this.path(p, r.dfd, r.path), op: 'mkdir', mode: r.mode };
        if (r.ret !== undefined && r.ret < 0) file.ret = r.ret;
        return this.fileEvent(p, r, 'file.mkdir', file);
      }
      case 'utimes':
        return this.fileEvent(p, r, 'file.utimes', { path: r.path ? this.path(p, r.dfd, r.path) : this.fdPath(p, r.dfd), op: 'utimes' });
      case 'chdir':
        p.cwd = this.path(p, -100, r.path);
        p.ref = undefined;
        return;
      case 'fchdir': {
        // What the process opened at that fd is the truth; /proc is read later and may
        // already show a later cwd (or nothing, once the process exited).
        const cwd = p.fds?.get(r.fd) ?? proc.readFdPath(p.pid, r.fd) ?? proc.readCwd(p.pid);
        if (cwd) {
          p.cwd = cwd;
          p.ref = undefined;
        }
        return;
      }
      case 'rename': {
        const old = p.comm;
        p.comm = r.comm;
        return this.emitFor(p, r.ns, 'process.rename', { data: { old_comm: old, new_comm: r.comm } });
      }
      case 'connect': {
        let net: NetInfo;
        if (r.family === 1) {
          net = { proto: 'unix', family: 'unix', path: r.abstract ? `@${r.unixPath ?? ''}` : this.path(p, -100, r.unixPath ?? '') };
        } else if (r.family === 2 || r.family === 10) {
          const host = p.session!.names.get(r.ip ?? '');
          net = {
            proto: r.socktype === 1 ? 'tcp' : r.socktype === 2 ? 'udp' : r.socktype === 3 ? 'raw' : 'other',
            family: r.family === 2 ? 'inet' : 'inet6',
            dst_ip: r.ip,
            dst_port: r.port,
            ...(host ? { host } : {}),
          };
        } else return;
        return this.emitFor(p, r.ns, 'net.connect', { net });
      }
      case 'send': {
        const net: NetInfo = { proto: 'udp', family: r.family === 10 ? 'inet6' : 'inet', dst_ip: r.ip, dst_port: r.port, bytes: r.len };
        if (r.port === 53 && r.payload) {
          const q = decodeQuery(r.payload);
          if (q) {
            return this.emitFor(p, r.ns, 'net.dns', {
              net,
              dns: { query: q.name, qtype: q.qtype, server: r.ip, server_port: r.port },
            });
          }
          return this.emitFor(p, r.ns, 'net.send', { net, data: { undecodable_dns: true, payload_hex: r.payload.subarray(0, 64).toString('hex') } });
        }
        const host = r.ip ? p.session!.names.get(r.ip) : undefined;
        if (host) net.host = host;
        return this.emitFor(p, r.ns, 'net.send', { net });
      }
      case 'dns_answer': {
        const a = decodeAnswer(r.payload);
        if (!a) return;
        const names = p.session!.names;
        for (const { ip } of a.addresses) {
          if (names.size >= MAX_NAMES) names.delete(names.keys().next().value!);
          // Attribute the address to the name the process asked for (CNAME chains collapse).
          names.set(ip, a.name);
        }
        return this.emitFor(p, r.ns, 'net.dns_answer', {
          dns: { query: a.name, qtype: a.qtype, rcode: a.rcode, answers: a.addresses.map((x) => x.ip) },
        });
      }
      case 'bind':
        return this.emitFor(p, r.ns, 'net.bind', {
          net: { proto: r.socktype === 1 ? 'tcp' : r.socktype === 2 ? 'udp' : 'other', family: r.family === 10 ? 'inet6' : 'inet', local_ip: r.ip, local_port: r.port },
        });
      case 'listen':
        return this.emitFor(p, r.ns, 'net.listen', { net: { proto: r.socktype === 1 ? 'tcp' : 'other', local_port: r.port }, data: { backlog: r.backlog } });
      case 'ptrace':
        return this.emitFor(p, r.ns, 'process.ptrace', {
          data: { request: r.request, request_name: PTRACE_REQUESTS[r.request] ?? `request_${r.request}`, target_pid: r.target },
        });
      case 'memfd':
        return this.emitFor(p, r.ns, 'process.memfd', { data: { name: r.name, flags: r.flags } });
      case 'io_uring':
        return this.emitFor(p, r.ns, 'process.io_uring', { data: { op: 'setup', entries: r.entries } });
      case 'repeat':
        return this.emitFor(p, r.ns, 'file.repeat', {
          file: p.lastOpen ?? { path: '[unknown]', op: 'read' },
          data: { count: r.count },
        });
      case 'fd':
        return this.fileEvent(p, r, 'file.open', { path: r.path, op: r.write ? 'write' : 'read', flags: [r.write ? 'write' : 'read'] });
    }
  }

  private fileEvent(p: Proc, r: RawRecord, kind: string, file: FileInfo, data?: Record<string, unknown>): void {
    const extra: Partial<UnstampedEvent> = { file };
    if ('truncated' in r && r.truncated) extra.data = { ...data, path_truncated: true };
    else if (data) extra.data = data;
    this.emitFor(p, r.ns, kind, extra);
  }

  /** Absolute path for a (dfd, path) pair as the syscall would resolve it. */
  private path(p: Proc, dfd: number, rel: string): string {
    if (rel.startsWith('/')) return normalize(rel);
    if (dfd === -100) return resolveAgainst(p.cwd, rel);
    const dir = p.fds?.get(dfd) ?? proc.readFdPath(p.pid, dfd);
    if (dir && dir.startsWith('/')) return resolveAgainst(dir, rel);
    this.counters.unresolved_paths++;
    return `[fd ${dfd}]/${rel}`;
  }

  private fdPath(p: Proc, fd: number): string {
    const s = p.fds?.get(fd) ?? proc.readFdPath(p.pid, fd);
    if (s) return s;
    this.counters.unresolved_paths++;
    return `[fd ${fd}]`;
  }

  private refOf(p: Proc): ProcRef {
    if (!p.ref) p.ref = { pid: p.pid, ppid: p.ppid, exe: p.exe, argv: p.argv, cwd: p.cwd, uid: p.uid };
    return p.ref;
  }

  private emitFor(p: Proc, ns: bigint, kind: string, extra: Partial<UnstampedEvent>): void {
    this.counters.events++;
    const ev: UnstampedEvent = { ts: isoFromMonoNs(ns), kind, severity: 'info', agent: p.session!.ref, proc: this.refOf(p), ...extra };
    this.o.observe?.(ev, ns);
    this.o.emit(ev);
  }
}

const PTRACE_REQUESTS: Record<number, string> = {
  0: 'TRACEME',
  1: 'PEEKTEXT',
  2: 'PEEKDATA',
  4: 'POKETEXT',
  5: 'POKEDATA',
  13: 'SETREGS',
  16: 'ATTACH',
  17: 'DETACH',
  0x4206: 'SEIZE',
};
