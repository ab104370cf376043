// Wire formats between the rootless relay (inside the sandbox's namespaces) and the policy
// proxy outside: a one-line JSON header before each relayed TCP stream, and DNS messages
// framed with a 2-byte length (as in DNS over TCP) on one long-lived unix stream.
import type net from 'node:net';

export interface RelayHeader {
  dst: string | null;
  dport: number | null;
  src?: string;
  sport?: number;
}

export const MAX_HEADER = 512;

export function encodeHeader(h: RelayHeader): Buffer {
  return Buffer.from(JSON.stringify(h) + '\n');
}

/** Parses a header line strictly; undefined if it is not exactly what the relay writes. */
export function decodeHeader(line: string): RelayHeader | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  const ipOk = (x: unknown) => x === null || (typeof x === 'string' && /^[0-9.]{7,15}$/.test(x));
  const portOk = (x: unknown) => x === null || (Number.isInteger(x) && (x as number) > 0 && (x as number) < 65536);
  if (!ipOk(o.dst) || !portOk(o.dport)) return undefined;
  if (o.src !== undefined && !ipOk(o.src)) return undefined;
  if (o.sport !== undefined && !portOk(o.sport)) return undefined;
  return { dst: o.dst as string | null, dport: o.dport as number | null, src: o.src as string | undefined, sport: o.sport as number | undefined };
}

/** Reads the header line off a stream; resolves with it and the bytes after it. */
export function readHeader(sock: net.Socket, timeoutMs: number): Promise<{ header: RelayHeader; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (err?: Error, r?: { header: RelayHeader; rest: Buffer }) => {
      clearTimeout(t);
      sock.off('data', onData);
      sock.off('end', onEnd);
      sock.pause();
      err ? reject(err) : resolve(r!);
    };
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > MAX_HEADER) done(new Error('relay header too long'));
        return;
      }
      const header = decodeHeader(buf.subarray(0, nl).toString('utf8'));
      if (!header) return done(new Error('bad relay header'));
      done(undefined, { header, rest: buf.subarray(nl + 1) });
    };
    const onEnd = () => done(new Error('relay closed before header'));
    const t = setTimeout(() => done(new Error('relay header timeout')), timeoutMs);
    sock.on('data', onData);
    sock.on('end', onEnd);
  });
}

/** Splits a byte stream into 2-byte-length-prefixed frames. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onFrame: (f: Buffer) => void) {}
  push(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    while (this.buf.length >= 2) {
      const len = this.buf.readUInt16BE(0);
      if (this.buf.length < 2 + len) break;
      const f = this.buf.subarray(2, 2 + len);
      this.buf = this.buf.subarray(2 + len);
      this.onFrame(Buffer.from(f));
    }
  }
}

export function frame(b: Buffer): Buffer {
  const h = Buffer.alloc(2);
  h.writeUInt16BE(b.length);
  return Buffer.concat([h, b]);
}

/** Closes a socket abortively where possible (TCP RST), else plainly (unix sockets). */
export function hardClose(s: net.Socket): void {
  try {
    if ((s as unknown as { _handle?: { constructor?: { name?: string } } })._handle?.constructor?.name === 'TCP') s.resetAndDestroy();
    else s.destroy();
  } catch {
    s.destroy();
  }
}
