// What /proc/PID/stat says of a process that identifies it beyond its pid: its start time. A
// pid is reused once its process is gone; pid and start time together name one process.
import fs from 'node:fs';

/** Field 22 of /proc/PID/stat (clock ticks after boot), or undefined when there is no such process. */
export function procStartTime(pid: number): number | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command (field 2) may contain spaces and parentheses: the fields after it start after the last ')'.
    const v = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
