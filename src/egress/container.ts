// The `container` egress mode, for `warden supervise` (Warden as a container's PID 1): the
// proxy and DNS responder of `warden run` on the container's loopback, and an nft table in the
// container's OWN network namespace that sends the command's uid there (nft.ts
// containerRuleset). Unlike the root design (host namespace, a veth per sandbox) and the
// rootless one (a user namespace and a relay), the boundary is the uid: the command runs
// without CAP_NET_ADMIN, so it can neither change the table nor leave the namespace.
// No CAP_NET_ADMIN for Warden either means no table: prepare() fails, and the caller refuses
// to start the command (fail closed).
import type dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { NetworkContext } from '../sandbox/network-provider.js';
import { serveUdp } from './dns-responder.js';
import { containerRuleset, nftApply, nftDeleteTable } from './nft.js';
import { originalDst } from './original-dst.js';
import { closeServer, Core, listen, type AllowlistOptions } from './provider.js';
import { prepareInside } from './inside.js';
import type { Denial } from './record.js';

export const CONTAINER_TABLE = 'warden_supervise';

export interface ContainerEgressOptions extends AllowlistOptions {
  /** Warden's own listeners the command must not reach (the health/metrics port). */
  guardPorts: number[];
  /** `none`: the command gets loopback only (no proxy). */
  mode: 'allowlist' | 'none';
}

export interface ContainerEgress {
  /** Variables for the command (credential surrogates, the run CA's trust variables). */
  env: Record<string, string>;
  /** Files written for the command (the CA bundle), by path. */
  files: string[];
  denials(): { allow: string[]; denials: Denial[]; suggest: string[] };
  cleanup(): Promise<void>;
}

/** Whether this process holds CAP_NET_ADMIN (bit 12 of CapEff). */
export function hasNetAdmin(status = '/proc/self/status'): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(status, 'utf8'));
    return !!m && (BigInt(`0x${m[1]}`) & (1n << 12n)) !== 0n;
  } catch {
    return false;
  }
}

export async function prepareContainerEgress(ctx: NetworkContext, o: ContainerEgressOptions): Promise<ContainerEgress> {
  if (!hasNetAdmin()) throw new Error('no CAP_NET_ADMIN: Warden cannot install the nft rules that confine the command\'s network');
  const uid = ctx.uid ?? 65534;
  if (o.mode === 'none') {
    await nftDeleteTable(CONTAINER_TABLE).catch(() => {});
    await nftApply(containerRuleset({ table: CONTAINER_TABLE, uid, guardPorts: o.guardPorts }));
    return { env: {}, files: [], denials: () => ({ allow: [], denials: [], suggest: [] }), cleanup: () => nftDeleteTable(CONTAINER_TABLE).catch(() => {}) };
  }
  const core = new Core(ctx, o);
  let proxyServer: net.Server | undefined;
  let udp: dgram.Socket | undefined;
  let table = false;
  const files: string[] = [];
  let done = false;
  const cleanup = async () => {
    if (done) return;
    done = true;
    closeServer(proxyServer);
    core.proxy.closeAll();
    try {
      udp?.close();
    } catch {
      /* closed */
    }
    core.inside?.close();
    if (table) await nftDeleteTable(CONTAINER_TABLE).catch(() => {});
    core.record.close();
  };
  try {
    core.inside = await prepareInside({ ctx, record: core.record, connectTimeoutMs: o.connectTimeoutMs });
    if (core.inside.needsUnixSockets) throw new Error('credentials: ssh_key is not supported by warden supervise (no socket can be shown to the command alone)');
    files.push(...writeInsideFiles(core.inside.bwrapArgs(core.inside.fds.map((_, i) => i)), core.inside.fds));
    const nsIno = fs.statSync('/proc/self/ns/net').ino;
    core.netnsInode = () => nsIno;
    proxyServer = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (c) => {
      const dst = originalDst(c);
      core.proxy.handle(c, { dstIp: dst?.ip, dstPort: dst?.port, srcIp: c.remoteAddress?.replace(/^::ffff:/, ''), srcPort: c.remotePort });
    });
    proxyServer.on('error', () => {});
    await listen(proxyServer, { host: '127.0.0.1', port: 0, backlog: 4096 });
    udp = await serveUdp(core.dns, '127.0.0.1', 0);
    const proxyPort = (proxyServer.address() as net.AddressInfo).port;
    const dnsPort = udp.address().port;
    // A table left by an earlier Warden in this namespace (a restarted container) is replaced.
    await nftDeleteTable(CONTAINER_TABLE).catch(() => {});
    await nftApply(containerRuleset({ table: CONTAINER_TABLE, uid, proxyPort, dnsPort, guardPorts: [...o.guardPorts, proxyPort] }));
    table = true;
    core.record.info('egress.ready', 'info', `egress allowlist ready (container mode, uid ${uid} redirected in this namespace)`, {
      mode: 'container',
      uid,
      proxy_port: proxyPort,
      dns_port: dnsPort,
      ...core.inside.summary,
    });
  } catch (e) {
    await cleanup();
    throw e;
  }
  return {
    env: core.inside!.env,
    files,
    denials: () => {
      const d = core.record.listDenials();
      return { allow: core.policy.entries.map((e) => e.raw), denials: d, suggest: [...new Set(d.map((x) => x.suggest).filter((s): s is string => !!s))] };
    },
    cleanup,
  };
}

/**
 * What `warden run` shows the sandbox through bwrap's --ro-bind-data (the CA bundle and
 * certificate), written as root-owned read-only files instead: the container's filesystem is
 * the command's. Credential files are refused earlier (their real file would stay readable).
 */
function writeInsideFiles(args: string[], fds: number[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== '--ro-bind-data') continue;
    const fd = fds[Number(args[i + 1])];
    const dest = args[i + 2]!;
    i += 2;
    if (fd === undefined) continue;
    const st = fs.fstatSync(fd);
    const buf = Buffer.alloc(st.size);
    fs.readSync(fd, buf, 0, st.size, 0);
    try {
      fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o755 });
      const tmp = `${dest}.warden-${process.pid}`;
      fs.writeFileSync(tmp, buf, { mode: 0o444 });
      fs.renameSync(tmp, dest);
      out.push(dest);
    } catch (err) {
      fs.writeSync(2, `warden: cannot write ${dest} for the command (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); clients that read only that file will not trust inspected hosts\n`);
    }
  }
  return out;
}
