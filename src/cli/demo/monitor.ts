// The demo's monitor: the same `warden watch` pipeline (kernel sensor, process model, rules,
// reporting), run in-process with its audit log in the demo directory and its API on the
// default socket when no other monitor holds it (so `warden top` in another terminal just
// works), else on a socket of its own. A tap lets the demo wait for what the rules report.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { watchConfigSchema } from '../../config/watch-config.js';
import type { EventSink } from '../../events/dispatcher.js';
import type { UnstampedEvent, WardenEvent } from '../../events/types.js';
import { createReporting, type Reporting } from '../../sinks/control.js';
import { defaultSocketPath } from '../../util/xdg.js';
import { startMonitor, type Monitor } from '../watch.js';

export interface DemoMonitor {
  backend: string;
  degraded: boolean;
  socket?: string;
  /** True when the socket is the default one (`warden top` needs no --socket). */
  defaultSocket: boolean;
  rulesLoaded: boolean;
  events: WardenEvent[];
  lastSeq(): number;
  /** Waits for an event; resolves undefined after the timeout. */
  waitFor(pred: (e: WardenEvent) => boolean, timeoutMs: number): Promise<WardenEvent | undefined>;
  /** Adds an event from elsewhere (the sandbox's audit) to the stream `warden top` sees. */
  inject(ev: UnstampedEvent): void;
  stop(): Promise<void>;
}

class Tap implements EventSink {
  readonly name = 'demo';
  readonly events: WardenEvent[] = [];
  private waiters: Array<{ pred: (e: WardenEvent) => boolean; resolve: (e: WardenEvent) => void }> = [];
  write(ev: WardenEvent): void {
    // Only what the demo looks at: agent activity, alerts, and the monitor's own state.
    if (ev.agent || ev.severity !== 'info' || ev.kind.startsWith('monitor.')) this.events.push(ev);
    for (const w of [...this.waiters]) {
      if (w.pred(ev)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(ev);
      }
    }
  }
  wait(pred: (e: WardenEvent) => boolean, timeoutMs: number): Promise<WardenEvent | undefined> {
    const hit = this.events.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve) => {
      const w = { pred, resolve: (e: WardenEvent | undefined) => resolve(e) };
      this.waiters.push(w as { pred: (e: WardenEvent) => boolean; resolve: (e: WardenEvent) => void });
      setTimeout(() => {
        const i = this.waiters.indexOf(w as never);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(undefined);
      }, timeoutMs).unref();
    });
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

async function socketInUse(p: string): Promise<boolean> {
  if (!fs.existsSync(p)) return false;
  return new Promise((resolve) => {
    const c = net.connect(p);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** Is the rule engine part of this build? (It classifies; the demo only reads its verdicts.) */
export async function rulesAvailable(): Promise<boolean> {
  const spec = '../../rules/index.js';
  try {
    const mod = (await import(spec)) as { loadRuleEngine?: unknown };
    return typeof mod.loadRuleEngine === 'function';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return false;
    throw err;
  }
}

export async function startDemoMonitor(o: { auditLog: string; runDir: string }): Promise<DemoMonitor> {
  const dflt = defaultSocketPath();
  const createdRunDir = !fs.existsSync(path.dirname(dflt));
  let socket = dflt;
  let useDefault = true;
  if (await socketInUse(dflt)) {
    socket = path.join(o.runDir, 'warden.sock');
    useDefault = false;
  }
  const cfg = watchConfigSchema.parse({
    output: { file: o.auditLog, compress: false },
    api: { enabled: true, socket },
    sinks: { notify: { enabled: false } },
  });
  const tap = new Tap();
  let reporting: Reporting | undefined;
  const monitor: Monitor = await startMonitor(cfg, {
    makeSinks: async (ctl) => {
      reporting = await createReporting(cfg, ctl, { quiet: true });
      return { sinks: [reporting.sink, tap] };
    },
  });
  const ready = tap.events.find((e) => e.kind === 'monitor.ready');
  const degraded = monitor.sensor.backend === 'procfs' || ready?.data?.degraded === true;
  const apiUp = reporting?.endpoints.socket !== undefined && fs.existsSync(socket);
  return {
    backend: monitor.sensor.backend,
    degraded,
    socket: apiUp ? socket : undefined,
    defaultSocket: apiUp && useDefault,
    rulesLoaded: await rulesAvailable(),
    events: tap.events,
    lastSeq: () => monitor.dispatcher.lastSeq,
    waitFor: (pred, timeoutMs) => tap.wait(pred, timeoutMs),
    inject: (ev) => monitor.ctl.emit({ ...ev, seq: undefined }),
    async stop() {
      await monitor.stop();
      await reporting?.close();
      // The runtime directory, if this demo created it for the socket and nothing else uses it.
      if (createdRunDir && useDefault) {
        try {
          fs.rmdirSync(path.dirname(dflt));
        } catch {
          /* not empty or not ours */
        }
      }
    },
  };
}
