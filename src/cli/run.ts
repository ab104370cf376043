// `warden run` implementation: policy (only parsed when --policy is given), audit sink (only
// when --audit is given), network provider (egress only for allowlist), optional kernel
// sensor, then sandbox/runner.ts. Returns the exit code; errors become messages here so the
// fast path (cli/entry.ts) and commander behave the same.
import fs from 'node:fs';
import path from 'node:path';
import type { UnstampedEvent } from '../events/types.js';
import { defaultRunPolicy, type NetworkMode, type RunPolicy } from '../sandbox/policy.js';
import type { RunCliOptions } from './run-args.js';

const say = (m: string) => {
  try {
    fs.writeSync(2, `warden: ${m}\n`);
  } catch {
    /* stderr closed: nothing else to tell */
  }
};

export async function runRun(command: string[], opts: RunCliOptions): Promise<number> {
  if (!command.length) {
    say('run: missing command (usage: warden run [--policy FILE] [--audit FILE] -- CMD ARGS...)');
    return 2;
  }
  let closeAudit: (() => Promise<void>) | undefined;
  try {
    let policy: RunPolicy;
    if (opts.policy) {
      const { loadRunPolicy } = await import('../config/run-policy.js');
      policy = loadRunPolicy(opts.policy);
    } else policy = defaultRunPolicy();
    if (opts.network !== undefined) {
      if (!['none', 'full', 'allowlist'].includes(opts.network)) {
        say(`run: --network must be none, full or allowlist (got ${opts.network})`);
        return 2;
      }
      policy.network.mode = opts.network as NetworkMode;
    }

    let emit: ((e: UnstampedEvent) => void) | undefined;
    if (opts.audit) {
      const [{ Dispatcher }, { NdjsonFileSink }] = await Promise.all([import('../events/dispatcher.js'), import('../sinks/ndjson-file.js')]);
      const d = new Dispatcher();
      // An audit log that cannot be opened refuses the run: it ran unaudited, exit 0.
      let openError: NodeJS.ErrnoException | undefined;
      const sink = new NdjsonFileSink(opts.audit, {
        onError: (err, what) => {
          if (what === 'open' && !emit) openError ??= err;
          else say(`audit ${opts.audit}: ${err.message}`);
        },
      });
      if (openError) {
        await sink.close().catch(() => undefined);
        say(`--audit ${opts.audit}: cannot open it (${openError.code ?? openError.message}); nothing was run`);
        return 1;
      }
      d.addSink(sink);
      emit = (e) => void d.emit(e);
      closeAudit = () => d.close();
      // An audit log in the workspace (`--audit run.ndjson`) was writable by the command it
      // audits: it could erase or forge its own record. The sink created it: bind it read-only.
      if (opts.audit !== '-') policy.filesystem.readOnly.push(path.resolve(opts.audit));
    } else if (opts.monitor) {
      // Without --audit the sensor's findings went nowhere: --monitor attached it for nothing.
      emit = (e) => {
        if (e.severity !== 'info') say(`${e.severity.toUpperCase()} ${e.rule ?? e.kind}: ${(e.message ?? '').replace(/[\r\n\x1b]/g, ' ')}`);
      };
    }

    // A running `warden watch` gets the sandbox's egress decisions too (sinks/ingest.ts).
    if (policy.network.mode === 'allowlist') {
      const { monitorFeed } = await import('../sinks/ingest-client.js');
      const feed = monitorFeed();
      if (feed) {
        const audit = emit;
        emit = (e) => {
          audit?.(e);
          feed.emit(e);
        };
        const prev = closeAudit;
        closeAudit = async () => {
          await feed.close();
          await prev?.();
        };
      }
    }

    const { networkProvider, NetworkUnavailable } = await import('../sandbox/network.js');
    let network;
    try {
      network = await networkProvider(policy.network.mode);
    } catch (err) {
      if (err instanceof NetworkUnavailable) {
        say(err.message);
        return 2;
      }
      throw err;
    }
    let monitor;
    if (opts.monitor) {
      const { createSandboxMonitor } = await import('./sandbox-monitor.js');
      monitor = createSandboxMonitor();
    }
    const { runSandbox, mark } = await import('../sandbox/runner.js');
    mark('modules loaded');
    return await runSandbox({ policy, argv: command, emit, network, monitor });
  } catch (err) {
    return report(err);
  } finally {
    await closeAudit?.();
  }
}

function report(err: unknown): number {
  const e = err as Error & { exitCode?: number; name?: string };
  if (e?.name === 'ConfigError') {
    say(`config error: ${e.message}`);
    return 2;
  }
  if (typeof e?.exitCode === 'number') {
    say(e.message);
    return e.exitCode;
  }
  // Stack traces only on request: these are host problems (missing tool, permissions), not bugs.
  say(e instanceof Error ? (process.env.WARDEN_DEBUG ? (e.stack ?? e.message) : `error: ${e.message}`) : String(err));
  return 1;
}
