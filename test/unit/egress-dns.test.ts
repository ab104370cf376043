import dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { UnstampedEvent } from '../../src/events/types.js';
import { DnsResponder, parseQuery } from '../../src/egress/dns-responder.js';
import { Policy } from '../../src/egress/policy.js';
import { DecisionRecorder } from '../../src/egress/record.js';
import { SyntheticPool } from '../../src/egress/synthetic.js';
import { TunnelGuard } from '../../src/egress/tunnel.js';

function setup(allow: string[], limits = { burst: 5, windowMs: 10_000, lifetime: 50 }) {
  const events: UnstampedEvent[] = [];
  let now = 1_000_000;
  const pool = new SyntheticPool();
  const r = new DnsResponder({
    policy: () => new Policy(allow),
    pool,
    tunnel: new TunnelGuard(limits, () => now),
    record: new DecisionRecorder({ sandboxId: 't', emit: (e) => events.push(e), ratePerSec: 1e6 }),
  });
  const ask = (name: string, type: dnsPacket.RecordType = 'A') =>
    dnsPacket.decode(r.handle(dnsPacket.encode({ type: 'query', id: 42, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] }))!);
  return { r, ask, events, pool, tick: (ms: number) => (now += ms) };
}

describe('DNS responder', () => {
  it('answers an allowed name with its own synthetic address', () => {
    const { ask, pool } = setup(['a.test', 'b.test']);
    const a = ask('a.test');
    const b = ask('B.TEST.');
    expect(a.rcode).toBe('NOERROR');
    expect(a.id).toBe(42);
    expect(a.answers![0]).toMatchObject({ type: 'A', name: 'a.test' });
    const addrA = (a.answers![0] as { data: string }).data;
    const addrB = (b.answers![0] as { data: string }).data;
    expect(addrA).toMatch(/^198\.1[89]\./);
    expect(addrA).not.toBe(addrB);
    expect(pool.nameOf(addrA)).toBe('a.test');
    expect((ask('a.test').answers![0] as { data: string }).data).toBe(addrA);
  });

  it('AAAA and other types of allowed names get no data; ANY is not implemented', () => {
    const { ask } = setup(['a.test']);
    expect(ask('a.test', 'AAAA')).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect(ask('a.test', 'TXT')).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect(ask('a.test', 'ANY').rcode).toBe('NOTIMP');
  });

  it('refuses names that are not listed, and says so in an event', () => {
    const { ask, events } = setup(['a.test']);
    expect(ask('evil.test').rcode).toBe('NXDOMAIN');
    expect(ask('x.a.test').rcode).toBe('NXDOMAIN');
    expect(events.at(-1)).toMatchObject({ kind: 'net.dns', severity: 'warn', dns: { query: 'x.a.test', rcode: 'NXDOMAIN' }, data: { decision: 'deny' } });
  });

  it('never answers numeric names (IP spellings)', () => {
    const { ask } = setup(['*.a.test']);
    for (const n of ['127.0.0.1', '2130706433', '0x7f.1', '1.2.3.4.5']) expect(ask(n).rcode).not.toBe('NOERROR');
  });

  it('refuses a burst of distinct names under one wildcard and alerts once', () => {
    const { ask, events, tick } = setup(['*.wild.test', 'exact.wild.test']);
    const codes = Array.from({ length: 12 }, (_, i) => ask(`secret-${i}.wild.test`).rcode);
    expect(codes.slice(0, 5)).toEqual(Array(5).fill('NOERROR'));
    expect(codes.slice(5)).toEqual(Array(7).fill('REFUSED'));
    const alerts = events.filter((e) => e.severity === 'alert');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ rule: 'egress.dns_tunnel', category: 'exfiltration' });
    // names already answered keep working; exact entries are not subject to the guard
    expect(ask('secret-0.wild.test').rcode).toBe('NOERROR');
    expect(ask('exact.wild.test').rcode).toBe('NOERROR');
    // the guard reopens after a quiet window
    tick(20_000);
    expect(ask('later.wild.test').rcode).toBe('NOERROR');
  });

  it('caps distinct names per wildcard over the lifetime', () => {
    const { ask, tick } = setup(['*.wild.test'], { burst: 1000, windowMs: 1000, lifetime: 10 });
    for (let i = 0; i < 10; i++) expect(ask(`n${i}.wild.test`).rcode).toBe('NOERROR');
    tick(5000);
    expect(ask('n10.wild.test').rcode).toBe('REFUSED');
  });

  it('refuses labels with bytes outside host-name characters (no ambiguous dotted labels)', () => {
    const { r } = setup(['*.a.test']);
    // one label "x.y" (with a dot byte) under a.test
    const q = Buffer.concat([
      Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
      Buffer.from([3]), Buffer.from('x.y'), Buffer.from([1]), Buffer.from('a'), Buffer.from([4]), Buffer.from('test'), Buffer.from([0, 0, 1, 0, 1]),
    ]);
    expect(parseQuery(q)).toMatchObject({ ok: false, reason: 'invalid-name' });
    expect(dnsPacket.decode(r.handle(q)!).rcode).toBe('REFUSED');
  });

  it('ignores responses and runts, never throws on random packets', () => {
    const { r } = setup(['a.test']);
    expect(r.handle(Buffer.alloc(5))).toBeUndefined();
    const resp = dnsPacket.encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'a.test' }] });
    expect(r.handle(resp)).toBeUndefined();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), (u) => {
        r.handle(Buffer.from(u));
      }),
      { numRuns: 5000 },
    );
  });
});
