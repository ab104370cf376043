// IP address parsing and classification for egress policy. Hosts spell addresses in many
// ways (inet_aton/WHATWG: 2130706433, 0x7f.1, 0177.0.0.1), and a name that resolves to a
// loopback or metadata address is a rebinding attack: both are decided here, in one place.
import net from 'node:net';

/**
 * WHATWG URL "ends in a number": a host whose last label is numeric is an IPv4 literal (valid or
 * not), never a DNS name. `1.2.3.4.5` and `0x1g` are invalid literals, not names.
 */
export function endsInNumber(host: string): boolean {
  const parts = host.split('.');
  if (parts[parts.length - 1] === '' && parts.length > 1) parts.pop();
  const last = parts[parts.length - 1] ?? '';
  if (last !== '' && /^[0-9]+$/.test(last)) return true;
  return /^0x[0-9a-f]*$/i.test(last);
}

function parseV4Part(p: string): number | undefined {
  if (p === '') return undefined;
  let radix = 10;
  let s = p;
  if (/^0x/i.test(s)) {
    radix = 16;
    s = s.slice(2);
    if (s === '') return 0;
    if (!/^[0-9a-f]+$/i.test(s)) return undefined;
  } else if (s.length > 1 && s[0] === '0') {
    radix = 8;
    s = s.slice(1);
    if (!/^[0-7]+$/.test(s)) return undefined;
  } else if (!/^[0-9]+$/.test(s)) {
    return undefined;
  }
  // Long digit strings overflow doubles silently; anything this long is out of range anyway.
  if (s.length > 12) return Number.POSITIVE_INFINITY;
  return parseInt(s, radix);
}

/**
 * Parses an IPv4 address in any spelling inet_aton and WHATWG URL accept (1 to 4 parts, each
 * decimal, 0-prefixed octal or 0x hex; the last part fills the remaining bytes). Returns the
 * address as an unsigned 32-bit number, or undefined when `s` is not such a literal.
 */
export function parseIPv4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length === 0 || parts.length > 4) return undefined;
  const nums: number[] = [];
  for (const p of parts) {
    const n = parseV4Part(p);
    if (n === undefined) return undefined;
    nums.push(n);
  }
  const last = nums.pop()!;
  for (const n of nums) if (n > 255) return undefined;
  if (last >= 256 ** (4 - nums.length)) return undefined;
  let v = last;
  nums.forEach((n, i) => (v += n * 256 ** (3 - i)));
  return v >>> 0;
}

export function formatIPv4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** 16 bytes of an IPv6 address (zone id ignored), or undefined. */
export function parseIPv6(s: string): Uint8Array | undefined {
  let t = s;
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  const pct = t.indexOf('%');
  if (pct >= 0) t = t.slice(0, pct);
  if (!net.isIPv6(t)) return undefined;
  let tail: number[] = [];
  const m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (m) {
    const v4 = parseStrictIPv4(m[2]!);
    if (v4 === undefined) return undefined;
    t = m[1]! + '0:0';
    tail = [(v4 >>> 24) & 255, (v4 >>> 16) & 255, (v4 >>> 8) & 255, v4 & 255];
  }
  const [head, rest] = t.includes('::') ? t.split('::') : [t, undefined];
  const hs = head ? head.split(':') : [];
  const rs = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups = rest === undefined ? hs : [...hs, ...Array(8 - hs.length - rs.length).fill('0'), ...rs];
  if (groups.length !== 8) return undefined;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 255;
  });
  if (tail.length) out.set(tail, 12);
  return out;
}

/** Dotted-quad only (what DNS answers and sockets report). */
export function parseStrictIPv4(s: string): number | undefined {
  if (!net.isIPv4(s)) return undefined;
  return s.split('.').reduce((a, p) => a * 256 + Number(p), 0) >>> 0;
}

export function formatIPv6(b: Uint8Array): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return g.join(':');
  return `${g.slice(0, best).join(':')}::${g.slice(best + bestLen).join(':')}`;
}

export type IpLiteral = { family: 4; v4: number; text: string } | { family: 6; v6: Uint8Array; text: string };

/**
 * Parses a host that is an IP literal in any spelling (IPv4 forms above, IPv6 with or without
 * brackets). `invalid` means it looks numeric (so it is not a DNS name) but is not an address.
 */
export function parseIpLiteral(host: string): IpLiteral | 'invalid' | undefined {
  if (host.includes(':') || host.startsWith('[')) {
    const b = parseIPv6(host);
    if (!b) return 'invalid';
    return { family: 6, v6: b, text: formatIPv6(b) };
  }
  if (!endsInNumber(host)) return undefined;
  const v = parseIPv4(host);
  if (v === undefined) return 'invalid';
  return { family: 4, v4: v, text: formatIPv4(v) };
}

function v4In(v: number, base: string, bits: number): boolean {
  const b = parseStrictIPv4(base)!;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return ((v & mask) >>> 0) === ((b & mask) >>> 0);
}

function v6Prefix(b: Uint8Array, prefix: number[], bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const byte = i >> 3;
    const bit = 7 - (i & 7);
    if (((b[byte]! >> bit) & 1) !== (((prefix[byte] ?? 0) >> bit) & 1)) return false;
  }
  return true;
}

/** IPv4 carried inside an IPv6 address (mapped, NAT64, 6to4, IPv4-compatible), if any. */
export function embeddedIPv4(b: Uint8Array, includeCompat = true): number | undefined {
  const word = (i: number) => ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
  if (v6Prefix(b, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], 96)) return word(12); // ::ffff:a.b.c.d
  if (v6Prefix(b, [0, 0x64, 0xff, 0x9b], 96)) return word(12); // 64:ff9b::/96 NAT64
  if (v6Prefix(b, [0x20, 0x02], 16)) return word(2); // 2002:aabb:ccdd::/48 6to4
  if (includeCompat && v6Prefix(b, [], 96) && word(12) > 1) return word(12); // ::a.b.c.d (deprecated)
  return undefined;
}

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'metadata'
  | 'unspecified'
  | 'multicast'
  | 'reserved'
  | 'shared'; // 100.64/10 carrier-grade NAT (also Alibaba's metadata address)

// Cloud instance metadata endpoints, named so audits say "metadata", not just "link-local".
const METADATA_V4 = ['169.254.169.254', '169.254.170.2', '169.254.169.253', '100.100.100.200', '168.63.129.16', '192.0.0.192'];
const METADATA_V6 = ['fd00:ec2::254', 'fd00:ec2::23'];

export function classifyIPv4(v: number): AddressClass {
  if (METADATA_V4.some((m) => parseStrictIPv4(m) === v)) return 'metadata';
  if (v4In(v, '127.0.0.0', 8)) return 'loopback';
  if (v4In(v, '0.0.0.0', 8)) return 'unspecified';
  if (v4In(v, '10.0.0.0', 8) || v4In(v, '172.16.0.0', 12) || v4In(v, '192.168.0.0', 16)) return 'private';
  if (v4In(v, '169.254.0.0', 16)) return 'link-local';
  if (v4In(v, '100.64.0.0', 10)) return 'shared';
  if (v4In(v, '224.0.0.0', 4)) return 'multicast';
  // 192.0.0.0/24 IETF assignments, 198.18/15 benchmarking (also Warden's synthetic pool), 240/4 and broadcast.
  if (v4In(v, '192.0.0.0', 24) || v4In(v, '198.18.0.0', 15) || v4In(v, '240.0.0.0', 4)) return 'reserved';
  return 'public';
}

export function classifyIPv6(b: Uint8Array): AddressClass {
  const text = formatIPv6(b);
  if (METADATA_V6.includes(text)) return 'metadata';
  if (text === '::') return 'unspecified';
  if (text === '::1') return 'loopback';
  const v4 = embeddedIPv4(b);
  if (v4 !== undefined) {
    const c = classifyIPv4(v4);
    return c === 'public' ? 'public' : c;
  }
  if (v6Prefix(b, [], 96)) return 'reserved'; // ::/96 other than the cases above
  if (v6Prefix(b, [0xfc], 7)) return 'private'; // ULA fc00::/7 (fd00:ec2::254 above)
  if (v6Prefix(b, [0xfe, 0x80], 10)) return 'link-local';
  if (v6Prefix(b, [0xfe, 0xc0], 10)) return 'private'; // site-local (deprecated)
  if (v6Prefix(b, [0xff], 8)) return 'multicast';
  if (v6Prefix(b, [0x20, 0x01, 0, 0], 32)) return 'reserved'; // Teredo tunnels to any IPv4
  if (v6Prefix(b, [0x01, 0, 0, 0, 0, 0, 0, 0], 64)) return 'reserved'; // discard
  if (v6Prefix(b, [0, 0x64, 0xff, 0x9b, 0, 1], 48)) return 'reserved'; // local-use NAT64
  return 'public';
}

/** Class of a dotted-quad or IPv6 text address (what sockets and resolvers return). */
export function classifyAddress(addr: string): AddressClass {
  const v4 = parseStrictIPv4(addr);
  if (v4 !== undefined) return classifyIPv4(v4);
  const v6 = parseIPv6(addr);
  if (v6) return classifyIPv6(v6);
  return 'reserved';
}

/** Canonical text of an address for comparisons (IPv4 dotted quad, IPv6 RFC 5952; mapped IPv4 unwrapped). */
export function canonicalAddress(addr: string): string | undefined {
  const lit = parseIpLiteral(addr);
  if (lit === undefined || lit === 'invalid') return undefined;
  if (lit.family === 4) return lit.text;
  const b = lit.v6;
  if (v6Prefix(b, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], 96)) return formatIPv4(embeddedIPv4(b)!);
  return lit.text;
}

export interface Cidr {
  family: 4 | 6;
  bits: number;
  v4?: number;
  v6?: Uint8Array;
}

export function parseCidr(s: string): Cidr | undefined {
  const [a, b] = s.split('/');
  if (a === undefined) return undefined;
  const v4 = parseStrictIPv4(a);
  if (v4 !== undefined) {
    const bits = b === undefined ? 32 : /^\d+$/.test(b) ? Number(b) : NaN;
    if (!(bits >= 0 && bits <= 32)) return undefined;
    return { family: 4, bits, v4 };
  }
  const v6 = parseIPv6(a);
  if (!v6) return undefined;
  const bits = b === undefined ? 128 : /^\d+$/.test(b) ? Number(b) : NaN;
  if (!(bits >= 0 && bits <= 128)) return undefined;
  return { family: 6, bits, v6 };
}

export function cidrContains(c: Cidr, addr: string): boolean {
  const canon = canonicalAddress(addr);
  if (!canon) return false;
  if (c.family === 4) {
    const v = parseStrictIPv4(canon);
    return v !== undefined && v4In(v, formatIPv4(c.v4!), c.bits);
  }
  const b = parseIPv6(canon);
  return b !== undefined && v6Prefix(b, Array.from(c.v6!), c.bits);
}
