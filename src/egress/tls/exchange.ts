// One HTTP request seen inside an inspected connection (HTTP/1.1 or HTTP/2, TLS or plain):
// the checks every request goes through (its host agrees with the connection's name, request
// rules), the credential swaps of its head, AWS re-signing, and the audit events that say
// what was done (names and counts, never a value). The HTTP/1 and HTTP/2 front ends call it.
import crypto from 'node:crypto';
import type { Readable, Transform } from 'node:stream';
import { normaliseWireHost } from '../names.js';
import { hostOfAuthority } from '../http-host.js';
import type { DecisionRecorder } from '../record.js';
import type { RequestRules } from '../request-rules.js';
import { RequestCredentials } from '../credentials/request.js';
import type { CredentialStore } from '../credentials/store.js';
import { ChunkResigner, parseAuth, resign, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER } from '../credentials/sigv4.js';

export interface ExchangeEnv {
  store: CredentialStore;
  rules: RequestRules;
  record: DecisionRecorder;
}

export interface RequestHead {
  method: string;
  target: string;
  /** Host header or :authority. */
  authority?: string;
  /** Flat [name, value, …] (HTTP/2: without pseudo-headers). */
  rawHeaders: string[];
}

export type Prepared =
  | { ok: false; status: number; reason: string; text: string; close: boolean }
  | {
      ok: true;
      target: string;
      rawHeaders: string[];
      creds: RequestCredentials;
      /** Transforms the request body goes through, in order. */
      bodyTransforms: Transform[];
      /** The body must be read whole first (body fields, or SigV4 over an unhashed payload). */
      buffered?: (body: Buffer) => { rawHeaders: string[]; body: Buffer; target: string };
      /** Called when the exchange is over (success or not) to report what was swapped. */
      done(): void;
    };

const MAX_BUFFERED = 16 * 2 ** 20;

function header(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1];
  return undefined;
}

function setHeader(raw: string[], name: string, value: string): void {
  for (let i = 0; i + 1 < raw.length; i += 2)
    if (raw[i]!.toLowerCase() === name) {
      raw[i + 1] = value;
      return;
    }
  raw.push(name, value);
}

function headerMap(raw: readonly string[], authority: string | undefined): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    m.set(k, [...(m.get(k) ?? []), raw[i + 1]!]);
  }
  if (!m.has('host') && authority) m.set('host', [authority]);
  return m;
}

export class Exchange {
  constructor(
    private readonly env: ExchangeEnv,
    readonly host: string,
    readonly port: number,
    readonly secure: boolean,
  ) {}

  private deny(reason: string, text: string, h: RequestHead, close = false, extra: Record<string, unknown> = {}): Prepared {
    this.env.record.deny({
      proto: 'tcp',
      host: this.host,
      port: this.port,
      reason,
      data: { method: h.method, path: h.target.split('?')[0]!.slice(0, 512), protocol: this.secure ? 'https' : 'http', detail: text, ...extra },
    });
    return { ok: false, status: 403, reason, text: `Warden egress denied ${h.method} ${this.host}${h.target.split('?')[0]!.slice(0, 200)}: ${text}`, close };
  }

  /** Checks and rewrites a request head; the body plan goes with it. */
  prepare(h: RequestHead): Prepared {
    // The connection was allowed for one name: every request on it must name that host.
    if (h.authority !== undefined) {
      const a = hostOfAuthority(h.authority);
      const n = a === undefined ? undefined : normaliseWireHost(a);
      if (!n || n.kind !== 'name' || n.name !== this.host)
        return this.deny('host-mismatch', `the request names host "${h.authority.slice(0, 200)}" on a connection allowed for ${this.host}`, h, true, { http_host: h.authority.slice(0, 200) });
    }
    if (h.method === 'CONNECT') return this.deny('connect-method', 'CONNECT is not forwarded', h, true);
    const rule = this.env.rules.decide(this.host, h.method, h.target);
    if (!rule.allowed) return this.deny(rule.reason!, `${rule.advice}.`, h, false);

    const creds = new RequestCredentials(this.env.store, this.host, this.port, this.secure);
    let rawHeaders = creds.headers(h.rawHeaders);
    let target = creds.target(h.target);
    // Re-masking needs readable bodies: ask a scoped host not to compress.
    if (creds.scoped && header(rawHeaders, 'accept-encoding') !== undefined) setHeader(rawHeaders, 'accept-encoding', 'identity');

    const bodyTransforms: Transform[] = [];
    const body = creds.bodyStream();
    bodyTransforms.push(body);
    let buffered: ((b: Buffer) => { rawHeaders: string[]; body: Buffer; target: string }) | undefined;
    let resigned: Record<string, unknown> | undefined;

    const aws = this.awsPlan(h, rawHeaders, target);
    if (aws && 'deny' in aws) return this.deny('aws-resign-failed', aws.deny ?? 'cannot re-sign', h);
    const fields = creds.bodyFields().length > 0;
    if (aws || fields) {
      const streaming = aws?.payload === STREAMING_SIGNED || aws?.payload === STREAMING_SIGNED_TRAILER;
      if (aws && streaming) {
        const r = aws.sign(aws.payload!);
        rawHeaders = r.rawHeaders;
        target = r.target;
        const chunks = new ChunkResigner(r.signature, aws.amzDate, aws.auth, aws.realSecret);
        bodyTransforms.push(chunks);
        resigned = { ...r.info, streaming: true, chunks: () => chunks.chunks };
      } else if (aws && aws.payloadKnown) {
        const r = aws.sign(aws.payload);
        rawHeaders = r.rawHeaders;
        target = r.target;
        resigned = r.info;
      }
      if ((aws && !streaming && !aws.payloadKnown) || fields) {
        buffered = (b: Buffer) => {
          let out = b;
          const f = creds.fieldBody(b, header(rawHeaders, 'content-type'));
          let hdrs = rawHeaders;
          if (f) {
            out = f;
            hdrs = [...rawHeaders];
            if (header(hdrs, 'content-length') !== undefined) setHeader(hdrs, 'content-length', String(out.length));
          }
          let tgt = target;
          if (aws && !streaming && !aws.payloadKnown) {
            const r = aws.sign(crypto.createHash('sha256').update(out).digest('hex'), hdrs);
            hdrs = r.rawHeaders;
            tgt = r.target;
            resigned = r.info;
          }
          return { rawHeaders: hdrs, body: out, target: tgt };
        };
      }
    }

    const method = h.method;
    const path = h.target.split('?')[0]!.slice(0, 512);
    const report = () => {
      creds.absorb(body);
      const t = creds.tally;
      const names = (m: Map<string, number>) => Object.fromEntries(m);
      if (t.injected.size)
        this.env.record.inside('egress.credential_inject', {
          host: this.host,
          port: this.port,
          severity: 'info',
          message: `credentials ${[...t.injected.keys()].join(', ')} swapped in for ${method} ${this.host}${path}`,
          data: { credentials: names(t.injected), places: [...t.places], method, path },
        });
      if (t.stripped.size)
        this.env.record.inside('egress.credential_strip', {
          host: this.host,
          port: this.port,
          severity: 'alert',
          alert: { rule: 'egress.credential_leak', category: 'exfiltration', mitre: ['T1552', 'T1041'] },
          message: `real value of ${[...t.stripped.keys()].join(', ')} sent from the sandbox to ${this.host}${this.secure ? '' : ' over plain HTTP'}: replaced by its surrogate`,
          data: { credentials: names(t.stripped), method, path, secure: this.secure },
        });
      if (resigned) {
        const chunks = typeof resigned.chunks === 'function' ? (resigned.chunks as () => number)() : undefined;
        this.env.record.inside('egress.credential_resign', {
          host: this.host,
          port: this.port,
          severity: 'info',
          message: `AWS request ${method} ${this.host}${path} re-signed with the real key (${resigned.credential})`,
          data: { ...resigned, ...(chunks !== undefined ? { chunks } : {}), method, path },
        });
      }
    };
    return { ok: true, target, rawHeaders, creds, bodyTransforms, buffered, done: report };
  }

  /** SigV4: a request signed with a surrogate key id, toward a host its pair is scoped to. */
  private awsPlan(h: RequestHead, rawHeaders: string[], target: string) {
    if (!this.env.store.aws.length) return undefined;
    const q = target.indexOf('?');
    const auth = parseAuth(header(rawHeaders, 'authorization'), new URLSearchParams(q >= 0 ? target.slice(q + 1) : ''));
    if (!auth) return undefined;
    const pair = this.env.store.aws.find((p) => p.id.surrogate.toString() === auth.keyId);
    if (!pair) return undefined;
    if (!this.secure || !pair.scope.decideName(this.host, this.port).allowed) return undefined; // surrogate goes as is
    const amzDate = header(rawHeaders, 'x-amz-date') ?? new URLSearchParams(target.slice(q + 1)).get('X-Amz-Date') ?? '';
    if (!/^\d{8}T\d{6}Z$/.test(amzDate)) return { deny: 'the AWS request has no valid X-Amz-Date to re-sign' };
    const declared = header(rawHeaders, 'x-amz-content-sha256');
    const payload = auth.where === 'query' ? 'UNSIGNED-PAYLOAD' : declared;
    const realSecret = pair.secret.real.toString();
    const sign = (payloadHash: string, base: string[] = rawHeaders) => {
      const hdrs = [...base];
      const tgt = target;
      const r = resign(
        auth,
        { method: h.method, target: tgt, headers: headerMap(hdrs, h.authority), payloadHash, amzDate },
        { surrogateSecret: pair.secret.surrogate.toString(), realId: pair.id.real.toString(), realSecret },
      );
      if (r.authorization) setHeader(hdrs, 'authorization', r.authorization);
      return {
        rawHeaders: hdrs,
        target: r.target ?? tgt,
        signature: r.signature,
        info: { credential: pair.name, service: auth.service, region: auth.region, auth: auth.where, verified: r.verified, uri_encoding: r.variant } as Record<string, unknown>,
      };
    };
    return { auth, amzDate, payload: payload ?? '', payloadKnown: payload !== undefined, realSecret, sign };
  }
}

/** Reads a whole body (bounded); rejects when it is larger than the bound. */
export function readAll(s: Readable, max = MAX_BUFFERED): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    s.on('data', (d: Buffer) => {
      n += d.length;
      if (n > max) {
        s.destroy();
        reject(new Error(`request body larger than ${max} bytes cannot be buffered for re-signing`));
        return;
      }
      parts.push(d);
    });
    s.on('end', () => resolve(Buffer.concat(parts)));
    s.on('error', reject);
  });
}

