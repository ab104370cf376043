// The egress view of `warden top`: per sandbox (`warden run`), the destinations its egress
// proxy and DNS responder allowed or denied (egress.allow / egress.deny / net.dns decisions);
// per watched agent session, the destinations it connected to (seen, not enforced).
import type { WardenEvent } from '../../events/types.js';

export interface EgressRow {
  /** `sandbox` rows come from enforcement decisions; `agent` rows from observed connects. */
  scope: 'sandbox' | 'agent';
  /** Sandbox id or agent session id. */
  owner: string;
  /** What to show for the owner: `sandbox ID` or `claude:1234`. */
  ownerLabel: string;
  /** Host name when known, else the address (or the unix socket path). */
  dest: string;
  ports: number[];
  allowed: number;
  denied: number;
  /** Connections seen (agent rows). */
  seen: number;
  lastReason?: string;
  /** The allow entry that would permit it (from the proxy), when it offered one. */
  suggest?: string;
  lastTs: string;
  lastSeq: number;
}

const MAX_ROWS = 2000;

export class EgressTable {
  private readonly rows = new Map<string, EgressRow>();

  add(ev: WardenEvent): void {
    const d = decision(ev);
    if (!d) return;
    const key = `${d.scope}|${d.owner}|${d.dest}`;
    let row = this.rows.get(key);
    if (!row) {
      if (this.rows.size >= MAX_ROWS) this.rows.delete(this.rows.keys().next().value!);
      row = { scope: d.scope, owner: d.owner, ownerLabel: d.ownerLabel, dest: d.dest, ports: [], allowed: 0, denied: 0, seen: 0, lastTs: ev.ts, lastSeq: ev.seq };
      this.rows.set(key, row);
    }
    if (d.port !== undefined && !row.ports.includes(d.port)) {
      row.ports.push(d.port);
      row.ports.sort((a, b) => a - b);
      if (row.ports.length > 8) row.ports.length = 8;
    }
    row[d.verdict]++;
    if (d.reason) row.lastReason = d.reason;
    if (d.suggest) row.suggest = d.suggest;
    row.lastTs = ev.ts;
    row.lastSeq = ev.seq;
  }

  /** Sandboxes first, then agents; inside each, denied destinations first, then most recent. */
  list(): EgressRow[] {
    return [...this.rows.values()].sort(
      (a, b) =>
        (a.scope === b.scope ? 0 : a.scope === 'sandbox' ? -1 : 1) ||
        a.owner.localeCompare(b.owner) ||
        (b.denied > 0 ? 1 : 0) - (a.denied > 0 ? 1 : 0) ||
        b.lastSeq - a.lastSeq,
    );
  }

  get size(): number {
    return this.rows.size;
  }

  clear(): void {
    this.rows.clear();
  }
}

interface Decision {
  scope: 'sandbox' | 'agent';
  owner: string;
  ownerLabel: string;
  dest: string;
  port?: number;
  verdict: 'allowed' | 'denied' | 'seen';
  reason?: string;
  suggest?: string;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v ? v : undefined;
}

export function decision(ev: WardenEvent): Decision | undefined {
  const data = ev.data ?? {};
  if (ev.sandbox && (ev.kind === 'egress.allow' || ev.kind === 'egress.deny')) {
    const dest = ev.net?.host ?? ev.net?.dst_ip;
    if (!dest) return undefined;
    return {
      scope: 'sandbox',
      owner: ev.sandbox.id,
      ownerLabel: `sandbox ${ev.sandbox.id}`,
      dest,
      port: ev.net?.dst_port,
      verdict: ev.kind === 'egress.allow' ? 'allowed' : 'denied',
      reason: str(data.reason),
      suggest: str(data.suggest),
    };
  }
  if (ev.sandbox && ev.kind === 'net.dns' && ev.dns && (data.decision === 'allow' || data.decision === 'deny')) {
    return {
      scope: 'sandbox',
      owner: ev.sandbox.id,
      ownerLabel: `sandbox ${ev.sandbox.id}`,
      dest: ev.dns.query.replace(/\.$/, ''),
      verdict: data.decision === 'allow' ? 'allowed' : 'denied',
      reason: str(data.reason) ? `dns: ${str(data.reason)}` : 'dns',
      suggest: str(data.suggest),
    };
  }
  if (!ev.sandbox && ev.agent && (ev.kind === 'net.connect' || ev.kind === 'net.send') && ev.net && ev.net.proto !== 'unix') {
    const dest = ev.net.host ?? ev.net.dst_ip;
    if (!dest) return undefined;
    return { scope: 'agent', owner: ev.agent.session, ownerLabel: `${ev.agent.name}:${ev.agent.root_pid}`, dest, port: ev.net.dst_port, verdict: 'seen' };
  }
  return undefined;
}
