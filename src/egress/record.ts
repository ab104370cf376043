// Where egress decisions go: events for the audit (egress.allow, egress.deny, net.dns), a
// flood bound (a sandbox opening thousands of denied connections must not bury the audit or
// the event loop), and the denial summary served at /denials.
import { nowIso } from '../events/time.js';
import type { Category, ProcRef, Severity, UnstampedEvent } from '../events/types.js';

export interface Denial {
  host?: string;
  ip?: string;
  port?: number;
  proto: 'tcp' | 'udp' | 'dns';
  reason: string;
  /** The allow entry that would permit it, when one would. */
  suggest?: string;
  count: number;
  first: string;
  last: string;
}

export interface DecisionFields {
  proto: 'tcp' | 'udp';
  host?: string;
  ip?: string;
  port?: number;
  reason: string;
  rule?: string;
  suggest?: string;
  proc?: ProcRef;
  data?: Record<string, unknown>;
}

export interface RecorderOptions {
  sandboxId: string;
  emit(ev: UnstampedEvent): void;
  /** Events per second before suppression (a summary event reports what was dropped). */
  ratePerSec?: number;
  maxDenials?: number;
}

export class DecisionRecorder {
  private readonly denials = new Map<string, Denial>();
  private tokens: number;
  private lastRefill = Date.now();
  private suppressed = 0;
  private summaryTimer: NodeJS.Timeout | undefined;
  private readonly rate: number;
  private readonly maxDenials: number;

  constructor(private readonly o: RecorderOptions) {
    this.rate = o.ratePerSec ?? 200;
    this.tokens = this.rate * 2;
    this.maxDenials = o.maxDenials ?? 1000;
  }

  private emit(ev: UnstampedEvent, important = false): void {
    const now = Date.now();
    this.tokens = Math.min(this.rate * 2, this.tokens + ((now - this.lastRefill) / 1000) * this.rate);
    this.lastRefill = now;
    if (this.tokens < 1 && !important) {
      this.suppressed++;
      this.summaryTimer ??= setTimeout(() => this.flushSummary(), 1000).unref();
      return;
    }
    this.tokens -= 1;
    try {
      this.o.emit(ev);
    } catch {
      // A failing sink must not take the proxy down; sinks report their own failures.
    }
  }

  private flushSummary(): void {
    this.summaryTimer = undefined;
    if (!this.suppressed) return;
    const n = this.suppressed;
    this.suppressed = 0;
    this.emit(
      {
        ts: nowIso(),
        kind: 'egress.suppressed',
        severity: 'warn',
        rule: 'egress.flood',
        category: 'impact',
        mitre: ['T1499'],
        message: `${n} egress decisions were not logged individually (more than ${this.rate}/s)`,
        sandbox: { id: this.o.sandboxId },
        data: { suppressed: n },
      },
      true,
    );
  }

  private net(f: DecisionFields) {
    return {
      proto: f.proto,
      family: 'inet' as const,
      ...(f.ip ? { dst_ip: f.ip } : {}),
      ...(f.port !== undefined ? { dst_port: f.port } : {}),
      ...(f.host ? { host: f.host } : {}),
    };
  }

  allow(f: DecisionFields): void {
    this.emit({
      ts: nowIso(),
      kind: 'egress.allow',
      severity: 'info',
      message: `allowed ${f.host ?? f.ip}:${f.port}`,
      sandbox: { id: this.o.sandboxId },
      ...(f.proc ? { proc: f.proc } : {}),
      net: this.net(f),
      data: { reason: f.reason, ...(f.rule ? { rule: f.rule } : {}), ...f.data },
    });
  }

  deny(f: DecisionFields): void {
    const dest = `${f.host ?? f.ip ?? '?'}:${f.port ?? '?'}`;
    this.note({ host: f.host, ip: f.ip, port: f.port, proto: f.proto, reason: f.reason, suggest: f.suggest });
    this.emit({
      ts: nowIso(),
      kind: 'egress.deny',
      severity: 'warn',
      rule: `egress.${f.reason.replace(/-/g, '_')}`,
      category: 'exfiltration',
      mitre: ['T1041'],
      message: `denied ${dest}: ${f.reason}${f.suggest ? ` (to allow it add "${f.suggest}" to network.allow)` : ''}`,
      sandbox: { id: this.o.sandboxId },
      ...(f.proc ? { proc: f.proc } : {}),
      net: this.net(f),
      data: { reason: f.reason, ...(f.suggest ? { suggest: f.suggest } : {}), ...f.data },
    });
  }

  dns(f: {
    query: string;
    qtype: string;
    rcode: string;
    answers?: string[];
    allowed: boolean;
    reason: string;
    rule?: string;
    severity?: Severity;
    alert?: { rule: string; category: Category; mitre: string[]; message: string };
    data?: Record<string, unknown>;
  }): void {
    if (!f.allowed) this.note({ host: f.query, proto: 'dns', reason: f.reason, suggest: f.rule });
    const sev: Severity = f.alert ? 'alert' : (f.severity ?? (f.allowed ? 'info' : 'warn'));
    this.emit(
      {
        ts: nowIso(),
        kind: 'net.dns',
        severity: sev,
        ...(f.alert
          ? { rule: f.alert.rule, category: f.alert.category, mitre: f.alert.mitre, message: f.alert.message }
          : f.allowed
            ? {}
            : { rule: `egress.dns_${f.reason.replace(/-/g, '_')}`, category: 'exfiltration' as const, mitre: ['T1071.004'], message: `DNS ${f.qtype} ${f.query} refused: ${f.reason}` }),
        sandbox: { id: this.o.sandboxId },
        dns: { query: f.query, qtype: f.qtype, rcode: f.rcode, ...(f.answers ? { answers: f.answers } : {}) },
        net: { proto: 'udp', dst_port: 53, host: f.query },
        data: { decision: f.allowed ? 'allow' : 'deny', reason: f.reason, ...(f.rule && f.allowed ? { rule: f.rule } : {}), ...(f.rule && !f.allowed ? { suggest: f.rule } : {}), ...f.data },
      },
      Boolean(f.alert),
    );
  }

  /**
   * What happened inside an inspected connection (credential swaps, strips, re-masks,
   * re-signs, ssh-agent signatures). Alerts are never suppressed by the flood bound.
   */
  inside(
    kind: string,
    f: { host?: string; port?: number; severity: Severity; message: string; alert?: { rule: string; category: Category; mitre: string[] }; proc?: ProcRef; data: Record<string, unknown> },
  ): void {
    this.emit(
      {
        ts: nowIso(),
        kind,
        severity: f.severity,
        message: f.message,
        ...(f.alert ? { rule: f.alert.rule, category: f.alert.category, mitre: f.alert.mitre } : {}),
        sandbox: { id: this.o.sandboxId },
        ...(f.proc ? { proc: f.proc } : {}),
        ...(f.host ? { net: { proto: 'tcp', family: 'inet' as const, host: f.host, ...(f.port !== undefined ? { dst_port: f.port } : {}) } } : {}),
        data: f.data,
      },
      f.severity !== 'info',
    );
  }

  /** Other egress events (ready, errors) that are not decisions. */
  info(kind: string, severity: Severity, message: string, data?: Record<string, unknown>): void {
    this.emit({ ts: nowIso(), kind, severity, message, sandbox: { id: this.o.sandboxId }, ...(data ? { data } : {}) }, true);
  }

  private note(d: Omit<Denial, 'count' | 'first' | 'last'>): void {
    const key = `${d.proto}|${d.host ?? ''}|${d.ip ?? ''}|${d.port ?? ''}|${d.reason}`;
    const now = nowIso();
    const have = this.denials.get(key);
    if (have) {
      have.count++;
      have.last = now;
      // Most recent last, so the oldest is evicted first.
      this.denials.delete(key);
      this.denials.set(key, have);
      return;
    }
    if (this.denials.size >= this.maxDenials) this.denials.delete(this.denials.keys().next().value!);
    this.denials.set(key, { ...d, count: 1, first: now, last: now });
  }

  /** Denials so far, most recent first (for /denials). */
  listDenials(): Denial[] {
    return [...this.denials.values()].reverse();
  }

  close(): void {
    if (this.summaryTimer) clearTimeout(this.summaryTimer);
    this.summaryTimer = undefined;
    this.flushSummary();
  }
}
