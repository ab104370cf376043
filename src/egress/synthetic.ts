// Name <-> synthetic address mapping. The DNS responder gives each allowed name its own
// address from 198.18.0.0/15 (RFC 2544 benchmarking space, never used on real networks), so
// the original destination of any later connection says which name the client resolved,
// even for protocols that carry no name (ssh, databases).
import { formatIPv4, parseStrictIPv4 } from './ip.js';

export const SYNTHETIC_CIDR = '198.18.0.0/15';
const BASE = parseStrictIPv4('198.18.0.0')!;
const SIZE = 2 ** 17;

export class SyntheticPool {
  private readonly byName = new Map<string, string>();
  private readonly byAddr = new Map<string, string>();
  private next = 1;

  constructor(private readonly capacity = SIZE - 2) {}

  /** The address already given to `name`, if any. */
  lookup(name: string): string | undefined {
    return this.byName.get(name);
  }

  /** Gives `name` an address (stable for the pool's lifetime); undefined when the pool is full. */
  allocate(name: string): string | undefined {
    const have = this.byName.get(name);
    if (have) return have;
    if (this.byName.size >= this.capacity) return undefined;
    let v = BASE + this.next++;
    if ((v & 255) === 255) v = BASE + this.next++; // skip x.y.z.255 / x.y.z.0 look-alikes
    if ((v & 255) === 0) v = BASE + this.next++;
    const addr = formatIPv4(v);
    this.byName.set(name, addr);
    this.byAddr.set(addr, name);
    return addr;
  }

  /** The name a synthetic address stands for. */
  nameOf(addr: string): string | undefined {
    return this.byAddr.get(addr);
  }

  get size(): number {
    return this.byName.size;
  }
}
