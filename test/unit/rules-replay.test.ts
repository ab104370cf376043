import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateEvents } from '../../src/bench/event-gen.js';
import { parseEventLine } from '../../src/events/schema.js';
import type { UnstampedEvent, WardenEvent } from '../../src/events/types.js';
import { checkEvent } from '../../src/events/validate.js';
import { compileRules } from '../../src/rules/index.js';
import { Engine } from '../../src/rules/engine.js';
import { Replayer } from '../../src/rules/replay.js';

const compiled = compileRules({});

function replay(text: string | Buffer, opts: { strict?: boolean; chunk?: number } = {}) {
  const out: UnstampedEvent[] = [];
  const r = new Replayer(new Engine(compiled), (e) => out.push(e), { strict: opts.strict });
  const buf = typeof text === 'string' ? Buffer.from(text) : text;
  const step = opts.chunk ?? buf.length;
  for (let i = 0; i < buf.length; i += step) r.push(buf.subarray(i, Math.min(buf.length, i + step)));
  return { stats: r.end(), out };
}

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
        const sig = (out: UnstampedEvent[]) =>
          out.filter((e) => e.severity !== 'info' || e.kind.startsWith('alert.')).map((e) => `${e.kind}|${e.severity}|${e.rule}|${e.message}`);
        expect(sig(b.out)).toEqual(sig(a.out));
        expect(b.stats.lines).toBe(a.stats.lines);
        expect(b.stats.skipped).toBeGreaterThan(0);
      }),
      { numRuns: 8 },
    );
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
