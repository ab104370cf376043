// The polling NDJSON follower: complete lines only, a torn last line completed by the next
// call, nothing from a missing file, and a shrunk file refused rather than misread.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { newCursor, readAppendedEvents } from '../../src/events/ndjson-cursor.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
const tmpFile = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-cursor-'));
  dirs.push(d);
  return path.join(d, 'events.ndjson');
};

describe('readAppendedEvents', () => {
  it('returns nothing for a file that does not exist yet, then what gets appended', () => {
    const f = tmpFile();
    const c = newCursor();
    expect(readAppendedEvents(f, c)).toEqual([]);
    fs.writeFileSync(f, '{"seq":1}\n{"seq":2}\n');
    expect(readAppendedEvents(f, c).map((e) => e.seq)).toEqual([1, 2]);
    expect(readAppendedEvents(f, c)).toEqual([]);
  });

  it('holds a torn last line until it is complete, and skips lines that are not JSON', () => {
    const f = tmpFile();
    const c = newCursor();
    fs.writeFileSync(f, '{"seq":1}\nnot json\n{"se');
    expect(readAppendedEvents(f, c).map((e) => e.seq)).toEqual([1]);
    fs.appendFileSync(f, 'q":3}\n');
    expect(readAppendedEvents(f, c).map((e) => e.seq)).toEqual([3]);
  });

  it('refuses a file that shrank instead of reading it from the wrong offset', () => {
    const f = tmpFile();
    const c = newCursor();
    fs.writeFileSync(f, '{"seq":1}\n{"seq":2}\n');
    readAppendedEvents(f, c);
    fs.writeFileSync(f, '{"seq":9}\n');
    expect(() => readAppendedEvents(f, c)).toThrow(/shrank/);
  });
});
