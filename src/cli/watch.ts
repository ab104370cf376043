// `warden watch`: wires config -> sensor -> process model -> rules -> sinks, reports its
// own health as events, and on SIGINT/SIGTERM drains the sensor, flushes and exits 0.
import { loadWatchConfig, type WatchConfig } from '../config/watch-config.js';
import { Dispatcher, type EventSink } from '../events/dispatcher.js';
import type { UnstampedEvent } from '../events/types.js';
import type { ProcessModel } from '../model/process-model.js';
import type { Sensor } from '../sensors/raw.js';
import { lastSeqInLog } from '../sinks/audit-reader.js';
import { createReporting, type MonitorControl, type Reporting } from '../sinks/control.js';
import { loadClassifier } from './classifier.js';
import { startMonitorCore, type CoreOptions, type MonitorCore } from './monitor-core.js';
import { parseBackend } from './sensor-choice.js';
import { pinInstance, reapStale, register, unregister, type PinInstance } from '../sensors/ebpf/pins.js';

export { bpfUnavailable } from './monitor-core.js';

export interface WatchOptions {
  config?: string;
  output?: string;
  backend?: string;
  quiet?: boolean;
}

export interface Monitor {
  core: MonitorCore;
  model: ProcessModel;
  sensor: Sensor;
  dispatcher: Dispatcher;
  ctl: MonitorControl;
  counters: Record<string, number>;
  stop(): Promise<void>;
}

export interface MonitorStartOptions {
  backend?: string;
  /** Outputs, built once the control seam exists (the API needs the process model). */
  makeSinks: (ctl: MonitorControl) => Promise<{ sinks: EventSink[]; startSeq?: number }>;
  /** Closes what makeSinks opened, when the start fails after it. */
  closeSinks?: () => Promise<void>;
  /** Re-reads the config for rules reload (SIGHUP / API); absent = reload unsupported. */
  reloadConfig?: () => WatchConfig;
  log?: (msg: string) => void;
  /** Passed to the process model (latency benchmark). */
  observe?: (ev: UnstampedEvent, ns: bigint) => void;
  /** Warden's own files to close to agents (protect), decided once the outputs exist. */
  ownFiles?: () => string[];
  /** Pinned kernel state for this monitor, decided once the outputs exist (it is named after the audit log). */
  persist?: () => CoreOptions['persist'];
}

/** The whole monitor of `warden watch`: core pipeline, dispatcher, control seam, outputs. */
export async function startMonitor(cfg: WatchConfig, opts: MonitorStartOptions): Promise<Monitor> {
  const dispatcher = new Dispatcher();
  let core: MonitorCore | undefined;
  const ctl: MonitorControl = {
    sessions: () =>
      (core?.model.sessions() ?? []).map((s) => ({
        name: s.name,
        root_pid: s.rootPid,
        session: s.id,
        started: new Date(s.startedAt).toISOString(),
        cwd: s.cwd,
        alive: s.endedAt === undefined,
        counts: { ...s.counts },
      })),
    agentOf: (pid) => core?.model.agentOf(pid),
    stats: () => core?.stats() ?? {},
    reloadRules: async () => {
      if (!opts.reloadConfig || !core) return { ok: false, error: 'reload is not supported here' };
      try {
        await core.reloadRules(opts.reloadConfig());
        core.monitorEvent('monitor.rules_reloaded', 'info', 'rules reloaded');
        return { ok: true };
      } catch (err) {
        const msg = (err as Error).message;
        core.monitorEvent('monitor.rules_reload_failed', 'warn', `rules not reloaded: ${msg}`, { error: msg });
        return { ok: false, error: msg };
      }
    },
    emit: (ev) => dispatcher.emit(ev),
    kill: async (session, o) => governed((g) => g.kill(session, o?.by ?? { via: 'API' }, o?.pid)),
    freeze: async (session, frozen, o) => governed((g) => g.freeze(session, frozen, o?.by ?? { via: 'API' }, o?.pid)),
    limit: async (session, l, o) => governed((g) => g.setLimit(session, { memoryHigh: l.memory_high, memoryMax: l.memory_max }, o?.by ?? { via: 'API' })),
    governor: (session) => core?.governance.info(session) ?? [],
  };
  const governed = (f: (g: MonitorCore['governance']) => { ok: boolean; error?: string }) => (core ? f(core.governance) : { ok: false, error: 'the monitor is starting' });
  // Invalid rules refuse the start before any output exists (no audit file, no API socket).
  const classifier = await loadClassifier(cfg);
  const made = await opts.makeSinks(ctl);
  for (const s of made.sinks) dispatcher.addSink(s);
  if (made.startSeq) dispatcher.continueFrom(made.startSeq);
  try {
    core = await startMonitorCore(cfg, {
      backend: opts.backend,
      log: opts.log,
      observe: opts.observe,
      classifier,
      emit: (ev) => dispatcher.emit(ev),
      persist: opts.persist?.(),
      ownFiles: opts.ownFiles?.(),
    });
  } catch (err) {
    // The outputs were opened (an API socket keeps the process alive): close them, then fail.
    await dispatcher.flush().catch(() => undefined);
    await opts.closeSinks?.().catch(() => undefined);
    throw err;
  }
  const c = core;
  return {
    core: c,
    model: c.model,
    sensor: c.sensor,
    dispatcher,
    ctl,
    counters: c.counters,
    async stop() {
      await c.stop();
      await dispatcher.flush();
    },
  };
}

export async function runWatch(opts: WatchOptions): Promise<number> {
  const cfg = loadWatchConfig(opts.config);
  if (opts.backend !== undefined) parseBackend(opts.backend); // a typo is refused before any output opens
  const log = opts.quiet ? () => {} : (m: string) => process.stderr.write(`warden: ${m}\n`);
  let reporting: Reporting | undefined;
  // SIGINT/SIGTERM during start-up (the sensor takes a second or more to attach) must still end
  // with a flushed log and monitor.stop, not the default exit 143: the request is kept until the
  // monitor is up. Once it is, a stop request sent from inside an agent's tree is refused (the
  // kernel sensor says who sent it; the guard has already reported it as an alert).
  let stopRequested: () => void = () => undefined;
  const stopping = new Promise<void>((resolve) => (stopRequested = resolve));
  let monitorUp: Monitor | undefined;
  // A request that came while the monitor started is decided once it runs: a monitor its sensor
  // started again after a kill was otherwise stopped for good by the killer's next SIGTERM.
  const early: Array<{ name: NodeJS.Signals; at: bigint }> = [];
  const decideStop = (m: Monitor, name: NodeJS.Signals, since?: bigint) => {
    const signo = name === 'SIGINT' ? 2 : 15;
    void m.core.signalSender(signo, since === undefined ? 300 : 2000, since).then((g) => {
      if (g?.agent) {
        log(`${name} from pid ${g.sender} (${g.comm}) in ${g.agent.name} session ${g.agent.session} refused`);
        return;
      }
      stopRequested();
    });
  };
  const onStopSignal = (name: NodeJS.Signals) => {
    const m = monitorUp;
    if (!m) {
      early.push({ name, at: process.hrtime.bigint() - 1_000_000_000n });
      return;
    }
    decideStop(m, name);
  };
  process.on('SIGINT', onStopSignal);
  process.on('SIGTERM', onStopSignal);
  let inst: PinInstance | undefined;
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
    closeSinks: async () => reporting?.close(),
    ownFiles: () => [reporting?.endpoints.auditLog].filter((f): f is string => !!f),
    persist: () => {
      const auditLog = reporting?.endpoints.auditLog;
      if (!cfg.sensor.persist || !auditLog || process.getuid?.() !== 0) return undefined;
      inst = pinInstance(auditLog);
      reapStale(inst.id);
      register(inst, auditLog);
      // the sensor restarts a killed monitor with this command line (node, its flags, bin/warden, the arguments)
      const argv = [process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)];
      const respawn = cfg.sensor.respawn && process.env.WARDEN_NO_RESPAWN !== '1';
      return { pinDir: inst.pinDir, spool: inst.spool, registry: inst.registry, auditLog, respawn: respawn ? { argv, log: `${inst.spool.slice(0, -6)}.log` } : undefined };
    },
  });
  monitorUp = monitor;
  for (const e of early.splice(0)) decideStop(monitor, e.name, e.at);
  const m = monitor.model;
  const ep = reporting!.endpoints;
  log(
    `watching with ${monitor.sensor.backend}${monitor.sensor.backend !== 'procfs' ? '' : ' (DEGRADED)'}; ` +
      `${m.sessions().length} agent session(s) running; events -> ${ep.auditLog ?? 'stdout'}` +
      `${ep.socket ? `; API ${ep.socket}` : ''}${ep.http ? `; http://${ep.http}` : ''}`,
  );
  if (monitor.sensor.backend === 'procfs') for (const b of monitor.sensor.blindSpots) log(`cannot see: ${b}`);

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

  // Signal handlers do not keep Node running, and the /proc poller's timer is unref'd: without
  // an API socket (api.enabled: false, or the socket held by another monitor) a degraded watch
  // just ended, exit 0, its buffered events unwritten. Stay up until a signal says stop.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  await stopping;
  clearInterval(keepAlive);
  process.off('SIGINT', onStopSignal);
  process.off('SIGTERM', onStopSignal);
  process.off('SIGHUP', onHup);
  log('stopping: draining the sensor and flushing events');
  // first: the sensor must know this is a stop, not a death, even if its "q" is lost
  if (inst) unregister(inst);
  await monitor.stop();
  await reporting!.close();
  return 0;
}
