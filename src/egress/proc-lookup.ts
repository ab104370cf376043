// Which process owns a sandbox socket, for deny events ("process when known"). The socket's
// inode comes from /proc/PID/net/tcp{,6} of a process in the sandbox's network namespace;
// the owner is the process holding an fd on that inode. Best effort and rate-bounded: a
// flood of denied connections must not turn into a flood of /proc scans.
import fs from 'node:fs';
import type { ProcRef } from '../events/types.js';
import { parseStrictIPv4 } from './ip.js';

let tokens = 10;
let last = Date.now();
const RATE = 10;

function take(): boolean {
  const now = Date.now();
  tokens = Math.min(RATE, tokens + ((now - last) / 1000) * RATE);
  last = now;
  if (tokens < 1) return false;
  tokens--;
  return true;
}

function hex4(ip: string): string | undefined {
  const v = parseStrictIPv4(ip);
  if (v === undefined) return undefined;
  // /proc/net/tcp prints the address as a host-order (little-endian) 32-bit word.
  const le = ((v & 255) << 24) | (((v >>> 8) & 255) << 16) | (((v >>> 16) & 255) << 8) | ((v >>> 24) & 255);
  return (le >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

// Scanning every process is the expensive part; a burst of denials shares one scan.
let pidCache: { inode: number; at: number; pids: number[] } | undefined;

function pidsInNetns(inode: number): number[] {
  if (pidCache && pidCache.inode === inode && Date.now() - pidCache.at < 1000) return pidCache.pids;
  const out = scanNetns(inode);
  pidCache = { inode, at: Date.now(), pids: out };
  return out;
}

function scanNetns(inode: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (fs.readlinkSync(`/proc/${e}/ns/net`) === `net:[${inode}]`) out.push(Number(e));
    } catch {
      // gone or not ours
    }
  }
  return out;
}

function socketInode(pid: number, ip: string, port: number): string | undefined {
  const h = hex4(ip);
  if (!h) return undefined;
  const p = port.toString(16).toUpperCase().padStart(4, '0');
  const keys = [`${h}:${p}`, `0000000000000000FFFF0000${h}:${p}`];
  for (const f of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${f}`, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const cols = line.trim().split(/\s+/);
      if (cols[1] && keys.includes(cols[1]) && cols[9] && cols[9] !== '0') return cols[9];
    }
  }
  return undefined;
}

export function procRef(pid: number): ProcRef | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
    const read = (l: string) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/${l}`);
      } catch {
        return '';
      }
    };
    const uid = Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? -1);
    return { pid, ppid, exe: read('exe'), argv, cwd: read('cwd'), uid };
  } catch {
    return undefined;
  }
}

/** The process in network namespace `netnsInode` whose TCP socket has local address src:sport. */
export async function lookupSocketOwner(netnsInode: number, m: { srcIp?: string; srcPort?: number }): Promise<ProcRef | undefined> {
  if (!m.srcIp || !m.srcPort || !take()) return undefined;
  const pids = pidsInNetns(netnsInode);
  let inode: string | undefined;
  for (const pid of pids) {
    inode = socketInode(pid, m.srcIp, m.srcPort);
    if (inode) break;
  }
  if (!inode) return undefined;
  const want = `socket:[${inode}]`;
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === want) return procRef(pid);
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return undefined;
}
