// The plan cache on a filesystem whose times are coarse (ramfs: one kernel tick, ~4 ms here; ext4
// with small inodes, FAT: seconds): a change in the same tick as a look leaves a directory's or a
// file's times as they were. Attacker round 11: a secret made right after a run whose workspace
// listing was judged was never seen, the fingerprint matching from then on. Needs root (a mount).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlanCache } from '../../src/sandbox/plan-cache.js';
import { defaultRunPolicy } from '../../src/sandbox/policy.js';
import { compileSetup, type RunSetup } from '../../src/sandbox/run-plan.js';

const root = process.getuid?.() === 0;

describe.skipIf(!root)('plan cache on a filesystem with coarse times (ramfs)', () => {
  let mnt = '';
  beforeAll(() => {
    mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-coarse-'));
    execFileSync('mount', ['-t', 'ramfs', 'ramfs', mnt]);
  });
  afterAll(() => {
    execFileSync('umount', [mnt]);
    fs.rmSync(mnt, { recursive: true, force: true });
  });

  const planner = (ws: string) => {
    const cache = new PlanCache<RunSetup>();
    const policy = defaultRunPolicy();
    return () => cache.get('k', 'mounts', () => compileSetup({ policy, cwd: ws, ids: { scratch: 'x', views: 'y' }, log: () => {} }), () => {});
  };
  const hidden = (s: RunSetup, ws: string) => s.plan.mounts.filter((m) => m.dest.startsWith(`${ws}/`) && m.op !== 'bind' && m.op !== 'bind-fd').map((m) => path.relative(ws, m.dest));

  it('a secret made right after a use that listed the workspace again is seen at the next use', () => {
    const missed: number[] = [];
    for (let i = 0; i < 20; i++) {
      const ws = path.join(mnt, `ws${i}`);
      fs.mkdirSync(path.join(ws, 'sub'), { recursive: true });
      const plan = planner(ws);
      plan();
      fs.writeFileSync(path.join(ws, 'sub', 'notes.txt'), 'x'); // an agent's harmless file
      plan(); // listed again, judged harmless: the cached plan stays
      fs.writeFileSync(path.join(ws, 'sub', '.env'), 'FAKE-SECRET'); // same tick, most of the time
      if (!hidden(plan(), ws).includes('sub/.env')) missed.push(i);
    }
    expect(missed).toEqual([]);
  });

  it('a file the plan read, changed in the same tick with the same size, is seen at the next use', () => {
    const missed: number[] = [];
    for (let i = 0; i < 20; i++) {
      const ws = path.join(mnt, `p${i}`);
      fs.mkdirSync(ws, { recursive: true });
      const policyFile = path.join(ws, 'policy.json');
      let reads = 0;
      const cache = new PlanCache<string>();
      const plan = () => cache.get('k', 'mounts', () => (reads++, fs.readFileSync(policyFile, 'utf8')), () => {});
      fs.writeFileSync(policyFile, 'allow=a');
      expect(plan()).toBe('allow=a');
      fs.writeFileSync(policyFile, 'allow=b'); // same size, same tick most of the time
      if (plan() !== 'allow=b') missed.push(i);
      expect(reads).toBeGreaterThan(0);
    }
    expect(missed).toEqual([]);
  });
});
