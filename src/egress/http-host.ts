// HTTP/1.x request head parser: the method, the request target and the Host a client names.
// It is deliberately stricter than servers (one Host, no folded or oddly spaced header
// names, no bare CR): anything two parsers could read differently is refused, so the name
// Warden checks is the name the server sees.

export const MAX_HEAD = 16 * 1024;

export interface HttpHead {
  method: string;
  target: string;
  version: string;
  /** Host header (host part, without port), if present. */
  host?: string;
  /** Host from an absolute-form or authority-form (CONNECT) target, if any. */
  targetHost?: string;
  headLength: number;
}

export type HttpResult = { status: 'need-more' } | { status: 'done'; head: HttpHead } | { status: 'invalid'; reason: string };

const REQUEST_LINE = /^([A-Z][A-Z0-9_-]{0,19}) ([\x21-\x7e]+) HTTP\/(\d\.\d)$/;
// A prefix of a request line: METHOD, space, target, space, "HTTP/d.d" (each part partial).
const REQUEST_LINE_PREFIX = /^[A-Z][A-Z0-9_-]{0,19}(?: [\x21-\x7e]*(?: (?:H(?:T(?:T(?:P(?:\/(?:\d(?:\.\d?)?)?)?)?)?)?)?)?)?$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** 'yes' when the first line is an HTTP request line, 'maybe' while it could still become one. */
export function looksLikeHttp(b: Uint8Array): 'yes' | 'no' | 'maybe' {
  const n = Math.min(b.length, 8192);
  let line = '';
  for (let i = 0; i < n; i++) {
    const c = b[i]!;
    if (c === 0x0a) {
      if (line.endsWith('\r')) line = line.slice(0, -1);
      return REQUEST_LINE.test(line) ? 'yes' : 'no';
    }
    if ((c < 0x20 && c !== 0x0d) || c > 0x7e) return 'no';
    line += String.fromCharCode(c);
  }
  if (b.length >= 8192) return 'no';
  const probe = line.endsWith('\r') ? line.slice(0, -1) : line;
  return REQUEST_LINE_PREFIX.test(probe) ? 'maybe' : 'no';
}

/** Host part of "host", "host:port", "[v6]:port"; undefined if malformed. */
export function hostOfAuthority(a: string): string | undefined {
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    if (end < 0) return undefined;
    const rest = a.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    return a.slice(0, end + 1);
  }
  const i = a.indexOf(':');
  if (i < 0) return a === '' ? undefined : a;
  if (!/^\d{1,5}$/.test(a.slice(i + 1))) return undefined;
  return a.slice(0, i) || undefined;
}

export function parseHttpHead(b: Uint8Array): HttpResult {
  const limit = Math.min(b.length, MAX_HEAD);
  let end = -1;
  for (let i = 0; i < limit; i++) {
    if (b[i] === 0x0a && (b[i + 1] === 0x0a || (b[i + 1] === 0x0d && b[i + 2] === 0x0a))) {
      end = b[i + 1] === 0x0a ? i + 2 : i + 3;
      break;
    }
  }
  if (end < 0) return b.length >= MAX_HEAD ? { status: 'invalid', reason: 'request head too large' } : { status: 'need-more' };
  let text = '';
  for (let i = 0; i < end; i++) {
    const c = b[i]!;
    if (c === 0 || c > 0x7e) return { status: 'invalid', reason: 'non-ASCII byte in request head' };
    text += String.fromCharCode(c);
  }
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    const body = l.endsWith('\r') ? l.slice(0, -1) : l;
    if (body.includes('\r')) return { status: 'invalid', reason: 'bare CR in request head' };
    lines[i] = body;
  }
  const m = REQUEST_LINE.exec(lines[0] ?? '');
  if (!m) return { status: 'invalid', reason: 'malformed request line' };
  const [, method, target, version] = m as unknown as [string, string, string, string];
  let host: string | undefined;
  let hostCount = 0;
  for (const l of lines.slice(1)) {
    if (l === '') break;
    if (l[0] === ' ' || l[0] === '\t') return { status: 'invalid', reason: 'folded header line' };
    const c = l.indexOf(':');
    if (c <= 0) return { status: 'invalid', reason: 'malformed header line' };
    const name = l.slice(0, c);
    if (!TOKEN.test(name)) return { status: 'invalid', reason: 'malformed header name' };
    if (name.toLowerCase() === 'host') {
      hostCount++;
      const v = l.slice(c + 1).replace(/^[ \t]+|[ \t]+$/g, '');
      host = hostOfAuthority(v);
      if (host === undefined) return { status: 'invalid', reason: 'malformed Host header' };
    }
  }
  if (hostCount > 1) return { status: 'invalid', reason: 'more than one Host header' };
  let targetHost: string | undefined;
  if (method === 'CONNECT') {
    targetHost = hostOfAuthority(target);
    if (targetHost === undefined) return { status: 'invalid', reason: 'malformed CONNECT target' };
  } else if (!target.startsWith('/') && target !== '*') {
    const abs = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(target);
    if (!abs) return { status: 'invalid', reason: 'malformed request target' };
    const auth = abs[1]!.includes('@') ? abs[1]!.slice(abs[1]!.lastIndexOf('@') + 1) : abs[1]!;
    targetHost = hostOfAuthority(auth);
    if (targetHost === undefined) return { status: 'invalid', reason: 'malformed request target' };
  }
  return { status: 'done', head: { method, target, version, host, targetHost, headLength: end } };
}

/** A complete HTTP 403 response an agent can act on. */
export function forbiddenResponse(text: string, reason: string): Buffer {
  const body = Buffer.from(text.endsWith('\n') ? text : text + '\n');
  return Buffer.concat([
    Buffer.from(
      'HTTP/1.1 403 Forbidden\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        `X-Warden-Deny: ${reason}\r\n` +
        `Content-Length: ${body.length}\r\n` +
        'Connection: close\r\n\r\n',
    ),
    body,
  ]);
}
