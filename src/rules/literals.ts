// Literal prefilter expressions. For every condition the compiler derives which substrings
// must occur in the raw JSON line of an event for the condition to possibly be true, as a
// small and/or tree whose leaves are literal sets or tests on the event kind. `warden replay`
// evaluates it per kind and skips parsing lines that contain none of the literals.
//
// Each literal carries an estimated cost (how often it occurs in an ordinary line): for
// `a && b` the cheaper side is kept, since one regex alternative set is all a line filter
// can hold.

export type LitExpr =
  | { t: 'set'; lits: readonly string[]; cost: number }
  | { t: 'kind'; kinds: ReadonlySet<string> }
  | { t: 'probe'; probe: ProbeName; cost: number }
  | { t: 'and'; a: LitExpr; b: LitExpr }
  | { t: 'or'; a: LitExpr; b: LitExpr };

/**
 * Conditions on a raw line that literals cannot express, tested by a small function:
 * `outside_cwd` = the line's file.path is not under its agent.cwd (or either is missing).
 * Negated workspace tests (`!in_workspace`) become this instead of "parse every write".
 */
export type ProbeName = 'outside_cwd';

/**
 * One way a line can qualify: for each of `sets` one of its literals is present, and `probe`
 * (if any) says yes. At most two literal sets are kept per term (the rarest): dropping a
 * necessary condition keeps the filter correct, only less selective.
 */
export interface Term {
  sets: string[][];
  probe?: ProbeName;
  cost: number;
}

/** An evaluated filter: a line may match when one of the terms holds; no terms = never. */
export interface Lits {
  terms: Term[];
  cost: number;
}

/** Cost of each literal as estimated where it was derived (its hint is not in the string). */
const knownCost = new Map<string, number>();

function setCost(set: readonly string[]): number {
  let c = 0;
  for (const l of set) c += knownCost.get(l) ?? literalCost(l);
  return c;
}

function termCost(sets: string[][], probe: ProbeName | undefined, probeCost: number): number {
  let c = sets.length ? Math.min(...sets.map(setCost)) : probe ? probeCost : 1;
  if (sets.length && probe) c *= 0.3;
  if (sets.length > 1) c *= 0.5;
  return c;
}

function merge(a: Term, b: Term): Term {
  const sets = [...a.sets, ...b.sets].sort((x, y) => setCost(x) - setCost(y)).slice(0, 2);
  const probe = a.probe ?? b.probe;
  return { sets, ...(probe ? { probe } : {}), cost: termCost(sets, probe, Math.min(a.cost, b.cost)) };
}

function sumCost(terms: readonly Term[]): number {
  let c = 0;
  for (const t of terms) c += t.cost;
  return c;
}

/** Rough frequency of a literal in an ordinary event line. */
export function literalCost(lit: string, hint: 'enum' | 'path' | 'generic' | 'number' = 'generic'): number {
  if (hint === 'enum') return 0.5; // "read", "tcp": in most lines of their kind
  if (hint === 'number') return 0.05;
  const anchored = /^"[a-z_]+":"(.*)$/.exec(lit);
  if (hint === 'path' && anchored) {
    // "path":"/etc is common, "path":"/etc/cron.d rare
    const comps = anchored[1]!.split('/').filter(Boolean).length;
    return comps <= 1 ? 0.2 : comps === 2 ? 0.01 : 0.001;
  }
  return lit.length >= 8 ? 0.001 : lit.length >= 6 ? 0.003 : lit.length >= 4 ? 0.01 : 0.05;
}

export function litSet(lits: readonly string[], hint: 'enum' | 'path' | 'generic' | 'number' = 'generic'): LitExpr {
  let cost = 0;
  for (const l of lits) {
    const c = literalCost(l, hint);
    knownCost.set(l, Math.max(knownCost.get(l) ?? 0, c));
    cost += c;
  }
  return { t: 'set', lits: [...new Set(lits)], cost };
}

export function litUnion(parts: ReadonlyArray<LitExpr | null>): LitExpr | null {
  let out: LitExpr | null = null;
  for (const p of parts) {
    if (p === null) return null;
    out = out === null ? p : { t: 'or', a: out, b: p };
  }
  return out;
}

export function litAnd(a: LitExpr | null, b: LitExpr | null): LitExpr | null {
  if (a === null) return b;
  if (b === null) return a;
  return { t: 'and', a, b };
}

export function litOr(a: LitExpr | null, b: LitExpr | null): LitExpr | null {
  if (a === null || b === null) return null;
  return { t: 'or', a, b };
}

export const NEVER: LitExpr = { t: 'set', lits: [], cost: 0 };

/** Evaluates for one event kind; null = no literal can be required (parse every line). */
export function evalLits(e: LitExpr | null, kind: string): Lits | null {
  if (e === null) return null;
  switch (e.t) {
    case 'set': {
      if (e.lits.length === 0) return { terms: [], cost: 0 };
      const t: Term = { sets: [[...e.lits]], cost: e.cost };
      return { terms: [t], cost: e.cost };
    }
    case 'probe':
      return { terms: [{ sets: [], probe: e.probe, cost: e.cost }], cost: e.cost };
    case 'kind':
      return e.kinds.has(kind) ? null : { terms: [], cost: 0 };
    case 'and': {
      const a = evalLits(e.a, kind);
      const b = evalLits(e.b, kind);
      if (a === null) return b;
      if (b === null) return a;
      if (a.terms.length === 0 || b.terms.length === 0) return { terms: [], cost: 0 };
      if (a.terms.length * b.terms.length <= 16) {
        const terms: Term[] = [];
        for (const x of a.terms) for (const y of b.terms) terms.push(merge(x, y));
        return { terms, cost: sumCost(terms) };
      }
      return a.cost <= b.cost ? a : b;
    }
    case 'or': {
      const a = evalLits(e.a, kind);
      if (a === null) return null;
      const b = evalLits(e.b, kind);
      if (b === null) return null;
      const terms = [...a.terms, ...b.terms];
      return { terms, cost: a.cost + b.cost };
    }
  }
}

/**
 * The probes, on a raw JSON line s[a, e) as Warden writes it (objects without nested objects
 * for agent and file). True means "may match: parse it"; anything unexpected answers true.
 */
export const PROBES: Record<ProbeName, (s: string, a: number, e: number) => boolean> = {
  outside_cwd(s, a, e) {
    const cwd = valueIn(s, a, e, '"agent":{', '"cwd":"');
    const path = valueIn(s, a, e, '"file":{', '"path":"');
    if (cwd === undefined || path === undefined || cwd === '/' || cwd === '') return true;
    return !(path.length > cwd.length && path.charCodeAt(cwd.length) === 47 && path.startsWith(cwd));
  },
};

/** The string value of `key` inside the (flat) object opened by `open`; undefined when unsure. */
function valueIn(s: string, a: number, e: number, open: string, key: string): string | undefined {
  const o = s.indexOf(open, a);
  if (o < 0 || o >= e) return undefined;
  const close = s.indexOf('}', o);
  if (close < 0 || close > e) return undefined;
  const k = s.indexOf(key, o);
  if (k < 0 || k > close) return undefined;
  const v = k + key.length;
  const end = s.indexOf('"', v);
  if (end < 0 || end > close) return undefined;
  const out = s.slice(v, end);
  return out.includes('\\') ? undefined : out;
}
