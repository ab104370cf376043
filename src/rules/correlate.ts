// State for sequence rules ("A then B within N s in the same agent session") and threshold
// rules ("N distinct X within W s"). Matching of single events happens in the engine; this
// module keeps the partial matches. All state is bounded: per session and sequence at most
// `maxPartials` open partial matches (least recently used evicted first), at most
// `maxSessions` sessions, and a global cap on partial matches; expired entries are swept.
import type { UnstampedEvent } from '../events/types.js';
import type { CSequence, CThreshold } from './compile.js';

/** A compact copy of the fields of an event that matched a step (goes into data.steps). */
export interface StepSummary {
  step: string;
  seq?: number;
  kind: string;
  ts: string;
  rule?: string;
  proc?: unknown;
  file?: unknown;
  net?: unknown;
  dns?: unknown;
  [k: string]: unknown;
}

export function summarize(step: string, ev: UnstampedEvent, rule: string | undefined): StepSummary {
  const s: StepSummary = { step, ...(ev.seq !== undefined ? { seq: ev.seq } : {}), kind: ev.kind, ts: ev.ts };
  if (rule) s.rule = rule;
  if (ev.proc) s.proc = ev.proc;
  if (ev.file) s.file = ev.file;
  if (ev.net) s.net = ev.net;
  if (ev.dns) s.dns = ev.dns;
  return s;
}

/** A step match, kept by reference; its summary is only built if the sequence completes. */
export interface Hit {
  ev: UnstampedEvent;
  rule: string | undefined;
}

interface Partial {
  mask: number;
  t0: number;
  hits: Array<Hit | undefined>;
}

interface ThresholdState {
  t0: number;
  n: number;
  distinct: Set<string> | undefined;
  firedAt: number;
  first: Hit | undefined;
}

interface SessionState {
  seqs: Map<number, Map<string, Partial>>;
  ths: Map<number, Map<string, ThresholdState>>;
  partials: number;
}

export interface CorrelatorLimits {
  maxSessions: number;
  /** Open partial matches per session and sequence. */
  maxPartials: number;
  /** Open partial matches in total. */
  maxTotal: number;
  /** Threshold groups per session and threshold rule. */
  maxGroups: number;
}

export const DEFAULT_LIMITS: CorrelatorLimits = { maxSessions: 1024, maxPartials: 256, maxTotal: 50_000, maxGroups: 256 };

export interface Fired {
  hits: Hit[];
  key: string;
}

export class Correlator {
  private readonly sessions = new Map<string, SessionState>();
  private total = 0;
  private touches = 0;
  private lastT = 0;
  evicted = 0;
  expired = 0;

  constructor(
    private readonly sequences: readonly CSequence[],
    private readonly thresholds: readonly CThreshold[],
    private readonly limits: CorrelatorLimits = DEFAULT_LIMITS,
  ) {}

  get openPartials(): number {
    return this.total;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  private lastId: string | undefined;
  private lastState: SessionState | undefined;

  /** Whether a session has any open partial match of a sequence (cheap test before a later step). */
  hasPartials(seqIdx: number, session: string): boolean {
    const s = session === this.lastId ? this.lastState : this.sessions.get(session);
    const m = s?.seqs.get(seqIdx);
    return m !== undefined && m.size > 0;
  }

  private session(id: string): SessionState {
    if (id === this.lastId && this.lastState !== undefined && this.sessions.get(id) === this.lastState) return this.lastState;
    let s = this.sessions.get(id);
    this.lastId = id;
    if (s) {
      // keep the map in least-recently-used order
      this.sessions.delete(id);
      this.sessions.set(id, s);
      this.lastState = s;
      return s;
    }
    s = { seqs: new Map(), ths: new Map(), partials: 0 };
    this.sessions.set(id, s);
    while (this.sessions.size > this.limits.maxSessions) this.dropOldestSession();
    this.lastState = s;
    return s;
  }

  private dropOldestSession(): void {
    const first = this.sessions.keys().next();
    if (first.done) return;
    const s = this.sessions.get(first.value)!;
    this.total -= s.partials;
    this.evicted += s.partials;
    this.sessions.delete(first.value);
  }

  /** Forgets a session (its agent exited and nothing more can follow). */
  endSession(id: string): void {
    const s = this.sessions.get(id);
    if (!s) return;
    this.total -= s.partials;
    this.sessions.delete(id);
  }

  private maybeSweep(t: number): void {
    if (t > this.lastT) this.lastT = t;
    if (++this.touches % 8192 !== 0) return;
    for (const [sid, s] of this.sessions) {
      for (const [si, m] of s.seqs) {
        const win = this.sequences[si]!.windowMs;
        for (const [k, p] of m) {
          if (this.lastT - p.t0 > win) {
            m.delete(k);
            s.partials--;
            this.total--;
            this.expired++;
          }
        }
        if (m.size === 0) s.seqs.delete(si);
      }
      for (const [ti, m] of s.ths) {
        const win = this.thresholds[ti]!.windowMs;
        for (const [k, st] of m) if (this.lastT - Math.max(st.t0, st.firedAt) > win) m.delete(k);
        if (m.size === 0) s.ths.delete(ti);
      }
      if (s.seqs.size === 0 && s.ths.size === 0) this.sessions.delete(sid);
    }
  }

  private put(s: SessionState, m: Map<string, Partial>, key: string, p: Partial): void {
    const had = m.has(key);
    if (had) m.delete(key);
    m.set(key, p);
    if (!had) {
      s.partials++;
      this.total++;
      if (m.size > this.limits.maxPartials) {
        const oldest = m.keys().next().value as string;
        m.delete(oldest);
        s.partials--;
        this.total--;
        this.evicted++;
      }
      // global cap: the least recently active other session goes first (this session was
      // just moved to the end of the LRU order, so it is first only when it is alone)
      while (this.total > this.limits.maxTotal) {
        const firstId = this.sessions.keys().next().value as string | undefined;
        if (firstId === undefined) break;
        if (this.sessions.get(firstId) !== s) {
          this.dropOldestSession();
          continue;
        }
        const oldest = m.keys().next().value as string | undefined;
        if (oldest === undefined || oldest === key) break;
        m.delete(oldest);
        s.partials--;
        this.total--;
        this.evicted++;
      }
    }
  }

  private drop(s: SessionState, m: Map<string, Partial>, key: string): void {
    if (m.delete(key)) {
      s.partials--;
      this.total--;
    }
  }

  /**
   * Records that `ev` matched step `stepIdx` of sequence `seqIdx` under each of `keys`.
   * Returns the completed match, if this event completed one.
   */
  step(seqIdx: number, stepIdx: number, session: string, keys: readonly string[], t: number, hit: Hit): Fired | undefined {
    this.maybeSweep(t);
    const seq = this.sequences[seqIdx]!;
    const nSteps = seq.steps.length;
    const full = (1 << nSteps) - 1;
    const bit = 1 << stepIdx;
    const s = this.session(session);
    let m = s.seqs.get(seqIdx);
    if (!m) {
      m = new Map();
      s.seqs.set(seqIdx, m);
    }
    for (const key of keys) {
      const p = m.get(key);
      const live = p !== undefined && t - p.t0 <= seq.windowMs && t >= p.t0 - 1000;
      if (p && !live) {
        this.drop(s, m, key);
        this.expired++;
      }
      if (seq.ordered) {
        if (stepIdx === 0) {
          if (live && p.mask !== 1) continue; // progress beyond step 0 is kept
          this.put(s, m, key, { mask: 1, t0: t, hits: [hit] });
          continue;
        }
        if (!live || p.mask !== bit - 1) continue;
        p.mask |= bit;
        p.hits[stepIdx] = hit;
        if (p.mask === full) {
          this.drop(s, m, key);
          return { hits: p.hits as Hit[], key };
        }
        this.put(s, m, key, p);
      } else {
        if (!live) {
          const hits: Array<Hit | undefined> = new Array(nSteps);
          hits[stepIdx] = hit;
          this.put(s, m, key, { mask: bit, t0: t, hits });
          continue;
        }
        if (p.mask & bit) continue;
        p.mask |= bit;
        p.hits[stepIdx] = hit;
        if (p.mask === full) {
          this.drop(s, m, key);
          return { hits: p.hits as Hit[], key };
        }
        this.put(s, m, key, p);
      }
    }
    return undefined;
  }

  /** Counts a threshold hit; returns the state when the threshold is crossed. */
  threshold(
    thIdx: number,
    session: string,
    group: string,
    distinct: string | undefined,
    t: number,
    hit: Hit,
  ): { count: number; first: Hit | undefined; values: string[] } | undefined {
    this.maybeSweep(t);
    const th = this.thresholds[thIdx]!;
    const s = this.session(session);
    let m = s.ths.get(thIdx);
    if (!m) {
      m = new Map();
      s.ths.set(thIdx, m);
    }
    let st = m.get(group);
    if (st && st.firedAt && t - st.firedAt <= th.windowMs) return undefined; // already reported
    if (!st || t - st.t0 > th.windowMs) {
      st = { t0: t, n: 0, distinct: th.distinct ? new Set() : undefined, firedAt: 0, first: hit };
      if (!m.has(group) && m.size >= this.limits.maxGroups) {
        m.delete(m.keys().next().value as string);
        this.evicted++;
      }
      m.set(group, st);
    }
    if (st.distinct) {
      if (distinct === undefined) return undefined;
      st.distinct.add(distinct);
      st.n = st.distinct.size;
    } else st.n++;
    if (st.n >= th.count) {
      const out = { count: st.n, first: st.first, values: st.distinct ? [...st.distinct].slice(0, 20) : [] };
      st.firedAt = t;
      st.n = 0;
      st.distinct = th.distinct ? new Set() : undefined;
      st.t0 = t;
      return out;
    }
    return undefined;
  }
}
