// AWS Signature Version 4, re-signed. The sandbox holds a surrogate access key id and secret;
// its SDK signs with them. The proxy checks that signature with the surrogate secret (which
// also tells it how the client built the canonical URI), puts the real key id in the
// credential scope and signs the same request with the real secret: header auth, presigned
// query auth, and aws-chunked streaming bodies (each chunk signature chained from the new
// seed). The real secret never enters the sandbox.
import crypto from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

const ALGO = 'AWS4-HMAC-SHA256';
export const EMPTY_SHA256 = crypto.createHash('sha256').digest('hex');

export interface SigV4Auth {
  where: 'header' | 'query';
  keyId: string;
  date: string; // yyyymmdd
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

const hmac = (key: crypto.BinaryLike, s: string) => crypto.createHmac('sha256', key).update(s, 'utf8').digest();
const sha256hex = (s: string | Buffer) => crypto.createHash('sha256').update(s).digest('hex');

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

/** RFC 3986 encoding as AWS wants it (unreserved kept, everything else %XX upper case). */
export function awsEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Parses an `Authorization: AWS4-HMAC-SHA256 …` value or presigned query parameters. */
export function parseAuth(authorization: string | undefined, query: URLSearchParams): SigV4Auth | undefined {
  if (authorization?.startsWith(ALGO + ' ')) {
    const fields = Object.fromEntries(
      authorization
        .slice(ALGO.length + 1)
        .split(',')
        .map((p) => p.trim().split('=') as [string, string]),
    );
    const cred = fields.Credential?.split('/');
    if (!cred || cred.length !== 5 || !fields.SignedHeaders || !fields.Signature) return undefined;
    return { where: 'header', keyId: cred[0]!, date: cred[1]!, region: cred[2]!, service: cred[3]!, signedHeaders: fields.SignedHeaders.split(';'), signature: fields.Signature };
  }
  if (query.get('X-Amz-Algorithm') === ALGO) {
    const cred = query.get('X-Amz-Credential')?.split('/');
    const sh = query.get('X-Amz-SignedHeaders');
    const sig = query.get('X-Amz-Signature');
    if (!cred || cred.length !== 5 || !sh || !sig) return undefined;
    return { where: 'query', keyId: cred[0]!, date: cred[1]!, region: cred[2]!, service: cred[3]!, signedHeaders: sh.split(';'), signature: sig };
  }
  return undefined;
}

export interface SignInput {
  method: string;
  /** Request target as sent: path and query. */
  target: string;
  /** Lower-case header name → values (in order). */
  headers: Map<string, string[]>;
  /** x-amz-content-sha256, or the hash of the body, or UNSIGNED-PAYLOAD. */
  payloadHash: string;
  amzDate: string;
}

/** The canonical URI: `single` = each segment encoded once (S3), `double` = encoded again. */
export function canonicalUri(path: string, variant: 'single' | 'double'): string {
  const segs = path.split('/').map((s) => awsEncode(safeDecode(s)));
  const once = segs.join('/') || '/';
  return variant === 'single' ? once : once.split('/').map((s) => awsEncode(s)).join('/');
}

export function canonicalQuery(query: string, dropSignature: boolean): string {
  if (!query) return '';
  const pairs = query
    .split('&')
    .filter(Boolean)
    .map((kv) => {
      const eq = kv.indexOf('=');
      const k = safeDecode((eq < 0 ? kv : kv.slice(0, eq)).replace(/\+/g, '%20'));
      const v = eq < 0 ? '' : safeDecode(kv.slice(eq + 1).replace(/\+/g, '%20'));
      return [awsEncode(k), awsEncode(v)] as [string, string];
    })
    .filter(([k]) => !(dropSignature && k === 'X-Amz-Signature'));
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

export function canonicalRequest(i: SignInput, signedHeaders: string[], variant: 'single' | 'double', presigned: boolean): string {
  const q = i.target.indexOf('?');
  const path = q >= 0 ? i.target.slice(0, q) : i.target;
  const query = q >= 0 ? i.target.slice(q + 1) : '';
  const headers = signedHeaders.map((h) => `${h}:${(i.headers.get(h) ?? []).map((v) => v.trim().replace(/\s+/g, ' ')).join(',')}\n`).join('');
  return [i.method, canonicalUri(path, variant), canonicalQuery(query, presigned), headers, signedHeaders.join(';'), i.payloadHash].join('\n');
}

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return [ALGO, amzDate, scope, sha256hex(canonical)].join('\n');
}

export function sign(secret: string, a: Pick<SigV4Auth, 'date' | 'region' | 'service'>, amzDate: string, canonical: string): string {
  const scope = `${a.date}/${a.region}/${a.service}/aws4_request`;
  return crypto.createHmac('sha256', signingKey(secret, a.date, a.region, a.service)).update(stringToSign(amzDate, scope, canonical)).digest('hex');
}

export interface Resigned {
  /** The new Authorization value (header auth) or target (query auth). */
  authorization?: string;
  target?: string;
  signature: string;
  /** Whether the surrogate signature checked out (and with which URI encoding). */
  verified: boolean;
  variant: 'single' | 'double';
}

/**
 * Re-signs a request that was signed with the surrogate pair. `input.target` and the headers
 * are as they will be sent upstream (session token already real); the key id is replaced here.
 */
export function resign(auth: SigV4Auth, input: SignInput, keys: { surrogateSecret: string; realId: string; realSecret: string }): Resigned {
  const presigned = auth.where === 'query';
  const preferred: Array<'single' | 'double'> = auth.service === 's3' ? ['single', 'double'] : ['double', 'single'];
  // The surrogate signature was computed over the surrogate key id (in the query for presigned URLs).
  let variant = preferred[0]!;
  let verified = false;
  for (const v of preferred) {
    if (sign(keys.surrogateSecret, auth, input.amzDate, canonicalRequest(input, auth.signedHeaders, v, presigned)) === auth.signature) {
      variant = v;
      verified = true;
      break;
    }
  }
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  if (presigned) {
    const q = input.target.indexOf('?');
    const params = input.target
      .slice(q + 1)
      .split('&')
      .filter((kv) => !kv.startsWith('X-Amz-Signature='))
      .map((kv) => (kv.startsWith('X-Amz-Credential=') ? `X-Amz-Credential=${awsEncode(`${keys.realId}/${scope}`)}` : kv));
    const target = `${input.target.slice(0, q)}?${params.join('&')}`;
    const signature = sign(keys.realSecret, auth, input.amzDate, canonicalRequest({ ...input, target }, auth.signedHeaders, variant, true));
    return { target: `${target}&X-Amz-Signature=${signature}`, signature, verified, variant };
  }
  const signature = sign(keys.realSecret, auth, input.amzDate, canonicalRequest(input, auth.signedHeaders, variant, false));
  return {
    authorization: `${ALGO} Credential=${keys.realId}/${scope}, SignedHeaders=${auth.signedHeaders.join(';')}, Signature=${signature}`,
    signature,
    verified,
    variant,
  };
}

/** Streaming payload kinds this re-signer understands (x-amz-content-sha256). */
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';

/**
 * Rewrites the chunk signatures of an aws-chunked body: each `SIZE;chunk-signature=SIG` is
 * replaced by the signature chained from the re-signed seed (same length, so framing and
 * Content-Length stay). A trailer signature is recomputed the same way.
 */
export class ChunkResigner extends Transform {
  private buf: Buffer = Buffer.alloc(0);
  private prev: string;
  private readonly key: Buffer;
  private readonly scope: string;
  private state: 'head' | 'data' | 'trailer' | 'done' = 'head';
  private want = 0;
  private head = '';
  chunks = 0;
  failed: string | undefined;

  constructor(
    seedSignature: string,
    private readonly amzDate: string,
    auth: Pick<SigV4Auth, 'date' | 'region' | 'service'>,
    realSecret: string,
  ) {
    super();
    this.prev = seedSignature;
    this.key = signingKey(realSecret, auth.date, auth.region, auth.service);
    this.scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  }

  private sig(kind: 'PAYLOAD' | 'TRAILER', last: string, hash: string): string {
    const sts = kind === 'PAYLOAD' ? [`${ALGO}-PAYLOAD`, this.amzDate, this.scope, last, EMPTY_SHA256, hash].join('\n') : [`${ALGO}-TRAILER`, this.amzDate, this.scope, last, hash].join('\n');
    return crypto.createHmac('sha256', this.key).update(sts).digest('hex');
  }

  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    try {
      this.pump();
      cb();
    } catch (e) {
      this.failed = (e as Error).message;
      cb(e as Error);
    }
  }

  private pump(): void {
    for (;;) {
      if (this.state === 'head') {
        const nl = this.buf.indexOf('\r\n');
        if (nl < 0) {
          if (this.buf.length > 4096) throw new Error('aws-chunked: chunk header too long');
          return;
        }
        this.head = this.buf.subarray(0, nl).toString('latin1');
        const m = /^([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})$/.exec(this.head);
        if (!m) throw new Error('aws-chunked: malformed chunk header');
        this.want = parseInt(m[1]!, 16);
        if (this.want > 64 * 2 ** 20) throw new Error('aws-chunked: chunk larger than 64 MiB');
        this.buf = this.buf.subarray(nl + 2);
        this.state = 'data';
      }
      if (this.state === 'data') {
        if (this.buf.length < this.want + 2) return;
        const data = this.buf.subarray(0, this.want);
        if (this.buf[this.want] !== 0x0d || this.buf[this.want + 1] !== 0x0a) {
          // The last chunk of the trailer variant is followed by trailers, not CRLF.
          if (this.want !== 0) throw new Error('aws-chunked: chunk not followed by CRLF');
        }
        const s = this.sig('PAYLOAD', this.prev, crypto.createHash('sha256').update(data).digest('hex'));
        this.prev = s;
        this.chunks++;
        const size = this.head.slice(0, this.head.indexOf(';'));
        this.push(Buffer.from(`${size};chunk-signature=${s}\r\n`, 'latin1'));
        if (this.want === 0) {
          this.state = this.buf[0] === 0x0d && this.buf[1] === 0x0a && this.buf.length === 2 ? 'done' : 'trailer';
          if (this.state === 'done') {
            this.push(this.buf);
            this.buf = Buffer.alloc(0);
            return;
          }
          continue;
        }
        this.push(this.buf.subarray(0, this.want + 2));
        this.buf = this.buf.subarray(this.want + 2);
        this.state = 'head';
        continue;
      }
      if (this.state === 'trailer') {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.buf.length > 16384) throw new Error('aws-chunked: trailer too long');
          return;
        }
        const lines = this.buf.subarray(0, end).toString('latin1').split('\r\n');
        const sigLine = lines.findIndex((l) => l.toLowerCase().startsWith('x-amz-trailer-signature:'));
        const others = lines.filter((_, i) => i !== sigLine);
        const canon = others.map((l) => `${l.slice(0, l.indexOf(':')).toLowerCase()}:${l.slice(l.indexOf(':') + 1).trim()}\n`).join('');
        if (sigLine >= 0) lines[sigLine] = `x-amz-trailer-signature:${this.sig('TRAILER', this.prev, sha256hex(canon))}`;
        this.push(Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'));
        this.buf = this.buf.subarray(end + 4);
        this.state = 'done';
      }
      if (this.state === 'done') {
        if (this.buf.length) throw new Error('aws-chunked: data after the last chunk');
        return;
      }
    }
  }

  override _flush(cb: TransformCallback): void {
    if (this.state !== 'done' && (this.state !== 'head' || this.buf.length)) return cb(new Error('aws-chunked: body ended inside a chunk'));
    cb();
  }
}
