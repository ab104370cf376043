// Zero-copy forwarding for decided connections. Once the proxy has allowed a flow and sent
// the bytes it had to look at, both sockets are handed (as duplicated descriptors) to a
// worker thread that moves data with splice(2); Node closes its own handles. This takes the
// proxy out of the data path: throughput and memory per connection are the kernel's.
// Falls back to stream piping when koffi or the worker is unavailable.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type net from 'node:net';
import { Worker } from 'node:worker_threads';

type Fn = (...a: unknown[]) => number;

interface Pending {
  done: (bytes: { toB: number; toA: number }) => void;
}

const F_DUPFD_CLOEXEC = 1030;
const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;

export class SpliceEngine {
  private readonly pending = new Map<number, Pending>();
  private next = 1;
  private readonly one = Buffer.alloc(8);
  private dead = false;

  private constructor(
    private readonly worker: Worker,
    private readonly wakeFd: number,
    private readonly fcntl: Fn,
    private readonly write: Fn,
    private readonly close: Fn,
  ) {
    this.one.writeBigUInt64LE(1n);
    worker.on('message', (m: { op: string; id: number; ab: number; ba: number }) => {
      if (m.op !== 'done') return;
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      p?.done({ toB: m.ab, toA: m.ba });
      if (this.pending.size === 0) this.worker.unref();
    });
    // A dead worker must not take new flows (they would hang): later flows use stream piping.
    const dead = () => {
      this.dead = true;
      if (shared === this) shared = null;
    };
    worker.on('error', dead);
    worker.on('exit', dead);
    worker.unref();
  }

  static create(): SpliceEngine | undefined {
    try {
      const require = createRequire(import.meta.url);
      const koffi = require('koffi') as { load(l: string): { func(s: string): Fn } };
      const libc = koffi.load('libc.so.6');
      const eventfd = libc.func('int eventfd(unsigned int initval, int flags)');
      const fcntl = libc.func('int fcntl(int fd, int cmd, int arg)');
      const write = libc.func('intptr_t write(int fd, const uint8_t *buf, size_t count)');
      const close = libc.func('int close(int fd)');
      const url = new URL('./splice-worker.js', import.meta.url);
      if (!fs.existsSync(fileURLToPath(url))) return undefined; // running from TypeScript sources (unit tests)
      const wakeFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (wakeFd < 0) return undefined;
      const worker = new Worker(url, { workerData: { wakeFd } });
      return new SpliceEngine(worker, wakeFd, fcntl, write, close);
    } catch {
      return undefined;
    }
  }

  get size(): number {
    return this.pending.size;
  }

  /**
   * Hands two connected sockets over. `toB`/`toA` are bytes already read from the other side
   * that must go out first. The Node sockets are destroyed (their descriptors were duplicated).
   * Returns the flow's id, or undefined (touching nothing) when a descriptor is unavailable.
   */
  handOff(a: net.Socket, b: net.Socket, toB: Buffer, toA: Buffer, done: Pending['done'], opts: { resetAOnSilentEnd?: boolean } = {}): number | undefined {
    if (this.dead) return undefined;
    const fa = fdOf(a);
    const fb = fdOf(b);
    if (fa === undefined || fb === undefined) return undefined;
    const da = this.fcntl(fa, F_DUPFD_CLOEXEC, 0);
    const db = da < 0 ? -1 : this.fcntl(fb, F_DUPFD_CLOEXEC, 0);
    if (db < 0) {
      if (da >= 0) this.close(da);
      return undefined;
    }
    // Anything Node already pulled into its stream buffers goes out first, in order.
    const readAll = (s: net.Socket) => {
      const parts: Buffer[] = [];
      for (let c = s.read() as Buffer | null; c !== null; c = s.read() as Buffer | null) parts.push(c);
      return parts;
    };
    let outB: Buffer = Buffer.concat([toB, ...readAll(a)]);
    let outA: Buffer = Buffer.concat([toA, ...readAll(b)]);
    // Send what we hold right away (non-blocking write): the request should not wait for the
    // worker to wake up. Whatever does not fit goes to the worker, which writes it first.
    const sendNow = (fd: number, buf: Buffer): Buffer => {
      if (!buf.length) return buf;
      const n = this.write(fd, buf, buf.length);
      return n > 0 ? buf.subarray(n) : buf;
    };
    outB = sendNow(db, outB);
    outA = sendNow(da, outA);
    a.destroy();
    b.destroy();
    const id = this.next++;
    this.pending.set(id, { done });
    this.worker.ref();
    this.worker.postMessage({ op: 'add', id, a: da, b: db, toB: outB.length ? outB : undefined, toA: outA.length ? outA : undefined, rstA: !!opts.resetAOnSilentEnd });
    this.write(this.wakeFd, this.one, 8);
    return id;
  }

  /** Ends the given flows at once (sandbox teardown); others (other sandboxes) go on. */
  closeFlows(ids: Iterable<number>): void {
    const list = [...ids].filter((id) => this.pending.has(id));
    if (!list.length) return;
    for (const id of list) this.worker.postMessage({ op: 'close', id });
    this.write(this.wakeFd, this.one, 8);
  }
}

function fdOf(s: net.Socket): number | undefined {
  const fd = (s as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

let shared: SpliceEngine | null | undefined;

/** One engine per process (a worker thread), created on first use. */
export function spliceEngine(): SpliceEngine | undefined {
  if (shared === undefined) shared = SpliceEngine.create() ?? null;
  return shared ?? undefined;
}
