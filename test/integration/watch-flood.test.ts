// Issue #17, vector 6: an agent floods the sensor (three processes of failing utimensat calls on
// 4 KiB paths, which no rule matches) and reads a key in the middle of it. The key read must
// arrive with its alert (it travels in the high-value buffer; the flood is rate limited in the
// kernel), and the loss must be reported for that session, as an alert: its own flood.
// Bounded by count and time. Compiled sensor.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { run, startWatch, type RunningWatch } from '../helpers/watch.js';

const root = process.getuid?.() === 0;
const HELPER = path.resolve(__dirname, 'helpers', 'evasion.py');

describe.skipIf(!root)('loss never hides an agent act (compiled sensor)', () => {
  let w: RunningWatch;
  let tmp: string;
  let key: string;
  let agentPid = 0;
  let events: WardenEvent[] = [];

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-flood-'));
    key = path.join(tmp, 'home', '.ssh', 'id_ed25519');
    fs.mkdirSync(path.dirname(key), { recursive: true });
    fs.writeFileSync(key, '-----BEGIN OPENSSH PRIVATE KEY-----\nflood\n');
    const script = path.join(tmp, 'agent.sh');
    fs.writeFileSync(
      script,
      [
        `for i in 1 2 3; do /usr/bin/python3 ${HELPER} flood-utimensat 3000000 6 & done`,
        'sleep 1.5',
        `cat ${key} > /dev/null`,
        'wait',
      ].join('\n') + '\n',
    );
    w = await startWatch(['--backend', 'ebpf']);
    const r = await run('bash', [script], { env: { PATH: process.env.PATH, HOME: path.join(tmp, 'home') }, argv0: 'claude' });
    expect(r.code, r.out).toBe(0);
    agentPid = r.pid;
    await w.waitFor((e) => e.kind === 'agent.exit' && e.agent?.root_pid === agentPid, 60_000, 'agent.exit');
    await new Promise((r) => setTimeout(r, 1500)); // the last loss report (once a second)
    expect(await w.stop()).toBe(0);
    events = w.events();
  }, 180_000);

  afterAll(async () => {
    await w?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the key read during the flood arrives, with its alert, in the session', () => {
    const read = events.find((e) => e.kind === 'file.open' && e.file?.path === key);
    expect(read?.agent?.root_pid).toBe(agentPid);
    expect(read?.severity).toBe('alert');
  });

  it('the loss is reported for the session that flooded, as an alert, saying what was lost and why', () => {
    const losses = events.filter((e) => e.kind === 'monitor.loss' && e.agent?.root_pid === agentPid);
    expect(losses.length).toBeGreaterThan(0);
    const own = losses.find((e) => e.rule === 'monitor_loss_own_flood');
    expect(own?.severity).toBe('alert');
    expect(Object.keys(own!.data!.by_kind as object)).toContain('utimes');
    expect((own!.data!.by_reason as Record<string, number>).rate_limited).toBeGreaterThan(0);
    // every record not delivered is counted: the session's losses add up to the kernel's total
    const stop = events.find((e) => e.kind === 'monitor.stop');
    const total = (stop?.data?.counters as Record<string, number>).lost;
    expect(total).toBeGreaterThanOrEqual(losses.reduce((n, e) => n + (e.data!.lost as number), 0));
  });
});
