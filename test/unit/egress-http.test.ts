import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hostOfAuthority, looksLikeHttp, parseHttpHead } from '../../src/egress/http-host.js';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('HTTP request head', () => {
  it('reads method, target and Host', () => {
    const r = parseHttpHead(b('GET /x HTTP/1.1\r\nHost: Example.com:8080\r\nAccept: */*\r\n\r\nbody'));
    expect(r).toMatchObject({ status: 'done', head: { method: 'GET', target: '/x', host: 'Example.com', headLength: 56 } });
  });

  it('waits for the end of the head', () => {
    const full = 'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n';
    for (let n = 0; n < full.length; n++) expect(parseHttpHead(b(full.slice(0, n))).status).toBe('need-more');
    expect(parseHttpHead(b(full)).status).toBe('done');
  });

  it('takes the host of absolute-form and CONNECT targets', () => {
    expect(parseHttpHead(b('GET http://user@evil.test:81/p HTTP/1.1\r\nHost: a.test\r\n\r\n'))).toMatchObject({
      head: { host: 'a.test', targetHost: 'evil.test' },
    });
    expect(parseHttpHead(b('CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n'))).toMatchObject({
      head: { method: 'CONNECT', targetHost: 'evil.test' },
    });
  });

  it.each([
    ['two Host headers', 'GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n'],
    ['folded header', 'GET / HTTP/1.1\r\nHost: a.test\r\n b.test\r\n\r\n'],
    ['space before colon', 'GET / HTTP/1.1\r\nHost : b.test\r\n\r\n'],
    ['bare CR', 'GET / HTTP/1.1\r\nX: 1\rHost: b.test\r\n\r\n'],
    ['bad Host', 'GET / HTTP/1.1\r\nHost: a.test:80:90\r\n\r\n'],
    ['NUL', 'GET / HTTP/1.1\r\nHost: a.test\0\r\n\r\n'],
    ['odd target', 'GET x HTTP/1.1\r\nHost: a.test\r\n\r\n'],
  ])('refuses %s', (_, s) => {
    expect(parseHttpHead(b(s)).status).toBe('invalid');
  });

  it('tells HTTP from other protocols by the first line', () => {
    expect(looksLikeHttp(b('GET / HTTP/1.1\r\n'))).toBe('yes');
    expect(looksLikeHttp(b('GE'))).toBe('maybe');
    expect(looksLikeHttp(b('GET /index.html HT'))).toBe('maybe');
    expect(looksLikeHttp(b('SSH-2.0-OpenSSH_9.2\r\n'))).toBe('no');
    expect(looksLikeHttp(b('\x16\x03\x01'))).toBe('no');
    expect(looksLikeHttp(b('get / HTTP/1.1\r\n'))).toBe('no');
    expect(looksLikeHttp(b('HELLO world\r\n'))).toBe('no');
  });

  it('authority forms', () => {
    expect(hostOfAuthority('a.test')).toBe('a.test');
    expect(hostOfAuthority('a.test:443')).toBe('a.test');
    expect(hostOfAuthority('[::1]:443')).toBe('[::1]');
    expect(hostOfAuthority('a.test:x')).toBeUndefined();
  });

  it('never throws on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (u) => {
        parseHttpHead(u);
        looksLikeHttp(u);
      }),
      { numRuns: 5000 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        parseHttpHead(b('GET / HTTP/1.1\r\n' + s + '\r\n\r\n'));
      }),
      { numRuns: 3000 },
    );
  });
});
