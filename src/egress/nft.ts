// nftables rulesets for the two egress designs, as text for `nft -f -`.
// Root: a table in the HOST namespace (out of the sandbox's reach) redirects all IPv4 TCP
// arriving from the sandbox veth to the proxy and UDP/53 to the DNS responder, and drops
// everything else from that veth (IPv6, ICMP, other UDP, raw IP, forwarding).
// Rootless: a table inside the sandbox's own namespace (owned by a user namespace the agent
// is not root in) redirects to the in-namespace relay and drops what is not loopback.
import { spawn } from 'node:child_process';
import { toolEnv } from '../util/sbin-path.js';

export interface HostRules {
  table: string;
  vethHost: string;
  proxyPort: number;
  dnsPort: number;
}

function ifname(s: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(s)) throw new Error(`bad interface name ${s}`);
  return `"${s}"`;
}

function tableName(s: string): string {
  if (!/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(s)) throw new Error(`bad nft table name ${s}`);
  return s;
}

export function hostRuleset(r: HostRules): string {
  const v = ifname(r.vethHost);
  return `table inet ${tableName(r.table)} {
  chain nat_pre {
    type nat hook prerouting priority dstnat - 10; policy accept;
    iifname ${v} meta nfproto ipv4 meta l4proto tcp redirect to :${r.proxyPort}
    iifname ${v} meta nfproto ipv4 udp dport 53 redirect to :${r.dnsPort}
  }
  chain filter_in {
    type filter hook input priority filter - 10; policy accept;
    iifname ${v} meta nfproto ipv4 tcp dport ${r.proxyPort} accept
    iifname ${v} meta nfproto ipv4 udp dport ${r.dnsPort} accept
    iifname ${v} drop
  }
  chain filter_fwd {
    type filter hook forward priority filter - 10; policy accept;
    iifname ${v} drop
    oifname ${v} drop
  }
}
`;
}

export interface NetnsRules {
  table: string;
  relayTcpPort: number;
  relayDnsPort: number;
}

export function netnsRuleset(r: NetnsRules): string {
  return `table inet ${tableName(r.table)} {
  chain nat_out {
    type nat hook output priority -110; policy accept;
    ip daddr 127.0.0.0/8 accept
    meta nfproto ipv4 meta l4proto tcp redirect to :${r.relayTcpPort}
    meta nfproto ipv4 udp dport 53 redirect to :${r.relayDnsPort}
  }
  chain filter_out {
    type filter hook output priority -10; policy drop;
    oifname "lo" accept
    ip daddr 127.0.0.0/8 accept
  }
}
`;
}

export interface ContainerRules {
  table: string;
  /** The uid the supervised command runs as: only its sockets are redirected and filtered. */
  uid: number;
  /** Absent: no network for the command (loopback only). */
  proxyPort?: number;
  dnsPort?: number;
  /** Warden's own listeners (health, metrics): never reachable by the command, on any address. */
  guardPorts: number[];
}

/**
 * `warden supervise`: a table in the container's OWN namespace (the command has no
 * CAP_NET_ADMIN to change it). The command's uid gets every IPv4 TCP connection redirected to
 * the proxy and UDP/53 to the DNS responder, loopback except Warden's ports, and nothing else;
 * Warden's own traffic (root) and packets without a socket are left alone. The filter chain
 * lets through what the nat chain redirected (ct status dnat: its destination port is the
 * proxy's, which is guarded against direct connections) and matches loopback by address, not
 * by oifname: every chain of the output hook sees the device routed before the redirect.
 */
export function containerRuleset(r: ContainerRules): string {
  if (!Number.isInteger(r.uid) || r.uid <= 0) throw new Error(`bad uid ${r.uid} for the container ruleset`);
  const ports = r.guardPorts.filter((p) => Number.isInteger(p) && p > 0 && p < 65536);
  const guard = ports.length ? [`    tcp dport { ${ports.join(', ')} } drop`, `    udp dport { ${ports.join(', ')} } drop`] : [];
  const redirect =
    r.proxyPort !== undefined && r.dnsPort !== undefined
      ? [`    meta nfproto ipv4 meta l4proto tcp redirect to :${r.proxyPort}`, `    meta nfproto ipv4 udp dport 53 redirect to :${r.dnsPort}`]
      : [];
  return `table inet ${tableName(r.table)} {
  chain nat_out {
    type nat hook output priority -110; policy accept;
    meta skuid ${r.uid} jump nat_cmd
  }
  chain nat_cmd {
    ip daddr 127.0.0.0/8 return
${redirect.join('\n')}
  }
  chain filter_out {
    type filter hook output priority -10; policy accept;
    meta skuid ${r.uid} jump filter_cmd
  }
  chain filter_cmd {
    ct status dnat accept
${guard.join('\n')}
    ip daddr 127.0.0.0/8 accept
    ip6 daddr ::1 accept
    drop
  }
}
`;
}

/** Runs `nft -f -` with `text` (optionally through a command prefix such as ip netns exec). */
export function nftApply(text: string, prefix: string[] = []): Promise<void> {
  return run([...prefix, 'nft', '-f', '-'], text);
}

export function nftDeleteTable(table: string, prefix: string[] = []): Promise<void> {
  return run([...prefix, 'nft', 'delete', 'table', 'inet', tableName(table)]);
}

/** Runs a command; rejects with its stderr on failure. */
export function run(argv: string[], input?: string, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv as [string, ...string[]];
    const p = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'], env: toolEnv() });
    let err = '';
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stderr.on('data', (d) => (err += d));
    p.on('error', (e) => {
      clearTimeout(t);
      reject(new Error(`${cmd}: ${e.message}`));
    });
    p.on('close', (code) => {
      clearTimeout(t);
      if (code === 0) resolve();
      else reject(new Error(`${argv.join(' ')} failed (${code}): ${err.trim()}`));
    });
    p.stdin.on('error', () => {});
    p.stdin.end(input ?? '');
  });
}
