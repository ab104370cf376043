// The supervisor's shared idmapped views (src/sandbox/shared-views.ts) over a mounter that only
// counts: attached once per plan, used again only while they show what their sources name,
// detached once no plan names them and no run holds them (after a grace), records kept with them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RELEASE_AFTER_MS, SharedViews } from '../../src/sandbox/shared-views.js';
import type { ViewMounter } from '../../src/sandbox/view-mounts.js';
import type { View } from '../../src/sandbox/views.js';

let root: string;
let state: string;
let calls: string[];
let current: Set<string>;

/** Records what it is asked to do; mounts nothing. */
const inner: ViewMounter = {
  async attach(_views, dir) {
    calls.push(`attach ${path.basename(dir)}`);
  },
  detach(dir) {
    calls.push(`detach ${path.basename(dir)}`);
    return [];
  },
};

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'shared-views-'));
  state = path.join(root, 'state');
  fs.mkdirSync(state);
  fs.mkdirSync(path.join(root, 'ws'));
  calls = [];
  current = new Set();
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

// A view whose attach point is its source: stat(at) and lstat(src) agree until src is replaced.
const viewOf = (src: string): View => ({ src, at: src, readOnly: false, diskUid: 0, diskGid: 0 });
const records = () => fs.readdirSync(state).sort();
const sandbox = { uid: 1000, gid: 1000 };

describe('shared views', () => {
  it('are attached at the first run of a plan and shared by the next ones, with a record while held', async () => {
    const sv = new SharedViews(inner, state, (d) => current.has(d));
    const dir = path.join(root, 'mnt', 'p1');
    current.add(dir);
    const views = [viewOf(path.join(root, 'ws'))];
    await sv.attach(views, dir, sandbox);
    expect(records()).toEqual(['p1.views.json']);
    sv.detach(dir);
    await sv.attach(views, dir, sandbox);
    await sv.attach(views, dir, sandbox); // two runs at once
    sv.detach(dir);
    sv.detach(dir);
    expect(calls).toEqual(['attach p1']);
    expect(records()).toEqual(['p1.views.json']);
    expect(sv.release(true)).toEqual([]);
    expect(calls).toEqual(['attach p1', 'detach p1']);
    expect(records()).toEqual([]);
  });

  it('of a plan no longer cached go once no run holds them and the grace has passed', async () => {
    const sv = new SharedViews(inner, state, (d) => current.has(d));
    const dir = path.join(root, 'mnt', 'p2');
    current.add(dir);
    const views = [viewOf(path.join(root, 'ws'))];
    await sv.attach(views, dir, sandbox);
    current.delete(dir); // the plan was made again
    const t0 = Date.now();
    expect(sv.release(false, t0)).toEqual([]);
    expect(calls).toEqual(['attach p2']); // a run holds them
    sv.detach(dir);
    // a run that made its plan just before can still attach them
    await sv.attach(views, dir, sandbox);
    expect(calls).toEqual(['attach p2']);
    sv.detach(dir);
    sv.release(false, t0 + RELEASE_AFTER_MS - 1);
    expect(calls).toEqual(['attach p2']);
    sv.release(false, t0 + RELEASE_AFTER_MS + 1);
    expect(calls).toEqual(['attach p2', 'detach p2']);
    expect(records()).toEqual([]);
  });

  it('are not used again once a source names another directory (same name, replaced)', async () => {
    const sv = new SharedViews(inner, state, (d) => current.has(d));
    const dir = path.join(root, 'mnt', 'p3');
    current.add(dir);
    const ws = path.join(root, 'ws');
    // Its attach point shows the directory it was made from, as a mount would (a descriptor's magic link).
    const fd = fs.openSync(ws, 'r');
    const views = [{ ...viewOf(ws), at: `/proc/self/fd/${fd}` }];
    await sv.attach(views, dir, sandbox);
    sv.detach(dir);
    expect(sv.usable(dir, views)).toBe(true);
    fs.renameSync(ws, `${ws}.old`);
    fs.mkdirSync(ws);
    expect(sv.usable(dir, views)).toBe(false);
    // a run that reaches its attach anyway fails, and its teardown's detach is balanced
    await expect(sv.attach(views, dir, sandbox)).rejects.toThrow(/changed while the sandbox was being set up/);
    sv.detach(dir);
    expect(calls).toEqual(['attach p3']);
    fs.closeSync(fd);
  });

  it('of another identity or another view list are not reused', async () => {
    const sv = new SharedViews(inner, state, (d) => current.has(d));
    const dir = path.join(root, 'mnt', 'p4');
    current.add(dir);
    const views = [viewOf(path.join(root, 'ws'))];
    await sv.attach(views, dir, sandbox);
    sv.detach(dir);
    await expect(sv.attach(views, dir, { uid: 1001, gid: 1000 })).rejects.toThrow();
    sv.detach(dir);
    expect(sv.usable(dir, [{ ...views[0]!, readOnly: true }])).toBe(false);
  });

  it('a failed attach leaves no record, and the plan is never served from that directory again (attacker round 10)', async () => {
    const failing: ViewMounter = { ...inner, attach: async () => Promise.reject(new Error('EPERM')) };
    const sv = new SharedViews(failing, state, () => true);
    const dir = path.join(root, 'mnt', 'p5');
    const views = [viewOf(path.join(root, 'ws'))];
    await expect(sv.attach(views, dir, sandbox)).rejects.toThrow('EPERM');
    expect(records()).toEqual([]);
    expect(calls).toEqual(['detach p5']); // what a partial attach left
    expect(sv.usable(dir, views)).toBe(false); // the supervisor makes the plan again, in a new directory
    sv.detach(dir); // the run's teardown
    expect(calls).toEqual(['detach p5']);
  });

  it('runs that come while the first attaches wait for it: one attach, one record, every run served (attacker round 10)', async () => {
    let finish!: () => void;
    const slow: ViewMounter = {
      ...inner,
      attach: (_v, dir) => (calls.push(`attach ${path.basename(dir)}`), new Promise<void>((r) => (finish = r))),
    };
    const sv = new SharedViews(slow, state, () => true);
    const dir = path.join(root, 'mnt', 'p6');
    const views = [viewOf(path.join(root, 'ws'))];
    const runs = [sv.attach(views, dir, sandbox), sv.attach(views, dir, sandbox), sv.attach(views, dir, sandbox)];
    await new Promise((r) => setImmediate(r));
    finish();
    await Promise.all(runs);
    expect(calls).toEqual(['attach p6']);
    expect(records()).toEqual(['p6.views.json']);
    for (let i = 0; i < 3; i++) sv.detach(dir);
    expect(calls).toEqual(['attach p6']); // still the plan's
  });

  it('runs that come while the first attach fails fail with it, and leave its directory unused', async () => {
    let fail!: (e: Error) => void;
    const slow: ViewMounter = { ...inner, attach: () => new Promise<void>((_r, j) => (fail = j)) };
    const sv = new SharedViews(slow, state, () => true);
    const dir = path.join(root, 'mnt', 'p7');
    const views = [viewOf(path.join(root, 'ws'))];
    const runs = [sv.attach(views, dir, sandbox), sv.attach(views, dir, sandbox)].map((p) => p.then(() => 'ok', (e: Error) => e.message));
    await new Promise((r) => setImmediate(r));
    fail(new Error('EEXIST'));
    expect(await Promise.all(runs)).toEqual(['EEXIST', 'EEXIST']);
    expect(records()).toEqual([]);
    expect(sv.usable(dir, views)).toBe(false);
  });
});
