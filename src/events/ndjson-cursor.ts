// Polling follower of one growing NDJSON event file: each call returns the complete lines
// appended since the last one. For readers of a file another process writes (the demo feeding a
// sandbox's --audit file to its monitor, the atomics harness reading watch's output); the audit
// log's own follower, which knows about rotation, is sinks/audit-reader.ts.
import fs from 'node:fs';
import type { WardenEvent } from './types.js';

export interface NdjsonCursor {
  offset: number;
  /** A last line not yet terminated (the writer is mid-line). */
  rest: string;
}

export function newCursor(): NdjsonCursor {
  return { offset: 0, rest: '' };
}

/**
 * Events appended to `file` since `cursor` (advanced); none when the file does not exist yet.
 * Unparseable lines are skipped. Throws when the file shrank: a follower that needs one growing
 * file must not silently read a replaced one from the wrong offset.
 */
export function readAppendedEvents(file: string, cursor: NdjsonCursor): WardenEvent[] {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return [];
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size < cursor.offset) throw new Error(`${file} shrank (rotated or replaced): it cannot be followed from offset ${cursor.offset}`);
    if (size === cursor.offset) return [];
    const buf = Buffer.alloc(size - cursor.offset);
    const n = fs.readSync(fd, buf, 0, buf.length, cursor.offset);
    cursor.offset += n;
    const lines = (cursor.rest + buf.toString('utf8', 0, n)).split('\n');
    cursor.rest = lines.pop() ?? '';
    const out: WardenEvent[] = [];
    for (const l of lines) {
      if (!l.trim()) continue;
      try {
        out.push(JSON.parse(l) as WardenEvent);
      } catch {
        /* not an event line: the writers here never tear one */
      }
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}
