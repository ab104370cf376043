import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sweepViewDirs } from '../../src/sandbox/idmap.js';
import { markUnmounted, sweepUnmounted, UNMOUNTED_GRACE_MS as VIEW_DIR_GRACE_MS } from '../../src/util/mounts.js';

describe('unmounted entries (views, namespace handles) are removed after a grace', () => {
  const roots: string[] = [];
  afterEach(() => roots.splice(0).forEach((r) => fs.rmSync(r, { recursive: true, force: true })));
  const tree = () => {
    const r = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-viewdirs-'));
    roots.push(r);
    for (const d of ['old/0', 'old/1', 'new/0', '.userns/x', 'busy/0']) fs.mkdirSync(path.join(r, d), { recursive: true });
    fs.writeFileSync(path.join(r, 'busy/0/file'), ''); // not empty: never removed
    return r;
  };

  it('are removed once the grace has passed, not before; hidden entries and non-empty ones stay', () => {
    const r = tree();
    const now = Date.now();
    const age = (d: string, ms: number) => fs.utimesSync(path.join(r, d), (now - ms) / 1000, (now - ms) / 1000);
    age('old', VIEW_DIR_GRACE_MS + 1000);
    age('busy', VIEW_DIR_GRACE_MS + 1000);
    age('.userns', VIEW_DIR_GRACE_MS + 1000);
    age('new', VIEW_DIR_GRACE_MS - 10_000);
    sweepViewDirs(r, now);
    expect(fs.readdirSync(r).sort()).toEqual(['.userns', 'busy', 'new']);
    sweepViewDirs(r, now + VIEW_DIR_GRACE_MS);
    expect(fs.readdirSync(r).sort()).toEqual(['.userns', 'busy']);
  });

  it('handle files go the same way; a mark restarts the grace of an old one', () => {
    const r = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-handles-'));
    roots.push(r);
    const now = Date.now();
    for (const n of ['gone', 'marked', 'fresh']) {
      fs.writeFileSync(path.join(r, n), '');
      fs.utimesSync(path.join(r, n), (now - VIEW_DIR_GRACE_MS * 10) / 1000, (now - VIEW_DIR_GRACE_MS * 10) / 1000);
    }
    fs.utimesSync(path.join(r, 'fresh'), now / 1000, now / 1000);
    markUnmounted(path.join(r, 'marked'));
    sweepUnmounted(r, Date.now());
    expect(fs.readdirSync(r).sort()).toEqual(['fresh', 'marked']);
  });

  it('a missing directory is no error', () => {
    expect(() => sweepViewDirs(path.join(os.tmpdir(), 'warden-viewdirs-none', 'x'))).not.toThrow();
  });
});
