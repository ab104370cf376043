// Issues #3 and #11: Atomic Red Team Linux tests under the real `warden watch`, each in a
// disposable namespace (every system directory an overlay, root read-only, loopback only,
// capabilities beyond the namespace dropped), launched by a stub agent (argv[0] `claude`):
// the 60 development tests of ../shared/atomics/atomics-dev.json and every test of the wider
// corpus (../shared/atomics/art-linux) that can run here, plus the benign git + npm session.
// Figures per tactic for the development set, the corpus tests rule work looked at, and the
// held-out fifth reported apart. See src/bench/atomics-harness.ts for the method.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { evidenceUnavailable } from '../../src/bench/atomics-harness.js';
import { CORPUS_DIR, groupTable, runCorpusEvidence } from '../../src/bench/atomics-corpus.js';

const why = evidenceUnavailable() ?? (fs.existsSync(CORPUS_DIR) ? undefined : `${CORPUS_DIR} not found`);

describe.skipIf(why !== undefined)('atomic red team evidence (real kernel sensor)', () => {
  it('detects the development set and at least 90 % of the runnable corpus; the benign session raises no alert', async () => {
    const log: string[] = [];
    const r = await runCorpusEvidence({ log: (m) => log.push(m) });
    const report = path.join(os.tmpdir(), `warden-atomics-evidence-${process.pid}.json`);
    fs.writeFileSync(report, JSON.stringify({ ...r, report: { ...r.report, sessions: r.report.sessions.map((s) => ({ ...s, recorded: s.recorded.length })) } }, null, 2));
    const miss = (xs: typeof r.dev) => xs.filter((x) => !x.detected).map((x) => `${x.id} (${x.expected}; saw ${x.categories.join(',') || 'nothing'})`).join('; ') || 'none';
    process.stdout.write(
      `\ndevelopment set:\n${groupTable(r.dev)}\ncorpus (looked at):\n${groupTable(r.tuned)}\ncorpus (held out):\n${groupTable(r.heldOut)}\n` +
        `missed (dev): ${miss(r.dev)}\nmissed (corpus): ${miss(r.tuned)}\nmissed (held out): ${miss(r.heldOut)}\n` +
        `not runnable here: ${r.cannotRun.length}\nbenign: ${JSON.stringify(r.report.benign)}\nreport: ${report}\n`,
    );
    expect(r.dev).toHaveLength(60);
    // every test's agent must have been seen, or a miss would say nothing about the rules
    expect(r.report.results.filter((x) => !x.agentSeen).map((x) => x.id)).toEqual([]);
    expect(r.dev.filter((x) => x.detected).length).toBeGreaterThanOrEqual(57);
    const corpus = [...r.dev, ...r.tuned];
    expect(corpus.filter((x) => x.detected).length / corpus.length).toBeGreaterThanOrEqual(0.9);
    expect(r.report.benign.agentSeen).toBe(true);
    expect(r.report.benign.exitCode).toBe(0);
    expect(r.report.benign.alerts).toBe(0);
    expect(r.report.benign.events).toBeGreaterThan(100);
    expect(r.report.lost).toBe(0);
  }, 5_400_000);
});

if (why) {
  describe('atomic red team evidence', () => {
    it.skip(`skipped: ${why}`, () => {});
  });
}
