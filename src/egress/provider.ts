// The `allowlist` network mode: wires policy, DNS responder, proxy and the namespace
// plumbing (root or rootless) into a NetworkProvider for `warden run`.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type dgram from 'node:dgram';
import type { NetworkContext, NetworkProvider, PreparedNetwork, SpareNetwork } from '../sandbox/network-provider.js';
import { runtimeDir } from '../util/xdg.js';
import { procStartTime } from '../util/proc-stat.js';
import { DnsResponder, serveUdp } from './dns-responder.js';
import { FrameReader, frame, hardClose, readHeader } from './framing.js';
import {
  createRootNetns,
  dropSpareRootNetns,
  egressNames,
  killStaleRelay,
  makeSpareRootNetns,
  removeRootNetns,
  resolvConf,
  ROOTLESS_NAMESERVER,
  startRootlessNetns,
  type RootNetns,
  type RootlessNetns,
} from './netns.js';
import { hostRuleset, nftApply, nftDeleteTable } from './nft.js';
import { originalDst } from './original-dst.js';
import { LearningPolicy, Policy } from './policy.js';
import { lookupSocketOwner } from './proc-lookup.js';
import { PolicyWatch } from './reload.js';
import { EgressProxy } from './proxy.js';
import { DecisionRecorder } from './record.js';
import { SyntheticPool } from './synthetic.js';
import { DEFAULT_TUNNEL_LIMITS, TunnelGuard, type TunnelLimits } from './tunnel.js';
import { UpstreamResolver } from './upstream.js';
import { prepareInside, type Inside } from './inside.js';

export interface AllowlistOptions {
  /** Milliseconds a client has to send a complete TLS ClientHello / HTTP head (slowloris bound). Default 10 s. */
  headerTimeoutMs?: number;
  /** Upstream connect timeout. Default 10 s. */
  connectTimeoutMs?: number;
  /** Concurrent proxied connections per sandbox; more are reset and reported. Default 1024. */
  maxConnections?: number;
  /** DNS tunnelling limits per wildcard entry. */
  tunnel?: Partial<TunnelLimits>;
  /** Serve /denials on 127.0.0.1 (default true). */
  denialsEndpoint?: boolean;
  /** Decision events per second before suppression (default 200). */
  eventRatePerSec?: number;
  /** Where rootless sockets and files go (default: Warden's runtime dir). */
  runtimeDir?: string;
  /** Look up the process behind denied connections (default true). */
  procLookup?: boolean;
  /** Forward allowed flows with splice(2) in a worker thread (default true). */
  splice?: boolean;
}

/** The parts shared by every design (root, rootless, container). */
export class Core {
  policy: Policy;
  readonly pool = new SyntheticPool();
  readonly tunnel: TunnelGuard;
  readonly record: DecisionRecorder;
  readonly upstream: UpstreamResolver;
  readonly dns: DnsResponder;
  readonly proxy: EgressProxy;
  netnsInode: (() => number | undefined) | undefined;
  policyWatch: PolicyWatch | undefined;
  /** Credentials, request rules, TLS inspection, ssh-agent broker (set by prepareInside). */
  inside: Inside | undefined;

  constructor(
    readonly ctx: NetworkContext,
    o: AllowlistOptions,
  ) {
    this.policy = ctx.learn ? new LearningPolicy(ctx.allow) : new Policy(ctx.allow);
    this.record = new DecisionRecorder({ sandboxId: ctx.sandboxId, emit: ctx.emit, ratePerSec: o.eventRatePerSec });
    this.tunnel = new TunnelGuard({ ...DEFAULT_TUNNEL_LIMITS, ...o.tunnel });
    this.upstream = new UpstreamResolver({ servers: ctx.upstreamDns, pins: ctx.resolve });
    this.dns = new DnsResponder({ policy: () => this.policy, pool: this.pool, tunnel: this.tunnel, record: this.record });
    this.proxy = new EgressProxy({
      policy: () => this.policy,
      pool: this.pool,
      upstream: this.upstream,
      record: this.record,
      headerTimeoutMs: o.headerTimeoutMs,
      connectTimeoutMs: o.connectTimeoutMs,
      maxConnections: o.maxConnections,
      splice: o.splice,
      inspector: () => this.inside?.inspector,
      flows: { opened: (host, port) => this.inside?.flows.opened(host, port) ?? (() => {}) },
      procLookup:
        o.procLookup === false
          ? undefined
          : async (m) => {
              const ino = this.netnsInode?.();
              return ino === undefined ? undefined : lookupSocketOwner(ino, m);
            },
    });
  }

  /** Swaps the allowlist (and pins); throws before anything changes on an invalid entry. */
  updateAllow(allow: string[], resolve?: Record<string, string>): { added: string[]; removed: string[] } {
    const p = this.ctx.learn ? new LearningPolicy(allow) : new Policy(allow);
    if (resolve) this.upstream.setPins(resolve);
    const old = new Set(this.policy.entries.map((e) => e.raw));
    const now = new Set(p.entries.map((e) => e.raw));
    const added = [...now].filter((e) => !old.has(e));
    const removed = [...old].filter((e) => !now.has(e));
    this.policy = p;
    this.record.info('egress.reload', 'info', `allowlist reloaded (${allow.length} entries, +${added.length} -${removed.length})`, { allow, added, removed });
    return { added, removed };
  }

  /** Live reload from the policy file, when the run gave one. */
  watchPolicy(): PolicyWatch | undefined {
    const file = this.ctx.policyFile;
    if (!file) return undefined;
    const w = new PolicyWatch({
      file,
      writablePaths: this.ctx.writablePaths ?? [],
      apply: (allow, resolve) => this.updateAllow(allow, resolve),
      report: (r) => {
        if (!r.ok) this.record.info('egress.reload_failed', 'warn', r.message, { file });
      },
    });
    if (!w.start() && w.refusedBecause)
      this.record.info('egress.reload_disabled', 'warn', `live reload of network.allow is off: ${w.refusedBecause}`, { file });
    this.policyWatch = w;
    return w;
  }

  async serveDenials(): Promise<{ url: string; server: http.Server }> {
    // Every local user can connect to 127.0.0.1: the paths carry a random token, so only whoever
    // reads egress.ready (the run's owner: its --audit file, its stderr) can list the allowlist
    // and the denied hosts, or trigger a reload.
    const token = randomToken();
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const [, tok, what, ...rest] = url.pathname.split('/');
      if (tok !== token || rest.length) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      if (req.method === 'POST' && what === 'reload') {
        // Loopback only, and not reachable from the sandbox's network namespace.
        const w = this.policyWatch;
        if (!w) {
          res.writeHead(409, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, message: 'this run has no policy file to reload' }) + '\n');
          return;
        }
        void w.reload().then((r) => {
          if (!r.ok) this.record.info('egress.reload_failed', 'warn', r.message, { file: this.ctx.policyFile });
          res.writeHead(r.ok ? 200 : 409, { 'content-type': 'application/json' }).end(JSON.stringify(r) + '\n');
        });
        return;
      }
      if (req.method !== 'GET' || what !== 'denials') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`GET /${token}/denials, POST /${token}/reload\n`);
        return;
      }
      const denials = this.record.listDenials();
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify(
          {
            sandbox: this.ctx.sandboxId,
            allow: this.policy.entries.map((e) => e.raw),
            denials,
            suggest: [...new Set(denials.map((d) => d.suggest).filter(Boolean))],
          },
          null,
          2,
        ) + '\n',
      );
    });
    await new Promise<void>((r, j) => server.once('error', j).listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    return { url: `http://127.0.0.1:${port}/${token}/denials`, server };
  }
}

/** 128 random bits as hex, from the kernel (node:crypto is not loaded on the run path). */
function randomToken(): string {
  const buf = Buffer.alloc(16);
  const fd = fs.openSync('/dev/urandom', 'r');
  try {
    fs.readSync(fd, buf, 0, 16, null);
  } finally {
    fs.closeSync(fd);
  }
  return buf.toString('hex');
}

export function listen(server: net.Server, opts: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export function closeServer(s: net.Server | http.Server | undefined): void {
  try {
    s?.close();
  } catch {
    // already closed
  }
}

async function prepareRoot(core: Core, o: AllowlistOptions): Promise<PreparedNetwork> {
  let ns: RootNetns | undefined;
  let proxyServer: net.Server | undefined;
  let udp: dgram.Socket | undefined;
  let denials: http.Server | undefined;
  let table: string | undefined;
  let done = false;
  const cleanup = async (later?: (release: () => Promise<void>) => void) => {
    if (done) return;
    done = true;
    core.policyWatch?.stop();
    closeServer(proxyServer);
    core.proxy.closeAll();
    try {
      udp?.close();
    } catch {
      // closed
    }
    closeServer(denials);
    core.inside?.close();
    core.record.close();
    // Nothing of the sandbox is left to use them: the table and namespace can go after the answer.
    const t = table;
    const n = ns;
    // The namespace (the sandbox's only route out) before the table that redirects it: never a
    // moment where a sandbox still running routes past the proxy.
    const release = async () => {
      await n?.cleanup();
      if (t) await nftDeleteTable(t).catch(() => {});
    };
    if (later) later(release);
    else await release();
  };
  try {
    // A spare's proxy, DNS and table were made with its namespace and now serve this run's core.
    const spare = takeFront(core);
    if (spare) ({ proxyServer, udp, table } = spare.front);
    ns = await createRootNetns(core.ctx.sandboxId);
    if (spare && spare.ns !== ns) {
      // Its namespace was gone (removed by hand): the front bound to its address goes too.
      closeFront(spare.front);
      await nftDeleteTable(spare.front.table).catch(() => {});
      proxyServer = udp = table = undefined;
    }
    const nsPath = ns.path;
    core.netnsInode = () => {
      try {
        return fs.statSync(nsPath).ino;
      } catch {
        return undefined;
      }
    };
    if (!proxyServer || !udp || !table) ({ proxyServer, udp, table } = await openFront(ns, core.ctx.sandboxId, () => core));
    const endpoints: Record<string, string> = {};
    if (o.denialsEndpoint !== false) {
      const d = await core.serveDenials();
      denials = d.server;
      endpoints.denials = d.url;
    }
    core.watchPolicy();
    const inside = core.inside!;
    const nsName = ns.ns;
    core.record.info('egress.ready', 'info', `egress allowlist ready (root mode, netns ${ns.ns})`, {
      mode: 'root',
      netns: ns.ns,
      veth: ns.vethHost,
      gateway: ns.hostIp,
      ...endpoints,
      ...inside.summary,
    });
    return {
      commandPrefix: ['nsenter', `--net=${nsPath}`, '--'],
      namespaces: [{ path: nsPath, ino: fs.statSync(nsPath).ino }],
      bwrapArgs: (slots) => ['--ro-bind', `/etc/netns/${nsName}/resolv.conf`, '/etc/resolv.conf', ...inside.bwrapArgs(slots)],
      fds: inside.fds,
      env: inside.env,
      needsUnixSockets: inside.needsUnixSockets,
      unshareNet: false,
      endpoints,
      cleanup,
      updateAllow: (allow) => core.updateAllow(allow),
      record: { mode: 'root', netns: ns.ns, sbxIp: ns.sbxIp } satisfies StaleRecord,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** A root namespace's listening side: the transparent proxy, the DNS responder and the nft table that redirects to them. */
interface Front {
  proxyServer: net.Server;
  udp: dgram.Socket;
  table: string;
}

/** Proxy and DNS on the namespace's host address, serving whichever run `core()` names (none yet: refused), and their table. */
async function openFront(ns: RootNetns, sandboxId: string, core: () => Core | undefined): Promise<Front> {
  const proxyServer = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (c) => {
    const serving = core();
    if (!serving) return c.destroy();
    const dst = originalDst(c);
    serving.proxy.handle(c, { dstIp: dst?.ip, dstPort: dst?.port, srcIp: c.remoteAddress?.replace(/^::ffff:/, ''), srcPort: c.remotePort });
  });
  proxyServer.on('error', () => {});
  let udp: dgram.Socket | undefined;
  try {
    await listen(proxyServer, { host: ns.hostIp, port: 0, backlog: 4096 });
    udp = await serveUdp({ handle: (m) => core()?.dns.handle(m) }, ns.hostIp, 0);
    const proxyPort = (proxyServer.address() as net.AddressInfo).port;
    const dnsPort = udp.address().port;
    const table = egressNames(sandboxId).table;
    await nftApply(hostRuleset({ table, vethHost: ns.vethHost, proxyPort, dnsPort }));
    return { proxyServer, udp, table };
  } catch (e) {
    closeFront({ proxyServer, udp });
    throw e;
  }
}

function closeFront(f: Partial<Front>): void {
  closeServer(f.proxyServer);
  try {
    f.udp?.close();
  } catch {
    // closed
  }
}

/** The fronts of spare namespaces (the supervisor's), by the sandbox id that takes them, and the run each serves once taken. */
interface SpareFront {
  ns: RootNetns;
  front?: Front;
  core?: Core;
}
const spareFronts = new Map<string, SpareFront>();

/** The front made ahead for this run's sandbox id, now serving `core`; undefined when there is none. */
function takeFront(core: Core): { ns: RootNetns; front: Front } | undefined {
  const s = spareFronts.get(core.ctx.sandboxId);
  spareFronts.delete(core.ctx.sandboxId);
  if (!s?.front) return undefined;
  s.core = core;
  return { ns: s.ns, front: s.front };
}

/** A spare namespace with its front: everything of a root allowlist run that does not depend on its allowlist. */
async function makeSpareRoot(sandboxId: string): Promise<SpareNetwork> {
  const slot: SpareFront = { ns: await makeSpareRootNetns(sandboxId) };
  const drop = async () => {
    // Not taken: nothing but this spare has used it.
    if (spareFronts.get(sandboxId) === slot) spareFronts.delete(sandboxId);
    if (slot.core) return; // taken: its run removes it
    if (slot.front) closeFront(slot.front);
    await dropSpareRootNetns(sandboxId);
    if (slot.front) await nftDeleteTable(slot.front.table).catch(() => {});
  };
  try {
    slot.front = await openFront(slot.ns, sandboxId, () => slot.core);
  } catch (e) {
    await drop();
    throw e;
  }
  spareFronts.set(sandboxId, slot);
  return { record: { mode: 'root', netns: slot.ns.ns, sbxIp: slot.ns.sbxIp } satisfies StaleRecord, drop };
}

function relayMainPath(): string {
  return fileURLToPath(new URL('./relay-main.js', import.meta.url));
}

async function prepareRootless(core: Core, o: AllowlistOptions): Promise<PreparedNetwork> {
  const dir = privateDir(core.ctx, o);
  const tcpSocket = path.join(dir, 'tcp.sock');
  const dnsSocket = path.join(dir, 'dns.sock');
  const resolvFile = path.join(dir, 'resolv.conf');
  fs.writeFileSync(resolvFile, resolvConf(ROOTLESS_NAMESERVER), { mode: 0o644 });
  let tcpServer: net.Server | undefined;
  let dnsServer: net.Server | undefined;
  let denials: http.Server | undefined;
  let rl: RootlessNetns | undefined;
  let done = false;
  const conns = new Set<net.Socket>();
  const cleanup = async () => {
    if (done) return;
    done = true;
    core.policyWatch?.stop();
    closeServer(tcpServer);
    closeServer(dnsServer);
    closeServer(denials);
    core.proxy.closeAll();
    for (const c of conns) c.destroy();
    core.inside?.close();
    await rl?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
    core.record.close();
  };
  try {
    tcpServer = net.createServer({ allowHalfOpen: true }, (c) => {
      c.on('error', () => {});
      readHeader(c, 5000).then(
        ({ header, rest }) => {
          core.proxy.handle(c, { dstIp: header.dst ?? undefined, dstPort: header.dport ?? undefined, srcIp: header.src, srcPort: header.sport }, rest);
        },
        () => hardClose(c),
      );
    });
    dnsServer = net.createServer((c) => {
      conns.add(c);
      c.on('close', () => conns.delete(c));
      c.on('error', () => {});
      const reader = new FrameReader((q) => {
        let r: Buffer | undefined;
        try {
          r = core.dns.handle(q);
        } catch {
          r = undefined;
        }
        if (r) c.write(frame(r));
      });
      c.on('data', (d) => reader.push(d));
    });
    await listen(tcpServer, { path: tcpSocket, backlog: 4096 });
    await listen(dnsServer, { path: dnsSocket });
    rl = await startRootlessNetns({ relayMain: relayMainPath(), tcpSocket, dnsSocket, tag: egressNames(core.ctx.sandboxId).relayTag });
    const pid = rl.pid;
    // Taken while the relay is known to be alive (it just answered).
    const relayNamespaces = ['user', 'net'].map((n) => ({ path: `/proc/${pid}/ns/${n}`, ino: fs.statSync(`/proc/${pid}/ns/${n}`).ino }));
    const relayHolder = { pid, start: procStartTime(pid) ?? 0 };
    core.netnsInode = () => {
      try {
        return fs.statSync(`/proc/${pid}/ns/net`).ino;
      } catch {
        return undefined;
      }
    };
    const endpoints: Record<string, string> = {};
    if (o.denialsEndpoint !== false) {
      const d = await core.serveDenials();
      denials = d.server;
      endpoints.denials = d.url;
    }
    core.watchPolicy();
    const inside = core.inside!;
    core.record.info('egress.ready', 'info', `egress allowlist ready (rootless mode, relay pid ${pid})`, { mode: 'rootless', relay_pid: pid, ...endpoints, ...inside.summary });
    return {
      commandPrefix: ['nsenter', '-t', String(pid), '-U', '-n', '--preserve-credentials', '--'],
      namespaces: relayNamespaces,
      namespaceHolder: relayHolder,
      // Hide the relay sockets: they must only be reached through the relay.
      bwrapArgs: (slots) => ['--ro-bind', resolvFile, '/etc/resolv.conf', '--tmpfs', dir, ...inside.bwrapArgs(slots)],
      fds: inside.fds,
      env: inside.env,
      needsUnixSockets: inside.needsUnixSockets,
      unshareNet: false,
      endpoints,
      cleanup,
      updateAllow: (allow) => core.updateAllow(allow),
      record: { mode: 'rootless', dir, relayPid: pid } satisfies StaleRecord,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** What cleanupStale() needs from a crashed run (PreparedNetwork.record). */
type StaleRecord = { mode: 'root'; netns: string; sbxIp: string } | { mode: 'rootless'; dir: string; relayPid: number };

/**
 * A directory only Warden can enter, for the relay's unix sockets. Inside the run's own
 * directory when its path is short enough for a socket address (108 bytes), else in /tmp.
 */
function privateDir(ctx: NetworkContext, o: AllowlistOptions): string {
  const base = o.runtimeDir ?? ctx.runDir ?? runtimeDir();
  fs.mkdirSync(base, { recursive: true, mode: 0o700 });
  let dir = path.join(base, 'egress');
  if (Buffer.byteLength(path.join(dir, 'tcp.sock')) > 100 || fs.existsSync(dir)) {
    const parent = Buffer.byteLength(base) > 80 ? os.tmpdir() : base;
    dir = fs.mkdtempSync(path.join(parent, 'warden-egress-'));
  } else {
    fs.mkdirSync(dir, { mode: 0o700 });
  }
  fs.chmodSync(dir, 0o700);
  return dir;
}

/** The `network.mode: allowlist` provider. */
export function allowlistProvider(o: AllowlistOptions = {}): NetworkProvider {
  return {
    mode: 'allowlist',
    async prepare(ctx: NetworkContext): Promise<PreparedNetwork> {
      const core = new Core(ctx, o);
      try {
        core.inside = await prepareInside({ ctx, record: core.record, connectTimeoutMs: o.connectTimeoutMs });
      } catch (e) {
        core.record.close();
        throw e;
      }
      if (ctx.root) {
        if (process.getuid?.() !== 0) throw new Error('network mode allowlist (root design) needs root; run without root for the rootless design');
        return prepareRoot(core, o);
      }
      if (os.platform() !== 'linux') throw new Error('network mode allowlist needs Linux');
      return prepareRootless(core, o);
    },
    // The root design's namespace and veth (~200 ms of `ip` calls) and its front (proxy and DNS
    // listening, the nft table redirecting to them: ~50 ms) made ahead; the run that takes them
    // brings its allowlist, records and endpoints (its Core).
    ...(process.getuid?.() === 0 ? { makeSpare: makeSpareRoot } : {}),
  };
}

/** Same provider, under the name cli/run.ts looks for. */
export function createAllowlistProvider(o: AllowlistOptions = {}): NetworkProvider {
  return allowlistProvider(o);
}

/** Removes what a crashed run left behind; works from the sandbox id alone when `record` is missing. */
export async function cleanupStale(sandboxId: string, record: unknown): Promise<void> {
  const r = (record ?? {}) as Partial<StaleRecord> & { dir?: string; sbxIp?: string };
  const names = egressNames(sandboxId);
  if (process.getuid?.() === 0) {
    // The namespace first: its sandbox (if one is somehow still running) loses its route before its redirect.
    await removeRootNetns(sandboxId, r.sbxIp);
    await nftDeleteTable(names.table).catch(() => {});
  }
  killStaleRelay(names.relayTag);
  // Only directories this module names (never whatever a damaged record points at).
  if (r.dir && /^(egress|warden-egress-.*)$/.test(path.basename(r.dir))) fs.rmSync(r.dir, { recursive: true, force: true });
}

