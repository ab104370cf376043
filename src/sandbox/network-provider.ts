// What `warden run` needs from a network mode. `none` and `full` are built into the
// sandbox (sandbox/network.ts); `allowlist` is provided by egress/ (proxy + DNS + nft),
// imported lazily only for that mode. The sandbox owns this interface; providers implement it.
// Resources must be named from ctx.sandboxId (netns, nft table...) so cleanupStale() can find
// them after a crash even when prepare() was cut short.
import type { UnstampedEvent } from '../events/types.js';
import type { CredentialSpec, RequestRuleSpec } from './policy.js';

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
  /** Credentials whose real values stay outside (policy `credentials`); surrogates go into `env`. */
  credentials?: CredentialSpec[];
  /** Request rules per host (policy `network.rules`). */
  rules?: Record<string, RequestRuleSpec>;
  /** Host uid/gid the sandboxed processes run as (root may run them as the workspace owner). */
  uid?: number;
  gid?: number;
  /**
   * The policy file, for live reload of network.allow (egress watches it, and re-reads it on
   * POST /reload at its loopback endpoint), and the host paths the sandbox can write: a policy
   * file under one of them is never reloaded (an agent could widen its own allowlist).
   */
  policyFile?: string;
  writablePaths?: string[];
  /** CA bundle from NODE_EXTRA_CA_CERTS, which bin/warden hides from Node for a fast start of `warden run`. */
  extraCaCerts?: string;
  /** `warden run --learn`: allow every destination and record it. */
  learn?: boolean;
  /** The caller's environment (credentials named by variable, trust settings); default: this process's. */
  env?: NodeJS.ProcessEnv;
  /** Where decisions go (egress.allow / egress.deny / net.dns events). */
  emit(ev: UnstampedEvent): void;
}

export interface PreparedNetwork {
  /** Prefix for the bwrap command line, e.g. ['nsenter', '--net=/run/warden/netns/NS', '--'] (root mode). */
  commandPrefix: string[];
  /**
   * The same way in as namespace files to enter in this order (setns), for the native launcher
   * of the fast path, which enters them itself rather than through a prefix command; with the
   * inode each had when it was made, which the launcher checks (a /proc/PID path whose process
   * died and whose pid was reused names another namespace).
   */
  namespaces?: Array<{ path: string; ino: number }>;
  /** The process those namespaces are named through (/proc/PID/ns/…), with its start time: it must still be that process. */
  namespaceHolder?: { pid: number; start: number };
  /**
   * Extra bwrap arguments (binds of resolv.conf, relay sockets...), placed after Warden's own
   * mounts. Must not include --unshare-net when the provider made the netns. The function form
   * gets the descriptor numbers `fds` were given inside bwrap (for --bind-fd, --file...).
   */
  bwrapArgs: string[] | ((fdSlots: number[]) => string[]);
  /** Whether bwrap itself must create the network namespace (--unshare-net). */
  unshareNet: boolean;
  /** Environment to set inside the sandbox. */
  env?: Record<string, string>;
  /** Descriptors of Warden's to hand to bwrap (their numbers inside go to bwrapArgs()). */
  fds?: number[];
  /** Keep socket(AF_UNIX) allowed by the sandbox's seccomp filter (denied by default). */
  needsUnixSockets?: boolean;
  /** Loopback-only endpoints on the host (not reachable from the sandbox), e.g. { denials: 'http://127.0.0.1:PORT/TOKEN/denials' }. */
  endpoints?: Record<string, string>;
  /**
   * Tear everything down; must be idempotent and safe after a crash of the child. With `later`,
   * only what the run's outcome depends on is done now (the proxy closed, its records flushed);
   * removing the kernel objects (namespace, nft table) is handed to `later` to do off the
   * caller's critical path.
   */
  cleanup(later?: (release: () => Promise<void>) => void): Promise<void>;
  /** Live policy update (allowlist reload without restart). Throws on an invalid entry and keeps the old list. */
  updateAllow?(allow: string[]): void;
  /** JSON-serialisable; stored in the crash record and given back to cleanupStale(). */
  record?: unknown;
}

export interface NetworkProvider {
  readonly mode: 'none' | 'full' | 'allowlist';
  prepare(ctx: NetworkContext): Promise<PreparedNetwork>;
  /**
   * Makes the slow part of a network ahead of its run (the supervisor's spares): a later
   * prepare() with ctx.sandboxId = `sandboxId` adopts it. Absent where the provider has none.
   */
  makeSpare?(sandboxId: string): Promise<SpareNetwork>;
}

/** A network made ahead of the run that will have its sandbox id; used by one run only. */
export interface SpareNetwork {
  /** For the crash record (as PreparedNetwork.record). */
  record: unknown;
  /** Removes it when no run took it. */
  drop(): Promise<void>;
}

/** Shape of src/egress/index.ts. */
export interface EgressModule {
  createAllowlistProvider(): NetworkProvider;
  /** Removes what a crashed run left (netns, nft table, relay); `record` may be undefined if prepare() was cut short. */
  cleanupStale?(sandboxId: string, record: unknown): Promise<void>;
}
