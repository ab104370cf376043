// Telling the agent: a line on the standard error of the tool Warden acted on. An agent reads
// its tools' output, so this is where it learns that its test run was paused or killed and
// why, in words it can act on. Never blocking: a file or pipe is reopened through /proc with
// O_NONBLOCK; a socket (Node's child stdio is a socketpair, so this is what Claude Code's tools
// have) cannot be reopened, so its descriptor is borrowed with pidfd_getfd and written with
// MSG_DONTWAIT, which leaves the tool's own descriptor flags untouched. A full buffer skips
// the message rather than wait.
import fs from 'node:fs';
import { createRequire } from 'node:module';

const SYS_PIDFD_OPEN = 434;
const SYS_PIDFD_GETFD = 438;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;

interface Libc {
  syscall3(n: number, a: number, b: number, c: number): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  close(fd: number): number;
}

let libc: Libc | null | undefined;

function loadLibc(): Libc | undefined {
  if (libc !== undefined) return libc ?? undefined;
  try {
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as { load(l: string): { func(s: string): (...a: unknown[]) => number } };
    const l = koffi.load('libc.so.6');
    libc = {
      syscall3: l.func('long syscall(long n, long a, long b, long c)') as Libc['syscall3'],
      send: l.func('intptr_t send(int fd, const uint8_t *buf, size_t len, int flags)') as Libc['send'],
      close: l.func('int close(int fd)') as Libc['close'],
    };
  } catch {
    libc = null;
  }
  return libc ?? undefined;
}

export function tellTool(pid: number, message: string): boolean {
  const line = `\nwarden: ${message.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '?')}\n`;
  let fd: number | undefined;
  try {
    fd = fs.openSync(`/proc/${pid}/fd/2`, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY | fs.constants.O_APPEND);
    fs.writeSync(fd, line);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') return tellSocket(pid, line);
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** stderr is a socket: borrow the descriptor and send without blocking. */
function tellSocket(pid: number, line: string): boolean {
  const c = loadLibc();
  if (!c) return false;
  const pidfd = c.syscall3(SYS_PIDFD_OPEN, pid, 0, 0);
  if (pidfd < 0) return false;
  try {
    const fd = c.syscall3(SYS_PIDFD_GETFD, pidfd, 2, 0);
    if (fd < 0) return false;
    try {
      const buf = Buffer.from(line);
      return c.send(fd, buf, buf.length, MSG_DONTWAIT | MSG_NOSIGNAL) > 0;
    } finally {
      c.close(fd);
    }
  } finally {
    c.close(pidfd);
  }
}
