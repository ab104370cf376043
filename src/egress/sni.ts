// TLS ClientHello parser: finds the server name (SNI) a client asks for. It reassembles the
// handshake message across TLS records and TCP segments (a client can split its hello to
// hide the name from naive peekers) and never throws on hostile input.

export type SniResult =
  | { status: 'need-more' }
  | { status: 'done'; sni?: string; ech: boolean; alpn?: string[] }
  | { status: 'invalid'; reason: string };

const MAX_RECORD = 16384 + 256;
/** Largest ClientHello we wait for (post-quantum key shares make them ~2 KB; 32 KB is generous). */
export const MAX_HELLO = 32 * 1024;

/** true when the first byte is a TLS handshake record (the caller then waits for a full hello). */
export function looksLikeTls(b: Uint8Array): boolean {
  return b.length > 0 && b[0] === 0x16 && (b.length < 2 || b[1] === 3);
}

/** Concatenates the payloads of the leading handshake records; how much is complete. */
function reassemble(buf: Uint8Array): { data: Uint8Array; partial: boolean } | { error: string } {
  const parts: Uint8Array[] = [];
  let total = 0;
  let off = 0;
  while (off + 5 <= buf.length) {
    const type = buf[off]!;
    if (type !== 0x16) return parts.length ? { data: concat(parts, total), partial: false } : { error: 'not a handshake record' };
    if (buf[off + 1] !== 3) return { error: 'bad record version' };
    const len = (buf[off + 3]! << 8) | buf[off + 4]!;
    if (len === 0) return { error: 'empty handshake record' };
    if (len > MAX_RECORD) return { error: 'record too long' };
    const avail = Math.min(len, buf.length - off - 5);
    parts.push(buf.subarray(off + 5, off + 5 + avail));
    total += avail;
    if (avail < len) return { data: concat(parts, total), partial: true };
    off += 5 + len;
    if (total > MAX_HELLO + 4) break;
  }
  return { data: concat(parts, total), partial: true };
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function parseClientHello(buf: Uint8Array): SniResult {
  if (buf.length === 0) return { status: 'need-more' };
  if (buf[0] !== 0x16) return { status: 'invalid', reason: 'not a TLS handshake' };
  const r = reassemble(buf);
  if ('error' in r) return { status: 'invalid', reason: r.error };
  const hs = r.data;
  if (hs.length < 4) return r.partial ? { status: 'need-more' } : { status: 'invalid', reason: 'truncated handshake' };
  if (hs[0] !== 1) return { status: 'invalid', reason: 'first handshake message is not a ClientHello' };
  const len = (hs[1]! << 16) | (hs[2]! << 8) | hs[3]!;
  if (len > MAX_HELLO) return { status: 'invalid', reason: 'ClientHello too long' };
  if (hs.length < 4 + len) return r.partial ? { status: 'need-more' } : { status: 'invalid', reason: 'truncated ClientHello' };
  return parseHelloBody(hs.subarray(4, 4 + len));
}

function parseHelloBody(b: Uint8Array): SniResult {
  let o = 0;
  const bad = (reason: string): SniResult => ({ status: 'invalid', reason });
  const need = (n: number) => o + n <= b.length;
  if (!need(2 + 32 + 1)) return bad('short ClientHello');
  if (b[0] !== 3) return bad('bad legacy_version');
  o += 2 + 32;
  const sid = b[o]!;
  if (sid > 32 || !need(1 + sid)) return bad('bad session id');
  o += 1 + sid;
  if (!need(2)) return bad('no cipher suites');
  const cs = (b[o]! << 8) | b[o + 1]!;
  if (cs < 2 || cs % 2 || !need(2 + cs)) return bad('bad cipher suites');
  o += 2 + cs;
  if (!need(1)) return bad('no compression methods');
  const cm = b[o]!;
  if (cm < 1 || !need(1 + cm)) return bad('bad compression methods');
  o += 1 + cm;
  if (o === b.length) return { status: 'done', ech: false };
  if (!need(2)) return bad('bad extensions');
  const extLen = (b[o]! << 8) | b[o + 1]!;
  o += 2;
  if (o + extLen !== b.length) return bad('extensions length mismatch');
  const seen = new Set<number>();
  let sni: string | undefined;
  let alpn: string[] | undefined;
  let ech = false;
  while (o < b.length) {
    if (!need(4)) return bad('truncated extension');
    const type = (b[o]! << 8) | b[o + 1]!;
    const len = (b[o + 2]! << 8) | b[o + 3]!;
    o += 4;
    if (!need(len)) return bad('truncated extension');
    if (seen.has(type)) return bad(`duplicate extension ${type}`);
    seen.add(type);
    if (type === 0) {
      const r = parseServerName(b.subarray(o, o + len));
      if (typeof r !== 'string' || r === '') return bad(r === '' ? 'empty server name' : r.error);
      sni = r;
    } else if (type === 0xfe0d) {
      ech = true;
    } else if (type === 16) {
      alpn = parseAlpn(b.subarray(o, o + len));
      if (!alpn) return bad('malformed ALPN extension');
    }
    o += len;
  }
  return { status: 'done', sni, ech, ...(alpn ? { alpn } : {}) };
}

/** The protocol names of an ALPN extension (RFC 7301), or undefined when malformed. */
function parseAlpn(e: Uint8Array): string[] | undefined {
  if (e.length < 2 || ((e[0]! << 8) | e[1]!) + 2 !== e.length) return undefined;
  const out: string[] = [];
  for (let o = 2; o < e.length; ) {
    const n = e[o]!;
    if (n === 0 || o + 1 + n > e.length) return undefined;
    out.push(String.fromCharCode(...e.subarray(o + 1, o + 1 + n)));
    o += 1 + n;
  }
  return out;
}

function parseServerName(e: Uint8Array): string | { error: string } {
  if (e.length < 2) return { error: 'short server_name' };
  const listLen = (e[0]! << 8) | e[1]!;
  if (listLen + 2 !== e.length) return { error: 'server_name list length mismatch' };
  let o = 2;
  let name: string | undefined;
  while (o < e.length) {
    if (o + 3 > e.length) return { error: 'truncated server_name entry' };
    const type = e[o]!;
    const len = (e[o + 1]! << 8) | e[o + 2]!;
    o += 3;
    if (o + len > e.length) return { error: 'truncated server_name entry' };
    if (type === 0) {
      if (name !== undefined) return { error: 'two host_name entries' };
      let s = '';
      for (let i = o; i < o + len; i++) s += String.fromCharCode(e[i]!);
      name = s;
    }
    o += len;
  }
  return name ?? { error: 'server_name without host_name' };
}

/** A fatal TLS alert record (TLS 1.2 framing, understood by every client). */
export function tlsAlert(description: number): Buffer {
  return Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description]);
}
export const ALERT_ACCESS_DENIED = 49;
export const ALERT_UNRECOGNIZED_NAME = 112;
