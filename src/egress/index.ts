// Public surface of egress/: the `allowlist` network mode for `warden run` (transparent proxy,
// DNS responder, nft plumbing). cli/run.ts lazy-imports this module.
import type { NetworkProvider } from '../sandbox/network-provider.js';

export interface AllowlistOptions {
  /** Seconds a client has to send a complete TLS ClientHello / HTTP head (slowloris bound). */
  headerTimeoutMs?: number;
  /** Concurrent proxied connections per sandbox; more are reset and reported. */
  maxConnections?: number;
}

/** The `network.mode: allowlist` provider (work in progress: see issue #7). */
export function allowlistProvider(_opts: AllowlistOptions = {}): NetworkProvider {
  return {
    mode: 'allowlist',
    async prepare() {
      throw new Error('network mode allowlist is not implemented yet (issue #7)');
    },
  };
}
