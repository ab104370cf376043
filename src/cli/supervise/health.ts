// `warden supervise`'s HTTP endpoint for the orchestrator: /healthz (liveness and readiness:
// the command runs and its network is confined), /denials (what the egress proxy refused, with
// the entries to add) and /metrics (Prometheus text). It listens on the pod's addresses for the
// kubelet; the command cannot reach its port (nft drops it for the command's uid). With a token
// file, /denials and /metrics need `Authorization: Bearer <token>`; /healthz stays open.
import http from 'node:http';
import type net from 'node:net';

export interface HealthSources {
  health(): { ok: boolean } & Record<string, unknown>;
  denials(): unknown;
  metrics(): Promise<{ contentType: string; text: string }>;
}

export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(s);
  const port = Number(m?.[3]);
  if (!m || !(port >= 1 && port <= 65535)) throw new Error(`--listen ${s}: expected ADDRESS:PORT (e.g. 0.0.0.0:9464) or none`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export async function startHealthServer(listen: { host: string; port: number }, src: HealthSources, token?: string): Promise<http.Server> {
  const json = (res: http.ServerResponse, code: number, body: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body, null, 2) + '\n');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method !== 'GET') return json(res, 405, { error: 'GET only' });
    if (url.pathname === '/healthz') {
      const h = src.health();
      return json(res, h.ok ? 200 : 503, h);
    }
    if (url.pathname !== '/denials' && url.pathname !== '/metrics') return json(res, 404, { error: 'not found', paths: ['/healthz', '/denials', '/metrics'] });
    if (token && req.headers.authorization !== `Bearer ${token}`) return json(res, 401, { error: 'bearer token required' });
    if (url.pathname === '/denials') return json(res, 200, src.denials());
    src.metrics().then(
      (m) => res.writeHead(200, { 'content-type': m.contentType }).end(m.text),
      (err: Error) => json(res, 500, { error: err.message }),
    );
  });
  server.on('clientError', (_e, sock) => sock.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  return server;
}

export function boundPort(s: http.Server): number {
  return (s.address() as net.AddressInfo).port;
}
