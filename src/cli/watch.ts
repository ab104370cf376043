// `warden watch`: wires config -> sensor -> process model -> rules -> sinks, reports its
// own health as events, and on SIGINT/SIGTERM drains the sensor, flushes and exits 0.
import { execFileSync } from 'node:child_process';
import { loadWatchConfig, type WatchConfig } from '../config/watch-config.js';
import { Dispatcher, type EventSink } from '../events/dispatcher.js';
import { nowIso } from '../events/time.js';
import type { UnstampedEvent } from '../events/types.js';
import { AgentMatcher, type AgentSignature } from '../model/agents.js';
import { ProcessModel } from '../model/process-model.js';
import { BpftraceSensor } from '../sensors/bpftrace/sensor.js';
import { ProcfsPoller } from '../sensors/procfs/poller.js';
import type { Sensor, SensorSignal } from '../sensors/raw.js';
import { lastSeqInLog } from '../sinks/audit-reader.js';
import { createReporting, type MonitorControl, type Reporting } from '../sinks/control.js';
import { loadClassifier, type Classifier } from './classifier.js';

export interface WatchOptions {
  config?: string;
  output?: string;
  backend?: string;
  quiet?: boolean;
}

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

export interface Monitor {
  model: ProcessModel;
  sensor: Sensor;
  dispatcher: Dispatcher;
  readonly classifier: Classifier;
  ctl: MonitorControl;
  counters: Record<string, number>;
  stop(): Promise<void>;
}

/** Starts the monitor; resolves once the sensor is attached (monitor.ready emitted). */
export interface MonitorStartOptions {
  backend?: string;
  /** Outputs, built once the control seam exists (the API needs the process model). */
  makeSinks: (ctl: MonitorControl) => Promise<{ sinks: EventSink[]; startSeq?: number }>;
  /** Re-reads the config for rules reload (SIGHUP / API); absent = reload unsupported. */
  reloadConfig?: () => WatchConfig;
  log?: (msg: string) => void;
  /** Passed to the process model (latency benchmark). */
  observe?: (ev: UnstampedEvent, ns: bigint) => void;
}

export async function startMonitor(cfg: WatchConfig, opts: MonitorStartOptions): Promise<Monitor> {
  const log = opts.log ?? (() => {});
  const dispatcher = new Dispatcher();
  const counters: Record<string, number> = { events: 0, lost: 0, parse_errors: 0, sensor_restarts: 0, by_alert: 0, by_warn: 0 };

  let classifier = await loadClassifier(cfg, (ev) => dispatcher.emit(ev));
  const out = (ev: UnstampedEvent) => {
    counters.events!++;
    classifier.process(ev, (e) => {
      if (e.severity === 'alert') counters.by_alert!++;
      else if (e.severity === 'warn') counters.by_warn!++;
      const s = e.agent ? sessionCounts(e.agent.session) : undefined;
      if (s) s[e.severity]++;
      dispatcher.emit(e);
    });
  };
  const monitorEvent = (kind: string, severity: UnstampedEvent['severity'], message: string, data?: Record<string, unknown>) =>
    dispatcher.emit({ ts: nowIso(), kind, severity, message, ...(data ? { data } : {}) });

  const matcher = new AgentMatcher(customSignatures(cfg));
  let sensor: Sensor;
  const model = new ProcessModel({
    matcher,
    emit: out,
    track: (pid) => sensor.track(pid),
    untrack: (pid) => sensor.untrack(pid),
    observe: opts.observe,
  });
  const sessionCounts = (id: string) => model.sessions().find((s) => s.id === id)?.counts;

  // Parse errors are aggregated: one event per second at most, with a count and a sample.
  let parseErrors = 0;
  let parseSample = '';
  const signal = (s: SensorSignal) => {
    switch (s.s) {
      case 'lost':
        counters.lost! += s.count;
        monitorEvent('monitor.loss', 'warn', `${s.count} kernel events lost (${s.source})`, { lost: s.count, total_lost: counters.lost, source: s.source });
        return;
      case 'parse_error':
        counters.parse_errors!++;
        parseErrors++;
        parseSample = s.line;
        return;
      case 'died':
        monitorEvent('monitor.sensor_died', 'alert', `sensor stopped: ${s.reason}`, { reason: s.reason });
        log(`sensor stopped: ${s.reason}`);
        return;
      case 'restarted':
        counters.sensor_restarts = s.restarts;
        monitorEvent('monitor.sensor_restart', 'warn', `sensor restarted; events during ${s.gapMs} ms were not seen`, {
          restarts: s.restarts,
          gap_ms: s.gapMs,
        });
        return;
      default:
        return;
    }
  };
  const sink = { record: (r: Parameters<ProcessModel['record']>[0]) => model.record(r), signal };

  const ctl: MonitorControl = {
    sessions: () =>
      model.sessions().map((s) => ({
        name: s.name,
        root_pid: s.rootPid,
        session: s.id,
        started: new Date(s.startedAt).toISOString(),
        cwd: s.cwd,
        alive: s.endedAt === undefined,
        counts: { ...s.counts },
      })),
    agentOf: (pid) => model.agentOf(pid),
    stats: () => ({ ...counters, ...model.counters, ...prefix('sensor_', sensor.stats()), ...prefix('rules_', classifier.stats()) }),
    reloadRules: async () => {
      if (!opts.reloadConfig) return { ok: false, error: 'reload is not supported here' };
      try {
        const next = opts.reloadConfig();
        classifier = await loadClassifier(next, (ev) => dispatcher.emit(ev));
        monitorEvent('monitor.rules_reloaded', 'info', 'rules reloaded');
        return { ok: true };
      } catch (err) {
        const msg = (err as Error).message;
        monitorEvent('monitor.rules_reload_failed', 'warn', `rules not reloaded: ${msg}`, { error: msg });
        return { ok: false, error: msg };
      }
    },
    emit: (ev) => dispatcher.emit(ev),
  };
  const made = await opts.makeSinks(ctl);
  for (const s of made.sinks) dispatcher.addSink(s);
  if (made.startSeq) dispatcher.continueFrom(made.startSeq);

  const backend = opts.backend ?? cfg.sensor.backend;
  const why = backend === 'procfs' ? 'procfs backend requested' : bpfUnavailable();
  if (why && backend === 'bpftrace') throw new Error(`cannot use the bpftrace backend: ${why}`);
  if (!why) {
    sensor = new BpftraceSensor({
      sink,
      candidateComms: [...BUILTIN_AGENT_COMMS, ...cfg.agents.map((a) => a.binary), ...INTERPRETER_COMMS],
      candidatePrefixes: INTERPRETER_PREFIXES,
      renameComms: [...BUILTIN_AGENT_COMMS, ...cfg.agents.map((a) => a.binary)],
      failedOpens: cfg.sensor.failed_opens,
      foldOpensMs: cfg.sensor.fold_opens_ms,
      perfRbPages: cfg.sensor.perf_rb_pages,
      seedsOnRestart: () => model.trackedPids(),
    });
  } else {
    sensor = new ProcfsPoller({ sink });
  }

  const ticker = setInterval(() => {
    model.tick();
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

  const seeds = model.scan();
  try {
    await sensor.start(seeds);
  } catch (err) {
    clearInterval(ticker);
    throw err;
  }
  // Agents started while the sensor attached: adopt what the scan can still find.
  for (const pid of model.scan()) sensor.track(pid);

  const degraded = sensor.backend !== 'bpftrace';
  const ready: Record<string, unknown> = {
    backend: sensor.backend,
    degraded,
    blind_spots: sensor.blindSpots,
    sessions: model.sessions().map((s) => s.id),
    pid: process.pid,
  };
  if (sensor instanceof BpftraceSensor) {
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

  let stopped = false;
  return {
    model,
    sensor,
    dispatcher,
    get classifier() {
      return classifier;
    },
    ctl,
    counters,
    async stop() {
      if (stopped) return;
      stopped = true;
      await sensor.stop();
      model.tick();
      clearInterval(ticker);
      monitorEvent('monitor.stop', 'info', 'monitor stopped', {
        counters: { ...counters, ...model.counters, ...prefix('sensor_', sensor.stats()), ...prefix('rules_', classifier.stats()) },
      });
      await dispatcher.flush();
    },
  };
}

function prefix(p: string, o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [p + k, v]));
}

export async function runWatch(opts: WatchOptions): Promise<number> {
  const cfg = loadWatchConfig(opts.config);
  const log = opts.quiet ? () => {} : (m: string) => process.stderr.write(`warden: ${m}\n`);
  let reporting: Reporting | undefined;
  const monitor = await startMonitor(cfg, {
    backend: opts.backend,
    log,
    reloadConfig: () => loadWatchConfig(opts.config),
    makeSinks: async (ctl) => {
      reporting = await createReporting(cfg, ctl, { output: opts.output, quiet: opts.quiet });
      // Numbering continues where the audit log left off, so seq stays unique in the file.
      const log = reporting.endpoints.auditLog;
      return { sinks: [reporting.sink], startSeq: log ? await lastSeqInLog(log).catch(() => 0) : 0 };
    },
  });
  const m = monitor.model;
  const ep = reporting!.endpoints;
  log(
    `watching with ${monitor.sensor.backend}${monitor.sensor.backend === 'bpftrace' ? '' : ' (DEGRADED)'}; ` +
      `${m.sessions().length} agent session(s) running; events -> ${ep.auditLog ?? 'stdout'}` +
      `${ep.socket ? `; API ${ep.socket}` : ''}${ep.http ? `; http://${ep.http}` : ''}`,
  );
  if (monitor.sensor.backend !== 'bpftrace') for (const b of monitor.sensor.blindSpots) log(`cannot see: ${b}`);

  // SIGHUP reloads the config: rules and outputs, without losing an event.
  const onHup = () => {
    void (async () => {
      const r = await monitor.ctl.reloadRules();
      if (!r.ok) return log(`reload failed, keeping the running config: ${r.error}`);
      try {
        await reporting!.reload(loadWatchConfig(opts.config));
        log('config reloaded');
      } catch (err) {
        log(`outputs not reloaded: ${(err as Error).message}`);
      }
    })();
  };
  process.on('SIGHUP', onHup);

  await new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  process.off('SIGHUP', onHup);
  log('stopping: draining the sensor and flushing events');
  await monitor.stop();
  await reporting!.close();
  return 0;
}
