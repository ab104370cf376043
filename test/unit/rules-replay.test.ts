import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateEvents } from '../../src/bench/event-gen.js';
import { parseEventLine } from '../../src/events/schema.js';
import type { UnstampedEvent, WardenEvent } from '../../src/events/types.js';
import { checkEvent } from '../../src/events/validate.js';
import { stepLits } from '../../src/rules/compile.js';
import { compileRules } from '../../src/rules/index.js';
import { Engine } from '../../src/rules/engine.js';
import { Replayer } from '../../src/rules/replay.js';

const compiled = compileRules({});

function replay(text: string | Buffer, opts: { strict?: boolean; chunk?: number; rules?: typeof compiled } = {}) {
  const out: UnstampedEvent[] = [];
  const r = new Replayer(new Engine(opts.rules ?? compiled), (e) => out.push(e), { strict: opts.strict });
  const buf = typeof text === 'string' ? Buffer.from(text) : text;
  const step = opts.chunk ?? buf.length;
  for (let i = 0; i < buf.length; i += step) r.push(buf.subarray(i, Math.min(buf.length, i + step)));
  return { stats: r.end(), out };
}

/** What a replay decided: verdicts and derived alerts, in order. */
const sig = (out: UnstampedEvent[]) =>
  out.filter((e) => e.severity !== 'info' || e.kind.startsWith('alert.')).map((e) => `${e.kind}|${e.severity}|${e.rule}|${e.message}`);

const good = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    ts: '2026-01-01T00:00:00.000Z',
    seq: 1,
    kind: 'file.open',
    severity: 'info',
    agent: { name: 'claude', root_pid: 1, session: 's', cwd: '/w', home: '/home/dev' },
    proc: { pid: 2, ppid: 1, exe: '/usr/bin/cat', argv: ['cat'], cwd: '/w', uid: 0 },
    file: { path: '/home/dev/.aws/credentials', op: 'read', flags: ['read'] },
    ...over,
  });

describe('replay', () => {
  it('counts malformed lines and keeps going', () => {
    const text = [
      good(),
      '{"truncated": ',
      'not json at all',
      '[1,2,3]',
      JSON.stringify({ ts: 'yesterday', seq: 1, kind: 'file.open', severity: 'info' }),
      JSON.stringify({ ts: '2026-01-01T00:00:00Z', seq: 1, kind: 'file.open', severity: 'info', proc: { pid: 'x' } }),
      '',
      good({ seq: 2 }),
    ].join('\n');
    for (const strict of [true, false]) {
      const { stats, out } = replay(text, { strict });
      // the prefilter only checks the framing of the lines it skips
      if (strict) expect(stats.malformed).toBe(5);
      else expect(stats.malformed).toBeGreaterThanOrEqual(3);
      expect(out.filter((e) => e.severity === 'alert')).toHaveLength(2);
      expect(stats.samples.length).toBeGreaterThan(0);
    }
  });

  it('strips the verdict of a previous run and drops derived events', () => {
    const text = [
      good({ severity: 'alert', rule: 'old_rule', category: 'impact', mitre: ['T1'], message: 'old', also: ['x'] }),
      JSON.stringify({ ts: '2026-01-01T00:00:00.000Z', seq: 3, kind: 'alert.sequence', severity: 'alert', rule: 'seq_x', data: { steps: [] } }),
      good({ seq: 4, kind: 'process.exec', file: undefined, proc: { pid: 3, ppid: 1, exe: '/usr/bin/ls', argv: ['ls'], cwd: '/w', uid: 0 }, severity: 'warn', rule: 'old' }),
    ].join('\n');
    const { stats, out } = replay(text);
    expect(stats.derivedDropped).toBe(1);
    expect(out[0]!.rule).toBe('cred_read_cloud_credentials');
    expect(out[0]!.also).toBeUndefined();
    expect(out[1]!.severity).toBe('info');
    expect(out[1]!.rule).toBeUndefined();
    expect(out[1]!.message).toBeUndefined();
  });

  it('handles CRLF, a last line without newline, and an over-long line', () => {
    const long = good({ data: { blob: 'x'.repeat(5000) } });
    const r = new Replayer(new Engine(compiled), () => {}, { maxLineBytes: 1000 });
    r.push(Buffer.from(good() + '\r\n' + long.slice(0, 2000)));
    r.push(Buffer.from(long.slice(2000) + '\n' + good({ seq: 9 })));
    const s = r.end();
    expect(s.lines).toBe(3);
    expect(s.malformed).toBe(1);
    expect(s.processed).toBe(2);
  });

  it('gives the same classification with and without the prefilter, whatever the chunking (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 50, max: 100000 }), (seed, chunk) => {
        const lines: string[] = [];
        for (const ev of generateEvents(3000, seed)) lines.push(JSON.stringify(ev));
        const text = lines.join('\n') + '\n';
        const a = replay(text, { strict: true });
        const b = replay(text, { strict: false, chunk });
        expect(sig(b.out)).toEqual(sig(a.out));
        expect(b.stats.lines).toBe(a.stats.lines);
        expect(b.stats.skipped).toBeGreaterThan(0);
      }),
      { numRuns: 8 },
    );
  });

  // Regression: the stage step of seq_secret_staged_then_egress is
  // `(file_write_open || kind == "file.rename") && (in_tmp || in_workspace)`. On file.rename it
  // folds to `in_tmp || in_workspace`, which requires no literal (null), and stepLits read that
  // null as "never": the rename of seq 938 into the project was skipped, and the alert named a
  // later write (vite.config.ts) instead of src/index.ts. The property test found it ~1 run in 6.
  it('parses the rename into the project that a sequence step needs (generateEvents seed 33)', () => {
    const text = [...generateEvents(3000, 33)].map((e) => JSON.stringify(e)).join('\n') + '\n';
    const a = replay(text, { strict: true });
    const staged = (out: UnstampedEvent[]) => out.filter((e) => e.rule === 'seq_secret_staged_then_egress').map((e) => e.message);
    expect(staged(a.out).some((m) => m?.includes('staged to /home/dev/project/src/index.ts'))).toBe(true);
    for (const chunk of [undefined, 50, 4096, 65536]) {
      const b = replay(text, { chunk });
      expect(sig(b.out)).toEqual(sig(a.out));
      expect(b.stats.skipped).toBeGreaterThan(0);
    }
  });

  describe('a step condition that folds to a literal-free test on one kind', () => {
    const RULES = `
macros:
  - name: in_ws
    condition: has(agent.cwd) && agent.cwd != "/" && file.path.under(agent.cwd)
rules:
  - id: secret_read
    kinds: [file.open]
    condition: file.path.endsWith("/.aws/credentials")
    severity: alert
    category: credential_access
    mitre: [T1552.001]
sequences:
  - id: staged
    window: 60s
    severity: alert
    category: exfiltration
    mitre: [T1041]
    output: "staged %stage.file.path"
    steps:
      - name: read
        rules: [secret_read]
      - name: stage
        kinds: [file.open, file.rename]
        condition: (file.op == "write" || kind == "file.rename") && in_ws
      - name: send
        kinds: [net.connect]
        condition: net.dst_port == 443
`;
    // A step naming a rule whose condition requires no literal on the kind (kept apart: the
    // rule's own filter would make every rename parsed and hide a wrong step derivation).
    const BY_RULE = `
rules:
  - id: ws_rename
    kinds: [file.rename]
    condition: in_ws
    severity: info
sequences:
  - id: by_rule
    window: 60s
    severity: warn
    category: exfiltration
    mitre: [T1041]
    steps:
      - name: rename
        rules: [ws_rename]
      - name: send
        kinds: [net.connect]
        condition: net.dst_port == 443
`;
    const rules = compileRules({ defaults: false, sources: [{ file: 'shape.yaml', text: RULES }] });
    const withRule = compileRules({ defaults: false, sources: [{ file: 'shape.yaml', text: RULES }, { file: 'by-rule.yaml', text: BY_RULE }] });

    it('derives "parse every line" for that kind, not "parse none"', () => {
      const stage = rules.sequences.find((q) => q.id === 'staged')!.steps[1]!;
      expect(stepLits(rules, stage, 'file.rename')).toBeNull();
      expect(stepLits(rules, stage, 'file.open')).not.toBeNull(); // still selective on "write"
      // a step that names a rule whose condition requires no literal on the kind
      const byRule = withRule.sequences.find((q) => q.id === 'by_rule')!.steps[0]!;
      expect(stepLits(withRule, byRule, 'file.rename')).toBeNull();
      // ...and a kind the rule does not apply to stays "never"
      expect(stepLits(withRule, byRule, 'file.open')).toMatchObject({ t: 'set', lits: [] });
      expect(new Engine(rules).lineFilter().kinds.get('file.rename')).toBeNull();
    });

    it('raises the same alert with and without the prefilter', () => {
      const agent = { name: 'claude', root_pid: 1, session: 's', cwd: '/w', home: '/home/dev' };
      const proc = { pid: 2, ppid: 1, exe: '/usr/bin/node', argv: ['node'], cwd: '/w', uid: 1000 };
      const ev = (seq: number, kind: string, rest: Record<string, unknown>) =>
        JSON.stringify({ ts: `2026-01-01T00:00:0${seq}.000Z`, seq, kind, severity: 'info', agent, proc, ...rest });
      const text =
        [
          ev(1, 'file.open', { file: { path: '/home/dev/.aws/credentials', op: 'read', flags: ['read'] } }),
          ev(2, 'file.rename', { file: { path: '/w/src/index.ts', src: '/w/.tmp-1', op: 'rename' } }),
          ev(3, 'file.open', { file: { path: '/w/notes.txt', op: 'read', flags: ['read'] } }),
          ev(4, 'net.connect', { net: { proto: 'tcp', family: 'inet', dst_ip: '203.0.113.9', dst_port: 443 } }),
        ].join('\n') + '\n';
      const a = replay(text, { strict: true, rules });
      const b = replay(text, { rules });
      expect(sig(a.out)).toContain('alert.sequence|alert|staged|staged /w/src/index.ts');
      expect(sig(b.out)).toEqual(sig(a.out));
      expect(b.stats.skipped).toBe(1); // the read inside /w: no rule or step can match it
      const c = replay(text, { strict: true, rules: withRule });
      expect(sig(c.out).some((x) => x.startsWith('alert.sequence|warn|by_rule|'))).toBe(true);
      expect(sig(replay(text, { rules: withRule }).out)).toEqual(sig(c.out));
    });
  });
});

const str = fc.oneof(fc.string(), fc.constantFrom('/home/dev/.ssh/id_rsa', '/tmp/x', '/etc/shadow', 'curl', '-c', '/dev/tcp/1.2.3.4/80', '..', ''));
const arbEvent = fc.record(
  {
    ts: fc.constant('2026-01-01T00:00:00.000Z'),
    seq: fc.nat(),
    kind: fc.constantFrom('file.open', 'process.exec', 'net.connect', 'net.dns', 'file.chmod', 'file.rename', 'process.ptrace', 'process.rename', 'file.unlink', 'net.send', 'file.setxattr'),
    severity: fc.constant('info'),
    agent: fc.record({ name: fc.constantFrom('claude', 'aider', 'x'), root_pid: fc.nat(), session: fc.constantFrom('a', 'b'), cwd: str, home: str }, { requiredKeys: ['name', 'root_pid', 'session'] }),
    proc: fc.record({ pid: fc.nat(), ppid: fc.nat(), exe: str, argv: fc.array(str, { maxLength: 6 }), cwd: str, uid: fc.nat() }),
    file: fc.record({ path: str, op: fc.constantFrom('read', 'write', 'create', 'truncate', 'chmod', 'rename'), flags: fc.array(fc.constantFrom('read', 'write', 'directory')), mode: fc.nat(), src: str, xattr: str }, { requiredKeys: ['path', 'op'] }),
    net: fc.record({ proto: fc.constantFrom('tcp', 'udp', 'unix'), dst_ip: fc.oneof(fc.ipV4(), fc.ipV6(), str), dst_port: fc.nat(65535), host: str, path: str }, { requiredKeys: ['proto'] }),
    dns: fc.record({ query: str, qtype: fc.constantFrom('A', 'TXT') }),
    data: fc.dictionary(fc.constantFrom('filename', 'ld_preload', 'new_comm', 'request_name', 'target_pid', 'x'), fc.oneof(str, fc.integer(), fc.boolean(), fc.constant(null))),
  },
  { requiredKeys: ['ts', 'seq', 'kind', 'severity'] },
);

describe('engine robustness (property)', () => {
  it('never throws and never disables a default rule on valid events', () => {
    const engine = new Engine(compiled);
    fc.assert(
      fc.property(fc.array(arbEvent, { minLength: 1, maxLength: 20 }), (evs) => {
        for (const raw of evs) {
          const ev = JSON.parse(JSON.stringify(raw)) as WardenEvent;
          if (checkEvent(ev) !== undefined) continue;
          const out: UnstampedEvent[] = [];
          engine.process(ev, (e) => out.push(e));
          expect(out.filter((e) => e.kind === 'rule.error').map((e) => e.message)).toEqual([]);
        }
      }),
      { numRuns: 300 },
    );
    expect(engine.stats()['errors']).toBe(0);
  });

  it('the fast validator never accepts what the schema rejects', () => {
    fc.assert(
      fc.property(fc.oneof(arbEvent, fc.anything()), (raw) => {
        const line = JSON.stringify(raw);
        if (line === undefined) return;
        let parsed: unknown;
        try {
          parsed = JSON.parse(line);
        } catch {
          return;
        }
        if (checkEvent(parsed) === undefined) expect(parseEventLine(line).ok).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
