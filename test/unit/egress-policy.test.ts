import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalisePolicyHost, normaliseWireHost } from '../../src/egress/names.js';
import { AllowEntryError, checkAllowEntry, parseAllowEntry, Policy } from '../../src/egress/policy.js';

describe('name normalisation', () => {
  it.each([
    ['Example.COM', 'example.com'],
    ['example.com.', 'example.com'],
    ['bücher.test', 'xn--bcher-kva.test'],
    ['ＥＸＡＭＰＬＥ.com', 'example.com'],
    ['_acme.example.com', '_acme.example.com'],
  ])('policy %s -> %s', (raw, want) => {
    expect(normalisePolicyHost(raw)).toEqual({ kind: 'name', name: want });
  });

  it('full-width digits in a policy are an address, not a name', () => {
    expect(normalisePolicyHost('１２７.０.０.１')).toMatchObject({ kind: 'ip', ip: { text: '127.0.0.1' } });
  });

  it.each(['a/b.com', 'ex%41mple.com', 'a b.com', 'a..b', 'x'.repeat(64) + '.com', 'a@b.com', ''])('policy %j is refused', (raw) => {
    expect(normalisePolicyHost(raw).kind).toBe('invalid');
  });

  it('wire names must already be ASCII; case and trailing dot do not matter', () => {
    expect(normaliseWireHost('API.GitHub.com.')).toEqual({ kind: 'name', name: 'api.github.com' });
    expect(normaliseWireHost('bücher.test').kind).toBe('invalid');
    expect(normaliseWireHost('a\u200b.com').kind).toBe('invalid');
    expect(normaliseWireHost('xn--bcher-kva.test')).toEqual({ kind: 'name', name: 'xn--bcher-kva.test' });
    expect(normaliseWireHost('xn--zz.test').kind).toBe('invalid');
    expect(normaliseWireHost('0x7f.1')).toMatchObject({ kind: 'ip', ip: { text: '127.0.0.1' } });
    expect(normaliseWireHost('[::1]')).toMatchObject({ kind: 'ip' });
  });

  it('never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        normalisePolicyHost(s);
        normaliseWireHost(s);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('allow entries', () => {
  it('parses hosts, wildcards, ports and addresses', () => {
    expect(parseAllowEntry('GitHub.com')).toMatchObject({ kind: 'host', name: 'github.com', ports: [80, 443] });
    expect(parseAllowEntry('github.com:22')).toMatchObject({ kind: 'host', name: 'github.com', ports: [22] });
    expect(parseAllowEntry('*.githubusercontent.com')).toMatchObject({ kind: 'wildcard', domain: 'githubusercontent.com' });
    expect(parseAllowEntry('203.0.113.7:8443')).toMatchObject({ kind: 'ip', ports: [8443] });
    expect(parseAllowEntry('0x7f.1')).toMatchObject({ kind: 'ip' });
    expect(parseAllowEntry('10.0.0.0/8:5432')).toMatchObject({ kind: 'ip', ports: [5432] });
    expect(parseAllowEntry('[2001:db8::1]:443')).toMatchObject({ kind: 'ip', ports: [443] });
    expect(parseAllowEntry('2001:db8::1')).toMatchObject({ kind: 'ip', ports: [80, 443] });
  });

  it.each([
    ['*', /network.mode: full/],
    ['*.com', /top-level/],
    ['a.*.com', /first label/],
    ['host:0', /out of range/],
    ['host:99999', /out of range/],
    ['host:x', /not a number/],
    ['1.2.3.4.5', /malformed/],
    ['10.0.0.0/33', /CIDR/],
    ['', /empty/],
  ])('refuses %j', (raw, re) => {
    expect(checkAllowEntry(raw)).toMatch(re);
  });

  it('reports the index of a bad entry', () => {
    expect(() => new Policy(['ok.test', 'bad host'])).toThrow(AllowEntryError);
    expect(() => new Policy(['ok.test', 'bad host'])).toThrow(/network.allow\[1\]/);
  });
});

describe('decisions', () => {
  const p = new Policy(['github.com', 'github.com:22', '*.githubusercontent.com', 'api.example.com:8443', '203.0.113.7']);

  it('allows only 80 and 443 without a port', () => {
    expect(p.decideName('github.com', 443).allowed).toBe(true);
    expect(p.decideName('github.com', 80).allowed).toBe(true);
    expect(p.decideName('github.com', 22).allowed).toBe(true);
    expect(p.decideName('github.com', 25)).toMatchObject({ allowed: false, reason: 'port-not-allowed' });
    expect(p.decideName('api.example.com', 443)).toMatchObject({ allowed: false, reason: 'port-not-allowed' });
    expect(p.decideName('api.example.com', 8443).allowed).toBe(true);
  });

  it('wildcards match subdomains at any depth, not the domain itself', () => {
    expect(p.decideName('raw.githubusercontent.com', 443).allowed).toBe(true);
    expect(p.decideName('a.b.githubusercontent.com', 443).allowed).toBe(true);
    expect(p.decideName('githubusercontent.com', 443)).toMatchObject({ allowed: false, reason: 'not-listed' });
    expect(p.decideName('evilgithubusercontent.com', 443).allowed).toBe(false);
    expect(p.wildcardOf('raw.githubusercontent.com')).toBe('githubusercontent.com');
    expect(p.wildcardOf('github.com')).toBeUndefined();
  });

  it('an unlisted name is not known to DNS; a name listed on any port is', () => {
    expect(p.knowsName('evil.test')).toBe(false);
    expect(p.knowsName('api.example.com')).toBe(true);
  });

  it('addresses only by listing', () => {
    expect(p.ipEntry('203.0.113.7', 443)).toBeDefined();
    expect(p.ipEntry('203.0.113.7', 22)).toBeUndefined();
    expect(p.ipEntry('203.0.113.8', 443)).toBeUndefined();
  });

  it('suggests the entry to add', () => {
    expect(Policy.suggest('x.test', 443)).toBe('x.test');
    expect(Policy.suggest('x.test', 22)).toBe('x.test:22');
    expect(Policy.suggest('2001:db8::1', 22)).toBe('[2001:db8::1]:22');
  });
});
