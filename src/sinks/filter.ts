// Event filters shared by `warden events`, the JSON-RPC API (get/subscribe) and the SSE stream:
// time range, minimum severity, agent, rule and kind. Patterns accept `*` wildcards; a kind
// without a dot matches its whole family (`file` = `file.*`).
import { atLeast, SEVERITIES, type Severity, type WardenEvent } from '../events/types.js';

export interface EventFilter {
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
  minSeverity?: Severity;
  /** Agent name, session id or root pid. */
  agent?: string;
  rule?: string;
  kind?: string;
}

/** Filter as it arrives from outside (API params, CLI options): strings, validated here. */
export interface RawFilter {
  since?: unknown;
  until?: unknown;
  severity?: unknown;
  min_severity?: unknown;
  agent?: unknown;
  rule?: unknown;
  kind?: unknown;
}

export class FilterError extends Error {}

const REL = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `10m` / `2h` (that long ago), ISO-8601, or epoch milliseconds. */
export function parseTime(v: unknown, now = Date.now()): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v !== 'string' || v.trim() === '') throw new FilterError(`invalid time: ${JSON.stringify(v)}`);
  const s = v.trim();
  const rel = REL.exec(s);
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2]!]!;
  if (/^\d{10,}$/.test(s)) return Number(s);
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new FilterError(`invalid time: ${JSON.stringify(v)} (use 10m, 2h, 3d or an ISO date)`);
  return t;
}

function str(v: unknown, name: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string') throw new FilterError(`${name} must be a string`);
  return v;
}

export function parseFilter(raw: RawFilter, now = Date.now()): EventFilter {
  const f: EventFilter = {};
  if (raw.since !== undefined && raw.since !== null && raw.since !== '') f.since = parseTime(raw.since, now);
  if (raw.until !== undefined && raw.until !== null && raw.until !== '') f.until = parseTime(raw.until, now);
  const sev = str(raw.min_severity ?? raw.severity, 'severity');
  if (sev !== undefined) {
    if (!(SEVERITIES as readonly string[]).includes(sev)) throw new FilterError(`severity must be one of ${SEVERITIES.join(', ')}`);
    f.minSeverity = sev as Severity;
  }
  const agent = str(raw.agent, 'agent');
  if (agent) f.agent = agent;
  const rule = str(raw.rule, 'rule');
  if (rule) f.rule = rule;
  const kind = str(raw.kind, 'kind');
  if (kind) f.kind = kind;
  return f;
}

function globRe(p: string): RegExp {
  return new RegExp('^' + p.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
}

export type EventPredicate = (ev: WardenEvent) => boolean;

export function compileFilter(f: EventFilter): EventPredicate {
  const checks: EventPredicate[] = [];
  if (f.since !== undefined) {
    const s = f.since;
    checks.push((e) => Date.parse(e.ts) >= s);
  }
  if (f.until !== undefined) {
    const u = f.until;
    checks.push((e) => Date.parse(e.ts) < u);
  }
  if (f.minSeverity && f.minSeverity !== 'info') {
    const m = f.minSeverity;
    checks.push((e) => atLeast(e.severity, m));
  }
  if (f.agent) {
    const a = f.agent;
    const re = a.includes('*') ? globRe(a) : undefined;
    checks.push((e) => {
      const g = e.agent;
      if (!g) return false;
      if (re) return re.test(g.name) || re.test(g.session);
      return g.name === a || g.session === a || String(g.root_pid) === a;
    });
  }
  if (f.rule) {
    const re = globRe(f.rule);
    checks.push((e) => (e.rule !== undefined && re.test(e.rule)) || (e.also?.some((r) => re.test(r)) ?? false));
  }
  if (f.kind) {
    const k = f.kind;
    const re = k.includes('*') ? globRe(k) : undefined;
    checks.push((e) => (re ? re.test(e.kind) : e.kind === k || (!k.includes('.') && e.kind.startsWith(k + '.'))));
  }
  if (checks.length === 0) return () => true;
  return (e) => checks.every((c) => c(e));
}
