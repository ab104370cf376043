// A small JSON-RPC 2.0 client for the monitor's unix socket (newline-delimited messages):
// tests, the bench, and commands that talk to a running monitor.
import net from 'node:net';

export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export interface ApiClient {
  call<T = unknown>(method: string, params?: unknown): Promise<T>;
  /** Live notifications (events.event, events.dropped). */
  onNotification(fn: (method: string, params: Record<string, unknown>) => void): void;
  close(): void;
  readonly socket: net.Socket;
}

export function connectApi(socketPath: string, timeoutMs = 5000): Promise<ApiClient> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    let id = 0;
    const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
    const listeners: Array<(m: string, p: Record<string, unknown>) => void> = [];
    let rest = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`connect ${socketPath}: timeout`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      for (const l of lines) {
        if (!l) continue;
        let msg: { id?: number; result?: unknown; error?: { code: number; message: string; data?: unknown }; method?: string; params?: Record<string, unknown> };
        try {
          msg = JSON.parse(l);
        } catch {
          continue;
        }
        if (msg.method) for (const fn of listeners) fn(msg.method, msg.params ?? {});
        else if (typeof msg.id === 'number') {
          const p = pending.get(msg.id);
          pending.delete(msg.id);
          if (!p) continue;
          if (msg.error) p.reject(new RpcError(msg.error.code, msg.error.message, msg.error.data));
          else p.resolve(msg.result);
        }
      }
    });
    const failAll = (err: Error) => {
      for (const p of pending.values()) p.reject(err);
      pending.clear();
    };
    sock.on('error', (err) => {
      clearTimeout(timer);
      failAll(err);
      reject(err);
    });
    sock.on('close', () => failAll(new Error('connection closed')));
    sock.on('connect', () => {
      clearTimeout(timer);
      resolve({
        socket: sock,
        call<T>(method: string, params?: unknown): Promise<T> {
          const myId = ++id;
          return new Promise<T>((res, rej) => {
            pending.set(myId, { resolve: res as (v: unknown) => void, reject: rej });
            sock.write(JSON.stringify({ jsonrpc: '2.0', id: myId, method, params }) + '\n');
          });
        },
        onNotification(fn) {
          listeners.push(fn);
        },
        close() {
          sock.end();
          sock.destroy();
        },
      });
    });
  });
}
