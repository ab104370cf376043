// Replays recorded NDJSON events through a rule engine, straight from Buffers.
//
// Speed comes from not parsing what cannot matter. When the caller only needs counts or
// events at warn and above, each line's `kind` and `severity` are located with byte searches
// (each key must occur exactly once in the line, so it is the top-level one); lines of kinds no rule
// looks at are only counted, and for the other kinds a per-kind regex of literals (at least
// one of which occurs in every line a rule of that kind could match, derived from the rule
// conditions) decides whether the line is decoded, parsed, validated and classified. Lines
// that already carry a warn/alert verdict, or whose layout is unusual, are always parsed.
// Skipped lines are only checked for being a `{...}` line. `strict` parses every line.
//
// Never throws on input: malformed lines (bad JSON, invalid event, over-long) are counted,
// with the first few kept as samples.
import type { UnstampedEvent } from '../events/types.js';
import { checkEvent } from '../events/validate.js';
import { trieRegexSource, type RuleEngine } from './engine.js';
import { PROBES, type ProbeName } from './literals.js';

export interface ReplayStats {
  /** Non-empty lines seen. */
  lines: number;
  /** Lines parsed, validated and run through the rules. */
  processed: number;
  /** Lines the prefilter proved no rule could match (counted, not parsed). */
  skipped: number;
  malformed: number;
  /** Derived events in the input (alert.sequence, rule.error...), dropped: they are re-derived. */
  derivedDropped: number;
  /** Events emitted (processed events plus new derived ones). */
  emitted: number;
  samples: Array<{ line: number; error: string }>;
}

export interface ReplayOptions {
  /** Parse every line (no prefilter); needed when every event is written out. */
  strict?: boolean;
  /** Longest accepted line in bytes (longer lines are counted as malformed). */
  maxLineBytes?: number;
}

const DERIVED = new Set(['alert.sequence', 'alert.threshold', 'rule.error']);
const KIND = '"kind":"';
const SEVERITY = '"severity":"';
/** The head of a line as Warden writes it: one sticky match instead of several searches. */
const HEAD = /\{"ts":"[^"\\]*",(?:"seq":\d+,)?"kind":"([a-z0-9_.]+)","severity":"([a-z]+)"[,}]/y;

/**
 * Clears the verdict of a previous run (rule fields). Severities Warden's own components set
 * (sensor, sinks, API: no rule, or a reserved `warden.` rule id) are kept.
 */
export function stripVerdict(ev: UnstampedEvent): void {
  if (ev.rule !== undefined && ev.rule.startsWith('warden.')) return;
  if (ev.rule !== undefined) {
    ev.severity = 'info';
    delete ev.rule;
    delete ev.message;
  }
  delete ev.category;
  delete ev.mitre;
  delete ev.also;
}

/**
 * A kind's filter, compiled: one regex of the first (rarest) literal set of every term finds
 * candidate literals in a line; only the terms those literals belong to are then checked in
 * full (their second set, their probe). Terms without literals are probe-only.
 */
interface KindTest {
  /** Quick reject: any entry literal at all (most lines have none). */
  any: RegExp | undefined;
  entry: RegExp | undefined;
  /** matched literal → literals in the entry set that start with it (the trie stops at the shortest). */
  extend: Map<string, string[]>;
  /** entry literal → terms (index) whose first set contains it. */
  byLit: Map<string, number[]>;
  terms: Array<{ rest: RegExp[]; probe: ((s: string, a: number, e: number) => boolean) | undefined }>;
  probeOnly: number[];
}

function compileKindTest(spec: { terms: Array<{ sets: string[][]; probe?: ProbeName }> }): KindTest {
  const byLit = new Map<string, number[]>();
  const probeOnly: number[] = [];
  const terms = spec.terms.map((t, i) => {
    if (t.sets.length === 0) probeOnly.push(i);
    else for (const l of t.sets[0]!) (byLit.get(l) ?? byLit.set(l, []).get(l)!).push(i);
    return { rest: t.sets.slice(1).map((set) => new RegExp(trieRegexSource([...set].sort()))), probe: t.probe ? PROBES[t.probe] : undefined };
  });
  const lits = [...byLit.keys()].sort();
  const extend = new Map<string, string[]>();
  for (const l of lits) for (const p of lits) if (l.startsWith(p)) (extend.get(p) ?? extend.set(p, []).get(p)!).push(l);
  const src = lits.length ? trieRegexSource(lits) : undefined;
  return { any: src ? new RegExp(src) : undefined, entry: src ? new RegExp(src, 'g') : undefined, extend, byLit, terms, probeOnly };
}

function testKind(f: KindTest, s: string, a: number, e: number): boolean {
  for (const i of f.probeOnly) if (f.terms[i]!.probe!(s, a, e)) return true;
  const entry = f.entry;
  if (entry === undefined) return false;
  const line = s.slice(a, e);
  if (!f.any!.test(line)) return false;
  entry.lastIndex = 0;
  let checked: Set<number> | undefined;
  for (let m = entry.exec(line); m !== null; m = entry.exec(line)) {
    for (const lit of f.extend.get(m[0]) ?? [m[0]]) {
      if (lit !== m[0] && !line.startsWith(lit, m.index)) continue;
      for (const ti of f.byLit.get(lit) ?? []) {
        if (checked?.has(ti)) continue;
        (checked ??= new Set()).add(ti);
        const t = f.terms[ti]!;
        if (t.rest.every((re) => re.test(line)) && (t.probe === undefined || t.probe(s, a, e))) return true;
      }
    }
    // literals may overlap (a path literal inside a "path":"… one): resume right after the start
    entry.lastIndex = m.index + 1;
  }
  return false;
}

export class Replayer {
  readonly stats: ReplayStats = { lines: 0, processed: 0, skipped: 0, malformed: 0, derivedDropped: 0, emitted: 0, samples: [] };
  /** kind → null (parse all) or tests (parse when one passes); kinds absent: skip. undefined: no prefilter. */
  private readonly filter: Map<string, KindTest | null> | undefined;
  private carry: Buffer | undefined;
  private readonly maxLine: number;
  private readonly emitCounted: (e: UnstampedEvent) => void;

  constructor(
    private readonly engine: RuleEngine,
    emit: (e: UnstampedEvent) => void,
    opts: ReplayOptions = {},
  ) {
    this.maxLine = opts.maxLineBytes ?? 16 * 1024 * 1024;
    if (!opts.strict) {
      this.filter = new Map();
      for (const [kind, f] of engine.lineFilter().kinds) this.filter.set(kind, f === null ? null : compileKindTest(f));
    }
    this.emitCounted = (e) => {
      this.stats.emitted++;
      emit(e);
    };
  }

  get prefiltering(): boolean {
    return this.filter !== undefined;
  }

  private bad(error: string): void {
    this.stats.malformed++;
    if (this.stats.samples.length < 5) this.stats.samples.push({ line: this.stats.lines, error });
  }

  /** Feeds the next bytes of the file (any split). */
  push(chunk: Buffer): void {
    let start = 0;
    if (this.carry) {
      // finish the line left over from the previous chunk without copying this chunk
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        this.keep(Buffer.concat([this.carry, chunk]));
        return;
      }
      const line = Buffer.concat([this.carry, chunk.subarray(0, nl + 1)]);
      this.carry = undefined;
      this.lines(line, 0, line.length);
      start = nl + 1;
    }
    const last = chunk.lastIndexOf(10);
    if (last < start) {
      if (start < chunk.length) this.keep(chunk.subarray(start));
      return;
    }
    this.lines(chunk, start, last + 1);
    if (last + 1 < chunk.length) this.keep(chunk.subarray(last + 1));
  }

  /** Ends the input (a last line without newline is processed). */
  end(): ReplayStats {
    if (this.carry && this.carry.length) {
      const b = this.carry;
      this.carry = undefined;
      this.lines(Buffer.concat([b, Buffer.from('\n')]), 0, b.length + 1);
    }
    return this.stats;
  }

  private keep(rest: Buffer): void {
    if (rest.length > this.maxLine) {
      // an over-long line: drop what we have and resynchronise at the next newline
      this.stats.lines++;
      this.bad(`line longer than ${this.maxLine} bytes`);
      this.carry = undefined;
      this.skipToNewline = true;
      return;
    }
    this.carry = Buffer.from(rest);
  }

  private skipToNewline = false;

  /** Processes complete lines in buf[start, end) (end is just after a newline). */
  private lines(buf: Buffer, start: number, end: number): void {
    if (this.skipToNewline) {
      const nl = buf.indexOf(10, start);
      this.skipToNewline = false;
      start = nl + 1;
      if (start >= end) return;
    }
    const filter = this.filter;
    if (filter === undefined) {
      let pos = start;
      while (pos < end) {
        let nl = buf.indexOf(10, pos);
        if (nl < 0 || nl >= end) nl = end;
        this.parseLine(buf, pos, nl);
        pos = nl + 1;
      }
      return;
    }
    // One latin1 view of the chunk: string offsets are byte offsets, and V8's string search
    // is much cheaper per call than Buffer.indexOf.
    const s = buf.toString('latin1', start, end);
    let pos = 0;
    const n = s.length;
    while (pos < n) {
      let nl = s.indexOf('\n', pos);
      if (nl < 0) nl = n;
      if (this.mustParse(s, pos, nl, filter)) this.parseLine(buf, start + pos, start + nl);
      pos = nl + 1;
    }
  }

  /** Decides from the raw line s[a, b) whether it may need classification; counts it if not. */
  private mustParse(s: string, a: number, b: number, filter: Map<string, KindTest | null>): boolean {
    let e = b;
    if (e > a && s.charCodeAt(e - 1) === 13) e--;
    if (e <= a) return false; // blank line
    if (s.charCodeAt(a) !== 123 || s.charCodeAt(e - 1) !== 125) return true; // not {...}: parse to report it
    let kind: string;
    HEAD.lastIndex = a;
    const head = HEAD.exec(s);
    if (head !== null && HEAD.lastIndex <= e) {
      if (head[2] !== 'info') return true; // carries a verdict
      kind = head[1]!;
    } else {
      const k2 = this.kindOf(s, a, e);
      if (k2 === undefined) return true;
      kind = k2;
    }
    const f = filter.get(kind);
    let parse: boolean;
    if (f === undefined) parse = false;
    else if (f === null) parse = true;
    else parse = testKind(f, s, a, e);
    if (!parse) {
      this.stats.lines++;
      this.stats.skipped++;
    }
    return parse;
  }

  /** The kind of an info line in another key order; undefined when the line must be parsed. */
  private kindOf(s: string, a: number, e: number): string | undefined {
    // The key found must be the top-level one: either no object opens before it, or it
    // occurs only once in the line.
    const k = s.indexOf(KIND, a);
    if (k < 0 || k >= e) return undefined;
    if (s.lastIndexOf('{', k) !== a) {
      const k2 = s.indexOf(KIND, k + KIND.length);
      if (k2 >= 0 && k2 < e) return undefined;
    }
    const kStart = k + KIND.length;
    const kEnd = s.indexOf('"', kStart);
    if (kEnd < 0 || kEnd >= e) return undefined;
    const sv = s.indexOf(SEVERITY, a);
    if (sv < 0 || sv >= e) return undefined;
    if (s.lastIndexOf('{', sv) !== a) {
      const sv2 = s.indexOf(SEVERITY, sv + SEVERITY.length);
      if (sv2 >= 0 && sv2 < e) return undefined;
    }
    if (!s.startsWith('info"', sv + SEVERITY.length)) return undefined; // carries a verdict
    return s.slice(kStart, kEnd);
  }

  private parseLine(buf: Buffer, a: number, b: number): void {
    let e = b;
    if (e > a && buf[e - 1] === 13) e--;
    if (e <= a) return;
    this.stats.lines++;
    if (e - a > this.maxLine) {
      this.bad(`line longer than ${this.maxLine} bytes`);
      return;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(buf.toString('utf8', a, e));
    } catch (err) {
      this.bad(`not JSON: ${(err as Error).message}`);
      return;
    }
    const problem = checkEvent(raw);
    if (problem) {
      this.bad(problem);
      return;
    }
    const ev = raw as UnstampedEvent;
    if (DERIVED.has(ev.kind)) {
      this.stats.derivedDropped++;
      return;
    }
    stripVerdict(ev);
    this.stats.processed++;
    this.engine.process(ev, this.emitCounted);
  }
}
