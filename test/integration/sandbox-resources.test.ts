// Resource limits through the cgroup backend (this host: memory, pids and cpu on cgroup v1,
// identity on cgroup v2) and the wall-clock timeout: each limit is hit by a real workload,
// reported as a sandbox.deny event, and its cgroups are gone afterwards.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PY, readEvents, residueAfter, sandboxId, scratch, warden, type Scratch } from './helpers/warden-run.js';

let s: Scratch;
beforeAll(() => {
  s = scratch();
});
afterAll(() => s.cleanup());

async function runWith(policy: string, script: string) {
  const audit = path.join(s.root, `audit-${Math.random().toString(36).slice(2)}.ndjson`);
  const r = await warden(['run', '--policy', s.policy(policy), '--audit', audit, '--', '/bin/sh', '-c', script], { cwd: s.ws, timeoutMs: 60_000 });
  const ev = readEvents(audit);
  return { ...r, ev, id: sandboxId(ev) };
}

describe('warden run: resources (root)', () => {
  it('memory: a process that exceeds the limit is OOM-killed and it is reported', async () => {
    const r = await runWith(
      'resources: { memory: 64MB }\n',
      `${PY} -c "
chunks = []
for i in range(40):
    chunks.append(bytearray(16 * 1024 * 1024))
print('survived')"`,
    );
    expect(r.stdout).not.toContain('survived');
    expect(r.code).toBe(137);
    const deny = r.ev.find((e) => e.kind === 'sandbox.deny' && e.data?.reason === 'memory');
    expect(deny).toMatchObject({ severity: 'warn', rule: 'sandbox.memory_limit', category: 'impact' });
    expect(Number(deny!.data!.oom_kills)).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/memory limit .* reached/);
    expect(await residueAfter(r.id)).toEqual([]);
  });

  it('memory: a process under the limit is unaffected (control)', async () => {
    const r = await runWith('resources: { memory: 256MB }\n', `${PY} -c "b = bytearray(32 * 1024 * 1024); print('fine')"`);
    expect(r.stdout).toContain('fine');
    expect(r.code).toBe(0);
    expect(r.ev.filter((e) => e.kind === 'sandbox.deny' && e.data?.reason !== 'inherited_fd')).toEqual([]);
  });

  it('memory: a limit too small for the sandbox to start says so (it said "see the bwrap message above", with none)', async () => {
    const r = await runWith('resources: { memory: 1KB }\n', 'echo ran');
    expect(r.stdout).not.toContain('ran');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('the memory limit (resources.memory) killed the sandbox before the command started');
    expect(r.stderr).not.toContain('bwrap message above');
    expect(await residueAfter(r.id)).toEqual([]);
  });

  it('pids: a fork bomb stops at the limit', async () => {
    const r = await runWith('resources: { pids: 16 }\n', 'n=0; for i in $(seq 40); do sleep 2 & n=$((n+1)); done 2>/dev/null; echo started; wait');
    const deny = r.ev.find((e) => e.kind === 'sandbox.deny' && e.data?.reason === 'pids');
    expect(deny).toMatchObject({ rule: 'sandbox.pids_limit' });
    expect(Number(deny!.data!.hits)).toBeGreaterThan(0);
    expect(await residueAfter(r.id)).toEqual([]);
  });

  it('cpu: a busy loop is throttled to its quota', async () => {
    const r = await runWith('resources: { cpu: 0.05 }\n', `timeout 1 sh -c 'while :; do :; done'; true`);
    const exit = r.ev.find((e) => e.kind === 'sandbox.exit')!;
    expect(Number((exit.data as { stats: { cpuThrottledPeriods?: number } }).stats.cpuThrottledPeriods)).toBeGreaterThan(0);
    const start = r.ev.find((e) => e.kind === 'sandbox.start')!;
    expect((start.data as { cgroups: { enforced_by: Record<string, string> } }).cgroups.enforced_by.cpu).toMatch(/v[12]/);
  });

  it('timeout: the command gets SIGTERM, then SIGKILL after the grace period; exit 124', async () => {
    const polite = await runWith('resources: { timeout: 1s }\n', `trap 'echo term; exit 0' TERM; while :; do sleep 0.1; done`);
    expect(polite.code).toBe(124);
    expect(polite.stdout).toContain('term');
    expect(polite.ev.find((e) => e.kind === 'sandbox.deny' && e.data?.reason === 'timeout')).toMatchObject({ rule: 'sandbox.timeout', severity: 'warn' });
    const stubborn = await runWith('resources: { timeout: 1s, timeout_grace: 1s }\n', `trap '' TERM; while :; do sleep 0.1; done`);
    expect(stubborn.code).toBe(124);
    expect(await residueAfter(stubborn.id)).toEqual([]);
  });
});
