// One-line human summaries of events, for the stdout text format, terminal notifications and
// the `warden events` table. The JSON event stays the source of truth.
import type { WardenEvent } from '../events/types.js';

export function target(ev: WardenEvent): string {
  if (ev.file) return ev.file.src ? `${ev.file.src} -> ${ev.file.path}` : ev.file.path;
  if (ev.net) {
    if (ev.net.path) return ev.net.path;
    const host = ev.net.host ? `${ev.net.host}` : (ev.net.dst_ip ?? ev.net.local_ip ?? '');
    const port = ev.net.dst_port ?? ev.net.local_port;
    return port !== undefined ? `${host}:${port}` : host;
  }
  if (ev.dns) return `${ev.dns.query} ${ev.dns.qtype}`;
  if (ev.kind === 'process.exec' && ev.proc) return ev.proc.argv.join(' ');
  return '';
}

export function summary(ev: WardenEvent): string {
  if (ev.message) return ev.message;
  const t = target(ev);
  if (t) return t;
  if (ev.data) {
    const s = JSON.stringify(ev.data);
    return s.length > 200 ? s.slice(0, 197) + '...' : s;
  }
  return '';
}

export function agentLabel(ev: WardenEvent): string {
  return ev.agent ? `${ev.agent.name}[${ev.agent.root_pid}]` : '';
}

/** `2026-01-01T12:00:00.123Z ALERT secret.read claude[123] pid=456 reads ~/.ssh/id_rsa` */
export function textLine(ev: WardenEvent): string {
  const parts = [ev.ts, ev.severity.toUpperCase().padEnd(5), ev.rule ?? ev.kind];
  const a = agentLabel(ev);
  if (a) parts.push(a);
  if (ev.proc) parts.push(`pid=${ev.proc.pid}`);
  parts.push(summary(ev).replace(/[\r\n\x1b]/g, ' '));
  return parts.join(' ');
}
