// tracefs is where tracepoints live; some boots do not mount it. Mount it when we can
// (root), and say clearly when we cannot.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export const TRACEFS = '/sys/kernel/tracing';

export function tracefsMounted(): boolean {
  if (fs.existsSync(`${TRACEFS}/events/sched`)) return true;
  // Unreadable to non-root (mode 0700) is still mounted.
  try {
    return fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => { const f = l.split(' '); return f[1] === TRACEFS && f[2] === 'tracefs'; });
  } catch {
    return false;
  }
}

/** Returns undefined when tracefs is available, else the reason it is not. */
export function ensureTracefs(): string | undefined {
  if (tracefsMounted()) return undefined;
  if (process.getuid?.() !== 0) return 'tracefs is not mounted at /sys/kernel/tracing (mounting it needs root)';
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS], { stdio: 'ignore' });
  } catch (err) {
    return `cannot mount tracefs at ${TRACEFS}: ${(err as Error).message}`;
  }
  return tracefsMounted() ? undefined : `tracefs mounted but ${TRACEFS}/events is missing`;
}
