// Compiles CEL conditions (parsed by @bufbuild/cel) into JavaScript functions.
//
// The library's own evaluator costs ~4 µs per expression here, and a tree of closures is
// megamorphic (every `&&` node calls arbitrary children), so instead each expression becomes
// JavaScript source - field loads with optional chaining, comparisons, calls into a small
// runtime - turned into one function by `new Function` at load. Values from the rule file
// never become code: constants are JSON-quoted or passed in a helper table. Conditions can be
// specialised for one event kind (`kind` folds to a constant), so `kind == "x"` branches of
// multi-kind rules disappear.
//
// The walk also type-checks (a misspelt field is a load error), derives literals for the
// replay prefilter, and gates (proc.name sets, path patterns) the engine tests first.
//
// Semantics differ from the CEL spec in one deliberate way (like Falco): a field the event
// does not carry (or carries as JSON null) is *absent*, and any comparison or function on an
// absent value is false (so `!(file.path == "x")` is true when there is no file); conversions
// of an absent value are absent. Use has() to test presence.
// Real type errors at run time (e.g. int("abc"), data.x + 1 on a string) throw EvalError;
// the engine then disables the rule and reports it.
import { parse } from '@bufbuild/cel';
import { ROOTS, T, typeName, type CelType, type FieldDef, type LitKind } from './fields.js';
import { litAnd, litOr, litSet, litUnion, NEVER, type LitExpr } from './literals.js';
import {
  absPath,
  basename,
  DestMatcher,
  dirname,
  isIpLiteral,
  isLinkLocalIp,
  isLoopbackIp,
  isPrivateIp,
  jsonSafeLiteral,
  parseCidr,
  PathMatcher,
  shannonEntropy,
  type PathContext,
} from './paths.js';

type Expr = ReturnType<typeof parse>['expr'];
type Parsed = ReturnType<typeof parse>;

/** A compiled condition/expression: called with the event. */
export type Fn = (ev: Record<string, unknown>) => unknown;

/** A compile-time error; `offset` is the character offset in the expression. */
export class CelCompileError extends Error {
  constructor(
    message: string,
    readonly offset?: number,
  ) {
    super(message);
    this.name = 'CelCompileError';
  }
}

/** A run-time evaluation error (type mismatch, bad conversion, division by zero). */
export class EvalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvalError';
  }
}

interface FieldInfo {
  lit: LitKind;
  key: string;
}

export interface Gate {
  names?: ReadonlySet<string>;
  path?: boolean;
}

export interface Compiled {
  /** JavaScript expression over `ev` (the event) and `H` (helper table). */
  js: string;
  type: CelType;
  /** The expression always yields true or false (never absent). */
  bool?: boolean;
  /** Compile-time constant value (literals, named lists, folded expressions). */
  isConst?: boolean;
  value?: unknown;
  /** When this node is a field access: how it appears in raw JSON. */
  field?: FieldInfo;
  /** `root.field` (or `kind`) when this node reads an event field directly. */
  fieldPath?: string;
  /** Name of the list when this node is a named list. */
  listName?: string;
  /** For boolean nodes: literals one of which occurs in the raw JSON whenever the node is true; null = unknown. */
  lits: LitExpr | null;
  /** The same for the negation of the node (for `!x`); null = unknown. */
  negLits?: LitExpr | null;
  /**
   * Necessary conditions the engine can test cheaply before evaluating: the node can only be
   * true if proc.name is in `names`, and (path) if file.path matches some path pattern at all.
   */
  gate?: Gate;
}

export type CompiledFn = Compiled & { fn: Fn };

export interface CompileEnv {
  lists: ReadonlyMap<string, readonly unknown[]>;
  /** Macro name → source (compiled on first use, cached per kind). */
  macros: ReadonlyMap<string, string>;
}

export function gateAnd(a: Gate | undefined, b: Gate | undefined): Gate | undefined {
  if (!a) return b;
  if (!b) return a;
  let names = a.names ?? b.names;
  if (a.names && b.names) names = new Set([...a.names].filter((x) => b.names!.has(x)));
  return { names, path: a.path || b.path };
}

function gateOr(a: Gate | undefined, b: Gate | undefined): Gate | undefined {
  if (!a || !b) return undefined;
  const names = a.names && b.names ? new Set([...a.names, ...b.names]) : undefined;
  const path = !!(a.path && b.path);
  return names || path ? { names, path } : undefined;
}

// ---------------------------------------------------------------------------------------
// Run-time helpers called by generated code

function describe(v: unknown): string {
  if (v === undefined) return 'absent';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  return typeof v === 'object' ? 'map' : typeof v;
}

function deepEq(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEq(a[i], b[i])) return false;
    return true;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a as object);
    const kb = Object.keys(b as object);
    if (ka.length !== kb.length) return false;
    for (const k of ka) if (!deepEq((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
    return true;
  }
  return false;
}

function order(x: unknown, y: unknown): boolean {
  if (typeof x !== typeof y || (typeof x !== 'number' && typeof x !== 'string')) throw new EvalError(`cannot order ${describe(x)} and ${describe(y)}`);
  return true;
}

function num(v: unknown, what: string): number {
  if (typeof v !== 'number') throw new EvalError(`${what} on ${describe(v)}`);
  return v;
}

const RE_CACHE_MAX = 256;

/** Compiles an RE2-style pattern (as CEL's matches() takes) to a JS RegExp; a leading (?i), (?s), (?m) becomes a flag. */
export function celRegExp(pattern: string): RegExp {
  const m = /^\(\?([ism]+)\)/.exec(pattern);
  if (!m) return new RegExp(pattern);
  return new RegExp(pattern.slice(m[0].length), [...new Set(m[1]!)].join(''));
}

const dynRegexCache = new Map<string, RegExp>();
const NO_CTX: PathContext = {};
const TOKEN_SPLIT = /[\s|/,;:='"()[\]{}<>&]+/;

/** The runtime every generated function can call (as `R.name`). */
export const R = {
  not(v: unknown): boolean {
    if (v === true) return false;
    if (v === false || v === undefined) return true;
    throw new EvalError(`'!' applied to ${describe(v)}`);
  },
  eq(x: unknown, y: unknown): boolean {
    if (x === undefined || y === undefined) return false;
    return typeof x === 'object' || typeof y === 'object' ? deepEq(x, y) : x === y;
  },
  ne(x: unknown, y: unknown): boolean {
    if (x === undefined || y === undefined) return false;
    return typeof x === 'object' || typeof y === 'object' ? !deepEq(x, y) : x !== y;
  },
  lt: (x: unknown, y: unknown) => x !== undefined && y !== undefined && order(x, y) && (x as number) < (y as number),
  le: (x: unknown, y: unknown) => x !== undefined && y !== undefined && order(x, y) && (x as number) <= (y as number),
  gt: (x: unknown, y: unknown) => x !== undefined && y !== undefined && order(x, y) && (x as number) > (y as number),
  ge: (x: unknown, y: unknown) => x !== undefined && y !== undefined && order(x, y) && (x as number) >= (y as number),
  inDyn(v: unknown, c: unknown): boolean {
    if (v === undefined || c === undefined || c === null) return false;
    if (Array.isArray(c)) return typeof v !== 'object' ? c.includes(v) : c.some((x) => deepEq(x, v));
    if (typeof c === 'object') return Object.prototype.hasOwnProperty.call(c, String(v));
    throw new EvalError(`'in' applied to ${describe(c)}`);
  },
  add(x: unknown, y: unknown): unknown {
    if (x === undefined || y === undefined) return undefined;
    if (typeof x === 'string' && typeof y === 'string') return x + y;
    if (typeof x === 'number' && typeof y === 'number') return x + y;
    if (Array.isArray(x) && Array.isArray(y)) return x.concat(y);
    throw new EvalError(`cannot add ${describe(x)} and ${describe(y)}`);
  },
  sub: (x: unknown, y: unknown) => (x === undefined || y === undefined ? undefined : num(x, 'arithmetic') - num(y, 'arithmetic')),
  mul: (x: unknown, y: unknown) => (x === undefined || y === undefined ? undefined : num(x, 'arithmetic') * num(y, 'arithmetic')),
  div(x: unknown, y: unknown, int: boolean): unknown {
    if (x === undefined || y === undefined) return undefined;
    const a = num(x, 'arithmetic');
    const b = num(y, 'arithmetic');
    if (b === 0) throw new EvalError('division by zero');
    return int ? Math.trunc(a / b) : a / b;
  },
  mod(x: unknown, y: unknown): unknown {
    if (x === undefined || y === undefined) return undefined;
    const b = num(y, 'arithmetic');
    if (b === 0) throw new EvalError('modulus by zero');
    return num(x, 'arithmetic') % b;
  },
  neg: (x: unknown) => (x === undefined ? undefined : -num(x, 'negation')),
  size(v: unknown): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (typeof v === 'object') return Object.keys(v).length;
    throw new EvalError(`size() of ${describe(v)}`);
  },
  index(o: unknown, i: unknown): unknown {
    if (o === undefined || o === null) return undefined;
    if (Array.isArray(o)) {
      if (typeof i !== 'number') throw new EvalError(`list index must be a number, got ${describe(i)}`);
      return i >= 0 && i < o.length ? o[i] : undefined;
    }
    if (typeof o === 'object') return (o as Record<string, unknown>)[String(i)];
    throw new EvalError(`cannot index ${describe(o)}`);
  },
  sel(o: unknown, f: string): unknown {
    return o !== undefined && o !== null && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, unknown>)[f] : undefined;
  },
  has(o: unknown, f: string): boolean {
    // JSON null counts as absent, like a missing key
    if (o === null || typeof o !== 'object') return false;
    const v = (o as Record<string, unknown>)[f];
    return v !== undefined && v !== null;
  },
  iter(r: unknown): unknown[] {
    if (r === undefined || r === null) return [];
    if (Array.isArray(r)) return r;
    if (typeof r === 'object') return Object.keys(r);
    throw new EvalError(`cannot iterate over ${describe(r)}`);
  },
  contains: (v: unknown, w: unknown) => typeof v === 'string' && typeof w === 'string' && v.includes(w),
  startsWith: (v: unknown, w: unknown) => typeof v === 'string' && typeof w === 'string' && v.startsWith(w),
  endsWith: (v: unknown, w: unknown) => typeof v === 'string' && typeof w === 'string' && v.endsWith(w),
  containsAny(v: unknown, items: readonly string[]): boolean {
    if (typeof v !== 'string') return false;
    for (const s of items) if (v.includes(s)) return true;
    return false;
  },
  startsWithAny(v: unknown, items: readonly string[]): boolean {
    if (typeof v !== 'string') return false;
    for (const s of items) if (v.startsWith(s)) return true;
    return false;
  },
  endsWithAny(v: unknown, items: readonly string[]): boolean {
    if (typeof v !== 'string') return false;
    for (const s of items) if (v.endsWith(s)) return true;
    return false;
  },
  hasToken(v: unknown, set: ReadonlySet<string>): boolean {
    if (typeof v !== 'string') return false;
    if (set.has(v)) return true;
    for (const t of v.split(TOKEN_SPLIT)) if (t && set.has(t)) return true;
    return false;
  },
  matches: (re: RegExp, v: unknown) => typeof v === 'string' && re.test(v),
  matchesDyn(v: unknown, p: unknown): boolean {
    if (typeof v !== 'string' || typeof p !== 'string') return false;
    let re = dynRegexCache.get(p);
    if (!re) {
      try {
        re = celRegExp(p);
      } catch (err) {
        throw new EvalError(`invalid regular expression: ${(err as Error).message}`);
      }
      if (dynRegexCache.size >= RE_CACHE_MAX) dynRegexCache.clear();
      dynRegexCache.set(p, re);
    }
    return re.test(v);
  },
  path: (m: PathMatcher, p: unknown, agent: unknown) => typeof p === 'string' && m.test(p, (agent as PathContext | undefined) ?? NO_CTX),
  underDyn(p: unknown, d: unknown, glob: boolean): boolean {
    if (typeof p !== 'string') return false;
    const list = typeof d === 'string' ? [d] : Array.isArray(d) ? d : undefined;
    if (!list) return false;
    for (const x of list) {
      if (typeof x !== 'string' || x.length === 0) continue;
      const base = x.length > 1 && x.endsWith('/') ? x.slice(0, -1) : x;
      if (p === base) return true;
      if (!glob && (base === '/' || (p.startsWith(base) && p.charCodeAt(base.length) === 47))) return true;
    }
    return false;
  },
  dest(m: DestMatcher, n: unknown): boolean {
    if (!n || typeof n !== 'object') return false;
    const o = n as { host?: unknown; dst_ip?: unknown; dst_port?: unknown };
    return m.dest(
      typeof o.host === 'string' ? o.host : undefined,
      typeof o.dst_ip === 'string' ? o.dst_ip : undefined,
      typeof o.dst_port === 'number' ? o.dst_port : undefined,
    );
  },
  nameIn: (m: DestMatcher, v: unknown) => typeof v === 'string' && m.name(v),
  ipIn: (m: DestMatcher, v: unknown) => typeof v === 'string' && m.dest(undefined, v, undefined),
  str1<T>(f: (s: string) => T, name: string, v: unknown): T | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new EvalError(`${name}() on ${describe(v)}`);
    return f(v);
  },
  abspath(base: unknown, p: unknown): string | undefined {
    if (typeof p !== 'string' || p.length === 0) return undefined;
    if (p.startsWith('/')) return absPath('/', p);
    return typeof base === 'string' ? absPath(base, p) : undefined;
  },
  hasBits: (x: unknown, m: unknown) => typeof x === 'number' && typeof m === 'number' && (x & m) !== 0,
  split: (v: unknown, sep: unknown) => (typeof v === 'string' && typeof sep === 'string' ? v.split(sep) : undefined),
  join(v: unknown, sep: unknown): string | undefined {
    if (!Array.isArray(v)) return undefined;
    return v.join(typeof sep === 'string' ? sep : '');
  },
  indexOf: (v: unknown, w: unknown, last: boolean) => (typeof v !== 'string' || typeof w !== 'string' ? undefined : last ? v.lastIndexOf(w) : v.indexOf(w)),
  substring(v: unknown, s: unknown, t: unknown): string | undefined {
    if (typeof v !== 'string') return undefined;
    const end = t === undefined ? v.length : t;
    if (typeof s !== 'number' || typeof end !== 'number' || s < 0 || end > v.length || s > end) throw new EvalError('substring(): index out of range');
    return v.substring(s, end);
  },
  replace: (v: unknown, x: unknown, y: unknown) => (typeof v !== 'string' || typeof x !== 'string' || typeof y !== 'string' ? undefined : v.split(x).join(y)),
  toNum(v: unknown, name: string): number | undefined {
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    if (!Number.isFinite(n)) throw new EvalError(`${name}(${JSON.stringify(v)}): not a number`);
    if (name === 'double') return n;
    const t = Math.trunc(n);
    if (name === 'uint' && t < 0) throw new EvalError(`uint(${n}): negative`);
    return t;
  },
  toStr(v: unknown): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw new EvalError(`string() of ${describe(v)}`);
  },
  isLoopback: isLoopbackIp,
  isPrivate: isPrivateIp,
  isLinkLocal: isLinkLocalIp,
  isIp: isIpLiteral,
  entropy: shannonEntropy,
  basename,
  dirname,
  lower: (s: string) => s.toLowerCase(),
  upper: (s: string) => s.toUpperCase(),
  trim: (s: string) => s.trim(),
};

// ---------------------------------------------------------------------------------------
// Literals for the replay prefilter

/** Fields whose values are a small vocabulary: their literals are in most lines of a kind. */
const LOW_CARDINALITY = new Set(['op', 'proto', 'family', 'qtype', 'rcode', 'flags', 'kind', 'name', 'severity']);

function litsForEq(f: FieldInfo | undefined, v: unknown): LitExpr | null {
  if (!f) return null;
  if (typeof v === 'number' && f.lit === 'number' && Number.isFinite(v)) return litSet([`"${f.key}":${v}`], 'number');
  if (typeof v !== 'string') return null;
  switch (f.lit) {
    case 'string':
    case 'strlist':
      if (!jsonSafeLiteral(v)) return null;
      return litSet([JSON.stringify(v)], LOW_CARDINALITY.has(f.key) ? 'enum' : 'generic');
    case 'basename':
      return v.length > 0 && jsonSafeLiteral(v) && !v.includes('/') ? litSet([`/${v}"`, `"${v}"`]) : null;
    case 'dirname':
      return jsonSafeLiteral(v) ? litSet([`"${v}/`]) : null;
    case 'joined':
      return litsForContains(f, v);
    default:
      return null;
  }
}

function litsForContains(f: FieldInfo | undefined, v: unknown): LitExpr | null {
  if (!f || typeof v !== 'string') return null;
  if (f.lit !== 'string' && f.lit !== 'strlist' && f.lit !== 'joined' && f.lit !== 'basename' && f.lit !== 'dirname') return null;
  // a joined field (cmdline) may span several JSON strings: use the longest space-free piece
  const pieces = f.lit === 'joined' ? v.split(' ') : [v];
  let best = '';
  for (const p of pieces) if (p.length > best.length) best = p;
  if (best.length < 2 || !jsonSafeLiteral(best)) return null;
  return litSet([best]);
}

function litsForPrefix(f: FieldInfo | undefined, v: unknown): LitExpr | null {
  if (!f || typeof v !== 'string') return null;
  if (f.lit === 'string' || f.lit === 'strlist') {
    if (!jsonSafeLiteral(v) || v.length === 0) return null;
    if (f.lit === 'string' && v.startsWith('/')) return litSet([`"${f.key}":"${v}`], 'path');
    return litSet(['"' + v]);
  }
  return litsForContains(f, v);
}

function litsForSuffix(f: FieldInfo | undefined, v: unknown): LitExpr | null {
  if (!f || typeof v !== 'string') return null;
  if (f.lit === 'string' || f.lit === 'strlist' || f.lit === 'basename') return jsonSafeLiteral(v) && v.length > 0 ? litSet([v + '"']) : null;
  return litsForContains(f, v);
}

function litsForEach(list: readonly unknown[], one: (v: unknown) => LitExpr | null): LitExpr | null {
  if (list.length === 0) return NEVER;
  return litUnion(list.map(one));
}

// ---------------------------------------------------------------------------------------
// The compiler

function isStr(v: unknown): v is string {
  return typeof v === 'string';
}

function typeOfValue(v: unknown): CelType {
  if (typeof v === 'string') return T.string;
  if (typeof v === 'boolean') return T.bool;
  if (typeof v === 'number') return Number.isInteger(v) ? T.int : T.double;
  if (v === null) return T.null;
  if (Array.isArray(v)) {
    const elems = v.map(typeOfValue);
    const first = elems[0];
    const same = first && elems.every((e) => e.k === first.k && (e.k === 'string' || e.k === 'int' || e.k === 'bool'));
    return T.list(same ? first! : T.dyn);
  }
  return T.dyn;
}

function isNum(t: CelType): boolean {
  return t.k === 'int' || t.k === 'double';
}

function comparable(a: CelType, b: CelType): boolean {
  if (a.k === 'dyn' || b.k === 'dyn' || a.k === 'null' || b.k === 'null') return true;
  if (isNum(a) && isNum(b)) return true;
  if (a.k === 'list' && b.k === 'list') return comparable(a.elem, b.elem);
  if (a.k === 'map' && b.k === 'map') return true;
  return a.k === b.k;
}

function isPrim(v: unknown): boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

/** One Compiler per rule set: it shares helpers, matchers and compiled macros between rules. */
export class Compiler {
  /** Values generated code refers to as H[i] (sets, regexes, matchers, virtual fields). */
  private readonly helpers: unknown[] = [];
  private readonly helperIndex = new Map<unknown, number>();
  private readonly macroCache = new Map<string, Compiled>();
  private readonly virtuals = new Map<FieldDef, string>();
  private readonly macroStack: string[] = [];
  private readonly pathMatchers = new Map<string, PathMatcher>();
  private readonly destMatchers = new Map<string, DestMatcher>();
  private scope: Array<{ name: string; js: string; type: CelType; field?: FieldInfo }> = [];
  private varCounter = 0;
  private positions: Record<string, number> = {};
  private macroCalls: Record<string, Expr> = {};
  /** The event kind conditions are being specialised for (undefined: any). */
  private kind: string | undefined;

  /** Parsed sources (the tree is only read by compile). */
  private readonly parsed = new Map<string, Parsed>();

  constructor(private readonly env: CompileEnv) {}

  /** Compiles a condition that must be boolean, optionally specialised for one event kind. */
  condition(src: string, kind?: string): CompiledFn {
    const c = this.expression(src, kind);
    if (c.type.k !== 'bool' && c.type.k !== 'dyn') throw new CelCompileError(`condition must be a boolean expression, got ${typeName(c.type)}`, 0);
    return c;
  }

  /** Compiles any expression to a function of the event. */
  expression(src: string, kind?: string): CompiledFn {
    const savedKind = this.kind;
    this.kind = kind;
    try {
      const c = this.parseAndCompile(src);
      return { ...c, fn: this.toFn(c) };
    } finally {
      this.kind = savedKind;
    }
  }

  /** The helper table generated code refers to as H (shared by every function of this compiler). */
  helperTable(): unknown[] {
    return this.helpers;
  }

  /** The code of a compiled condition as a boolean JS expression over `ev`. */
  boolJs(c: Compiled): string {
    if (c.isConst) return c.value === true ? 'true' : 'false';
    return c.bool ? c.js : `((${c.js}) === true)`;
  }

  /** Builds the function for compiled code (used for AND-ed condition parts too). */
  toFn(c: Compiled): Fn {
    if (c.isConst) {
      const v = c.value;
      return () => v;
    }
    const body = `"use strict"; return function rule(ev) { return ${c.js}; };`;
    return new Function('H', 'R', body)(this.helpers, R) as Fn;
  }

  /** AND of several compiled conditions (rule condition parts). */
  and(parts: Compiled[]): Compiled {
    let acc = parts[0]!;
    for (const p of parts.slice(1)) acc = this.andOf(acc, p);
    return acc;
  }

  /** Every path pattern used with under()/glob() on constant lists (for the engine's path gate). */
  allPathPatterns(): string[] {
    const out = new Set<string>();
    for (const m of this.pathMatchers.values()) for (const p of m.patterns) out.add(p);
    return [...out];
  }

  /** The `under` matchers created so far (to be indexed together once compilation is done). */
  underMatchers(): PathMatcher[] {
    return [...this.pathMatchers.values()].filter((m) => m.mode === 'under');
  }

  pathMatcher(patterns: readonly string[], mode: 'under' | 'glob'): PathMatcher {
    const key = mode + '\0' + patterns.join('\0');
    let m = this.pathMatchers.get(key);
    if (!m) {
      m = new PathMatcher(patterns, mode);
      this.pathMatchers.set(key, m);
    }
    return m;
  }

  private parseAndCompile(src: string): Compiled {
    // one condition is compiled for every event kind it can match (and macros for every
    // condition that uses them): the parse, most of a rule set's start-up, is done once
    let parsed = this.parsed.get(src);
    if (!parsed) {
      try {
        parsed = parse(src);
      } catch (err) {
        const e = err as { location?: { start?: { offset?: number } }; rawMessage?: string; message: string };
        throw new CelCompileError(`syntax error: ${e.rawMessage ?? e.message}`, e.location?.start?.offset);
      }
      this.parsed.set(src, parsed);
    }
    const savedPos = this.positions;
    const savedMacros = this.macroCalls;
    this.positions = (parsed.sourceInfo?.positions as Record<string, number>) ?? {};
    this.macroCalls = (parsed.sourceInfo?.macroCalls as Record<string, Expr>) ?? {};
    try {
      return this.compile(parsed.expr);
    } finally {
      this.positions = savedPos;
      this.macroCalls = savedMacros;
    }
  }

  private h(value: unknown): string {
    let i = this.helperIndex.get(value);
    if (i === undefined) {
      i = this.helpers.length;
      this.helpers.push(value);
      this.helperIndex.set(value, i);
    }
    return `H[${i}]`;
  }

  private destMatcher(entries: readonly string[], what: string, at: Expr): DestMatcher {
    const key = entries.join('\0');
    let m = this.destMatchers.get(key);
    if (!m) {
      m = new DestMatcher(entries);
      if (m.invalid.length) throw this.err(at, `${what}: invalid destination ${JSON.stringify(m.invalid[0])} (expected host, *.domain, IP or CIDR, optionally :port)`);
      this.destMatchers.set(key, m);
    }
    return m;
  }

  private err(e: Expr | undefined, msg: string): CelCompileError {
    const off = e ? this.positions[String(e.id)] : undefined;
    return new CelCompileError(msg, off);
  }

  private constOf(value: unknown, type: CelType): Compiled {
    let js: string;
    if (value === null) js = 'null';
    else if (typeof value === 'string') js = JSON.stringify(value);
    else if (typeof value === 'number') js = Object.is(value, -0) ? '-0' : String(value);
    else if (typeof value === 'boolean') js = String(value);
    else js = this.h(value);
    return {
      js,
      type,
      isConst: true,
      value,
      bool: typeof value === 'boolean',
      lits: value === false ? NEVER : null,
      negLits: value === true ? NEVER : null,
    };
  }

  private compile(e: Expr): Compiled {
    const k = e.exprKind;
    switch (k.case) {
      case 'constExpr':
        return this.constant(e);
      case 'identExpr':
        return this.ident(e, k.value.name);
      case 'selectExpr':
        return this.select(e, k.value.operand!, k.value.field, k.value.testOnly);
      case 'callExpr':
        return this.call(e, k.value.function, k.value.target, k.value.args);
      case 'listExpr': {
        const elems = k.value.elements.map((x) => this.compile(x));
        if (elems.every((x) => x.isConst)) {
          const v = elems.map((x) => x.value);
          return this.constOf(v, typeOfValue(v));
        }
        return { js: `[${elems.map((x) => x.js).join(', ')}]`, type: T.list(T.dyn), lits: null };
      }
      case 'structExpr': {
        if (k.value.messageName) throw this.err(e, `message construction (${k.value.messageName}) is not supported`);
        const entries = k.value.entries.map((en) => {
          if (en.keyKind.case !== 'mapKey') throw this.err(e, 'unsupported map entry');
          return { key: this.compile(en.keyKind.value), value: this.compile(en.value!) };
        });
        if (entries.every((x) => x.key.isConst && x.value.isConst)) {
          const o: Record<string, unknown> = {};
          for (const x of entries) o[String(x.key.value)] = x.value.value;
          return this.constOf(o, T.map(T.dyn));
        }
        return {
          js: `Object.fromEntries([${entries.map((x) => `[String(${x.key.js}), ${x.value.js}]`).join(', ')}])`,
          type: T.map(T.dyn),
          lits: null,
        };
      }
      case 'comprehensionExpr':
        return this.comprehension(e);
      default:
        throw this.err(e, `unsupported expression (${String(k.case)})`);
    }
  }

  private constant(e: Expr): Compiled {
    const k = e.exprKind;
    if (k.case !== 'constExpr') throw this.err(e, 'internal: not a constant');
    const ck = k.value.constantKind;
    switch (ck.case) {
      case 'stringValue':
        return this.constOf(ck.value, T.string);
      case 'boolValue':
        return this.constOf(ck.value, T.bool);
      case 'int64Value':
      case 'uint64Value': {
        const n = Number(ck.value);
        if (!Number.isSafeInteger(n)) throw this.err(e, `integer ${String(ck.value)} is too large`);
        return this.constOf(n, T.int);
      }
      case 'doubleValue':
        return this.constOf(ck.value, T.double);
      case 'nullValue':
        return this.constOf(null, T.null);
      default:
        throw this.err(e, `unsupported constant (${String(ck.case)})`);
    }
  }

  private ident(e: Expr, name: string): Compiled {
    for (let i = this.scope.length - 1; i >= 0; i--) {
      const s = this.scope[i]!;
      if (s.name === name) return { js: s.js, type: s.type, lits: null, field: s.field };
    }
    const root = ROOTS[name];
    if (root) {
      if (name === 'kind' && this.kind !== undefined) return { ...this.constOf(this.kind, T.string), fieldPath: 'kind' };
      const field = root.lit !== 'none' ? { lit: root.lit, key: name } : undefined;
      return { js: `ev.${name}`, type: root.type, lits: null, field, fieldPath: name };
    }
    const macro = this.env.macros.get(name);
    if (macro !== undefined) return this.macro(e, name, macro);
    const list = this.env.lists.get(name);
    if (list) return { ...this.constOf(list, typeOfValue(list)), listName: name };
    throw this.err(e, `unknown identifier '${name}' (not an event field, macro or list)`);
  }

  private macro(e: Expr, name: string, src: string): Compiled {
    const key = `${this.kind ?? '*'}\0${name}`;
    const cached = this.macroCache.get(key);
    if (cached) return cached;
    if (this.macroStack.includes(name)) throw this.err(e, `macro cycle: ${[...this.macroStack, name].join(' -> ')}`);
    this.macroStack.push(name);
    // macros are compiled at top level: they cannot see comprehension variables
    const savedScope = this.scope;
    this.scope = [];
    try {
      const c = this.parseAndCompile(src);
      this.macroCache.set(key, c);
      return c;
    } catch (err) {
      if (err instanceof CelCompileError && !err.message.startsWith('in macro ')) throw this.err(e, `in macro ${name}: ${err.message}`);
      throw err;
    } finally {
      this.scope = savedScope;
      this.macroStack.pop();
    }
  }

  private select(e: Expr, operandE: Expr, fieldName: string, testOnly: boolean): Compiled {
    const operand = this.compile(operandE);
    const t = operand.type;
    let def: FieldDef | undefined;
    if (t.k === 'struct') {
      def = t.fields[fieldName];
      if (!def) throw this.err(e, `unknown field ${t.name}.${fieldName} (fields: ${Object.keys(t.fields).join(', ')})`);
    } else if (t.k !== 'map' && t.k !== 'dyn') {
      throw this.err(e, `cannot select field '${fieldName}' on ${typeName(t)}`);
    }
    const fieldPath = operand.fieldPath && ROOTS[operand.fieldPath] ? `${operand.fieldPath}.${fieldName}` : undefined;
    const key = JSON.stringify(fieldName);
    if (testOnly) {
      if (def?.virtual) return { js: `(${this.h(def.virtual)}(${operand.js} ?? {}) !== undefined)`, type: T.bool, bool: true, lits: null };
      const probe: LitExpr | null = operand.fieldPath === 'agent' && fieldName === 'cwd' ? { t: 'probe', probe: 'outside_cwd', cost: 0.1 } : null;
      return { js: `R.has(${operand.js}, ${key})`, type: T.bool, bool: true, lits: null, negLits: probe };
    }
    const type = def ? def.type : t.k === 'map' ? t.value : T.dyn;
    const field: FieldInfo | undefined = def && def.lit !== 'none' ? { lit: def.lit, key: fieldName } : undefined;
    if (def?.virtual) {
      let v = this.virtuals.get(def);
      if (!v) {
        const virt = def.virtual;
        v = this.h((o: unknown) => (o !== null && typeof o === 'object' ? virt(o as Record<string, unknown>) : undefined));
        this.virtuals.set(def, v);
      }
      return { js: `${v}(${operand.js})`, type, field, fieldPath, lits: null };
    }
    // events are validated: known structs are objects when present
    if (t.k === 'struct') return { js: `${operand.js}?.[${key}]`, type, field, fieldPath, lits: null };
    return { js: `R.sel(${operand.js}, ${key})`, type, field, fieldPath, lits: null };
  }

  private comprehension(e: Expr): Compiled {
    const k = e.exprKind;
    if (k.case !== 'comprehensionExpr') throw this.err(e, 'internal');
    // The parser expands exists/all/exists_one/filter/map into comprehensions and records the
    // original call; the predicate and transform are read back from the expanded loop step.
    const call = this.macroCalls[String(e.id)];
    const ck = call?.exprKind;
    if (!call || ck?.case !== 'callExpr') throw this.err(e, 'unsupported comprehension (use exists, all, exists_one, filter or map)');
    const fname = ck.value.function;
    const comp = k.value;
    if (comp.iterVar2) throw this.err(e, 'two-variable comprehensions are not supported');
    const varName = comp.iterVar;
    const rangeE = comp.iterRange!;
    const step = comp.loopStep!.exprKind;
    const stepArgs = step.case === 'callExpr' ? step.value.args : [];
    const appended = (x: Expr | undefined): Expr | undefined => {
      // `@result + [t]` → t
      const xk = x?.exprKind;
      if (xk?.case !== 'callExpr' || xk.value.function !== '_+_') return undefined;
      const lst = xk.value.args[1]?.exprKind;
      return lst?.case === 'listExpr' ? lst.value.elements[0] : undefined;
    };
    let bodyEs: Expr[];
    switch (fname) {
      case 'exists':
      case 'all':
        bodyEs = [stepArgs[1]!];
        break;
      case 'exists_one':
      case 'filter':
        bodyEs = [stepArgs[0]!];
        break;
      case 'map':
        bodyEs = step.case === 'callExpr' && step.value.function === '_?_:_' ? [stepArgs[0]!, appended(stepArgs[1])!] : [appended(comp.loopStep)!];
        break;
      default:
        throw this.err(e, `unsupported macro ${fname}()`);
    }
    if (bodyEs.some((x) => x === undefined)) throw this.err(e, `malformed ${fname}()`);
    const range = this.compile(rangeE);
    if (range.type.k !== 'list' && range.type.k !== 'map' && range.type.k !== 'dyn') throw this.err(rangeE, `cannot iterate over ${typeName(range.type)}`);
    const elemType = range.type.k === 'list' ? range.type.elem : range.type.k === 'map' ? T.string : T.dyn;
    const v = `v${++this.varCounter}`;
    const elemField: FieldInfo | undefined = range.field && (range.field.lit === 'strlist' || range.field.lit === 'string') ? { lit: 'string', key: varName } : undefined;
    const withVar = <R>(fn: () => R, field?: FieldInfo): R => {
      this.scope.push({ name: varName, js: v, type: elemType, field });
      try {
        return fn();
      } finally {
        this.scope.pop();
      }
    };
    const body = bodyEs.map((b) => withVar(() => this.compile(b)));
    const r = `R.iter(${range.js})`;
    const pred = (b: Compiled) => `(${v}) => ${b.bool ? b.js : `(${b.js}) === true`}`;
    switch (fname) {
      case 'exists': {
        // literals of the predicate carry over when the list holds JSON strings
        const lits = elemField ? withVar(() => this.compile(bodyEs[0]!).lits, elemField) : null;
        return { js: `${r}.some(${pred(body[0]!)})`, type: T.bool, bool: true, lits };
      }
      case 'all':
        return { js: `${r}.every(${pred(body[0]!)})`, type: T.bool, bool: true, lits: null };
      case 'exists_one':
        return { js: `(${r}.filter(${pred(body[0]!)}).length === 1)`, type: T.bool, bool: true, lits: null };
      case 'filter':
        return { js: `${r}.filter(${pred(body[0]!)})`, type: range.type.k === 'list' ? range.type : T.list(elemType), lits: null };
      case 'map': {
        if (body.length === 1) return { js: `${r}.map((${v}) => ${body[0]!.js})`, type: T.list(body[0]!.type), lits: null };
        return { js: `${r}.filter(${pred(body[0]!)}).map((${v}) => ${body[1]!.js})`, type: T.list(body[1]!.type), lits: null };
      }
      default:
        throw this.err(e, `unsupported macro ${fname}()`);
    }
  }

  private call(e: Expr, fname: string, target: Expr | undefined, argEs: Expr[]): Compiled {
    switch (fname) {
      case '_&&_':
        return this.andOf(this.compile(argEs[0]!), this.compile(argEs[1]!), argEs[0]);
      case '_||_':
        return this.orOf(this.compile(argEs[0]!), this.compile(argEs[1]!), argEs[0]);
      case '!_': {
        const a = this.compile(argEs[0]!);
        if (a.type.k !== 'bool' && a.type.k !== 'dyn') throw this.err(e, `'!' needs a boolean, got ${typeName(a.type)}`);
        if (a.isConst && typeof a.value === 'boolean') return this.constOf(!a.value, T.bool);
        return { js: a.bool ? `!(${a.js})` : `R.not(${a.js})`, type: T.bool, bool: true, lits: a.negLits ?? null, negLits: a.lits };
      }
      case '_?_:_': {
        const [cnd, a, b] = argEs.map((x) => this.compile(x)) as [Compiled, Compiled, Compiled];
        if (cnd.isConst && typeof cnd.value === 'boolean') return cnd.value ? a : b;
        const type = a.type.k === b.type.k ? a.type : T.dyn;
        return {
          js: `((${cnd.js}) === true ? ${a.js} : ${b.js})`,
          type,
          bool: a.bool && b.bool,
          lits: litOr(litAnd(cnd.lits, a.lits), b.lits),
        };
      }
      case '_==_':
      case '_!=_':
        return this.equality(e, fname === '_==_', argEs);
      case '_<_':
      case '_<=_':
      case '_>_':
      case '_>=_':
        return this.relation(e, fname, argEs);
      case '@in':
        return this.inOp(e, argEs);
      case '_+_':
      case '_-_':
      case '_*_':
      case '_/_':
      case '_%_':
        return this.arith(e, fname, argEs);
      case '-_': {
        const a = this.compile(argEs[0]!);
        if (a.isConst && typeof a.value === 'number') return this.constOf(-a.value, a.type);
        return { js: `R.neg(${a.js})`, type: a.type, lits: null };
      }
      case '_[_]':
        return this.index(e, argEs);
    }
    const args = (target ? [target, ...argEs] : argEs).map((x) => this.compile(x));
    return this.func(e, fname, args);
  }

  private andOf(a: Compiled, b: Compiled, at?: Expr): Compiled {
    for (const p of [a, b]) if (p.type.k !== 'bool' && p.type.k !== 'dyn') throw this.err(at, `'&&' needs booleans, got ${typeName(p.type)}`);
    if (a.isConst && a.value === false) return a;
    if (b.isConst && b.value === false) return b;
    if (a.isConst && a.value === true) return b;
    if (b.isConst && b.value === true) return a;
    const aj = a.bool ? a.js : `(${a.js}) === true`;
    const bj = b.bool ? b.js : `(${b.js}) === true`;
    return { js: `(${aj} && ${bj})`, type: T.bool, bool: true, lits: litAnd(a.lits, b.lits), negLits: litOr(a.negLits ?? null, b.negLits ?? null), gate: gateAnd(a.gate, b.gate) };
  }

  private orOf(a: Compiled, b: Compiled, at?: Expr): Compiled {
    for (const p of [a, b]) if (p.type.k !== 'bool' && p.type.k !== 'dyn') throw this.err(at, `'||' needs booleans, got ${typeName(p.type)}`);
    if (a.isConst && a.value === true) return a;
    if (b.isConst && b.value === true) return b;
    if (a.isConst && a.value === false) return b;
    if (b.isConst && b.value === false) return a;
    const aj = a.bool ? a.js : `(${a.js}) === true`;
    const bj = b.bool ? b.js : `(${b.js}) === true`;
    return { js: `(${aj} || ${bj})`, type: T.bool, bool: true, lits: litOr(a.lits, b.lits), negLits: litAnd(a.negLits ?? null, b.negLits ?? null), gate: gateOr(a.gate, b.gate) };
  }

  private equality(e: Expr, eq: boolean, argEs: Expr[]): Compiled {
    let [a, b] = argEs.map((x) => this.compile(x)) as [Compiled, Compiled];
    if (!comparable(a.type, b.type)) throw this.err(e, `cannot compare ${typeName(a.type)} with ${typeName(b.type)}`);
    if (a.isConst && b.isConst) return this.constOf(eq ? a.value === b.value || (!isPrim(a.value) && JSON.stringify(a.value) === JSON.stringify(b.value)) : a.value !== b.value, T.bool);
    if (a.isConst && !b.isConst) [a, b] = [b, a];
    const lits = eq && b.isConst ? litsForEq(a.field, b.value) : null;
    const negLits = !eq && b.isConst ? litsForEq(a.field, b.value) : null;
    if (b.isConst && isPrim(b.value)) {
      const gate = eq && a.fieldPath === 'proc.name' && typeof b.value === 'string' ? { names: new Set([b.value]) } : undefined;
      return {
        js: eq ? `(${a.js} === ${b.js})` : `R.ne(${a.js}, ${b.js})`,
        type: T.bool,
        bool: true,
        lits,
        negLits,
        gate,
      };
    }
    return { js: `R.${eq ? 'eq' : 'ne'}(${a.js}, ${b.js})`, type: T.bool, bool: true, lits };
  }

  private relation(e: Expr, fname: string, argEs: Expr[]): Compiled {
    const [a, b] = argEs.map((x) => this.compile(x)) as [Compiled, Compiled];
    const okT = (t: CelType) => isNum(t) || t.k === 'string' || t.k === 'dyn';
    if (!okT(a.type) || !okT(b.type) || !comparable(a.type, b.type)) throw this.err(e, `cannot order ${typeName(a.type)} and ${typeName(b.type)}`);
    const op = fname === '_<_' ? 'lt' : fname === '_<=_' ? 'le' : fname === '_>_' ? 'gt' : 'ge';
    return { js: `R.${op}(${a.js}, ${b.js})`, type: T.bool, bool: true, lits: null };
  }

  private inOp(e: Expr, argEs: Expr[]): Compiled {
    const [a, b] = argEs.map((x) => this.compile(x)) as [Compiled, Compiled];
    if (b.type.k !== 'list' && b.type.k !== 'map' && b.type.k !== 'dyn') throw this.err(e, `'in' needs a list or map on the right, got ${typeName(b.type)}`);
    if (b.type.k === 'list' && !comparable(a.type, b.type.elem)) throw this.err(e, `cannot look up ${typeName(a.type)} in ${typeName(b.type)}`);
    if (b.isConst && Array.isArray(b.value)) {
      const arr = b.value as unknown[];
      if (a.isConst) return this.constOf(arr.includes(a.value), T.bool);
      const set = new Set(arr);
      const gate = a.fieldPath === 'proc.name' && arr.every(isStr) ? { names: new Set(arr as string[]) } : undefined;
      return { js: `${this.h(set)}.has(${a.js})`, type: T.bool, bool: true, lits: litsForEach(arr, (v) => litsForEq(a.field, v)), gate };
    }
    return { js: `R.inDyn(${a.js}, ${b.js})`, type: T.bool, bool: true, lits: null };
  }

  private arith(e: Expr, fname: string, argEs: Expr[]): Compiled {
    const [a, b] = argEs.map((x) => this.compile(x)) as [Compiled, Compiled];
    if (fname === '_+_') {
      let type: CelType = T.dyn;
      if (a.type.k === 'string' && b.type.k === 'string') type = T.string;
      else if (isNum(a.type) && isNum(b.type)) type = a.type.k === 'double' || b.type.k === 'double' ? T.double : T.int;
      else if (a.type.k === 'list' && b.type.k === 'list') type = a.type;
      else if (a.type.k !== 'dyn' && b.type.k !== 'dyn') throw this.err(e, `cannot add ${typeName(a.type)} and ${typeName(b.type)}`);
      if (a.isConst && b.isConst && typeof a.value === typeof b.value && (typeof a.value === 'string' || typeof a.value === 'number')) {
        return this.constOf((a.value as number) + (b.value as number), type);
      }
      return { js: `R.add(${a.js}, ${b.js})`, type, lits: null };
    }
    if ((!isNum(a.type) && a.type.k !== 'dyn') || (!isNum(b.type) && b.type.k !== 'dyn')) {
      throw this.err(e, `arithmetic needs numbers, got ${typeName(a.type)} and ${typeName(b.type)}`);
    }
    const type = a.type.k === 'double' || b.type.k === 'double' ? T.double : a.type.k === 'dyn' || b.type.k === 'dyn' ? T.dyn : T.int;
    const js =
      fname === '_-_'
        ? `R.sub(${a.js}, ${b.js})`
        : fname === '_*_'
          ? `R.mul(${a.js}, ${b.js})`
          : fname === '_/_'
            ? `R.div(${a.js}, ${b.js}, ${a.type.k === 'int' && b.type.k === 'int'})`
            : `R.mod(${a.js}, ${b.js})`;
    return { js, type, lits: null };
  }

  private index(e: Expr, argEs: Expr[]): Compiled {
    const [a, b] = argEs.map((x) => this.compile(x)) as [Compiled, Compiled];
    const t = a.type;
    let type: CelType = T.dyn;
    if (t.k === 'list') {
      if (!isNum(b.type) && b.type.k !== 'dyn') throw this.err(e, `list index must be an int, got ${typeName(b.type)}`);
      type = t.elem;
    } else if (t.k === 'map') type = t.value;
    else if (t.k === 'struct') throw this.err(e, `use ${t.name}.field instead of indexing`);
    else if (t.k !== 'dyn') throw this.err(e, `cannot index ${typeName(t)}`);
    const field = t.k === 'list' && a.field?.lit === 'strlist' ? { lit: 'string' as LitKind, key: a.field.key } : undefined;
    return { js: `R.index(${a.js}, ${b.js})`, type, field, lits: null };
  }

  private arity(e: Expr, name: string, args: Compiled[], min: number, max = min): void {
    if (args.length < min || args.length > max) {
      throw this.err(e, `${name}() takes ${min === max ? min : `${min}-${max}`} argument(s) (counting the receiver), got ${args.length}`);
    }
  }

  private wantString(e: Expr, name: string, a: Compiled, what = 'argument'): void {
    if (a.type.k !== 'string' && a.type.k !== 'dyn') throw this.err(e, `${name}(): ${what} must be a string, got ${typeName(a.type)}`);
  }

  /** A constant string or list of strings (named list, literal list, or string). */
  private constStrings(e: Expr, name: string, a: Compiled): string[] | undefined {
    if (!a.isConst) return undefined;
    const v = a.value;
    if (typeof v === 'string') return [v];
    if (Array.isArray(v) && v.every(isStr)) return v as string[];
    throw this.err(e, `${name}(): expected a string or a list of strings${a.listName ? ` (list ${a.listName} has other items)` : ''}`);
  }

  private func(e: Expr, name: string, args: Compiled[]): Compiled {
    const str1 = (fnName: string, type: CelType): Compiled => {
      this.arity(e, name, args, 1);
      this.wantString(e, name, args[0]!);
      return { js: `R.str1(R.${fnName}, ${JSON.stringify(name)}, ${args[0]!.js})`, type, lits: null };
    };
    switch (name) {
      case 'contains':
      case 'startsWith':
      case 'endsWith': {
        this.arity(e, name, args, 2);
        const [a, b] = args as [Compiled, Compiled];
        this.wantString(e, name, a, 'receiver');
        this.wantString(e, name, b);
        const lits = b.isConst
          ? name === 'contains'
            ? litsForContains(a.field, b.value)
            : name === 'startsWith'
              ? litsForPrefix(a.field, b.value)
              : litsForSuffix(a.field, b.value)
          : null;
        return { js: `R.${name}(${a.js}, ${b.js})`, type: T.bool, bool: true, lits };
      }
      case 'containsAny':
      case 'startsWithAny':
      case 'endsWithAny': {
        this.arity(e, name, args, 2);
        const [a, b] = args as [Compiled, Compiled];
        this.wantString(e, name, a, 'receiver');
        const items = this.constStrings(e, name, b);
        if (!items) throw this.err(e, `${name}(): the second argument must be a list name or a literal list`);
        const lits = litsForEach(items, (v) =>
          name === 'containsAny' ? litsForContains(a.field, v) : name === 'startsWithAny' ? litsForPrefix(a.field, v) : litsForSuffix(a.field, v),
        );
        return { js: `R.${name}(${a.js}, ${this.h(items)})`, type: T.bool, bool: true, lits };
      }
      case 'hasToken': {
        // hasToken(s, LIST): s, split at spaces and | / , ; : = quotes brackets, contains a list item
        this.arity(e, name, args, 2);
        const [a, b] = args as [Compiled, Compiled];
        this.wantString(e, name, a, 'receiver');
        const items = this.constStrings(e, name, b);
        if (!items) throw this.err(e, 'hasToken(): the second argument must be a list name or a literal list');
        return { js: `R.hasToken(${a.js}, ${this.h(new Set(items))})`, type: T.bool, bool: true, lits: litsForEach(items, (v) => litsForContains(a.field, v)) };
      }
      case 'matches': {
        this.arity(e, name, args, 2);
        const [a, b] = args as [Compiled, Compiled];
        this.wantString(e, name, a, 'receiver');
        this.wantString(e, name, b);
        if (b.isConst && typeof b.value === 'string') {
          let re: RegExp;
          try {
            re = celRegExp(b.value);
          } catch (err) {
            throw this.err(e, `matches(): invalid regular expression: ${(err as Error).message}`);
          }
          return { js: `R.matches(${this.h(re)}, ${a.js})`, type: T.bool, bool: true, lits: null };
        }
        return { js: `R.matchesDyn(${a.js}, ${b.js})`, type: T.bool, bool: true, lits: null };
      }
      case 'under':
      case 'glob': {
        this.arity(e, name, args, 2);
        const [a, b] = args as [Compiled, Compiled];
        this.wantString(e, name, a, 'path');
        const items = this.constStrings(e, name, b);
        if (items) {
          const m = this.pathMatcher(items, name);
          return {
            js: `R.path(${this.h(m)}, ${a.js}, ev.agent)`,
            type: T.bool,
            bool: true,
            lits: m.literals(a.field?.lit === 'string' ? a.field.key : undefined),
            gate: a.fieldPath === 'file.path' ? { path: true } : undefined,
          };
        }
        // dynamic: plain absolute prefixes (e.g. file.path.under(agent.cwd))
        const outside: LitExpr | null =
          name === 'under' && a.fieldPath === 'file.path' && b.fieldPath === 'agent.cwd' ? { t: 'probe', probe: 'outside_cwd', cost: 0.1 } : null;
        return { js: `R.underDyn(${a.js}, ${b.js}, ${name === 'glob'})`, type: T.bool, bool: true, lits: null, negLits: outside };
      }
      case 'destIn': {
        this.arity(e, name, args, 2);
        const [a, b] = args as [Compiled, Compiled];
        if ((a.type.k !== 'struct' || a.type.name !== 'net') && a.type.k !== 'dyn') throw this.err(e, `destIn(): first argument must be net, got ${typeName(a.type)}`);
        const items = this.constStrings(e, name, b);
        if (!items) throw this.err(e, 'destIn(): the second argument must be a list name or a literal list');
        const m = this.destMatcher(items, b.listName ? `list ${b.listName}` : 'destIn()', e);
        return { js: `R.dest(${this.h(m)}, ${a.js})`, type: T.bool, bool: true, lits: null };
      }
      case 'nameIn':
      case 'ipIn': {
        this.arity(e, name, args, 2);
        const [a, b] = args as [Compiled, Compiled];
        this.wantString(e, name, a, name === 'nameIn' ? 'name' : 'address');
        const items = this.constStrings(e, name, b);
        if (!items) throw this.err(e, `${name}(): the second argument must be a list name or a literal list`);
        if (name === 'ipIn') for (const it of items) if (!parseCidr(it)) throw this.err(e, `ipIn(): invalid address or CIDR ${JSON.stringify(it)}`);
        const m = this.destMatcher(items, b.listName ? `list ${b.listName}` : `${name}()`, e);
        return { js: `R.${name}(${this.h(m)}, ${a.js})`, type: T.bool, bool: true, lits: null };
      }
      case 'isLoopback':
      case 'isPrivate':
      case 'isLinkLocal':
      case 'isIp': {
        const c = str1(name, T.bool);
        return { ...c, js: `(${c.js} === true)`, bool: true };
      }
      case 'entropy':
        return str1('entropy', T.double);
      case 'basename':
      case 'dirname':
        return str1(name, T.string);
      case 'lowerAscii':
        return str1('lower', T.string);
      case 'upperAscii':
        return str1('upper', T.string);
      case 'trim':
        return str1('trim', T.string);
      case 'abspath': {
        this.arity(e, name, args, 2);
        const [a, b] = args as [Compiled, Compiled];
        this.wantString(e, name, a, 'base');
        this.wantString(e, name, b, 'path');
        return { js: `R.abspath(${a.js}, ${b.js})`, type: T.string, lits: null };
      }
      case 'hasBits': {
        this.arity(e, name, args, 2);
        for (const x of args) if (!isNum(x.type) && x.type.k !== 'dyn') throw this.err(e, `hasBits() needs integers, got ${typeName(x.type)}`);
        return { js: `R.hasBits(${args[0]!.js}, ${args[1]!.js})`, type: T.bool, bool: true, lits: null };
      }
      case 'size': {
        this.arity(e, name, args, 1);
        const a = args[0]!;
        if (!['string', 'list', 'map', 'dyn'].includes(a.type.k)) throw this.err(e, `size() of ${typeName(a.type)}`);
        return { js: `R.size(${a.js})`, type: T.int, lits: null };
      }
      case 'split': {
        this.arity(e, name, args, 2);
        this.wantString(e, name, args[0]!, 'receiver');
        this.wantString(e, name, args[1]!);
        return { js: `R.split(${args[0]!.js}, ${args[1]!.js})`, type: T.list(T.string), lits: null };
      }
      case 'join': {
        this.arity(e, name, args, 1, 2);
        if (args[0]!.type.k !== 'list' && args[0]!.type.k !== 'dyn') throw this.err(e, `join() needs a list, got ${typeName(args[0]!.type)}`);
        return { js: `R.join(${args[0]!.js}, ${args[1]?.js ?? '""'})`, type: T.string, lits: null };
      }
      case 'indexOf':
      case 'lastIndexOf': {
        this.arity(e, name, args, 2);
        this.wantString(e, name, args[0]!, 'receiver');
        this.wantString(e, name, args[1]!);
        return { js: `R.indexOf(${args[0]!.js}, ${args[1]!.js}, ${name === 'lastIndexOf'})`, type: T.int, lits: null };
      }
      case 'substring': {
        this.arity(e, name, args, 2, 3);
        this.wantString(e, name, args[0]!, 'receiver');
        return { js: `R.substring(${args[0]!.js}, ${args[1]!.js}, ${args[2]?.js ?? 'undefined'})`, type: T.string, lits: null };
      }
      case 'replace': {
        this.arity(e, name, args, 3);
        this.wantString(e, name, args[0]!, 'receiver');
        return { js: `R.replace(${args[0]!.js}, ${args[1]!.js}, ${args[2]!.js})`, type: T.string, lits: null };
      }
      case 'int':
      case 'uint':
      case 'double':
        this.arity(e, name, args, 1);
        return { js: `R.toNum(${args[0]!.js}, ${JSON.stringify(name)})`, type: name === 'double' ? T.double : T.int, lits: null };
      case 'string':
        this.arity(e, name, args, 1);
        return { js: `R.toStr(${args[0]!.js})`, type: T.string, lits: null };
      case 'dyn':
        this.arity(e, name, args, 1);
        return { ...args[0]!, type: T.dyn, isConst: false, value: undefined };
      default:
        throw this.err(e, `unknown function '${name}'`);
    }
  }
}
