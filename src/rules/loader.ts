// Reads rule files and merges them, in load order, into one definition set: later files add
// rules, override some keys of existing ones (Falco-style `override: {key: append|replace}`),
// redefine them (`replace: true`) or disable them (`enabled: false`). Every definition keeps
// where it came from, so compile errors can name the file, line and rule.
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, formatKey, lineAt, parseYaml, validateYaml, type ParsedYaml } from '../config/load.js';
import {
  ruleFileSchema,
  type ExceptionDef,
  type ListDef,
  type MacroDef,
  type RuleDef,
  type SequenceDef,
  type ThresholdDef,
} from './schema.js';

export interface Loc {
  parsed: ParsedYaml;
  /** Path of the definition inside the file, e.g. ['rules', 3]. */
  at: Array<string | number>;
}

export function locLine(loc: Loc, key?: string | Array<string | number>): number | undefined {
  const extra = key === undefined ? [] : Array.isArray(key) ? key : [key];
  return lineAt(loc.parsed, [...loc.at, ...extra]) ?? lineAt(loc.parsed, loc.at);
}

export function locString(loc: Loc): string {
  const line = locLine(loc);
  return `${loc.parsed.file}${line !== undefined ? `:${line}` : ''}`;
}

/** A ConfigError at a definition (and optionally one of its keys). */
export function errAt(loc: Loc, key: string | Array<string | number> | undefined, what: string, detail: string): ConfigError {
  const extra = key === undefined ? [] : Array.isArray(key) ? key : [key];
  return new ConfigError(loc.parsed.file, locLine(loc, key), formatKey([...loc.at, ...extra]), `${what}: ${detail}`);
}

export interface Part {
  src: string;
  loc: Loc;
  /** Key inside the definition where src lives (for line numbers), e.g. 'condition'. */
  key: Array<string | number>;
}

export interface MergedList {
  name: string;
  items: Array<string | number>;
  loc: Loc;
  builtin?: boolean;
}

export interface MergedMacro {
  name: string;
  parts: Part[];
  loc: Loc;
}

export interface MergedException {
  def: ExceptionDef;
  loc: Loc;
  key: Array<string | number>;
  /** Extra value tuples appended by later files. */
  extra: Array<{ values: unknown[]; loc: Loc; key: Array<string | number> }>;
}

export interface MergedCommon {
  id: string;
  loc: Loc;
  order: number;
  enabled: boolean;
  severity?: RuleDef['severity'];
  category?: RuleDef['category'];
  mitre: string[];
  description?: string;
  output?: { src: string; loc: Loc };
  known_safe_for: string[];
  action?: RuleDef['action'];
  tags: string[];
}

export interface MergedRule extends MergedCommon {
  type: 'rule';
  kinds: string[];
  conditions: Part[];
  exceptions: MergedException[];
}

export interface MergedSequence extends MergedCommon {
  type: 'sequence';
  def: SequenceDef;
}

export interface MergedThreshold extends MergedCommon {
  type: 'threshold';
  def: ThresholdDef;
  conditions: Part[];
  kinds: string[];
}

export interface MergedSet {
  lists: Map<string, MergedList>;
  macros: Map<string, MergedMacro>;
  rules: Map<string, MergedRule>;
  sequences: Map<string, MergedSequence>;
  thresholds: Map<string, MergedThreshold>;
  files: string[];
}

export function emptySet(): MergedSet {
  return { lists: new Map(), macros: new Map(), rules: new Map(), sequences: new Map(), thresholds: new Map(), files: [] };
}

/** Parses and validates one rule file's text. */
export function parseRuleFile(text: string, file: string): { parsed: ParsedYaml; value: ReturnType<typeof validateYaml<typeof ruleFileSchema>> } {
  const parsed = parseYaml(text, file);
  if (parsed.value === null || parsed.value === undefined) return { parsed, value: ruleFileSchema.parse({}) };
  if (typeof parsed.value !== 'object' || Array.isArray(parsed.value)) {
    throw new ConfigError(file, 1, undefined, 'a rule file is a map with keys lists, macros, rules, sequences, thresholds');
  }
  return { parsed, value: validateYaml(parsed, ruleFileSchema) };
}

export function readRuleFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, undefined, undefined, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Expands directories to their *.yaml / *.yml files (sorted), keeping files as given. */
export function expandRuleFiles(files: readonly string[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(f);
    } catch {
      out.push(f); // readRuleFile reports it
      continue;
    }
    if (st.isDirectory()) {
      for (const n of fs.readdirSync(f).sort()) if (/\.ya?ml$/.test(n)) out.push(path.join(f, n));
    } else out.push(f);
  }
  return out;
}

let orderCounter = 0;

/** Merges one parsed file into the set. */
export function mergeFile(set: MergedSet, parsed: ParsedYaml, value: ReturnType<typeof parseRuleFile>['value']): void {
  set.files.push(parsed.file);
  value.lists.forEach((l, i) => mergeList(set, l, { parsed, at: ['lists', i] }));
  value.macros.forEach((m, i) => mergeMacro(set, m, { parsed, at: ['macros', i] }));
  value.rules.forEach((r, i) => mergeRule(set, r, { parsed, at: ['rules', i] }));
  value.sequences.forEach((s, i) => mergeSequence(set, s, { parsed, at: ['sequences', i] }));
  value.thresholds.forEach((t, i) => mergeThreshold(set, t, { parsed, at: ['thresholds', i] }));
}

function mergeList(set: MergedSet, l: ListDef, loc: Loc): void {
  const what = `list ${l.name}`;
  const prev = set.lists.get(l.name);
  if (set.macros.has(l.name)) throw errAt(loc, 'name', what, `a macro is already named ${l.name}`);
  if (!prev) {
    if (l.override) throw errAt(loc, 'override', what, 'override of a list that is not defined (check the name and the file order)');
    set.lists.set(l.name, { name: l.name, items: [...l.items], loc });
    return;
  }
  if (!l.override) {
    throw errAt(loc, 'name', what, `already defined at ${locString(prev.loc)}; use \`override: {items: append}\` or \`override: {items: replace}\``);
  }
  prev.items = l.override.items === 'append' ? [...prev.items, ...l.items] : [...l.items];
}

function mergeMacro(set: MergedSet, m: MacroDef, loc: Loc): void {
  const what = `macro ${m.name}`;
  const prev = set.macros.get(m.name);
  if (set.lists.has(m.name)) throw errAt(loc, 'name', what, `a list is already named ${m.name}`);
  if (!prev) {
    if (m.override) throw errAt(loc, 'override', what, 'override of a macro that is not defined');
    if (m.condition === undefined) throw errAt(loc, 'name', what, 'condition is required');
    set.macros.set(m.name, { name: m.name, parts: [{ src: m.condition, loc, key: ['condition'] }], loc });
    return;
  }
  if (!m.override) throw errAt(loc, 'name', what, `already defined at ${locString(prev.loc)}; use \`override: {condition: append|replace}\``);
  if (m.condition === undefined) throw errAt(loc, 'override', what, 'override without a condition');
  const part = { src: m.condition, loc, key: ['condition'] };
  prev.parts = m.override.condition === 'append' ? [...prev.parts, part] : [part];
}

function commonFrom(id: string, loc: Loc, d: {
  description?: string;
  severity?: RuleDef['severity'];
  category?: RuleDef['category'];
  mitre?: string[];
  output?: string;
  known_safe_for?: string[];
  action?: RuleDef['action'];
  enabled?: boolean;
  tags?: string[];
}): MergedCommon {
  return {
    id,
    loc,
    order: orderCounter++,
    enabled: d.enabled ?? true,
    severity: d.severity,
    category: d.category,
    mitre: d.mitre ?? [],
    description: d.description,
    output: d.output !== undefined ? { src: d.output, loc } : undefined,
    known_safe_for: d.known_safe_for ?? [],
    action: d.action,
    tags: d.tags ?? [],
  };
}

type OverrideMap = Record<string, 'append' | 'replace' | undefined>;

/** Applies the keys shared by rules, sequences and thresholds. */
function applyCommonOverride(prev: MergedCommon, d: Record<string, unknown>, ov: OverrideMap, loc: Loc, what: string): void {
  for (const key of Object.keys(d)) {
    if (['id', 'override', 'replace'].includes(key) || d[key] === undefined) continue;
    if (!ov[key]) throw errAt(loc, key, what, `'${key}' is given but override has no mode for it (add \`${key}: append\` or \`${key}: replace\` under override)`);
  }
  for (const [key, mode] of Object.entries(ov)) {
    if (!mode) continue;
    if (d[key] === undefined) throw errAt(loc, ['override', key], what, `override names '${key}' but no new value is given`);
  }
  if (ov['description']) prev.description = d['description'] as string;
  if (ov['severity']) prev.severity = d['severity'] as MergedCommon['severity'];
  if (ov['category']) prev.category = d['category'] as MergedCommon['category'];
  if (ov['output']) prev.output = { src: d['output'] as string, loc };
  if (ov['action']) prev.action = d['action'] as MergedCommon['action'];
  if (ov['enabled']) prev.enabled = d['enabled'] as boolean;
  if (ov['mitre']) prev.mitre = ov['mitre'] === 'append' ? [...prev.mitre, ...(d['mitre'] as string[])] : [...(d['mitre'] as string[])];
  if (ov['tags']) prev.tags = ov['tags'] === 'append' ? [...prev.tags, ...(d['tags'] as string[])] : [...(d['tags'] as string[])];
  if (ov['known_safe_for']) {
    const v = d['known_safe_for'] as string[];
    prev.known_safe_for = ov['known_safe_for'] === 'append' ? [...prev.known_safe_for, ...v] : [...v];
  }
}

function onlyEnabled(d: Record<string, unknown>): boolean {
  return d['enabled'] !== undefined && Object.keys(d).every((k) => k === 'id' || k === 'enabled' || d[k] === undefined);
}

function alreadyDefined(what: string, prev: { loc: Loc }): string {
  return `already defined at ${locString(prev.loc)}; use \`override:\` to change some keys, \`replace: true\` to redefine it, or \`enabled: false\` to disable it`;
}

function mergeRule(set: MergedSet, r: RuleDef, loc: Loc): void {
  const what = `rule ${r.id}`;
  const prev = set.rules.get(r.id);
  const d = r as unknown as Record<string, unknown>;
  if (r.override && r.replace) throw errAt(loc, 'replace', what, 'use either override or replace, not both');
  const fresh = (): MergedRule => ({
    ...commonFrom(r.id, loc, r),
    type: 'rule',
    kinds: r.kinds ?? [],
    conditions: r.condition !== undefined ? [{ src: r.condition, loc, key: ['condition'] }] : [],
    exceptions: (r.exceptions ?? []).map((x, i) => ({ def: x, loc, key: ['exceptions', i], extra: [] })),
  });
  if (!prev) {
    if (r.override || r.replace) throw errAt(loc, r.override ? 'override' : 'replace', what, 'no rule with this id is defined (check the id and the file order)');
    if (onlyEnabled(d)) throw errAt(loc, 'enabled', what, 'no rule with this id is defined');
    set.rules.set(r.id, fresh());
    return;
  }
  if (r.replace) {
    const n = fresh();
    n.order = prev.order;
    set.rules.set(r.id, n);
    return;
  }
  if (!r.override) {
    if (onlyEnabled(d)) {
      prev.enabled = r.enabled!;
      return;
    }
    throw errAt(loc, 'id', what, alreadyDefined(what, prev));
  }
  const ov = r.override as OverrideMap;
  applyCommonOverride(prev, d, ov, loc, what);
  if (ov['kinds']) prev.kinds = ov['kinds'] === 'append' ? [...prev.kinds, ...r.kinds!] : [...r.kinds!];
  if (ov['condition']) {
    const part = { src: r.condition!, loc, key: ['condition'] };
    prev.conditions = ov['condition'] === 'append' ? [...prev.conditions, part] : [part];
  }
  if (ov['exceptions']) {
    const incoming = r.exceptions!.map((x, i) => ({ def: x, loc, key: ['exceptions', i] as Array<string | number>, extra: [] }));
    if (ov['exceptions'] === 'replace') prev.exceptions = incoming;
    else {
      for (const x of incoming) {
        const same = prev.exceptions.find((p) => p.def.name === x.def.name);
        if (same) {
          if (x.def.fields !== undefined || x.def.comps !== undefined) {
            const f = JSON.stringify(x.def.fields ?? same.def.fields);
            const c = JSON.stringify(x.def.comps ?? same.def.comps);
            if (f !== JSON.stringify(same.def.fields) || c !== JSON.stringify(same.def.comps)) {
              throw errAt(loc, x.key, what, `exception ${x.def.name} exists with other fields/comps; append values only, or use a new name`);
            }
          }
          same.extra.push({ values: x.def.values, loc, key: x.key });
        } else prev.exceptions.push(x);
      }
    }
  }
}

function mergeSequence(set: MergedSet, s: SequenceDef, loc: Loc): void {
  const what = `sequence ${s.id}`;
  const prev = set.sequences.get(s.id);
  const d = s as unknown as Record<string, unknown>;
  if (set.rules.has(s.id) || set.thresholds.has(s.id)) throw errAt(loc, 'id', what, 'a rule or threshold already has this id');
  if (!prev) {
    if (s.override || s.replace) throw errAt(loc, s.override ? 'override' : 'replace', what, 'no sequence with this id is defined');
    if (onlyEnabled(d)) throw errAt(loc, 'enabled', what, 'no sequence with this id is defined');
    set.sequences.set(s.id, { ...commonFrom(s.id, loc, s), type: 'sequence', def: s });
    return;
  }
  if (s.replace) {
    set.sequences.set(s.id, { ...commonFrom(s.id, loc, s), type: 'sequence', def: s, order: prev.order });
    return;
  }
  if (!s.override) {
    if (onlyEnabled(d)) {
      prev.enabled = s.enabled!;
      return;
    }
    throw errAt(loc, 'id', what, alreadyDefined(what, prev));
  }
  if (s.steps || s.ordered !== undefined) throw errAt(loc, s.steps ? 'steps' : 'ordered', what, 'steps cannot be overridden; use replace: true');
  const ov = s.override as OverrideMap;
  applyCommonOverride(prev, { ...d, steps: undefined, ordered: undefined }, ov, loc, what);
  if (ov['window']) prev.def = { ...prev.def, window: s.window };
}

function mergeThreshold(set: MergedSet, t: ThresholdDef, loc: Loc): void {
  const what = `threshold ${t.id}`;
  const prev = set.thresholds.get(t.id);
  const d = t as unknown as Record<string, unknown>;
  if (set.rules.has(t.id) || set.sequences.has(t.id)) throw errAt(loc, 'id', what, 'a rule or sequence already has this id');
  const fresh = (): MergedThreshold => ({
    ...commonFrom(t.id, loc, t),
    type: 'threshold',
    def: t,
    kinds: t.kinds ?? [],
    conditions: t.condition !== undefined ? [{ src: t.condition, loc, key: ['condition'] }] : [],
  });
  if (!prev) {
    if (t.override || t.replace) throw errAt(loc, t.override ? 'override' : 'replace', what, 'no threshold with this id is defined');
    if (onlyEnabled(d)) throw errAt(loc, 'enabled', what, 'no threshold with this id is defined');
    set.thresholds.set(t.id, fresh());
    return;
  }
  if (t.replace) {
    set.thresholds.set(t.id, { ...fresh(), order: prev.order });
    return;
  }
  if (!t.override) {
    if (onlyEnabled(d)) {
      prev.enabled = t.enabled!;
      return;
    }
    throw errAt(loc, 'id', what, alreadyDefined(what, prev));
  }
  for (const k of ['kinds', 'group_by', 'distinct']) if (d[k] !== undefined) throw errAt(loc, k, what, `${k} cannot be overridden; use replace: true`);
  const ov = t.override as OverrideMap;
  applyCommonOverride(prev, { ...d, condition: undefined, window: undefined, count: undefined }, { ...ov, condition: undefined, window: undefined, count: undefined }, loc, what);
  if (ov['condition']) {
    if (t.condition === undefined) throw errAt(loc, ['override', 'condition'], what, 'override names condition but none is given');
    const part = { src: t.condition, loc, key: ['condition'] };
    prev.conditions = ov['condition'] === 'append' ? [...prev.conditions, part] : [part];
  }
  if (ov['window']) prev.def = { ...prev.def, window: t.window };
  if (ov['count']) prev.def = { ...prev.def, count: t.count };
}
