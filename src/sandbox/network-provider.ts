// What `warden run` needs from a network mode. `none` and `full` are built into the
// sandbox; `allowlist` is provided by egress/ (proxy + DNS + nft), wired by cli/run.ts.
// The sandbox owns this interface; providers implement it.
import type { UnstampedEvent } from '../events/types.js';

export interface NetworkContext {
  /** Unique sandbox id (also used to name netns, nft tables, cgroups). */
  sandboxId: string;
  /** Allow entries from the policy: "host", "*.domain", "host:port". */
  allow: string[];
  /** Pinned upstream resolutions from the policy (network.resolve), like curl --resolve. */
  resolve: Record<string, string>;
  /** true when Warden runs as root (host-netns nft); false selects the rootless design. */
  root: boolean;
  /**
   * Upstream DNS servers the proxy uses to resolve allowed names it is about to connect to
   * ("ip" or "ip:port"; policy `network.upstream_dns`). Default: the host's /etc/resolv.conf.
   * Sandbox queries are never forwarded there.
   */
  upstreamDns?: string[];
  /** A private directory (0700, removed after the run) for sockets and generated files. */
  runDir?: string;
  /** Where decisions go (egress.allow / egress.deny / net.dns events). */
  emit(ev: UnstampedEvent): void;
}

export interface PreparedNetwork {
  /** Prefix for the bwrap command line, e.g. ['ip', 'netns', 'exec', NS] (root mode). */
  commandPrefix: string[];
  /** Extra bwrap arguments (binds of resolv.conf, relay sockets...). Must not include --unshare-net when the provider made the netns. */
  bwrapArgs: string[];
  /** Whether bwrap itself must create the network namespace (--unshare-net). */
  unshareNet: boolean;
  /** Environment to set inside the sandbox. */
  env?: Record<string, string>;
  /** Loopback-only endpoints on the host (not reachable from the sandbox), e.g. { denials: 'http://127.0.0.1:PORT/denials' }. */
  endpoints?: Record<string, string>;
  /** Tear everything down; must be idempotent and safe after a crash of the child. */
  cleanup(): Promise<void>;
  /** Live policy update (allowlist reload without restart). Throws on an invalid entry and keeps the old list. */
  updateAllow?(allow: string[]): void;
  /** JSON-serialisable; stored in the crash record and given back to cleanupStale(). */
  record?: unknown;
}

export interface NetworkProvider {
  readonly mode: 'none' | 'full' | 'allowlist';
  prepare(ctx: NetworkContext): Promise<PreparedNetwork>;
}

/** Shape of src/egress/index.ts. */
export interface EgressModule {
  createAllowlistProvider(): NetworkProvider;
  /** Removes what a crashed run left (netns, nft table, relay); `record` may be undefined if prepare() was cut short. */
  cleanupStale?(sandboxId: string, record: unknown): Promise<void>;
}
