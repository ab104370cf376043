import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { swapMap } from '../../src/sandbox/idmap.js';
import * as identityModule from '../../src/sandbox/identity.js';
import { chooseIdentity, STAND_IN_UID } from '../../src/sandbox/identity.js';
import { planViews } from '../../src/sandbox/views.js';

const S = STAND_IN_UID;

/** Parses uid_map lines into [inside, outside, count] and applies them. */
function mapper(text: string): (id: number) => number | undefined {
  const lines = text.trim().split('\n').map((l) => l.split(' ').map(Number) as [number, number, number]);
  return (id) => {
    for (const [i, o, n] of lines) if (id >= i && id < i + n) return o + (id - i);
    return undefined;
  };
}

describe('id mappings for views', () => {
  it('swaps the owner and the sandbox uid and maps every other id to itself, without overlaps', () => {
    for (const [a, b] of [[0, S], [1000, S], [0, 4242], [S, 0], [5, 5]] as const) {
      const text = swapMap(a, b);
      const m = mapper(text);
      expect(m(a)).toBe(b);
      expect(m(b)).toBe(a);
      for (const x of [1, 2, 999, 65534, S - 1, S + 1, 4294967294]) if (x !== a && x !== b) expect(m(x)).toBe(x);
      const lines = text.trim().split('\n').map((l) => l.split(' ').map(Number));
      expect(lines.reduce((n, l) => n + l[2]!, 0)).toBe(4294967295); // every id once
      expect(lines.length).toBeLessThanOrEqual(5);
    }
  });
});

describe('identity', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-ident-'));
    fs.mkdirSync(path.join(tmp, 'rootws'));
    fs.mkdirSync(path.join(tmp, 'userws'));
    fs.chownSync(path.join(tmp, 'userws'), 4242, 4242);
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('as root never gives the sandbox uid 0: the workspace owner, else the stand-in', () => {
    const r = chooseIdentity('auto', path.join(tmp, 'rootws'), 0, 0, true);
    expect(r).toMatchObject({ uid: S, gid: S, drop: true, standIn: true, innerUid: 65534 });
    expect(chooseIdentity('caller', path.join(tmp, 'rootws'), 0, 0, true).uid).toBe(S);
    expect(chooseIdentity('auto', path.join(tmp, 'userws'), 0, 0, true)).toMatchObject({ uid: 4242, gid: 4242, drop: true, standIn: false });
    expect(chooseIdentity({ uid: 1000, gid: 1000 }, path.join(tmp, 'rootws'), 0, 0, true)).toMatchObject({ uid: 1000, drop: true });
    expect(() => chooseIdentity({ uid: 0, gid: 0 }, path.join(tmp, 'rootws'), 0, 0, true)).toThrow(/uid\/gid 0 is not allowed/);
  });

  it('root of a user namespace (a rootless container) is not host root: no stand-in', () => {
    const { isHostRoot } = identityModule;
    expect(isHostRoot(0, () => '         0          0 4294967295\n')).toBe(true);
    expect(isHostRoot(0, () => '         0          0          1\n')).toBe(true); // maps to 0 outside: treated as root
    expect(isHostRoot(0, () => '         0     100000      65536\n')).toBe(false);
    expect(isHostRoot(1000, () => '0 0 4294967295\n')).toBe(false);
    expect(chooseIdentity('auto', path.join(tmp, 'rootws'), 0, 0, false)).toMatchObject({ uid: 0, drop: false, standIn: false, innerUid: 65534 });
  });

  it('unprivileged, always the caller', () => {
    expect(chooseIdentity('auto', path.join(tmp, 'rootws'), 1000, 1000)).toMatchObject({ uid: 1000, drop: false, standIn: false });
    expect(() => chooseIdentity({ uid: 5, gid: 5 }, path.join(tmp, 'rootws'), 1000, 1000)).toThrow(/needs root/);
  });
});

describe('view plan', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-views-'));
    fs.chmodSync(tmp, 0o755);
    for (const d of ['home/ws', 'home/.ssh', 'locked/deep/ws2', 'open/cache', 'userown']) fs.mkdirSync(path.join(tmp, d), { recursive: true });
    fs.chmodSync(path.join(tmp, 'home'), 0o700);
    fs.chmodSync(path.join(tmp, 'home/.ssh'), 0o700);
    fs.chmodSync(path.join(tmp, 'locked'), 0o700);
    fs.chownSync(path.join(tmp, 'userown'), S, S);
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const id = { uid: S, gid: S, gids: [S], callerRoot: true, standIn: true, mountDir: '/run/warden/mnt/t' };

  it('shows root-owned writable roots and homes through views, and skeletons unsearchable ancestors', () => {
    const home = path.join(tmp, 'home');
    const ws = path.join(home, 'ws');
    const ws2 = path.join(tmp, 'locked/deep/ws2');
    const own = path.join(tmp, 'userown');
    const p = planViews(id, [ws, ws2, own], [home]);
    expect(p.views.map((v) => [path.relative(tmp, v.src), v.readOnly, v.diskUid])).toEqual([
      ['home/ws', false, 0],
      ['locked/deep/ws2', false, 0],
      ['home', true, 0],
    ]);
    expect(p.skeletons).toEqual([path.join(tmp, 'locked')]);
    expect(p.source(path.join(ws, '.git/hooks'))).toBe('/run/warden/mnt/t/0/.git/hooks');
    expect(p.source(path.join(home, '.ssh'))).toBe('/run/warden/mnt/t/2/.ssh');
    expect(p.source(own)).toBe(own);
  });

  it('reaches what the sandbox uid can search inside (through the views), so secrets there are covered', () => {
    const home = path.join(tmp, 'home');
    const p = planViews(id, [path.join(home, 'ws')], [home]);
    expect(p.reach(path.join(home, '.ssh/id_rsa'))).toBe(true); // root's 0700 dirs are the stand-in's own through the view
    expect(p.reach(path.join(tmp, 'locked/deep/x'))).toBe(false); // not shown, and the stand-in cannot search it
    const noStandIn = planViews({ ...id, standIn: false, uid: 4242, gid: 4242, gids: [4242] }, [path.join(tmp, 'open/cache')], [home]);
    expect(noStandIn.views).toEqual([]); // never for a real user: the view would be theirs outside the sandbox too
    expect(noStandIn.reach(path.join(home, '.ssh/id_rsa'))).toBe(false); // root's home: not the user's to see
  });

  it('plans nothing without root', () => {
    const p = planViews({ ...id, callerRoot: false }, [path.join(tmp, 'home/ws')], [path.join(tmp, 'home')]);
    expect(p.views).toEqual([]);
    expect(p.skeletons).toEqual([]);
  });
});
