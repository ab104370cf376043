// Issue #3 evidence as a benchmark figure: the 60 Atomic Red Team tests run under
// `warden watch` (see atomics-harness.ts); detection rate overall and per tactic, and the
// alerts raised by the benign session.
import { evidenceUnavailable, runEvidence } from './atomics-harness.js';
import type { Bench, Figure } from './types.js';

const bench: Bench = {
  name: 'atomics',
  issue: 3,
  description: '60 Atomic Red Team tests in disposable namespaces under warden watch: detection rate',
  async unavailable() {
    return evidenceUnavailable();
  },
  async run(ctx) {
    const r = await runEvidence({ log: (m) => ctx.log(m) });
    const figures: Figure[] = [
      {
        id: 'atomics.detected',
        label: 'atomic tests detected (warn/alert of the expected tactic)',
        value: r.detected,
        unit: `of ${r.total}`,
        target: '>= 57',
        met: r.detected >= 57,
        note: r.results.filter((x) => !x.detected).map((x) => `missed ${x.id}`).join(', ') || undefined,
      },
      { id: 'atomics.benign_alerts', label: 'alerts raised by the benign session', value: r.benign.alerts, unit: 'alerts', target: '== 0', met: r.benign.alerts === 0, note: `${r.benign.warnings} warnings, ${r.benign.events} events` },
    ];
    for (const [tactic, v] of Object.entries(r.byTactic)) {
      figures.push({ id: `atomics.${tactic}`, label: `  ${tactic}`, value: v.detected, unit: `of ${v.total}` });
    }
    return figures;
  },
};

export default bench;
