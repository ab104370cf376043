// `warden watch` end to end, as root, with the real kernel sensor (both kernel backends:
// the compiled ebpf sensor and bpftrace): a stub agent (argv[0] `claude`, temporary HOME)
// does the things the issue lists, and an identical process tree that is not descended
// from an agent must produce nothing.
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { KERNEL_BACKENDS, run, startWatch, type RunningWatch } from '../helpers/watch.js';

const root = process.getuid?.() === 0;

describe.skipIf(!root).each(KERNEL_BACKENDS)('warden watch (kernel sensor %s, root)', (backend) => {
  let w: RunningWatch;
  let tmp: string;
  let tcp: net.Server;
  let dns: dgram.Socket;
  let dnsIp: string;
  let tcpPort: number;
  const dnsQueries: string[] = [];
  let agentPid = 0;
  let controlPid = 0;
  let events: WardenEvent[] = [];

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-it-'));
    for (const who of ['agent', 'control']) {
      fs.mkdirSync(path.join(tmp, who, 'home', '.ssh'), { recursive: true });
      fs.mkdirSync(path.join(tmp, who, 'work'), { recursive: true });
      fs.writeFileSync(path.join(tmp, who, 'home', '.ssh', 'id_ed25519'), '-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n');
    }
    tcp = net.createServer((s) => s.end('hello\n'));
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    tcpPort = (tcp.address() as net.AddressInfo).port;
    // A DNS listener on port 53 of a loopback address of our own (no clash with a resolver).
    dnsIp = `127.53.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    dns = dgram.createSocket('udp4');
    dns.on('message', (m, rinfo) => {
      dnsQueries.push(m.toString('latin1'));
      // answer: same id, response, 1 question echoed, 1 A record 127.0.0.1
      const resp = Buffer.concat([m.subarray(0, 2), Buffer.from([0x81, 0x80]), m.subarray(4, 6), Buffer.from([0, 1, 0, 0, 0, 0]), m.subarray(12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1])]);
      dns.send(resp, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => dns.bind(53, dnsIp, r));

    const script = path.join(tmp, 'agent.sh');
    fs.writeFileSync(
      script,
      [
        'set -e',
        'cd "$WORK"',
        'cat "$HOME/.ssh/id_ed25519" > /dev/null',
        'echo data > out.tmp',
        'mv out.tmp out.txt',
        'mkdir -p "$WORK/deep/er"',
        'i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done',
        `exec 3<>/dev/tcp/127.0.0.1/${tcpPort}; head -c 6 <&3 >/dev/null; exec 3<&-`,
        `dig +tries=1 +time=2 @${dnsIp} -p 53 exfil-probe.example.test A >/dev/null || true`,
      ].join('\n') + '\n',
    );

    w = await startWatch(['--backend', backend]);
    const env = (who: string) => ({ PATH: process.env.PATH, HOME: path.join(tmp, who, 'home'), WORK: path.join(tmp, who, 'work') });
    // The same script twice: as an agent, and as an ordinary process tree.
    const [a, c] = await Promise.all([
      run('bash', [script], { env: env('agent'), argv0: 'claude' }),
      run('bash', [script], { env: env('control') }),
    ]);
    expect(a.code, a.out).toBe(0);
    expect(c.code, c.out).toBe(0);
    agentPid = a.pid;
    controlPid = c.pid;
    await w.waitFor((e) => e.kind === 'agent.exit' && e.agent?.root_pid === agentPid, 30_000, 'agent.exit');
    expect(await w.stop()).toBe(0);
    events = w.events();
  }, 240_000);

  afterAll(async () => {
    await w?.stop();
    tcp?.close();
    dns?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const mine = () => events.filter((e) => e.agent?.root_pid === agentPid);

  it('writes well-formed events with strictly increasing seq', () => {
    expect(events.length).toBeGreaterThan(1000);
    let last = 0;
    for (const e of events) {
      expect(e.seq).toBeGreaterThan(last);
      last = e.seq;
      expect(typeof e.ts).toBe('string');
      expect(e.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(['info', 'warn', 'alert']).toContain(e.severity);
      if (e.agent) {
        expect(e.proc).toBeDefined();
        expect(typeof e.proc!.pid).toBe('number');
        expect(Array.isArray(e.proc!.argv)).toBe(true);
        expect(e.proc!.cwd.startsWith('/')).toBe(true);
      }
    }
    const ready = events.find((e) => e.kind === 'monitor.ready');
    expect(ready?.data).toMatchObject({ backend, degraded: false });
    expect(events[events.length - 1]!.kind).toBe('monitor.stop');
  });

  it('detects the agent at exec with its home and project directory', () => {
    const start = mine().find((e) => e.kind === 'agent.start');
    expect(start).toBeDefined();
    expect(start!.agent).toMatchObject({ name: 'claude', root_pid: agentPid, home: path.join(tmp, 'agent', 'home') });
    expect(start!.proc!.argv[0]).toBe('claude');
  });

  it('sees the secret read, attributed to cat in the agent session', () => {
    const key = path.join(tmp, 'agent', 'home', '.ssh', 'id_ed25519');
    const e = mine().find((x) => x.kind === 'file.open' && x.file?.path === key);
    expect(e, 'read of the fake key').toBeDefined();
    expect(e!.file!.op).toBe('read');
    expect(e!.proc!.argv[0]).toBe('cat');
    expect(e!.proc!.ppid).toBe(agentPid);
    expect(e!.agent!.session).toBe(mine()[0]!.agent!.session);
    // classified by the default rules on the way out
    expect(e!.severity).toBe('alert');
    expect(e!.category).toBe('credential_access');
    expect(e!.rule).toBeTruthy();
  });

  it('sees the write through a temp file and the rename', () => {
    const work = path.join(tmp, 'agent', 'work');
    const create = mine().find((x) => x.kind === 'file.open' && x.file?.path === path.join(work, 'out.tmp'));
    expect(create?.file?.flags).toContain('write');
    expect(create?.file?.flags).toContain('create');
    const ren = mine().find((x) => x.kind === 'file.rename' && x.file?.path === path.join(work, 'out.txt'));
    expect(ren?.file?.src).toBe(path.join(work, 'out.tmp'));
    expect(ren?.proc?.argv[0]).toBe('mv');
  });

  it('resolves mkdir -p through chdir/fchdir and skips parents that already existed', () => {
    const work = path.join(tmp, 'agent', 'work');
    const dirs = mine().filter((x) => x.kind === 'file.mkdir').map((x) => x.file!.path);
    expect(dirs).toEqual([path.join(work, 'deep'), path.join(work, 'deep', 'er')]);
  });

  it('sees all 1,000 short-lived processes, each with its exit', () => {
    const execs = mine().filter((x) => x.kind === 'process.exec' && x.proc?.exe === '/bin/true');
    expect(execs).toHaveLength(1000);
    const pids = new Set(execs.map((x) => x.proc!.pid));
    const exits = mine().filter((x) => x.kind === 'process.exit' && pids.has(x.proc!.pid));
    expect(exits.length).toBe(1000);
    expect(exits.every((x) => x.exit?.code === 0)).toBe(true);
  });

  it('sees the loopback TCP connect', () => {
    const c = mine().find((x) => x.kind === 'net.connect' && x.net?.dst_port === tcpPort);
    expect(c?.net).toMatchObject({ proto: 'tcp', family: 'inet', dst_ip: '127.0.0.1', dst_port: tcpPort });
  });

  it('decodes the DNS query sent to the loopback port 53 listener', () => {
    expect(dnsQueries.length).toBeGreaterThan(0);
    const q = mine().find((x) => x.kind === 'net.dns');
    expect(q?.dns).toMatchObject({ query: 'exfil-probe.example.test', qtype: 'A', server: dnsIp, server_port: 53 });
    expect(q?.proc?.argv[0]).toBe('dig');
  });

  it('correlates the secret read with the DNS egress that followed (exfiltration)', () => {
    const seq = mine().find((x) => x.kind === 'alert.sequence' && x.category === 'exfiltration');
    expect(seq, 'secret read then egress').toBeDefined();
  });

  it('reports nothing for the identical tree that is not an agent', () => {
    const controlDir = path.join(tmp, 'control');
    const leaked = events.filter(
      (e) =>
        e.proc?.pid === controlPid ||
        e.proc?.ppid === controlPid ||
        e.file?.path?.startsWith(controlDir) ||
        e.file?.src?.startsWith(controlDir),
    );
    expect(leaked).toEqual([]);
    const sessions = new Set(events.filter((e) => e.kind === 'agent.start').map((e) => e.agent!.root_pid));
    expect(sessions.has(controlPid)).toBe(false);
  });

  it('lost nothing and says so in monitor.stop', () => {
    const stop = events[events.length - 1]!;
    const c = (stop.data as { counters: Record<string, number> }).counters;
    expect(c.lost).toBe(0);
    expect(c.parse_errors).toBe(0);
    expect(events.filter((e) => e.kind === 'monitor.loss')).toEqual([]);
  });
});
