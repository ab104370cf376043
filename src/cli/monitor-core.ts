// The monitoring pipeline without its outputs: sensor -> process model -> rules, with the
// monitor's own health reported as events (loss by session, signals to the monitor and its
// sensor with who sent them, a gap left by a monitor that was killed). `warden watch` adds
// the dispatcher and reporting; `warden run --monitor` points it at one sandbox and its audit file.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { configSource, type WatchConfig } from '../config/watch-config.js';
import { isoFromMonoNs, nowIso } from '../events/time.js';
import type { AgentRef, UnstampedEvent } from '../events/types.js';
import { AgentMatcher, type AgentSignature } from '../model/agents.js';
import { EXEC_ENV_NAMES } from '../model/exec-env.js';
import { watchedNames } from '../model/identity.js';
import { ProcessModel } from '../model/process-model.js';
import type { CgroupNode } from '../util/cgroup/node.js';
import { BpftraceSensor } from '../sensors/bpftrace/sensor.js';
import { EbpfSensor } from '../sensors/ebpf/sensor.js';
import { ProcfsPoller } from '../sensors/procfs/poller.js';
import type { RawRecord, Sensor, SensorSignal } from '../sensors/raw.js';
import { loadClassifier, type Classifier } from './classifier.js';
import { createGovernance, type Governance } from './governance.js';
import { Guard } from './guard.js';
import { ReplayFilter } from './replayed.js';
import { LossReporter } from './loss.js';
import { parseBackend, startSensor, type ChosenSensor, type SensorMakers } from './sensor-choice.js';

/** Why the kernel stopped counting library opens, for the monitor.degraded message. */
const FOLD_OFF_WHY = {
  protected_list_full: "the kernel's protected list is full",
} as const;

const BUILTIN_AGENT_COMMS = ['claude', 'codex', 'gemini', 'cursor-agent', 'aider', 'openclaw-gateway'];
const INTERPRETER_COMMS = ['node', 'nodejs', 'bun', 'deno'];
const INTERPRETER_PREFIXES = ['python', 'pypy'];

export function customSignatures(cfg: WatchConfig): AgentSignature[] {
  return cfg.agents.map((a) => ({ name: a.name, binary: a.binary, argsRegex: a.args_regex ? new RegExp(a.args_regex) : undefined }));
}

function hasBpftrace(): boolean {
  try {
    execFileSync('bpftrace', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why the kernel sensor cannot be used here, or undefined if it can. */
export function bpfUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root (BPF tracing needs root)';
  if (!hasBpftrace()) return 'bpftrace is not installed (apt-get install bpftrace)';
  return undefined;
}

export interface CoreOptions {
  backend?: string;
  /** Where every event goes: classified activity and the monitor's own events. */
  emit: (ev: UnstampedEvent) => void;
  log?: (msg: string) => void;
  /** Find agents on the whole host (watch); off for a sandbox monitor. */
  hostAgents?: boolean;
  /** cgroup v2 directories whose processes are all watched (sandboxes). */
  trackCgroups?: string[];
  /** Passed to the process model (latency benchmark). */
  observe?: (ev: UnstampedEvent, ns: bigint) => void;
  /** Files of Warden's own that protect closes to agents (the audit log). */
  ownFiles?: string[];
  /** The cgroup that is an agent's session already (`warden run`: the sandbox's). */
  sessionCgroup?: (ref: AgentRef) => CgroupNode | undefined;
  /** Rules already loaded from cfg (watch validates them before opening any output). */
  classifier?: Classifier;
  /** Pinned kernel state and the command line to restart a killed monitor (compiled sensor). */
  persist?: { pinDir: string; spool: string; registry?: string; respawn?: { argv: string[]; log?: string }; auditLog?: string };
}

/** A signal to the monitor or its sensor, with who sent it (the guard). */
export interface GuardSignal {
  sig: number;
  target: number;
  role: string;
  sender: number;
  comm: string;
  uid: number;
  ancestry: Array<{ pid: number; comm: string }>;
  /** The agent session the sender belongs to, when it is in one. */
  agent?: AgentRef;
  ns: bigint;
}

export interface MonitorCore {
  model: ProcessModel;
  sensor: Sensor;
  /** Governor and rule actions (kill, freeze, resume, limits). */
  governance: Governance;
  readonly classifier: Classifier;
  counters: Record<string, number>;
  /** Why the monitor is degraded (no kernel sensor), if it is. */
  degradedBecause?: string;
  stats(): Record<string, number>;
  /** Swaps in rules loaded from a new config; throws on invalid rules (the old ones stay). */
  reloadRules(cfg: WatchConfig): Promise<void>;
  monitorEvent(kind: string, severity: UnstampedEvent['severity'], message: string, data?: Record<string, unknown>): void;
  /**
   * Who sent `sig` to this monitor just now (or since `sinceNs`, CLOCK_MONOTONIC), when the kernel
   * sensor saw it (waits briefly for its record): a stop request from inside an agent's tree is
   * refused by the caller.
   */
  signalSender(sig: number, waitMs?: number, sinceNs?: bigint): Promise<GuardSignal | undefined>;
  stop(): Promise<void>;
}

/**
 * A sensor process stopped with SIGSTOP (by a root agent) blinds the monitor without killing
 * anything: continue it and say so. (SIGSTOP to the monitor itself is undone by the sensor.)
 */
function continueStoppedSensor(sensor: Sensor | undefined, monitorEvent: (kind: string, severity: UnstampedEvent['severity'], message: string, data?: Record<string, unknown>) => void): void {
  const pid = sensor instanceof EbpfSensor ? sensor.loaderPid : undefined;
  if (!pid) return;
  let state: string | undefined;
  try {
    state = /^\d+ \(.*\) (\S)/s.exec(fs.readFileSync(`/proc/${pid}/stat`, 'latin1'))?.[1];
  } catch {
    return;
  }
  if (state !== 'T' && state !== 't') return;
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    return;
  }
  monitorEvent('monitor.killed', 'alert', `the kernel sensor (pid ${pid}) was stopped; continued`, { target: 'sensor', target_pid: pid, signal: 'SIGSTOP' });
}

export function prefix(p: string, o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [p + k, v]));
}

/** Starts sensor, model and rules; resolves once the sensor is attached (monitor.ready emitted). */
export async function startMonitorCore(cfg: WatchConfig, opts: CoreOptions): Promise<MonitorCore> {
  const log = opts.log ?? (() => {});
  const hostAgents = opts.hostAgents ?? true;
  const counters: Record<string, number> = { events: 0, lost: 0, parse_errors: 0, sensor_restarts: 0, by_alert: 0, by_warn: 0 };
  const monitorEvent = (kind: string, severity: UnstampedEvent['severity'], message: string, data?: Record<string, unknown>) =>
    opts.emit({ ts: nowIso(), kind, severity, message, ...(data ? { data } : {}) });

  let classifier = opts.classifier ?? (await loadClassifier(cfg));
  let sensor: Sensor | undefined;
  // Every event, the monitor's own included, goes through the rules (an alert is an alert).
  const replayed = opts.persist?.auditLog ? ReplayFilter.fromLog(opts.persist.auditLog) : undefined;
  const classify = (ev: UnstampedEvent) => {
    if (replayed?.seen(ev)) {
      counters.replayed_duplicates = replayed.dropped;
      return;
    }
    counters.events!++;
    classifier.process(ev, (e) => {
      if (e.severity === 'alert') counters.by_alert!++;
      else if (e.severity === 'warn') counters.by_warn!++;
      if (e.agent) model.noteSeverity(e.agent.session, e.severity);
      opts.emit(e);
      governance?.observe(e);
    });
  };
  let governance: Governance | undefined;
  governance = await createGovernance(cfg, {
    emit: (e) => classify(e),
    actionFor: (id) => classifier.actionFor?.(id),
    log,
    sessionCgroup: opts.sessionCgroup,
    ownFiles: [configSource(cfg)?.file, ...cfg.rules.files, ...(opts.ownFiles ?? [])].filter((f): f is string => !!f),
  });
  const gov = governance;
  const model = new ProcessModel({
    matcher: new AgentMatcher(customSignatures(cfg)),
    emit: classify,
    track: (pid, root) => sensor?.track(pid, root),
    untrack: (pid, gen) => sensor?.untrack(pid, gen),
    serve: (pid, root) => sensor?.serve?.(pid, root),
    unserve: (pid) => sensor?.unserve?.(pid),
    protect: (dev, ino) => {
      if (!sensor?.protect) return false;
      sensor.protect(dev, ino);
      return true;
    },
    remember: (s, ns) => sensor?.rememberSession?.(s.rootPid, ns, s.name, s.id, s.cwd, s.home ?? ''),
    forget: (root) => sensor?.forgetSession?.(root),
    observe: opts.observe,
  });
  const loss = new LossReporter({ sessionByRoot: (r) => model.sessionByRoot(r), sessions: () => model.sessions(), emit: classify, now: nowIso });
  const guard = new Guard({
    agentOf: (pid) => model.agentOf(pid),
    sessionRoot: (root) => model.sessionByRoot(root)?.ref,
    emit: classify,
    ack: (seq) => sensor?.ackSignal?.(seq),
    isoFromNs: (ns) => isoFromMonoNs(ns),
  });

  // Parse errors are aggregated: one event per second at most, with a count and a sample.
  let parseErrors = 0;
  let parseSample = '';
  const signal = (s: SensorSignal) => {
    switch (s.s) {
      case 'lost':
        counters.lost! += s.count;
        loss.add(s.count, s.root, s.kind, s.why);
        return;
      case 'parse_error':
        counters.parse_errors!++;
        parseErrors++;
        parseSample = s.line;
        return;
      case 'died':
        monitorEvent('monitor.sensor_died', 'alert', `sensor stopped: ${s.reason}`, { reason: s.reason });
        if (s.stateRemoved) {
          monitorEvent('monitor.state_removed', 'alert', "the sensor's pinned kernel state was removed before it died: what it recorded meanwhile (a kill with the killer's name, the records of the gap) is lost; the next sensor starts afresh", {});
        }
        log(`sensor stopped: ${s.reason}`);
        return;
      case 'restarted':
        counters.sensor_restarts = s.restarts;
        // a sensor started without the kernel state of the last one has an empty protected list
        model.identity.resendProtected();
        monitorEvent('monitor.sensor_restart', 'warn', `sensor restarted; events during ${s.gapMs} ms were not seen`, {
          restarts: s.restarts,
          gap_ms: s.gapMs,
        });
        return;
      case 'root':
        model.recoverSession(s);
        return;
      case 'replayed':
        counters.replayed_records = (counters.replayed_records ?? 0) + s.count;
        return;
      case 'ctl':
        // an untrack refused because the process executed something else since the decision
        // (-ESTALE) is the design, not a failure
        if (s.result && s.result !== -116) counters.ctl_failures = (counters.ctl_failures ?? 0) + 1;
        if (s.op === 'protect' && s.result) counters.protect_failures = (counters.protect_failures ?? 0) + 1;
        return;
      case 'fold_off':
        monitorEvent('monitor.degraded', 'warn', `${s.reasons.map((r) => FOLD_OFF_WHY[r]).join('; ')}: library and locale opens are reported one by one from now on (more events, nothing hidden)`, {
          reason: s.reasons.join(','),
          library_count: 'off',
        });
        return;
      case 'ready':
        if (s.adopted) {
          // a sensor (or a monitor) was killed: the kernel side kept recording meanwhile
          counters.gaps = (counters.gaps ?? 0) + 1;
          counters.gap_ms_total = (counters.gap_ms_total ?? 0) + (s.gapMs ?? 0);
          monitorEvent('monitor.gap', 'warn', `took over the kernel sensor state left by a monitor or sensor that stopped ${s.gapMs ?? '?'} ms ago; what it recorded meanwhile follows`, {
            gap_ms: s.gapMs,
            respawned: process.env.WARDEN_RESPAWNED === '1' || undefined,
          });
        }
        return;
      default:
        return;
    }
  };
  const sink = {
    record: (r: RawRecord) => (r.t === 'signal' ? guard.onRecord(r) : model.record(r)),
    signal,
  };

  const agentBinaries = cfg.agents.map((a) => a.binary);
  const makers: SensorMakers = {
    ebpf: () =>
      new EbpfSensor({
        sink,
        execNames: hostAgents ? [...BUILTIN_AGENT_COMMS, ...agentBinaries, ...INTERPRETER_COMMS] : [],
        agentNames: hostAgents ? [...BUILTIN_AGENT_COMMS, ...agentBinaries] : [],
        prefixes: hostAgents ? INTERPRETER_PREFIXES : [],
        failedOpens: cfg.sensor.failed_opens,
        foldOpensMs: cfg.sensor.fold_opens_ms,
        batchMs: cfg.sensor.batch_ms,
        trackCgroups: opts.trackCgroups,
        seedsOnRestart: () => model.trackedPids(),
        envNames: [...EXEC_ENV_NAMES],
        watchedNames: watchedNames(),
        pinDir: opts.persist?.pinDir,
        spool: opts.persist?.spool,
        registry: opts.persist?.registry,
        respawn: opts.persist?.respawn,
        undoStops: hostAgents,
      }),
    bpftrace: () =>
      new BpftraceSensor({
        sink,
        candidateComms: hostAgents ? [...BUILTIN_AGENT_COMMS, ...agentBinaries, ...INTERPRETER_COMMS] : [],
        candidatePrefixes: hostAgents ? INTERPRETER_PREFIXES : [],
        renameComms: hostAgents ? [...BUILTIN_AGENT_COMMS, ...agentBinaries] : [],
        failedOpens: cfg.sensor.failed_opens,
        foldOpensMs: cfg.sensor.fold_opens_ms,
        perfRbPages: cfg.sensor.perf_rb_pages,
        trackCgroups: opts.trackCgroups,
        seedsOnRestart: () => model.trackedPids(),
      }),
    procfs: () => new ProcfsPoller({ sink, hostAgents }),
    bpftraceUnavailable: bpfUnavailable,
  };
  const requested = parseBackend(opts.backend ?? cfg.sensor.backend);

  let ticks = 0;
  const ticker = setInterval(() => {
    model.tick();
    if (++ticks % 10 === 0) {
      loss.flush();
      continueStoppedSensor(sensor, monitorEvent);
      model.identity.refreshIfOlder(60_000);
    }
    if (parseErrors > 0) {
      monitorEvent('monitor.parse_error', 'warn', `${parseErrors} sensor records could not be parsed and were dropped`, {
        count: parseErrors,
        total: counters.parse_errors,
        sample: parseSample,
      });
      parseErrors = 0;
    }
  }, 100);
  ticker.unref();

  const seeds = hostAgents ? model.scan() : [];
  let chosen: ChosenSensor;
  try {
    chosen = await startSensor(requested, makers, seeds, log);
  } catch (err) {
    clearInterval(ticker);
    await gov.stop();
    throw err;
  }
  sensor = chosen.sensor;
  const why = chosen.degradedBecause;
  // Agents started while the sensor attached: adopt what the scan can still find.
  if (hostAgents) for (const pid of model.scan()) sensor.track(pid, pid);
  // the kernel learns each tracked pid's session root, and which inodes are secrets
  model.resendRoots();
  if (sensor.protect) model.identity.refresh();

  const degraded = sensor.backend === 'procfs';
  const ready: Record<string, unknown> = {
    backend: sensor.backend,
    backend_reason: chosen.reason,
    degraded,
    blind_spots: sensor.blindSpots,
    sessions: model.sessions().map((s) => s.id),
    pid: process.pid,
  };
  if (sensor instanceof BpftraceSensor || sensor instanceof EbpfSensor) {
    ready.attach_ms = sensor.attachMs;
    if (sensor.missing.length) ready.missing_tracepoints = sensor.missing;
  }
  if (degraded) {
    monitorEvent('monitor.degraded', 'warn', `running without BPF (${why}): short-lived processes and quick file opens are not seen`, {
      reason: why,
      blind_spots: sensor.blindSpots,
    });
  }
  monitorEvent('monitor.ready', 'info', `monitor attached (${sensor.backend})`, ready);

  const sensorNow = sensor;
  const stats = () => ({
    ...counters,
    ...model.counters,
    ...model.handoffs.counters,
    ...guard.counters,
    ...gov.stats(),
    secret_inodes: model.identity.size,
    ...prefix('sensor_', sensorNow.stats()),
    ...prefix('rules_', classifier.stats()),
  });
  let stopped = false;
  return {
    model,
    sensor: sensorNow,
    governance: gov,
    get classifier() {
      return classifier;
    },
    counters,
    degradedBecause: why,
    stats,
    async reloadRules(next: WatchConfig) {
      classifier = await loadClassifier(next);
    },
    monitorEvent,
    signalSender: (sig, waitMs = 300, sinceNs) => guard.senderOf(sig, waitMs, sinceNs),
    async stop() {
      if (stopped) return;
      stopped = true;
      await sensorNow.stop();
      await gov.stop();
      model.tick();
      guard.flush();
      loss.flush();
      clearInterval(ticker);
      monitorEvent('monitor.stop', 'info', 'monitor stopped', { counters: stats() });
    },
  };
}
