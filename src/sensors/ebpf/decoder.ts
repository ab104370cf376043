// Decodes the compiled sensor's stdout (native/sensor/sensor.h): a stream of
// [u32 length][record] frames, each record an 88-byte header plus up to six byte
// strings whose lengths are in the header. Strings are exact bytes (no escaping, no
// separators), decoded as UTF-8 once. Never throws on input: a record that does not
// make sense is counted, reported as a parse error and dropped.
import type { KernelPaths, RawRecord, SensorSignal } from '../raw.js';

export const SENSOR_ABI = 3;
export const HDR_SIZE = 88;
export const NSTR = 6;
/** Larger than any record the kernel or the loader can write (exec: 88 + 4096 + 16384 + 2048 + 2 x 4352). */
export const MAX_RECORD = 1 << 17;

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
  SETID: 27,
  SETNS: 28,
  UNSHARE: 29,
  USERFAULTFD: 30,
  SOCKET: 31,
  LOOKUP: 32,
  SIGNAL: 33,
  BPF: 34,
  XCALL: 35,
  CLOCK: 36,
  READY: 100,
  LOSS: 101,
  CTL: 102,
  LOG: 103,
  STATS: 104,
  ROOT: 105,
} as const;

export const F = {
  TRUNC0: 1 << 0,
  TRUNC1: 1 << 1,
  TRUNC2: 1 << 2,
  CANDIDATE: 1 << 3,
  UNREAD0: 1 << 4,
  UNREAD1: 1 << 5,
  ARGV_MORE: 1 << 6,
  HANDOFF: 1 << 7,
  EXIT: 1 << 8,
  PROTECTED: 1 << 9,
  WATCHED: 1 << 10,
  DETACHED: 1 << 11,
  DELETED: 1 << 12,
  KTRUNC: 1 << 13,
  RESUMED: 1 << 14,
  REPLACED: 1 << 15,
} as const;

/** x86_64 syscall numbers of the calls whose records name them. */
export const SYSCALL_NAMES: Record<number, string> = {
  4: 'stat',
  6: 'lstat',
  21: 'access',
  89: 'readlink',
  105: 'setuid',
  106: 'setgid',
  113: 'setreuid',
  114: 'setregid',
  117: 'setresuid',
  119: 'setresgid',
  122: 'setfsuid',
  123: 'setfsgid',
  159: 'adjtimex',
  164: 'settimeofday',
  227: 'clock_settime',
  305: 'clock_adjtime',
  262: 'newfstatat',
  267: 'readlinkat',
  269: 'faccessat',
  332: 'statx',
  439: 'faccessat2',
};

const LOSS_WHY = ['dropped', 'shed', 'rate_limited'] as const;
const ROLES = ['other', 'monitor', 'sensor'] as const;

/** Record type number -> raw record kind, for loss reports. */
export const REC_KIND: Record<number, string> = {
  1: 'exec', 2: 'fork', 3: 'exit', 4: 'rename', 5: 'open', 6: 'repeat', 7: 'frename', 8: 'unlink', 9: 'symlink',
  10: 'link', 11: 'truncate', 12: 'chmod', 13: 'chown', 14: 'setxattr', 15: 'mkdir', 16: 'utimes', 17: 'chdir',
  18: 'fchdir', 19: 'connect', 20: 'send', 21: 'dns_answer', 22: 'bind', 23: 'listen', 24: 'ptrace', 25: 'memfd',
  26: 'io_uring', 27: 'setid', 28: 'setns', 29: 'unshare', 30: 'userfaultfd', 31: 'socket', 32: 'lookup', 33: 'signal',
  34: 'bpf', 35: 'xcall', 36: 'clock',
};

/** Why the kernel stopped counting library opens (FOLD_OFF_* in sensor.h). */
function foldOffReasons(bits: number): Array<'protected_list_full'> {
  return bits & 2 ? ['protected_list_full'] : [];
}

/** Loader counters reported in its last record. */
export interface LoaderStats {
  compat: number;
  readFailures: number;
  kernelRecords: number;
  loaderRecords: number;
  shed: number;
  rateLimited: number;
}

export interface DecoderHooks {
  record(r: RawRecord): void;
  signal(s: SensorSignal): void;
  /** The loader's READY record (attach time in µs, ABI, whether pinned state was adopted). */
  ready?(attachUs: number, abi: number, missing: string[], adopted: boolean, gapNs: number): void;
  stats?(s: LoaderStats): void;
  log?(msg: string): void;
}

interface Header {
  type: number;
  flags: number;
  pid: number;
  tid: number;
  root: number;
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

/** Fields every record of one header shares, and string helpers. */
interface Ctx {
  h: Header;
  base: { ns: bigint; pid: number; tid: number; root?: number };
  str(i: number): string;
  trunc(mask: number): true | undefined;
  /** The string in slot i, or undefined when empty. */
  opt(i: number): string | undefined;
}

/** base/base2 (slots 2, 3), unreadable path arguments and partial kernel paths. */
function kpaths(c: Ctx): KernelPaths {
  const f = c.h.flags;
  const k: KernelPaths = {};
  const b = c.opt(2);
  if (b !== undefined) k.base = b;
  const b2 = c.opt(3);
  if (b2 !== undefined) k.base2 = b2;
  if (f & (F.UNREAD0 | F.UNREAD1)) k.unreadable = true;
  if (f & (F.KTRUNC | F.DETACHED)) k.kpathPartial = true;
  return k;
}

/** The selected environment block: "NAME=value\0NAME=value\0...". */
export function parseEnvBlock(b: Buffer): Record<string, string> | undefined {
  if (b.length === 0) return undefined;
  const env: Record<string, string> = {};
  for (const kv of b.toString('utf8').split('\0')) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

function parseAncestry(b: Buffer): Array<{ pid: number; comm: string }> {
  const out: Array<{ pid: number; comm: string }> = [];
  for (let o = 0; o + 20 <= b.length; o += 20) {
    const pid = b.readUInt32LE(o);
    if (!pid) break;
    const c = b.subarray(o + 4, o + 20);
    const nul = c.indexOf(0);
    out.push({ pid, comm: (nul < 0 ? c : c.subarray(0, nul)).toString('utf8') });
  }
  return out;
}

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
    const lens: number[] = new Array(NSTR);
    let total = 0;
    for (let i = 0; i < NSTR; i++) total += lens[i] = rec.readUInt16LE(16 + i * 2);
    if (HDR_SIZE + total !== rec.length) throw new Malformed(`string lengths ${lens.join('+')} do not fill ${rec.length - HDR_SIZE} bytes`);
    // signed 64-bit as Number without BigInt (exact below 2^53, which every field is)
    const a: number[] = new Array(6);
    for (let i = 0; i < 6; i++) a[i] = rec.readInt32LE(44 + i * 8) * 4294967296 + rec.readUInt32LE(40 + i * 8);
    const s: Buffer[] = new Array(NSTR);
    let o = HDR_SIZE;
    for (let i = 0; i < NSTR; i++) {
      s[i] = rec.subarray(o, o + lens[i]!);
      o += lens[i]!;
    }
    return {
      type: rec.readUInt16LE(0),
      flags: rec.readUInt16LE(2),
      pid: rec.readUInt32LE(4),
      tid: rec.readUInt32LE(8),
      root: rec.readUInt32LE(12),
      ns: rec.readBigUInt64LE(32),
      a,
      s,
    };
  }

  /** Routes a record to its family: processes, files, network, privileges, the loader's own. */
  private dispatch(h: Header): void {
    if (h.type >= 100) return this.loaderRecord(h);
    if (h.pid === 0) throw new Malformed('pid 0');
    const s = h.s;
    const c: Ctx = {
      h,
      base: h.root ? { ns: h.ns, pid: h.pid, tid: h.tid, root: h.root } : { ns: h.ns, pid: h.pid, tid: h.tid },
      str: (i) => s[i]!.toString('utf8'),
      trunc: (mask) => ((h.flags & mask) !== 0 ? true : undefined),
      opt: (i) => (s[i]!.length ? s[i]!.toString('utf8') : undefined),
    };
    // each family returns undefined for a type that is not its own, false for a record that
    // is its own but says nothing to report (a connect to AF_UNSPEC...)
    const r = this.processRecord(c) ?? this.fileRecord(c) ?? this.netRecord(c) ?? this.privilegeRecord(c);
    if (r === undefined) throw new Malformed(`unknown record type ${h.type}`);
    if (r !== false) this.hooks.record(r);
  }

  /** exec, fork, exit, comm rename, signals to the monitor. undefined: not this family. */
  private processRecord(c: Ctx): RawRecord | false | undefined {
    const { h, base } = c;
    const { a, s, flags } = h;
    switch (h.type) {
      case REC.EXEC: {
        const parts = s[1]!.length ? s[1]!.toString('utf8').split('\0') : [];
        // the argument area ends with the last argument's NUL
        if (parts.length && parts[parts.length - 1] === '' && !(flags & F.TRUNC1)) parts.pop();
        const env = parseEnvBlock(s[2]!);
        return {
          t: 'exec',
          ...base,
          tid: a[3]!,
          ppid: a[0]!,
          uid: a[1]!,
          euid: a[2]!,
          gen: a[4]!,
          filename: c.str(0),
          argv: parts.length ? parts : undefined,
          argvTruncated: c.trunc(F.TRUNC1),
          env,
          envTruncated: c.trunc(F.TRUNC2),
          ldPreload: env?.LD_PRELOAD,
          cwd: c.opt(3),
          realExe: c.opt(5),
          candidate: (flags & F.CANDIDATE) !== 0,
          handoff: (flags & F.HANDOFF) !== 0 || undefined,
        };
      }
      case REC.FORK:
        return { t: 'fork', ...base, ppid: a[0]!, handoff: (flags & F.HANDOFF) !== 0 || undefined, candidate: (flags & F.CANDIDATE) !== 0 || undefined };
      case REC.EXIT:
        return { t: 'exit', ...base, code: (a[0]! >> 8) & 0xff, signal: a[0]! & 0x7f, durationNs: BigInt(a[1]!), ...(a[2]! > 0 ? { libraryLoads: a[2]! } : {}) };
      case REC.RENAME:
        return { t: 'rename', ...base, comm: c.str(0) };
      case REC.SIGNAL:
        return {
          t: 'signal',
          ...base,
          sig: a[0]!,
          target: a[1]!,
          role: ROLES[a[2]!] ?? 'other',
          uid: a[3]!,
          code: a[4]!,
          seq: a[5]!,
          resumed: (flags & F.RESUMED) !== 0 || undefined,
          comm: c.str(0),
          ancestry: parseAncestry(s[1]!),
        };
    }
    return undefined;
  }

  /** Opens, path operations, lookups, cwd changes. */
  private fileRecord(c: Ctx): RawRecord | false | undefined {
    const { h, base } = c;
    const { a, flags } = h;
    const atExit = (flags & F.EXIT) !== 0;
    const ret = (i: number) => (atExit ? a[i]! : undefined);
    switch (h.type) {
      case REC.OPEN:
        return {
          t: 'open',
          ...base,
          ...kpaths(c),
          dfd: a[0]!,
          flags: a[1]!,
          mode: a[2]!,
          ret: a[3]!,
          dev: a[4]! || undefined,
          ino: a[5]! || undefined,
          path: c.str(0),
          truncated: c.trunc(F.TRUNC0),
          kpath: c.opt(4),
          protected: (flags & F.PROTECTED) !== 0 || undefined,
          watched: (flags & F.WATCHED) !== 0 || undefined,
          deleted: (flags & F.DELETED) !== 0 || undefined,
          replaced: (flags & F.REPLACED) !== 0 || undefined,
          closed: ((flags & F.REPLACED) !== 0 && !a[4]) || undefined,
        };
      case REC.REPEAT:
        return { t: 'repeat', ...base, count: a[0]!, ino: a[1]! || undefined, dev: a[2]! || undefined };
      case REC.FRENAME:
        return {
          t: 'frename',
          ...base,
          ...kpaths(c),
          newdfd: a[0]!,
          flags: a[1]!,
          olddfd: a[2]!,
          ret: ret(3),
          newpath: c.str(0),
          oldpath: c.str(1),
          truncated: c.trunc(F.TRUNC0 | F.TRUNC1),
        };
      case REC.UNLINK:
        return { t: 'unlink', ...base, ...kpaths(c), dfd: a[0]!, flags: a[1]!, ret: ret(2), path: c.str(0), truncated: c.trunc(F.TRUNC0) };
      case REC.SYMLINK:
        return { t: 'symlink', ...base, ...kpaths(c), newdfd: a[0]!, ret: ret(1), path: c.str(0), target: c.str(1), truncated: c.trunc(F.TRUNC0 | F.TRUNC1) };
      case REC.LINK:
        return {
          t: 'link',
          ...base,
          ...kpaths(c),
          newdfd: a[0]!,
          flags: a[1]!,
          olddfd: a[2]!,
          ret: ret(3),
          path: c.str(0),
          oldpath: c.str(1),
          truncated: c.trunc(F.TRUNC0 | F.TRUNC1),
        };
      case REC.TRUNCATE:
        return { t: 'truncate', ...base, ...kpaths(c), fd: a[0]!, length: a[1]!, ret: ret(2), path: c.str(0), truncated: c.trunc(F.TRUNC0) };
      case REC.CHMOD:
        return { t: 'chmod', ...base, ...kpaths(c), dfd: a[0]!, mode: a[1]!, ret: ret(2), path: c.str(0), truncated: c.trunc(F.TRUNC0) };
      case REC.CHOWN:
        return { t: 'chown', ...base, ...kpaths(c), dfd: a[0]!, uid: a[1]!, gid: a[2]!, ret: ret(3), path: c.str(0), truncated: c.trunc(F.TRUNC0) };
      case REC.SETXATTR:
        return { t: 'setxattr', ...base, ...kpaths(c), fd: a[0]!, ret: ret(1), path: c.str(0), name: c.str(1), truncated: c.trunc(F.TRUNC0) };
      case REC.MKDIR:
        return { t: 'mkdir', ...base, ...kpaths(c), dfd: a[0]!, mode: a[1]!, ret: a[2]!, path: c.str(0), truncated: c.trunc(F.TRUNC0) };
      case REC.UTIMES:
        return { t: 'utimes', ...base, ...kpaths(c), dfd: a[0]!, ret: ret(1), path: c.str(0), truncated: c.trunc(F.TRUNC0) };
      case REC.LOOKUP:
        return {
          t: 'lookup',
          ...base,
          ...kpaths(c),
          call: SYSCALL_NAMES[a[0]!] ?? `syscall_${a[0]}`,
          dfd: a[1]!,
          ret: a[2]!,
          path: c.str(0),
          truncated: c.trunc(F.TRUNC0),
        };
      case REC.CHDIR:
        return { t: 'chdir', ...base, path: c.str(0), truncated: c.trunc(F.TRUNC0), kcwd: c.opt(4) };
      case REC.FCHDIR:
        return { t: 'fchdir', ...base, fd: a[0]!, kcwd: c.opt(4) };
    }
    return undefined;
  }

  /** connect, UDP sends (DNS queries), DNS answers, bind, listen, raw and packet sockets. */
  private netRecord(c: Ctx): RawRecord | false | undefined {
    const { h, base } = c;
    const { a, s, flags } = h;
    const atExit = (flags & F.EXIT) !== 0;
    switch (h.type) {
      case REC.CONNECT: {
        const sa = decodeSockaddr(s[0]!);
        const unreadable = (flags & F.UNREAD0) !== 0 || undefined;
        // connect(fd, NULL/short) or AF_UNSPEC (disconnect), netlink...: nothing to report,
        // unless the address could not be read at all (that is itself worth a warning)
        if (!sa && !unreadable) return false;
        if (sa && sa.family !== 1 && sa.family !== 2 && sa.family !== 10) return false;
        return {
          t: 'connect',
          ...base,
          fd: a[0]!,
          family: sa?.family ?? 0,
          socktype: a[1]!,
          port: sa?.port ?? 0,
          ip: sa?.ip,
          unixPath: sa?.unixPath,
          abstract: sa?.family === 1 ? sa.abstract : undefined,
          ret: atExit ? a[3]! : undefined,
          peerPid: atExit && a[4]! ? a[4]! : undefined,
          localPort: atExit && a[5]! ? a[5]! : undefined,
          unreadable,
        };
      }
      case REC.SEND: {
        const sa = decodeSockaddr(s[0]!) ?? { family: 0, port: 0 };
        return {
          t: 'send',
          ...base,
          fd: a[0]!,
          family: sa.family,
          port: sa.port,
          len: a[1]!,
          ip: sa.ip,
          payload: sa.port === 53 ? Buffer.from(s[1]!) : undefined,
          ret: atExit ? a[2]! : undefined,
          unreadable: (flags & (F.UNREAD0 | F.UNREAD1)) !== 0 || undefined,
        };
      }
      case REC.DNS_ANSWER: {
        const src = s[1]!.length ? decodeSockaddr(s[1]!) : undefined;
        return { t: 'dns_answer', ...base, payload: Buffer.from(s[0]!), srcIp: src?.ip, srcPort: src?.port || undefined };
      }
      case REC.BIND: {
        const sa = decodeSockaddr(s[0]!);
        if (!sa || (sa.family !== 2 && sa.family !== 10)) return false;
        return { t: 'bind', ...base, fd: a[0]!, family: sa.family, socktype: a[1]!, port: sa.port, ip: sa.ip ?? '' };
      }
      case REC.LISTEN:
        return { t: 'listen', ...base, fd: a[0]!, socktype: a[1]!, port: a[2]!, backlog: a[3]! };
      case REC.SOCKET:
        return { t: 'socket', ...base, family: a[0]!, type: a[1]!, protocol: a[2]!, ret: a[3]! };
    }
    return undefined;
  }

  /** Privilege changes, namespaces, and the exploit primitives (ptrace, memfd, io_uring, userfaultfd). */
  private privilegeRecord(c: Ctx): RawRecord | false | undefined {
    const { h, base } = c;
    const { a, s } = h;
    switch (h.type) {
      case REC.SETID: {
        const b = s[0]!;
        const before = b.length >= 16 ? { uid: b.readUInt32LE(0), euid: b.readUInt32LE(4), gid: b.readUInt32LE(8), egid: b.readUInt32LE(12) } : undefined;
        const nr = a[0]!;
        const nargs = nr === 117 || nr === 119 ? 3 : nr === 113 || nr === 114 ? 2 : 1;
        // a[5] = uid << 32 | euid, both unsigned: split without losing bits above 2^53
        const after = { uid: Math.floor(a[5]! / 4294967296) >>> 0, euid: a[5]! >>> 0 };
        return { t: 'setid', ...base, call: SYSCALL_NAMES[nr] ?? `syscall_${nr}`, args: a.slice(1, 1 + nargs), ret: a[4]!, before, after };
      }
      case REC.SETNS:
        return { t: 'setns', ...base, fd: a[0]!, nstype: a[1]!, ret: a[2]!, nsInode: a[3]! || undefined, fsMagic: a[4]! || undefined };
      case REC.UNSHARE:
        return { t: 'unshare', ...base, flags: a[0]!, ret: a[1]!, via: a[2] === 1 ? 'clone' : a[2] === 2 ? 'clone3' : 'unshare' };
      case REC.CLOCK:
        return {
          t: 'clock',
          ...base,
          call: SYSCALL_NAMES[a[0]!] ?? `syscall_${a[0]}`,
          clock: a[1]!,
          // the setters have no modes; adjtimex's word could not be read when -1
          modes: a[0] === 159 || a[0] === 305 ? a[2]! : undefined,
          ret: a[3]!,
          stepNs: a[4]!,
          sets: a[5] === 1,
        };
      case REC.USERFAULTFD:
        return { t: 'userfaultfd', ...base, flags: a[0]!, ret: a[1]! };
      case REC.PTRACE:
        return { t: 'ptrace', ...base, request: a[0]!, target: a[1]! };
      case REC.MEMFD:
        return { t: 'memfd', ...base, flags: a[0]!, ret: h.flags & F.EXIT ? a[1]! : undefined, name: c.str(0) };
      case REC.IO_URING:
        return { t: 'io_uring', ...base, entries: a[0]! };
      case REC.BPF:
        return { t: 'bpf', ...base, cmd: a[0]! };
      case REC.XCALL:
        return { t: 'xcall', ...base, nr: a[0]!, args: a.slice(1, 6), strs: [0, 1, 2, 3].map((i) => c.str(i) || undefined) };
    }
    return undefined;
  }

  /** What the loader itself writes: ready, loss, command acknowledgements, log lines, counters. */
  private loaderRecord(h: Header): void {
    const { a, s } = h;
    const str = (i: number) => s[i]!.toString('utf8');
    switch (h.type) {
      case REC.READY:
        this.hooks.ready?.(a[0]!, a[1]!, s[0]!.length ? str(0).split(',') : [], a[3] === 1, a[4]!);
        return;
      case REC.LOSS: {
        if (a[0]! <= 0) throw new Malformed(`loss count ${a[0]}`);
        const why = LOSS_WHY[a[4]!] ?? 'dropped';
        const root = a[2]! || undefined;
        const kind = REC_KIND[a[3]!] ?? (a[3] ? `type_${a[3]}` : undefined);
        return this.hooks.signal({ s: 'lost', count: a[0]!, source: 'kernel', root, kind, why });
      }
      case REC.CTL: {
        if (a[0] === 7) return this.hooks.signal({ s: 'fold_off', reasons: foldOffReasons(a[1]!) });
        const op = (['track', 'untrack', 'server', 'unserver', 'protect'] as const)[a[0]! - 1] ?? 'track';
        return this.hooks.signal({ s: 'ctl', op, pid: a[1]!, result: a[2]! });
      }
      case REC.LOG:
        if (a[0]) return this.hooks.signal({ s: 'replayed', count: a[0] });
        this.hooks.log?.(str(0));
        return;
      case REC.STATS:
        this.hooks.stats?.({ compat: a[0]!, readFailures: a[1]!, kernelRecords: a[2]!, loaderRecords: a[3]!, shed: a[4]!, rateLimited: a[5]! });
        return;
      case REC.ROOT:
        return this.hooks.signal({ s: 'root', root: a[0]!, startNs: BigInt(a[1]!), name: str(0), session: str(1), cwd: str(2), home: str(3) });
    }
    throw new Malformed(`unknown record type ${h.type}`);
  }
}
