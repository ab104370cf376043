// The egress allowlist: parsing of `network.allow` entries and the name/port/address
// decisions made on them. Entries: "host", "*.domain", "host:port", IP or CIDR with an
// optional port ("203.0.113.7", "10.1.0.0/16:5432", "[2001:db8::1]:443"). Without a port an
// entry allows only 80 and 443 (a peer allowed every port: an ssh/SMTP exfil path).
import { cidrContains, parseCidr, parseIpLiteral, type Cidr } from './ip.js';
import { isSubdomainOf, normalisePolicyHost } from './names.js';

export const DEFAULT_PORTS: readonly number[] = [80, 443];

export type AllowEntry =
  | { kind: 'host'; raw: string; name: string; ports: readonly number[] }
  | { kind: 'wildcard'; raw: string; domain: string; ports: readonly number[] }
  | { kind: 'ip'; raw: string; cidr: Cidr; ports: readonly number[] };

export class AllowEntryError extends Error {
  constructor(
    readonly index: number,
    readonly entry: string,
    readonly detail: string,
  ) {
    super(`network.allow[${index}] "${entry}": ${detail}`);
    this.name = 'AllowEntryError';
  }
}

function parsePort(p: string): number | string {
  if (!/^\d{1,5}$/.test(p)) return `port "${p}" is not a number`;
  const n = Number(p);
  return n >= 1 && n <= 65535 ? n : `port ${n} out of range 1-65535`;
}

/** Splits "host:port", "[v6]:port", "v6", "cidr:port". */
function splitHostPort(s: string): { host: string; port?: string } {
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) return { host: s };
    const rest = s.slice(end + 1);
    return rest.startsWith(':') ? { host: s.slice(1, end), port: rest.slice(1) } : { host: rest ? s : s.slice(1, end) };
  }
  const colons = s.split(':').length - 1;
  if (colons === 1) {
    const i = s.indexOf(':');
    return { host: s.slice(0, i), port: s.slice(i + 1) };
  }
  return { host: s };
}

/** Parses one allow entry; returns an error message instead of throwing. */
export function parseAllowEntry(raw: string): AllowEntry | string {
  const s = raw.trim();
  if (s === '') return 'empty entry';
  const { host, port } = splitHostPort(s);
  let ports: readonly number[] = DEFAULT_PORTS;
  if (port !== undefined) {
    const p = parsePort(port);
    if (typeof p === 'string') return p;
    ports = [p];
  }
  if (host === '*' || host === '*.') return 'a bare "*" allows everything: use network.mode: full instead';
  if (host.includes('/')) {
    const cidr = parseCidr(host);
    return cidr ? { kind: 'ip', raw, cidr, ports } : `"${host}" is not a CIDR block (a.b.c.d/n or v6/n)`;
  }
  if (host.startsWith('*.')) {
    const n = normalisePolicyHost(host.slice(2));
    if (n.kind !== 'name') return n.kind === 'ip' ? 'a wildcard cannot apply to an address' : n.reason;
    if (!n.name.includes('.')) return `"*.${n.name}" would allow a whole top-level domain`;
    return { kind: 'wildcard', raw, domain: n.name, ports };
  }
  if (host.includes('*')) return 'a wildcard is only allowed as the first label ("*.example.com")';
  const lit = parseIpLiteral(host);
  if (lit === 'invalid') return `"${host}" is a malformed address`;
  if (lit) return { kind: 'ip', raw, cidr: parseCidr(lit.text)!, ports };
  const n = normalisePolicyHost(host);
  if (n.kind === 'invalid') return n.reason;
  if (n.kind === 'ip') return { kind: 'ip', raw, cidr: parseCidr(n.ip.text)!, ports };
  return { kind: 'host', raw, name: n.name, ports };
}

/** For policy schemas: undefined when the entry is valid, else why not. */
export function checkAllowEntry(raw: string): string | undefined {
  const e = parseAllowEntry(raw);
  return typeof e === 'string' ? e : undefined;
}

export type NameDecision =
  | { allowed: true; entry: AllowEntry }
  | { allowed: false; reason: 'not-listed' | 'port-not-allowed'; entry?: AllowEntry };

export class Policy {
  readonly entries: readonly AllowEntry[];
  private readonly exact = new Map<string, AllowEntry[]>();
  private readonly wildcards: Array<Extract<AllowEntry, { kind: 'wildcard' }>> = [];
  private readonly ips: Array<Extract<AllowEntry, { kind: 'ip' }>> = [];

  /** Throws AllowEntryError for the first invalid entry. */
  constructor(allow: readonly string[]) {
    const entries: AllowEntry[] = [];
    allow.forEach((raw, i) => {
      const e = parseAllowEntry(raw);
      if (typeof e === 'string') throw new AllowEntryError(i, raw, e);
      entries.push(e);
    });
    this.entries = entries;
    for (const e of entries) {
      if (e.kind === 'host') this.exact.set(e.name, [...(this.exact.get(e.name) ?? []), e]);
      else if (e.kind === 'wildcard') this.wildcards.push(e);
      else this.ips.push(e);
    }
    // Longest (most specific) wildcard first.
    this.wildcards.sort((a, b) => b.domain.length - a.domain.length);
  }

  /** Entries whose name part matches a normalised name, most specific first. */
  private nameEntries(name: string): AllowEntry[] {
    return [...(this.exact.get(name) ?? []), ...this.wildcards.filter((w) => isSubdomainOf(name, w.domain))];
  }

  /** Whether some entry names this host at all (the DNS responder answers it). */
  knowsName(name: string): boolean {
    return this.nameEntries(name).length > 0;
  }

  /**
   * The wildcard that alone makes `name` known (no exact entry), for tunnelling accounting:
   * every distinct name under it is a fresh label an agent chose.
   */
  wildcardOf(name: string): string | undefined {
    if (this.exact.has(name)) return undefined;
    return this.wildcards.find((w) => isSubdomainOf(name, w.domain))?.domain;
  }

  decideName(name: string, port: number): NameDecision {
    const es = this.nameEntries(name);
    const hit = es.find((e) => e.ports.includes(port));
    if (hit) return { allowed: true, entry: hit };
    return es.length ? { allowed: false, reason: 'port-not-allowed', entry: es[0] } : { allowed: false, reason: 'not-listed' };
  }

  /** An IP entry that lists this address and port, if any. */
  ipEntry(addr: string, port: number): AllowEntry | undefined {
    return this.ips.find((e) => e.ports.includes(port) && cidrContains(e.cidr, addr));
  }

  /** The entry to add so that a denied destination would be allowed. */
  static suggest(host: string, port: number): string {
    const h = host.includes(':') ? `[${host}]` : host;
    return DEFAULT_PORTS.includes(port) ? host : `${h}:${port}`;
  }
}

/**
 * `warden run --learn`: every destination is allowed and recorded (its allow events carry the
 * entry that would allow it), so the run's needs can be written as a policy afterwards.
 */
export class LearningPolicy extends Policy {
  override knowsName(): boolean {
    return true;
  }

  override decideName(name: string, port: number): NameDecision {
    const known = super.decideName(name, port);
    if (known.allowed) return known;
    const e = parseAllowEntry(Policy.suggest(name, port));
    return typeof e === 'string' ? known : { allowed: true, entry: e };
  }

  override ipEntry(addr: string, port: number): AllowEntry | undefined {
    const known = super.ipEntry(addr, port);
    if (known) return known;
    const e = parseAllowEntry(Policy.suggest(addr, port));
    return typeof e === 'string' ? undefined : e;
  }
}
