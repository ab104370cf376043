// Issues #3 and #11 as benchmark figures: the development set and the runnable Atomic Red Team
// corpus under `warden watch` (see atomics-harness.ts, atomics-corpus.ts): detection overall and
// per tactic for the development set, the corpus tests rule work looked at and the held-out ones,
// and the alerts raised by the benign session.
import { runCorpusEvidence } from './atomics-corpus.js';
import { evidenceUnavailable, type AtomicResult } from './atomics-harness.js';
import type { Bench, Figure } from './types.js';

function groupFigures(id: string, label: string, rs: AtomicResult[], target?: number): Figure[] {
  const d = rs.filter((x) => x.detected).length;
  const out: Figure[] = [
    {
      id: `atomics.${id}`,
      label,
      value: d,
      unit: `of ${rs.length}`,
      ...(target !== undefined ? { target: `>= ${Math.round(target * 100)} %`, met: d >= target * rs.length } : {}),
      note: rs.filter((x) => !x.detected).map((x) => `missed ${x.id}`).join(', ') || undefined,
    },
  ];
  const by = new Map<string, AtomicResult[]>();
  for (const r of rs) by.set(r.expected, [...(by.get(r.expected) ?? []), r]);
  for (const [t, xs] of by) out.push({ id: `atomics.${id}.${t}`, label: `  ${t}`, value: xs.filter((x) => x.detected).length, unit: `of ${xs.length}` });
  return out;
}

const bench: Bench = {
  name: 'atomics',
  issue: 11,
  description: 'Atomic Red Team tests (development set + runnable corpus) in disposable namespaces under warden watch: detection rate',
  async unavailable() {
    return evidenceUnavailable();
  },
  async run(ctx) {
    const r = await runCorpusEvidence({ log: (m) => ctx.log(m) });
    return [
      ...groupFigures('dev', 'development set detected (warn/alert of the expected tactic)', r.dev, 0.95),
      ...groupFigures('corpus', 'corpus tests looked at, detected', r.tuned),
      ...groupFigures('held_out', 'held-out corpus tests, detected', r.heldOut),
      { id: 'atomics.not_runnable', label: 'corpus tests that cannot run here', value: r.cannotRun.length, unit: 'tests' },
      { id: 'atomics.benign_alerts', label: 'alerts raised by the benign session', value: r.report.benign.alerts, unit: 'alerts', target: '== 0', met: r.report.benign.alerts === 0, note: `${r.report.benign.warnings} warnings, ${r.report.benign.events} events` },
    ];
  },
};

export default bench;
