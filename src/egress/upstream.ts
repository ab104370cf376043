// Upstream name resolution for the proxy: only names the sandbox is connecting to, after the
// policy allowed them. `network.resolve` pins win (like curl --resolve). Every answer goes
// through the address guard: a name resolving to loopback, private, link-local, metadata or
// the host's own addresses is refused unless that address is itself listed (DNS rebinding).
import { Resolver } from 'node:dns/promises';
import os from 'node:os';
import { canonicalAddress, classifyAddress, type AddressClass } from './ip.js';
import { normalisePolicyHost } from './names.js';
import type { Policy } from './policy.js';

export class UpstreamError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly address?: string,
  ) {
    super(message);
  }
}

interface CacheEntry {
  addrs: string[];
  expires: number;
  source: 'pin' | 'dns';
}

export interface UpstreamOptions {
  /** DNS servers ("ip" or "ip:port"); default: the system's. */
  servers?: string[];
  /** name -> address pins (network.resolve). */
  pins?: Record<string, string>;
  timeoutMs?: number;
}

export class UpstreamResolver {
  private readonly resolver: Resolver;
  private readonly pins = new Map<string, string[]>();
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<CacheEntry>>();
  /** Names actually sent to an upstream server (tests and audits read this). */
  queried = 0;

  constructor(o: UpstreamOptions = {}) {
    this.resolver = new Resolver({ timeout: o.timeoutMs ?? 3000, tries: 2 });
    if (o.servers?.length) this.resolver.setServers(o.servers);
    this.setPins(o.pins ?? {});
  }

  /** Replaces the pins (network.resolve); throws, changing nothing, on a bad entry. */
  setPins(pins: Record<string, string>): void {
    const next = new Map<string, string[]>();
    for (const [k, v] of Object.entries(pins)) {
      const n = normalisePolicyHost(k);
      if (n.kind !== 'name') throw new Error(`network.resolve: "${k}" is not a host name`);
      const addrs = String(v)
        .split(',')
        .map((a) => a.trim());
      for (const a of addrs) if (!canonicalAddress(a)) throw new Error(`network.resolve: "${a}" (for ${k}) is not an IP address`);
      next.set(n.name, addrs.map((a) => canonicalAddress(a)!));
    }
    this.pins.clear();
    for (const [k, v] of next) this.pins.set(k, v);
  }

  /** A pinned or still-valid cached answer, without waiting (the common case per connection). */
  cached(name: string): CacheEntry | undefined {
    const pin = this.pins.get(name);
    if (pin) return { addrs: pin, expires: Infinity, source: 'pin' };
    const c = this.cache.get(name);
    return c && c.expires > Date.now() ? c : undefined;
  }

  async resolve(name: string): Promise<CacheEntry> {
    const pin = this.pins.get(name);
    if (pin) return { addrs: pin, expires: Infinity, source: 'pin' };
    const c = this.cache.get(name);
    if (c && c.expires > Date.now()) return c;
    let p = this.inflight.get(name);
    if (!p) {
      p = this.lookup(name).finally(() => this.inflight.delete(name));
      this.inflight.set(name, p);
    }
    return p;
  }

  private async lookup(name: string): Promise<CacheEntry> {
    this.queried++;
    let addrs: Array<{ address: string; ttl: number }> = [];
    let lastErr: unknown;
    try {
      addrs = await this.resolver.resolve4(name, { ttl: true });
    } catch (e) {
      lastErr = e;
    }
    if (!addrs.length) {
      try {
        addrs = await this.resolver.resolve6(name, { ttl: true });
      } catch (e) {
        lastErr ??= e;
      }
    }
    if (!addrs.length) {
      const code = (lastErr as { code?: string } | undefined)?.code ?? 'ENODATA';
      throw new UpstreamError('resolve-failed', `${name} did not resolve upstream (${code})`);
    }
    const ttl = Math.min(300, Math.max(5, Math.min(...addrs.map((a) => a.ttl))));
    const e: CacheEntry = { addrs: addrs.map((a) => canonicalAddress(a.address) ?? a.address), expires: Date.now() + ttl * 1000, source: 'dns' };
    this.cache.set(name, e);
    if (this.cache.size > 4096) this.cache.delete(this.cache.keys().next().value!);
    return e;
  }
}

let ownCache: { at: number; addrs: Set<string> } | undefined;

/** This host's own interface addresses (a name resolving to them reaches host services). */
export function hostAddresses(): Set<string> {
  if (ownCache && Date.now() - ownCache.at < 5000) return ownCache.addrs;
  const s = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      const c = canonicalAddress(a.address);
      if (c) s.add(c);
    }
  }
  ownCache = { at: Date.now(), addrs: s };
  return s;
}

export type GuardVerdict = { ok: true } | { ok: false; address: string; class: AddressClass | 'host' };

/** Refuses the answer if any address is not public, unless the policy lists it for `port`. */
export function guardAddresses(addrs: string[], port: number, policy: Policy, own = hostAddresses()): GuardVerdict {
  for (const a of addrs) {
    if (policy.ipEntry(a, port)) continue;
    const cls = classifyAddress(a);
    if (cls !== 'public') return { ok: false, address: a, class: cls };
    if (own.has(a)) return { ok: false, address: a, class: 'host' };
  }
  return { ok: true };
}
