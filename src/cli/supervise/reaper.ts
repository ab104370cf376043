// PID 1's duty no runtime does for it: orphans of the command's tree are re-parented to Warden
// and their exit must be collected, or they stay zombies (and fill the pid table). Node reaps
// only the children it spawned itself, by pid, so this reaper collects only what Node does not
// know: children of ours in a session other than Warden's own (the command runs in a session of
// its own; anything it forks is in that session or one it made), never the command itself
// (Node waits for it to learn its status). waitpid goes through koffi.
import fs from 'node:fs';
import { createRequire } from 'node:module';

const WNOHANG = 1;
const PR_SET_CHILD_SUBREAPER = 36;

export interface StatLine {
  pid: number;
  state: string;
  ppid: number;
  session: number;
}

/** /proc/PID/stat → the fields the reaper needs (the command name may hold spaces and parentheses). */
export function parseStat(text: string): StatLine | undefined {
  const close = text.lastIndexOf(')');
  const open = text.indexOf('(');
  if (open < 0 || close < open) return undefined;
  const f = text.slice(close + 2).split(' ');
  const pid = Number(text.slice(0, open).trim());
  if (!Number.isInteger(pid) || f.length < 4) return undefined;
  return { pid, state: f[0]!, ppid: Number(f[1]), session: Number(f[3]) };
}

/** Zombies among `self`'s children that belong to no session of ours and are not `keep`. */
export function orphanZombies(stats: StatLine[], self: number, ownSession: number, keep: Set<number>): number[] {
  return stats.filter((s) => s.state === 'Z' && s.ppid === self && s.session !== ownSession && !keep.has(s.pid)).map((s) => s.pid);
}

function readStats(): StatLine[] {
  const out: StatLine[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const s = parseStat(fs.readFileSync(`/proc/${e}/stat`, 'latin1'));
      if (s) out.push(s);
    } catch {
      /* gone */
    }
  }
  return out;
}

export interface Reaper {
  /** Collected orphans so far. */
  reaped(): number;
  stop(): void;
}

/**
 * Starts reaping. Outside PID 1 (tests, `docker run --init` setups) Warden makes itself a
 * child subreaper, so the command's orphans come to it all the same.
 */
export function startReaper(keep: () => Set<number>, onReap?: (pid: number, status: number) => void): Reaper {
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as { load(l: string): { func(s: string): (...a: unknown[]) => number } };
  const libc = koffi.load('libc.so.6');
  const waitpid = libc.func('int waitpid(int pid, _Out_ int *status, int options)');
  const prctl = libc.func('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)');
  if (process.pid !== 1) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  const self = process.pid;
  const own = parseStat(fs.readFileSync('/proc/self/stat', 'latin1'))?.session ?? -1;
  let count = 0;
  const sweep = () => {
    for (const pid of orphanZombies(readStats(), self, own, keep())) {
      const status = [0];
      if (waitpid(pid, status, WNOHANG) === pid) {
        count++;
        onReap?.(pid, status[0]!);
      }
    }
  };
  // SIGCHLD says when; the timer catches signals that coalesced while a sweep ran.
  const onChld = () => sweep();
  process.on('SIGCHLD', onChld);
  const timer = setInterval(sweep, 1000);
  timer.unref();
  return {
    reaped: () => count,
    stop() {
      process.off('SIGCHLD', onChld);
      clearInterval(timer);
      sweep();
    },
  };
}
