// Who is on the other end of a unix socket: SO_PEERCRED (pid, uid, gid as of connect(2),
// filled in by the kernel, not forgeable by the client) through koffi, plus the peer's start
// time so a pid that exits and is reused cannot inherit the credentials of the first process.
import fs from 'node:fs';
import type net from 'node:net';
import { procStartTime } from '../util/proc-stat.js';

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
  /** /proc/PID/stat field 22 at connect time (clock ticks since boot). */
  startTime?: string;
}

type GetSockopt = (fd: number, level: number, name: number, out: Record<string, number>, len: number[]) => number;
let getsockopt: GetSockopt | undefined | null;

async function load(): Promise<GetSockopt | undefined> {
  if (getsockopt !== undefined) return getsockopt ?? undefined;
  try {
    const koffi = (await import('koffi')).default;
    const libc = koffi.load('libc.so.6');
    // Anonymous struct: a named one would clash if this module were ever loaded twice.
    const ucred = koffi.struct({ pid: 'int32', uid: 'uint32', gid: 'uint32' });
    getsockopt = libc.func('getsockopt', 'int', ['int', 'int', 'int', koffi.out(koffi.pointer(ucred)), koffi.inout(koffi.pointer('uint32'))]) as GetSockopt;
  } catch {
    getsockopt = null;
  }
  return getsockopt ?? undefined;
}

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

/** The start time of a process, or undefined if it is gone. */
/** Peer credentials of a connected unix socket, or undefined if they cannot be read. */
export async function peerCred(sock: net.Socket): Promise<PeerCred | undefined> {
  const fn = await load();
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (!fn || typeof fd !== 'number' || fd < 0) return undefined;
  const out: Record<string, number> = {};
  const len = [12];
  if (fn(fd, SOL_SOCKET, SO_PEERCRED, out, len) !== 0) return undefined;
  const pid = out.pid ?? 0;
  return { pid, uid: out.uid ?? -1, gid: out.gid ?? -1, startTime: pid > 0 ? procStartTime(pid)?.toString() : undefined };
}

/** True while the peer process is the same one that connected (not exited, pid not reused). */
export function samePeerAlive(c: PeerCred): boolean {
  return c.pid > 0 && c.startTime !== undefined && procStartTime(c.pid)?.toString() === c.startTime;
}
