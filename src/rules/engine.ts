// The rule engine at run time: classifies each event in place with the single-event rules
// indexed by its kind, feeds sequence and threshold state, and emits derived events
// (alert.sequence, alert.threshold, rule.error). A rule that throws is disabled and
// reported once; processing continues.
import type { RuleAction } from './schema.js';
import { severityRank, type Severity, type UnstampedEvent } from '../events/types.js';
import { R } from './cel.js';
import { stepLits, type CompiledSet, type CRule, type CSequence, type CThreshold, type RuleMeta, type Variant } from './compile.js';
import { Correlator, DEFAULT_LIMITS, summarize, type CorrelatorLimits, type Hit, type StepSummary } from './correlate.js';
import { evalLits, type LitExpr, type ProbeName, type Term } from './literals.js';
import { basename, PathMatcher, type PathContext } from './paths.js';

export interface RuleInfo {
  id: string;
  type: 'rule' | 'sequence' | 'threshold';
  severity: Severity;
  category?: string;
  mitre: string[];
  kinds: string[];
  enabled: boolean;
  source: string;
  description: string;
  action?: RuleAction;
  known_safe_for: string[];
  tags: string[];
}

export interface RuleEngine {
  /** Classifies ev in place (severity, rule, category, mitre, message, also) and calls emit(ev), then emit() for derived events (alert.sequence, alert.threshold, rule.error). */
  process(ev: UnstampedEvent, emit: (e: UnstampedEvent) => void): void;
  /** Counters: events, matched, alerts, warnings, errors, per-rule counts (`rule.<id>`), correlation state. */
  stats(): Record<string, number>;
  rules(): RuleInfo[];
  /**
   * Which raw NDJSON lines (as written by JSON.stringify) some enabled rule could match, per
   * event kind; lines it rules out are certainly left unclassified. Used by `warden replay`
   * to skip parsing them.
   */
  lineFilter(): LineFilter;
  /** The action (kill | freeze | deny) configured for a rule id, if any. */
  actionFor(id: string): RuleAction | undefined;
}

export interface LineFilter {
  /**
   * kind → what a line of that kind must show to possibly be classified (a regex source of
   * literals, or a probe on the raw line, see literals.ts), or null when every line of the
   * kind must be parsed. Kinds not in the map: no rule applies.
   */
  kinds: Map<string, { terms: Array<{ sets: string[][]; probe?: ProbeName }> } | null>;
}

interface Entry {
  r: CRule;
  v: Variant;
}

interface KindIndex {
  /** Every enabled rule of the kind, in rule order. */
  entries: Entry[];
  /**
   * All of them in one generated function: writes the indices (into entries) of the rules that
   * match to `out` and returns how many; a rule that throws is reported in `errs` as
   * (entry index, error) and the others still run. One function per kind lets V8 optimise the
   * rule set as straight-line code instead of ~50 indirect calls per event.
   */
  fn: (ev: Record<string, unknown>, out: Int32Array, errs: unknown[]) => number;
}

/** Builds the per-kind function from the rules' generated conditions. */
function kindFunction(entries: Entry[], helpers: unknown[], pathTest: (ev: Record<string, unknown>) => boolean): KindIndex['fn'] {
  const gates: Array<ReadonlySet<string> | undefined> = entries.map((e) => e.v.nameGate);
  let body = '"use strict";\nreturn function kindRules(ev, out, errs) {\n  let n = 0;\n  let ph = 0;\n';
  body += '  const p = ev.proc;\n  const name = p !== undefined && typeof p.exe === "string" ? B(p.exe) : undefined;\n';
  entries.forEach(({ r, v }, i) => {
    const conds: string[] = [];
    if (v.nameGate) conds.push(`G[${i}].has(name)`);
    if (v.pathGate) conds.push('(ph === 0 ? (ph = PU(ev) ? 1 : 2) : ph) === 1');
    conds.push(`(${v.js})`);
    if (r.excJs) conds.push(`!(${r.excJs})`);
    body += `  // ${r.id}\n  try { if (${conds.join(' && ')}) out[n++] = ${i}; } catch (e) { errs.push(${i}, e); }\n`;
  });
  body += '  return n;\n};';
  return new Function('H', 'R', 'G', 'B', 'PU', body)(helpers, R, gates, basename, pathTest) as KindIndex['fn'];
}

interface StepRef {
  seq: CSequence;
  step: number;
  v: Variant | undefined;
}

interface ThRef {
  t: CThreshold;
  v: Variant;
}

const RE_ESC = /[.*+?^${}()|[\]\\/]/g;

/** Regex source matching any of the words, as a trie so shared prefixes are tested once. */
export function trieRegexSource(words: readonly string[]): string {
  interface N {
    end: boolean;
    next: Map<string, N>;
  }
  const root: N = { end: false, next: new Map() };
  for (const w of words) {
    let n = root;
    for (const ch of w) {
      let c = n.next.get(ch);
      if (!c) {
        c = { end: false, next: new Map() };
        n.next.set(ch, c);
      }
      n = c;
    }
    n.end = true;
  }
  const gen = (n: N): string => {
    if (n.end) return ''; // a shorter word is enough: the longer ones add nothing
    const alts = [...n.next.entries()].map(([ch, c]) => ch.replace(RE_ESC, '\\$&') + gen(c));
    return alts.length === 1 ? alts[0]! : `(?:${alts.join('|')})`;
  };
  return gen(root);
}

/** Global so several engines sharing compiled rules never confuse each other's match stamps. */
let generation = 0;

/** Copies the mutable parts of a compiled set (enabled flags, match stamps) for one engine. */
function cloneSet(set: CompiledSet): CompiledSet {
  return {
    ...set,
    rules: set.rules.map((r) => ({ ...r })),
    sequences: set.sequences.map((s) => ({ ...s })),
    thresholds: set.thresholds.map((t) => ({ ...t })),
  };
}

export class Engine implements RuleEngine {
  private readonly byKind = new Map<string, KindIndex>();
  private readonly stepsByKind = new Map<string, StepRef[]>();
  private readonly thByKind = new Map<string, ThRef[]>();
  private readonly correlator: Correlator;
  private readonly ruleCounts: Int32Array;
  private readonly seqCounts: Int32Array;
  private readonly thCounts: Int32Array;
  private lastT = 0;
  private readonly set: CompiledSet;
  private n = { events: 0, matched: 0, alerts: 0, warnings: 0, errors: 0, sequences: 0, thresholds: 0 };
  private readonly pendingSummaries: StepSummary[] = [];
  private matchBuf = new Int32Array(64);
  private readonly errs: unknown[] = [];
  private readonly derived: UnstampedEvent[] = [];

  constructor(compiled: CompiledSet, limits: Partial<CorrelatorLimits> = {}) {
    const set = cloneSet(compiled);
    this.set = set;
    this.correlator = new Correlator(set.sequences, set.thresholds, { ...DEFAULT_LIMITS, ...limits });
    this.ruleCounts = new Int32Array(set.rules.length);
    this.seqCounts = new Int32Array(set.sequences.length);
    this.thCounts = new Int32Array(set.thresholds.length);
    this.reindex();
  }

  private reindex(): void {
    this.byKind.clear();
    this.stepsByKind.clear();
    this.thByKind.clear();
    const perKind = new Map<string, Entry[]>();
    for (const r of this.set.rules) {
      if (!r.enabled) continue;
      for (const [k, v] of r.variants) push(perKind, k, { r, v });
    }
    const pathTest = (ev: Record<string, unknown>) => this.pathMatches(ev as unknown as UnstampedEvent);
    let most = 0;
    for (const [kind, entries] of perKind) {
      this.byKind.set(kind, { entries, fn: kindFunction(entries, this.set.helpers, pathTest) });
      most = Math.max(most, entries.length);
    }
    if (this.matchBuf.length < most) this.matchBuf = new Int32Array(most);
    for (const s of this.set.sequences) {
      if (!s.enabled) continue;
      // later steps first, so one event cannot advance a partial by two steps at once
      for (let i = s.steps.length - 1; i >= 0; i--) {
        const st = s.steps[i]!;
        for (const k of st.kinds) {
          const v = st.variants?.get(k);
          if (st.variants && !v) continue;
          push(this.stepsByKind, k, { seq: s, step: i, v });
        }
      }
    }
    for (const t of this.set.thresholds) {
      if (!t.enabled) continue;
      for (const [k, v] of t.variants) push(this.thByKind, k, { t, v });
    }
  }

  process(ev: UnstampedEvent, emit: (e: UnstampedEvent) => void): void {
    this.n.events++;
    const kind = ev.kind;
    const idx = this.byKind.get(kind);
    this.pathHit = -1;
    const steps = this.stepsByKind.get(kind);
    const ths = this.thByKind.get(kind);
    if (idx === undefined && steps === undefined && ths === undefined) {
      if (kind === 'agent.exit' && ev.agent) this.correlator.endSession(ev.agent.session);
      emit(ev);
      return;
    }
    const gen = ++generation;
    PathMatcher.generation++;
    const evr = ev as unknown as Record<string, unknown>;
    const agentName = ev.agent?.name;

    let best: CRule | undefined;
    let bestRank = -1;
    let also: string[] | undefined;
    if (idx !== undefined) {
      const errs = this.errs;
      const n = idx.fn(evr, this.matchBuf, errs);
      if (errs.length) {
        const failed = errs.splice(0);
        for (let i = 0; i < failed.length; i += 2) this.ruleFailed(idx.entries[failed[i] as number]!.r, ev, failed[i + 1]);
      }
      for (let i = 0; i < n; i++) {
        const r = idx.entries[this.matchBuf[i]!]!.r;
        r.matchedGen = gen;
        this.ruleCounts[r.idx]!++;
        const rank = agentName !== undefined && r.knownSafe.has(agentName) ? 0 : r.rank;
        if (rank > bestRank) {
          if (best) (also ??= []).push(best.id);
          best = r;
          bestRank = rank;
        } else (also ??= []).push(r.id);
      }
    }
    if (best) {
      this.n.matched++;
      const cur = severityRank(ev.severity ?? 'info');
      if (bestRank >= cur) {
        ev.severity = bestRank === 2 ? 'alert' : bestRank === 1 ? 'warn' : 'info';
        ev.rule = best.id;
        if (best.category) ev.category = best.category;
        if (best.mitre.length) ev.mitre = best.mitre;
        ev.message = best.output(evr);
        if (also) ev.also = also;
      } else {
        ev.also = also ? [best.id, ...also] : [best.id];
      }
      if (ev.severity === 'alert') this.n.alerts++;
      else if (ev.severity === 'warn') this.n.warnings++;
    }

    const session = ev.agent?.session;
    if (session !== undefined && (steps !== undefined || ths !== undefined)) {
      const p = ev.proc;
      const name = p !== undefined && typeof p.exe === 'string' ? basename(p.exe) : undefined;
      if (steps !== undefined) this.runSteps(steps, ev, session, gen, name);
      if (ths !== undefined) this.runThresholds(ths, ev, session, name);
    }
    if (kind === 'agent.exit' && session !== undefined) this.correlator.endSession(session);

    emit(ev);
    if (this.pendingSummaries.length) {
      for (const s of this.pendingSummaries) s.seq = ev.seq;
      this.pendingSummaries.length = 0;
    }
    if (this.derived.length) {
      const d = this.derived.splice(0);
      for (const x of d) emit(x);
    }
  }

  /** -1 unknown, 0/1: whether the event's file.path matches any path pattern of any rule. */
  private pathHit = -1;

  /** One test against every path pattern of the rule set, instead of one per rule. */
  private pathMatches(ev: UnstampedEvent): boolean {
    if (this.pathHit < 0) {
      const f = ev.file;
      this.pathHit = f !== undefined && typeof f.path === 'string' && this.set.pathUnion.test(f.path, (ev.agent as PathContext | undefined) ?? NO_CTX) ? 1 : 0;
    }
    return this.pathHit === 1;
  }

  /** Whether a condition's cheap necessary conditions hold. */
  private gatesPass(v: Variant, ev: UnstampedEvent, name: string | undefined): boolean {
    if (v.nameGate !== undefined && (name === undefined || !v.nameGate.has(name))) return false;
    if (v.pathGate && !this.pathMatches(ev)) return false;
    return true;
  }

  private time(ev: UnstampedEvent): number {
    const t = Date.parse(ev.ts);
    if (Number.isFinite(t)) {
      this.lastT = t;
      return t;
    }
    return this.lastT;
  }

  private runSteps(steps: StepRef[], ev: UnstampedEvent, session: string, gen: number, name: string | undefined): void {
    const evr = ev as unknown as Record<string, unknown>;
    let t = -1;
    for (const { seq, step, v } of steps) {
      if (!seq.enabled) continue;
      // a later step of an ordered sequence cannot advance anything without an open partial
      if (step > 0 && seq.ordered && !this.correlator.hasPartials(seq.idx, session)) continue;
      if (v !== undefined && !this.gatesPass(v, ev, name)) continue;
      const st = seq.steps[step]!;
      let rule: string | undefined;
      if (st.rules.length) {
        for (const ri of st.rules) {
          const r = this.set.rules[ri]!;
          if (r.matchedGen === gen) {
            rule = r.id;
            break;
          }
        }
        if (rule === undefined) continue;
      }
      let keys: readonly string[] = EMPTY_KEY;
      try {
        if (v && v.cond(evr) !== true) continue;
        if (st.key) {
          const k = st.key(evr);
          if (typeof k === 'string') {
            if (k.length === 0) continue;
            keys = [k];
          } else if (Array.isArray(k)) {
            const ks = (k as unknown[]).filter((x): x is string => typeof x === 'string' && x.length > 0).slice(0, 8);
            if (ks.length === 0) continue;
            keys = ks;
          } else continue;
        }
      } catch (err) {
        this.ruleFailed(seq, ev, err);
        continue;
      }
      if (t < 0) t = this.time(ev);
      const fired = this.correlator.step(seq.idx, step, session, keys, t, { ev, rule });
      if (fired) this.fireSequence(seq, ev, fired.hits, fired.key);
    }
  }

  private runThresholds(ths: ThRef[], ev: UnstampedEvent, session: string, name: string | undefined): void {
    const evr = ev as unknown as Record<string, unknown>;
    for (const { t: th, v } of ths) {
      if (!th.enabled) continue;
      if (!this.gatesPass(v, ev, name)) continue;
      let group = '';
      let distinct: string | undefined;
      try {
        if (v.cond(evr) !== true) continue;
        if (th.groupBy) {
          const g = th.groupBy(evr);
          if (g === undefined || g === null) continue;
          group = typeof g === 'string' ? g : JSON.stringify(g);
        }
        if (th.distinct) {
          const d = th.distinct(evr);
          if (d === undefined || d === null) continue;
          distinct = typeof d === 'string' ? d : JSON.stringify(d);
        }
      } catch (err) {
        this.ruleFailed(th, ev, err);
        continue;
      }
      const r = this.correlator.threshold(th.idx, session, group, distinct, this.time(ev), { ev, rule: undefined });
      if (!r) continue;
      const first = r.first ? this.summary('first', r.first, ev) : undefined;
      const hit = this.summary('last', { ev, rule: undefined }, ev);
      this.thCounts[th.idx]!++;
      this.n.thresholds++;
      const sev = this.derivedSeverity(th, ev);
      const out: UnstampedEvent = {
        ts: ev.ts,
        kind: 'alert.threshold',
        severity: sev,
        rule: th.id,
        ...(th.category ? { category: th.category } : {}),
        ...(th.mitre.length ? { mitre: th.mitre } : {}),
        message: th.output(ev as unknown as Record<string, unknown>),
        ...(ev.agent ? { agent: ev.agent } : {}),
        ...(ev.proc ? { proc: ev.proc } : {}),
        data: { count: r.count, window_s: th.windowMs / 1000, group, values: r.values, first, last: hit },
      };
      this.countSeverity(sev);
      this.derived.push(out);
    }
  }

  private derivedSeverity(m: RuleMeta, ev: UnstampedEvent): Severity {
    const name = ev.agent?.name;
    return name !== undefined && m.knownSafe.has(name) ? 'info' : m.severity;
  }

  private countSeverity(s: Severity): void {
    if (s === 'alert') this.n.alerts++;
    else if (s === 'warn') this.n.warnings++;
  }

  /** A step summary; the current event gets its seq once emitted. */
  private summary(step: string, hit: Hit, current: UnstampedEvent): StepSummary {
    const s = summarize(step, hit.ev, hit.rule);
    if (hit.ev === current) this.pendingSummaries.push(s);
    else if (hit.ev.seq !== undefined) s.seq = hit.ev.seq;
    return s;
  }

  private fireSequence(seq: CSequence, ev: UnstampedEvent, hits: Hit[], key: string): void {
    const steps = hits.map((h, i) => this.summary(seq.steps[i]!.name, h, ev));
    this.seqCounts[seq.idx]!++;
    this.n.sequences++;
    const byName = new Map<string, Record<string, unknown>>();
    for (const s of steps) byName.set(s.step, s as Record<string, unknown>);
    const sev = this.derivedSeverity(seq, ev);
    const out: UnstampedEvent = {
      ts: ev.ts,
      kind: 'alert.sequence',
      severity: sev,
      rule: seq.id,
      ...(seq.category ? { category: seq.category } : {}),
      ...(seq.mitre.length ? { mitre: seq.mitre } : {}),
      message: seq.output(ev as unknown as Record<string, unknown>, byName),
      ...(ev.agent ? { agent: ev.agent } : {}),
      ...(ev.proc ? { proc: ev.proc } : {}),
      data: { steps, window_s: seq.windowMs / 1000, ...(key ? { key } : {}) },
    };
    this.countSeverity(sev);
    this.derived.push(out);
  }

  private ruleFailed(r: RuleMeta & { enabled: boolean }, ev: UnstampedEvent, err: unknown): void {
    if (!r.enabled) return;
    r.enabled = false;
    this.n.errors++;
    this.reindex();
    const msg = err instanceof Error ? err.message : String(err);
    this.derived.push({
      ts: ev.ts,
      kind: 'rule.error',
      severity: 'warn',
      rule: r.id,
      message: `${r.type} ${r.id} (${r.source}) failed on a ${ev.kind} event and was disabled: ${msg}`,
      data: { error: msg, event_kind: ev.kind, source: r.source, ...(ev.seq !== undefined ? { event_seq: ev.seq } : {}) },
    });
  }

  stats(): Record<string, number> {
    const out: Record<string, number> = {
      events: this.n.events,
      matched: this.n.matched,
      alerts: this.n.alerts,
      warnings: this.n.warnings,
      errors: this.n.errors,
      sequences_fired: this.n.sequences,
      thresholds_fired: this.n.thresholds,
      rules_enabled: this.set.rules.filter((r) => r.enabled).length,
      rules_disabled: this.set.rules.filter((r) => !r.enabled).length,
      correlation_sessions: this.correlator.sessionCount,
      correlation_partials: this.correlator.openPartials,
      correlation_evicted: this.correlator.evicted,
      correlation_expired: this.correlator.expired,
    };
    for (const r of this.set.rules) if (this.ruleCounts[r.idx]) out[`rule.${r.id}`] = this.ruleCounts[r.idx]!;
    for (const s of this.set.sequences) if (this.seqCounts[s.idx]) out[`rule.${s.id}`] = this.seqCounts[s.idx]!;
    for (const t of this.set.thresholds) if (this.thCounts[t.idx]) out[`rule.${t.id}`] = this.thCounts[t.idx]!;
    return out;
  }

  rules(): RuleInfo[] {
    const all: RuleMeta[] = [...this.set.rules, ...this.set.sequences, ...this.set.thresholds];
    return all.map((r) => ({
      id: r.id,
      type: r.type,
      severity: r.severity,
      ...(r.category ? { category: r.category } : {}),
      mitre: r.mitre,
      kinds: r.kinds,
      enabled: r.enabled,
      source: r.source,
      description: r.description,
      ...(r.action ? { action: r.action } : {}),
      known_safe_for: [...r.knownSafe],
      tags: r.tags,
    }));
  }

  actionFor(id: string): RuleAction | undefined {
    const all: RuleMeta[] = [...this.set.rules, ...this.set.sequences, ...this.set.thresholds];
    return all.find((r) => r.id === id)?.action;
  }

  lineFilter(): LineFilter {
    const per = new Map<string, Map<string, Term> | null>();
    const add = (kind: string, e: LitExpr | null) => {
      const cur = per.get(kind);
      if (cur === null) return;
      const l = evalLits(e, kind);
      if (l === null) {
        per.set(kind, null);
        return;
      }
      const acc = cur ?? new Map<string, Term>();
      for (const t of l.terms) acc.set(JSON.stringify([t.sets.map((x) => [...x].sort()), t.probe ?? '']), t);
      per.set(kind, acc);
    };
    for (const [kind, idx] of this.byKind) for (const e of idx.entries) add(kind, e.v.lits);
    for (const [kind, refs] of this.stepsByKind) for (const { seq, step } of refs) add(kind, stepLits(this.set, seq.steps[step]!, kind));
    for (const [kind, ths] of this.thByKind) for (const { v } of ths) add(kind, v.lits);
    const kinds: LineFilter['kinds'] = new Map();
    for (const [kind, acc] of per) {
      if (acc === null || acc.size > 2000) kinds.set(kind, null);
      else if (acc.size === 0) continue;
      else kinds.set(kind, { terms: [...acc.values()].map((t) => ({ sets: t.sets, ...(t.probe ? { probe: t.probe } : {}) })) });
    }
    return { kinds };
  }
}

const EMPTY_KEY: readonly string[] = [''];
const NO_CTX: PathContext = {};

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}
