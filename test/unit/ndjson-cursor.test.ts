// The polling NDJSON follower: complete lines only, a torn last line completed by the next
// call, nothing from a missing file, and a shrunk file refused rather than misread.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDirs } from '../helpers/tmp.js';
import { newCursor, readAppendedEvents } from '../../src/events/ndjson-cursor.js';

const newDir = tempDirs('warden-cursor-');
const tmpFile = () => path.join(newDir(), 'events.ndjson');

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
