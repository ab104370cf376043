// The policy proxy. Every TCP connection of the sandbox arrives here with the destination
// the client meant (from nft redirect + SO_ORIGINAL_DST, or from the rootless relay). The
// destination address says which name the client resolved through our DNS; the policy
// decides on that name and port; the first bytes (TLS SNI or HTTP Host) must name the same
// host. Upstream is always the resolved name's real address, never something the client
// chose, so a lying SNI or Host can at most reach the server it was already allowed.
import net from 'node:net';
import { pipeline } from 'node:stream';
import { forbiddenResponse, looksLikeHttp, parseHttpHead } from './http-host.js';
import { normaliseWireHost } from './names.js';
import { Policy } from './policy.js';
import type { DecisionRecorder } from './record.js';
import { ALERT_ACCESS_DENIED, looksLikeTls, MAX_HELLO, parseClientHello, tlsAlert } from './sni.js';
import type { SyntheticPool } from './synthetic.js';
import { guardAddresses, UpstreamError, type UpstreamResolver } from './upstream.js';
import { hardClose } from './framing.js';
import { spliceEngine } from './splice.js';
import type { ProcRef } from '../events/types.js';
import type { Inspector } from './tls/inspector.js';

export interface FlowMeta {
  /** Destination the client connected to, as seen inside the sandbox. */
  dstIp?: string;
  dstPort?: number;
  /** Client address inside the sandbox. */
  srcIp?: string;
  srcPort?: number;
}

export interface ProxyOptions {
  policy: () => Policy;
  pool: SyntheticPool;
  upstream: UpstreamResolver;
  record: DecisionRecorder;
  /** How long a client may take to send a complete ClientHello / request head (slowloris). */
  headerTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Concurrent connections; more are reset. */
  maxConnections?: number;
  /** Who owns a sandbox socket (best effort, for deny events). */
  procLookup?: (meta: FlowMeta) => Promise<ProcRef | undefined>;
  /** Forward decided flows with splice(2) in a worker thread (default true); else stream piping. */
  splice?: boolean;
  /** Reads plain HTTP request by request, and opens TLS toward hosts that need it. */
  inspector?: () => Inspector | undefined;
  /** Told when an allowed flow opens and closes (the ssh-agent broker signs only while one is open). */
  flows?: { opened(host: string | undefined, port: number): () => void };
}

type Sniffed =
  | { kind: 'tls'; sni?: string; ech: boolean; alpn?: string[] }
  | { kind: 'http'; host?: string; targetHost?: string; method: string }
  | { kind: 'opaque' }
  | { kind: 'invalid'; proto: 'tls' | 'http'; reason: string };

const MAX_BUFFER = 2 * MAX_HELLO;

/** Classifies what the client sent so far; undefined means wait for more bytes. */
export function sniff(buf: Buffer): Sniffed | undefined {
  if (buf.length === 0) return undefined;
  if (looksLikeTls(buf)) {
    const r = parseClientHello(buf);
    if (r.status === 'need-more') return buf.length >= MAX_BUFFER ? { kind: 'invalid', proto: 'tls', reason: 'ClientHello too large' } : undefined;
    if (r.status === 'invalid') return { kind: 'invalid', proto: 'tls', reason: r.reason };
    return { kind: 'tls', sni: r.sni, ech: r.ech, alpn: r.alpn };
  }
  const h = looksLikeHttp(buf);
  if (h === 'no') {
    // Bytes an HTTP server could still read as a request (a leading CRLF, a lower-case method,
    // an h2c preface, a request line longer than the sniffer reads) are HTTP Warden cannot
    // parse: refused, never forwarded unchecked as opaque bytes.
    if (httpish(buf)) return { kind: 'invalid', proto: 'http', reason: 'request Warden cannot parse (leading CRLF, lower-case method, h2c preface or an over-long request line)' };
    return { kind: 'opaque' };
  }
  const r = parseHttpHead(buf);
  if (r.status === 'need-more') return undefined;
  if (r.status === 'invalid') return { kind: 'invalid', proto: 'http', reason: r.reason };
  if (r.head.version !== '1.1' && r.head.version !== '1.0') return { kind: 'invalid', proto: 'http', reason: `HTTP/${r.head.version} request line (h2c is not forwarded)` };
  return { kind: 'http', host: r.head.host, targetHost: r.head.targetHost, method: r.head.method };
}

const HTTPISH = /^(?:PRI \* HTTP\/2|[A-Za-z][A-Za-z0-9_-]{0,19} +(?:\/|\*|[A-Za-z][A-Za-z0-9+.-]*:\/\/)|(?:get|head|post|put|delete|connect|options|trace|patch) )/i;

/** Whether the first bytes could be an HTTP request to a lenient server. */
export function httpish(buf: Buffer): boolean {
  let i = 0;
  while (i < buf.length && i < 64 && (buf[i] === 0x0d || buf[i] === 0x0a || buf[i] === 0x20 || buf[i] === 0x09)) i++;
  return HTTPISH.test(buf.toString('latin1', i, Math.min(buf.length, i + 64)));
}

interface Deny {
  reason: string;
  host?: string;
  ip?: string;
  suggest?: string;
  detail: string;
  data?: Record<string, unknown>;
}

export class EgressProxy {
  private readonly sockets = new Set<net.Socket>();
  /** Flows handed to the splice engine (their Node sockets are gone). */
  readonly spliced = new Set<number>();
  private readonly headerTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly maxConnections: number;
  private limitHits = 0;

  constructor(private readonly o: ProxyOptions) {
    this.headerTimeoutMs = o.headerTimeoutMs ?? 10_000;
    this.connectTimeoutMs = o.connectTimeoutMs ?? 10_000;
    this.maxConnections = o.maxConnections ?? 1024;
  }

  get active(): number {
    return this.sockets.size + this.spliced.size;
  }

  /** Closes every proxied connection (sandbox teardown). */
  closeAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (this.spliced.size) spliceEngine()?.closeFlows(this.spliced);
  }

  /** Takes over a client connection; `initial` holds bytes already read (rootless relay header). */
  handle(client: net.Socket, meta: FlowMeta, initial?: Buffer): void {
    if (this.active >= this.maxConnections) {
      this.limitHits++;
      client.on('error', () => {});
      hardClose(client);
      this.o.record.deny({
        proto: 'tcp',
        ip: meta.dstIp,
        port: meta.dstPort,
        reason: 'connection-limit',
        data: { limit: this.maxConnections, refused_so_far: this.limitHits },
      });
      return;
    }
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => {});
    client.setNoDelay(true);
    new Flow(this, this.o, client, meta, initial).start();
  }

  /** @internal */
  timeouts() {
    return { header: this.headerTimeoutMs, connect: this.connectTimeoutMs };
  }
}

class Flow {
  private buf: Buffer = Buffer.alloc(0);
  private sniffed: Sniffed | undefined;
  private upstream: net.Socket | undefined;
  private upstreamErr: UpstreamError | undefined;
  private upstreamAddr: string | undefined;
  private decided = false;
  private name: string | undefined;
  private pendingDeny: Deny | undefined;
  private rule: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private serverSpoke = false;
  private early: Buffer[] = [];
  private onEarly: ((d: Buffer) => void) | undefined;
  private readonly onData = (d: Buffer) => this.onClientData(d);
  private readonly onEnd = () => {
    if (!this.decided && !this.sniffed)
      this.finishDeny({ reason: 'client-closed', detail: 'client closed before sending a request', host: this.name, ip: this.name ? undefined : this.meta.dstIp }, true);
  };

  constructor(
    private readonly proxy: EgressProxy,
    private readonly o: ProxyOptions,
    private readonly client: net.Socket,
    private readonly meta: FlowMeta,
    initial?: Buffer,
  ) {
    if (initial?.length) this.buf = initial;
  }

  start(): void {
    const { dstIp, dstPort } = this.meta;
    const t = this.proxy.timeouts();
    if (!dstIp || !dstPort) {
      this.pendingDeny = { reason: 'no-original-destination', detail: 'Warden could not tell where this connection was going' };
    } else {
      const policy = this.o.policy();
      const name = this.o.pool.nameOf(dstIp);
      if (name) {
        this.name = name;
        const d = policy.decideName(name, dstPort);
        if (d.allowed) this.rule = d.entry.raw;
        else
          this.pendingDeny = {
            reason: d.reason,
            host: name,
            suggest: Policy.suggest(name, dstPort),
            detail: d.reason === 'port-not-allowed' ? `${name} is allowed, but not on port ${dstPort}` : `${name} is not in network.allow`,
          };
      } else {
        const e = policy.ipEntry(dstIp, dstPort);
        if (e) this.rule = e.raw;
        else
          this.pendingDeny = {
            reason: 'ip-literal',
            ip: dstIp,
            suggest: Policy.suggest(dstIp, dstPort),
            detail: `connections to addresses that were not resolved through Warden's DNS are denied (${dstIp}:${dstPort}); connect by a listed name`,
          };
      }
    }
    // A denied flow still waits briefly for the first bytes, so the client gets an answer in
    // its own protocol (HTTP 403, TLS alert) instead of a bare reset.
    const wait = this.pendingDeny ? Math.min(t.header, 2000) : t.header;
    this.timer = setTimeout(() => this.onTimeout(), wait);
    if (!this.pendingDeny) this.connectUpstream(t.connect);
    this.client.on('data', this.onData);
    this.client.on('end', this.onEnd);
    if (this.buf.length) this.classify();
    if (!this.sniffed) this.client.resume();
  }

  private onClientData(d: Buffer): void {
    if (this.decided) return; // after the decision, data flows through pipe()
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    if (this.sniffed) this.client.pause(); // waiting for upstream: let TCP push back
    else this.classify();
  }

  private classify(): void {
    if (this.sniffed) return;
    const s = sniff(this.buf);
    if (!s) {
      if (this.buf.length > MAX_BUFFER) this.sniffed = { kind: 'invalid', proto: 'tls', reason: 'handshake too large' };
      else return;
    } else {
      this.sniffed = s;
    }
    this.client.pause();
    this.check();
  }

  private onTimeout(): void {
    if (this.decided) return;
    if (this.pendingDeny) return this.finishDeny(this.pendingDeny);
    const tlsLike = looksLikeTls(this.buf);
    const partial = this.buf.length ? (tlsLike ? 'a TLS ClientHello' : 'an HTTP request head') : 'any data';
    // Answer in the protocol the client started speaking.
    if (this.buf.length) this.sniffed = { kind: 'invalid', proto: tlsLike ? 'tls' : 'http', reason: 'timeout' };
    this.finishDeny({
      reason: 'header-timeout',
      host: this.name,
      ip: this.name ? undefined : this.meta.dstIp,
      detail: `the client did not finish sending ${partial} within ${this.proxy.timeouts().header} ms`,
      data: { bytes: this.buf.length },
    });
  }

  /** Called when the first bytes are classified (or the server spoke first). */
  private check(): void {
    if (this.decided || !this.sniffed) return;
    if (this.pendingDeny) return this.finishDeny(this.pendingDeny);
    const s = this.sniffed;
    const name = this.name;
    const mismatch = (what: 'SNI' | 'Host', got: string): Deny => ({
      reason: what === 'SNI' ? 'sni-mismatch' : 'host-mismatch',
      host: name ?? this.meta.dstIp,
      ip: name ? undefined : this.meta.dstIp,
      detail: `${what} "${got}" does not match the name this connection was resolved for (${name ?? this.meta.dstIp})`,
      data: { [what === 'SNI' ? 'sni' : 'http_host']: got },
    });
    if (s.kind === 'invalid') {
      return this.finishDeny({ reason: `bad-${s.proto}`, host: name, ip: name ? undefined : this.meta.dstIp, detail: s.reason });
    }
    if (s.kind === 'tls' && s.sni !== undefined) {
      const n = normaliseWireHost(s.sni);
      // With a name-less (listed IP) flow there is nothing to compare; with a name, SNI must be that name.
      if (name && (n.kind !== 'name' || n.name !== name)) return this.finishDeny(mismatch('SNI', s.sni));
    }
    if (s.kind === 'http') {
      if (s.method === 'CONNECT') {
        return this.finishDeny({
          reason: 'connect-method',
          host: s.targetHost,
          detail: `CONNECT ${s.targetHost ?? ''} refused: Warden is a transparent proxy; connect to the destination directly`,
        });
      }
      for (const [label, h] of [['Host', s.host], ['Host', s.targetHost]] as const) {
        if (h === undefined) continue;
        const n = normaliseWireHost(h);
        if (name) {
          if (n.kind !== 'name' || n.name !== name) return this.finishDeny(mismatch(label, h));
        } else if (n.kind === 'name') {
          // A listed IP reached by address with a Host naming someone else: fronting through a shared IP.
          return this.finishDeny(mismatch(label, h));
        }
      }
    }
    this.maybeForward();
  }

  /** The upstream addresses to try, after the rebinding guard; throws UpstreamError. */
  private upstreamAddrs(r: { addrs: string[] }): string[] {
    const port = this.meta.dstPort!;
    const g = guardAddresses(r.addrs, port, this.o.policy());
    if (!g.ok) {
      const lit = g.address.includes(':') ? `[${g.address}]` : g.address;
      throw new UpstreamError(
        'resolves-to-' + g.class,
        `${this.name} resolves to ${g.address} (${g.class} address); add "${lit}${[80, 443].includes(port) ? '' : `:${port}`}" to network.allow if that is intended`,
        g.address,
      );
    }
    // IPv4 first (the host may have no IPv6 route), a few addresses at most.
    return [...r.addrs.filter((a) => !a.includes(':')), ...r.addrs.filter((a) => a.includes(':'))].slice(0, 4);
  }

  private connectUpstream(timeoutMs: number): void {
    const port = this.meta.dstPort!;
    const dial = async (addrs: string[]): Promise<net.Socket> => {
      let last: Error | undefined;
      for (const a of addrs) {
        if (this.decided) break;
        try {
          const s = await connect(a, port, timeoutMs);
          this.upstreamAddr = a;
          return s;
        } catch (e) {
          last = e as Error;
        }
      }
      throw new UpstreamError('connect-failed', `could not connect to ${this.name ?? this.meta.dstIp}:${port} (${last?.message ?? 'no address'})`);
    };
    let p: Promise<net.Socket>;
    try {
      if (!this.name) p = dial([this.meta.dstIp!]);
      else {
        // Pinned or cached names dial at once, without an extra promise turn.
        const hit = this.o.upstream.cached(this.name);
        p = hit ? dial(this.upstreamAddrs(hit)) : this.o.upstream.resolve(this.name).then((r) => dial(this.upstreamAddrs(r)));
      }
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (s) => {
        if (this.decided) {
          s.destroy();
          return;
        }
        this.upstream = s;
        s.on('error', () => this.client.destroy());
        // Server-speaks-first protocols (SMTP, databases): their banner settles the flow as opaque.
        this.onEarly = (d: Buffer) => {
          this.early.push(d);
          s.pause();
          if (!this.sniffed && !this.decided && !this.buf.length) {
            this.serverSpoke = true;
            this.sniffed = { kind: 'opaque' };
            this.check();
          }
        };
        s.on('data', this.onEarly);
        this.maybeForward();
      },
      (e: unknown) => {
        this.upstreamErr = e instanceof UpstreamError ? e : new UpstreamError('connect-failed', String(e));
        this.maybeForward();
      },
    );
  }

  private maybeForward(): void {
    if (this.decided || !this.sniffed || this.sniffed.kind === 'invalid') return;
    if (this.upstreamErr) {
      const e = this.upstreamErr;
      return this.finishDeny({
        reason: e.reason,
        host: this.name,
        ip: this.name ? e.address : this.meta.dstIp,
        detail: e.message,
        data: e.address ? { resolved: e.address } : undefined,
      });
    }
    const up = this.upstream;
    if (!up) return;
    this.decided = true;
    clearTimeout(this.timer);
    const s = this.sniffed;
    this.o.record.allow({
      proto: 'tcp',
      host: this.name,
      ip: this.meta.dstIp,
      port: this.meta.dstPort,
      reason: this.name ? 'listed' : 'listed-ip',
      rule: this.rule,
      data: {
        upstream: this.upstreamAddr,
        protocol: s.kind,
        ...(s.kind === 'tls' ? { sni: s.sni ?? null } : {}),
        ...(s.kind === 'http' && s.host ? { http_host: s.host } : {}),
        ...(this.serverSpoke ? { server_first: true } : {}),
        ...(this.name && (s.kind === 'http' || (s.kind === 'tls' && this.o.inspector?.()?.wantsTls(this.name, this.meta.dstPort!))) ? { inspect: s.kind } : {}),
      },
    });
    const c = this.client;
    c.off('data', this.onData);
    c.off('end', this.onEnd);
    if (this.onEarly) up.off('data', this.onEarly);
    const toUp = this.buf;
    const toClient = Buffer.concat(this.early);
    this.buf = Buffer.alloc(0);
    this.early = [];
    up.pause();
    let closed = this.o.flows?.opened(this.name, this.meta.dstPort!);
    const flowClosed = () => {
      closed?.();
      closed = undefined;
    };
    const inspector = this.o.inspector?.();
    if (inspector && !toClient.length && this.name && (s.kind === 'http' || (s.kind === 'tls' && inspector.wantsTls(this.name, this.meta.dstPort!)))) {
      const flow = { host: this.name, port: this.meta.dstPort!, address: this.upstreamAddr!, alpn: s.kind === 'tls' ? s.alpn : undefined };
      up.resume();
      c.once('close', flowClosed);
      if (s.kind === 'http') inspector.http(c, toUp, up, flow);
      else inspector.tls(c, toUp, up, flow);
      return;
    }
    const engine = this.o.splice === false ? undefined : spliceEngine();
    if (engine) {
      const spliced = this.proxy.spliced;
      let finished = false;
      const id = engine.handOff(c, up, toUp, toClient, () => {
        finished = true;
        spliced.delete(id!);
        flowClosed();
      });
      if (id !== undefined) {
        if (!finished) spliced.add(id);
        return;
      }
    }
    c.once('close', flowClosed);
    if (toClient.length) c.write(toClient);
    if (toUp.length) up.write(toUp);
    // pipeline() destroys both sides on an error; a clean end in one direction only half-closes.
    const kill = () => {
      c.destroy();
      up.destroy();
    };
    pipeline(c, up, (err) => err && kill());
    pipeline(up, c, (err) => err && kill());
  }

  private finishDeny(d: Deny, silent = false): void {
    if (this.decided) return;
    this.decided = true;
    clearTimeout(this.timer);
    this.upstream?.destroy();
    if (silent || !this.o.procLookup) return this.answerDeny(d, silent);
    // Look the owner up while its socket still exists (a reset socket leaves the tables at once).
    const lookup = this.o.procLookup(this.meta).catch(() => undefined);
    const bound = new Promise<undefined>((r) => setTimeout(() => r(undefined), 300).unref());
    void Promise.race([lookup, bound]).then((proc) => this.answerDeny(d, false, proc));
  }

  private answerDeny(d: Deny, silent: boolean, proc?: ProcRef): void {
    const s = this.sniffed;
    const dest = `${d.host ?? d.ip ?? this.meta.dstIp ?? '?'}:${this.meta.dstPort ?? '?'}`;
    const advice = d.suggest ? `To allow it, add "${d.suggest}" to network.allow in the Warden policy.` : '';
    const c = this.client;
    if (s?.kind === 'http' || (s?.kind === 'invalid' && s.proto === 'http')) {
      c.end(forbiddenResponse(`Warden egress denied ${dest}: ${d.detail}.\n${advice}`, d.reason));
    } else if (s?.kind === 'tls' || (s?.kind === 'invalid' && s.proto === 'tls')) {
      c.end(tlsAlert(ALERT_ACCESS_DENIED));
    } else {
      hardClose(c);
    }
    if (silent) return;
    this.o.record.deny({
      proto: 'tcp',
      host: d.host,
      ip: this.meta.dstIp,
      port: this.meta.dstPort,
      reason: d.reason,
      suggest: d.suggest,
      proc,
      data: {
        detail: d.detail,
        ...(s && s.kind !== 'invalid' ? { protocol: s.kind } : {}),
        ...(s?.kind === 'tls' && s.sni ? { sni: s.sni } : {}),
        ...(s?.kind === 'http' && s.host ? { http_host: s.host } : {}),
        ...(d.ip && d.ip !== this.meta.dstIp ? { resolved: d.ip } : {}),
        ...d.data,
      },
    });
  }
}

function connect(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, noDelay: true, allowHalfOpen: true });
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error('connect timeout'));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}
