// Sigma rules as the specification defines them (https://sigmahq.io/docs/): the document
// (title, id, logsource, detection, level, tags...), the condition grammar (and, or, not,
// parentheses, `1 of X*`, `all of X*`, `them`), and the value matching of field modifiers.
// Shared by the converter (convert.ts, which writes Warden rules) and the reference evaluator
// (evaluate.ts, which the tests hold the converted rules against).
import { parse as parseYaml } from 'yaml';

export interface SigmaRule {
  file: string;
  title: string;
  id?: string;
  status?: string;
  description?: string;
  references: string[];
  author?: string;
  date?: string;
  modified?: string;
  tags: string[];
  logsource: { category?: string; product?: string; service?: string };
  detection: Record<string, unknown>;
  condition: string[];
  falsepositives: string[];
  level?: string;
}

export class SigmaError extends Error {}

/** Parses one Sigma YAML document (a rule); throws SigmaError on a document that is not one. */
export function parseSigma(text: string, file: string): SigmaRule {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new SigmaError(`not YAML: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object') throw new SigmaError('not a Sigma rule (no mapping)');
  const d = doc as Record<string, unknown>;
  if (typeof d['title'] !== 'string') throw new SigmaError('not a Sigma rule (no title)');
  const det = d['detection'];
  if (!det || typeof det !== 'object' || Array.isArray(det)) throw new SigmaError('no detection section');
  const detection = { ...(det as Record<string, unknown>) };
  const cond = detection['condition'];
  delete detection['condition'];
  delete detection['timeframe'];
  const condition = Array.isArray(cond) ? cond.map(String) : typeof cond === 'string' ? [cond] : [];
  if (!condition.length) throw new SigmaError('detection has no condition');
  const ls = (d['logsource'] ?? {}) as Record<string, unknown>;
  const strs = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : []);
  const str = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));
  return {
    file,
    title: d['title'] as string,
    id: str(d['id']),
    status: str(d['status']),
    description: str(d['description'])?.trim(),
    references: strs(d['references']),
    author: str(d['author']),
    date: str(d['date']),
    modified: str(d['modified']),
    tags: strs(d['tags']),
    logsource: { category: str(ls['category']), product: str(ls['product']), service: str(ls['service']) },
    detection,
    condition,
    falsepositives: strs(d['falsepositives']),
    level: str(d['level']),
  };
}

// ---------------------------------------------------------------------------------------
// Conditions

export type Cond =
  | { t: 'id'; name: string }
  | { t: 'not'; a: Cond }
  | { t: 'and' | 'or'; a: Cond; b: Cond }
  | { t: 'of'; quant: 'one' | 'all'; pattern: string };

/** Parses a condition; `| count() ...` aggregations and `near` are refused (SigmaError). */
export function parseCondition(src: string): Cond {
  if (/\|/.test(src)) throw new SigmaError(`aggregation in the condition (${src.trim()}): correlation, not a single-event match`);
  const toks = src.match(/\(|\)|[^\s()]+/g) ?? [];
  let i = 0;
  const peek = () => toks[i]?.toLowerCase();
  const expr = (): Cond => {
    let a = term();
    while (peek() === 'or') {
      i++;
      a = { t: 'or', a, b: term() };
    }
    return a;
  };
  const term = (): Cond => {
    let a = factor();
    while (peek() === 'and') {
      i++;
      a = { t: 'and', a, b: factor() };
    }
    return a;
  };
  const factor = (): Cond => {
    const tok = toks[i];
    if (tok === undefined) throw new SigmaError(`condition ends early: ${src}`);
    const low = tok.toLowerCase();
    if (low === 'not') {
      i++;
      return { t: 'not', a: factor() };
    }
    if (tok === '(') {
      i++;
      const e = expr();
      if (toks[i] !== ')') throw new SigmaError(`missing ) in condition: ${src}`);
      i++;
      return e;
    }
    if (low === '1' || low === 'all' || low === 'any') {
      const next = toks[i + 1]?.toLowerCase();
      if (next === 'of') {
        const pattern = toks[i + 2];
        if (!pattern) throw new SigmaError(`"${tok} of" without a name in condition: ${src}`);
        i += 3;
        return { t: 'of', quant: low === 'all' ? 'all' : 'one', pattern };
      }
    }
    if (/^\d+$/.test(low) && toks[i + 1]?.toLowerCase() === 'of') throw new SigmaError(`"${tok} of" is not in the Sigma specification (only 1 of / all of)`);
    if (['and', 'or', ')'].includes(low)) throw new SigmaError(`unexpected "${tok}" in condition: ${src}`);
    i++;
    return { t: 'id', name: tok };
  };
  const out = expr();
  if (i !== toks.length) throw new SigmaError(`unexpected "${toks[i]}" in condition: ${src}`);
  return out;
}

/** The selection names a `1 of X` / `all of X` pattern stands for (`them`: all but those starting with _). */
export function expandPattern(pattern: string, names: readonly string[]): string[] {
  if (pattern.toLowerCase() === 'them') return names.filter((n) => !n.startsWith('_'));
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  return names.filter((n) => re.test(n));
}

// ---------------------------------------------------------------------------------------
// Field matches

export interface FieldMatch {
  field: string;
  modifiers: string[];
  /** Values, ORed (ANDed with |all); null = field absent or empty. */
  values: Array<string | number | boolean | null>;
}

/** A selection: ORed alternatives, each an AND of field matches. */
export type Selection = FieldMatch[][];

export const KNOWN_MODIFIERS = new Set([
  'contains',
  'startswith',
  'endswith',
  'all',
  're',
  'i',
  'm',
  's',
  'cidr',
  'windash',
  'base64',
  'base64offset',
  'exists',
  'cased',
  'gt',
  'gte',
  'lt',
  'lte',
]);

function fieldMatches(map: Record<string, unknown>): FieldMatch[] {
  return Object.entries(map).map(([key, raw]) => {
    const [field, ...modifiers] = key.split('|');
    const list = Array.isArray(raw) ? raw : [raw];
    const values = list.map((v) => {
      if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
      throw new SigmaError(`field ${key}: value ${JSON.stringify(v)} is neither a string, a number nor null`);
    });
    return { field: field!, modifiers: modifiers.map((m) => m.toLowerCase()), values };
  });
}

/** A detection entry as a selection; keyword lists (no field names) are refused. */
export function selectionOf(name: string, def: unknown): Selection {
  if (def && typeof def === 'object' && !Array.isArray(def)) return [fieldMatches(def as Record<string, unknown>)];
  if (Array.isArray(def) && def.length && def.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
    return def.map((m) => fieldMatches(m as Record<string, unknown>));
  }
  throw new SigmaError(`selection ${name} is a keyword list (full-text search), not field matches`);
}

/** Sigma wildcards (* ?, backslash escapes) of a value to a regex source. */
export function wildcardToRegex(v: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '\\' && i + 1 < v.length && '*?\\'.includes(v[i + 1]!)) {
      out += '\\' + v[++i];
      continue;
    }
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else out += c.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }
  return out;
}

export function hasWildcard(v: string): boolean {
  return /(^|[^\\])[*?]/.test(v);
}

/** The literal text of a value without wildcard escapes (for values without wildcards). */
export function unescape(v: string): string {
  return v.replace(/\\([*?\\])/g, '$1');
}

/** windash: every `-` also as `/` and the dashes Windows parsers accept. */
export function windashVariants(v: string): string[] {
  if (!v.includes('-')) return [v];
  return ['-', '/', '\u2013', '\u2014', '\u2015'].map((d) => v.replace(/-/g, d));
}

/** base64 of a value, and with |base64offset the three shifted encodings (the spec's algorithm). */
export function base64Variants(v: string, offset: boolean): string[] {
  const b = Buffer.from(v, 'utf8');
  if (!offset) return [b.toString('base64')];
  const out: string[] = [];
  const startTrim = [0, 2, 3];
  const endTrim = [0, -3, -2];
  for (let i = 0; i < 3; i++) {
    const enc = Buffer.concat([Buffer.alloc(i), b]).toString('base64');
    const e = endTrim[(b.length + i) % 3]!;
    out.push(enc.slice(startTrim[i], e === 0 ? undefined : e));
  }
  return out;
}

/** The string values a match tests, after windash/base64 expansion. */
export function expandValues(m: FieldMatch): Array<string | number | boolean | null> {
  type V = string | number | boolean | null;
  let vals: V[] = m.values;
  if (m.modifiers.includes('windash')) vals = vals.flatMap((v): V[] => (typeof v === 'string' ? windashVariants(v) : [v]));
  if (m.modifiers.includes('base64') || m.modifiers.includes('base64offset')) {
    const off = m.modifiers.includes('base64offset');
    vals = vals.flatMap((v): V[] => (typeof v === 'string' ? base64Variants(v, off) : [v]));
  }
  return vals;
}
