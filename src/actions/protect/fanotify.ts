// fanotify through koffi: the calls and constants the kernel-refused reads need, loaded only
// when protection is on (root). Shared by the main thread (the group, its marks, the
// watchdog's fail-open answers) and the decision worker (poll, read, answer).
import { createRequire } from 'node:module';

type Fn = (...a: unknown[]) => number;

export interface Fanotify {
  init(flags: number, eventFlags: number): number;
  mark(fd: number, flags: number, mask: bigint, dirfd: number, path: string): number;
  poll(fds: Buffer, n: number, timeoutMs: number): number;
  read(fd: number, buf: Buffer, n: number): number;
  write(fd: number, buf: Buffer, n: number): number;
  open(path: string, flags: number): number;
  close(fd: number): number;
  dup2(from: number, to: number): number;
  errno(): number;
}

export const FAN = {
  CLOEXEC: 0x1,
  NONBLOCK: 0x2,
  CLASS_CONTENT: 0x4,
  UNLIMITED_QUEUE: 0x10,
  UNLIMITED_MARKS: 0x20,
  MARK_ADD: 0x1,
  MARK_REMOVE: 0x2,
  MARK_FLUSH: 0x80,
  OPEN_PERM: 0x10000n,
  EVENT_ON_CHILD: 0x08000000n,
  ONDIR: 0x40000000n,
  ALLOW: 1,
  DENY: 2,
  METADATA_LEN: 24,
} as const;

export const O_RDONLY = 0;
export const O_CLOEXEC = 0o2000000;
export const O_LARGEFILE = 0o100000;
export const POLLIN = 1;

let cached: Fanotify | null | undefined;

/** The bindings, or undefined where koffi or libc cannot be loaded. */
export function loadFanotify(): Fanotify | undefined {
  if (cached !== undefined) return cached ?? undefined;
  try {
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as { load(l: string): { func(s: string): Fn }; errno(): number };
    const libc = koffi.load('libc.so.6');
    cached = {
      init: libc.func('int fanotify_init(unsigned int flags, unsigned int event_f_flags)'),
      mark: libc.func('int fanotify_mark(int fd, unsigned int flags, uint64_t mask, int dirfd, const char *path)'),
      poll: libc.func('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)'),
      read: libc.func('intptr_t read(int fd, _Out_ uint8_t *buf, size_t count)'),
      write: libc.func('intptr_t write(int fd, const uint8_t *buf, size_t count)'),
      open: libc.func('int open(const char *path, int flags)'),
      close: libc.func('int close(int fd)'),
      dup2: libc.func('int dup2(int oldfd, int newfd)'),
      errno: () => koffi.errno(),
    } as Fanotify;
  } catch {
    cached = null;
  }
  return cached ?? undefined;
}

/** The 8-byte answer to one permission event. */
export function response(buf: Buffer, fd: number, verdict: number): Buffer {
  buf.writeInt32LE(fd, 0);
  buf.writeUInt32LE(verdict, 4);
  return buf;
}
