// The seam between the monitor (`warden watch`, `warden run`) and its reporting/control plane
// (audit log, stdout, OTLP, webhook, notifications, JSON-RPC API, HTTP metrics/SSE).
// The monitor implements MonitorControl; createReporting() builds every configured output and
// hands back one EventSink to add to the Dispatcher. Nothing here knows about sensors or rules.
import type { EventSink } from '../events/dispatcher.js';
import type { AgentRef, Severity, UnstampedEvent } from '../events/types.js';
import type { WatchConfig } from '../config/watch-config.js';

/** One agent session as `sessions.list` reports it. */
export interface SessionInfo {
  name: string;
  root_pid: number;
  session: string;
  /** ISO-8601 time the agent was detected. */
  started: string;
  cwd?: string;
  /** False once the agent root exited (kept for a while so its events can be looked up). */
  alive: boolean;
  /** Events attributed to this session, by severity. */
  counts: Record<Severity, number>;
}

export type ActionResult = { ok: boolean; error?: string; [k: string]: unknown };

export interface MonitorControl {
  sessions(): SessionInfo[];
  /**
   * The agent session whose process tree contains `pid`, or undefined. This is the peer
   * credential check of the API: state-changing calls from such a pid are refused. It must
   * answer from the live process model (including processes that reparented away from the
   * agent root), and should err on the side of "inside" when unsure.
   */
  agentOf(pid: number): AgentRef | undefined;
  /** Counters: events by kind, lost, parse errors, sensor_lag_ms, ... (flat name → number). */
  stats(): Record<string, number>;
  reloadRules(): Promise<ActionResult>;
  /** Emits an event through the dispatcher (sink failures, refused API calls, acknowledgements). */
  emit(ev: UnstampedEvent): void;
  /**
   * Kill / freeze (or resume) an agent session through its cgroup, or one process (`pid`: a
   * runaway tool of it). Absent = the API answers "not supported". `by` is the API peer.
   */
  kill?(session: string, o?: ControlTarget): Promise<ActionResult>;
  freeze?(session: string, frozen: boolean, o?: ControlTarget): Promise<ActionResult>;
  /** Raises (or lowers) a session's memory limits (bytes). */
  limit?(session: string, l: { memory_high?: number; memory_max?: number }, o?: ControlTarget): Promise<ActionResult>;
  /** Each governed session's memory, CPU and pids against its limits, and its runaway tools. */
  governor?(session?: string): unknown[];
}

export interface ControlTarget {
  pid?: number;
  by?: { pid?: number; uid?: number; via: string };
}

export interface ReportingOptions {
  /** `--output FILE|-` from the command line: overrides output.file. */
  output?: string;
  /** No terminal fallback for notifications, no status lines. */
  quiet?: boolean;
  /** Where status lines and notification fallbacks go (default process.stderr). */
  stderr?: NodeJS.WritableStream;
}

export interface Reporting {
  /**
   * The one sink to add to the Dispatcher: it fans out to the audit log, stdout, OTLP, webhook,
   * notifications, the API's ring/subscribers and the metrics. Kept as one sink so reload()
   * can swap outputs without the dispatcher seeing a gap.
   */
  sink: EventSink;
  /** Applies a new config (SIGHUP): the audit log keeps its buffer and file; nothing is lost. */
  reload(cfg: WatchConfig): Promise<void>;
  /** Flushes and closes every output, removes the API socket. Call after the last emit. */
  close(): Promise<void>;
  /** Counters of the reporting side (sink queue depths, drops, API clients...). */
  stats(): Record<string, number>;
  /** Where things ended up, for the `monitor.ready` event and status lines. */
  endpoints: { auditLog?: string; socket?: string; http?: string };
}

/** Builds the configured outputs. Throws ConfigError for unusable settings (exit 2). */
export async function createReporting(cfg: WatchConfig, ctl: MonitorControl, opts: ReportingOptions = {}): Promise<Reporting> {
  const { buildReporting } = await import('./reporting.js');
  return buildReporting(cfg, ctl, opts);
}
