// The `warden run` side of the channel to a running monitor (sinks/ingest.ts): when a
// monitor's ingest socket exists, the run's egress, DNS, credential and sandbox events are
// sent to it as NDJSON after a hello naming the sandbox. Best effort and bounded: no monitor,
// a refused connection or a slow one never delays or fails the run.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { UnstampedEvent } from '../events/types.js';

const RELEVANT = /^(?:egress\.|net\.dns$|sandbox\.(?:start|exit|deny)$)/;
const MAX_QUEUED = 4 * 1024 * 1024;

/** Where monitors listen: WARDEN_MONITOR_INGEST, the caller's own monitor, root's monitor. */
export function ingestCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.WARDEN_MONITOR_INGEST) return env.WARDEN_MONITOR_INGEST.split(':').filter(Boolean);
  const uid = process.getuid?.() ?? 0;
  const own = uid === 0 ? '/run/warden' : env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, 'warden') : path.join(os.tmpdir(), `warden-${uid}`);
  return [...new Set([path.join(`${own}-ingest`, 'ingest.sock'), '/run/warden-ingest/ingest.sock'])];
}

export interface MonitorFeed {
  emit(ev: UnstampedEvent): void;
  close(): Promise<void>;
}

/**
 * A run's event sink and its close, with a running monitor fed too when one listens (both the
 * Node path and the supervisor of the fast path send an allowlist run's decisions there).
 */
export function withMonitorFeed(
  emit: ((e: UnstampedEvent) => void) | undefined,
  close: (() => Promise<void>) | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { emit: ((e: UnstampedEvent) => void) | undefined; close: (() => Promise<void>) | undefined } {
  const feed = monitorFeed(ingestCandidates(env));
  if (!feed) return { emit, close };
  return {
    emit: (e) => {
      emit?.(e);
      feed.emit(e);
    },
    close: async () => {
      await feed.close();
      await close?.();
    },
  };
}

export function monitorFeed(paths = ingestCandidates()): MonitorFeed | undefined {
  const live = paths.filter((p) => {
    try {
      return fs.statSync(p).isSocket();
    } catch {
      return false;
    }
  });
  if (!live.length) return undefined;
  const socks = live.map((p) => {
    const s = net.connect(p);
    s.on('error', () => s.destroy());
    s.on('data', () => {}); // a refusal message; nothing to do with it
    return s;
  });
  let hello = false;
  return {
    emit(ev) {
      if (!RELEVANT.test(ev.kind) || !ev.sandbox?.id) return;
      let line = JSON.stringify(ev) + '\n';
      if (!hello) {
        hello = true;
        line = JSON.stringify({ hello: { sandbox: ev.sandbox.id, pid: process.pid } }) + '\n' + line;
      }
      for (const s of socks) if (!s.destroyed && s.writableLength < MAX_QUEUED) s.write(line);
    },
    async close() {
      await Promise.all(
        socks.map(
          (s) =>
            new Promise<void>((resolve) => {
              if (s.destroyed) return resolve();
              const t = setTimeout(() => {
                s.destroy();
                resolve();
              }, 1000);
              t.unref();
              s.end(() => {
                clearTimeout(t);
                resolve();
              });
            }),
        ),
      );
    },
  };
}
