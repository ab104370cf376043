// The destination a client meant before nft redirected its connection to us. Primary:
// getsockopt(SO_ORIGINAL_DST) through koffi (exact, no compile step). Fallback: the
// conntrack table of the namespace we run in (pure JS, O(entries)).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type net from 'node:net';

export interface OriginalDst {
  ip: string;
  port: number;
  via: 'sockopt' | 'conntrack';
}

type GetSockOpt = (fd: number, level: number, name: number, val: Buffer, len: number[]) => number;
let getsockopt: GetSockOpt | null | undefined;

function loadGetsockopt(): GetSockOpt | null {
  if (getsockopt !== undefined) return getsockopt;
  try {
    const require = createRequire(import.meta.url);
    const koffi = require('koffi') as {
      load(lib: string): { func(sig: string): GetSockOpt };
    };
    getsockopt = koffi.load('libc.so.6').func('int getsockopt(int fd, int level, int optname, _Out_ uint8_t *optval, _Inout_ uint32_t *optlen)');
  } catch {
    getsockopt = null;
  }
  return getsockopt;
}

const SOL_IP = 0;
const SO_ORIGINAL_DST = 80;

function socketFd(sock: net.Socket): number | undefined {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

export function originalDstSockopt(sock: net.Socket): OriginalDst | undefined {
  const fn = loadGetsockopt();
  const fd = socketFd(sock);
  if (!fn || fd === undefined) return undefined;
  const b = Buffer.alloc(16);
  const len = [16];
  if (fn(fd, SOL_IP, SO_ORIGINAL_DST, b, len) !== 0) return undefined;
  if (b.readUInt16LE(0) !== 2) return undefined; // AF_INET
  return { ip: `${b[4]}.${b[5]}.${b[6]}.${b[7]}`, port: b.readUInt16BE(2), via: 'sockopt' };
}

/**
 * Looks the connection up in /proc/net/nf_conntrack: the entry whose original tuple has the
 * client's address and port as source and whose reply comes from our listening port.
 */
export function originalDstConntrack(sock: net.Socket, file = '/proc/net/nf_conntrack'): OriginalDst | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
  const src = sock.remoteAddress?.replace(/^::ffff:/, '');
  const sport = String(sock.remotePort);
  const lport = String(sock.localPort);
  for (const line of text.split('\n')) {
    if (!line.includes(' tcp ') || !line.includes(`sport=${sport} `)) continue;
    const m = / src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+) .*?src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)/.exec(line);
    if (m && m[1] === src && m[3] === sport && m[7] === lport) return { ip: m[2]!, port: Number(m[4]), via: 'conntrack' };
  }
  return undefined;
}

export function originalDst(sock: net.Socket): OriginalDst | undefined {
  return originalDstSockopt(sock) ?? originalDstConntrack(sock);
}
