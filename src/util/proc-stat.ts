// What /proc/PID/stat says of a process that identifies it beyond its pid: its start time. A
// pid is reused once its process is gone; pid and start time together name one process. A
// zombie is gone too: it runs no more, and one whose parent (or tracer) does not reap it keeps
// its pid for as long as that lasts (a monitor killed while held by a tracer kept its writer
// lock, and the monitor started in its place refused to write).
import fs from 'node:fs';

/** Field 22 of /proc/PID/stat (clock ticks after boot), or undefined when there is no such process (or a zombie). */
export function procStartTime(pid: number): number | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command (field 2) may contain spaces and parentheses: the fields after it start after the last ')'.
    const fields = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // A main thread that exited while others run shows Z too: that process is alive.
    if ((fields[0] === 'Z' || fields[0] === 'X') && !otherThreads(pid)) return undefined;
    const v = Number(fields[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Whether process `pid` has threads besides its (exited) main thread. */
function otherThreads(pid: number): boolean {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).length > 1;
  } catch {
    return false;
  }
}
