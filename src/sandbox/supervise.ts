// While the sandbox runs: Warden stays in the terminal's foreground and the sandbox is in its
// own session (no TIOCSTI), so terminal signals reach Warden and are passed on to the
// command's process group; job control (Ctrl-Z, fg) works; the policy's wall-clock timeout
// stops the sandbox (SIGTERM, then SIGKILL of everything after the grace period).
import os from 'node:os';
import type { ChildProcess } from 'node:child_process';
import { readStat } from '../sensors/procfs/proc.js';
import { commandPidOf, type StatusReader } from './launch.js';

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGALRM'] as const;
export const SIGNUM: Record<string, number> = { ...os.constants.signals };

/** The process group of `pid`, or undefined when it is gone. */
export function processGroupOf(pid: number): number | undefined {
  const pgrp = readStat(pid)?.pgrp;
  return pgrp !== undefined && pgrp > 1 ? pgrp : undefined;
}

export interface Supervision {
  /** Resolves with the launcher's exit once the sandbox is gone and its status read. */
  result: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;
  timedOut(): boolean;
}

export function supervise(
  child: ChildProcess,
  status: StatusReader,
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>,
  o: { timeoutMs?: number; graceMs: number; killAll: () => void; log: (m: string) => void },
): Supervision {
  let cmdPid: number | undefined;
  const commandPid = () => (cmdPid ??= commandPidOf(status.childPid));
  const forward = (sig: NodeJS.Signals) => {
    const pid = commandPid();
    try {
      // The command is not a group leader: it shares the group of bwrap's init (which, as a
      // namespace init without handlers, ignores these). kill(-pid) failed and the fallback
      // reached the command alone: Ctrl-C on `sh -c '…; sleep 100'` interrupted nothing.
      if (pid) process.kill(-(processGroupOf(pid) ?? pid), sig);
      else if (sig !== 'SIGWINCH') process.kill(-child.pid!, sig); // not started yet: stop the launcher
    } catch {
      try {
        if (pid) process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  const handlers = new Map<string, () => void>();
  for (const s of FORWARDED) handlers.set(s, () => forward(s));
  handlers.set('SIGTSTP', () => {
    // The sandbox's group is orphaned (its session has no terminal and its parent is in another
    // session): the kernel discards SIGTSTP there, so the command kept running. SIGSTOP is not
    // discarded; SIGCONT from `fg` resumes it.
    forward('SIGSTOP');
    process.kill(process.pid, 'SIGSTOP');
  });
  handlers.set('SIGCONT', () => forward('SIGCONT'));
  for (const [s, h] of handlers) process.on(s, h);

  let timedOut = false;
  let killTimer: NodeJS.Timeout | undefined;
  const timer =
    o.timeoutMs !== undefined
      ? setTimeout(() => {
          timedOut = true;
          o.log(`timeout after ${o.timeoutMs} ms: stopping the sandbox`);
          forward('SIGTERM');
          killTimer = setTimeout(() => {
            try {
              process.kill(-child.pid!, 'SIGKILL');
            } catch {
              /* gone */
            }
            o.killAll();
          }, o.graceMs);
        }, o.timeoutMs)
      : undefined;

  const result = (async () => {
    try {
      const r = await exit;
      await status.done;
      return r;
    } finally {
      if (timer) clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      for (const [s, h] of handlers) process.off(s, h);
    }
  })();
  return { result, timedOut: () => timedOut };
}
