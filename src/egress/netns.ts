// Network namespaces for the sandbox.
// Root: a namespace bound at /run/warden/netns/NAME (an unbindable mount: see NETNS_DIR), a veth
// pair whose host end is the sandbox's only way out, and /etc/netns/NAME/resolv.conf (bound
// over /etc/resolv.conf in the sandbox).
// Rootless: `unshare -Ur` then `unshare -n` (two steps, so the namespace's /proc/net files
// belong to the user namespace's root), an in-namespace veth as a route sink, nft, and the
// relay, which stays the namespace's holder process.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatIPv4, parseStrictIPv4 } from './ip.js';
import { netnsRuleset, run } from './nft.js';
import { toolEnv } from '../util/sbin-path.js';
import { markUnmounted, mountPoints, sweepUnmounted } from '../util/mounts.js';

export interface RootNetns {
  ns: string;
  /** The namespace's handle (a bind mount of it), what `nsenter --net=` and the launcher enter. */
  path: string;
  vethHost: string;
  vethSbx: string;
  hostIp: string;
  sbxIp: string;
  suffix: string;
  cleanup(): Promise<void>;
}

/**
 * Names of everything a sandbox's egress creates, derived from its id alone, so that the
 * cleanup of a crashed run finds them even when prepare() was cut short.
 */
export function egressNames(sandboxId: string) {
  const h = crypto.createHash('sha256').update(sandboxId).digest('hex').slice(0, 7);
  const hint = sandboxId.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 24);
  return {
    hash: h,
    ns: `warden-${hint ? hint + '-' : ''}${h}`,
    vethHost: `wdh${h}`,
    vethSbx: `wds${h}`,
    table: `warden_${h}`,
    relayTag: `warden-egress-${h}`,
  };
}

/** A /30 in 10.200.0.0-10.254.255.255 that no local interface or route uses. */
async function pickSubnet(): Promise<{ host: string; sbx: string }> {
  const used: Array<{ net: number; bits: number }> = [];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      const v = parseStrictIPv4(a.address);
      if (v !== undefined) used.push({ net: v, bits: 32 });
    }
  }
  try {
    const out = await capture(['ip', '-j', '-4', 'route', 'show', 'table', 'all']);
    for (const r of JSON.parse(out) as Array<{ dst?: string }>) {
      const [a, b] = (r.dst ?? '').split('/');
      const v = a ? parseStrictIPv4(a) : undefined;
      if (v !== undefined && b !== undefined) used.push({ net: v, bits: Number(b) });
      else if (v !== undefined) used.push({ net: v, bits: 32 });
    }
  } catch {
    // no JSON output: interface addresses alone still avoid the common clash
  }
  const overlaps = (base: number) =>
    used.some(({ net, bits }) => {
      const m = Math.min(bits, 30);
      const mask = m === 0 ? 0 : (0xffffffff << (32 - m)) >>> 0;
      return (base & mask) >>> 0 === (net & mask) >>> 0 && bits > 0;
    });
  for (let i = 0; i < 64; i++) {
    const r = crypto.randomBytes(3);
    const base = ((10 << 24) | ((200 + (r[0]! % 55)) << 16) | (r[1]! << 8) | (r[2]! & 0xfc)) >>> 0;
    if (!overlaps(base)) return { host: formatIPv4(base + 1), sbx: formatIPv4(base + 2) };
  }
  throw new Error('no free /30 for the sandbox veth in 10.200.0.0/8');
}

export function capture(argv: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv as [string, ...string[]];
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: toolEnv() });
    let out = '';
    let err = '';
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    p.on('close', (code) => {
      clearTimeout(t);
      code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')}: ${err.trim()}`));
    });
  });
}

/**
 * Where the root design keeps its namespaces. Not /run/netns (`ip netns`): a namespace handle
 * removed there while another bwrap was copying / (its `--ro-bind / /` takes every mount
 * below) failed that sandbox's start ("Unable to apply mount flags: remount …/run/netns/…"),
 * and Warden removes one after every allowlist run. This directory is an unbindable mount, which
 * a recursive bind skips: no sandbox ever holds a copy of these handles.
 */
export const NETNS_DIR = '/run/warden/netns';

/** The directory exists and is an unbindable mount (made so once per boot). */
async function ensureNetnsDir(): Promise<void> {
  fs.mkdirSync(NETNS_DIR, { recursive: true, mode: 0o755 });
  const line = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .findLast((l) => l.split(' ')[4] === NETNS_DIR);
  if (!line) await run(['mount', '--bind', NETNS_DIR, NETNS_DIR]);
  // optional fields (shared:N, master:N, unbindable) come between the 6th field and the " - "
  if (!line || !line.split(' - ')[0]!.split(' ').slice(6).includes('unbindable')) await run(['mount', '--make-unbindable', NETNS_DIR]);
}

/** Removes a root-mode namespace, its veth and conntrack entries (idempotent). */
export async function removeRootNetns(sandboxId: string, sbxIp?: string): Promise<void> {
  const { ns, vethHost } = egressNames(sandboxId);
  let ip = sbxIp;
  if (!ip) {
    // Recover the sandbox address from the host end before it goes (for the conntrack purge).
    const out = await capture(['ip', '-j', '-4', 'addr', 'show', 'dev', vethHost]).catch(() => '[]');
    try {
      const local = (JSON.parse(out) as Array<{ addr_info?: Array<{ local?: string }> }>)[0]?.addr_info?.[0]?.local;
      const v = local ? parseStrictIPv4(local) : undefined;
      if (v !== undefined) ip = formatIPv4(v + 1);
    } catch {
      // no address: nothing to purge
    }
  }
  await run(['ip', 'link', 'del', vethHost]).catch(() => {});
  const handle = path.join(NETNS_DIR, ns);
  if (mountPoints().has(handle)) {
    await run(['umount', handle]).catch(() => {});
    // The file goes a minute later: removing it now would detach the copies a starting bwrap holds.
    markUnmounted(handle);
  }
  sweepUnmounted(NETNS_DIR);
  // A crashed run of an older build kept its namespace in /run/netns.
  if (fs.existsSync(`/run/netns/${ns}`)) await run(['ip', 'netns', 'del', ns]).catch(() => {});
  fs.rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
  // Entries of half-open connections would otherwise outlive the veth (NAT bindings for a reused tuple).
  if (ip) await run(['conntrack', '-D', '-s', ip], undefined, 5000).catch(() => {});
}

/** Namespaces made ahead of their run (the supervisor's spares), by the sandbox id that takes them. */
const spares = new Map<string, RootNetns>();

/** A namespace for the run that will have `sandboxId`, made now: createRootNetns(sandboxId) takes it. */
export async function makeSpareRootNetns(sandboxId: string): Promise<RootNetns> {
  const ns = await createRootNetns(sandboxId);
  spares.set(sandboxId, ns);
  return ns;
}

/** Removes a spare no run took (a taken one is its run's to remove). */
export async function dropSpareRootNetns(sandboxId: string): Promise<void> {
  const ns = spares.get(sandboxId);
  spares.delete(sandboxId);
  await ns?.cleanup();
}

export async function createRootNetns(sandboxId: string): Promise<RootNetns> {
  // Made ahead for this run: used once, by this run only, and removed with it.
  const spare = spares.get(sandboxId);
  if (spare) {
    spares.delete(sandboxId);
    if (mountPoints().has(spare.path)) return spare;
  }
  const { ns, vethHost, vethSbx, hash: suffix } = egressNames(sandboxId);
  const handle = path.join(NETNS_DIR, ns);
  if (fs.existsSync(handle) || fs.existsSync(`/run/netns/${ns}`)) {
    await removeRootNetns(sandboxId);
    fs.rmSync(handle, { force: true }); // a crashed run's, unmounted just now: its name is taken again
  }
  await ensureNetnsDir();
  const { host, sbx } = await pickSubnet();
  const cleanup = () => removeRootNetns(sandboxId, sbx);
  const inside = ['nsenter', `--net=${handle}`, '--'];
  try {
    fs.writeFileSync(handle, '', { flag: 'wx', mode: 0o444 });
    await run(['unshare', `--net=${handle}`, 'true']);
    // Made inside, the host end moved out to this process's namespace.
    await run([...inside, 'ip', 'link', 'add', vethSbx, 'type', 'veth', 'peer', 'name', vethHost, 'netns', String(process.pid)]);
    await run(['ip', '-batch', '-'], [`addr add ${host}/30 dev ${vethHost}`, `link set ${vethHost} up`, ''].join('\n'));
    // No IPv6 on either end: no link-local addresses, no router solicitations; IPv6 is dropped anyway.
    fs.writeFileSync(`/proc/sys/net/ipv6/conf/${vethHost}/disable_ipv6`, '1');
    const batch = [`addr add ${sbx}/30 dev ${vethSbx}`, `link set ${vethSbx} up`, 'link set lo up', `route add default via ${host} dev ${vethSbx}`, ''].join('\n');
    await run([...inside, 'sh', '-c', 'ip -batch - && { echo 1 > "/proc/sys/net/ipv6/conf/$1/disable_ipv6" || true; }', 'sh', vethSbx], batch);
    fs.mkdirSync(`/etc/netns/${ns}`, { recursive: true });
    fs.writeFileSync(`/etc/netns/${ns}/resolv.conf`, resolvConf(host));
  } catch (e) {
    await cleanup();
    throw e;
  }
  return { ns, path: handle, vethHost, vethSbx, hostIp: host, sbxIp: sbx, suffix, cleanup };
}

export function resolvConf(nameserver: string): string {
  return `# written by warden: the sandbox's only resolver (names outside network.allow are refused)\nnameserver ${nameserver}\noptions timeout:2 attempts:2\n`;
}

// ---- rootless -------------------------------------------------------------------------

export const RELAY_TCP_PORT = 15001;
export const RELAY_DNS_PORT = 15353;
/** The resolver address the sandbox is told about; any address works, nft redirects all of UDP/53. */
export const ROOTLESS_NAMESERVER = '10.255.0.1';
const ROOTLESS_ADDR = '10.255.0.2';

export interface RootlessNetns {
  /** The relay's pid: the holder of the user and network namespace (nsenter -t). */
  pid: number;
  child: ChildProcess;
  cleanup(): Promise<void>;
}

export interface RootlessOptions {
  relayMain: string;
  /** Marks the relay's command line so a crashed run's relay can be found. */
  tag: string;
  tcpSocket: string;
  dnsSocket: string;
  startTimeoutMs?: number;
}

export function rootlessSetupScript(o: RootlessOptions): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    'set -e',
    'ip link set lo up',
    // The veth is only a route sink: "default dev lo" does not deliver replies.
    'ip link add v0 type veth peer name v1',
    `ip addr add ${ROOTLESS_ADDR}/24 dev v0`,
    'ip link set v0 up',
    'ip link set v1 up',
    `ip route add default via ${ROOTLESS_NAMESERVER} dev v0`,
    'echo 1 > /proc/sys/net/ipv6/conf/v0/disable_ipv6 || true',
    'echo 1 > /proc/sys/net/ipv6/conf/v1/disable_ipv6 || true',
    `nft -f - <<'WARDEN_NFT'\n${netnsRuleset({ table: 'warden', relayTcpPort: RELAY_TCP_PORT, relayDnsPort: RELAY_DNS_PORT })}WARDEN_NFT`,
    `exec ${q(process.execPath)} ${q(o.relayMain)} ${RELAY_TCP_PORT} ${RELAY_DNS_PORT} ${q(o.tcpSocket)} ${q(o.dnsSocket)} ${q(o.tag)}`,
  ].join('\n');
}

/** Starts the rootless namespace and its relay; resolves once the relay listens. */
export function startRootlessNetns(o: RootlessOptions): Promise<RootlessNetns> {
  // unshare without --fork execs in place: the spawned pid becomes the relay's pid.
  const child = spawn('unshare', ['-Ur', 'unshare', '-n', '--', 'sh', '-c', rootlessSetupScript(o)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: toolEnv(), // the script runs ip and nft
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const cleanup = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          r();
        }, 2000);
        child.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
  };
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      void cleanup();
      reject(new Error(`rootless network namespace did not start in time: ${stderr.trim()}`));
    }, o.startTimeoutMs ?? 15_000);
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('READY\n')) {
        clearTimeout(t);
        resolve({ pid: child.pid!, child, cleanup });
      }
    });
    child.on('error', (e) => {
      clearTimeout(t);
      reject(new Error(`unshare: ${e.message}`));
    });
    child.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`rootless network namespace setup failed (exit ${code}): ${stderr.trim()}`));
    });
  });
}


/** Kills a relay left by a crashed run (found by its tag; the relay also exits when its stdin closes). */
export function killStaleRelay(tag: string): void {
  let entries: string[] = [];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.endsWith('relay-main.js')) && argv.includes(tag)) process.kill(Number(e), 'SIGKILL');
    } catch {
      // gone, or not ours to read
    }
  }
}
