// Issue #12, "agents missed by the monitor, silently": agents started through their launchers,
// shaped like the real CLIs. A `#!/usr/bin/env node` script named codex that runs a native binary
// named codex (the @openai/codex wrapper), a node script named gemini that relaunches itself
// (Gemini CLI), started 20 times each in quick succession: every start must be seen, as one
// session (the wrapper and what it becomes), with nothing dropped silently. A daemon an agent
// leaves running stays its and the agent.exit says so; DNS done with sendto + recvmsg on an
// unconnected UDP socket (as codex does) is decoded. Both kernel backends for the sessions;
// the DNS case needs the compiled sensor.
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { KERNEL_BACKENDS, run, startWatch, type RunningWatch } from '../helpers/watch.js';

const root = process.getuid?.() === 0;
const HELPER = path.resolve(__dirname, 'helpers', 'evasion.py');
const STARTS = 20;

describe.skipIf(!root).each(KERNEL_BACKENDS)('agents started through their launchers (kernel sensor %s)', (backend) => {
  let w: RunningWatch;
  let tmp: string;
  let events: WardenEvent[] = [];
  const codexPids: number[] = [];
  const geminiPids: number[] = [];
  let daemonAgent = 0;
  let dnsAgent = 0;
  let dns: dgram.Socket;
  let dnsIp: string;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-launch-'));
    fs.mkdirSync(path.join(tmp, 'bin'));
    fs.mkdirSync(path.join(tmp, 'native'));
    // the native binary of codex: any ELF named codex
    fs.copyFileSync('/bin/true', path.join(tmp, 'native', 'codex'));
    fs.chmodSync(path.join(tmp, 'native', 'codex'), 0o755);
    const wrapper = path.join(tmp, 'bin', 'codex');
    fs.writeFileSync(
      wrapper,
      `#!/usr/bin/env node
const { spawnSync } = require('node:child_process');
require('node:fs').readFileSync('/etc/hostname');
process.exit(spawnSync(${JSON.stringify(path.join(tmp, 'native', 'codex'))}, process.argv.slice(2), { stdio: 'inherit' }).status ?? 1);
`,
    );
    const gemini = path.join(tmp, 'bin', 'gemini');
    fs.writeFileSync(
      gemini,
      `#!/usr/bin/env node
if (!process.env.GEMINI_CLI_NO_RELAUNCH) {
  const { spawnSync } = require('node:child_process');
  const r = spawnSync(process.execPath, ['--max-old-space-size=256', __filename, ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, GEMINI_CLI_NO_RELAUNCH: 'true' } });
  process.exit(r.status ?? 1);
}
require('node:fs').readFileSync('/etc/hostname');
`,
    );
    // an agent that leaves a daemon behind (the codex app-server daemon)
    fs.mkdirSync(path.join(tmp, 'daemon'));
    const daemon = path.join(tmp, 'daemon', 'codex');
    fs.writeFileSync(
      daemon,
      `#!/usr/bin/env node
const { spawn } = require('node:child_process');
const d = spawn(process.execPath, ['-e', "setTimeout(() => require('fs').readFileSync('/etc/os-release'), 1500); setTimeout(() => {}, 2500)"], { detached: true, stdio: 'ignore' });
require('node:fs').writeFileSync(${JSON.stringify(path.join(tmp, 'daemon.pid'))}, String(d.pid));
d.unref();
`,
    );
    for (const f of [wrapper, gemini, daemon]) fs.chmodSync(f, 0o755);
    dnsIp = `127.53.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    dns = dgram.createSocket('udp4');
    dns.on('message', (m, rinfo) => {
      const resp = Buffer.concat([m.subarray(0, 2), Buffer.from([0x81, 0x80]), m.subarray(4, 6), Buffer.from([0, 1, 0, 0, 0, 0]), m.subarray(12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1])]);
      dns.send(resp, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => dns.bind(53, dnsIp, r));

    w = await startWatch(['--backend', backend]);
    const env = { PATH: `${tmp}/bin:${process.env.PATH}`, HOME: tmp };
    for (let i = 0; i < STARTS; i++) {
      const c = await run(path.join(tmp, 'bin', 'codex'), ['--version'], { env });
      expect(c.code, c.out).toBe(0);
      codexPids.push(c.pid);
      const g = await run(path.join(tmp, 'bin', 'gemini'), ['--version'], { env });
      expect(g.code, g.out).toBe(0);
      geminiPids.push(g.pid);
    }
    const d = await run(daemon, [], { env });
    daemonAgent = d.pid;
    const q = await run('bash', ['-c', `/usr/bin/python3 ${HELPER} dns-unconnected ${dnsIp} unconnected-probe.example.test`], { env, argv0: 'codex' });
    expect(q.code, q.out).toBe(0);
    dnsAgent = q.pid;
    await new Promise((r) => setTimeout(r, 3500)); // the daemon's read
    expect(await w.stop()).toBe(0);
    events = w.events();
  }, 300_000);

  afterAll(async () => {
    await w?.stop();
    dns?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const startsOf = (pid: number) => events.filter((e) => e.kind === 'agent.start' && e.agent?.root_pid === pid);
  /** For a failure message: how often each missed pid started, and what the monitor saw of it. */
  const explain = (missed: number[]) =>
    missed
      .map((p) => `${p}: ${startsOf(p).length} starts; ` + events.filter((e) => e.proc?.pid === p || e.proc?.ppid === p).map((e) => `${e.kind} ${e.proc?.pid} ${e.proc?.exe} ${e.agent?.session ?? '-'}`).join(' | '))
      .join('\n');

  it(`sees every one of ${STARTS} quick codex starts (#!/usr/bin/env node wrapper + native binary), as one session each`, () => {
    const missed = codexPids.filter((p) => startsOf(p).length !== 1);
    expect(missed, `starts not seen once:\n${explain(missed)}`).toEqual([]);
    for (const pid of codexPids) {
      const session = startsOf(pid)[0]!.agent!.session;
      expect(startsOf(pid)[0]!.agent!.name).toBe('codex');
      // the native codex ran in the same session, and no other session started for it
      const native = events.filter((e) => e.kind === 'process.exec' && e.proc?.exe.endsWith('/native/codex'));
      expect(native.some((e) => e.agent?.session === session), `native binary of ${pid}`).toBe(true);
      expect(events.filter((e) => e.kind === 'agent.start' && e.data?.parent_session === session)).toEqual([]);
    }
  });

  it(`sees every one of ${STARTS} gemini starts (a node CLI that relaunches itself), as one session each`, () => {
    const missed = geminiPids.filter((p) => startsOf(p).length !== 1);
    expect(missed, `starts not seen once:\n${explain(missed)}`).toEqual([]);
    for (const pid of geminiPids) {
      const session = startsOf(pid)[0]!.agent!.session;
      const relaunched = events.filter((e) => e.kind === 'process.exec' && e.agent?.session === session && e.proc?.argv.includes('--max-old-space-size=256'));
      expect(relaunched.length, `relaunch of ${pid}`).toBe(1);
      expect(events.filter((e) => e.kind === 'agent.start' && e.data?.parent_session === session)).toEqual([]);
    }
  });

  it('a daemon the agent leaves running stays attributed to it, and the agent.exit says so', () => {
    const daemonPid = Number(fs.readFileSync(path.join(tmp, 'daemon.pid'), 'utf8'));
    const exit = events.find((e) => e.kind === 'agent.exit' && e.agent?.root_pid === daemonAgent);
    expect((exit?.data?.left_running as Array<{ pid: number }>)?.map((x) => x.pid)).toContain(daemonPid);
    const read = events.find((e) => e.kind === 'file.open' && e.proc?.pid === daemonPid && (e.file?.requested ?? e.file?.path) === '/etc/os-release');
    expect(read?.agent?.session).toBe(exit?.agent?.session);
  });

  it('nothing is dropped without a counter', () => {
    const c = events.find((e) => e.kind === 'monitor.stop')?.data?.counters as Record<string, number>;
    for (const k of ['rejected_records', 'pending_dropped', 'unattributed', 'held_records_dropped']) expect(typeof c[k], k).toBe('number');
  });

  it.runIf(backend === 'ebpf')('decodes DNS sent with sendto and answered with recvmsg on an unconnected socket', () => {
    const q = events.find((e) => e.kind === 'net.dns' && e.agent?.root_pid === dnsAgent);
    expect(q?.dns?.query).toBe('unconnected-probe.example.test');
    const a = events.find((e) => e.kind === 'net.dns_answer' && e.agent?.root_pid === dnsAgent);
    expect(a?.dns).toMatchObject({ query: 'unconnected-probe.example.test', answers: ['127.0.0.1'] });
  });
});
