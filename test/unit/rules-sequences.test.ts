import { describe, expect, it } from 'vitest';
import type { UnstampedEvent, WardenEvent } from '../../src/events/types.js';
import { loadRuleEngine, type RuleEngine } from '../../src/rules/index.js';

const RULES = `
rules:
  - id: secret_read
    kinds: [file.open]
    condition: file.path.under(secret_paths)
    severity: alert
    category: credential_access
    mitre: [T1552.001]
sequences:
  - id: exfil
    window: 30s
    severity: alert
    category: exfiltration
    mitre: [T1041]
    output: "read %read.file.path then %send.net.dst_ip by %send.proc.exe"
    steps:
      - name: read
        rules: [secret_read]
      - name: send
        kinds: [net.connect]
        condition: '!isLoopback(net.dst_ip)'
  - id: dropper
    window: 60
    severity: alert
    category: execution
    mitre: [T1204.002]
    steps:
      - name: write
        kinds: [file.open]
        condition: file.op == "create"
        key: file.path
      - name: chmod
        kinds: [file.chmod]
        condition: hasBits(file.mode, 73)
        key: file.path
      - name: run
        kinds: [process.exec]
        condition: "true"
        key: '[proc.exe, abspath(proc.cwd, size(proc.args) > 0 ? proc.args[0] : "")]'
  - id: pipe
    window: 5s
    ordered: false
    severity: alert
    category: execution
    mitre: [T1059.004]
    steps:
      - name: fetch
        kinds: [process.exec]
        condition: proc.name == "curl"
        key: string(proc.ppid)
      - name: shell
        kinds: [process.exec]
        condition: proc.name == "sh" && size(proc.args) == 0
        key: string(proc.ppid)
thresholds:
  - id: scan
    kinds: [net.connect]
    condition: "true"
    group_by: net.dst_ip
    distinct: string(net.dst_port)
    count: 5
    window: 10s
    severity: alert
    category: discovery
    mitre: [T1046]
`;

function mk(opts: { maxPartials?: number; maxSessions?: number; maxTotal?: number } = {}): RuleEngine {
  return loadRuleEngine({ defaults: false, sources: [{ file: 'seq.yaml', text: RULES }], limits: opts });
}

let t0 = Date.parse('2026-01-01T00:00:00.000Z');

function at(sec: number): string {
  return new Date(t0 + sec * 1000).toISOString();
}

function agent(session: string) {
  return { name: 'claude', root_pid: 1, session, cwd: '/w', home: '/home/dev' };
}

function read(sec: number, session = 's1', path = '/home/dev/.aws/credentials'): UnstampedEvent {
  return { ts: at(sec), kind: 'file.open', severity: 'info', agent: agent(session), proc: { pid: 10, ppid: 1, exe: '/usr/bin/cat', argv: ['cat', path], cwd: '/w', uid: 0 }, file: { path, op: 'read' } };
}
function connect(sec: number, session = 's1', ip = '203.0.113.9', port = 443, exe = '/usr/bin/curl'): UnstampedEvent {
  return { ts: at(sec), kind: 'net.connect', severity: 'info', agent: agent(session), proc: { pid: 11, ppid: 1, exe, argv: [exe], cwd: '/w', uid: 0 }, net: { proto: 'tcp', dst_ip: ip, dst_port: port } };
}
function exec(sec: number, argv: string[], opts: { pid?: number; ppid?: number; exe?: string; cwd?: string; session?: string } = {}): UnstampedEvent {
  return {
    ts: at(sec),
    kind: 'process.exec',
    severity: 'info',
    agent: agent(opts.session ?? 's1'),
    proc: { pid: opts.pid ?? 20, ppid: opts.ppid ?? 1, exe: opts.exe ?? `/usr/bin/${argv[0]}`, argv, cwd: opts.cwd ?? '/w', uid: 0 },
  };
}
function file(sec: number, kind: string, path: string, op: string, mode?: number): UnstampedEvent {
  return { ts: at(sec), kind, severity: 'info', agent: agent('s1'), proc: { pid: 30, ppid: 1, exe: '/bin/sh', argv: ['sh'], cwd: '/w', uid: 0 }, file: { path, op: op as never, ...(mode !== undefined ? { mode } : {}) } };
}

function run(e: RuleEngine, evs: UnstampedEvent[]): WardenEvent[] {
  const out: WardenEvent[] = [];
  let seq = 0;
  for (const x of evs) e.process(x, (o) => {
    (o as WardenEvent).seq = ++seq;
    out.push(o as WardenEvent);
  });
  return out;
}

const derived = (out: WardenEvent[]) => out.filter((o) => o.kind.startsWith('alert.'));

describe('sequence rules', () => {
  it('fires secret read then egress within the window, with both steps and their seq', () => {
    const out = run(mk(), [read(0), connect(1, 's1', '127.0.0.1'), connect(10)]);
    const d = derived(out);
    expect(d).toHaveLength(1);
    const a = d[0]!;
    expect(a.kind).toBe('alert.sequence');
    expect(a.rule).toBe('exfil');
    expect(a.severity).toBe('alert');
    expect(a.category).toBe('exfiltration');
    expect(a.message).toBe('read /home/dev/.aws/credentials then 203.0.113.9 by /usr/bin/curl');
    const steps = a.data!['steps'] as Array<Record<string, unknown>>;
    expect(steps.map((s) => s['step'])).toEqual(['read', 'send']);
    expect(steps[0]!['seq']).toBe(out[0]!.seq);
    expect(steps[0]!['rule']).toBe('secret_read');
    expect(steps[1]!['seq']).toBe(out[2]!.seq);
    expect((steps[1]!['net'] as { dst_ip: string }).dst_ip).toBe('203.0.113.9');
    expect(a.data!['window_s']).toBe(30);
    expect(a.seq).toBeGreaterThan(out[2]!.seq);
  });

  it('does not fire outside the window or in the wrong order', () => {
    expect(derived(run(mk(), [read(0), connect(31)]))).toHaveLength(0);
    expect(derived(run(mk(), [connect(0), read(1)]))).toHaveLength(0);
  });

  it('keeps sessions apart and does not fire for events without an agent', () => {
    expect(derived(run(mk(), [read(0, 'a'), connect(1, 'b')]))).toHaveLength(0);
    const noAgent = connect(1);
    delete noAgent.agent;
    expect(derived(run(mk(), [read(0), noAgent]))).toHaveLength(0);
    expect(derived(run(mk(), [read(0, 'a'), read(0, 'b'), connect(1, 'b'), connect(2, 'a')]))).toHaveLength(2);
  });

  it('fires once per completed match, then needs a new first step', () => {
    const out = run(mk(), [read(0), connect(1), connect(2), read(3), connect(4)]);
    expect(derived(out)).toHaveLength(2);
  });

  it('joins steps on keys (write, chmod +x, exec of the same file), including relative script paths', () => {
    const e = mk();
    const out = run(e, [
      file(0, 'file.open', '/tmp/a.sh', 'create'),
      file(1, 'file.open', '/tmp/b.sh', 'create'),
      file(2, 'file.chmod', '/tmp/b.sh', 'chmod', 0o755),
      exec(3, ['a.sh'], { exe: '/tmp/a.sh' }),
      exec(4, ['bash', 'b.sh'], { exe: '/usr/bin/bash', cwd: '/tmp' }),
    ]);
    const d = derived(out);
    expect(d).toHaveLength(1);
    expect((d[0]!.data!['steps'] as Array<{ file?: { path: string } }>)[0]!.file!.path).toBe('/tmp/b.sh');
    expect(d[0]!.data!['key']).toBe('/tmp/b.sh');
  });

  it('matches unordered steps in either order, keyed by parent pid', () => {
    expect(derived(run(mk(), [exec(0, ['sh'], { pid: 5, ppid: 50 }), exec(0.1, ['curl', 'http://x'], { pid: 6, ppid: 50 })]))).toHaveLength(1);
    expect(derived(run(mk(), [exec(0, ['curl', 'http://x'], { pid: 6, ppid: 50 }), exec(0.1, ['sh'], { pid: 5, ppid: 50 })]))).toHaveLength(1);
    expect(derived(run(mk(), [exec(0, ['curl', 'http://x'], { pid: 6, ppid: 50 }), exec(0.1, ['sh'], { pid: 5, ppid: 51 })]))).toHaveLength(0);
    expect(derived(run(mk(), [exec(0, ['curl', 'http://x'], { pid: 6, ppid: 50 }), exec(6, ['sh'], { pid: 5, ppid: 50 })]))).toHaveLength(0);
  });

  it('bounds partial matches per session: the oldest are evicted first', () => {
    const e = mk({ maxPartials: 4 });
    const evs: UnstampedEvent[] = [];
    for (let i = 0; i < 10; i++) evs.push(file(0, 'file.open', `/tmp/f${i}`, 'create'));
    evs.push(file(1, 'file.chmod', '/tmp/f0', 'chmod', 0o755), exec(2, ['f0'], { exe: '/tmp/f0' }));
    evs.push(file(1, 'file.chmod', '/tmp/f9', 'chmod', 0o755), exec(2, ['f9'], { exe: '/tmp/f9' }));
    const d = derived(run(e, evs));
    expect(d.map((x) => x.data!['key'])).toEqual(['/tmp/f9']);
    const s = e.stats();
    expect(s['correlation_evicted']).toBeGreaterThanOrEqual(6);
    expect(s['correlation_partials']).toBeLessThanOrEqual(4);
  });

  it('bounds sessions and total state under a flood of distinct sessions', () => {
    const e = mk({ maxSessions: 50, maxTotal: 200 });
    for (let i = 0; i < 5000; i++) {
      const ev = read(i / 1000, `sess-${i}`);
      e.process(ev, () => {});
    }
    const s = e.stats();
    expect(s['correlation_sessions']).toBeLessThanOrEqual(50);
    expect(s['correlation_partials']).toBeLessThanOrEqual(200);
    // the most recent sessions still correlate
    const out = run(e, [connect(6, 'sess-4999')]);
    expect(derived(out)).toHaveLength(1);
  });

  it('expires stale partial matches during long runs', () => {
    const e = mk();
    for (let i = 0; i < 20000; i++) e.process(read(i * 0.01, `x${i % 100}`), () => {});
    e.process(connect(1000, 'x1'), () => {});
    const s = e.stats();
    expect(s['correlation_partials']).toBeLessThanOrEqual(100);
  });

  it('forgets a session when its agent exits', () => {
    const e = mk();
    const exit: UnstampedEvent = { ts: at(1), kind: 'agent.exit', severity: 'info', agent: agent('s1'), exit: { code: 0 } };
    expect(derived(run(e, [read(0), exit, connect(2)]))).toHaveLength(0);
  });
});

describe('threshold rules', () => {
  it('fires once when enough distinct values are seen in the window, then stays quiet for the window', () => {
    const evs: UnstampedEvent[] = [];
    for (let p = 1; p <= 12; p++) evs.push(connect(p * 0.1, 's1', '127.0.0.1', p));
    const out = run(mk(), evs);
    const d = out.filter((o) => o.kind === 'alert.threshold');
    expect(d).toHaveLength(1);
    expect(d[0]!.rule).toBe('scan');
    expect(d[0]!.data!['count']).toBe(5);
    expect(d[0]!.data!['group']).toBe('127.0.0.1');
  });

  it('counts distinct values only and per group', () => {
    const evs: UnstampedEvent[] = [];
    for (let i = 0; i < 20; i++) evs.push(connect(i * 0.1, 's1', '127.0.0.1', 80));
    for (let p = 1; p <= 4; p++) evs.push(connect(3, 's1', '127.0.0.2', p));
    expect(run(mk(), evs).filter((o) => o.kind === 'alert.threshold')).toHaveLength(0);
  });
});
