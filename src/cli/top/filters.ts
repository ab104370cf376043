// The filters of `warden top`'s event stream (severity, agent, kind, text) and the keys that
// cycle through them. Pure: no terminal, no API; unit-tested on their own.
import { atLeast, type Severity, type WardenEvent } from '../../events/types.js';
import { summary } from '../../sinks/format.js';

export interface TopFilters {
  /** Minimum severity; undefined = everything. */
  severity?: Severity;
  /** Agent session id (one session), root pid, or agent name (every session of that tool). */
  agent?: string;
  /** Kind family (`file`) or exact kind (`net.dns`). */
  kind?: string;
  /** Case-insensitive substring of the event's text (summary, rule, paths, command line). */
  text?: string;
  /** Show routine events too (library and locale loads, forks, folded repeats): hidden by default. */
  routine?: boolean;
}

const NOISE_PREFIXES = ['/usr/lib/', '/lib/', '/lib64/', '/usr/lib64/', '/usr/share/locale/', '/usr/share/zoneinfo/', '/etc/ld.so', '/proc/self/', '/sys/', '/dev/null', '/dev/tty', '/dev/urandom', '/dev/pts/'];
const NOISE_FILES = new Set(['/etc/nsswitch.conf', '/etc/passwd', '/etc/group', '/etc/localtime', '/etc/host.conf', '/etc/gai.conf', '/etc/resolv.conf', '/etc/hosts']);
const NOISE_SOCKETS = new Set(['/var/run/nscd/socket', '/run/nscd/socket']);

/**
 * Informational events that say nothing about what an agent is up to: every process loads
 * its libraries and locale files. Hidden unless asked for (`n`); never hides a warning.
 */
export function isRoutine(ev: WardenEvent): boolean {
  if (ev.severity !== 'info') return false;
  if (ev.kind === 'file.repeat' || ev.kind === 'process.fork') return true;
  if (ev.file && (ev.file.path === '/dev/null' || ev.file.path.startsWith('/dev/pts/') || ev.file.path === '/dev/tty')) return true;
  if (ev.file && ev.file.op === 'read') {
    const p = ev.file.path;
    return NOISE_FILES.has(p) || NOISE_PREFIXES.some((x) => p.startsWith(x));
  }
  if (ev.net?.path && NOISE_SOCKETS.has(ev.net.path)) return true;
  return false;
}

/** Severity cycle of the `s` key: everything → warn and up → alerts only → everything. */
export function nextSeverity(s: Severity | undefined): Severity | undefined {
  if (s === undefined || s === 'info') return 'warn';
  if (s === 'warn') return 'alert';
  return undefined;
}

/** Kind families offered by the `k` key, in this order; then back to "all". */
export const KIND_FAMILIES = ['process', 'file', 'net', 'agent', 'alert', 'egress', 'sandbox', 'monitor'] as const;

export function nextKind(k: string | undefined, seen: Iterable<string> = []): string | undefined {
  // Families present in the stream come first, so the key does not stop on empty views.
  const present = new Set<string>();
  for (const kind of seen) present.add(family(kind));
  const order = [...KIND_FAMILIES.filter((f) => present.has(f)), ...[...present].filter((f) => !(KIND_FAMILIES as readonly string[]).includes(f)).sort()];
  const list = order.length ? order : [...KIND_FAMILIES];
  if (k === undefined) return list[0];
  const i = list.indexOf(family(k));
  return i < 0 || i === list.length - 1 ? undefined : list[i + 1];
}

/** `a` key: all agents → each session (in the order given) → all. */
export function nextAgent(current: string | undefined, sessions: string[]): string | undefined {
  if (!sessions.length) return undefined;
  if (current === undefined) return sessions[0];
  const i = sessions.indexOf(current);
  return i < 0 || i === sessions.length - 1 ? undefined : sessions[i + 1];
}

export function family(kind: string): string {
  const i = kind.indexOf('.');
  return i < 0 ? kind : kind.slice(0, i);
}

/** All the text a `/` search looks at (what a row shows, and the process's command line and directory). */
export function searchText(ev: WardenEvent): string {
  const parts = [ev.kind, ev.rule ?? '', ev.category ?? '', summary(ev), ev.agent?.name ?? '', ev.agent?.session ?? ''];
  if (ev.proc) parts.push(ev.proc.exe, ev.proc.argv.join(' '), String(ev.proc.pid), ev.proc.cwd);
  if (ev.agent?.cwd) parts.push(ev.agent.cwd);
  if (ev.file) parts.push(ev.file.path, ev.file.src ?? '', ev.file.target ?? '');
  if (ev.net) parts.push(ev.net.host ?? '', ev.net.dst_ip ?? '', ev.net.path ?? '', ev.net.dst_port !== undefined ? String(ev.net.dst_port) : '');
  if (ev.dns) parts.push(ev.dns.query);
  if (ev.sandbox) parts.push(ev.sandbox.id);
  return parts.join('\u0000').toLowerCase();
}

export function matches(ev: WardenEvent, f: TopFilters): boolean {
  if (!f.routine && isRoutine(ev)) return false;
  if (f.severity && !atLeast(ev.severity, f.severity)) return false;
  if (f.agent !== undefined) {
    const a = ev.agent;
    if (!a || (a.session !== f.agent && a.name !== f.agent && String(a.root_pid) !== f.agent)) return false;
  }
  if (f.kind !== undefined && ev.kind !== f.kind && family(ev.kind) !== f.kind) return false;
  if (f.text) {
    if (!searchText(ev).includes(f.text.toLowerCase())) return false;
  }
  return true;
}

/** One line describing the active filters, for the stream's title. */
export function describeFilters(f: TopFilters, agentLabel?: (a: string) => string): string {
  const parts: string[] = [];
  parts.push(f.severity ? `severity ≥ ${f.severity}` : 'all severities');
  parts.push(f.agent ? `agent ${agentLabel ? agentLabel(f.agent) : f.agent}` : 'all agents');
  parts.push(f.kind ? `kind ${f.kind}` : 'all kinds');
  if (f.text) parts.push(`text "${f.text}"`);
  if (f.routine) parts.push('with routine');
  return parts.join(' · ');
}

export function isEmpty(f: TopFilters): boolean {
  return !f.severity && f.agent === undefined && f.kind === undefined && !f.text;
}
