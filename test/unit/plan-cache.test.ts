import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { anchorTiming, checkSet, fingerprint, PlanCache } from '../../src/sandbox/plan-cache.js';
import { defaultRunPolicy } from '../../src/sandbox/policy.js';
import { compileSetup, type RunSetup } from '../../src/sandbox/run-plan.js';

// A plan that looks for secret files the way compileSetup does: most of the names do not exist.
const NAMES = ['.aws/credentials', '.aws/config', '.config/gcloud/credentials.db', '.config/pypoetry/auth.toml', '.netrc', '.ssh/id_rsa', '.ssh/id_ed25519', '.env', 'deep/a/b/c/key.pem'];

describe('plan cache: what makes a cached plan stale', () => {
  let dir = '';
  let compiles = 0;
  const cache = new PlanCache<string[]>();
  const plan = () =>
    cache.get('k', 'mounts', () => {
      compiles++;
      return NAMES.filter((n) => fs.existsSync(path.join(dir, n)));
    }, () => {});
  const settle = () => new Promise((r) => setTimeout(r, 150)); // anchors only directories whose times are 100 ms old

  beforeEach(async () => {
    anchorTiming.settledMs = 100;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-plancache-'));
    fs.mkdirSync(path.join(dir, '.ssh'));
    fs.mkdirSync(path.join(dir, '.config'));
    fs.mkdirSync(path.join(dir, 'deep'));
    compiles = 0;
    await settle();
  });
  afterEach(() => {
    anchorTiming.settledMs = 3000;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('checks the absent names through the few directories above them', () => {
    const seen = new Map(NAMES.map((n) => [path.join(dir, n), fingerprint(path.join(dir, n))]));
    const { direct, anchors } = checkSet(seen);
    expect(direct.size).toBe(0);
    expect([...anchors.keys()].sort()).toEqual([dir, path.join(dir, '.ssh'), path.join(dir, 'deep'), path.join(dir, '.config')].sort());
    expect([...anchors.values()].every((g) => g.fp !== undefined)).toBe(true);
    expect(anchors.get(path.join(dir, 'deep'))!.names).toEqual([path.join(dir, 'deep/a/b/c/key.pem')]);
  });

  it('other files coming and going beside the names do not make the plan stale: the names are looked at one by one, then the directory is trusted again', async () => {
    expect(plan()).toEqual([]);
    fs.writeFileSync(path.join(dir, '.ssh', 'known_hosts'), 'x');
    fs.writeFileSync(path.join(dir, 'build.log'), 'x');
    expect(plan()).toEqual([]);
    expect(compiles).toBe(1);
    await settle();
    expect(plan()).toEqual([]);
    fs.writeFileSync(path.join(dir, '.ssh', 'id_rsa'), 'k');
    expect(plan()).toEqual(['.ssh/id_rsa']);
    expect(compiles).toBe(2);
  });

  const appear: Array<[string, () => void]> = [
    ['a file in an existing directory', () => fs.writeFileSync(path.join(dir, '.ssh/id_rsa'), 'k')],
    ['a file in the top directory', () => fs.writeFileSync(path.join(dir, '.env'), 'k')],
    ['a directory and the file in it', () => (fs.mkdirSync(path.join(dir, '.aws')), fs.writeFileSync(path.join(dir, '.aws/credentials'), 'k'))],
    ['a file three missing directories down', () => (fs.mkdirSync(path.join(dir, 'deep/a/b/c'), { recursive: true }), fs.writeFileSync(path.join(dir, 'deep/a/b/c/key.pem'), 'k'))],
    ['a file renamed into place', () => (fs.writeFileSync(path.join(dir, 'tmp'), 'k'), fs.renameSync(path.join(dir, 'tmp'), path.join(dir, '.netrc')))],
    ['a file moved in from another directory', () => (fs.writeFileSync(path.join(dir, 'deep/x'), 'k'), fs.renameSync(path.join(dir, 'deep/x'), path.join(dir, '.ssh/id_ed25519')))],
  ];
  for (const [what, make] of appear)
    it(`a secret that appears as ${what} makes the plan stale`, () => {
      expect(plan()).toEqual([]);
      expect(plan()).toEqual([]);
      expect(compiles).toBe(1);
      make();
      expect(plan().length).toBe(1);
      expect(compiles).toBe(2);
    });

  it('a directory made between the trusted one and a name, then the secret in it (attacker round 8): stale', async () => {
    expect(plan()).toEqual([]);
    fs.mkdirSync(path.join(dir, '.config/pypoetry')); // .config changed: its names are looked at, still absent
    await settle();
    expect(plan()).toEqual([]);
    expect(compiles).toBe(1);
    await settle();
    expect(plan()).toEqual([]); // trusted again, by the directory nearest to each name
    fs.writeFileSync(path.join(dir, '.config/pypoetry/auth.toml'), 'k'); // .config itself does not change
    expect(plan()).toEqual(['.config/pypoetry/auth.toml']);
    expect(compiles).toBe(2);
  });

  it('the same with deeper directories made one at a time, a run between each', async () => {
    expect(plan()).toEqual([]);
    for (const d of ['deep/a', 'deep/a/b', 'deep/a/b/c']) {
      fs.mkdirSync(path.join(dir, d));
      await settle();
      expect(plan()).toEqual([]);
      await settle();
      expect(plan()).toEqual([]);
    }
    fs.writeFileSync(path.join(dir, 'deep/a/b/c/key.pem'), 'k');
    expect(plan()).toEqual(['deep/a/b/c/key.pem']);
  });

  it('a directory behind a symlink with no target yet: the target made later, with the secret in it', async () => {
    const target = path.join(os.tmpdir(), `warden-plancache-target-${process.pid}`);
    fs.rmSync(target, { recursive: true, force: true });
    fs.rmSync(path.join(dir, '.ssh'), { recursive: true });
    fs.symlinkSync(target, path.join(dir, '.ssh'));
    await settle();
    try {
      expect(plan()).toEqual([]);
      expect(plan()).toEqual([]);
      fs.mkdirSync(target);
      fs.writeFileSync(path.join(target, 'id_rsa'), 'k');
      expect(plan()).toEqual(['.ssh/id_rsa']);
      expect(compiles).toBe(2);
    } finally {
      fs.rmSync(target, { recursive: true, force: true });
    }
  });

  it('a directory changed just before the plan was made is not trusted by its times: its names are checked one by one', () => {
    fs.writeFileSync(path.join(dir, '.ssh', 'known_hosts'), 'x'); // .ssh changed now
    const seen = new Map(NAMES.map((n) => [path.join(dir, n), fingerprint(path.join(dir, n))]));
    const { anchors } = checkSet(seen);
    expect(anchors.get(path.join(dir, '.ssh'))!.fp).toBeUndefined();
    expect(anchors.get(path.join(dir, '.ssh'))!.names).toEqual([path.join(dir, '.ssh/id_rsa'), path.join(dir, '.ssh/id_ed25519')]);
  });

  it('a name recorded as absent that exists by the time the anchors are taken is checked as itself', () => {
    const p = path.join(dir, '.netrc');
    const seen = new Map([[p, '-']]); // absent when the plan looked
    fs.writeFileSync(p, 'k'); // made before the anchor was fingerprinted
    const { direct } = checkSet(seen, Date.now() + 1000);
    expect(direct.get(p)).toBe('-');
  });
});

// The real planner's workspace walk (fs-plan.ts), through the cache: the listings it judges.
describe('plan cache: files an agent creates in the workspace', () => {
  let ws = '';
  let compiles = 0;
  const cache = new PlanCache<RunSetup>();
  const policy = defaultRunPolicy();
  const plan = () =>
    cache.get('w', 'mounts', () => {
      compiles++;
      return compileSetup({ policy, cwd: ws, ids: { scratch: 'x', views: 'y' }, log: () => {} });
    }, () => {});
  const hidden = (s: RunSetup) => s.plan.mounts.filter((m) => m.dest.startsWith(`${ws}/`) && m.op !== 'bind' && m.op !== 'bind-fd').map((m) => path.relative(ws, m.dest));

  beforeEach(() => {
    anchorTiming.settledMs = 100;
    ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'warden-plancache-ws-')));
    fs.mkdirSync(path.join(ws, 'src'));
    fs.writeFileSync(path.join(ws, 'README.md'), 'x');
    compiles = 0;
  });
  afterEach(() => {
    anchorTiming.settledMs = 3000;
    fs.rmSync(ws, { recursive: true, force: true });
  });

  const harmless: Array<[string, () => void]> = [
    ['a file at the top', () => fs.writeFileSync(path.join(ws, 'notes.txt'), 'x')],
    ['a file in a subdirectory', () => fs.writeFileSync(path.join(ws, 'src/a.ts'), 'x')],
    ['a file removed', () => fs.rmSync(path.join(ws, 'README.md'))],
    ['a file renamed', () => fs.renameSync(path.join(ws, 'README.md'), path.join(ws, 'README.txt'))],
    ['a directory the walk skips (node_modules)', () => fs.mkdirSync(path.join(ws, 'node_modules'))],
    ['a pyvenv.cfg (no longer a reason to stop the walk: the sandbox can write one)', () => fs.writeFileSync(path.join(ws, 'src/pyvenv.cfg'), '')],
  ];
  for (const [what, make] of harmless)
    it(`${what}: the cached plan is used`, () => {
      const first = plan();
      make();
      expect(plan()).toBe(first);
      expect(compiles).toBe(1);
    });

  const changing: Array<[string, () => void, string?]> = [
    ['a secret at the top', () => fs.writeFileSync(path.join(ws, '.env'), 'k'), '.env'],
    ['a secret in a subdirectory', () => fs.writeFileSync(path.join(ws, 'src/.env.local'), 'k'), 'src/.env.local'],
    ['a secret renamed into place', () => (fs.writeFileSync(path.join(ws, 'src/tmp'), 'k'), fs.renameSync(path.join(ws, 'src/tmp'), path.join(ws, 'src/.npmrc'))), 'src/.npmrc'],
    ['a new directory (the walk would look into it)', () => fs.mkdirSync(path.join(ws, 'lib'))],
    ['a file turned into a directory', () => (fs.rmSync(path.join(ws, 'README.md')), fs.mkdirSync(path.join(ws, 'README.md')))],
    ['a protected name in a subdirectory', () => fs.writeFileSync(path.join(ws, 'src/.mcp.json'), '{}')],
    ['a nested .git', () => fs.writeFileSync(path.join(ws, 'src/.git'), 'gitdir: /elsewhere')],
    ['the workspace given to another owner', () => fs.chownSync(ws, 4242, 4242)],
    ['the workspace made writable for others', () => fs.chmodSync(ws, 0o777)],
  ];
  for (const [what, make, secret] of changing)
    it(`${what}: the plan is made again`, () => {
      plan();
      make();
      const again = plan();
      expect(compiles).toBe(2);
      if (secret) expect(hidden(again)).toContain(secret);
    });

  it('a secret removed: the plan is made again (it covered that file)', () => {
    fs.writeFileSync(path.join(ws, 'src/.env'), 'k');
    expect(hidden(plan())).toContain('src/.env');
    fs.rmSync(path.join(ws, 'src/.env'));
    expect(hidden(plan())).not.toContain('src/.env');
    expect(compiles).toBe(2);
  });

  it('a harmless file, then a secret: the second is seen (the listing kept is the one judged)', () => {
    plan();
    fs.writeFileSync(path.join(ws, 'src/a.ts'), 'x');
    plan();
    fs.writeFileSync(path.join(ws, 'src/.netrc'), 'k');
    expect(hidden(plan())).toContain('src/.netrc');
    expect(compiles).toBe(2);
  });
});
