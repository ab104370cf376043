// Gives a connection whose first bytes the proxy already read back to Node as a native socket.
// TLS and HTTP parsing on a JavaScript stream cost several times more CPU than on a native
// handle, and the ClientHello cannot be pushed back into the kernel. So: a unix socketpair,
// the client ↔ one end moved by the splice engine (those first bytes sent ahead, no
// JavaScript per byte), and the other end wrapped by Node as an ordinary stream socket.
import { createRequire } from 'node:module';
import net from 'node:net';
import { spliceEngine } from '../splice.js';

type Fn = (...a: unknown[]) => number;
let socketpair: Fn | null | undefined;

function load(): Fn | undefined {
  if (socketpair === undefined) {
    try {
      const koffi = createRequire(import.meta.url)('koffi') as { load(l: string): { func(s: string): Fn } };
      socketpair = koffi.load('libc.so.6').func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)');
    } catch {
      socketpair = null;
    }
  }
  return socketpair ?? undefined;
}

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;

/**
 * A native socket that reads `initial` then whatever the client sends; undefined when
 * unavailable. `flows` tracks the spliced halves so a teardown can close them (the engine's
 * worker keeps the process alive while one is open).
 */
export interface Replays {
  /** Spliced halves by engine flow id. */
  flows: Set<number>;
  /** Our ends of the socketpairs. */
  ends: Set<net.Socket>;
}

export function nativeReplay(client: net.Socket, initial: Buffer, r: Replays): net.Socket | undefined {
  const flows = r.flows;
  const engine = spliceEngine();
  const pair = load();
  if (!engine || !pair) return undefined;
  const fds = [-1, -1];
  if (pair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) !== 0) return undefined;
  const near = new net.Socket({ fd: fds[0]!, readable: true, writable: true });
  const far = new net.Socket({ fd: fds[1]!, readable: true, writable: true });
  let done = false;
  const id = engine.handOff(client, near, initial, Buffer.alloc(0), () => {
    done = true;
    flows.delete(id!);
  });
  if (id === undefined) {
    near.destroy();
    far.destroy();
    return undefined;
  }
  if (!done) flows.add(id);
  far.on('error', () => {});
  r.ends.add(far);
  far.on('close', () => r.ends.delete(far));
  return far;
}

/** Closes every spliced half still open (sandbox teardown). */
export function closeReplays(r: Replays): void {
  for (const s of r.ends) s.destroy();
  r.ends.clear();
  if (r.flows.size) spliceEngine()?.closeFlows(new Set(r.flows));
  r.flows.clear();
}
