// DNS tunnelling guard. A wildcard entry ("*.example.com") lets an agent pick labels, and
// every name the proxy later resolves upstream carries those labels out. Bursts of new
// distinct names under one wildcard are refused (and alerted once per burst); the rate that
// remains is the documented residual channel of a wildcard entry.

export interface TunnelLimits {
  /** New distinct names allowed per wildcard within `windowMs`. */
  burst: number;
  windowMs: number;
  /** Distinct names per wildcard over the sandbox's lifetime. */
  lifetime: number;
}

export const DEFAULT_TUNNEL_LIMITS: TunnelLimits = { burst: 32, windowMs: 10_000, lifetime: 2048 };

export type TunnelVerdict = { ok: true } | { ok: false; first: boolean; reason: 'burst' | 'lifetime'; count: number };

interface Track {
  names: Set<string>;
  recent: number[];
  trippedUntil: number;
  refused: number;
}

export class TunnelGuard {
  private readonly tracks = new Map<string, Track>();

  constructor(
    private readonly limits: TunnelLimits = DEFAULT_TUNNEL_LIMITS,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Called for a name under `wildcard`; `isNew` when it has no synthetic address yet. */
  check(wildcard: string, name: string): TunnelVerdict {
    let t = this.tracks.get(wildcard);
    if (!t) this.tracks.set(wildcard, (t = { names: new Set(), recent: [], trippedUntil: 0, refused: 0 }));
    if (t.names.has(name)) return { ok: true };
    const now = this.now();
    while (t.recent.length && t.recent[0]! <= now - this.limits.windowMs) t.recent.shift();
    let reason: 'burst' | 'lifetime' | undefined;
    if (t.names.size >= this.limits.lifetime) reason = 'lifetime';
    else if (now < t.trippedUntil || t.recent.length >= this.limits.burst) reason = 'burst';
    if (reason) {
      const first = t.refused === 0 || now >= t.trippedUntil;
      // Stay closed for a whole window after the last refusal: a slow drip at the limit edge is still a burst.
      t.trippedUntil = now + this.limits.windowMs;
      t.refused = first ? 1 : t.refused + 1;
      return { ok: false, first, reason, count: t.names.size + t.refused };
    }
    t.names.add(name);
    t.recent.push(now);
    return { ok: true };
  }
}
