// HTTP/1.1 inside an inspected connection (after TLS termination, or plain HTTP). Node's own
// parser (llhttp, strict mode) reads every request of the connection, so a keep-alive or
// pipelined request is checked like the first, and framing it cannot parse (both
// Content-Length and chunked, bad chunk sizes, bare CR…) is answered 400 and never forwarded:
// Warden re-serialises what it forwards. Upstream is one connection at a time to the address
// the flow was allowed for (re-dialled when the server closes it). WebSocket upgrades are
// checked and rewritten like any request, then bytes flow (server → client re-masked).
import http from 'node:http';
import type net from 'node:net';
import { Duplex, pipeline, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { ReplaceStream } from '../credentials/replace.js';
import { Exchange, readAll, type ExchangeEnv, type Prepared } from './exchange.js';

/** Where a connection's requests go. */
export interface UpstreamLink {
  host: string;
  port: number;
  secure: boolean;
  /** The connection the proxy already opened (and TLS-verified for secure links). */
  first: net.Socket;
  /** Opens another connection to the same address (TLS verified). */
  dial(): net.Socket;
}

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'http2-settings']);

/** Drops hop-by-hop headers (and those the Connection header names); keeps `keep` names. */
export function endToEnd(raw: readonly string[], keep: readonly string[] = []): string[] {
  const named = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2)
    if (raw[i]!.toLowerCase() === 'connection') for (const n of raw[i + 1]!.split(',')) named.add(n.trim().toLowerCase());
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if ((HOP.has(k) || named.has(k)) && !keep.includes(k)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

function get(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1];
  return undefined;
}

function without(raw: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (!names.includes(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

/** A decoder for a compressed response body, so it can be re-masked. */
export function decoderFor(encoding: string | undefined): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | undefined {
  const e = (encoding ?? '').trim().toLowerCase();
  if (e === 'gzip' || e === 'x-gzip') return zlib.createGunzip();
  if (e === 'deflate') return zlib.createInflate();
  if (e === 'br') return zlib.createBrotliDecompress();
  return undefined;
}

/**
 * A stream whose first bytes were already read by the proxy (they are replayed first), seen
 * as a plain Duplex. TLS and HTTP/2 then run over it in JavaScript, which is what lets them
 * start on a connection whose first bytes the proxy had to look at.
 */
export class Replayed extends Duplex {
  constructor(
    readonly inner: Duplex,
    initial: Buffer = Buffer.alloc(0),
  ) {
    super({ allowHalfOpen: true });
    if (initial.length) this.push(initial);
    inner.on('data', (d: Buffer) => {
      if (!this.push(d)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (e) => this.destroy(e));
    inner.on('close', () => this.destroy());
    inner.on('timeout', () => this.emit('timeout'));
  }
  override _read(): void {
    this.inner.resume();
  }
  override _write(chunk: Buffer, _e: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (!this.inner.writable) return cb();
    this.inner.write(chunk, () => cb());
  }
  override _final(cb: (e?: Error | null) => void): void {
    if (this.inner.writable) this.inner.end();
    cb();
  }
  override _destroy(err: Error | null, cb: (e: Error | null) => void): void {
    this.inner.destroy();
    cb(err);
  }
  private get sock(): Partial<net.Socket> {
    return this.inner as Partial<net.Socket>;
  }
  setTimeout(ms: number, cb?: () => void): this {
    this.sock.setTimeout?.(ms);
    if (cb) this.once('timeout', cb);
    return this;
  }
  setNoDelay(v?: boolean): this {
    this.sock.setNoDelay?.(v);
    return this;
  }
  setKeepAlive(v?: boolean, d?: number): this {
    this.sock.setKeepAlive?.(v, d);
    return this;
  }
  get remoteAddress(): string | undefined {
    return this.sock.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.sock.remotePort;
  }
}

class LinkAgent extends http.Agent {
  private first: net.Socket | undefined;
  constructor(private readonly link: UpstreamLink) {
    super({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 });
    this.first = link.first;
  }
  override createConnection(): net.Socket {
    const s = this.first ?? this.link.dial();
    this.first = undefined;
    return s;
  }
}

interface Conn {
  link: UpstreamLink;
  agent: LinkAgent;
  exchange: Exchange;
  onRemask(counts: Map<string, number>, method: string, path: string): void;
}

function forbidden(p: Extract<Prepared, { ok: false }>): { status: number; headers: Record<string, string>; body: string } {
  return {
    status: p.status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'x-warden-deny': p.reason, ...(p.close ? { connection: 'close' } : {}) },
    body: p.text.endsWith('\n') ? p.text : p.text + '\n',
  };
}

export class Http1Front {
  private readonly server: http.Server;
  private readonly conns = new WeakMap<object, Conn>();

  constructor(private readonly env: ExchangeEnv) {
    this.server = http.createServer({ requireHostHeader: true, maxHeaderSize: 64 * 1024, keepAliveTimeout: 60_000, requestTimeout: 0, headersTimeout: 30_000 });
    this.server.on('request', (req, res) => this.onRequest(req, res));
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.onClientError(err, socket));
  }

  /** Serves one client connection (a TLS socket after the handshake, or a replayed plain socket). */
  serve(client: Duplex, link: UpstreamLink): void {
    const agent = new LinkAgent(link);
    const exchange = new Exchange(this.env, link.host, link.port, link.secure);
    this.conns.set(client, {
      link,
      agent,
      exchange,
      onRemask: (counts, method, path) =>
        this.env.record.inside('egress.credential_remask', {
          host: link.host,
          port: link.port,
          severity: 'warn',
          alert: { rule: 'egress.credential_echo', category: 'credential_access', mitre: ['T1552'] },
          message: `a response from ${link.host} echoed the real value of ${[...counts.keys()].join(', ')}: replaced by the surrogate before the client read it`,
          data: { credentials: Object.fromEntries(counts), method, path },
        }),
    });
    client.on('close', () => {
      agent.destroy();
      link.first.destroy();
    });
    this.server.emit('connection', client);
    if (typeof (client as { resume?: () => void }).resume === 'function') client.resume();
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const c = this.conns.get(socket);
    if (c && err.code !== 'ECONNRESET' && err.code !== 'HPE_INVALID_EOF_STATE')
      this.env.record.deny({ proto: 'tcp', host: c.link.host, port: c.link.port, reason: 'bad-http', data: { detail: `request framing Warden cannot parse (${err.code ?? err.message}): refused, not forwarded` } });
    if (socket.writable && !(err.code === 'ECONNRESET'))
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nX-Warden-Deny: bad-http\r\nConnection: close\r\nContent-Length: 52\r\n\r\nWarden egress: request framing could not be parsed\n');
    else socket.destroy();
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const c = this.conns.get(req.socket);
    if (!c) {
      res.writeHead(500).end();
      return;
    }
    const p = c.exchange.prepare({ method: req.method!, target: req.url!, authority: req.headers.host, rawHeaders: req.rawHeaders });
    if (!p.ok) {
      const f = forbidden(p);
      req.resume();
      res.writeHead(f.status, f.headers).end(f.body);
      return;
    }
    const send = (rawHeaders: string[], target: string, body: Readable | Buffer) => {
      const up = http.request({ agent: c.agent, host: c.link.host, port: c.link.port, method: req.method, path: target, headers: endToEnd(rawHeaders), setHost: false });
      up.on('response', (ures) => this.relayResponse(c, p, req, res, ures));
      up.on('error', (e) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain', 'x-warden-deny': 'upstream-error' }).end(`Warden egress: upstream ${c.link.host} failed: ${e.message}\n`);
        else res.destroy();
        p.done();
      });
      if (Buffer.isBuffer(body)) up.end(body);
      else pipeline(body, up, () => {});
    };
    const chain = (): Readable => {
      let s: Readable = req;
      for (const t of p.bodyTransforms) s = s.pipe(t);
      return s;
    };
    if (p.buffered) {
      readAll(chain()).then(
        (b) => {
          const r = p.buffered!(b);
          const hdrs = get(r.rawHeaders, 'transfer-encoding') ? without(r.rawHeaders, ['transfer-encoding']).concat(['Content-Length', String(r.body.length)]) : r.rawHeaders;
          send(hdrs, r.target, r.body);
        },
        (e: Error) => {
          res.writeHead(413, { 'content-type': 'text/plain', 'x-warden-deny': 'body-too-large' }).end(`Warden egress: ${e.message}\n`);
          p.done();
        },
      );
    } else send(p.rawHeaders, p.target, chain());
  }

  private relayResponse(c: Conn, p: Extract<Prepared, { ok: true }>, req: http.IncomingMessage, res: http.ServerResponse, ures: http.IncomingMessage): void {
    const counts = new Map<string, number>();
    let raw = endToEnd(ures.rawHeaders);
    if (p.creds.scoped) raw = p.creds.responseHeaders(raw, counts);
    let body: Readable = ures;
    let remask: ReplaceStream | undefined;
    if (p.creds.scoped) {
      remask = p.creds.responseStream();
      const dec = decoderFor(get(raw, 'content-encoding'));
      if (dec) {
        raw = without(raw, ['content-encoding', 'content-length']);
        body = body.pipe(dec);
      }
      if (remask) body = body.pipe(remask);
    }
    // An upstream that ends the connection after this response (or delimits it by closing)
    // gets the client's closed too: the client may be reading until EOF.
    const conn = (get(ures.rawHeaders, 'connection') ?? '').toLowerCase();
    if (conn.includes('close') || (ures.httpVersion === '1.0' && !conn.includes('keep-alive'))) {
      raw = [...without(raw, ['connection']), 'Connection', 'close'];
      res.shouldKeepAlive = false;
    }
    res.writeHead(ures.statusCode ?? 502, ures.statusMessage, raw);
    pipeline(body, res, () => {
      if (remask) for (const [k, v] of remask.counts) counts.set(k, (counts.get(k) ?? 0) + v);
      if (counts.size) c.onRemask(counts, req.method!, req.url!.split('?')[0]!.slice(0, 512));
      p.done();
    });
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const c = this.conns.get(socket);
    socket.on('error', () => {});
    if (!c) return void socket.destroy();
    const p = c.exchange.prepare({ method: req.method!, target: req.url!, authority: req.headers.host, rawHeaders: req.rawHeaders });
    const refuse = (status: number, reason: string, text: string) => {
      const body = text + '\n';
      socket.end(`HTTP/1.1 ${status} ${status === 403 ? 'Forbidden' : 'Bad Gateway'}\r\nContent-Type: text/plain; charset=utf-8\r\nX-Warden-Deny: ${reason}\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    };
    if (!p.ok) return refuse(p.status, p.reason, p.text);
    const proto = (req.headers.upgrade ?? '').toLowerCase();
    if (proto !== 'websocket') {
      this.env.record.deny({ proto: 'tcp', host: c.link.host, port: c.link.port, reason: 'upgrade-refused', data: { detail: `Upgrade: ${proto.slice(0, 40)} is not forwarded (only websocket)` } });
      return refuse(403, 'upgrade-refused', `Warden egress: Upgrade to "${proto.slice(0, 40)}" is not forwarded (only websocket)`);
    }
    const up = http.request({ agent: c.agent, host: c.link.host, port: c.link.port, method: req.method, path: p.target, headers: endToEnd(p.rawHeaders, ['connection', 'upgrade']), setHost: false });
    up.on('upgrade', (ures, usock, uhead) => {
      const counts = new Map<string, number>();
      let raw = endToEnd(ures.rawHeaders, ['connection', 'upgrade']);
      if (p.creds.scoped) raw = p.creds.responseHeaders(raw, counts);
      let lines = `HTTP/1.1 ${ures.statusCode} ${ures.statusMessage}\r\n`;
      for (let i = 0; i + 1 < raw.length; i += 2) lines += `${raw[i]}: ${raw[i + 1]}\r\n`;
      socket.write(lines + '\r\n');
      usock.on('error', () => socket.destroy());
      socket.on('error', () => usock.destroy());
      if (head.length) usock.write(head);
      // Server frames are not masked: echoed values are re-masked in them as bytes (same length).
      const remask = p.creds.responseStream();
      if (uhead.length) (remask ?? socket).write(uhead);
      if (remask) pipeline(usock, remask, socket, () => usock.destroy());
      else pipeline(usock, socket, () => usock.destroy());
      pipeline(socket, usock, () => socket.destroy());
      socket.on('close', () => {
        if (remask) for (const [k, v] of remask.counts) counts.set(k, (counts.get(k) ?? 0) + v);
        if (counts.size) c.onRemask(counts, req.method!, req.url!.split('?')[0]!.slice(0, 512));
        p.done();
      });
    });
    up.on('response', (ures) => {
      // The server refused the upgrade: relay its answer and close.
      let lines = `HTTP/1.1 ${ures.statusCode} ${ures.statusMessage}\r\n`;
      const raw = without(endToEnd(ures.rawHeaders), ['content-length']);
      for (let i = 0; i + 1 < raw.length; i += 2) lines += `${raw[i]}: ${raw[i + 1]}\r\n`;
      readAll(ures).then(
        (b) => socket.end(`${lines}Content-Length: ${b.length}\r\nConnection: close\r\n\r\n${b.toString('latin1')}`, 'latin1'),
        () => socket.destroy(),
      );
      p.done();
    });
    up.on('error', (e) => {
      refuse(502, 'upstream-error', `Warden egress: upstream ${c.link.host} failed: ${e.message}`);
      p.done();
    });
    up.end();
  }
}
