// How a separate `warden run` reports its sandbox's decisions (egress, DNS, credentials,
// sandbox start/exit) to a running `warden watch`, so `warden top` shows them.
//
// The run is often the user's and the monitor root's, so the socket must accept other local
// users; what it must never accept is anything from inside a sandbox. The channel:
// * `warden watch` listens on `<api socket dir>-ingest/ingest.sock` (root: /run/warden-ingest,
//   0755 directory, 0666 socket), beside its API socket (which stays 0600 for its own user).
// * The sender is the `warden run` process itself, outside the sandbox: the sandboxed command
//   has no descriptor to that connection (close-on-exec, inherited descriptors closed), cannot
//   reach the socket (private /run and /tmp, its own network namespace, AF_UNIX denied by
//   seccomp unless the policy allows it), and even if it could, the monitor refuses every peer
//   whose pid or user namespace differs from its own: every sandboxed process lives in the
//   namespaces bwrap made. SO_PEERCRED (pid, uid) comes from the kernel and cannot be forged.
// * What a peer may say is bounded: only egress.*, net.dns and sandbox.* kinds; the sandbox id
//   of its first message binds the connection (another uid cannot claim the same id later);
//   agent attribution is dropped; every event carries `data.reported_by: {uid, pid}`; lines are
//   at most 64 KiB and 2,000 events/s per connection. A refused peer is a `monitor.ingest_refused`
//   warning.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { SEVERITIES, type Severity, type UnstampedEvent } from '../events/types.js';
import { nowIso } from '../events/time.js';
import { peerCred, type PeerCred } from './peercred.js';

/** The ingest socket that belongs to an API socket path. */
export function ingestPathFor(apiSocket: string): string {
  return path.join(`${path.dirname(apiSocket)}-ingest`, 'ingest.sock');
}

const KINDS = /^(?:egress\.[a-z_]{1,40}|net\.dns|sandbox\.(?:start|exit|deny))$/;
const MAX_LINE = 64 * 1024;
const RATE = 2000;

function nsOf(pid: number | 'self', which: 'pid' | 'user'): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${which}`);
  } catch {
    return undefined;
  }
}

/** Why a peer may not report, or undefined when it may. */
export function peerProblem(cred: PeerCred | undefined): string | undefined {
  if (!cred) return 'peer credentials unavailable';
  for (const ns of ['pid', 'user'] as const) {
    const mine = nsOf('self', ns);
    const theirs = nsOf(cred.pid, ns);
    if (!mine || !theirs) return `cannot read the ${ns} namespace of pid ${cred.pid}`;
    if (mine !== theirs) return `pid ${cred.pid} is in another ${ns} namespace (inside a sandbox or container)`;
  }
  return undefined;
}

/** The fields a reporter may set; everything else is the monitor's. */
export function sanitize(raw: unknown, sandboxId: string, cred: PeerCred): UnstampedEvent | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const o = raw as Record<string, unknown>;
  if (typeof o.kind !== 'string' || !KINDS.test(o.kind)) return undefined;
  const severity = (SEVERITIES as readonly string[]).includes(o.severity as string) ? (o.severity as Severity) : 'info';
  const data = o.data && typeof o.data === 'object' && !Array.isArray(o.data) ? (o.data as Record<string, unknown>) : {};
  const ev: UnstampedEvent = {
    ts: typeof o.ts === 'string' && /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(o.ts) ? o.ts : nowIso(),
    kind: o.kind,
    severity,
    ...(typeof o.message === 'string' ? { message: o.message.slice(0, 4096) } : {}),
    sandbox: { id: sandboxId },
    data: { ...data, reported_by: { uid: cred.uid, pid: cred.pid } },
  } as UnstampedEvent;
  if (severity !== 'info') {
    Object.assign(ev, {
      rule: typeof o.rule === 'string' ? o.rule.slice(0, 128) : `egress.${o.kind.split('.')[1]}`,
      category: typeof o.category === 'string' ? o.category : 'exfiltration',
      mitre: Array.isArray(o.mitre) ? o.mitre.filter((m) => typeof m === 'string').slice(0, 8) : [],
    });
  }
  for (const k of ['net', 'dns', 'proc', 'exit'] as const) if (o[k] && typeof o[k] === 'object') (ev as unknown as Record<string, unknown>)[k] = o[k];
  return ev;
}

export class IngestServer {
  private server: net.Server | undefined;
  private readonly conns = new Set<net.Socket>();
  private readonly owners = new Map<string, number>();
  readonly counters = { peers: 0, refused: 0, events: 0, dropped: 0 };

  constructor(
    readonly socketPath: string,
    private readonly report: (ev: UnstampedEvent) => void,
  ) {}

  async listen(): Promise<void> {
    const dir = path.dirname(this.socketPath);
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    const st = fs.lstatSync(dir);
    const uid = process.getuid?.() ?? 0;
    if (!st.isDirectory() || st.uid !== uid) throw new Error(`${dir} is not a directory of uid ${uid}; refusing to put the ingest socket there`);
    fs.chmodSync(dir, 0o755);
    try {
      fs.unlinkSync(this.socketPath); // a monitor that died left it
    } catch {
      /* none */
    }
    const server = net.createServer((s) => void this.accept(s));
    server.on('error', () => {});
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(this.socketPath, () => resolve()));
    // Any local user may run a sandbox whose decisions belong on this monitor.
    fs.chmodSync(this.socketPath, 0o666);
    this.server = server;
  }

  private refuse(s: net.Socket, cred: PeerCred | undefined, why: string): void {
    this.counters.refused++;
    s.end(JSON.stringify({ error: why }) + '\n');
    this.report({
      ts: nowIso(),
      kind: 'monitor.ingest_refused',
      severity: 'warn',
      rule: 'warden.ingest_refused',
      category: 'defense_evasion',
      mitre: ['T1562.006'],
      message: `refused events from ${cred ? `pid ${cred.pid} (uid ${cred.uid})` : 'an unknown peer'}: ${why}`,
      data: { reason: why, ...(cred ? { peer: { pid: cred.pid, uid: cred.uid } } : {}) },
    });
  }

  private async accept(s: net.Socket): Promise<void> {
    s.on('error', () => {});
    if (this.conns.size >= 64) return void s.destroy();
    this.conns.add(s);
    s.on('close', () => this.conns.delete(s));
    s.pause();
    const cred = await peerCred(s);
    const problem = peerProblem(cred);
    if (problem) return this.refuse(s, cred, problem);
    this.counters.peers++;
    let buf = '';
    let sandbox: string | undefined;
    let tokens = RATE;
    let last = Date.now();
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      if (buf.length > MAX_LINE && buf.indexOf('\n') < 0) return this.refuse(s, cred, 'line longer than 64 KiB');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: unknown;
        try {
          msg = JSON.parse(line);
        } catch {
          this.counters.dropped++;
          continue;
        }
        if (sandbox === undefined) {
          const id = (msg as { hello?: { sandbox?: unknown } })?.hello?.sandbox;
          if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) return this.refuse(s, cred, 'no hello with a sandbox id');
          const owner = this.owners.get(id);
          if (owner !== undefined && owner !== cred!.uid) return this.refuse(s, cred, `sandbox ${id} is reported by uid ${owner}`);
          this.owners.set(id, cred!.uid);
          sandbox = id;
          continue;
        }
        const now = Date.now();
        tokens = Math.min(RATE, tokens + ((now - last) / 1000) * RATE);
        last = now;
        if (tokens < 1) {
          this.counters.dropped++;
          continue;
        }
        tokens--;
        const ev = sanitize(msg, sandbox, cred!);
        if (!ev) {
          this.counters.dropped++;
          continue;
        }
        this.counters.events++;
        this.report(ev);
      }
    });
    s.resume();
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    try {
      fs.unlinkSync(this.socketPath);
    } catch {
      /* gone */
    }
  }
}
