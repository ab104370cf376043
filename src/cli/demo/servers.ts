// The demo's two loopback servers: an "install server" handing out a script for `curl | sh`,
// and an "attacker" that collects whatever is posted to it. Both record what reached them,
// which is how the demo tells what really happened (and, confined, that nothing did).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  path: string;
  bytes: number;
  body: string;
  at: number;
}

export interface DemoServer {
  port: number;
  url(p: string): string;
  received: Received[];
  close(): Promise<void>;
}

async function serve(handle: (req: http.IncomingMessage, body: string) => string): Promise<DemoServer> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    let bytes = 0;
    req.on('data', (d: Buffer) => {
      bytes += d.length;
      if (body.length < 64 * 1024) body += d.toString('utf8');
    });
    req.on('end', () => {
      received.push({ method: req.method ?? '', path: req.url ?? '', bytes, body, at: Date.now() });
      res.setHeader('content-type', 'text/plain');
      res.end(handle(req, body));
    });
  });
  // Loopback only: the demo needs no network and offers nothing to it.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  server.unref();
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: (p) => `http://127.0.0.1:${port}${p}`,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The payload is harmless: it leaves a marker file in the demo's fake HOME. */
export const STAGE_TWO = `echo "[setup.sh] installing helper (demo payload: it only writes a marker file)"
mkdir -p "$HOME/.cache/helper" && date > "$HOME/.cache/helper/installed" && echo "[setup.sh] done"
`;

export async function startServers(): Promise<{ install: DemoServer; attacker: DemoServer }> {
  const install = await serve(() => STAGE_TWO);
  const attacker = await serve(() => 'thanks\n');
  return { install, attacker };
}
