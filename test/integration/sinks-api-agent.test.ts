// A process inside an agent's tree (root argv[0] `claude`, a grandchild client) tries every
// state-changing API call: each is refused and reported as a warn event attributed to the
// agent; its read-only calls still work; the same calls from outside the tree succeed.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchConfigSchema } from '../../src/config/watch-config.js';
import { Dispatcher } from '../../src/events/dispatcher.js';
import type { AgentRef, WardenEvent } from '../../src/events/types.js';
import { connectApi } from '../../src/sinks/api-client.js';
import { MUTATING_METHODS } from '../../src/sinks/api-server.js';
import { createReporting, type MonitorControl, type Reporting } from '../../src/sinks/control.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-apiagent-'));
fs.chmodSync(tmp, 0o700);
const sock = path.join(tmp, 'run', 'warden.sock');
const dist = path.resolve('dist/sinks/api-client.js');

function ppidOf(pid: number): number | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Stand-in for the lead's process model: is `pid` a descendant of a known agent root? */
function treeModel(roots: Map<number, AgentRef>) {
  return (pid: number): AgentRef | undefined => {
    for (let p: number | undefined = pid, i = 0; p && p > 1 && i < 64; p = ppidOf(p), i++) {
      const a = roots.get(p);
      if (a) return a;
    }
    return undefined;
  };
}

let root: ChildProcess | undefined;
let rep: Reporting;
const d = new Dispatcher();
const seen: WardenEvent[] = [];
const roots = new Map<number, AgentRef>();
const calls: string[] = [];

beforeAll(async () => {
  const ctl: MonitorControl = {
    sessions: () => [],
    agentOf: treeModel(roots),
    stats: () => ({}),
    reloadRules: async () => (calls.push('reload'), { ok: true }),
    emit: (ev) => void d.emit(ev),
    kill: async (s) => (calls.push(`kill:${s}`), { ok: true }),
    freeze: async (s, frozen) => (calls.push(`${frozen ? 'freeze' : 'resume'}:${s}`), { ok: true }),
    limit: async (s) => (calls.push(`limit:${s}`), { ok: true }),
  };
  d.addSink({ name: 'test', write: (e) => void seen.push(e), flush: async () => {}, close: async () => {} });
  rep = await createReporting(watchConfigSchema.parse({ output: { file: path.join(tmp, 'events.ndjson') }, api: { socket: sock }, sinks: { notify: { enabled: false } } }), ctl);
  d.addSink(rep.sink);
});

afterAll(async () => {
  if (root?.pid) {
    try {
      process.kill(root.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await rep?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('control API vs. an agent process tree', () => {
  it('refuses every mutating call from a grandchild of `claude`, reports each, allows reads', async () => {
    const client = path.join(tmp, 'client.mjs');
    fs.writeFileSync(
      client,
      `import { connectApi } from ${JSON.stringify(dist)};
const c = await connectApi(process.argv[2]);
const out = { pid: process.pid, ppid: process.ppid, results: {} };
for (const m of ${JSON.stringify([...MUTATING_METHODS])}) {
  try { out.results[m] = { ok: await c.call(m, { session: 's-agent', seq: 1, memory_high: 1048576 }) }; }
  catch (e) { out.results[m] = { code: e.code, message: e.message }; }
}
try { out.ping = await c.call('ping'); } catch (e) { out.ping = { error: e.message }; }
try { out.query = (await c.call('events.query', { limit: 1 })).events.length; } catch (e) { out.query = { error: e.message }; }
process.stdout.write(JSON.stringify(out) + '\\n');
c.close();
`,
    );
    // The agent root: argv[0] "claude" (bash exec -a), which runs a shell, which runs the client.
    root = spawn('bash', ['-c', `exec -a claude bash -c 'sh -c "node ${client} ${sock}; true"; true'`], { stdio: ['ignore', 'pipe', 'pipe'] });
    const rootPid = root.pid!;
    roots.set(rootPid, { name: 'claude', root_pid: rootPid, session: 's-agent' });
    const argv0 = () => {
      try {
        return fs.readFileSync(`/proc/${rootPid}/cmdline`, 'utf8').split('\0')[0];
      } catch {
        return 'gone';
      }
    };
    // Before the exec the name is still bash or node's; during it /proc reads an empty cmdline.
    for (let i = 0; i < 400 && !['claude', 'gone'].includes(argv0()); i++) await new Promise((r) => setTimeout(r, 5));
    expect(argv0()).toBe('claude');
    let out = '';
    let errOut = '';
    root.stdout!.on('data', (c) => (out += c));
    root.stderr!.on('data', (c) => (errOut += c));
    const code = await new Promise<number | null>((r) => root!.on('exit', r));
    expect(errOut).toBe('');
    expect(code).toBe(0);
    const res = JSON.parse(out.trim());
    expect(res.ppid).not.toBe(rootPid); // a grandchild, not the root itself
    for (const m of MUTATING_METHODS) {
      expect(res.results[m], m).toMatchObject({ code: -32001 });
      expect(res.results[m].message).toMatch(/inside agent session s-agent/);
    }
    expect(res.ping).toMatchObject({ pong: true });
    expect(typeof res.query).toBe('number');
    expect(calls).toEqual([]);
    const deadline = Date.now() + 10_000;
    while (seen.filter((e) => e.kind === 'api.refused').length < MUTATING_METHODS.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const refused = seen.filter((e) => e.kind === 'api.refused');
    expect(refused.map((e) => (e.data as { method: string }).method).sort()).toEqual([...MUTATING_METHODS].sort());
    for (const e of refused) {
      expect(e).toMatchObject({ severity: 'warn', rule: 'warden.api_refused', agent: { name: 'claude', session: 's-agent', root_pid: rootPid } });
      expect(e.proc?.pid).toBe(res.pid);
      expect(e.proc?.argv.join(' ')).toContain('client.mjs');
    }
    // Nothing the agent sent became an event of its own making: no alert.ack.
    expect(seen.some((e) => e.kind === 'alert.ack')).toBe(false);
  });

  it('accepts the same calls from a process outside any agent tree', async () => {
    const c = await connectApi(sock);
    for (const m of MUTATING_METHODS) await c.call(m, { session: 's-agent', seq: 1, memory_high: 1048576 });
    c.close();
    expect(calls).toEqual(['reload', 'kill:s-agent', 'freeze:s-agent', 'resume:s-agent', 'limit:s-agent']);
  });

  it('refuses a mutation from a connection whose process has exited (pid reuse guard)', async () => {
    // A child connects, hands nothing over, and exits; its connection is kept open by a
    // grandchild that inherited the socket fd — the credential is the dead child's.
    const script = path.join(tmp, 'inherit.mjs');
    fs.writeFileSync(
      script,
      `import net from 'node:net';
import { spawn } from 'node:child_process';
const s = net.connect(process.argv[2], () => {
  const fd = s._handle.fd;
  const child = spawn('sh', ['-c', 'sleep 0.5; printf \\'%s\\\\n\\' \\'{"jsonrpc":"2.0","id":1,"method":"rules.reload"}\\' >&3; sleep 1; head -c 400 <&3'], { stdio: ['ignore', 'inherit', 'inherit', fd], detached: false });
  child.on('spawn', () => process.exit(0));
});
`,
    );
    const p = spawn(process.execPath, [script, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout!.on('data', (c) => (out += c));
    const deadline = Date.now() + 15_000;
    while (!out.includes('"id":1') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(out).toMatch(/-32001/);
    expect(out).toMatch(/has exited since it connected/);
    expect(calls.filter((c) => c === 'reload')).toHaveLength(1); // only the earlier legitimate one
  });
});
