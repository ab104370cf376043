// Worker thread of the splice engine: moves bytes between pairs of sockets with splice(2)
// through a pipe, driven by its own epoll set, so decided connections never pass through
// JavaScript buffers or the main event loop. Level-triggered; each direction half-closes
// on its own (shutdown SHUT_WR), like a TCP proxy should.
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

type Fn = (...a: unknown[]) => number;
const require = createRequire(import.meta.url);
const koffi = require('koffi') as { load(l: string): { func(s: string): Fn }; errno(): number };
const libc = koffi.load('libc.so.6');
const splice = libc.func('intptr_t splice(int fd_in, void *off_in, int fd_out, void *off_out, size_t len, unsigned int flags)');
const pipe2 = libc.func('int pipe2(_Out_ uint8_t *fds, int flags)');
const epollCreate = libc.func('int epoll_create1(int flags)');
const epollCtl = libc.func('int epoll_ctl(int epfd, int op, int fd, void *event)');
const epollWait = libc.func('int epoll_wait(int epfd, _Out_ uint8_t *events, int maxevents, int timeout)');
const close = libc.func('int close(int fd)');
const read = libc.func('intptr_t read(int fd, _Out_ uint8_t *buf, size_t count)');
const write = libc.func('intptr_t write(int fd, const uint8_t *buf, size_t count)');
const shutdown = libc.func('int shutdown(int fd, int how)');
const fcntl = libc.func('int fcntl(int fd, int cmd, int arg)');
const setsockopt = libc.func('int setsockopt(int fd, int level, int optname, const uint8_t *optval, uint32_t optlen)');

const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const SPLICE_F_MOVE = 1;
const SPLICE_F_NONBLOCK = 2;
const EPOLLIN = 0x1;
const EPOLLOUT = 0x4;
const EPOLLERR = 0x8;
const EPOLLHUP = 0x10;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLL_CTL_MOD = 3;
const EAGAIN = 11;
const EINTR = 4;
const SHUT_WR = 1;
const F_SETPIPE_SZ = 1031;
const CHUNK = 1 << 20;
const EV_SIZE = 12; // struct epoll_event is packed on x86_64: u32 events, u64 data

interface Dir {
  src: number;
  dst: number;
  pr: number;
  pw: number;
  inPipe: number;
  /** Pipe capacity: 64 KiB at first, 1 MiB once the flow proves to be bulk. */
  cap: number;
  init: Buffer | undefined;
  eof: boolean;
  shut: boolean;
  bytes: number;
}

interface Flow {
  id: number;
  a: number;
  b: number;
  ab: Dir;
  ba: Dir;
  mask: Map<number, number>;
  idle: number;
  /** Reset A (TCP RST) when B ends without having sent a byte (the rootless relay: a refusal). */
  rstA: boolean;
}

const { wakeFd } = workerData as { wakeFd: number };
const ep = epollCreate(O_CLOEXEC);
const evbuf = Buffer.alloc(EV_SIZE * 256);
const byFd = new Map<number, Flow>();
const flows = new Map<number, Flow>();
const wakeBuf = Buffer.alloc(8);
const lingerZero = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]); // struct linger { int l_onoff = 1; int l_linger = 0; }

const ctlBuf = Buffer.alloc(EV_SIZE); // epoll_ctl copies it: one buffer serves every call
function ctl(op: number, fd: number, events: number): void {
  const e = ctlBuf;
  e.writeUInt32LE(events, 0);
  e.writeUInt32LE(fd, 4);
  epollCtl(ep, op, fd, e);
}
ctl(EPOLL_CTL_ADD, wakeFd, EPOLLIN);

function newDir(src: number, dst: number, init: Buffer | undefined): Dir | undefined {
  const fds = Buffer.alloc(8);
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) !== 0) return undefined;
  const pr = fds.readInt32LE(0);
  const pw = fds.readInt32LE(4);
  return { src, dst, pr, pw, inPipe: 0, cap: 65536, init: init?.length ? init : undefined, eof: false, shut: false, bytes: 0 };
}

function finish(f: Flow): void {
  if (!flows.delete(f.id)) return;
  for (const fd of [f.a, f.b]) {
    if (f.mask.get(fd)) epollCtl(ep, EPOLL_CTL_DEL, fd, null);
    byFd.delete(fd);
    close(fd);
  }
  for (const d of [f.ab, f.ba]) {
    close(d.pr);
    close(d.pw);
  }
  parentPort!.postMessage({ op: 'done', id: f.id, ab: f.ab.bytes, ba: f.ba.bytes });
}

/**
 * Moves what it can in one direction; false on a hard error. Reading continues while the pipe
 * has room (not only when it is empty), so the sender's window never waits on our writes.
 */
function pump(d: Dir): boolean {
  for (;;) {
    let progress = false;
    if (d.init) {
      const n = write(d.dst, d.init, d.init.length);
      if (n < 0) return koffi.errno() === EAGAIN;
      d.bytes += n;
      d.init = n < d.init.length ? d.init.subarray(n) : undefined;
      if (d.init) return true;
      progress = true;
    }
    while (d.inPipe > 0) {
      const n = splice(d.pr, null, d.dst, null, d.inPipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0) {
        if (koffi.errno() !== EAGAIN) return false;
        break;
      }
      d.inPipe -= n;
      d.bytes += n;
      progress = true;
    }
    if (d.eof) {
      if (d.inPipe === 0 && !d.shut) {
        shutdown(d.dst, SHUT_WR);
        d.shut = true;
      }
      return true;
    }
    if (d.inPipe < d.cap) {
      const n = splice(d.src, null, d.pw, null, d.cap - d.inPipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n === 0) {
        d.eof = true;
        progress = true;
      } else if (n < 0) {
        if (koffi.errno() !== EAGAIN) return false;
      } else {
        d.inPipe += n;
        progress = true;
        // The pipe filled: a bulk transfer. A bigger pipe means fewer splices (kernel memory for
        // the larger ring only where it pays; refused quietly above the per-user limit).
        if (d.inPipe >= d.cap && d.cap < CHUNK) {
          const c = fcntl(d.pw, F_SETPIPE_SZ, CHUNK);
          if (c > d.cap) d.cap = c;
        }
      }
    }
    if (!progress) return true;
  }
}

function interest(f: Flow): void {
  const want = new Map<number, number>([
    [f.a, 0],
    [f.b, 0],
  ]);
  for (const d of [f.ab, f.ba]) {
    if (!d.eof && d.inPipe < d.cap) want.set(d.src, want.get(d.src)! | EPOLLIN);
    if (d.inPipe > 0 || d.init) want.set(d.dst, want.get(d.dst)! | EPOLLOUT);
  }
  for (const [fd, m] of want) {
    const had = f.mask.get(fd)!;
    if (had === m) continue;
    // A socket we want nothing from is taken out of the set: epoll reports EPOLLHUP whatever
    // the mask, and a peer's FIN queued behind data we cannot take yet would spin the loop.
    if (m === 0) ctl(EPOLL_CTL_DEL, fd, 0);
    else ctl(had === 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, m);
    f.mask.set(fd, m);
  }
}

function service(f: Flow, events: number): void {
  const before = f.ab.bytes + f.ba.bytes + (f.ab.eof ? 1 : 0) + (f.ba.eof ? 1 : 0);
  if (!pump(f.ab) || !pump(f.ba)) return finish(f);
  if (f.rstA && f.ba.eof && f.ba.bytes === 0) {
    // SO_LINGER {on, 0}: close() sends RST, so the client sees a refusal, not an empty reply.
    setsockopt(f.a, 1, 13, lingerZero, 8);
    return finish(f);
  }
  if (f.ab.shut && f.ba.shut) return finish(f);
  const after = f.ab.bytes + f.ba.bytes + (f.ab.eof ? 1 : 0) + (f.ba.eof ? 1 : 0);
  // Safety net: a socket that keeps reporting an error while nothing moves is dead.
  if (events & (EPOLLERR | EPOLLHUP) && after === before && ++f.idle > 1000) return finish(f);
  if (after !== before) f.idle = 0;
  interest(f);
}

function add(m: { id: number; a: number; b: number; toB?: Uint8Array; toA?: Uint8Array; rstA?: boolean }): void {
  const ab = newDir(m.a, m.b, m.toB ? Buffer.from(m.toB) : undefined);
  const ba = newDir(m.b, m.a, m.toA ? Buffer.from(m.toA) : undefined);
  if (!ab || !ba) {
    close(m.a);
    close(m.b);
    parentPort!.postMessage({ op: 'done', id: m.id, ab: 0, ba: 0, error: 'pipe2 failed' });
    return;
  }
  const f: Flow = { id: m.id, a: m.a, b: m.b, ab, ba, mask: new Map([[m.a, 0], [m.b, 0]]), idle: 0, rstA: !!m.rstA };
  flows.set(f.id, f);
  byFd.set(m.a, f);
  byFd.set(m.b, f);
  service(f, 0);
}

let running = false;

parentPort!.on('message', (m: { op: string; id?: number }) => {
  if (m.op === 'add') add(m as unknown as Parameters<typeof add>[0]);
  else if (m.op === 'close' && m.id !== undefined) {
    const f = flows.get(m.id);
    if (f) finish(f);
  } else if (m.op === 'closeAll') {
    for (const f of [...flows.values()]) finish(f);
  }
  if (flows.size && !running) {
    running = true;
    setImmediate(loop);
  }
});

// Blocks in epoll_wait only while there are flows, and never for long: a worker stuck in a
// native call cannot be terminated, and process exit waits for it.
function loop(): void {
  for (;;) {
    if (flows.size === 0) {
      running = false;
      return;
    }
    const n = epollWait(ep, evbuf, 256, 250);
    if (n < 0) {
      if (koffi.errno() === EINTR) continue;
      running = false;
      return;
    }
    let woken = n === 0;
    for (let i = 0; i < n; i++) {
      const events = evbuf.readUInt32LE(i * EV_SIZE);
      const fd = evbuf.readUInt32LE(i * EV_SIZE + 4);
      if (fd === wakeFd) {
        read(wakeFd, wakeBuf, 8);
        woken = true;
        continue;
      }
      const f = byFd.get(fd);
      if (f) service(f, events);
    }
    // New work arrives as messages: give the event loop a turn to deliver them.
    if (woken) return void setImmediate(loop);
  }
}
