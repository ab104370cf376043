// A run's audit (the NDJSON of `warden run --audit`) as a CI job summary in Markdown (GitHub's
// GITHUB_STEP_SUMMARY): how the command ended, the limits it hit, each denied destination with
// the allow entry that would have permitted it, the alerts, and how the policy was put
// together (--policy-ref merge, a checked-out .warden/ edit that had no effect). Every string
// from the sandbox is escaped: a command controls hostnames, paths and messages, and must not
// be able to write Markdown (links, HTML, a fake "no alerts" line) into the summary.
import type { WardenEvent } from '../events/types.js';

export interface SummaryCounts {
  exitCode: number | undefined;
  alerts: number;
  denials: number;
  limits: number;
}

export interface JobSummary {
  markdown: string;
  counts: SummaryCounts;
}

const MAX_ROWS = 50;

/**
 * Markdown-inert text for a table cell or a line: no line breaks, the punctuation that starts
 * markup backslash-escaped, `&` as an entity (no HTML entity or tag of the sandbox's), and no
 * autolink (GFM turns `www.` and `scheme://` into links by themselves).
 */
export function mdText(s: unknown, max = 200): string {
  let t = String(s ?? '').replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, ' ');
  if (t.length > max) t = `${t.slice(0, max - 1)}…`;
  return t
    .replace(/&/g, '&amp;')
    .replace(/[\\`*_[\]<>|~#!]/g, (c) => `\\${c}`)
    .replace(/:\/\//g, '&#58;//')
    .replace(/\bwww\./gi, (w) => `${w.slice(0, 3)}&#46;`);
}

/**
 * Inline code: Markdown decodes nothing inside it, so no entities; a backtick would end it (it
 * becomes '), a pipe would end the table cell (GFM's \| escape works inside code spans too).
 */
function code(s: unknown, max = 200): string {
  let t = String(s ?? '').replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, ' ');
  if (t.length > max) t = `${t.slice(0, max - 1)}…`;
  return `\`${t.replace(/`/g, "'").replace(/\|/g, '\\|')}\``;
}

interface Row {
  cells: string[];
  count: number;
}

/** Rows counted by key, first seen first. */
class Tally {
  private readonly rows = new Map<string, Row>();
  add(key: string, cells: () => string[]): void {
    const r = this.rows.get(key);
    if (r) r.count++;
    else this.rows.set(key, { cells: cells(), count: 1 });
  }
  get size(): number {
    return this.rows.size;
  }
  table(head: string[]): string[] {
    const rows = [...this.rows.values()];
    const out = [`| ${head.join(' | ')} | count |`, `|${head.map(() => ' --- |').join('')} ---: |`];
    for (const r of rows.slice(0, MAX_ROWS)) out.push(`| ${r.cells.join(' | ')} | ${r.count} |`);
    if (rows.length > MAX_ROWS) out.push(``, `…and ${rows.length - MAX_ROWS} more (see the audit artifact).`);
    return out;
  }
}

const data = (e: WardenEvent) => (e.data ?? {}) as Record<string, unknown>;

function isDenial(e: WardenEvent): boolean {
  if (e.kind === 'egress.deny') return true;
  return e.kind === 'net.dns' && data(e).decision === 'deny';
}

const LIMIT_RULES = new Set(['sandbox.timeout', 'sandbox.memory_limit', 'sandbox.pids_limit']);

/** A resource limit the run reached (the sandbox's own, or the governor's). */
function isLimit(e: WardenEvent): boolean {
  if (e.kind.startsWith('resource.')) return e.severity !== 'info';
  return e.kind === 'sandbox.deny' && LIMIT_RULES.has(e.rule ?? '');
}

function destination(e: WardenEvent): string {
  const n = e.net;
  const dns = (e as { dns?: { query?: string; qtype?: string } }).dns;
  if (e.kind === 'net.dns') return `DNS ${dns?.qtype ?? ''} ${dns?.query ?? n?.host ?? '?'}`.replace(/\s+/g, ' ');
  const host = n?.host ?? n?.dst_ip ?? '?';
  return n?.dst_port !== undefined ? `${host}:${n.dst_port}` : host;
}

/** The summary of one run's events. `exitCode` overrides the one recorded in sandbox.exit. */
export function jobSummary(events: WardenEvent[], o: { title?: string; exitCode?: number; auditName?: string; badLines?: number } = {}): JobSummary {
  const start = events.find((e) => e.kind === 'sandbox.start');
  const exit = [...events].reverse().find((e) => e.kind === 'sandbox.exit');
  const exitCode = o.exitCode ?? exit?.exit?.code;
  const denials = new Tally();
  const alerts = new Tally();
  const limits = new Tally();
  let nAlerts = 0;
  let nDenials = 0;
  let nLimits = 0;
  for (const e of events) {
    if (e.severity === 'alert') {
      nAlerts++;
      alerts.add(`${e.rule}\0${e.message}`, () => [code(e.rule ?? e.kind), mdText(e.category ?? ''), mdText(e.message ?? '')]);
    }
    if (isDenial(e)) {
      nDenials++;
      const d = data(e);
      denials.add(`${destination(e)}\0${d.reason}`, () => [code(destination(e)), mdText(d.reason ?? e.rule ?? ''), d.suggest ? code(d.suggest) : '—', mdText(e.proc?.argv?.join(' ') ?? e.proc?.exe ?? '', 80)]);
    }
    if (isLimit(e)) {
      nLimits++;
      limits.add(`${e.rule}\0${e.message}`, () => [code(e.rule ?? e.kind), mdText(e.message ?? '')]);
    }
  }
  const verdict = nAlerts ? `❌ ${nAlerts} alert${nAlerts > 1 ? 's' : ''}` : exitCode === 0 ? '✅ no alerts' : '⚠️ no alerts';
  const out: string[] = [`## ${mdText(o.title ?? 'Warden')}: ${verdict}`, ''];
  const argv = (data(start ?? ({} as WardenEvent)).argv as string[] | undefined) ?? [];
  out.push(`| | |`, `| --- | --- |`);
  out.push(`| command | ${code(argv.join(' '), 300)} |`);
  out.push(`| exit code | ${exitCode === undefined ? 'unknown (no sandbox.exit recorded)' : code(exitCode)}${exit && data(exit).timed_out ? ' (timed out)' : ''} |`);
  if (exit?.exit?.duration_ms !== undefined) out.push(`| duration | ${(exit.exit.duration_ms / 1000).toFixed(1)} s |`);
  out.push(`| alerts | ${nAlerts} |`, `| denied connections and lookups | ${nDenials} |`, `| limits hit | ${nLimits} |`);
  if (o.badLines) out.push(`| unreadable audit lines | ${o.badLines} |`);
  out.push('');
  if (nAlerts) out.push('### Alerts', '', ...alerts.table(['rule', 'category', 'what']), '');
  if (nLimits) out.push('### Limits hit', '', ...limits.table(['rule', 'what']), '');
  if (nDenials) {
    out.push('### Denied', '', 'Each destination the sandbox was refused, and the `network.allow` entry that would have permitted it (add it to the policy on the default branch only if the job needs it).', '');
    out.push(...denials.table(['destination', 'reason', 'allow entry', 'process']), '');
  }
  out.push(...policySection(start, events));
  if (o.auditName) out.push(`The full audit (NDJSON, one event per line) is the artifact ${code(o.auditName)}.`, '');
  return { markdown: out.join('\n'), counts: { exitCode, alerts: nAlerts, denials: nDenials, limits: nLimits } };
}

interface PolicyRef {
  ref: string;
  resolved: string;
  commit: string;
  path: string;
  base: string;
  tightened: Array<{ key: string; value: unknown; detail: string }>;
  ignored: Array<{ key: string; value: unknown; detail: string }>;
  worktree_changes: Array<{ path: string; change: string }>;
}

function policySection(start: WardenEvent | undefined, events: WardenEvent[]): string[] {
  const ref = start ? (data(start).policy_ref as PolicyRef | undefined) : undefined;
  const out = ['### Policy', ''];
  if (!ref) {
    const src = start ? data(start).policy : undefined;
    out.push(`No repository policy (--policy-ref) was used${typeof src === 'string' ? `; policy ${code(src)}` : ''}.`, '');
    return out;
  }
  out.push(`Repository policy ${code(`${ref.ref}:${ref.path}`)} at commit ${code(ref.commit.slice(0, 12))} (${code(ref.resolved)}), laid over ${code(ref.base)}: it can only tighten it.`, '');
  for (const t of ref.tightened) out.push(`- tightened ${code(t.key)}: ${code(JSON.stringify(t.value), 300)} (${mdText(t.detail)})`);
  for (const i of ref.ignored) out.push(`- **not taken** ${code(i.key)}: ${code(JSON.stringify(i.value), 300)} (${mdText(i.detail)})`);
  if (!ref.tightened.length && !ref.ignored.length) out.push('- no change to the base policy');
  const changes = ref.worktree_changes.length ? ref.worktree_changes : [];
  if (changes.length || events.some((e) => e.kind === 'sandbox.policy')) {
    out.push('', `⚠️ The checked-out policy directory differs from ${code(ref.ref)}; these changes had **no effect** on this run:`, '');
    for (const w of changes) out.push(`- ${code(w.path)}: ${mdText(w.change.replace('_', ' '))}`);
  }
  out.push('');
  return out;
}
