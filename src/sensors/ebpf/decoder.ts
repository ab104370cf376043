// Decodes the compiled sensor's stdout (native/sensor/sensor.h): a stream of
// [u32 length][record] frames, each record an 80-byte header plus up to three byte
// strings whose lengths are in the header. Strings are exact bytes (no escaping, no
// separators), decoded as UTF-8 once. Never throws on input: a record that does not
// make sense is counted, reported as a parse error and dropped.
import type { RawRecord, SensorSignal } from '../raw.js';

export const SENSOR_ABI = 1;
export const HDR_SIZE = 80;
/** Larger than any record the kernel or the loader can write (exec: 80 + 4096 + 16384 + 512). */
export const MAX_RECORD = 1 << 16;

export const REC = {
  EXEC: 1,
  FORK: 2,
  EXIT: 3,
  RENAME: 4,
  OPEN: 5,
  REPEAT: 6,
  FRENAME: 7,
  UNLINK: 8,
  SYMLINK: 9,
  LINK: 10,
  TRUNCATE: 11,
  CHMOD: 12,
  CHOWN: 13,
  SETXATTR: 14,
  MKDIR: 15,
  UTIMES: 16,
  CHDIR: 17,
  FCHDIR: 18,
  CONNECT: 19,
  SEND: 20,
  DNS_ANSWER: 21,
  BIND: 22,
  LISTEN: 23,
  PTRACE: 24,
  MEMFD: 25,
  IO_URING: 26,
  READY: 100,
  LOSS: 101,
  CTL: 102,
  LOG: 103,
  STATS: 104,
} as const;

export const F = {
  TRUNC0: 1 << 0,
  TRUNC1: 1 << 1,
  TRUNC2: 1 << 2,
  CANDIDATE: 1 << 3,
  UNREAD0: 1 << 4,
  UNREAD1: 1 << 5,
  ARGV_MORE: 1 << 6,
  LDPRELOAD: 1 << 7,
} as const;

/** Loader counters reported in its last record. */
export interface LoaderStats {
  compat: number;
  readFailures: number;
  kernelRecords: number;
  loaderRecords: number;
}

export interface DecoderHooks {
  record(r: RawRecord): void;
  signal(s: SensorSignal): void;
  /** The loader's READY record (attach time in µs, ABI). */
  ready?(attachUs: number, abi: number, missing: string[]): void;
  stats?(s: LoaderStats): void;
  log?(msg: string): void;
}

interface Header {
  type: number;
  flags: number;
  pid: number;
  tid: number;
  ns: bigint;
  a: number[];
  s: Buffer[];
}

/** IPv6 text form as inet_ntop writes it (longest zero run compressed, IPv4-mapped tail). */
export function ipv6ToString(b: Buffer): string {
  if (b.length < 16) return '';
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  const w: number[] = [];
  for (let i = 0; i < 16; i += 2) w.push((b[i]! << 8) | b[i + 1]!);
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(w);
  return `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

export interface SockAddr {
  family: number;
  port: number;
  ip?: string;
  unixPath?: string;
  abstract?: boolean;
}

/** Decodes a raw struct sockaddr as the process passed it. */
export function decodeSockaddr(b: Buffer): SockAddr | undefined {
  if (b.length < 2) return undefined;
  const family = b.readUInt16LE(0);
  if (family === 2) {
    if (b.length < 8) return { family, port: 0 };
    return { family, port: b.readUInt16BE(2), ip: `${b[4]}.${b[5]}.${b[6]}.${b[7]}` };
  }
  if (family === 10) {
    if (b.length < 24) return { family, port: b.length >= 4 ? b.readUInt16BE(2) : 0 };
    return { family, port: b.readUInt16BE(2), ip: ipv6ToString(b.subarray(8, 24)) };
  }
  if (family === 1) {
    const p = b.subarray(2);
    if (p.length > 0 && p[0] === 0) {
      // abstract: the name is every byte the process passed (it may hold NULs), less the
      // NUL padding of callers that pass sizeof(struct sockaddr_un)
      let end = p.length;
      while (end > 1 && p[end - 1] === 0) end--;
      return { family, port: 0, abstract: true, unixPath: p.subarray(1, end).toString('utf8') };
    }
    const nul = p.indexOf(0);
    return { family, port: 0, abstract: false, unixPath: (nul < 0 ? p : p.subarray(0, nul)).toString('utf8') };
  }
  return { family, port: 0 };
}

class Malformed extends Error {}

export class EbpfDecoder {
  private buf: Buffer = Buffer.alloc(0);
  parsed = 0;
  malformed = 0;
  bytes = 0;

  constructor(private readonly hooks: DecoderHooks) {}

  /** Feeds a chunk of the loader's stdout. */
  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    let buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32LE(off);
      if (len < HDR_SIZE || len > MAX_RECORD) {
        // The framing is lost: nothing after this point can be trusted to start a record.
        this.bad(`frame length ${len}`, buf.subarray(off, off + 64));
        off = buf.length;
        break;
      }
      if (buf.length - off - 4 < len) break;
      this.one(buf.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    // Keep only the incomplete tail (copied, so the big chunk can be freed).
    this.buf = off >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(off));
    buf = this.buf;
  }

  /** Bytes of an incomplete record waiting for the rest. */
  get pendingBytes(): number {
    return this.buf.length;
  }

  private bad(why: string, sample: Buffer): void {
    this.malformed++;
    this.hooks.signal({ s: 'parse_error', line: `ebpf record: ${why}: ${sample.toString('hex').slice(0, 160)}` });
  }

  private one(rec: Buffer): void {
    let h: Header;
    try {
      h = this.header(rec);
    } catch (err) {
      this.bad(err instanceof Malformed ? err.message : 'bad header', rec.subarray(0, 96));
      return;
    }
    try {
      this.dispatch(h);
      this.parsed++;
    } catch (err) {
      this.bad(err instanceof Malformed ? err.message : `type ${h.type}: ${(err as Error).message}`, rec.subarray(0, 96));
    }
  }

  private header(rec: Buffer): Header {
    const l0 = rec.readUInt16LE(12);
    const l1 = rec.readUInt16LE(14);
    const l2 = rec.readUInt16LE(16);
    if (HDR_SIZE + l0 + l1 + l2 !== rec.length) throw new Malformed(`string lengths ${l0}+${l1}+${l2} do not fill ${rec.length - HDR_SIZE} bytes`);
    // signed 64-bit as Number without BigInt (exact below 2^53, which every field is)
    const a: number[] = new Array(6);
    for (let i = 0; i < 6; i++) a[i] = rec.readInt32LE(36 + i * 8) * 4294967296 + rec.readUInt32LE(32 + i * 8);
    const s0 = rec.subarray(HDR_SIZE, HDR_SIZE + l0);
    const s1 = rec.subarray(HDR_SIZE + l0, HDR_SIZE + l0 + l1);
    const s2 = rec.subarray(HDR_SIZE + l0 + l1, HDR_SIZE + l0 + l1 + l2);
    return {
      type: rec.readUInt16LE(0),
      flags: rec.readUInt16LE(2),
      pid: rec.readUInt32LE(4),
      tid: rec.readUInt32LE(8),
      ns: rec.readBigUInt64LE(24),
      a,
      s: [s0, s1, s2],
    };
  }

  private dispatch(h: Header): void {
    const { a, s, flags } = h;
    // The common fields are written out in each literal (not spread from one object): a
    // spread copies property by property at run time, for every record.
    const ns = h.ns;
    const pid = h.pid;
    const tid = h.tid;
    const str = (i: number) => s[i]!.toString('utf8');
    const trunc = (mask: number) => ((flags & mask) !== 0 ? true : undefined);
    const out = (r: RawRecord) => this.hooks.record(r);
    if (h.pid === 0 && h.type < 100) throw new Malformed('pid 0');
    switch (h.type) {
      case REC.EXEC: {
        const parts = s[1]!.length ? s[1]!.toString('utf8').split('\0') : [];
        // the argument area ends with the last argument's NUL
        if (parts.length && parts[parts.length - 1] === '' && !(flags & F.TRUNC1)) parts.pop();
        return out({
          t: 'exec',
          ns,
          pid,
          tid: a[3]!,
          ppid: a[0]!,
          uid: a[1]!,
          euid: a[2]!,
          filename: str(0),
          argv: parts.length ? parts : undefined,
          argvTruncated: trunc(F.TRUNC1),
          ldPreload: flags & F.LDPRELOAD ? str(2) : undefined,
          candidate: (flags & F.CANDIDATE) !== 0,
        });
      }
      case REC.FORK:
        return out({ t: 'fork', ns, pid, tid, ppid: a[0]! });
      case REC.EXIT:
        return out({ t: 'exit', ns, pid, tid, code: (a[0]! >> 8) & 0xff, signal: a[0]! & 0x7f, durationNs: BigInt(a[1]!) });
      case REC.RENAME:
        return out({ t: 'rename', ns, pid, tid, comm: str(0) });
      case REC.OPEN:
        return out({ t: 'open', ns, pid, tid, dfd: a[0]!, flags: a[1]!, mode: a[2]!, ret: a[3]!, path: str(0), truncated: trunc(F.TRUNC0) });
      case REC.REPEAT:
        return out({ t: 'repeat', ns, pid, tid, count: a[0]! });
      case REC.FRENAME:
        return out({
          t: 'frename',
          ns,
          pid,
          tid,
          newdfd: a[0]!,
          flags: a[1]!,
          olddfd: a[2]!,
          newpath: str(0),
          oldpath: str(1),
          truncated: trunc(F.TRUNC0 | F.TRUNC1),
        });
      case REC.UNLINK:
        return out({ t: 'unlink', ns, pid, tid, dfd: a[0]!, flags: a[1]!, path: str(0), truncated: trunc(F.TRUNC0) });
      case REC.SYMLINK:
        return out({ t: 'symlink', ns, pid, tid, newdfd: a[0]!, path: str(0), target: str(1), truncated: trunc(F.TRUNC0 | F.TRUNC1) });
      case REC.LINK:
        return out({
          t: 'link',
          ns,
          pid,
          tid,
          newdfd: a[0]!,
          flags: a[1]!,
          olddfd: a[2]!,
          path: str(0),
          oldpath: str(1),
          truncated: trunc(F.TRUNC0 | F.TRUNC1),
        });
      case REC.TRUNCATE:
        return out({ t: 'truncate', ns, pid, tid, fd: a[0]!, length: a[1]!, path: str(0), truncated: trunc(F.TRUNC0) });
      case REC.CHMOD:
        return out({ t: 'chmod', ns, pid, tid, dfd: a[0]!, mode: a[1]!, path: str(0), truncated: trunc(F.TRUNC0) });
      case REC.CHOWN:
        return out({ t: 'chown', ns, pid, tid, dfd: a[0]!, uid: a[1]!, gid: a[2]!, path: str(0), truncated: trunc(F.TRUNC0) });
      case REC.SETXATTR:
        return out({ t: 'setxattr', ns, pid, tid, fd: a[0]!, path: str(0), name: str(1), truncated: trunc(F.TRUNC0) });
      case REC.MKDIR:
        return out({ t: 'mkdir', ns, pid, tid, dfd: a[0]!, mode: a[1]!, ret: a[2]!, path: str(0), truncated: trunc(F.TRUNC0) });
      case REC.UTIMES:
        return out({ t: 'utimes', ns, pid, tid, dfd: a[0]!, path: str(0), truncated: trunc(F.TRUNC0) });
      case REC.CHDIR:
        return out({ t: 'chdir', ns, pid, tid, path: str(0), truncated: trunc(F.TRUNC0) });
      case REC.FCHDIR:
        return out({ t: 'fchdir', ns, pid, tid, fd: a[0]! });
      case REC.CONNECT: {
        const sa = decodeSockaddr(s[0]!);
        if (!sa) return; // connect(fd, NULL/short): nothing to report
        if (sa.family !== 1 && sa.family !== 2 && sa.family !== 10) return; // AF_UNSPEC (disconnect), netlink...
        return out({
          t: 'connect',
          ns,
          pid,
          tid,
          fd: a[0]!,
          family: sa.family,
          socktype: a[1]!,
          port: sa.port,
          ip: sa.ip,
          unixPath: sa.unixPath,
          abstract: sa.family === 1 ? sa.abstract : undefined,
        });
      }
      case REC.SEND: {
        const sa = decodeSockaddr(s[0]!) ?? { family: 0, port: 0 };
        return out({
          t: 'send',
          ns,
          pid,
          tid,
          fd: a[0]!,
          family: sa.family,
          port: sa.port,
          len: a[1]!,
          ip: sa.ip,
          payload: sa.port === 53 ? Buffer.from(s[1]!) : undefined,
        });
      }
      case REC.DNS_ANSWER:
        return out({ t: 'dns_answer', ns, pid, tid, payload: Buffer.from(s[0]!) });
      case REC.BIND: {
        const sa = decodeSockaddr(s[0]!);
        if (!sa || (sa.family !== 2 && sa.family !== 10)) return;
        return out({ t: 'bind', ns, pid, tid, fd: a[0]!, family: sa.family, socktype: a[1]!, port: sa.port, ip: sa.ip ?? '' });
      }
      case REC.LISTEN:
        return out({ t: 'listen', ns, pid, tid, fd: a[0]!, socktype: a[1]!, port: a[2]!, backlog: a[3]! });
      case REC.PTRACE:
        return out({ t: 'ptrace', ns, pid, tid, request: a[0]!, target: a[1]! });
      case REC.MEMFD:
        return out({ t: 'memfd', ns, pid, tid, flags: a[0]!, name: str(0) });
      case REC.IO_URING:
        return out({ t: 'io_uring', ns, pid, tid, entries: a[0]! });
      case REC.READY:
        this.hooks.ready?.(a[0]!, a[1]!, s[0]!.length ? str(0).split(',') : []);
        return;
      case REC.LOSS:
        if (a[0]! <= 0) throw new Malformed(`loss count ${a[0]}`);
        return this.hooks.signal({ s: 'lost', count: a[0]!, source: 'kernel' });
      case REC.CTL:
        return this.hooks.signal({ s: 'ctl', op: a[0] === 1 ? 'track' : 'untrack', pid: a[1]! });
      case REC.LOG:
        this.hooks.log?.(str(0));
        return;
      case REC.STATS:
        this.hooks.stats?.({ compat: a[0]!, readFailures: a[1]!, kernelRecords: a[2]!, loaderRecords: a[3]! });
        return;
    }
    throw new Malformed(`unknown record type ${h.type}`);
  }
}
