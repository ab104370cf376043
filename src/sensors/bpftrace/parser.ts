// Turns bpftrace's output stream into raw records. Framing is described in script.ts:
// a record is complete when a line ends with "\x1f<token>"; lines before that are pieces
// of a string that contained newlines. Strings arrive as latin1 (one char per byte) so
// their byte lengths are exact, and are decoded as UTF-8 only once complete.
// Never throws on input: anything unparseable is reported as a parse error and dropped.
import type { RawRecord, SensorSignal } from '../raw.js';
import { MAX_CONT, STR_MAX } from './script.js';

/** Numeric fields after the type letter, and whether a string field follows. */
const SPEC: Record<string, [number, boolean]> = {
  '^': [1, false],
  '!': [2, false],
  F: [3, false],
  A: [2, true],
  a: [1, false],
  V: [1, true],
  '+': [3, true],
  E: [7, true],
  R: [3, true],
  X: [4, false],
  O: [7, true],
  m: [2, true],
  M: [5, true],
  U: [5, true],
  y: [1, true],
  Y: [4, true],
  k: [2, true],
  K: [5, true],
  T: [5, true],
  H: [5, true],
  W: [6, true],
  z: [1, true],
  Z: [4, true],
  D: [6, true],
  I: [4, true],
  C: [3, true],
  c: [4, false],
  N: [9, true],
  S: [7, true],
  Q: [3, true],
  P: [5, true],
  B: [7, true],
  L: [7, false],
  G: [5, false],
  J: [4, true],
  u: [4, false],
  r: [4, false],
  h: [10, false],
  n: [6, false],
  x: [6, false],
  f: [5, false],
  o: [7, false],
  q: [7, false],
};

const CLOCK_CALLS: Record<number, string> = { 159: 'adjtimex', 164: 'settimeofday', 227: 'clock_settime', 305: 'clock_adjtime' };
const SETID_CALLS: Record<number, string> = { 105: 'setuid', 106: 'setgid', 113: 'setreuid', 114: 'setregid', 117: 'setresuid', 119: 'setresgid', 122: 'setfsuid', 123: 'setfsgid' };

interface Pending {
  argv: string[];
  argvTruncated: boolean;
  ldPreload?: string;
  /** field -> piece index -> text (latin1) */
  cont: Map<number, string[]>;
  /** The other path of a two-path operation (rename source, link target, xattr name). */
  second?: { dfd: number; text: string; truncated: boolean };
  /** A send to port 53 waiting for its payload records. */
  dnsSend?: RawRecord & { t: 'send' };
  dnsParts: string[];
  answerParts: string[];
}

const NON_ASCII = /[\x80-\xff]/;

export function latin1ToUtf8(s: string): string {
  return NON_ASCII.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s;
}

/** Decodes bpftrace's %r escaping (non-printable bytes as \xNN) to bytes. */
export function unescapeR(s: string): Buffer {
  const out = Buffer.allocUnsafe(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c && s.charCodeAt(i + 1) === 0x78 && i + 3 < s.length) {
      const hex = s.slice(i + 2, i + 4);
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        out[n++] = parseInt(hex, 16);
        i += 3;
        continue;
      }
    }
    out[n++] = c & 0xff;
  }
  return out.subarray(0, n);
}

export class BpftraceParser {
  private readonly suffix: string;
  private carry = '';
  private fragment: string | undefined;
  private readonly pending = new Map<number, Pending>();
  parsed = 0;
  errors = 0;

  constructor(
    token: string,
    private readonly onRecord: (r: RawRecord) => void,
    private readonly onSignal: (s: SensorSignal) => void,
  ) {
    this.suffix = `\x1f${token}`;
  }

  /** Feeds a chunk of stdout (decoded as latin1). */
  push(chunk: string): void {
    let data = this.carry + chunk;
    let start = 0;
    for (;;) {
      const nl = data.indexOf('\n', start);
      if (nl < 0) break;
      this.line(data.slice(start, nl));
      start = nl + 1;
    }
    this.carry = data.slice(start);
    if (this.carry.length > 1 << 20) {
      // A line longer than any record can be: drop it rather than grow without bound.
      this.error(this.carry.slice(0, 200));
      this.carry = '';
    }
    data = '';
  }

  private line(line: string): void {
    if (this.fragment !== undefined) {
      line = this.fragment + '\n' + line;
      this.fragment = undefined;
    }
    if (!line.endsWith(this.suffix)) {
      if (line.length === 0) return;
      const lost = /^Lost (\d+) events$/.exec(line);
      if (lost) {
        this.onSignal({ s: 'lost', count: Number(lost[1]), source: 'kernel' });
        return;
      }
      if (line.startsWith('Attaching ')) return;
      // Part of a record whose string holds a newline, unless it can never end: records
      // are short, so a fragment beyond 64 KiB is garbage.
      if (line.length < 65536 && SPEC[line[0]!] !== undefined) {
        this.fragment = line;
        return;
      }
      this.error(line);
      return;
    }
    this.record(line.slice(0, line.length - this.suffix.length));
  }

  private error(line: string): void {
    this.errors++;
    this.onSignal({ s: 'parse_error', line: line.slice(0, 300) });
  }

  private pend(tid: number): Pending {
    let p = this.pending.get(tid);
    if (!p) {
      p = { argv: [], argvTruncated: false, cont: new Map(), dnsParts: [], answerParts: [] };
      this.pending.set(tid, p);
      if (this.pending.size > 65536) this.pending.delete(this.pending.keys().next().value!);
    }
    return p;
  }

  /** Appends continuation pieces of `field` to a string whose first piece is `first`. */
  private full(p: Pending | undefined, field: number, first: string): { s: string; truncated: boolean } {
    if (first.length < STR_MAX || !p) return { s: latin1ToUtf8(first), truncated: false };
    const pieces = p.cont.get(field);
    p.cont.delete(field);
    let s = first;
    let last = first;
    let i = 1;
    for (; i <= MAX_CONT; i++) {
      const piece = pieces?.[i];
      if (piece === undefined) break;
      s += piece;
      last = piece;
      if (piece.length < STR_MAX) return { s: latin1ToUtf8(s), truncated: false };
    }
    return { s: latin1ToUtf8(s), truncated: last.length >= STR_MAX };
  }

  private record(rec: string): void {
    const type = rec[0]!;
    const spec = SPEC[type];
    if (!spec || rec[1] !== '\x1f') return this.error(rec);
    const [n, hasStr] = spec;
    const f: string[] = new Array(n);
    let pos = 2;
    for (let i = 0; i < n; i++) {
      const sep = rec.indexOf('\x1f', pos);
      if (sep < 0) {
        if (hasStr || i < n - 1) return this.error(rec);
        f[i] = rec.slice(pos);
        pos = rec.length;
      } else {
        f[i] = rec.slice(pos, sep);
        pos = sep + 1;
      }
    }
    const str = hasStr ? rec.slice(pos) : '';
    try {
      this.dispatch(type, f, str);
      this.parsed++;
    } catch {
      this.error(rec);
    }
  }

  /**
   * Routes a record: the ready and control lines, the pieces that make up a later record
   * (argv, LD_PRELOAD, long-string continuations, second paths, DNS payloads), the exec, the
   * process records, then the records that carry one string (files, network, the rest).
   */
  private dispatch(type: string, f: string[], str: string): void {
    const num = (i: number): number => {
      const v = Number(f[i]);
      if (!Number.isFinite(v)) throw new Error('bad number');
      return v;
    };
    if (this.control(type, num)) return;
    if (this.piece(type, num, str)) return;
    if (type === 'E') return this.exec(f, num, str);
    if (this.processRecord(type, f, num)) return;
    this.stringRecord(type, f, num, str);
  }

  private control(type: string, num: (i: number) => number): boolean {
    switch (type) {
      case '^':
        this.onSignal({ s: 'ready', backend: 'bpftrace', attachMs: 0, missing: [] });
        return true;
      case '!':
        this.onSignal({ s: 'ctl', op: num(0) === 1 ? 'track' : 'untrack', pid: num(1) });
        return true;
    }
    return false;
  }

  /** Parts of a record printed before it: argv, LD_PRELOAD, continuations, second paths, DNS payloads. */
  private piece(type: string, num: (i: number) => number, str: string): boolean {
    switch (type) {
      case 'A': {
        const p = this.pend(num(0));
        const idx = num(1);
        if (idx === 0) {
          p.argv = [];
          p.argvTruncated = false;
          p.ldPreload = undefined;
          for (const k of [...p.cont.keys()]) if (k >= 100) p.cont.delete(k);
        }
        if (idx < 1024) p.argv[idx] = str;
        return true;
      }
      case 'a':
        this.pend(num(0)).argvTruncated = true;
        return true;
      case 'V':
        this.pend(num(0)).ldPreload = latin1ToUtf8(str.slice('LD_PRELOAD='.length));
        return true;
      case '+': {
        const p = this.pend(num(0));
        const field = num(1);
        const idx = num(2);
        if (idx < 1 || idx > MAX_CONT) return true;
        let pieces = p.cont.get(field);
        if (!pieces) p.cont.set(field, (pieces = []));
        pieces[idx] = str;
        return true;
      }
      case 'm':
      case 'k': {
        const tid = num(0);
        const r = this.full(this.pending.get(tid), 1, str);
        this.pend(tid).second = { dfd: num(1), text: r.s, truncated: r.truncated };
        return true;
      }
      case 'y':
      case 'z': {
        const tid = num(0);
        const r = this.full(this.pending.get(tid), 1, str);
        this.pend(tid).second = { dfd: -100, text: r.s, truncated: r.truncated };
        return true;
      }
      case 'Q': {
        // DNS query payload, after the 'S' record it belongs to.
        const tid = num(0);
        const p = this.pending.get(tid);
        const send = p?.dnsSend;
        if (!p || !send) throw new Error('query payload without a send');
        const total = num(2);
        p.dnsParts.push(str);
        if (num(1) === 1 || total <= 200) {
          send.payload = unescapeR(p.dnsParts.join(''));
          p.dnsSend = undefined;
          p.dnsParts = [];
          this.onRecord(send);
        }
        return true;
      }
    }
    return false;
  }

  private exec(f: string[], num: (i: number) => number, str: string): void {
    const oldTid = num(2);
    const p = this.pending.get(oldTid);
    this.pending.delete(oldTid);
    let argv: string[] | undefined;
    let argvTruncated = p?.argvTruncated ?? false;
    if (p && p.argv.length > 0) {
      argv = Array.from(p.argv, (a, i) => {
        const r = this.full(p, 100 + i, a ?? '');
        if (r.truncated) argvTruncated = true;
        return r.s;
      });
    }
    this.onRecord({
      t: 'exec',
      ns: BigInt(f[0]!),
      pid: num(1),
      tid: oldTid,
      ppid: num(3),
      uid: num(4),
      euid: num(5),
      candidate: num(6) === 1,
      filename: latin1ToUtf8(str),
      argv,
      argvTruncated: argvTruncated || undefined,
      ldPreload: p?.ldPreload,
    });
  }

  /** fork, exit, and the records of privilege and namespace calls (no string). */
  private processRecord(type: string, f: string[], num: (i: number) => number): boolean {
    const base = () => ({ ns: BigInt(f[0]!), pid: num(1), tid: num(2) });
    switch (type) {
      case 'F':
        this.onRecord({ t: 'fork', ns: BigInt(f[0]!), pid: num(1), tid: num(1), ppid: num(2) });
        return true;
      case 'X': {
        const raw = num(2);
        this.onRecord({ t: 'exit', ns: BigInt(f[0]!), pid: num(1), tid: num(1), code: (raw >> 8) & 0xff, signal: raw & 0x7f, durationNs: BigInt(f[3]!) });
        return true;
      }
      case 'h':
        this.onRecord({
          t: 'setid',
          ...base(),
          call: SETID_CALLS[num(3)] ?? `syscall_${num(3)}`,
          args: [num(5)],
          ret: num(4),
          // the model only needs uid/euid; gid/egid are not read by this backend
          before: { uid: num(6), euid: num(7), gid: -1, egid: -1 },
          after: { uid: num(8), euid: num(9) },
        });
        return true;
      case 'n':
        this.onRecord({ t: 'setns', ...base(), fd: num(3), nstype: num(4), ret: num(5) });
        return true;
      case 'x':
        this.onRecord({ t: 'unshare', ...base(), flags: num(3), ret: num(4), via: num(5) === 1 ? 'clone' : 'unshare' });
        return true;
      case 'f':
        this.onRecord({ t: 'userfaultfd', ...base(), flags: num(3), ret: num(4) });
        return true;
      case 'o':
        this.onRecord({ t: 'socket', ...base(), family: num(3), type: num(4), protocol: num(5), ret: num(6) });
        return true;
      case 'q': {
        const nr = num(3);
        const clock = num(4);
        const adj = nr === 159 || nr === 305;
        const modes = num(5);
        const sets = nr === 164 || (nr === 227 && clock >= 0) || (adj && (modes & 0x180) !== 0);
        this.onRecord({ t: 'clock', ...base(), call: CLOCK_CALLS[nr] ?? `syscall_${nr}`, clock, modes: adj ? modes : undefined, ret: num(6), stepNs: 0, sets });
        return true;
      }
    }
    return false;
  }

  /** Records whose last field is a string (a path, an address), with its continuation pieces and second path. */
  private stringRecord(type: string, f: string[], num: (i: number) => number, str: string): void {
    const tid = num(2);
    const base = { ns: BigInt(f[0]!), pid: num(1), tid };
    const p = this.pending.get(tid);
    if (p?.dnsSend) {
      // a query whose payload never came: report it without one
      this.onRecord(p.dnsSend);
      p.dnsSend = undefined;
      p.dnsParts = [];
    }
    const main = this.full(p, 0, str);
    const second = p?.second;
    if (p) {
      p.second = undefined;
      if (p.cont.size === 0 && p.argv.length === 0) this.pending.delete(tid);
    }
    const tr = main.truncated || second?.truncated || undefined;
    switch (type) {
      case 'R':
        return this.onRecord({ t: 'rename', ...base, comm: main.s });
      case 'O': {
        // bit 31 of the flags: the file at the returned fd may have been put there by another task
        // bit 30 with it: nothing was left at that fd (another task closed it)
        const fl = num(4);
        const replaced = fl >= 0x80000000 || fl < 0;
        const closed = replaced && (fl & 0x40000000) !== 0;
        return this.onRecord({ t: 'open', ...base, dfd: num(3), flags: replaced ? fl & 0x3fffffff : fl, mode: num(5), ret: num(6), path: main.s, truncated: tr, ...(replaced ? { replaced } : {}), ...(closed ? { closed } : {}) });
      }
      case 'M':
        return this.onRecord({
          t: 'frename',
          ...base,
          olddfd: second?.dfd ?? -100,
          oldpath: second?.text ?? '',
          newdfd: num(3),
          flags: num(4),
          newpath: main.s,
          truncated: tr,
        });
      case 'U':
        return this.onRecord({ t: 'unlink', ...base, dfd: num(3), flags: num(4), path: main.s, truncated: tr });
      case 'Y':
        return this.onRecord({ t: 'symlink', ...base, target: second?.text ?? '', newdfd: num(3), path: main.s, truncated: tr });
      case 'K':
        return this.onRecord({
          t: 'link',
          ...base,
          olddfd: second?.dfd ?? -100,
          oldpath: second?.text ?? '',
          newdfd: num(3),
          flags: num(4),
          path: main.s,
          truncated: tr,
        });
      case 'T':
        return this.onRecord({ t: 'truncate', ...base, fd: num(3), length: num(4), path: main.s, truncated: tr });
      case 'H':
        return this.onRecord({ t: 'chmod', ...base, dfd: num(3), mode: num(4), path: main.s, truncated: tr });
      case 'W':
        return this.onRecord({ t: 'chown', ...base, dfd: num(3), uid: num(4), gid: num(5), path: main.s, truncated: tr });
      case 'Z':
        return this.onRecord({ t: 'setxattr', ...base, fd: num(3), name: second?.text ?? '', path: main.s, truncated: tr });
      case 'D':
        return this.onRecord({ t: 'mkdir', ...base, dfd: num(3), mode: num(4), ret: num(5), path: main.s, truncated: tr });
      case 'I':
        return this.onRecord({ t: 'utimes', ...base, dfd: num(3), path: main.s, truncated: tr });
      case 'C':
        return this.onRecord({ t: 'chdir', ...base, path: main.s, truncated: tr });
      case 'c':
        return this.onRecord({ t: 'fchdir', ...base, fd: num(3) });
      case 'N': {
        const family = num(4);
        const unix = family === 1;
        return this.onRecord({
          t: 'connect',
          ...base,
          fd: num(3),
          family,
          socktype: num(5),
          port: num(6),
          ip: unix ? undefined : f[7],
          abstract: unix ? num(8) === 1 : undefined,
          unixPath: unix ? main.s : undefined,
        });
      }
      case 'S': {
        const rec: RawRecord & { t: 'send' } = {
          t: 'send',
          ...base,
          fd: num(3),
          family: num(4),
          port: num(5),
          len: num(6),
          ip: str === '-' ? undefined : str,
        };
        if (rec.port !== 53) return this.onRecord(rec);
        const q = this.pend(tid);
        q.dnsSend = rec;
        q.dnsParts = [];
        return;
      }
      case 'P': {
        const q = this.pend(tid);
        const total = num(3);
        q.answerParts.push(str);
        if (num(4) === 1 || total <= 200) {
          const payload = unescapeR(q.answerParts.join(''));
          q.answerParts = [];
          return this.onRecord({ t: 'dns_answer', ...base, payload });
        }
        return;
      }
      case 'B':
        return this.onRecord({ t: 'bind', ...base, fd: num(3), family: num(4), socktype: num(5), port: num(6), ip: str });
      case 'L':
        return this.onRecord({ t: 'listen', ...base, fd: num(3), socktype: num(4), port: num(5), backlog: num(6) });
      case 'G':
        return this.onRecord({ t: 'ptrace', ...base, request: num(3), target: num(4) });
      case 'J':
        return this.onRecord({ t: 'memfd', ...base, flags: num(3), name: main.s });
      case 'u':
        return this.onRecord({ t: 'io_uring', ...base, entries: num(3) });
      case 'r':
        return this.onRecord({ t: 'repeat', ...base, count: num(3) });
    }
    throw new Error(`unhandled record type ${type}`);
  }
}
