// What the sandbox refused, told to the user once each with the policy line that would allow
// it (hosts, DNS names, variables, home writes), a summary at exit, and always kept in the
// run's own record under Warden's state directory, with or without --audit. "Not allowed" and
// "allowed but unreachable" are told apart: only the first has a line to add.
import fs from 'node:fs';
import path from 'node:path';
import type { UnstampedEvent } from '../events/types.js';

/** Egress reasons that mean the destination was allowed but could not be reached. */
const UNREACHABLE = /resolve|unreach|upstream|timeout|refused-upstream|connect-failed/;

export interface DenialNote {
  kind: 'host' | 'dns' | 'env' | 'home' | 'path';
  what: string;
  /** The policy line that would allow it (none for "allowed but unreachable"). */
  allow?: string;
  reason: string;
}

export class DenialLog {
  private readonly seen = new Set<string>();
  readonly notes: DenialNote[] = [];
  private readonly lines: string[] = [];
  private held: string[] | undefined;

  /**
   * `holdWhileRunning`: the command owns the terminal (an agent's full-screen interface), so
   * messages that come while it runs are told when it exits instead of drawn over its screen.
   */
  constructor(
    private readonly log: (m: string) => void,
    private readonly quiet: boolean,
    private readonly holdWhileRunning = false,
  ) {}

  started(): void {
    if (this.holdWhileRunning) this.held = [];
  }

  finished(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const m of held) this.log(m);
  }

  private say(m: string): void {
    if (this.held) this.held.push(m);
    else this.log(m);
  }

  /** Looks at every event of the run (before it goes to --audit, if any). */
  observe(e: UnstampedEvent): void {
    if (e.kind === 'egress.deny' || (e.kind === 'net.dns' && e.severity !== 'info' && (e.data as { decision?: string } | undefined)?.decision === 'deny')) {
      const d = (e.data ?? {}) as { reason?: string; suggest?: string };
      const host = e.net?.host ?? e.dns?.query ?? e.net?.dst_ip ?? '?';
      const reason = d.reason ?? 'denied';
      if (UNREACHABLE.test(reason)) this.add({ kind: 'host', what: host, reason: `allowed, but could not be reached (${reason})` });
      else this.add({ kind: e.kind === 'net.dns' ? 'dns' : 'host', what: host, reason, allow: `network.allow: ["${d.suggest ?? host}"]` });
    }
    if (e.severity !== 'info' || e.kind === 'sandbox.deny') this.lines.push(JSON.stringify(e));
  }

  add(n: DenialNote): void {
    const key = `${n.kind === 'dns' ? 'host' : n.kind}:${n.what}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.notes.push(n);
    if (this.quiet) return;
    const subject = n.kind === 'host' || n.kind === 'dns' ? `connection to ${n.what}` : n.kind === 'env' ? `variable ${n.what}` : n.what;
    this.say(n.allow ? `denied ${subject} (${n.reason}); to allow it: ${n.allow}` : `${subject}: ${n.reason}`);
  }

  /** The summary line at exit, if anything was refused. */
  summary(recordFile?: string): string | undefined {
    if (!this.notes.length) return undefined;
    const refused = this.notes.filter((n) => n.allow);
    const count = (k: DenialNote['kind'][]) => refused.filter((n) => k.includes(n.kind)).length;
    const unreachable = this.notes.length - refused.length;
    const parts = [
      count(['host', 'dns']) ? `${count(['host', 'dns'])} host(s)` : '',
      count(['env']) ? `${count(['env'])} variable(s)` : '',
      count(['home', 'path']) ? `${count(['home', 'path'])} path(s)` : '',
    ].filter(Boolean);
    const head = parts.length ? `refused this run: ${parts.join(', ')}` : 'nothing refused';
    return `${head}${unreachable ? `; ${unreachable} allowed host(s) unreachable` : ''}${recordFile ? `; details in ${recordFile}` : ''}`;
  }

  /** Writes the run's record (its notable events and the denials) to `dir/<id>.ndjson`, keeping the newest `keep`. */
  save(dir: string, id: string, keep = 20): string | undefined {
    if (!this.notes.length && !this.lines.length) return undefined;
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const file = path.join(dir, `${id}.ndjson`);
      const now = new Date().toISOString();
      const events = [...this.lines.map((l) => JSON.parse(l) as Record<string, unknown>), ...this.notes.map((n) => ({ ts: now, kind: 'sandbox.denial', severity: 'info', message: `${n.what}: ${n.reason}`, data: n }))];
      // Stamped like an audit log (ts, seq) so `warden events --file` reads it.
      const lines = events.map((e, i) => JSON.stringify({ ...e, ts: e.ts ?? now, seq: i + 1 }));
      fs.writeFileSync(file, lines.join('\n') + '\n', { mode: 0o600 });
      const old = fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.ndjson'))
        .map((f) => ({ f, t: fs.statSync(path.join(dir, f)).mtimeMs }))
        .sort((a, b) => b.t - a.t)
        .slice(keep);
      for (const o of old) fs.rmSync(path.join(dir, o.f), { force: true });
      return file;
    } catch {
      return undefined;
    }
  }
}

/** Names of the caller's environment that look like credentials or agent settings and were not passed. */
export function droppedVariables(host: NodeJS.ProcessEnv, passed: Record<string, string>): string[] {
  const keyLike = /(API|AUTH|TOKEN|SECRET|KEY|PASSWORD|CREDENTIAL)/i;
  return Object.keys(host)
    .filter((k) => !(k in passed) && !k.startsWith('WARDEN_') && keyLike.test(k))
    .sort();
}
