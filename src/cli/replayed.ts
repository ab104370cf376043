// After a monitor's death its successor is sent the kernel records last sent to it once more (the
// dead monitor's pipe and buffers went with it: see the sensor's --spool). The events those make
// again that are already in the audit log are not written twice: they are recognised by their
// time, kind, process and object among the last events of the log.
import fs from 'node:fs';
import type { UnstampedEvent } from '../events/types.js';

const TAIL_BYTES = 4 << 20;

// what the sensor saw (the rules add message, severity and the rest later)
function key(ev: UnstampedEvent): string {
  const { file: f, net: n, dns: d } = ev;
  return JSON.stringify([ev.ts, ev.kind, ev.proc?.pid, ev.proc?.exe, f?.path, f?.op, f?.requested, n?.dst_ip, n?.dst_port, n?.path, n?.local_port, d?.query, ev.exit?.code]);
}

export class ReplayFilter {
  private readonly keys = new Map<string, number>();
  private last = '';
  dropped = 0;

  /** The last events of the log at `file` (none if it cannot be read). */
  static fromLog(file: string): ReplayFilter {
    const f = new ReplayFilter();
    let text = '';
    try {
      const fd = fs.openSync(file, 'r');
      try {
        const size = fs.fstatSync(fd).size;
        const n = Math.min(size, TAIL_BYTES);
        const buf = Buffer.alloc(n);
        fs.readSync(fd, buf, 0, n, size - n);
        text = buf.toString('utf8');
        if (n < size) text = text.slice(text.indexOf('\n') + 1);
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return f;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const ev = JSON.parse(line) as UnstampedEvent;
        if (typeof ev.ts !== 'string' || typeof ev.kind !== 'string' || ev.kind.startsWith('monitor.')) continue;
        f.keys.set(key(ev), (f.keys.get(key(ev)) ?? 0) + 1);
        if (ev.ts > f.last) f.last = ev.ts;
      } catch {
        // a line cut by the death of the writer
      }
    }
    return f;
  }

  /** True for an event the log already has (each logged event matches once). */
  seen(ev: UnstampedEvent): boolean {
    if (this.keys.size === 0 || ev.ts > this.last) return false;
    const k = key(ev);
    const n = this.keys.get(k);
    if (!n) return false;
    if (n === 1) this.keys.delete(k);
    else this.keys.set(k, n - 1);
    this.dropped++;
    return true;
  }
}
