// Opt-in HTTP endpoints (http.listen, loopback by default): /healthz, /metrics (Prometheus
// text format) and /events (server-sent events, filterable like the API). With
// http.token_file, /metrics and /events need `Authorization: Bearer <token>`; /healthz never
// does. The server only reads: there is nothing to change over HTTP.
import crypto from 'node:crypto';
import http from 'node:http';
import type { WardenEvent } from '../events/types.js';
import { compileFilter, FilterError, parseFilter } from './filter.js';
import type { Metrics } from './metrics.js';
import type { EventRing } from './ring.js';

export interface HttpServerOptions {
  listen: string;
  metrics: Metrics;
  ring: EventRing;
  sse: boolean;
  token?: string;
  health(): Record<string, unknown>;
}

const MAX_SSE_CLIENTS = 32;
const MAX_BACKLOG = 4 * 1024 * 1024;

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen);
  if (!m) throw new Error(`invalid listen address ${listen}`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`invalid port in ${listen}`);
  return { host: m[1] ?? m[2]!, port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export class HttpServer {
  private server: http.Server | undefined;
  private sse = new Set<http.ServerResponse>();
  readonly counters = { requests: 0, unauthorized: 0, sse_dropped: 0 };
  address = '';

  constructor(private readonly o: HttpServerOptions) {}

  get sseClients(): number {
    return this.sse.size;
  }

  async start(): Promise<string> {
    const { host, port } = parseListen(this.o.listen);
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.headersTimeout = 10_000;
    server.requestTimeout = 0; // SSE responses are long-lived
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => undefined);
    this.server = server;
    const a = server.address();
    this.address = typeof a === 'object' && a ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : this.o.listen;
    return this.address;
  }

  private authorized(req: http.IncomingMessage): boolean {
    if (!this.o.token) return true;
    const h = req.headers.authorization ?? '';
    const want = Buffer.from(`Bearer ${this.o.token}`);
    const got = Buffer.from(h);
    return got.length === want.length && crypto.timingSafeEqual(got, want);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.counters.requests++;
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    try {
      if (url.pathname === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', ...this.o.health() }) + '\n');
        return;
      }
      if (url.pathname !== '/metrics' && url.pathname !== '/events') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      if (!this.authorized(req)) {
        this.counters.unauthorized++;
        res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'text/plain' }).end('unauthorized\n');
        return;
      }
      if (url.pathname === '/metrics') {
        const body = await this.o.metrics.text();
        res.writeHead(200, { 'content-type': this.o.metrics.contentType }).end(body);
        return;
      }
      this.stream(url, req, res);
    } catch (err) {
      const code = err instanceof FilterError ? 400 : 500;
      if (!res.headersSent) res.writeHead(code, { 'content-type': 'text/plain' });
      res.end(`${(err as Error).message}\n`);
    }
  }

  private stream(url: URL, req: http.IncomingMessage, res: http.ServerResponse): void {
    if (!this.o.sse) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('event stream disabled (http.sse: false)\n');
      return;
    }
    if (this.sse.size >= MAX_SSE_CLIENTS) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' }).end('too many event streams\n');
      return;
    }
    const q = Object.fromEntries(url.searchParams);
    const pred = compileFilter(parseFilter(q));
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(': warden event stream\n\n');
    let dropped = 0;
    const send = (ev: WardenEvent) => {
      if (res.writableLength > MAX_BACKLOG) {
        dropped++;
        this.counters.sse_dropped++;
        return;
      }
      if (dropped > 0) {
        res.write(`event: dropped\ndata: ${JSON.stringify({ count: dropped })}\n\n`);
        dropped = 0;
      }
      res.write(`id: ${ev.seq}\nevent: ${ev.severity}\ndata: ${JSON.stringify(ev)}\n\n`);
    };
    const replay = Math.min(Number(q.replay ?? 0) || 0, 10_000);
    if (replay > 0) for (const ev of this.o.ring.query(pred, replay)) send(ev);
    const unsubscribe = this.o.ring.subscribe(pred, send);
    this.sse.add(res);
    const beat = setInterval(() => res.write(': keepalive\n\n'), 15_000);
    beat.unref();
    const end = () => {
      clearInterval(beat);
      unsubscribe();
      this.sse.delete(res);
    };
    req.on('close', end);
    res.on('error', end);
  }

  async close(): Promise<void> {
    for (const r of this.sse) r.end();
    this.sse.clear();
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections?.();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
