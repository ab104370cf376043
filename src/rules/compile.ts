// Turns a merged definition set into executable rules: kinds are resolved and every condition
// is compiled once per event kind it applies to (kind tests fold away), exceptions and
// templates are checked, and each variant carries the gates the engine tests first and the
// raw-JSON literals the replay prefilter uses. All errors are ConfigErrors naming file, line
// and rule.
import type { RuleAction } from './schema.js';
import { isScalar, type Node } from 'yaml';
import { ConfigError, formatKey } from '../config/load.js';
import { severityRank, type Category, type Severity } from '../events/types.js';
import { CelCompileError, Compiler, type Compiled, type Fn } from './cel.js';
import { litAnd, litUnion, NEVER, type LitExpr } from './literals.js';
import { DERIVED_KINDS, KNOWN_KINDS } from './fields.js';
import { errAt, locLine, locString, type Loc, type MergedCommon, type MergedSet, type Part } from './loader.js';
import { compileTemplate, type Template } from './output.js';
import { PathIndex, PathMatcher } from './paths.js';
import { windowMs } from './schema.js';

export interface RuleMeta {
  idx: number;
  id: string;
  type: 'rule' | 'sequence' | 'threshold';
  description: string;
  severity: Severity;
  rank: number;
  category?: Category;
  mitre: string[];
  kinds: string[];
  knownSafe: ReadonlySet<string>;
  action?: RuleAction;
  enabled: boolean;
  source: string;
  tags: string[];
  output: Template;
}

/** A condition compiled for one event kind. */
export interface Variant {
  cond: Fn;
  /** The same condition as a boolean JS expression over `ev` (helpers H, runtime R). */
  js: string;
  lits: LitExpr | null;
  /** The condition can only be true when proc.name is one of these. */
  nameGate?: ReadonlySet<string>;
  /** The condition can only be true when file.path matches some pattern of CompiledSet.pathUnion. */
  pathGate: boolean;
}

export interface CRule extends RuleMeta {
  type: 'rule';
  /** kind → condition specialised for it (kinds where it can never be true are left out). */
  variants: Map<string, Variant>;
  exc: Fn | undefined;
  /** The exceptions as one boolean JS expression (true = excepted), if any. */
  excJs: string | undefined;
  /** Engine bookkeeping: generation of the last event this rule matched. */
  matchedGen: number;
}

export interface CStep {
  name: string;
  kinds: string[];
  /** Indices (into rules) of which at least one must have matched the event. */
  rules: number[];
  /** kind → condition (absent: the step has no condition of its own). */
  variants?: Map<string, Variant>;
  key?: Fn;
}

export interface CSequence extends RuleMeta {
  type: 'sequence';
  windowMs: number;
  ordered: boolean;
  steps: CStep[];
}

export interface CThreshold extends RuleMeta {
  type: 'threshold';
  variants: Map<string, Variant>;
  groupBy?: Fn;
  distinct?: Fn;
  count: number;
  windowMs: number;
}

/** Literals for a step on one kind: those of its rules (one must have matched) and of its condition. */
export function stepLits(set: CompiledSet, st: CStep, kind: string): LitExpr | null {
  let lits: LitExpr | null = null;
  if (st.rules.length) lits = litUnion(st.rules.map((x) => variantLits(set.rules[x]!.variants, kind)));
  if (st.variants) lits = litAnd(lits, variantLits(st.variants, kind));
  return lits;
}

/**
 * The literals of a condition on one kind. Two different "nothing"s must not be confused:
 * no variant for the kind means the condition folded to false (NEVER: no line can match),
 * while a variant whose `lits` is null means no literal is required (null: every line may
 * match). `variants.get(kind)?.lits ?? NEVER` turned the second into the first, so a step
 * such as `(file_write_open || kind == "file.rename") && (in_tmp || in_workspace)`, which on
 * file.rename folds to `in_tmp || in_workspace` (no literal for in_workspace), skipped every
 * rename into the project.
 */
function variantLits(variants: ReadonlyMap<string, Variant>, kind: string): LitExpr | null {
  const v = variants.get(kind);
  return v === undefined ? NEVER : v.lits;
}

export interface CompiledSet {
  rules: CRule[];
  sequences: CSequence[];
  thresholds: CThreshold[];
  lists: ReadonlyMap<string, readonly unknown[]>;
  /** Every constant path pattern of every rule: a path it rejects is rejected by all under()/glob(). */
  pathUnion: PathMatcher;
  /** Values generated code refers to as H[i]. */
  helpers: unknown[];
}

function lineOfExpr(part: Part, offset: number | undefined): number | undefined {
  const base = locLine(part.loc, part.key);
  if (offset === undefined || base === undefined) return base;
  const node = part.loc.parsed.doc.getIn([...part.loc.at, ...part.key], true) as Node | undefined;
  let line = base;
  if (node && isScalar(node) && node.range) {
    line = part.loc.parsed.lines.linePos(node.range[0]).line;
    if (node.type === 'BLOCK_LITERAL' || node.type === 'BLOCK_FOLDED') line += 1;
  }
  let n = 0;
  for (let i = 0; i < offset && i < part.src.length; i++) if (part.src.charCodeAt(i) === 10) n++;
  return line + n;
}

function partError(part: Part, what: string, err: unknown): ConfigError {
  if (err instanceof CelCompileError) {
    return new ConfigError(part.loc.parsed.file, lineOfExpr(part, err.offset), formatKey([...part.loc.at, ...part.key]), `${what}: ${err.message}`);
  }
  if (err instanceof ConfigError) return err;
  return new ConfigError(part.loc.parsed.file, locLine(part.loc, part.key), formatKey([...part.loc.at, ...part.key]), `${what}: ${(err as Error).message}`);
}

/** Resolves `kinds:` entries (exact, `prefix.*`, or `*`) against the known kinds. */
export function resolveKinds(kinds: readonly string[], loc: Loc, key: string, what: string): string[] {
  const out = new Set<string>();
  kinds.forEach((k, i) => {
    if (DERIVED_KINDS.includes(k)) throw errAt(loc, [key, i], what, `${k} events are produced by the rule engine and cannot be matched`);
    if (k === '*') {
      for (const x of KNOWN_KINDS) out.add(x);
      return;
    }
    if (k.endsWith('.*')) {
      const prefix = k.slice(0, -1);
      const hit = KNOWN_KINDS.filter((x) => x.startsWith(prefix));
      if (!hit.length) throw errAt(loc, [key, i], what, `no event kind matches ${k}`);
      for (const x of hit) out.add(x);
      return;
    }
    if (!KNOWN_KINDS.includes(k)) throw errAt(loc, [key, i], what, `unknown event kind ${JSON.stringify(k)} (see docs/events.md)`);
    out.add(k);
  });
  return [...out];
}

function globToRe(g: string): RegExp {
  return new RegExp('^' + g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
}

const LIST_COMPS = new Set(['in', 'under', 'pmatch', 'glob', 'startsWith', 'startswith', 'endsWith', 'endswith', 'contains']);

function celLiteral(v: unknown, listNames: ReadonlySet<string>, allowList: boolean): string {
  if (typeof v === 'string') return allowList && listNames.has(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' && Number.isFinite(v)) return Number.isInteger(v) ? String(v) : String(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && allowList) return '[' + v.map((x) => celLiteral(x, listNames, false)).join(', ') + ']';
  throw new Error(`unsupported exception value ${JSON.stringify(v)}`);
}

/** Builds the CEL source for one exception tuple. */
function exceptionCel(fields: string[], comps: string[], tuple: unknown[], listNames: ReadonlySet<string>): string {
  const terms = fields.map((f, i) => {
    const comp = comps[i] ?? '=';
    const v = tuple[i];
    const isList = Array.isArray(v) || (typeof v === 'string' && listNames.has(v) && LIST_COMPS.has(comp));
    const lit = celLiteral(v, listNames, LIST_COMPS.has(comp));
    switch (comp) {
      case '=':
      case '==':
        return `${f} == ${lit}`;
      case '!=':
        return `${f} != ${lit}`;
      case '<':
      case '<=':
      case '>':
      case '>=':
        return `${f} ${comp} ${lit}`;
      case 'in':
        return isList ? `${f} in ${lit}` : `${f} == ${lit}`;
      case 'under':
      case 'pmatch':
        return `${f}.under(${lit})`;
      case 'glob':
        return `${f}.glob(${lit})`;
      case 'startsWith':
      case 'startswith':
        return isList ? `${f}.startsWithAny(${lit})` : `${f}.startsWith(${lit})`;
      case 'endsWith':
      case 'endswith':
        return isList ? `${f}.endsWithAny(${lit})` : `${f}.endsWith(${lit})`;
      case 'contains':
        return isList ? `${f}.containsAny(${lit})` : `${f}.contains(${lit})`;
      case 'matches':
        return `${f}.matches(${lit})`;
      default:
        throw new Error(`unknown comparison '${comp}' (use =, !=, <, <=, >, >=, in, under, glob, startsWith, endsWith, contains, matches)`);
    }
  });
  // An exception that trusts a program by its name never trusts one an agent wrote itself or
  // runs from a temporary directory (proc.tool_untrusted, set by the process model).
  if (fields.some((f) => PROGRAM_FIELDS.has(f))) terms.push('!has(proc.tool_untrusted)');
  return terms.map((t) => `(${t})`).join(' && ');
}

/** Fields that name the program that acted. */
const PROGRAM_FIELDS = new Set(['proc.tool', 'proc.name', 'proc.exe', 'proc.argv0', 'proc.comm', 'proc.script']);

function requireMeta(m: MergedCommon, what: string): void {
  if (!m.severity) throw errAt(m.loc, 'id', what, 'severity is required (alert, warn or info)');
  if (m.severity !== 'info') {
    if (!m.category) throw errAt(m.loc, 'id', what, `category is required for ${m.severity} (a MITRE ATT&CK tactic)`);
    if (m.mitre.length === 0) throw errAt(m.loc, 'id', what, `mitre is required for ${m.severity} (technique ids, e.g. [T1552.001])`);
  }
}

/** Lists whose items name other lists are expanded (Falco style); a cycle is an error. */
function expandLists(set: MergedSet): Map<string, unknown[]> {
  const lists = new Map<string, unknown[]>();
  const expanding = new Set<string>();
  const expand = (name: string): unknown[] => {
    const done = lists.get(name);
    if (done) return done;
    const l = set.lists.get(name)!;
    if (expanding.has(name)) throw errAt(l.loc, 'items', `list ${name}`, 'lists refer to each other in a cycle');
    expanding.add(name);
    const out: unknown[] = [];
    for (const it of l.items) {
      if (typeof it === 'string' && it !== name && set.lists.has(it)) out.push(...expand(it));
      else out.push(it);
    }
    expanding.delete(name);
    lists.set(name, out);
    return out;
  };
  for (const name of set.lists.keys()) expand(name);
  return lists;
}

/**
 * What every phase of compileSet shares: the CEL compiler with the set's lists and macros, and
 * the helpers that compile conditions per event kind, output fields and rule metadata.
 */
class SetCompiler {
  readonly compiler: Compiler;
  readonly listNames: ReadonlySet<string>;
  private readonly macroSrc = new Map<string, string>();
  private readonly kindMention = new Map<string, boolean>();

  constructor(
    readonly set: MergedSet,
    readonly lists: Map<string, unknown[]>,
  ) {
    for (const [name, m] of set.macros) this.macroSrc.set(name, m.parts.length === 1 ? m.parts[0]!.src : m.parts.map((p) => `(${p.src})`).join(' && '));
    this.compiler = new Compiler({ lists, macros: this.macroSrc });
    this.listNames = new Set(lists.keys());
  }

  /** Every macro is checked on its own, so an error names the macro's own line. */
  checkMacros(): void {
    for (const [name, m] of this.set.macros) {
      for (const p of m.parts) {
        try {
          const c = this.compiler.expression(p.src);
          if (c.type.k !== 'bool' && c.type.k !== 'dyn') throw new CelCompileError(`a macro must be a boolean expression, got ${c.type.k}`, 0);
        } catch (err) {
          throw partError(p, `macro ${name}`, err);
        }
      }
    }
  }

  compileParts(parts: Part[], what: string, kind: string | undefined): Compiled {
    const compiled = parts.map((p) => {
      try {
        return this.compiler.condition(p.src, kind);
      } catch (err) {
        throw partError(p, what, err);
      }
    });
    return this.compiler.and(compiled);
  }

  /** Does an expression mention `kind`, itself or through its macros? If not, it is compiled once for all kinds. */
  private mentionsKind(src: string, seen = new Set<string>()): boolean {
    if (/\bkind\b/.test(src)) return true;
    for (const word of src.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []) {
      const m = this.macroSrc.get(word);
      if (m === undefined || seen.has(word)) continue;
      seen.add(word);
      let v = this.kindMention.get(word);
      if (v === undefined) {
        v = this.mentionsKind(m, seen);
        this.kindMention.set(word, v);
      }
      if (v) return true;
    }
    return false;
  }

  private variant(c: Compiled): Variant {
    return { cond: this.compiler.toFn(c), js: this.compiler.boolJs(c), lits: c.lits, nameGate: c.gate?.names, pathGate: !!c.gate?.path };
  }

  /** One variant per kind; kinds for which the condition folds to false are left out. */
  variantsOf(parts: Part[], kinds: string[], what: string): Map<string, Variant> {
    const out = new Map<string, Variant>();
    if (!parts.some((p) => this.mentionsKind(p.src))) {
      const c = this.compileParts(parts, what, kinds[0]);
      if (c.isConst && c.value === false) return out;
      const v = this.variant(c);
      for (const kind of kinds) out.set(kind, v);
      return out;
    }
    for (const kind of kinds) {
      const c = this.compileParts(parts, what, kind);
      if (c.isConst && c.value === false) continue;
      out.set(kind, this.variant(c));
    }
    return out;
  }

  private field(loc: Loc, key: string, what: string): (path: string) => Fn {
    return (path: string): Fn => {
      try {
        return this.compiler.expression(path).fn;
      } catch (err) {
        const msg = err instanceof CelCompileError ? err.message : (err as Error).message;
        throw errAt(loc, key, what, `output field %${path}: ${msg}`);
      }
    };
  }

  meta(m: MergedCommon, idx: number, type: RuleMeta['type'], kinds: string[], what: string, steps: string[] = []): RuleMeta {
    requireMeta(m, what);
    const out = m.output ?? { src: m.description ?? m.id, loc: m.loc };
    return {
      idx,
      id: m.id,
      type,
      description: m.description ?? '',
      severity: m.severity!,
      rank: severityRank(m.severity!),
      category: m.category,
      mitre: m.mitre,
      kinds,
      knownSafe: new Set(m.known_safe_for),
      action: m.action,
      enabled: m.enabled,
      source: locString(m.loc),
      tags: m.tags,
      output: compileTemplate(out.src, this.field(out.loc, 'output', what), steps),
    };
  }

  expr(src: string, part: Part, what: string): Fn {
    try {
      return this.compiler.expression(src).fn;
    } catch (err) {
      throw partError(part, what, err);
    }
  }
}

type MergedRule = MergedSet['rules'] extends Map<string, infer R> ? R : never;

/** The exceptions of a rule as one function and one JS expression (true = excepted). */
function compileExceptions(sc: SetCompiler, r: MergedRule, what: string): { exc: Fn | undefined; excJs: string | undefined } {
  const excFns: Fn[] = [];
  const excJs: string[] = [];
  for (const x of r.exceptions) {
    const xw = `${what}: exception ${x.def.name}`;
    const fields = x.def.fields === undefined ? [] : Array.isArray(x.def.fields) ? x.def.fields : [x.def.fields];
    if (fields.length === 0) throw errAt(x.loc, x.key, xw, 'fields is required');
    const comps = x.def.comps === undefined ? fields.map(() => '=') : Array.isArray(x.def.comps) ? x.def.comps : [x.def.comps];
    if (comps.length !== fields.length) throw errAt(x.loc, [...x.key, 'comps'], xw, `${comps.length} comps for ${fields.length} fields`);
    const groups = [{ values: x.def.values, loc: x.loc, key: x.key }, ...x.extra];
    for (const g of groups) {
      g.values.forEach((raw, vi) => {
        let tuple: unknown[];
        if (fields.length === 1) {
          if (Array.isArray(raw) && !LIST_COMPS.has(comps[0]!)) {
            if (raw.length !== 1) throw errAt(g.loc, [...g.key, 'values', vi], xw, `comparison '${comps[0]}' takes one value, got a list of ${raw.length}`);
            tuple = [raw[0]];
          } else tuple = [raw];
        } else {
          if (!Array.isArray(raw) || raw.length !== fields.length) {
            throw errAt(g.loc, [...g.key, 'values', vi], xw, `each value must be a list of ${fields.length} items (one per field: ${fields.join(', ')})`);
          }
          tuple = raw;
        }
        let src: string;
        try {
          src = exceptionCel(fields, comps, tuple, sc.listNames);
        } catch (err) {
          throw errAt(g.loc, [...g.key, 'values', vi], xw, (err as Error).message);
        }
        try {
          const xc = sc.compiler.condition(src);
          excFns.push(xc.fn);
          excJs.push(sc.compiler.boolJs(xc));
        } catch (err) {
          const msg = err instanceof CelCompileError ? err.message : (err as Error).message;
          throw errAt(g.loc, [...g.key, 'values', vi], xw, msg);
        }
      });
    }
  }
  const exc: Fn | undefined =
    excFns.length === 0
      ? undefined
      : excFns.length === 1
        ? excFns[0]
        : (c) => {
            for (const f of excFns) if (f(c) === true) return true;
            return false;
          };
  return { exc, excJs: excJs.length ? excJs.map((j) => `(${j})`).join(' || ') : undefined };
}

function compileEventRules(sc: SetCompiler): CRule[] {
  const rules: CRule[] = [];
  for (const r of [...sc.set.rules.values()].sort((a, b) => a.order - b.order)) {
    const what = `rule ${r.id}`;
    if (r.kinds.length === 0) throw errAt(r.loc, 'id', what, 'kinds is required (event kinds the rule applies to, e.g. [file.open])');
    if (r.conditions.length === 0) throw errAt(r.loc, 'id', what, 'condition is required');
    const kinds = resolveKinds(r.kinds, r.loc, 'kinds', what);
    // compiled once without a kind so errors are reported even when every variant folds away
    sc.compileParts(r.conditions, what, undefined);
    const variants = sc.variantsOf(r.conditions, kinds, what);
    rules.push({ ...sc.meta(r, rules.length, 'rule', kinds, what), type: 'rule', variants, ...compileExceptions(sc, r, what), matchedGen: -1 });
  }
  return rules;
}

function compileSequences(sc: SetCompiler, rules: CRule[]): CSequence[] {
  const sequences: CSequence[] = [];
  for (const s of [...sc.set.sequences.values()].sort((a, b) => a.order - b.order)) {
    const what = `sequence ${s.id}`;
    const def = s.def;
    if (!def.steps) throw errAt(s.loc, 'id', what, 'steps is required (at least two)');
    const names = def.steps.map((st) => st.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) throw errAt(s.loc, 'steps', what, `step name ${dup} is used twice`);
    const steps: CStep[] = def.steps.map((st, i) => {
      const sw = `${what} step ${st.name}`;
      const key = ['steps', i];
      const stepLoc: Loc = { parsed: s.loc.parsed, at: [...s.loc.at, ...key] };
      const ruleIdx: number[] = [];
      for (const [j, ref] of (st.rules ?? []).entries()) {
        const re = globToRe(ref);
        const hit = rules.filter((r) => re.test(r.id));
        if (!hit.length) throw errAt(stepLoc, ['rules', j], sw, `no rule matches ${JSON.stringify(ref)}`);
        for (const h of hit) if (!ruleIdx.includes(h.idx)) ruleIdx.push(h.idx);
      }
      let kinds: string[];
      if (st.kinds) kinds = resolveKinds(st.kinds, stepLoc, 'kinds', sw);
      else if (ruleIdx.length) kinds = [...new Set(ruleIdx.flatMap((x) => rules[x]!.kinds))];
      else throw errAt(stepLoc, 'name', sw, 'a step needs kinds or rules');
      if (!st.condition && !ruleIdx.length) throw errAt(stepLoc, 'name', sw, 'a step needs a condition or rules');
      let variants: Map<string, Variant> | undefined;
      if (st.condition !== undefined) {
        const parts = [{ src: st.condition, loc: stepLoc, key: ['condition'] }];
        sc.compileParts(parts, sw, undefined);
        variants = sc.variantsOf(parts, kinds, sw);
      }
      let keyFn: Fn | undefined;
      if (st.key !== undefined) {
        const part = { src: st.key, loc: stepLoc, key: ['key'] };
        try {
          const k = sc.compiler.expression(st.key);
          const ok = k.type.k === 'string' || k.type.k === 'dyn' || (k.type.k === 'list' && (k.type.elem.k === 'string' || k.type.elem.k === 'dyn'));
          if (!ok) throw new CelCompileError(`key must be a string or a list of strings, got ${k.type.k}`, 0);
          keyFn = k.fn;
        } catch (err) {
          throw partError(part, sw, err);
        }
      }
      return { name: st.name, kinds, rules: ruleIdx, variants, key: keyFn };
    });
    const keyed = def.steps.filter((x) => x.key !== undefined).length;
    if (keyed !== 0 && keyed !== def.steps.length) throw errAt(s.loc, 'steps', what, 'either every step has a key or none does');
    const kinds = [...new Set(steps.flatMap((x) => x.kinds))];
    sequences.push({
      ...sc.meta(s, sequences.length, 'sequence', kinds, what, names),
      type: 'sequence',
      windowMs: windowMs(def.window ?? 60),
      ordered: def.ordered ?? true,
      steps,
    });
  }
  return sequences;
}

function compileThresholds(sc: SetCompiler): CThreshold[] {
  const thresholds: CThreshold[] = [];
  for (const t of [...sc.set.thresholds.values()].sort((a, b) => a.order - b.order)) {
    const what = `threshold ${t.id}`;
    const def = t.def;
    if (t.kinds.length === 0) throw errAt(t.loc, 'id', what, 'kinds is required');
    if (def.count === undefined) throw errAt(t.loc, 'id', what, 'count is required');
    const kinds = resolveKinds(t.kinds, t.loc, 'kinds', what);
    const parts = t.conditions.length ? t.conditions : [{ src: 'true', loc: t.loc, key: ['id'] }];
    sc.compileParts(parts, what, undefined);
    const variants = sc.variantsOf(parts, kinds, what);
    const expr = (k: 'group_by' | 'distinct'): Fn | undefined => {
      const src = def[k];
      return src === undefined ? undefined : sc.expr(src, { src, loc: t.loc, key: [k] }, what);
    };
    thresholds.push({
      ...sc.meta(t, thresholds.length, 'threshold', kinds, what),
      type: 'threshold',
      variants,
      groupBy: expr('group_by'),
      distinct: expr('distinct'),
      count: def.count,
      windowMs: windowMs(def.window ?? 60),
    });
  }
  return thresholds;
}

/** Compiles a merged definition set, in phases: lists, macros, event rules, sequences, thresholds, path index. */
export function compileSet(set: MergedSet): CompiledSet {
  const lists = expandLists(set);
  const sc = new SetCompiler(set, lists);
  sc.checkMacros();
  const rules = compileEventRules(sc);
  const sequences = compileSequences(sc, rules);
  const thresholds = compileThresholds(sc);
  const pathUnion = new PathMatcher(sc.compiler.allPathPatterns(), 'under');
  // one pass over a path answers every `under` list and the union at once
  new PathIndex([...sc.compiler.underMatchers(), pathUnion]);
  return { rules, sequences, thresholds, lists, pathUnion, helpers: sc.compiler.helperTable() };
}
