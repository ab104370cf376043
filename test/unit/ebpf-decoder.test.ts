import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EbpfDecoder, F, HDR_SIZE, REC, decodeSockaddr, ipv6ToString } from '../../src/sensors/ebpf/decoder.js';
import type { RawRecord, SensorSignal } from '../../src/sensors/raw.js';

/** Encodes one record as the loader writes it: [u32 len][88-byte header][six strings]. */
function frame(o: { type: number; flags?: number; pid?: number; tid?: number; root?: number; ns?: bigint; a?: number[]; s?: Array<Buffer | string> }): Buffer {
  const strs = (o.s ?? []).map((x) => (typeof x === 'string' ? Buffer.from(x, 'utf8') : x));
  const h = Buffer.alloc(HDR_SIZE);
  h.writeUInt16LE(o.type, 0);
  h.writeUInt16LE(o.flags ?? 0, 2);
  h.writeUInt32LE(o.pid ?? 100, 4);
  h.writeUInt32LE(o.tid ?? o.pid ?? 100, 8);
  h.writeUInt32LE(o.root ?? 0, 12);
  for (let i = 0; i < 6; i++) h.writeUInt16LE(strs[i]?.length ?? 0, 16 + i * 2);
  h.writeBigUInt64LE(o.ns ?? 123456789n, 32);
  (o.a ?? []).forEach((v, i) => h.writeBigInt64LE(BigInt(v), 40 + i * 8));
  const body = Buffer.concat([h, ...strs]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length);
  return Buffer.concat([len, body]);
}

function decoder() {
  const records: RawRecord[] = [];
  const signals: SensorSignal[] = [];
  let readyAt: number | undefined;
  const d = new EbpfDecoder({ record: (r) => records.push(r), signal: (s) => signals.push(s), ready: (us) => (readyAt = us) });
  return { d, records, signals, ready: () => readyAt };
}

function sockaddrIn(port: number, ip: number[]): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(2, 0);
  b.writeUInt16BE(port, 2);
  Buffer.from(ip).copy(b, 4);
  return b;
}

describe('ebpf record decoder', () => {
  it('decodes an exec with exact argv, its environment, cwd, real executable and candidate flag', () => {
    const { d, records } = decoder();
    const argv = ['claude', '', 'a b', 'x\ny\x1fz'];
    d.push(
      frame({
        type: REC.EXEC,
        flags: F.CANDIDATE,
        pid: 42,
        tid: 43,
        root: 42,
        a: [1, 1000, 0, 43, 2],
        s: ['/usr/bin/claude', argv.join('\0') + '\0', 'LD_PRELOAD=/tmp/evil.so\0HTTPS_PROXY=http://u:p@h:3128\0', '/home/dev/proj', '', '/usr/lib/claude/bin'],
      }),
    );
    expect(records).toEqual([
      {
        t: 'exec',
        ns: 123456789n,
        pid: 42,
        tid: 43,
        root: 42,
        ppid: 1,
        uid: 1000,
        euid: 0,
        gen: 2,
        filename: '/usr/bin/claude',
        argv,
        argvTruncated: undefined,
        env: { LD_PRELOAD: '/tmp/evil.so', HTTPS_PROXY: 'http://u:p@h:3128' },
        envTruncated: undefined,
        ldPreload: '/tmp/evil.so',
        cwd: '/home/dev/proj',
        realExe: '/usr/lib/claude/bin',
        candidate: true,
        handoff: undefined,
      },
    ]);
  });

  it('keeps an empty LD_PRELOAD distinct from none, and marks a cut argv', () => {
    const { d, records } = decoder();
    d.push(frame({ type: REC.EXEC, flags: F.TRUNC1 | F.ARGV_MORE, a: [1, 0, 0, 100], s: ['/bin/x', 'x\0abc', 'LD_PRELOAD=\0'] }));
    d.push(frame({ type: REC.EXEC, a: [1, 0, 0, 100], s: ['/bin/x', 'x\0'] }));
    expect(records[0]).toMatchObject({ ldPreload: '', argvTruncated: true, argv: ['x', 'abc'] });
    expect(records[1]).toMatchObject({ argv: ['x'] });
    expect((records[1] as { ldPreload?: string }).ldPreload).toBeUndefined();
  });

  it('decodes opens with the kernel path, inode, protected and watched flags, and the base of a failed relative open', () => {
    const { d, records } = decoder();
    d.push(frame({ type: REC.OPEN, flags: F.EXIT | F.PROTECTED, a: [4, 0, 0, 3, 0x800001, 1234], s: ['.ssh/id_ed25519', '', '', '', '/root/.ssh/id_ed25519'] }));
    d.push(frame({ type: REC.OPEN, flags: F.EXIT | F.WATCHED, a: [-100, 0, 0, -2], s: ['config', '', '/root/.oci'] }));
    d.push(frame({ type: REC.OPEN, flags: F.EXIT | F.UNREAD0, a: [-100, 0, 0, 3, 1, 2], s: ['', '', '', '', '/etc/hostname'] }));
    expect(records).toMatchObject([
      { t: 'open', path: '.ssh/id_ed25519', dfd: 4, kpath: '/root/.ssh/id_ed25519', dev: 0x800001, ino: 1234, protected: true },
      { t: 'open', path: 'config', ret: -2, base: '/root/.oci', watched: true },
      { t: 'open', path: '', unreadable: true, kpath: '/etc/hostname' },
    ]);
  });

  it('decodes path operations reported at exit with their result and the kernel\'s base directories', () => {
    const { d, records } = decoder();
    d.push(frame({ type: REC.UNLINK, flags: F.EXIT, a: [4, 0, 0], s: ['main.o', '', '/home/dev/proj/build'] }));
    d.push(frame({ type: REC.FRENAME, flags: F.EXIT, a: [-100, 0, 5, -13], s: ['.bashrc', 'x', '/root', '/tmp'] }));
    d.push(frame({ type: REC.CHMOD, flags: F.EXIT, a: [7, 0o755, 0], s: ['', '', '/tmp/tool'] }));
    d.push(frame({ type: REC.LOOKUP, flags: F.EXIT | F.WATCHED, a: [332, -100, -2], s: ['.azure', '', '/root'] }));
    expect(records).toMatchObject([
      { t: 'unlink', dfd: 4, path: 'main.o', ret: 0, base: '/home/dev/proj/build' },
      { t: 'frename', newpath: '.bashrc', oldpath: 'x', ret: -13, base: '/root', base2: '/tmp' },
      { t: 'chmod', dfd: 7, mode: 0o755, path: '', base: '/tmp/tool' },
      { t: 'lookup', call: 'statx', ret: -2, path: '.azure', base: '/root' },
    ]);
  });

  it('decodes privilege, namespace, packet socket and guard records', () => {
    const { d, records } = decoder();
    const before = Buffer.alloc(16);
    before.writeUInt32LE(1000, 0);
    before.writeUInt32LE(1000, 4);
    d.push(frame({ type: REC.SETID, flags: F.EXIT, a: [117, 0, 0, 0, 0, 0], s: [before] }));
    d.push(frame({ type: REC.SETNS, flags: F.EXIT, a: [3, 0x40000000, 0, 4026531840, 0x6e736673] }));
    d.push(frame({ type: REC.UNSHARE, flags: F.EXIT, a: [0x10000000, 0, 0] }));
    d.push(frame({ type: REC.USERFAULTFD, flags: F.EXIT, a: [0, 5] }));
    d.push(frame({ type: REC.SOCKET, flags: F.EXIT, a: [17, 3, 768, 4] }));
    d.push(frame({ type: REC.CLOCK, flags: F.EXIT, a: [227, 0, 0, 0, -90_000_000_123, 1] }));
    d.push(frame({ type: REC.CLOCK, flags: F.EXIT, a: [305, 0, -1, 0, 0, 1] }));
    const anc = Buffer.alloc(8 * 20);
    anc.writeUInt32LE(77, 0);
    Buffer.from('bash').copy(anc, 4);
    d.push(frame({ type: REC.SIGNAL, pid: 66, root: 60, a: [9, 500, 1, 0, 0, 12], s: ['kill', anc] }));
    expect(records).toMatchObject([
      { t: 'setid', call: 'setresuid', args: [0, 0, 0], ret: 0, before: { uid: 1000, euid: 1000 }, after: { uid: 0, euid: 0 } },
      { t: 'setns', fd: 3, nstype: 0x40000000, nsInode: 4026531840 },
      { t: 'unshare', flags: 0x10000000, via: 'unshare' },
      { t: 'userfaultfd', ret: 5 },
      { t: 'socket', family: 17, type: 3, protocol: 768 },
      { t: 'clock', call: 'clock_settime', clock: 0, modes: undefined, ret: 0, stepNs: -90_000_000_123, sets: true },
      { t: 'clock', call: 'clock_adjtime', clock: 0, modes: -1, sets: true },
      { t: 'signal', pid: 66, root: 60, sig: 9, target: 500, role: 'monitor', seq: 12, comm: 'kill', ancestry: [{ pid: 77, comm: 'bash' }] },
    ]);
  });

  it('decodes paths holding newlines and unit separators intact', () => {
    const { d, records } = decoder();
    const path = '/tmp/a\nb\x1fc\x1f\n/' + 'é'.repeat(10);
    d.push(frame({ type: REC.OPEN, a: [-100, 0o101, 0o644, 3], s: [path] }));
    expect(records[0]).toMatchObject({ t: 'open', path, dfd: -100, flags: 0o101, mode: 0o644, ret: 3 });
  });

  it('decodes two-string records (rename, symlink, link, setxattr)', () => {
    const { d, records } = decoder();
    d.push(frame({ type: REC.FRENAME, a: [5, 1, -100], s: ['new', 'old'] }));
    d.push(frame({ type: REC.SYMLINK, a: [-100], s: ['link', '/target'] }));
    d.push(frame({ type: REC.LINK, a: [-100, 0, 7], s: ['hard', 'src'] }));
    d.push(frame({ type: REC.SETXATTR, a: [-100], s: ['/bin/x', 'security.capability'] }));
    expect(records).toMatchObject([
      { t: 'frename', newdfd: 5, flags: 1, olddfd: -100, newpath: 'new', oldpath: 'old' },
      { t: 'symlink', newdfd: -100, path: 'link', target: '/target' },
      { t: 'link', newdfd: -100, olddfd: 7, path: 'hard', oldpath: 'src' },
      { t: 'setxattr', fd: -100, path: '/bin/x', name: 'security.capability' },
    ]);
  });

  it('decodes exits, forks, repeats and renames', () => {
    const { d, records } = decoder();
    d.push(frame({ type: REC.EXIT, a: [(3 << 8) | 0, 5_000_000] }));
    d.push(frame({ type: REC.EXIT, a: [9, 1] }));
    d.push(frame({ type: REC.OPEN, a: [-100, 0, 0, -13], s: ['/x'] }));
    d.push(frame({ type: REC.EXIT, a: [0, 2 ** 40 + 5, 14] }));
    d.push(frame({ type: REC.FORK, pid: 7, a: [6] }));
    d.push(frame({ type: REC.REPEAT, a: [99] }));
    d.push(frame({ type: REC.RENAME, s: ['claude'] }));
    expect(records).toMatchObject([
      { t: 'exit', code: 3, signal: 0, durationNs: 5_000_000n },
      { t: 'exit', code: 0, signal: 9 },
      { t: 'open', ret: -13, dfd: -100 },
      { t: 'exit', durationNs: BigInt(2 ** 40 + 5), libraryLoads: 14 },
      { t: 'fork', pid: 7, ppid: 6 },
      { t: 'repeat', count: 99 },
      { t: 'rename', comm: 'claude' },
    ]);
    expect(records[0]).not.toHaveProperty('libraryLoads'); // none counted: no field
  });

  it('decodes sockaddrs: inet, inet6, unix path, abstract with NULs', () => {
    expect(decodeSockaddr(sockaddrIn(443, [10, 1, 2, 3]))).toEqual({ family: 2, port: 443, ip: '10.1.2.3' });
    const six = Buffer.alloc(28);
    six.writeUInt16LE(10, 0);
    six.writeUInt16BE(53, 2);
    six[23] = 1;
    expect(decodeSockaddr(six)).toEqual({ family: 10, port: 53, ip: '::1' });
    const un = Buffer.concat([Buffer.from([1, 0]), Buffer.from('/run/x.sock\0junk')]);
    expect(decodeSockaddr(un)).toMatchObject({ family: 1, unixPath: '/run/x.sock', abstract: false });
    const ab = Buffer.concat([Buffer.from([1, 0, 0]), Buffer.from('name\0with\0\0\0')]);
    expect(decodeSockaddr(ab)).toMatchObject({ family: 1, unixPath: 'name\0with', abstract: true });
    expect(ipv6ToString(Buffer.from('20010db8000000000001000000000001', 'hex'))).toBe('2001:db8::1:0:0:1');
    expect(ipv6ToString(Buffer.from('00000000000000000000ffff7f000001', 'hex'))).toBe('::ffff:127.0.0.1');
    expect(ipv6ToString(Buffer.from('fe800000000000000000000000000000', 'hex'))).toBe('fe80::');
  });

  it('decodes connect, DNS send with payload, answers, bind, listen', () => {
    const { d, records } = decoder();
    d.push(frame({ type: REC.CONNECT, a: [3, 1, 16], s: [sockaddrIn(8080, [127, 0, 0, 1])] }));
    d.push(frame({ type: REC.SEND, a: [4, 29], s: [sockaddrIn(53, [127, 0, 0, 53]), Buffer.from('query')] }));
    d.push(frame({ type: REC.SEND, a: [4, 10], s: [sockaddrIn(9999, [127, 0, 0, 1])] }));
    d.push(frame({ type: REC.DNS_ANSWER, a: [4, 5], s: [Buffer.from('reply'), sockaddrIn(53, [10, 0, 0, 1])] }));
    d.push(frame({ type: REC.BIND, a: [5, 1], s: [sockaddrIn(0, [0, 0, 0, 0])] }));
    d.push(frame({ type: REC.LISTEN, a: [5, 1, 4444, 128] }));
    expect(records).toMatchObject([
      { t: 'connect', fd: 3, family: 2, socktype: 1, port: 8080, ip: '127.0.0.1' },
      { t: 'send', fd: 4, family: 2, port: 53, len: 29, ip: '127.0.0.53', payload: Buffer.from('query') },
      { t: 'send', port: 9999, payload: undefined },
      { t: 'dns_answer', payload: Buffer.from('reply'), srcIp: '10.0.0.1', srcPort: 53 },
      { t: 'bind', family: 2, port: 0, ip: '0.0.0.0' },
      { t: 'listen', port: 4444, backlog: 128 },
    ]);
  });

  it('passes loader records as signals', () => {
    const { d, signals, ready } = decoder();
    d.push(frame({ type: REC.READY, a: [1500, 2] }));
    d.push(frame({ type: REC.LOSS, a: [7, 7, 0, 0, 0] }));
    d.push(frame({ type: REC.LOSS, a: [3, 10, 4000, REC.UTIMES, 2] }));
    d.push(frame({ type: REC.CTL, a: [1, 55, 0] }));
    d.push(frame({ type: REC.CTL, a: [5, 1234, -7] }));
    d.push(frame({ type: REC.CTL, a: [7, 3, 0] }));
    expect(ready()).toBe(1500);
    expect(signals).toEqual([
      { s: 'lost', count: 7, source: 'kernel', root: undefined, kind: undefined, why: 'dropped' },
      { s: 'lost', count: 3, source: 'kernel', root: 4000, kind: 'utimes', why: 'rate_limited' },
      { s: 'ctl', op: 'track', pid: 55, result: 0 },
      { s: 'ctl', op: 'protect', pid: 1234, result: -7 },
      { s: 'fold_off', reasons: ['protected_list_full'] },
    ]);
  });

  it('reassembles frames split at every byte boundary', () => {
    const stream = Buffer.concat([
      frame({ type: REC.OPEN, a: [-100, 0, 0, 3], s: ['/etc/hostname'] }),
      frame({ type: REC.EXEC, a: [1, 0, 0, 9], s: ['/bin/true', 'true\0'] }),
    ]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const { d, records } = decoder();
      d.push(stream.subarray(0, cut));
      d.push(stream.subarray(cut));
      expect(records.map((r) => r.t)).toEqual(['open', 'exec']);
      expect(d.pendingBytes).toBe(0);
    }
  });

  it('counts and reports malformed records, and keeps going after one', () => {
    const { d, records, signals } = decoder();
    const bad = frame({ type: REC.OPEN, s: ['abc'] });
    bad.writeUInt16LE(200, 4 + 16); // string length beyond the record
    d.push(Buffer.concat([bad, frame({ type: 77 }), frame({ type: REC.OPEN, a: [-100, 0, 0, 3], s: ['/ok'] })]));
    expect(d.malformed).toBe(2);
    expect(signals.filter((s) => s.s === 'parse_error')).toHaveLength(2);
    expect(records).toMatchObject([{ t: 'open', path: '/ok' }]);
  });

  it('drops the stream after an impossible frame length, without throwing', () => {
    const { d, signals } = decoder();
    const junk = Buffer.alloc(16, 0xff);
    d.push(junk);
    expect(d.malformed).toBe(1);
    expect(signals[0]).toMatchObject({ s: 'parse_error' });
    d.push(frame({ type: REC.OPEN, a: [-100, 0, 0, 3], s: ['/after'] }));
    expect(d.parsed).toBe(1);
  });

  it('never throws on random bytes, and every record is either decoded or counted', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (chunks) => {
        const { d } = decoder();
        for (const c of chunks) d.push(Buffer.from(c));
        expect(d.parsed + d.malformed).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 500 },
    );
  });

  it('never throws on well-framed records with random contents', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            type: fc.oneof(fc.integer({ min: 0, max: 110 }), fc.constantFrom(...Object.values(REC))),
            flags: fc.integer({ min: 0, max: 0xffff }),
            pid: fc.integer({ min: 0, max: 0xffffffff }),
            a: fc.array(fc.integer(), { minLength: 6, maxLength: 6 }),
            s: fc.array(fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)), { maxLength: 6 }),
          }),
          { maxLength: 10 },
        ),
        (recs) => {
          const { d } = decoder();
          d.push(Buffer.concat(recs.map((r) => frame(r))));
          expect(d.parsed + d.malformed).toBe(recs.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});
