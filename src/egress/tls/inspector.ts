// Inspection of allowed connections. The proxy decides *whether* a flow may go; this decides
// *what bytes* go. Plain HTTP is always read request by request. TLS is opened only toward
// hosts that need it (a credential is scoped to them, they have request rules, or
// `inspect: true`): the upstream handshake comes first (verified against the host's trust
// store, offering the ALPN protocols the client offered), then the client's, with a
// certificate from the run CA that speaks the protocol the upstream chose (h2 or http/1.1).
import net from 'node:net';
import tls from 'node:tls';
import { ALERT_ACCESS_DENIED, tlsAlert } from '../sni.js';
import type { DecisionRecorder } from '../record.js';
import type { RequestRules } from '../request-rules.js';
import type { CredentialStore } from '../credentials/store.js';
import type { RunCa } from './ca.js';
import { Http1Front, Replayed, type UpstreamLink } from './http1.js';
import { serveH2 } from './http2.js';
import { closeReplays, nativeReplay, type Replays } from './native-replay.js';
import type { HostTrust } from './trust.js';

export interface InspectorOptions {
  /** Absent when no host needs TLS opened (plain HTTP is still read request by request). */
  ca?: RunCa;
  trust: HostTrust;
  store: CredentialStore;
  rules: RequestRules;
  record: DecisionRecorder;
  connectTimeoutMs?: number;
}

export interface InspectFlow {
  host: string;
  port: number;
  /** The upstream address the flow was allowed to (new connections go there too). */
  address: string;
  /** ALPN protocols the client offered. */
  alpn?: string[];
}

const ALERT_BAD_CERTIFICATE = 42;

export class Inspector {
  private readonly h1: Http1Front;
  private readonly contexts = new Map<string, Promise<tls.SecureContext>>();
  /** Spliced client halves of inspected connections (closed at teardown). */
  private readonly replays: Replays = { flows: new Set(), ends: new Set() };
  /** Last TLS session per upstream host: the next connection resumes it (one handshake less of CPU). */
  private readonly sessions = new Map<string, Buffer>();

  constructor(private readonly o: InspectorOptions) {
    this.h1 = new Http1Front({ store: o.store, rules: o.rules, record: o.record });
  }

  /** Closes the client halves of every inspected connection (sandbox teardown). */
  closeAll(): void {
    closeReplays(this.replays);
  }

  /** Whether TLS to this host is opened (credentials, request rules or `inspect: true`). */
  wantsTls(host: string | undefined, port: number): boolean {
    if (!host || !this.o.ca) return false;
    return this.o.rules.has(host) || this.o.store.scopes().some((s) => s.decideName(host, port).allowed);
  }

  /** A plain-HTTP flow whose first request the proxy already read (and checked). */
  http(client: net.Socket, initial: Buffer, upstream: net.Socket, flow: InspectFlow): void {
    const link: UpstreamLink = {
      host: flow.host,
      port: flow.port,
      secure: false,
      first: upstream,
      dial: () => net.connect({ host: flow.address, port: flow.port, noDelay: true }),
    };
    this.h1.serve(nativeReplay(client, initial, this.replays) ?? new Replayed(client, initial), link);
  }

  private upstreamTls(socket: net.Socket | undefined, flow: InspectFlow, alpn: string[] | undefined): tls.TLSSocket {
    const key = `${flow.host}:${flow.port}:${flow.address}`;
    const s = tls.connect({
      ...(socket ? { socket } : { host: flow.address, port: flow.port }),
      servername: flow.host,
      ca: this.o.trust.ca,
      ALPNProtocols: alpn,
      minVersion: 'TLSv1.2',
      session: this.sessions.get(key),
    });
    s.on('session', (sess: Buffer) => {
      if (this.sessions.size > 1000) this.sessions.clear();
      this.sessions.set(key, sess);
    });
    return s;
  }

  private context(host: string): Promise<tls.SecureContext> {
    let c = this.contexts.get(host);
    if (!c) {
      c = this.o.ca!.leaf(host).then((l) => tls.createSecureContext({ cert: l.cert, key: l.key, minVersion: 'TLSv1.2' }));
      this.contexts.set(host, c);
    }
    return c;
  }

  /** A TLS flow to a host that needs inspection: `initial` is the client's ClientHello. */
  tls(client: net.Socket, initial: Buffer, upstream: net.Socket, flow: InspectFlow): void {
    const offered = (flow.alpn ?? []).filter((p) => p === 'h2' || p === 'http/1.1');
    const alpn = flow.alpn ? (offered.length ? offered : ['http/1.1']) : undefined;
    const up = this.upstreamTls(upstream, flow, alpn);
    const fail = (reason: string, detail: string, alert: number) => {
      client.end(tlsAlert(alert));
      up.destroy();
      this.o.record.deny({ proto: 'tcp', host: flow.host, port: flow.port, reason, data: { detail, protocol: 'tls', inspect: true } });
    };
    up.on('error', (e: NodeJS.ErrnoException) => {
      if (!up.authorized && !client.destroyed && !inner)
        fail('upstream-certificate', `the upstream certificate of ${flow.host} does not verify against the host's trust store (${e.code ?? e.message})`, ALERT_BAD_CERTIFICATE);
      else client.destroy();
    });
    let inner: tls.TLSSocket | undefined;
    client.on('error', () => up.destroy());
    up.once('secureConnect', () => {
      const proto = up.alpnProtocol || undefined;
      this.context(flow.host).then(
        (secureContext) => {
          if (client.destroyed) return void up.destroy();
          const native = nativeReplay(client, initial, this.replays);
          inner = new tls.TLSSocket(native ?? (new Replayed(client, initial) as unknown as net.Socket), {
            isServer: true,
            secureContext,
            ALPNProtocols: flow.alpn ? [proto ?? 'http/1.1'] : undefined,
          });
          inner.setMaxListeners(40);
          inner.on('error', (e: NodeJS.ErrnoException) => {
            up.destroy();
            client.destroy();
            // A client that refuses the run CA: say so once per connection, it is a set-up problem.
            if (!inner?.encrypted || !('alpnProtocol' in inner) || inner.alpnProtocol === undefined || inner.alpnProtocol === null)
              this.o.record.inside('egress.tls_client_error', {
                host: flow.host,
                port: flow.port,
                severity: 'warn',
                alert: { rule: 'egress.tls_client_refused', category: 'defense_evasion', mitre: ['T1553.004'] },
                message: `the client's TLS handshake with Warden's inspection of ${flow.host} failed (${e.code ?? e.message}); does it trust the run CA (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS)?`,
                data: { error: e.code ?? e.message },
              });
          });
          inner.once('secure', () => {
            const dial = () => this.upstreamTls(undefined, flow, proto ? [proto] : alpn);
            if (inner!.alpnProtocol === 'h2' && proto === 'h2') {
              // Node's http2 server stalls on a TLS socket handed to it by 'connection' (its handle is
              // consumed twice); a plain stream in between works, native or not.
              serveH2({ store: this.o.store, rules: this.o.rules, record: this.o.record }, new Replayed(inner!), { host: flow.host, port: flow.port, first: up, dial }, (counts, method, path) =>
                this.o.record.inside('egress.credential_remask', {
                  host: flow.host,
                  port: flow.port,
                  severity: 'warn',
                  alert: { rule: 'egress.credential_echo', category: 'credential_access', mitre: ['T1552'] },
                  message: `a response from ${flow.host} echoed the real value of ${[...counts.keys()].join(', ')}: replaced by the surrogate before the client read it`,
                  data: { credentials: Object.fromEntries(counts), method, path },
                }),
              );
            } else {
              this.h1.serve(inner!, { host: flow.host, port: flow.port, secure: true, first: up, dial });
            }
          });
        },
        (e: Error) => fail('inspect-failed', `could not make a certificate for ${flow.host}: ${e.message}`, ALERT_ACCESS_DENIED),
      );
    });
  }
}
