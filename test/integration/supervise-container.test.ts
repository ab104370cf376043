// `warden supervise` as PID 1 of a real container (podman + runc, no image registry: a
// directory root filesystem with --rootfs, the host's /usr read-only and this checkout at
// /opt/warden). The container's own network namespace is one this test makes, wired to a fake
// internet namespace. The command (test/fixtures/supervise/probe.mjs) does its work through
// the allowlist and tries every way around it from inside; the test checks each attempt from
// the servers' side and the audit on the container's stdout, the health endpoint from outside,
// PID 1's duties (an orphan reaped, SIGTERM forwarded, the command's exit status), and that
// without CAP_NET_ADMIN the command is never started. Control: the same probe run as the
// container's root without Warden reaches the denied server directly.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { startInternet, suffix, type Internet } from './helpers/internet.js';
import { REPO, SCRATCH_BASE } from './helpers/warden-run.js';

const PROBE_DIR = path.join(REPO, 'test/fixtures/supervise');
const HEALTH = 9464;
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

let inet: Internet;
let work: string;
let rootfs: string;
let ctNs: string;
let ctIp: string;
let vIn: string;

/** A root filesystem: the host's /usr (bound read-only at run time) behind the usual links, an /etc of its own. */
function makeRootfs(dir: string): void {
  for (const d of ['etc', 'tmp', 'run', 'proc', 'sys', 'dev', 'usr', 'opt/warden', 'opt/probe', 'var/tmp', 'work']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  fs.chmodSync(path.join(dir, 'work'), 0o1777);
  for (const [l, t] of [['bin', 'usr/bin'], ['sbin', 'usr/sbin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64']]) fs.symlinkSync(t!, path.join(dir, l!));
  fs.writeFileSync(path.join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
  fs.writeFileSync(path.join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  fs.writeFileSync(path.join(dir, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
  fs.writeFileSync(path.join(dir, 'etc/hosts'), '127.0.0.1 localhost\n');
  fs.writeFileSync(path.join(dir, 'etc/resolv.conf'), `nameserver ${inet.addrs[0]}\n`);
}

function limit(): string[] {
  const limits = fs.readFileSync('/proc/self/limits', 'utf8');
  const hard = (name: string) => Number(new RegExp(`^${name}\\s+\\S+\\s+(\\d+)`, 'm').exec(limits)?.[1] ?? 1024);
  const nofile = hard('Max open files');
  const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  const nproc = Math.min(pidMax, hard('Max processes') || pidMax);
  // This machine's runtime cannot raise limits (no CAP_SYS_RESOURCE): ask for what there is.
  return ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', `nproc=${nproc}:${nproc}`];
}

interface Container {
  code: number | null;
  stdout: string;
  stderr: string;
}

function podman(name: string, extra: string[], argv: string[], o: { onStderr?: (all: string) => void; timeoutMs?: number } = {}): Promise<Container> {
  const args = [
    '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file',
    'run', '--rm', '--name', name, '--network', `ns:/run/netns/${ctNs}`, ...limit(),
    '-v', '/usr:/usr:ro', '-v', `${REPO}:/opt/warden:ro`, '-v', `${PROBE_DIR}:/opt/probe:ro`, '-v', `${work}:/opt/conf:ro`,
    '--workdir', '/work', ...extra, '--rootfs', rootfs, ...argv,
  ];
  return new Promise((resolve) => {
    const p = spawn('podman', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => {
      stderr += d;
      o.onStderr?.(stderr);
    });
    const t = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 90_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

const V6_PEER = 'fd57:7764::1';
const probeArgs = () => ['/opt/probe/probe.mjs', inet.addrs[0]!, inet.addrs[1]!, String(HEALTH), ctIp, V6_PEER];
const inInet = (url: string) => sh('ip', ['netns', 'exec', inet.ns, 'curl', '-s', '-m', '5', '-w', '\n%{http_code}', url]);

beforeAll(async () => {
  fs.mkdirSync(SCRATCH_BASE, { recursive: true, mode: 0o755 });
  inet = await startInternet((a) => ({ 'allowed.test': a[0]!, 'denied.test': a[1]! }), ['allowed.test'], SCRATCH_BASE);
  work = fs.mkdtempSync(path.join(SCRATCH_BASE, 'supervise-'));
  fs.chmodSync(work, 0o755);
  rootfs = path.join(work, 'rootfs');
  makeRootfs(rootfs);
  fs.writeFileSync(path.join(work, 'policy.yaml'), `network:\n  mode: allowlist\n  allow: [allowed.test]\n  resolve: { allowed.test: ${inet.addrs[0]} }\n`);
  // The container's namespace: a /30 of TEST-NET-1 on a veth to the internet namespace.
  const sfx = suffix();
  ctNs = `wdsvct-${sfx}`;
  vIn = `wdsv${sfx}`;
  const base = 4 * (1 + Math.floor(Math.random() * 60));
  const inIp = `192.0.2.${base + 1}`;
  ctIp = `192.0.2.${base + 2}`;
  sh('ip', ['netns', 'add', ctNs]);
  sh('ip', ['-n', inet.ns, 'link', 'add', vIn, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ctNs]);
  sh('ip', ['-n', inet.ns, 'addr', 'add', `${inIp}/30`, 'dev', vIn]);
  sh('ip', ['-n', inet.ns, 'link', 'set', vIn, 'up']);
  sh('ip', ['-n', ctNs, 'addr', 'add', `${ctIp}/30`, 'dev', 'eth0']);
  sh('ip', ['-n', ctNs, 'link', 'set', 'eth0', 'up']);
  sh('ip', ['-n', ctNs, 'link', 'set', 'lo', 'up']);
  sh('ip', ['-n', ctNs, 'route', 'add', 'default', 'via', inIp]);
  // IPv6 too (a ULA pair on the same veth): the peer's address answers an unfiltered connect
  // with a reset (nothing listens there), so a dropped one is told apart by its timeout.
  sh('ip', ['-n', inet.ns, '-6', 'addr', 'add', `${V6_PEER}/64`, 'dev', vIn, 'nodad']);
  sh('ip', ['-n', ctNs, '-6', 'addr', 'add', 'fd57:7764::2/64', 'dev', 'eth0', 'nodad']);
});

afterAll(async () => {
  try {
    sh('ip', ['netns', 'del', ctNs]);
  } catch {
    /* gone */
  }
  await inet?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const events = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as WardenEvent);

describe('warden supervise as the PID 1 of a podman container', () => {
  it('confines the command: allowed work goes through, every way around fails, PID 1 duties done', async () => {
    const name = `wdsv-${suffix()}`;
    let probe: Record<string, unknown> | undefined;
    let checked: Promise<void> | undefined;
    const outside: Record<string, string> = {};
    const run = podman(
      name,
      ['--cap-add', 'NET_ADMIN'],
      ['/opt/warden/bin/warden', 'supervise', '--policy', '/opt/conf/policy.yaml', '--', 'node', ...probeArgs()],
      {
        onStderr: (all) => {
          const m = /^PROBE (.*)$/m.exec(all);
          if (!m || probe) return;
          probe = JSON.parse(m[1]!) as Record<string, unknown>;
          // While the command still runs: the endpoints from outside (the kubelet's view), then SIGTERM.
          checked = (async () => {
            outside.healthz = inInet(`http://${ctIp}:${HEALTH}/healthz`);
            outside.denials = inInet(`http://${ctIp}:${HEALTH}/denials`);
            outside.metrics = inInet(`http://${ctIp}:${HEALTH}/metrics`);
            sh('podman', ['--runtime', 'runc', '--events-backend', 'file', 'kill', '--signal', 'TERM', name]);
          })();
        },
      },
    );
    const c = await run;
    await checked;
    expect(probe, c.stderr).toBeDefined();
    const p = probe!;
    // Its work: the allowed name resolves (synthetic address) and answers through the proxy.
    expect(p.dns_allowed).toMatch(/^198\.(18|19)\./);
    expect(p.http_allowed).toMatch(/^200 hello from http/);
    // Around Warden: nothing reached the denied server, whatever the protocol.
    expect(p.direct_ip).not.toMatch(/hello/);
    expect(p.direct_ip_ssh).not.toMatch(/SSH|banner/i);
    expect(p.udp_other).toBe('NO REPLY');
    expect(p.udp_dns_elsewhere).toMatch(/^REPLY rcode=3/); // answered (NXDOMAIN) by Warden, not by that server
    expect(p.ipv6).toBe('FAIL timeout'); // dropped (the control gets a reset from the same address)
    expect(p.after).not.toMatch(/hello/);
    expect(inet.hits(inet.addrs[1]!)).toEqual([]);
    expect(inet.hits(inet.addrs[0]!, 'http').map((h) => h.path)).toEqual(['/work']);
    // Warden's port: not from the command (loopback dropped, the pod address goes to the proxy), yes from outside.
    expect(p.health_loopback).toBe('FAIL timeout');
    expect(p.health_pod_ip).not.toMatch(/200|ok/);
    expect(outside.healthz).toMatch(/"ok": true[\s\S]*\n200$/);
    expect(outside.denials).toMatch(/"allow": \[\s*"allowed.test"\s*\]/);
    expect(outside.denials).toContain(inet.addrs[1]);
    expect(outside.metrics).toMatch(/warden_events_total\{kind="egress.deny",severity="warn"\} [1-9]/);
    expect(outside.metrics).toMatch(/warden_monitor_counter\{name="command_up"\} 1/);
    // No way to change the rules or leave the namespace; no privilege at all.
    expect(p.nft_flush).toMatch(/^exit [1-9].*(Operation not permitted|not permitted)/i);
    expect(p.unshare_net).toMatch(/^exit [1-9]/);
    expect(p.unshare_user).toMatch(/^exit [1-9]/);
    const st = p.status as Record<string, string>;
    expect(st.Uid).toBe('65534\t65534\t65534\t65534');
    for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(st[k], k).toBe('0000000000000000');
    expect(st.NoNewPrivs).toBe('1');
    expect(st.Seccomp).toBe('2');
    // PID 1: the orphan was reaped, SIGTERM reached the command, its status is the container's.
    expect(p.zombies).toBe(0);
    expect(c.code).toBe(42);
    // The audit on stdout, and only the audit: the command's own stdout went to stderr.
    const ev = events(c.stdout);
    expect(c.stdout).not.toContain("the command's stdout");
    expect(c.stderr).toContain("this line is the command's stdout");
    const start = ev.find((e) => e.kind === 'supervise.start')!;
    expect(start.data).toMatchObject({ pid1: true, uid: 65534, network: 'allowlist', enforcement: 'egress proxy' });
    expect(ev.find((e) => e.kind === 'egress.ready')?.data).toMatchObject({ mode: 'container', uid: 65534 });
    expect(ev.some((e) => e.kind === 'egress.deny' && e.net?.dst_ip === inet.addrs[1])).toBe(true);
    expect(ev.some((e) => e.kind === 'egress.allow' && e.net?.host === 'allowed.test')).toBe(true);
    const exit = ev.find((e) => e.kind === 'supervise.exit')!;
    expect(exit.exit?.code).toBe(42);
    expect((exit.data as { reaped: number; signals_forwarded: number }).reaped).toBeGreaterThanOrEqual(1);
    expect((exit.data as { signals_forwarded: number }).signals_forwarded).toBeGreaterThanOrEqual(1);
  });

  it('without CAP_NET_ADMIN the command is never started (fail closed), and says why', async () => {
    const c = await podman(`wdsv-${suffix()}`, [], ['/opt/warden/bin/warden', 'supervise', '--policy', '/opt/conf/policy.yaml', '--', 'node', ...probeArgs()]);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/was not started.*CAP_NET_ADMIN/s);
    expect(c.stderr).not.toContain('PROBE');
    expect(events(c.stdout).find((e) => e.kind === 'supervise.refused')).toMatchObject({ severity: 'warn', rule: 'supervise.network_unconfined' });
  });

  it('control: the same probe as the container root without Warden reaches the denied server directly', async () => {
    const before = inet.hits(inet.addrs[1]!).length;
    const name = `wdsv-${suffix()}`;
    let probe: Record<string, unknown> | undefined;
    const c = await podman(name, ['--cap-add', 'NET_ADMIN'], ['node', ...probeArgs()], {
      onStderr: (all) => {
        const m = /^PROBE (.*)$/m.exec(all);
        if (!m || probe) return;
        probe = JSON.parse(m[1]!) as Record<string, unknown>;
        sh('podman', ['--runtime', 'runc', '--events-backend', 'file', 'kill', '--signal', 'KILL', name]);
      },
    });
    expect(probe, c.stderr).toBeDefined();
    expect(probe!.direct_ip).toMatch(/GOT HTTP\/1.1 200/);
    expect(probe!.ipv6).toBe('FAIL ECONNREFUSED');
    expect(inet.hits(inet.addrs[1]!).length).toBeGreaterThan(before);
  });
});
