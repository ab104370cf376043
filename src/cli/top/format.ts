// Short text forms used by `warden top` (and the demo): durations, sizes, clock times, one-line
// event descriptions, and fitting text into a column.
import type { WardenEvent } from '../../events/types.js';
import { summary } from '../../sinks/format.js';

export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

export function bytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  const units = ['B', 'K', 'M', 'G', 'T'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)}${units[i]}`;
}

/** `12:04:05` in local time (what a person watching expects). */
export function clock(ts: string): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '--:--:--';
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((x) => String(x).padStart(2, '0')).join(':');
}

/** Removes control characters (an agent controls paths and argv: no terminal escapes). */
export function clean(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, ' ');
}

export function fit(s: string, width: number): string {
  if (width <= 0) return '';
  if (s.length <= width) return s.padEnd(width);
  if (width === 1) return '…';
  return s.slice(0, width - 1) + '…';
}

export function cut(s: string, width: number): string {
  if (width <= 0) return '';
  return s.length <= width ? s : width === 1 ? '…' : s.slice(0, width - 1) + '…';
}

/** Keeps the end (a path's file name matters more than its first directories): `…/src/app.ts`. */
export function cutLeft(s: string, width: number): string {
  if (width <= 0) return '';
  return s.length <= width ? s : width === 1 ? '…' : '…' + s.slice(s.length - width + 1);
}

/**
 * Fits an event description: the rule or kind first, then the text; when it does not fit, the
 * middle of the longest path-like word gives way before its end does.
 */
export function fitDescription(s: string, width: number): string {
  if (s.length <= width || width < 20) return cut(s, width);
  const words = s.split(' ');
  let longest = -1;
  for (let i = 1; i < words.length; i++) if (words[i]!.includes('/') && (longest < 0 || words[i]!.length > words[longest]!.length)) longest = i;
  if (longest < 0) return cut(s, width);
  const over = s.length - width;
  const w = words[longest]!;
  if (w.length - over < 8) return cut(s, width);
  words[longest] = cutLeft(w, w.length - over);
  return cut(words.join(' '), width);
}

/** What the stream shows for an event after its time/severity/agent columns. */
export function describe(ev: WardenEvent): string {
  const label = ev.rule ?? ev.kind;
  let text = summary(ev);
  if (!ev.message && ev.proc && ev.kind !== 'process.exec' && text) text = `${text}  (${procName(ev)})`;
  if (ev.kind === 'process.exec' && !ev.proc?.argv.length && typeof ev.data?.filename === 'string') text = ev.data.filename;
  if (!text && ev.proc) text = ev.proc.argv.join(' ');
  return clean(`${label}  ${text}`);
}

export function procName(ev: WardenEvent): string {
  const p = ev.proc;
  if (!p) return '';
  const a0 = p.argv[0] ?? p.exe;
  return a0.slice(a0.lastIndexOf('/') + 1) || p.exe;
}

export function agentShort(ev: WardenEvent): string {
  if (ev.agent) return `${ev.agent.name}:${ev.agent.root_pid}`;
  if (ev.sandbox) return `sandbox:${ev.sandbox.id}`;
  return '';
}
