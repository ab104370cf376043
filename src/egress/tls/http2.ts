// HTTP/2 inside an inspected TLS connection (ALPN h2 on both sides): Node's http2 server on
// the client's socket, one upstream session per connection; each stream is checked (its
// :authority must be the connection's host), rewritten and forwarded like an HTTP/1 request,
// and the response re-masked. Trailers (gRPC) are relayed.
import http2 from 'node:http2';
import type tls from 'node:tls';
import { pipeline, type Duplex, type Readable } from 'node:stream';
import type { ReplaceStream } from '../credentials/replace.js';
import { Exchange, readAll, type ExchangeEnv, type Prepared } from './exchange.js';
import { decoderFor, endToEnd } from './http1.js';

export interface H2Link {
  host: string;
  port: number;
  first: tls.TLSSocket;
  dial(): tls.TLSSocket;
}

function toObject(raw: readonly string[]): http2.OutgoingHttpHeaders {
  const o: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (k.startsWith(':')) continue;
    const prev = o[k];
    o[k] = prev === undefined ? raw[i + 1]! : k === 'cookie' ? `${prev}; ${raw[i + 1]}` : [...(Array.isArray(prev) ? prev : [prev]), raw[i + 1]!];
  }
  return o;
}

function toRaw(h: http2.IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith(':') || v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) out.push(k, String(x));
  }
  return out;
}

export function serveH2(env: ExchangeEnv, client: Duplex, link: H2Link, onRemask: (counts: Map<string, number>, method: string, path: string) => void): void {
  const exchange = new Exchange(env, link.host, link.port, true);
  let upstream: http2.ClientHttp2Session | undefined;
  let first: tls.TLSSocket | undefined = link.first;
  const session = (): http2.ClientHttp2Session => {
    if (upstream && !upstream.closed && !upstream.destroyed) return upstream;
    const sock = first ?? link.dial();
    first = undefined;
    upstream = http2.connect(`https://${link.host}:${link.port}`, { createConnection: () => sock });
    upstream.on('error', () => {});
    return upstream;
  };
  const server = http2.createServer({ settings: { enableConnectProtocol: false } });
  server.on('sessionError', () => {});
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const method = String(headers[':method'] ?? '');
    const path = String(headers[':path'] ?? '');
    const authority = headers[':authority'] !== undefined ? String(headers[':authority']) : headers.host !== undefined ? String(headers.host) : undefined;
    const p = exchange.prepare({ method, target: path, authority, rawHeaders: toRaw(headers) });
    if (!p.ok) {
      stream.respond({ ':status': p.status, 'content-type': 'text/plain; charset=utf-8', 'x-warden-deny': p.reason });
      stream.end(p.text.endsWith('\n') ? p.text : p.text + '\n');
      return;
    }
    const send = (raw: string[], target: string, body: Readable | Buffer) => {
      let ureq: http2.ClientHttp2Stream;
      try {
        ureq = session().request({ ':method': method, ':path': target, ':authority': authority ?? link.host, ':scheme': 'https', ...toObject(endToEnd(raw)) });
      } catch (e) {
        stream.respond({ ':status': 502, 'x-warden-deny': 'upstream-error' });
        stream.end(`Warden egress: upstream ${link.host} failed: ${(e as Error).message}\n`);
        p.done();
        return;
      }
      relay(stream, ureq, p, method, path, onRemask);
      if (Buffer.isBuffer(body)) ureq.end(body);
      else pipeline(body, ureq, () => {});
    };
    let body: Readable = stream;
    for (const t of p.bodyTransforms) body = body.pipe(t);
    if (p.buffered)
      readAll(body).then(
        (b) => {
          const r = p.buffered!(b);
          send(r.rawHeaders, r.target, r.body);
        },
        (e: Error) => {
          stream.respond({ ':status': 413, 'x-warden-deny': 'body-too-large' });
          stream.end(`Warden egress: ${e.message}\n`);
          p.done();
        },
      );
    else send(p.rawHeaders, p.target, body);
  });
  client.on('close', () => {
    upstream?.destroy();
    first?.destroy();
  });
  server.emit('connection', client);
}

function relay(
  stream: http2.ServerHttp2Stream,
  ureq: http2.ClientHttp2Stream,
  p: Extract<Prepared, { ok: true }>,
  method: string,
  path: string,
  onRemask: (counts: Map<string, number>, method: string, path: string) => void,
): void {
  const counts = new Map<string, number>();
  let trailers: http2.OutgoingHttpHeaders | undefined;
  ureq.on('trailers', (t) => {
    trailers = toObject(toRaw(t));
  });
  ureq.on('error', (e) => {
    if (!stream.headersSent) {
      stream.respond({ ':status': 502, 'x-warden-deny': 'upstream-error' });
      stream.end(`Warden egress: upstream failed: ${e.message}\n`);
    } else stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  });
  stream.on('close', () => {
    if (!ureq.closed) ureq.close(http2.constants.NGHTTP2_CANCEL);
  });
  ureq.on('response', (h) => {
    let raw = toRaw(h);
    let body: Readable = ureq;
    let remask: ReplaceStream | undefined;
    if (p.creds.scoped) {
      raw = p.creds.responseHeaders(raw, counts);
      remask = p.creds.responseStream();
      const dec = decoderFor(h['content-encoding'] as string | undefined);
      if (dec) {
        raw = raw.filter((_, i, a) => !['content-encoding', 'content-length'].includes((i % 2 === 0 ? a[i] : a[i - 1])!));
        body = body.pipe(dec);
      }
      if (remask) body = body.pipe(remask);
    }
    stream.respond({ ':status': Number(h[':status'] ?? 502), ...toObject(raw) }, { waitForTrailers: true });
    stream.on('wantTrailers', () => {
      if (trailers && Object.keys(trailers).length) stream.sendTrailers(trailers);
      else stream.close();
    });
    pipeline(body, stream, () => {
      if (remask) for (const [k, v] of remask.counts) counts.set(k, (counts.get(k) ?? 0) + v);
      if (counts.size) onRemask(counts, method, path.split('?')[0]!.slice(0, 512));
      p.done();
    });
  });
}
