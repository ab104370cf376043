// Egress end to end through `warden run --policy` (the built CLI), as root (host nft design)
// and as an unprivileged user (rootless design): what an agent in the sandbox can and cannot
// reach, what the audit says, and live reload of network.allow. Traffic only to the fake
// internet namespace this file makes.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { startInternet, type Internet } from './helpers/internet.js';
import { NOBODY, sandboxSh, scratch, SCRATCH_BASE, type Scratch } from './helpers/warden-run.js';

let inet: Internet;

function audit(file: string): WardenEvent[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as WardenEvent);
}

function policy(extra = ''): string {
  return `network:
  mode: allowlist
  allow: [allowed.test, "allowed.test:22", "*.wild.test", rebind.test]
  upstream_dns: ["${inet.dns}"]
${extra}`;
}

const PROBE = (denied: string, dns: string) => `
import socket, subprocess, sys
out = []
def attempt(name, fn):
  try: r = fn(); out.append(f"{name}: {r}")
  except Exception as e: out.append(f"{name}: FAIL {type(e).__name__}")
def tcp(host, port, hdr="denied.test"):
  s = socket.create_connection((host, port), timeout=3); s.sendall(b"GET /probe HTTP/1.1\\r\\nHost: " + hdr.encode() + b"\\r\\n\\r\\n")
  d = s.recv(200); return "GOT " + repr(d[:40])
attempt("by-ip", lambda: tcp("${denied}", 80))
attempt("by-decimal", lambda: tcp(str(int.from_bytes(socket.inet_aton("${denied}"), "big")), 80))
attempt("ipv6", lambda: tcp("2001:db8::1", 80))
attempt("denied-name", lambda: socket.getaddrinfo("denied.test", 80))
attempt("rebind", lambda: tcp("rebind.test", 80, "rebind.test"))
def udp_dns():
  q = bytes.fromhex("abcd01000001000000000000") + b"\\x06denied\\x04test\\x00\\x00\\x01\\x00\\x01"
  u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(2); u.sendto(q, ("${dns}", 53))
  d, _ = u.recvfrom(512); return "ANSWERS=%d RCODE=%d" % (int.from_bytes(d[6:8], "big"), d[3] & 15)
attempt("udp-dns-other-resolver", udp_dns)
def tcp_dns():
  s = socket.create_connection(("${dns}", 53), timeout=3); s.sendall(b"\\x00\\x1c" + bytes.fromhex("abcd01000001000000000000") + b"\\x06denied\\x04test\\x00\\x00\\x01\\x00\\x01")
  return "GOT " + repr(s.recv(100)[:20])
attempt("dns-over-tcp", tcp_dns)
print("\\n".join(out))
`;

beforeAll(async () => {
  fs.mkdirSync(SCRATCH_BASE, { recursive: true, mode: 0o755 });
  inet = await startInternet(
    (a) => ({ 'allowed.test': a[0]!, 'denied.test': a[1]!, '*.wild.test': a[0]!, 'rebind.test': '169.254.169.254' }),
    ['allowed.test', 'denied.test'],
    SCRATCH_BASE,
  );
});
afterAll(async () => {
  await inet?.stop();
});

describe.each([
  ['root', undefined],
  ['rootless (unprivileged user)', NOBODY],
] as const)('warden run with network allowlist, %s', (_label, uid) => {
  let s: Scratch;
  beforeAll(() => {
    s = scratch(uid);
  });
  afterAll(() => s?.cleanup());

  it('reaches allowed names over HTTP, HTTPS and raw TCP; the audit records each decision', async () => {
    const a = path.join(s.root, 'audit-ok.ndjson');
    const r = await sandboxSh(
      `curl -sS -m 5 http://allowed.test/run-http && curl -sS -m 5 --cacert ${inet.certFile} https://allowed.test/run-https && ` +
        `python3 -c 'import socket; s=socket.create_connection(("allowed.test",22),timeout=3); print(s.recv(50).decode().strip())'`,
      { cwd: s.ws, uid, policy: s.policy(policy()), audit: a, env: { HOME: s.home } },
    );
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`hello from http ${inet.addrs[0]} host=allowed.test`);
    expect(r.stdout).toContain('sni=allowed.test');
    expect(r.stdout).toContain('SSH-2.0-TestServer');
    const ev = audit(a);
    const allows = ev.filter((e) => e.kind === 'egress.allow');
    expect(allows.map((e) => e.net?.dst_port).sort()).toEqual([22, 443, 80]);
    expect(allows.every((e) => e.sandbox?.id && e.net?.host === 'allowed.test')).toBe(true);
    expect(ev.some((e) => e.kind === 'net.dns' && e.dns?.query === 'allowed.test')).toBe(true);
  });

  it('works with a user PATH without the sbin directories (Debian default; nft is in /usr/sbin)', async () => {
    const r = await sandboxSh('curl -sS -m 5 http://allowed.test/run-path', {
      cwd: s.ws,
      uid,
      policy: s.policy(policy()),
      env: { HOME: s.home, PATH: '/usr/local/bin:/usr/bin:/bin' },
    });
    expect(r.stderr).not.toMatch(/not found|error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('host=allowed.test');
  });

  it('an agent trying every way around the proxy reaches nothing, and the audit says why', async () => {
    const a = path.join(s.root, 'audit-rogue.ndjson');
    const script = s.write('probe-egress.py', PROBE(inet.addrs[1]!, inet.dns));
    // What must never arrive: anything at the denied server, any query about denied.test, any DNS over TCP.
    const leaks = () => inet.hits(inet.addrs[1]!).length + inet.logs.filter((l) => (l.srv === 'dns' && l.name === 'denied.test') || l.srv === 'dns-tcp').length;
    const before = leaks();
    const r = await sandboxSh(`exec bash -c "exec -a claude python3 ${script}"`, { cwd: s.ws, uid, policy: s.policy(policy()), audit: a, env: { HOME: s.home }, timeoutMs: 90_000 });
    const lines = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(': ') as [string, string]));
    expect(lines['by-ip']).not.toMatch(/hello from/);
    expect(lines['by-ip']).toMatch(/FAIL|Warden egress denied|403/);
    expect(lines['by-decimal']).not.toMatch(/hello from/);
    expect(lines['ipv6']).toMatch(/FAIL/);
    expect(lines['denied-name']).toMatch(/FAIL/);
    expect(lines['rebind']).toMatch(/403|FAIL/);
    expect(lines['udp-dns-other-resolver']).toMatch(/ANSWERS=0 RCODE=3|FAIL/); // Warden's NXDOMAIN, not the resolver's answer
    expect(lines['dns-over-tcp']).not.toMatch(/GOT b'\\x00/);
    expect(leaks()).toBe(before);
    const ev = audit(a);
    const reasons = new Set(ev.filter((e) => e.kind === 'egress.deny').map((e) => e.data?.reason));
    expect(reasons).toContain('ip-literal');
    expect(reasons).toContain('resolves-to-metadata');
    expect(ev.some((e) => e.kind === 'net.dns' && e.dns?.query === 'denied.test' && e.data?.decision === 'deny')).toBe(true);
    const byIp = ev.find((e) => e.kind === 'egress.deny' && e.data?.reason === 'ip-literal');
    expect(byIp?.net?.dst_ip).toBe(inet.addrs[1]);
  });

  it('network.allow reloads while the sandbox runs (policy file outside the workspace)', async () => {
    const a = path.join(s.root, 'audit-reload.ndjson');
    const pfile = s.policy(policy());
    const run = sandboxSh(
      'for i in $(seq 1 60); do curl -s -m 2 http://denied.test/reload && exit 0; sleep 0.25; done; exit 7',
      { cwd: s.ws, uid, policy: pfile, audit: a, env: { HOME: s.home }, timeoutMs: 60_000 },
    );
    // Wait until the sandbox has been refused once, then widen the allowlist in place.
    for (let i = 0; i < 200 && !audit(a).some((e) => e.kind === 'net.dns' && e.dns?.query === 'denied.test'); i++) await new Promise((r) => setTimeout(r, 50));
    fs.writeFileSync(pfile, policy().replace('rebind.test]', 'rebind.test, denied.test]'));
    const r = await run;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`hello from http ${inet.addrs[1]}`);
    expect(audit(a).find((e) => e.kind === 'egress.reload')?.data).toMatchObject({ added: ['denied.test'] });
  });

  it('a policy file the sandbox can write is never reloaded', async () => {
    const a = path.join(s.root, 'audit-noreload.ndjson');
    const pfile = s.write('ws/warden-policy.yaml', policy());
    const r = await sandboxSh(
      `sed -i 's/rebind.test]/rebind.test, denied.test]/' ${pfile}; sleep 1; curl -s -m 3 http://denied.test/self-widen; echo rc=$?`,
      { cwd: s.ws, uid, policy: pfile, audit: a, env: { HOME: s.home } },
    );
    expect(r.stdout).not.toContain('hello from');
    const ev = audit(a);
    expect(ev.some((e) => e.kind === 'egress.reload_disabled')).toBe(true);
    expect(ev.some((e) => e.kind === 'egress.reload')).toBe(false);
  });
});
