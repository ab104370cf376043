// Issue #3 evidence: the 60 Atomic Red Team Linux tests of ../shared/atomics/atomics-dev.json,
// each in a disposable mount/pid/net namespace with overlay-mounted system directories,
// launched by a stub agent (argv[0] `claude`) while the real `warden watch` runs; plus a
// benign agent session. See src/bench/atomics-harness.ts for the method.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { evidenceUnavailable, runEvidence, tacticTable } from '../../src/bench/atomics-harness.js';

const why = evidenceUnavailable();

describe.skipIf(why !== undefined)('atomic red team evidence (real kernel sensor)', () => {
  it('detects at least 57 of the 60 tests with the expected tactic, and the benign session raises no alert', async () => {
    const log: string[] = [];
    const r = await runEvidence({ log: (m) => log.push(m) });
    const report = path.join(os.tmpdir(), `warden-atomics-evidence-${process.pid}.json`);
    fs.writeFileSync(report, JSON.stringify(r, null, 2));
    const misses = r.results.filter((x) => !x.detected).map((x) => `${x.id} (${x.expected}; saw ${x.categories.join(',') || 'nothing'}; agent ${x.agentSeen ? 'seen' : 'NOT seen'})`);
    process.stdout.write(`\n${tacticTable(r)}\nmissed: ${misses.join('; ') || 'none'}\nbenign: ${JSON.stringify(r.benign)}\nreport: ${report}\n`);
    expect(r.total).toBe(60);
    // every test's agent must have been seen, or a miss would say nothing about the rules
    expect(r.results.filter((x) => !x.agentSeen).map((x) => x.id)).toEqual([]);
    expect(r.detected).toBeGreaterThanOrEqual(57);
    expect(r.benign.agentSeen).toBe(true);
    expect(r.benign.exitCode).toBe(0);
    expect(r.benign.alerts).toBe(0);
    expect(r.benign.events).toBeGreaterThan(100);
    expect(r.lost).toBe(0);
  }, 1_800_000);
});

if (why) {
  describe('atomic red team evidence', () => {
    it.skip(`skipped: ${why}`, () => {});
  });
}
