import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalAddress,
  cidrContains,
  classifyAddress,
  endsInNumber,
  formatIPv4,
  parseCidr,
  parseIPv4,
  parseIpLiteral,
} from '../../src/egress/ip.js';

describe('IPv4 spellings (inet_aton / WHATWG URL)', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['0x7f000001', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['017700000001', '127.0.0.1'],
    ['127.1', '127.0.0.1'],
    ['127.0.1', '127.0.0.1'],
    ['0', '0.0.0.0'],
    ['0x', '0.0.0.0'],
    ['169.254.43518', '169.254.169.254'],
    ['0xA9.0xFE.0xA9.0xFE', '169.254.169.254'],
    ['2852039166', '169.254.169.254'],
    ['1.2.3.4.', '1.2.3.4'],
  ])('%s is %s', (s, want) => {
    const v = parseIPv4(s);
    expect(v).toBeDefined();
    expect(formatIPv4(v!)).toBe(want);
    expect(parseIpLiteral(s)).toMatchObject({ family: 4, text: want });
  });

  it.each(['1.2.3.4.5', '256.1.1.1', '08.1.1.1', '0x1g', '4294967296', '1.2.65536', '1..2'])('%s is not a valid address', (s) => {
    expect(parseIPv4(s)).toBeUndefined();
  });

  it('numeric-looking hosts are literals (valid or not), never names', () => {
    expect(endsInNumber('1.2.3.4.5')).toBe(true);
    expect(parseIpLiteral('1.2.3.4.5')).toBe('invalid');
    expect(parseIpLiteral('0x1g')).toBeUndefined(); // "0x1g" does not end in a number: a (weird) name
    expect(parseIpLiteral('example.com')).toBeUndefined();
    expect(parseIpLiteral('1.example')).toBeUndefined();
  });

  it('every spelling of a random address parses to it', () => {
    const spell = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 5 }), fc.array(fc.constantFrom('d', 'o', 'x'), { minLength: 4, maxLength: 4 }));
    fc.assert(
      fc.property(spell, ([v, form, radix]) => {
        const b = [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
        const fmt = (n: number, r: string) => (r === 'o' ? '0' + n.toString(8) : r === 'x' ? '0x' + n.toString(16) : String(n));
        let parts: number[];
        if (form === 0) parts = [v];
        else if (form === 1) parts = [b[0]!, v & 0xffffff];
        else if (form === 2) parts = [b[0]!, b[1]!, v & 0xffff];
        else parts = b;
        const s = parts.map((p, i) => fmt(p, radix[i]!)).join('.');
        expect(parseIPv4(s)).toBe(v >>> 0);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        parseIPv4(s);
        parseIpLiteral(s);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('address classes (resolved-address guard)', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'metadata'],
    ['169.254.1.1', 'link-local'],
    ['100.100.100.200', 'metadata'],
    ['168.63.129.16', 'metadata'],
    ['100.64.0.1', 'shared'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['198.18.0.5', 'reserved'],
    ['8.8.8.8', 'public'],
    ['203.0.113.7', 'public'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['2002:7f00:1::', 'loopback'],
    ['fd00:ec2::254', 'metadata'],
    ['fd12::1', 'private'],
    ['fe80::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['2001:0:4136:e378::1', 'reserved'],
    ['2606:4700::1111', 'public'],
    ['::ffff:8.8.8.8', 'public'],
  ])('%s is %s', (a, c) => {
    expect(classifyAddress(a)).toBe(c);
  });

  it('canonicalises mapped IPv4 and CIDR membership', () => {
    expect(canonicalAddress('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(canonicalAddress('2001:DB8:0:0::1')).toBe('2001:db8::1');
    expect(cidrContains(parseCidr('10.0.0.0/8')!, '10.9.8.7')).toBe(true);
    expect(cidrContains(parseCidr('10.0.0.0/8')!, '11.0.0.0')).toBe(false);
    expect(cidrContains(parseCidr('2001:db8::/32')!, '2001:db8:1::5')).toBe(true);
    expect(cidrContains(parseCidr('1.2.3.4')!, '::ffff:1.2.3.4')).toBe(true);
  });
});
