// The sandbox's only DNS server. It answers A queries for allowed names with a synthetic
// address (which routes to Warden), returns no data for other types of allowed names, and
// refuses everything else. It never forwards a query anywhere: the only names that leave
// the machine are names the proxy resolves because the sandbox connects to them.
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { normaliseWireHost } from './names.js';
import { Policy } from './policy.js';
import type { DecisionRecorder } from './record.js';
import type { SyntheticPool } from './synthetic.js';
import type { TunnelGuard } from './tunnel.js';

export interface Question {
  id: number;
  flags: number;
  /** Name as sent (case preserved, no trailing dot). */
  name: string;
  qtype: number;
  qclass: number;
}

export type ParsedQuery = { ok: true; q: Question } | { ok: false; id?: number; flags?: number; rcode: number; reason: string };

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const RCODE_NAME = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
const QTYPE_NAME: Record<number, string> = { 1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 64: 'SVCB', 65: 'HTTPS', 255: 'ANY' };

export function qtypeName(t: number): string {
  return QTYPE_NAME[t] ?? `TYPE${t}`;
}

/**
 * Parses the header and the single question of a query by hand: dns-packet joins labels with
 * dots, so a label containing a dot byte would read as two labels. Labels here must be plain
 * host-name characters, which makes the textual name unambiguous.
 */
export function parseQuery(b: Buffer): ParsedQuery | undefined {
  if (b.length < 12) return undefined;
  const id = b.readUInt16BE(0);
  const flags = b.readUInt16BE(2);
  if (flags & 0x8000) return undefined; // a response: not for us, do not answer
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return { ok: false, id, flags, rcode: RCODE.NOTIMP, reason: 'opcode' };
  if (b.readUInt16BE(4) !== 1) return { ok: false, id, flags, rcode: RCODE.FORMERR, reason: 'question count' };
  let o = 12;
  const labels: string[] = [];
  let total = 0;
  for (;;) {
    if (o >= b.length) return { ok: false, id, flags, rcode: RCODE.FORMERR, reason: 'truncated name' };
    const len = b[o++]!;
    if (len === 0) break;
    if (len > 63) return { ok: false, id, flags, rcode: RCODE.FORMERR, reason: 'compressed or long label' };
    if (o + len > b.length) return { ok: false, id, flags, rcode: RCODE.FORMERR, reason: 'truncated name' };
    total += len + 1;
    if (total > 254) return { ok: false, id, flags, rcode: RCODE.FORMERR, reason: 'name too long' };
    const label = b.toString('latin1', o, o + len);
    if (!/^[A-Za-z0-9_-]+$/.test(label)) return { ok: false, id, flags, rcode: RCODE.REFUSED, reason: 'invalid-name' };
    labels.push(label);
    o += len;
  }
  if (o + 4 > b.length) return { ok: false, id, flags, rcode: RCODE.FORMERR, reason: 'truncated question' };
  return { ok: true, q: { id, flags, name: labels.join('.'), qtype: b.readUInt16BE(o), qclass: b.readUInt16BE(o + 2) } };
}

function reply(id: number, qflags: number, rcode: number, q?: Question, answers: dnsPacket.Answer[] = []): Buffer {
  const flags = (qflags & dnsPacket.RECURSION_DESIRED) | dnsPacket.RECURSION_AVAILABLE | (rcode & 0xf);
  return dnsPacket.encode({
    id,
    type: 'response',
    flags,
    questions: q ? [{ name: q.name, type: qtypeName(q.qtype) as dnsPacket.RecordType, class: q.qclass === 1 ? 'IN' : ('ANY' as const) }] : [],
    answers,
  });
}

function header(id: number, qflags: number, rcode: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(0x8000 | (qflags & 0x0100) | 0x0080 | (rcode & 0xf), 2);
  return b;
}

export interface DnsResponderOptions {
  policy: () => Policy;
  pool: SyntheticPool;
  tunnel: TunnelGuard;
  record: DecisionRecorder;
  ttl?: number;
}

export class DnsResponder {
  constructor(private readonly o: DnsResponderOptions) {}

  /** The response to one query packet, or undefined when nothing should be sent. */
  handle(packet: Buffer): Buffer | undefined {
    const p = parseQuery(packet);
    if (!p) return undefined;
    if (!p.ok) {
      this.o.record.dns({ query: '', qtype: '', rcode: RCODE_NAME[p.rcode]!, allowed: false, reason: p.reason === 'invalid-name' ? 'invalid-name' : 'malformed' });
      return header(p.id ?? 0, p.flags ?? 0, p.rcode);
    }
    const q = p.q;
    const qtype = qtypeName(q.qtype);
    const deny = (rcode: number, reason: string, extra: Partial<Parameters<DecisionRecorder['dns']>[0]> = {}) => {
      this.o.record.dns({ query: q.name.toLowerCase(), qtype, rcode: RCODE_NAME[rcode]!, allowed: false, reason, ...extra });
      return safeReply(q, rcode);
    };
    if (q.qclass !== 1) return deny(RCODE.REFUSED, 'class');
    const n = normaliseWireHost(q.name);
    if (n.kind === 'ip') return deny(RCODE.NXDOMAIN, 'ip-literal-name');
    if (n.kind === 'invalid') return deny(RCODE.REFUSED, 'invalid-name');
    const name = n.name;
    if (q.qtype === 255) return deny(RCODE.NOTIMP, 'qtype-any');
    const policy = this.o.policy();
    if (!policy.knowsName(name)) return deny(RCODE.NXDOMAIN, 'not-listed', { rule: Policy.suggest(name, 443) });
    let addr = this.o.pool.lookup(name);
    if (!addr) {
      const wild = policy.wildcardOf(name);
      if (wild) {
        const v = this.o.tunnel.check(wild, name);
        if (!v.ok) {
          return deny(RCODE.REFUSED, v.reason === 'burst' ? 'tunnel-burst' : 'tunnel-lifetime', {
            data: { wildcard: `*.${wild}`, distinct_names: v.count },
            ...(v.first
              ? {
                  alert: {
                    rule: 'egress.dns_tunnel',
                    category: 'exfiltration' as const,
                    mitre: ['T1048', 'T1071.004'],
                    message: `possible DNS tunnelling: ${v.count} distinct names under *.${wild} (${v.reason}); new names are refused`,
                  },
                }
              : {}),
          });
        }
      }
      addr = this.o.pool.allocate(name);
      if (!addr) return deny(RCODE.REFUSED, 'pool-exhausted');
    }
    const ttl = this.o.ttl ?? 60;
    const answers: dnsPacket.Answer[] = q.qtype === 1 ? [{ name: q.name, type: 'A', class: 'IN', ttl, data: addr }] : [];
    this.o.record.dns({ query: name, qtype, rcode: 'NOERROR', allowed: true, reason: 'listed', answers: answers.length ? [addr] : [] });
    try {
      return reply(q.id, q.flags, RCODE.NOERROR, q, answers);
    } catch {
      return header(q.id, q.flags, RCODE.NOERROR); // a type dns-packet cannot name: no data
    }
  }
}

function safeReply(q: Question, rcode: number): Buffer {
  try {
    return reply(q.id, q.flags, rcode, q);
  } catch {
    return header(q.id, q.flags, rcode);
  }
}

/** Serves a responder on a UDP socket; resolves once bound. */
export async function serveUdp(responder: Pick<DnsResponder, 'handle'>, host: string, port: number): Promise<dgram.Socket> {
  const sock = dgram.createSocket({ type: 'udp4' });
  sock.on('message', (msg, rinfo) => {
    let out: Buffer | undefined;
    try {
      out = responder.handle(msg);
    } catch {
      out = undefined;
    }
    if (out) sock.send(out, rinfo.port, rinfo.address);
  });
  sock.on('error', () => {});
  await new Promise<void>((res, rej) => {
    sock.once('error', rej);
    sock.bind(port, host, () => {
      sock.off('error', rej);
      res();
    });
  });
  return sock;
}
