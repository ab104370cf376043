// PID 1's watch over the supervised command: signals forwarded to its process group, orphans
// reaped (reaper.ts), the policy's timeout (SIGTERM, then SIGKILL after the grace), and the
// command's status as the container's exit code (signal S → 128+S, timeout → 124).
import type { ChildProcess } from 'node:child_process';
import { SIGNUM } from '../../sandbox/supervise.js';
import { startReaper } from './reaper.js';

const FORWARDED = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const;

export interface Pid1Counters {
  reaped: number;
  signals: number;
}

export interface CommandEnd {
  code: number;
  signal?: number;
  timedOut: boolean;
  error?: Error;
}

/** Sends `sig` to the command's process group (it runs in a session of its own), else to it alone. */
function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone */
    }
  }
}

/** Waits for the command to end, doing PID 1's duties meanwhile. */
export async function watchCommand(child: ChildProcess, o: { timeoutMs?: number; graceMs: number; counters: Pid1Counters; log: (m: string) => void }): Promise<CommandEnd> {
  const pid = child.pid!;
  const forward = (sig: NodeJS.Signals) => {
    o.counters.signals++;
    signalGroup(pid, sig);
  };
  const handlers = FORWARDED.map((s) => [s, () => forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  const reaper = startReaper(() => new Set([pid]), () => o.counters.reaped++);
  let timedOut = false;
  const timers: NodeJS.Timeout[] = [];
  if (o.timeoutMs !== undefined)
    timers.push(
      setTimeout(() => {
        timedOut = true;
        o.log(`timeout after ${o.timeoutMs} ms: stopping the command`);
        forward('SIGTERM');
        timers.push(setTimeout(() => forward('SIGKILL'), o.graceMs));
      }, o.timeoutMs),
    );
  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  for (const t of timers) clearTimeout(t);
  for (const [s, h] of handlers) process.off(s, h);
  // What the command left in its group goes with it (as PID 1, the kernel ends the rest with us).
  signalGroup(pid, 'SIGKILL');
  reaper.stop();
  const signal = result.signal ? SIGNUM[result.signal] : undefined;
  const code = timedOut ? 124 : result.code !== null ? result.code : 128 + (signal ?? 9);
  return { code, signal, timedOut, error: result.error };
}
