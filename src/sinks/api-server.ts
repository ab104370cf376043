// The live API: JSON-RPC 2.0 over a unix socket, one JSON message per line.
//
// Who may do what:
// * The socket is created 0600 in a 0700 directory owned by the monitor's user, and every
//   connection's SO_PEERCRED uid must be that user or root: nobody else gets an answer.
// * Read-only methods (sessions, events, subscribe, stats) are open to those peers.
// * Methods that change state (acknowledge, reload rules, kill/freeze) are refused when the
//   peer process — or any of its ancestors — is inside an agent's process tree according to
//   the monitor's process model, when the peer's credentials cannot be read, or when the
//   connecting process has since exited (pid reuse). Each refusal is a `warn` event
//   (`api.refused`), so an agent probing the control plane is itself reported.
// * There is no method to inject events or to stop/silence outputs: nothing to refuse there.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { AgentRef, UnstampedEvent, WardenEvent } from '../events/types.js';
import { nowIso } from '../events/time.js';
import { tailAuditLog } from './audit-reader.js';
import type { MonitorControl } from './control.js';
import { compileFilter, FilterError, parseFilter, type RawFilter } from './filter.js';
import { IngestServer, ingestPathFor } from './ingest.js';
import { peerCred, samePeerAlive, type PeerCred } from './peercred.js';
import type { EventRing } from './ring.js';

export const READ_METHODS = ['ping', 'sessions.list', 'governor.list', 'events.query', 'events.subscribe', 'events.unsubscribe', 'stats.get'] as const;
export const MUTATING_METHODS = ['alerts.ack', 'rules.reload', 'session.kill', 'session.freeze', 'session.resume', 'session.limit'] as const;

/** JSON-RPC error codes: the standard ones, and ours in the implementation-defined range. */
export const RPC = {
  PARSE: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL: -32603,
  REFUSED: -32001,
  UNSUPPORTED: -32002,
  LIMIT: -32003,
} as const;

export interface ApiContext {
  ctl: MonitorControl;
  ring: EventRing;
  /** Audit log to read when the ring does not cover a query. */
  auditLog?: string;
  /** Writes the audit log's buffer so a log query sees everything emitted so far. */
  flushAudit(): void;
  stats(): Record<string, number>;
  /** Emits an event later (never re-entering the dispatcher from inside a write). */
  report(ev: UnstampedEvent): void;
}

const MAX_LINE = 1024 * 1024;
const MAX_CONNECTIONS = 64;
const MAX_SUBS_PER_CONN = 16;
const MAX_LIMIT = 10_000;
/** A subscriber this far behind loses events (counted, and told) instead of growing our memory. */
const MAX_BACKLOG = 8 * 1024 * 1024;

class RpcFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

interface Conn {
  sock: net.Socket;
  cred: PeerCred | undefined;
  subs: Map<number, { unsubscribe: () => void; dropped: number }>;
}

export class ApiServer {
  private server: net.Server | undefined;
  private conns = new Set<Conn>();
  private nextSub = 0;
  private ino = -1;
  private readonly acked = new Map<number, string>();
  readonly counters = { connections: 0, requests: 0, refused: 0, rejected_peers: 0, notifications: 0, notifications_dropped: 0 };

  constructor(
    readonly socketPath: string,
    private readonly ctx: ApiContext,
  ) {}

  get clients(): number {
    return this.conns.size;
  }

  /** Binds the socket. Throws with a clear message if the path is unsafe or in use. */
  async listen(): Promise<void> {
    const dir = path.dirname(this.socketPath);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    const uid = process.getuid?.() ?? 0;
    if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
    if (st.uid !== uid) throw new Error(`${dir} belongs to uid ${st.uid}, not to this process (uid ${uid}); refusing to put the control socket there`);
    if ((st.mode & 0o022) !== 0) throw new Error(`${dir} is writable by others (mode ${(st.mode & 0o777).toString(8)}); refusing to put the control socket there`);
    await this.clearStale();
    const server = net.createServer((sock) => void this.accept(sock));
    server.maxConnections = MAX_CONNECTIONS;
    // The directory is 0700, so the moment between bind and chmod exposes nothing. (umask
    // cannot be changed here: it is process-wide and refused in worker threads.)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    fs.chmodSync(this.socketPath, 0o600);
    this.ino = fs.statSync(this.socketPath).ino;
    server.on('error', () => undefined);
    this.server = server;
    // Beside it, the channel through which separate `warden run`s report (sinks/ingest.ts).
    const ingest = new IngestServer(ingestPathFor(this.socketPath), (ev) => this.ctx.report(ev));
    await ingest.listen().then(
      () => (this.ingest = ingest),
      (err: Error) => this.ctx.report({ ts: nowIso(), kind: 'monitor.sink_error', severity: 'warn', rule: 'warden.sink_error', category: 'defense_evasion', mitre: ['T1562.006'], message: `ingest socket ${ingest.socketPath}: ${err.message}`, data: { sink: 'ingest' } }),
    );
  }

  /** Where separate `warden run`s report their sandbox decisions (undefined when it could not start). */
  ingest: IngestServer | undefined;

  private async clearStale(): Promise<void> {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(this.socketPath);
    } catch {
      return;
    }
    if (!st.isSocket()) throw new Error(`${this.socketPath} exists and is not a socket; not touching it`);
    const alive = await new Promise<boolean>((resolve) => {
      const c = net.connect(this.socketPath);
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (alive) throw new Error(`another monitor is listening on ${this.socketPath}`);
    fs.unlinkSync(this.socketPath);
  }

  private async accept(sock: net.Socket): Promise<void> {
    sock.on('error', () => undefined);
    const cred = await peerCred(sock);
    const me = process.getuid?.() ?? 0;
    if (cred && cred.uid !== me && cred.uid !== 0) {
      this.counters.rejected_peers++;
      sock.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: RPC.REFUSED, message: `uid ${cred.uid} may not use this socket` } }) + '\n');
      return;
    }
    const conn: Conn = { sock, cred, subs: new Map() };
    this.conns.add(conn);
    this.counters.connections++;
    let rest = '';
    let queue = Promise.resolve();
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      rest += chunk;
      if (rest.length > MAX_LINE && !rest.includes('\n')) {
        this.send(conn, { jsonrpc: '2.0', id: null, error: { code: RPC.LIMIT, message: `message longer than ${MAX_LINE} bytes` } });
        sock.end();
        rest = '';
        return;
      }
      const lines = rest.split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        if (line.trim() === '') continue;
        // Answer in order, one request at a time per connection.
        queue = queue.then(() => this.handleLine(conn, line)).catch(() => undefined);
      }
    });
    sock.on('close', () => {
      for (const s of conn.subs.values()) s.unsubscribe();
      conn.subs.clear();
      this.conns.delete(conn);
    });
  }

  private send(conn: Conn, msg: unknown): void {
    if (conn.sock.destroyed || !conn.sock.writable) return;
    conn.sock.write(JSON.stringify(msg) + '\n');
  }

  private async handleLine(conn: Conn, line: string): Promise<void> {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return this.send(conn, { jsonrpc: '2.0', id: null, error: { code: RPC.PARSE, message: 'parse error' } });
    }
    if (Array.isArray(msg)) {
      if (msg.length === 0) return this.send(conn, { jsonrpc: '2.0', id: null, error: { code: RPC.INVALID_REQUEST, message: 'empty batch' } });
      const out: unknown[] = [];
      for (const m of msg.slice(0, 100)) {
        const r = await this.handle(conn, m);
        if (r) out.push(r);
      }
      if (out.length) this.send(conn, out);
      return;
    }
    const r = await this.handle(conn, msg);
    if (r) this.send(conn, r);
  }

  /** One request → its response (undefined for notifications, which get none). */
  private async handle(conn: Conn, m: unknown): Promise<unknown> {
    const req = m as { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: unknown };
    const validId = req && (typeof req.id === 'number' || typeof req.id === 'string' || req.id === null);
    const id = validId ? req.id : null;
    if (!req || typeof req !== 'object' || req.jsonrpc !== '2.0' || typeof req.method !== 'string')
      return { jsonrpc: '2.0', id, error: { code: RPC.INVALID_REQUEST, message: 'invalid request' } };
    this.counters.requests++;
    const isNotification = !('id' in req);
    try {
      const result = await this.dispatch(conn, req.method, (req.params ?? {}) as Record<string, unknown>);
      return isNotification ? undefined : { jsonrpc: '2.0', id, result };
    } catch (err) {
      if (isNotification) return undefined;
      if (err instanceof RpcFailure) return { jsonrpc: '2.0', id, error: { code: err.code, message: err.message, ...(err.data !== undefined ? { data: err.data } : {}) } };
      if (err instanceof FilterError) return { jsonrpc: '2.0', id, error: { code: RPC.INVALID_PARAMS, message: err.message } };
      return { jsonrpc: '2.0', id, error: { code: RPC.INTERNAL, message: (err as Error).message } };
    }
  }

  private async dispatch(conn: Conn, method: string, params: Record<string, unknown>): Promise<unknown> {
    if (typeof params !== 'object' || params === null || Array.isArray(params))
      throw new RpcFailure(RPC.INVALID_PARAMS, 'params must be an object');
    if ((MUTATING_METHODS as readonly string[]).includes(method)) this.authorizeMutation(conn, method);
    switch (method) {
      case 'ping':
        return { pong: true, pid: process.pid, version: process.env.npm_package_version ?? '0.1.0' };
      case 'sessions.list':
        return this.ctx.ctl.sessions();
      case 'stats.get':
        return { ...this.ctx.ctl.stats(), ...this.ctx.stats() };
      case 'events.query':
        return this.query(params);
      case 'events.subscribe':
        return this.subscribe(conn, params);
      case 'events.unsubscribe': {
        const id = Number(params.subscription);
        const s = conn.subs.get(id);
        if (!s) throw new RpcFailure(RPC.INVALID_PARAMS, `no subscription ${String(params.subscription)} on this connection`);
        s.unsubscribe();
        conn.subs.delete(id);
        return { ok: true };
      }
      case 'alerts.ack':
        return this.ack(conn, params);
      case 'rules.reload':
        return this.ctx.ctl.reloadRules();
      case 'governor.list':
        if (!this.ctx.ctl.governor) throw new RpcFailure(RPC.UNSUPPORTED, 'this monitor has no governor');
        return this.ctx.ctl.governor(typeof params.session === 'string' ? params.session : undefined);
      case 'session.kill': {
        const session = this.sessionParam(params);
        if (!this.ctx.ctl.kill) throw new RpcFailure(RPC.UNSUPPORTED, 'this monitor cannot kill sessions');
        return this.ctx.ctl.kill(session, this.target(conn, method, params));
      }
      case 'session.freeze':
      case 'session.resume': {
        const session = this.sessionParam(params);
        if (!this.ctx.ctl.freeze) throw new RpcFailure(RPC.UNSUPPORTED, 'this monitor cannot freeze sessions');
        return this.ctx.ctl.freeze(session, method === 'session.freeze' && params.frozen !== false, this.target(conn, method, params));
      }
      case 'session.limit': {
        const session = this.sessionParam(params);
        if (!this.ctx.ctl.limit) throw new RpcFailure(RPC.UNSUPPORTED, 'this monitor cannot change limits');
        const size = (k: string) => {
          const v = params[k];
          if (v === undefined) return undefined;
          if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new RpcFailure(RPC.INVALID_PARAMS, `${k} must be a positive integer (bytes)`);
          return v;
        };
        const l = { memory_high: size('memory_high'), memory_max: size('memory_max') };
        if (l.memory_high === undefined && l.memory_max === undefined) throw new RpcFailure(RPC.INVALID_PARAMS, 'memory_high or memory_max (bytes) is required');
        return this.ctx.ctl.limit(session, l, this.target(conn, method, params));
      }
      default:
        throw new RpcFailure(RPC.METHOD_NOT_FOUND, `no method ${method}`);
    }
  }

  /** The optional `pid` (one tool of the session) and who asked (the peer). */
  private target(conn: Conn, method: string, params: Record<string, unknown>): { pid?: number; by: { pid?: number; uid?: number; via: string } } {
    const pid = params.pid;
    if (pid !== undefined && (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0)) throw new RpcFailure(RPC.INVALID_PARAMS, 'pid must be a positive integer');
    return { ...(pid !== undefined ? { pid } : {}), by: { pid: conn.cred?.pid, uid: conn.cred?.uid, via: `API ${method}${conn.cred ? ` from pid ${conn.cred.pid}` : ''}` } };
  }

  private sessionParam(params: Record<string, unknown>): string {
    if (typeof params.session !== 'string' || !params.session) throw new RpcFailure(RPC.INVALID_PARAMS, 'session (string) is required');
    return params.session;
  }

  /** Throws RpcFailure(REFUSED) and reports the attempt unless the peer may change state. */
  private authorizeMutation(conn: Conn, method: string): void {
    const cred = conn.cred;
    let reason: string | undefined;
    let agent: AgentRef | undefined;
    let actor: number | undefined;
    if (!cred) reason = 'peer credentials unavailable';
    else if (!samePeerAlive(cred)) reason = `peer process ${cred.pid} has exited since it connected`;
    else {
      // The peer, then its ancestors: a process the model has not seen yet still counts as
      // inside if its parent chain leads into an agent tree.
      for (const pid of ancestry(cred.pid)) {
        agent = this.ctx.ctl.agentOf(pid);
        if (agent) {
          actor = pid;
          reason = `caller pid ${cred.pid} is inside agent session ${agent.session} (${agent.name}, root pid ${agent.root_pid})`;
          break;
        }
      }
    }
    if (!reason) return;
    this.counters.refused++;
    const ev: UnstampedEvent = {
      ts: nowIso(),
      kind: 'api.refused',
      severity: 'warn',
      rule: 'warden.api_refused',
      category: 'defense_evasion',
      mitre: ['T1562.001'],
      message: `control API refused ${method}: ${reason}`,
      data: { method, reason, peer: cred ? { pid: cred.pid, uid: cred.uid, gid: cred.gid } : undefined, via_pid: actor },
    };
    if (agent) ev.agent = agent;
    const proc = cred ? procRef(cred.pid, cred.uid) : undefined;
    if (proc) ev.proc = proc;
    this.ctx.report(ev);
    throw new RpcFailure(RPC.REFUSED, `refused: ${reason}`);
  }

  private async query(params: Record<string, unknown>): Promise<{ events: WardenEvent[]; source: string; truncated: boolean }> {
    const filter = parseFilter(params as RawFilter);
    const pred = compileFilter(filter);
    const limit = clampLimit(params.limit, 100);
    const source = params.source ?? 'auto';
    if (source !== 'auto' && source !== 'memory' && source !== 'log') throw new RpcFailure(RPC.INVALID_PARAMS, 'source must be auto, memory or log');
    const useRing = source === 'memory' || (source === 'auto' && (this.ring.covers(filter.since) || !this.ctx.auditLog));
    if (useRing) {
      const events = this.ring.query(pred, limit + 1);
      return { events: events.slice(-limit), source: 'memory', truncated: events.length > limit };
    }
    if (!this.ctx.auditLog) throw new RpcFailure(RPC.UNSUPPORTED, 'no audit log configured');
    this.ctx.flushAudit();
    const events = await tailAuditLog(this.ctx.auditLog, pred, limit + 1, filter);
    return { events: events.slice(-limit), source: 'log', truncated: events.length > limit };
  }

  private get ring(): EventRing {
    return this.ctx.ring;
  }

  private subscribe(conn: Conn, params: Record<string, unknown>): { subscription: number } {
    if (conn.subs.size >= MAX_SUBS_PER_CONN) throw new RpcFailure(RPC.LIMIT, `at most ${MAX_SUBS_PER_CONN} subscriptions per connection`);
    const pred = compileFilter(parseFilter(params as RawFilter));
    const id = ++this.nextSub;
    const state = { unsubscribe: () => {}, dropped: 0 };
    const deliver = (ev: WardenEvent) => {
      const sock = conn.sock;
      if (sock.destroyed) return;
      if (sock.writableLength > MAX_BACKLOG) {
        state.dropped++;
        this.counters.notifications_dropped++;
        if (state.dropped === 1)
          sock.once('drain', () => {
            this.send(conn, { jsonrpc: '2.0', method: 'events.dropped', params: { subscription: id, count: state.dropped } });
            state.dropped = 0;
          });
        return;
      }
      this.counters.notifications++;
      this.send(conn, { jsonrpc: '2.0', method: 'events.event', params: { subscription: id, event: ev } });
    };
    // Replay recent matches first if asked, so a new client has context.
    const replay = clampLimit(params.replay, 0);
    if (replay > 0) for (const ev of this.ring.query(pred, replay)) queueMicrotask(() => deliver(ev));
    state.unsubscribe = this.ring.subscribe(pred, deliver);
    conn.subs.set(id, state);
    return { subscription: id };
  }

  private ack(conn: Conn, params: Record<string, unknown>): { ok: boolean; seq: number } {
    const seq = Number(params.seq);
    if (!Number.isInteger(seq) || seq <= 0) throw new RpcFailure(RPC.INVALID_PARAMS, 'seq (positive integer) is required');
    const note = typeof params.note === 'string' ? params.note.slice(0, 1000) : undefined;
    this.acked.set(seq, note ?? '');
    if (this.acked.size > 100_000) this.acked.delete(this.acked.keys().next().value!);
    this.ctx.report({
      ts: nowIso(),
      kind: 'alert.ack',
      severity: 'info',
      message: `alert ${seq} acknowledged${note ? `: ${note}` : ''}`,
      data: { seq, note, by: conn.cred ? { pid: conn.cred.pid, uid: conn.cred.uid } : undefined },
    });
    return { ok: true, seq };
  }

  get acknowledged(): number {
    return this.acked.size;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await this.ingest?.close();
    this.ingest = undefined;
    for (const c of this.conns) {
      for (const s of c.subs.values()) s.unsubscribe();
      c.sock.destroy();
    }
    this.conns.clear();
    if (server) await new Promise<void>((r) => server.close(() => r()));
    try {
      // Only remove the socket if it is still ours (a second monitor may have replaced it).
      if (fs.statSync(this.socketPath).ino === this.ino) fs.unlinkSync(this.socketPath);
    } catch {
      /* already gone */
    }
  }
}

function clampLimit(v: unknown, dflt: number): number {
  if (v === undefined || v === null) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new RpcFailure(RPC.INVALID_PARAMS, 'limit must be a non-negative integer');
  return Math.min(n, MAX_LIMIT);
}

/** pid, its parent, grandparent... up to init (bounded). */
export function ancestry(pid: number): number[] {
  const out: number[] = [];
  let p = pid;
  for (let i = 0; i < 128 && p > 1; i++) {
    out.push(p);
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
  }
  return out;
}

function procRef(pid: number, uid: number): UnstampedEvent['proc'] {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s, i, a) => s !== '' || i < a.length - 1);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    let exe = '';
    let cwd = '';
    try {
      exe = fs.readlinkSync(`/proc/${pid}/exe`);
    } catch {
      /* kernel thread or no permission */
    }
    try {
      cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      /* no permission */
    }
    return { pid, ppid, exe, argv, cwd, uid };
  } catch {
    return { pid, ppid: 0, exe: '', argv: [], cwd: '', uid };
  }
}
