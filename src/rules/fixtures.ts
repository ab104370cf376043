// Rule fixtures: YAML files of short event sequences (as the sensor would produce them) with
// the rules expected to fire and not to fire. `warden rules test` and the unit tests run them.
// Events are written compactly; missing fields are filled in (ts from `at`, proc.exe from
// argv[0], agent and proc defaults), so a fixture reads like the story it tells.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError, lineAt, parseYaml, validateYaml } from '../config/load.js';
import { SEVERITIES, severityRank, type Severity, type UnstampedEvent, type WardenEvent } from '../events/types.js';
import { checkEvent } from '../events/validate.js';
import type { CompiledSet } from './compile.js';
import { Engine } from './engine.js';

const expectation = z.union([
  z.string(),
  z.strictObject({
    rule: z.string(),
    severity: z.enum(SEVERITIES).optional(),
    category: z.string().optional(),
    /** Index of the input event the rule must fire on (derived rules: the event that completed them). */
    event: z.number().int().nonnegative().optional(),
  }),
]);

const fixtureSchema = z.strictObject({
  name: z.string(),
  description: z.string().optional(),
  events: z.array(z.record(z.string(), z.unknown())).min(1),
  expect: z.strictObject({
    fire: z.array(expectation).default([]),
    not_fire: z.array(z.string()).default([]),
    max_severity: z.enum(SEVERITIES).optional(),
  }),
});

const fileSchema = z.strictObject({
  /** A rule file (YAML text) applied on top of the rules under test for this file only. */
  extra_rules: z.string().optional(),
  defaults: z
    .strictObject({
      agent: z.record(z.string(), z.unknown()).optional(),
      proc: z.record(z.string(), z.unknown()).optional(),
      start: z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'expected an ISO date like 2026-01-01T00:00:00Z').optional(),
    })
    .prefault({}),
  fixtures: z.array(fixtureSchema).default([]),
});

export type Fixture = z.infer<typeof fixtureSchema>;

export interface FixtureFile {
  file: string;
  extraRules?: string;
  defaults: z.infer<typeof fileSchema>['defaults'];
  fixtures: Array<Fixture & { line?: number }>;
}

export interface FixtureResult {
  file: string;
  line?: number;
  name: string;
  ok: boolean;
  problems: string[];
  events: WardenEvent[];
}

const DEFAULT_AGENT = { name: 'claude', root_pid: 4000, session: 'claude-4000-fixture', cwd: '/home/dev/project', home: '/home/dev' };
const DEFAULT_START = '2026-01-01T10:00:00.000Z';

const FILE_OPS: Record<string, string> = {
  'file.open': 'read',
  'file.rename': 'rename',
  'file.unlink': 'unlink',
  'file.symlink': 'symlink',
  'file.link': 'link',
  'file.truncate': 'truncate',
  'file.chmod': 'chmod',
  'file.chown': 'chown',
  'file.setxattr': 'setxattr',
  'file.mkdir': 'mkdir',
  'file.utimes': 'utimes',
  'file.lookup': 'lookup',
};

export function loadFixtureFile(file: string): FixtureFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, undefined, undefined, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const parsed = parseYaml(text, file);
  const v = validateYaml(parsed, fileSchema);
  return { file, extraRules: v.extra_rules, defaults: v.defaults, fixtures: v.fixtures.map((f, i) => ({ ...f, line: lineAt(parsed, ['fixtures', i]) })) };
}

export function fixtureFiles(dirOrFiles: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of dirOrFiles) {
    if (fs.existsSync(p) && fs.statSync(p).isDirectory()) {
      for (const n of fs.readdirSync(p).sort()) if (/\.ya?ml$/.test(n)) out.push(path.join(p, n));
    } else out.push(p);
  }
  return out;
}

/** Fills in the fields a fixture event leaves out. */
export function completeEvent(
  raw: Record<string, unknown>,
  i: number,
  defaults: FixtureFile['defaults'],
  sessionSuffix: string,
): UnstampedEvent {
  const ev: Record<string, unknown> = { ...raw };
  const start = Date.parse(defaults.start ?? DEFAULT_START);
  const at = typeof ev['at'] === 'number' ? (ev['at'] as number) : i * 0.1;
  delete ev['at'];
  ev['ts'] ??= new Date(start + Math.round(at * 1000)).toISOString();
  ev['seq'] ??= i + 1;
  ev['severity'] ??= 'info';
  const kind = String(ev['kind'] ?? '');
  if (ev['agent'] !== null) {
    const agent = { ...DEFAULT_AGENT, ...(defaults.agent ?? {}), ...((ev['agent'] as object) ?? {}) } as Record<string, unknown>;
    agent['session'] = `${String(agent['session'])}${sessionSuffix}`;
    ev['agent'] = agent;
  } else delete ev['agent'];
  const agent = ev['agent'] as Record<string, unknown> | undefined;
  if (ev['proc'] !== null && !kind.startsWith('monitor.')) {
    const p = { pid: 4100 + i, ppid: 4000, uid: 1000, ...(defaults.proc ?? {}), ...((ev['proc'] as object) ?? {}) } as Record<string, unknown>;
    if (p['argv'] === undefined) p['argv'] = [typeof p['exe'] === 'string' ? path.basename(p['exe'] as string) : 'sh'];
    const argv = p['argv'] as unknown[];
    if (p['exe'] === undefined) {
      // Not a string: checkEvent() reports the bad argv as this fixture's failure.
      const a0 = typeof argv?.[0] === 'string' ? argv[0] : 'sh';
      p['exe'] = a0.startsWith('/') ? a0 : `/usr/bin/${path.basename(a0)}`;
    }
    p['cwd'] ??= agent?.['cwd'] ?? '/';
    ev['proc'] = p;
  } else delete ev['proc'];
  if (ev['file'] && typeof ev['file'] === 'object') {
    const f = { ...(ev['file'] as object) } as Record<string, unknown>;
    f['op'] ??= FILE_OPS[kind] ?? 'read';
    if (kind === 'file.open' && f['flags'] === undefined) {
      const op = f['op'];
      f['flags'] = op === 'read' ? ['read'] : op === 'write' ? ['write'] : op === 'create' ? ['write', 'create'] : op === 'truncate' ? ['write', 'truncate'] : [];
    }
    ev['file'] = f;
  }
  if (ev['net'] && typeof ev['net'] === 'object') {
    const n = { ...(ev['net'] as object) } as Record<string, unknown>;
    n['proto'] ??= kind === 'net.dns' ? 'udp' : 'tcp';
    if (n['family'] === undefined && typeof n['dst_ip'] === 'string') n['family'] = (n['dst_ip'] as string).includes(':') ? 'inet6' : 'inet';
    ev['net'] = n;
  }
  if (kind === 'net.dns' && ev['dns'] && typeof ev['dns'] === 'object') {
    const d = { qtype: 'A', ...(ev['dns'] as object) } as Record<string, unknown>;
    ev['dns'] = d;
    ev['net'] ??= { proto: 'udp', dst_ip: '127.0.0.53', dst_port: 53 };
  }
  return ev as unknown as UnstampedEvent;
}

/** Runs one fixture against a fresh engine over `set`. */
export function runFixture(set: CompiledSet, file: string, defaults: FixtureFile['defaults'], f: Fixture & { line?: number }, index = 0): FixtureResult {
  const engine = new Engine(set);
  const out: WardenEvent[] = [];
  const problems: string[] = [];
  let seq = 0;
  const firedOn = new Map<string, number[]>(); // rule id -> indexes of the input event
  let inputIndex = -1;
  const emit = (e: UnstampedEvent) => {
    const w = e as WardenEvent;
    w.seq = ++seq;
    out.push(w);
    for (const id of [w.rule, ...(w.also ?? [])]) {
      if (!id) continue;
      const arr = firedOn.get(id) ?? [];
      arr.push(inputIndex);
      firedOn.set(id, arr);
    }
  };
  f.events.forEach((raw, i) => {
    const ev = completeEvent(raw, i, defaults, `-${index}`);
    const bad = checkEvent(ev);
    if (bad) {
      problems.push(`event ${i}: invalid: ${bad}`);
      return;
    }
    inputIndex = i;
    engine.process(ev, emit);
  });
  const fired = new Set(firedOn.keys());
  // A misspelt id in not_fire would pass for ever: every id named must exist (warden.* are built in).
  const known = new Set([...set.rules, ...set.sequences, ...set.thresholds].map((r) => r.id));
  for (const id of [...f.expect.fire.map((x) => (typeof x === 'string' ? x : x.rule)), ...f.expect.not_fire]) {
    if (!known.has(id) && !id.startsWith('warden.')) problems.push(`unknown rule id ${JSON.stringify(id)}: no loaded rule, sequence or threshold has it`);
  }
  for (const x of f.expect.fire) {
    const e = typeof x === 'string' ? { rule: x } : x;
    if (!fired.has(e.rule)) {
      problems.push(`expected ${e.rule} to fire; fired: ${[...fired].join(', ') || 'nothing'}`);
      continue;
    }
    if (e.event !== undefined && !firedOn.get(e.rule)!.includes(e.event)) {
      problems.push(`expected ${e.rule} on event ${e.event}, fired on ${firedOn.get(e.rule)!.join(', ')}`);
    }
    if (e.severity || e.category) {
      const top = out.filter((o) => o.rule === e.rule);
      if (top.length === 0) problems.push(`${e.rule} fired but never as the top rule of an event`);
      else {
        if (e.severity && !top.some((o) => o.severity === e.severity)) problems.push(`${e.rule}: expected severity ${e.severity}, got ${top.map((o) => o.severity).join(', ')}`);
        if (e.category && !top.some((o) => o.category === e.category)) problems.push(`${e.rule}: expected category ${e.category}, got ${top.map((o) => o.category).join(', ')}`);
      }
    }
  }
  for (const id of f.expect.not_fire) if (fired.has(id)) problems.push(`expected ${id} not to fire, but it did (on event ${firedOn.get(id)!.join(', ')})`);
  if (f.expect.max_severity) {
    const max = severityRank(f.expect.max_severity as Severity);
    for (const o of out) {
      if (severityRank(o.severity) > max) problems.push(`max severity ${f.expect.max_severity} exceeded: ${o.severity} ${o.rule ?? ''} on ${o.kind}: ${o.message ?? ''}`);
    }
  }
  const errors = out.filter((o) => o.kind === 'rule.error');
  for (const e of errors) problems.push(`rule error: ${e.message}`);
  return { file, line: f.line, name: f.name, ok: problems.length === 0, problems, events: out };
}

export interface FixtureReport {
  results: FixtureResult[];
  /** Rule ids with at least one fixture expecting them to fire / not to fire. */
  positive: Set<string>;
  negative: Set<string>;
}

/**
 * Runs fixture files against `set`; a file with `extra_rules` runs against
 * `withExtra(file, text)` (the same rules plus that text as one more rule file).
 */
export function runFixtureFiles(set: CompiledSet, files: readonly string[], withExtra?: (file: string, text: string) => CompiledSet): FixtureReport {
  const results: FixtureResult[] = [];
  const positive = new Set<string>();
  const negative = new Set<string>();
  let n = 0;
  for (const file of files) {
    const ff = loadFixtureFile(file);
    let fileSet = set;
    if (ff.extraRules !== undefined) {
      if (!withExtra) throw new ConfigError(file, undefined, 'extra_rules', 'extra rules are not supported here');
      fileSet = withExtra(`${file}#extra_rules`, ff.extraRules);
    }
    for (const f of ff.fixtures) {
      results.push(runFixture(fileSet, file, ff.defaults, f, n++));
      for (const x of f.expect.fire) positive.add(typeof x === 'string' ? x : x.rule);
      for (const x of f.expect.not_fire) negative.add(x);
    }
  }
  return { results, positive, negative };
}
