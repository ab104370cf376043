// The proxy's decisions on loopback: a front server hands each connection to the proxy with
// a chosen "original destination", as nft + SO_ORIGINAL_DST would.
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UnstampedEvent } from '../../src/events/types.js';
import { Policy } from '../../src/egress/policy.js';
import { EgressProxy, type FlowMeta } from '../../src/egress/proxy.js';
import { DecisionRecorder } from '../../src/egress/record.js';
import { SyntheticPool } from '../../src/egress/synthetic.js';
import { UpstreamResolver } from '../../src/egress/upstream.js';

let upstream: net.Server;
let upPort: number;
const received: string[] = [];

beforeAll(async () => {
  upstream = net.createServer({ allowHalfOpen: true }, (c) => {
    let data = '';
    c.on('data', (d) => {
      data += d.toString('latin1');
      if (data.startsWith('BANNER?')) c.write('ok\n');
      if (data.includes('\r\n\r\n')) c.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi');
    });
    c.on('end', () => {
      received.push(data);
      c.end();
    });
    c.on('error', () => {});
    if (c.localPort) c.write(''); // no banner by default
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  upPort = (upstream.address() as net.AddressInfo).port;
});
afterAll(() => upstream.close());

async function harness(allow: string[], pins: Record<string, string>, opts: { headerTimeoutMs?: number; maxConnections?: number } = {}) {
  const events: UnstampedEvent[] = [];
  const pool = new SyntheticPool();
  const policy = new Policy(allow);
  const proxy = new EgressProxy({
    policy: () => policy,
    pool,
    upstream: new UpstreamResolver({ pins, servers: ['127.0.0.1:9'] }),
    record: new DecisionRecorder({ sandboxId: 't', emit: (e) => events.push(e), ratePerSec: 1e6 }),
    ...opts,
  });
  let meta: FlowMeta = {};
  const front = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (c) => proxy.handle(c, meta));
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
  const port = (front.address() as net.AddressInfo).port;
  /** Connect "to" name:dport (as if resolved through our DNS) and exchange bytes. */
  const talk = (to: { name?: string; ip?: string; dport?: number }, send: (s: net.Socket) => void) =>
    new Promise<{ data: string; reset: boolean }>((resolve) => {
      meta = { dstIp: to.name ? pool.allocate(to.name) : to.ip, dstPort: to.dport ?? upPort };
      const s = net.connect(port, '127.0.0.1');
      let data = '';
      let reset = false;
      s.on('data', (d) => (data += d.toString('latin1')));
      s.on('error', () => (reset = true));
      s.on('close', () => resolve({ data, reset }));
      s.on('connect', () => send(s));
    });
  return { events, talk, pool, proxy, close: () => front.close() };
}

const GET = (host: string) => `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`;

describe('egress proxy decisions', () => {
  it('forwards an allowed HTTP request to the resolved address', async () => {
    const h = await harness([`a.test:${0}`.replace(':0', ''), 'a.test:' + upPort, `127.0.0.1:${upPort}`], { 'a.test': '127.0.0.1' });
    const r = await h.talk({ name: 'a.test' }, (s) => s.write(GET('a.test')));
    expect(r.data).toContain('200 OK');
    expect(h.events.find((e) => e.kind === 'egress.allow')).toMatchObject({ net: { host: 'a.test', dst_port: upPort }, data: { protocol: 'http', http_host: 'a.test' } });
    h.close();
  });

  it('refuses a Host that differs from the resolved name (403 naming the rule)', async () => {
    const h = await harness(['a.test:' + upPort, `127.0.0.1:${upPort}`], { 'a.test': '127.0.0.1' });
    const before = received.length;
    const r = await h.talk({ name: 'a.test' }, (s) => s.write(GET('evil.test')));
    expect(r.data).toMatch(/^HTTP\/1.1 403/);
    expect(r.data).toContain('X-Warden-Deny: host-mismatch');
    expect(h.events.at(-1)).toMatchObject({ kind: 'egress.deny', data: { reason: 'host-mismatch', http_host: 'evil.test' } });
    await new Promise((r) => setTimeout(r, 50));
    expect(received.slice(before).some((d) => d.includes('evil.test'))).toBe(false);
    h.close();
  });

  it('refuses an SNI that differs from the resolved name with a TLS alert', async () => {
    const h = await harness(['a.test:' + upPort, `127.0.0.1:${upPort}`], { 'a.test': '127.0.0.1' });
    let tlsErr = '';
    await h.talk({ name: 'a.test' }, (s) => {
      const t = tls.connect({ socket: s, servername: 'evil.test', rejectUnauthorized: false });
      t.on('error', (e) => (tlsErr = e.message));
    });
    expect(tlsErr).toMatch(/alert access denied/);
    expect(h.events.at(-1)).toMatchObject({ kind: 'egress.deny', data: { reason: 'sni-mismatch', sni: 'evil.test' } });
    h.close();
  });

  it('refuses CONNECT', async () => {
    const h = await harness(['a.test:' + upPort, `127.0.0.1:${upPort}`], { 'a.test': '127.0.0.1' });
    const r = await h.talk({ name: 'a.test' }, (s) => s.write('CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n'));
    expect(r.data).toContain('X-Warden-Deny: connect-method');
    h.close();
  });

  it('refuses a name that resolves to loopback unless the address is listed (rebinding)', async () => {
    const h = await harness(['a.test:' + upPort], { 'a.test': '127.0.0.1' });
    const r = await h.talk({ name: 'a.test' }, (s) => s.write(GET('a.test')));
    expect(r.data).toContain('X-Warden-Deny: resolves-to-loopback');
    h.close();
  });

  it('refuses addresses that were not resolved through our DNS', async () => {
    const h = await harness(['a.test:' + upPort], { 'a.test': '127.0.0.1' });
    const r = await h.talk({ ip: '127.0.0.1' }, (s) => s.write(GET('a.test')));
    expect(r.data).toContain('X-Warden-Deny: ip-literal');
    h.close();
  });

  it('refuses ports that are not listed, even for an allowed name', async () => {
    const h = await harness(['a.test', `127.0.0.1:${upPort}`], { 'a.test': '127.0.0.1' });
    const r = await h.talk({ name: 'a.test' }, (s) => s.write(GET('a.test')));
    expect(r.data).toContain('X-Warden-Deny: port-not-allowed');
    expect(r.data).toContain(`"a.test:${upPort}"`);
    h.close();
  });

  it('passes opaque protocols by name and keeps half-close semantics', async () => {
    const h = await harness(['a.test:' + upPort, `127.0.0.1:${upPort}`], { 'a.test': '127.0.0.1' });
    const before = received.length;
    const r = await h.talk({ name: 'a.test' }, (s) => s.end('BANNER? raw bytes \x00\x01'));
    expect(r.data).toBe('ok\n');
    expect(received.slice(before)).toContain('BANNER? raw bytes \x00\x01');
    h.close();
  });

  it('closes a client that never finishes its request (slowloris)', async () => {
    const h = await harness(['a.test:' + upPort, `127.0.0.1:${upPort}`], { 'a.test': '127.0.0.1' }, { headerTimeoutMs: 300 });
    const r = await h.talk({ name: 'a.test' }, (s) => s.write('GET / HTTP/1.1\r\nHost: a.te'));
    expect(r.data).toContain('X-Warden-Deny: header-timeout');
    h.close();
  });

  it('bounds concurrent connections', async () => {
    const h = await harness(['a.test:' + upPort, `127.0.0.1:${upPort}`], { 'a.test': '127.0.0.1' }, { maxConnections: 3, headerTimeoutMs: 2000 });
    const slow = [] as Array<Promise<{ data: string; reset: boolean }>>;
    for (let i = 0; i < 6; i++) slow.push(h.talk({ name: 'a.test' }, (s) => s.write('GET / HTTP/1.1\r\n')));
    const rs = await Promise.all(slow);
    expect(rs.filter((r) => r.reset).length).toBeGreaterThanOrEqual(3);
    expect(h.events.some((e) => e.data?.reason === 'connection-limit')).toBe(true);
    h.close();
  });
});
