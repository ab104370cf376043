// DNS payloads seen in a process's own UDP packets (queries it sent, answers it received),
// decoded with dns-packet. Undecodable payloads are reported as such, never thrown.
import dnsPacket from 'dns-packet';

export interface DnsQuery {
  id: number;
  name: string;
  qtype: string;
}

export interface DnsAnswer extends DnsQuery {
  rcode: string;
  /** [address, name it answers for] pairs from A/AAAA records (following CNAMEs). */
  addresses: Array<{ ip: string; name: string; ttl: number }>;
  cnames: Array<{ name: string; target: string }>;
}

export function decodeQuery(buf: Buffer): DnsQuery | undefined {
  try {
    const p = dnsPacket.decode(buf);
    const q = p.questions?.[0];
    if (!q) return undefined;
    return { id: p.id ?? 0, name: q.name, qtype: String(q.type) };
  } catch {
    return undefined;
  }
}

export function decodeAnswer(buf: Buffer): DnsAnswer | undefined {
  try {
    const p = dnsPacket.decode(buf);
    const q = p.questions?.[0];
    if (!q || p.type !== 'response') return undefined;
    const addresses: DnsAnswer['addresses'] = [];
    const cnames: DnsAnswer['cnames'] = [];
    for (const a of p.answers ?? []) {
      if ((a.type === 'A' || a.type === 'AAAA') && typeof a.data === 'string')
        addresses.push({ ip: a.data, name: a.name, ttl: a.ttl ?? 0 });
      else if (a.type === 'CNAME' && typeof a.data === 'string') cnames.push({ name: a.name, target: a.data });
    }
    return { id: p.id ?? 0, name: q.name, qtype: String(q.type), rcode: String((p as { rcode?: string }).rcode ?? 'NOERROR'), addresses, cnames };
  } catch {
    return undefined;
  }
}
