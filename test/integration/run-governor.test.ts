// Issue #14 in `warden run --monitor`: the sandbox's cgroup is the governed session (its
// processes start in it; the policy's memory is the hard limit, the soft one below it). Memory
// tiers and a CPU burner inside the sandbox are reported in the run's audit.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readEvents, WARDEN } from '../helpers/watch.js';

const root = process.getuid?.() === 0;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-rungov-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const MB = 1024 * 1024;

describe.skipIf(!root)('governor in warden run --monitor', () => {
  it('reports memory tiers against the policy limit and a CPU burner, from the sandbox cgroup', () => {
    const ws = path.join(tmp, 'ws');
    fs.mkdirSync(ws);
    fs.writeFileSync(path.join(ws, 'alloc.py'), 'import time\nb = []\nfor i in range(17):\n    b.append(bytearray(10 * 1024 * 1024))\n    time.sleep(0.05)\ntime.sleep(1)\n');
    fs.writeFileSync(path.join(ws, 'policy.yaml'), 'resources: { memory: 200MB }\n');
    const audit = path.join(tmp, 'audit.ndjson');
    const r = spawnSync(WARDEN, ['run', '--monitor', '--policy', 'policy.yaml', '--audit', audit, '--', 'sh', '-c', "python3 alloc.py; timeout 7 sh -c 'yes > /dev/null'; echo done"], {
      cwd: ws,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const evs = readEvents(audit);
    const gov = evs.find((e) => e.kind === 'resource.session');
    expect(gov?.data).toMatchObject({ memory_max: 200 * MB, memory_high: 150 * MB, enforced_by: { memory: 'v1' } });
    expect(String(gov?.data?.cgroup)).toMatch(/warden-/);
    const tiers = evs.filter((e) => e.kind === 'resource.warn').map((e) => e.data?.tier);
    expect(tiers).toEqual([85, 95, 100]);
    const burn = evs.find((e) => e.kind === 'resource.cpu' && e.rule === 'impact_cpu_burn');
    expect(burn?.proc?.argv).toEqual(['yes']);
    expect(burn?.sandbox?.id).toBe(gov?.sandbox?.id);
  }, 150_000);
});
