import fc from 'fast-check';
import net from 'node:net';
import tls from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseClientHello } from '../../src/egress/sni.js';

/** A real ClientHello from Node's TLS stack (captured on loopback). */
function captureHello(servername: string | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer((c) => {
      let buf = Buffer.alloc(0);
      c.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        const r = parseClientHello(buf);
        if (r.status !== 'need-more') {
          c.destroy();
          srv.close();
          resolve(buf);
        }
      });
    });
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      const s = tls.connect({ host: '127.0.0.1', port, ...(servername ? { servername } : {}), rejectUnauthorized: false });
      s.on('error', () => {});
    });
    srv.on('error', reject);
  });
}

/** Re-frames the handshake bytes of a single-record hello into records of the given sizes. */
function reRecord(hello: Buffer, sizes: number[]): Buffer {
  const hs = hello.subarray(5, 5 + hello.readUInt16BE(3));
  const out: Buffer[] = [];
  let o = 0;
  let i = 0;
  while (o < hs.length) {
    const n = Math.max(1, Math.min(sizes[i++ % sizes.length]!, hs.length - o));
    const h = Buffer.from([0x16, 0x03, 0x01, n >> 8, n & 255]);
    out.push(h, hs.subarray(o, o + n));
    o += n;
  }
  return Buffer.concat(out);
}

let hello: Buffer;
let noSni: Buffer;
beforeAll(async () => {
  hello = await captureHello('api.example.com');
  noSni = await captureHello(undefined);
});

describe('ClientHello SNI', () => {
  it('finds the server name in a real hello', () => {
    expect(parseClientHello(hello)).toEqual({ status: 'done', sni: 'api.example.com', ech: false });
  });

  it('a hello without SNI parses with no name', () => {
    expect(parseClientHello(noSni)).toMatchObject({ status: 'done', sni: undefined });
  });

  it('waits for more on every proper prefix (split across TCP segments)', () => {
    for (let n = 1; n < hello.length; n++) expect(parseClientHello(hello.subarray(0, n)).status).toBe('need-more');
  });

  it('reassembles a hello split across TLS records', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 20 }), (sizes) => {
        const b = reRecord(hello, sizes);
        expect(parseClientHello(b)).toMatchObject({ status: 'done', sni: 'api.example.com' });
        // and across segments of that
        const cut = Math.floor(b.length / 2);
        expect(parseClientHello(b.subarray(0, cut)).status).toBe('need-more');
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a non-handshake record in the middle of the hello', () => {
    const b = reRecord(hello, [40]);
    const second = 5 + 40;
    const bad = Buffer.from(b);
    bad[second] = 0x17; // application data where the next handshake fragment should be
    expect(parseClientHello(bad).status).toBe('invalid');
  });

  it('refuses two server_name extensions', () => {
    // Build a minimal hello: version, random, sid 0, 1 suite, 1 compression, two SNI extensions.
    const sni = (name: string) => {
      const n = Buffer.from(name);
      const entry = Buffer.concat([Buffer.from([0, n.length >> 8, n.length & 255]), n]);
      const list = Buffer.concat([Buffer.from([entry.length >> 8, entry.length & 255]), entry]);
      return Buffer.concat([Buffer.from([0, 0, list.length >> 8, list.length & 255]), list]);
    };
    const build = (exts: Buffer) => {
      const body = Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32), Buffer.from([0, 0, 2, 0x13, 0x01, 1, 0]), Buffer.from([exts.length >> 8, exts.length & 255]), exts]);
      const hs = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 255]), body]);
      return Buffer.concat([Buffer.from([0x16, 3, 1, hs.length >> 8, hs.length & 255]), hs]);
    };
    expect(parseClientHello(build(sni('a.test')))).toMatchObject({ status: 'done', sni: 'a.test' });
    expect(parseClientHello(build(Buffer.concat([sni('a.test'), sni('b.test')])))).toMatchObject({ status: 'invalid' });
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        parseClientHello(b);
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws on a real hello with random corruption, and never invents a name', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat(), (muts, cut) => {
        const b = Buffer.from(hello);
        for (const [i, v] of muts) b[i % b.length] = v;
        const r = parseClientHello(b.subarray(0, 1 + (cut % b.length)));
        if (r.status === 'done' && r.sni !== undefined) expect(typeof r.sni).toBe('string');
      }),
      { numRuns: 3000 },
    );
  });
});
