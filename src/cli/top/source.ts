// `warden top`'s connection to a running monitor: the JSON-RPC API on its unix socket. It
// subscribes to the live stream (with recent history replayed), polls sessions and counters,
// reads tree memory from /proc, and reconnects when the monitor restarts. Only `ack` changes
// state, and only when the user asks for it.
import fs from 'node:fs';
import { connectApi, RpcError, type ApiClient } from '../../sinks/api-client.js';
import type { GovernedInfo } from '../../actions/governor/governor.js';
import type { WardenEvent } from '../../events/types.js';
import type { SessionInfo } from '../../sinks/control.js';
import { treeMemory, type TreeMemory } from './procmem.js';
import { TopStore } from './store.js';

export interface SourceStatus {
  connected: boolean;
  /** Why the last connection failed or ended. */
  error?: string;
  monitorPid?: number;
  version?: string;
  since?: number;
}

export interface SourceOptions {
  socket: string;
  /** Recent events asked for when subscribing. */
  replay?: number;
  pollMs?: number;
  /** Read process memory from /proc (off in tests that fake sessions). */
  memory?: boolean;
  /** Between reconnection attempts (default 2 s). */
  reconnectMs?: number;
}

export class NoMonitorError extends Error {
  constructor(
    readonly socket: string,
    readonly reason: 'missing' | 'refused' | 'denied' | 'other',
    detail: string,
  ) {
    super(detail);
  }
}

/** The system monitor's socket (`sudo warden watch`), which a user's `warden top` does not look at. */
export const ROOT_SOCKET = '/run/warden/warden.sock';

/**
 * Connects once; the error says whether the socket is missing, stale or not ours to use.
 * `rootSocket` is checked when `socket` is missing: "no monitor is running" was wrong for a
 * user whose monitor runs as root.
 */
export async function connectMonitor(socket: string, rootSocket: string | undefined = process.getuid?.() === 0 ? undefined : ROOT_SOCKET): Promise<ApiClient> {
  try {
    fs.statSync(socket);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES') throw new NoMonitorError(socket, 'denied', `cannot reach ${socket}: permission denied (the monitor runs as another user; try sudo)`);
    if (rootSocket && rootSocket !== socket && fs.statSync(rootSocket, { throwIfNoEntry: false }))
      throw new NoMonitorError(socket, 'denied', `no monitor of yours is running (${socket} does not exist), but one runs as root: sudo warden top`);
    throw new NoMonitorError(socket, 'missing', `no monitor is running: ${socket} does not exist`);
  }
  try {
    return await connectApi(socket, 3000);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED') throw new NoMonitorError(socket, 'refused', `no monitor is listening on ${socket} (a stale socket from a monitor that stopped)`);
    if (code === 'EACCES' || code === 'EPERM') throw new NoMonitorError(socket, 'denied', `cannot use ${socket}: permission denied (the monitor runs as another user; try sudo)`);
    throw new NoMonitorError(socket, 'other', `cannot connect to ${socket}: ${(err as Error).message}`);
  }
}

export class TopSource {
  readonly store: TopStore;
  status: SourceStatus = { connected: false };
  memory = new Map<number, TreeMemory>();
  /** The governor's view of each session (usage against its limits, frozen), by session id. */
  governed = new Map<string, GovernedInfo>();
  private client: ApiClient | undefined;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly listeners: Array<() => void> = [];
  private readonly historyAsked = new Set<string>();
  private readonly backfilled = new Set<string>();

  constructor(
    private readonly o: SourceOptions,
    store?: TopStore,
  ) {
    this.store = store ?? new TopStore();
  }

  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }

  /** First connection: throws NoMonitorError so the command can explain; later ones retry. */
  async start(client?: ApiClient): Promise<void> {
    await this.attach(client ?? (await connectMonitor(this.o.socket)));
    const poll = this.o.pollMs ?? 1000;
    this.timers.push(setInterval(() => void this.poll(), poll));
    if (this.o.memory !== false) this.timers.push(setInterval(() => this.readMemory(), Math.max(poll, 2000)));
    for (const t of this.timers) t.unref();
  }

  private async attach(client: ApiClient): Promise<void> {
    this.client = client;
    client.onNotification((method, params) => {
      if (method === 'events.event') {
        const ev = params.event as WardenEvent | undefined;
        if (ev && typeof ev.seq === 'number') this.store.add(ev);
        this.changed();
      } else if (method === 'events.dropped') {
        this.store.dropped += Number(params.count) || 0;
        this.changed();
      }
    });
    client.socket.on('close', () => this.lost('connection to the monitor closed'));
    const ping = await client.call<{ pid: number; version: string }>('ping');
    // Another monitor process numbers its events anew: what we hold would collide with them.
    if (this.status.monitorPid !== undefined && this.status.monitorPid !== ping.pid) {
      this.store.reset();
      this.historyAsked.clear();
      this.backfilled.clear();
    }
    this.status = { connected: true, monitorPid: ping.pid, version: ping.version, since: Date.now() };
    await client.call('events.subscribe', { replay: this.o.replay ?? 2000 });
    await this.poll();
    this.readMemory();
    this.changed();
  }

  private lost(why: string): void {
    if (this.closed || !this.status.connected) return;
    this.client = undefined;
    this.status = { ...this.status, connected: false, error: why };
    this.changed();
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      connectMonitor(this.o.socket)
        .then((c) => this.attach(c))
        .catch((err) => {
          this.status = { ...this.status, connected: false, error: (err as Error).message };
          this.changed();
          this.scheduleReconnect();
        });
    }, this.o.reconnectMs ?? 2000);
    this.reconnectTimer.unref();
  }

  private async poll(): Promise<void> {
    const c = this.client;
    if (!c) return;
    try {
      const [sessions, stats] = await Promise.all([c.call<SessionInfo[]>('sessions.list'), c.call<Record<string, number>>('stats.get')]);
      this.store.setSessions(sessions);
      this.store.setStats(stats);
      const gov = await c.call<GovernedInfo[]>('governor.list').catch(() => [] as GovernedInfo[]);
      this.governed = new Map(gov.map((g) => [g.session, g]));
      this.changed();
    } catch {
      /* the close handler reports a lost connection */
    }
  }

  private readMemory(): void {
    if (this.o.memory === false) return;
    const roots = this.store.sessions.filter((s) => s.alive).map((s) => s.root_pid);
    if (!roots.length) return;
    this.memory = treeMemory(roots);
    this.changed();
  }

  /** The governor's user actions: freeze, resume, kill a session, raise its memory limits. */
  async govern(method: 'session.freeze' | 'session.resume' | 'session.kill' | 'session.limit', params: Record<string, unknown>): Promise<string> {
    const c = this.client;
    if (!c) return 'not connected';
    const what = method.slice('session.'.length);
    try {
      const r = await c.call<{ ok: boolean; error?: string }>(method, params);
      void this.poll();
      return r.ok ? `${what}: ${String(params.session)} done` : `${what} failed: ${r.error ?? '?'}`;
    } catch (err) {
      return `${what} failed: ${(err as Error).message}`;
    }
  }

  /** Acknowledges an alert (on the user's request). */
  async ack(seq: number): Promise<string> {
    const c = this.client;
    if (!c) return 'not connected';
    try {
      await c.call('alerts.ack', { seq, note: 'acknowledged in warden top' });
      return `alert ${seq} acknowledged`;
    } catch (err) {
      return err instanceof RpcError ? `not acknowledged: ${err.message}` : `not acknowledged: ${(err as Error).message}`;
    }
  }

  /**
   * Fetches a session's process history from the API so chains can reach processes that
   * started before this client connected (or fell out of its buffer). Once per session.
   */
  async processHistory(session: string): Promise<void> {
    const c = this.client;
    if (!c || this.historyAsked.has(session)) return;
    this.historyAsked.add(session);
    try {
      for (const kind of ['agent.start', 'process.exec', 'process.fork']) {
        const r = await c.call<{ events: WardenEvent[] }>('events.query', { agent: session, kind, limit: 10000 });
        this.store.noteProcesses(r.events);
      }
      this.changed();
    } catch {
      this.historyAsked.delete(session);
    }
  }

  /** Loads an agent's recent history from the monitor (once per filter value). */
  async backfill(agent: string): Promise<void> {
    const c = this.client;
    if (!c || this.backfilled.has(agent)) return;
    this.backfilled.add(agent);
    try {
      // Warnings and alerts first, on their own: the newest 3,000 events of a busy agent are
      // all routine ones, and its findings were not among them (9 of its warnings shown).
      const [findings, recent] = await Promise.all([
        c.call<{ events: WardenEvent[] }>('events.query', { agent, min_severity: 'warn', limit: 3000 }),
        c.call<{ events: WardenEvent[] }>('events.query', { agent, limit: 3000 }),
      ]);
      const seen = new Set<number>();
      for (const ev of [...findings.events, ...recent.events].sort((a, b) => a.seq - b.seq)) {
        if (seen.has(ev.seq)) continue;
        seen.add(ev.seq);
        this.store.add(ev);
      }
      this.changed();
    } catch {
      this.backfilled.delete(agent);
    }
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.client?.close();
    this.client = undefined;
  }
}
