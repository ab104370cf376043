// One writer per audit log. A second `warden watch` on the same file (started by hand next to a
// service, or with the API socket already taken) would interleave its lines with the first's and
// repeat their seq numbers: it is refused instead. The lock is `<log>.lock` next to the log,
// holding the writer's pid and process start time, so a pid reused after a crash is not taken
// for the writer; a lock whose writer is gone is taken over. Only a live writer refuses: a lock
// that cannot be made (unwritable directory) is left to the audit log's own error reporting.
import fs from 'node:fs';
import { PlainError } from '../util/errors.js';
import { procStartTime } from '../util/proc-stat.js';

export class WriterLockError extends PlainError {}

export interface WriterLock {
  readonly path: string;
  release(): void;
}

function holder(lockPath: string): { pid: number; start: string } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(lockPath, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^(\d+) (\d+)/.exec(text);
  if (!m) return undefined;
  const pid = Number(m[1]);
  return procStartTime(pid)?.toString() === m[2] ? { pid, start: m[2]! } : undefined;
}

/** Takes the writer lock of `file`; throws WriterLockError when a live process holds it. */
export function acquireWriterLock(file: string): WriterLock | undefined {
  const lockPath = `${file}.lock`;
  const mine = `${process.pid} ${procStartTime(process.pid) ?? 0}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(lockPath, mine, { flag: 'wx', mode: 0o600 });
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.off('exit', release);
        try {
          if (fs.readFileSync(lockPath, 'utf8') === mine) fs.unlinkSync(lockPath);
        } catch {
          /* already gone */
        }
      };
      process.on('exit', release);
      return { path: lockPath, release };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return undefined;
    }
    const h = holder(lockPath);
    if (h?.pid === process.pid) return undefined; // this process already writes the file
    if (h)
      throw new WriterLockError(
        `${file} is already written by another warden (pid ${h.pid}, lock ${lockPath}): stop that one first, or give this one its own --output`,
      );
    // The writer is gone (or the lock is unreadable): take it over.
    try {
      fs.unlinkSync(lockPath);
    } catch {
      /* raced with another taker: try again */
    }
  }
  return undefined;
}
