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
  | { t: 'and'; a: LitExpr; b: LitExpr }
  | { t: 'or'; a: LitExpr; b: LitExpr };

/** An evaluated literal set; lits [] means "can never be true for this kind". */
export interface Lits {
  lits: string[];
  cost: number;
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
  for (const l of lits) cost += literalCost(l, hint);
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
    case 'set':
      return { lits: [...e.lits], cost: e.cost };
    case 'kind':
      return e.kinds.has(kind) ? null : { lits: [], cost: 0 };
    case 'and': {
      const a = evalLits(e.a, kind);
      const b = evalLits(e.b, kind);
      if (a === null) return b;
      if (b === null) return a;
      if (a.cost !== b.cost) return a.cost < b.cost ? a : b;
      return a.lits.length <= b.lits.length ? a : b;
    }
    case 'or': {
      const a = evalLits(e.a, kind);
      if (a === null) return null;
      const b = evalLits(e.b, kind);
      if (b === null) return null;
      return { lits: [...new Set([...a.lits, ...b.lits])], cost: a.cost + b.cost };
    }
  }
}
