// Layout arithmetic and row building for `warden top`, kept out of the React components so it
// can be tested without a terminal: which rows fit, which slice of the stream is on screen,
// and the text of each table row.
import type { GovernedInfo } from '../../actions/governor/governor.js';
import type { SessionInfo } from '../../sinks/control.js';
import type { WardenEvent } from '../../events/types.js';
import type { EgressRow } from './egress.js';
import { agentShort, bytes, clock, cut, cutLeft, describe, duration, fit, fitDescription } from './format.js';
import type { TreeMemory } from './procmem.js';

export interface Layout {
  sessionRows: number;
  streamRows: number;
}

/** Rows: header 1, sessions title+header 2 + rows, stream title 1 + rows, footer 1; one spare. */
export function layout(rows: number, sessionCount: number): Layout {
  const usable = Math.max(rows - 1, 8);
  const fixed = 1 + 2 + 1 + 1;
  const wantSessions = Math.max(1, Math.min(sessionCount, 6));
  const sessionRows = Math.max(1, Math.min(wantSessions, Math.floor((usable - fixed) / 3)));
  const streamRows = Math.max(1, usable - fixed - sessionRows);
  return { sessionRows, streamRows };
}

/**
 * The slice of `count` rows to show, `height` at a time, keeping `selected` visible and moving
 * the window as little as possible from `prevTop`.
 */
export function scrollWindow(count: number, height: number, selected: number, prevTop: number): number {
  if (count <= height) return 0;
  let top = Math.min(Math.max(prevTop, 0), count - height);
  if (selected < top) top = selected;
  if (selected >= top + height) top = selected - height + 1;
  return Math.max(0, Math.min(top, count - height));
}

/** Alive first, then most recently started. */
export function sortSessions(s: SessionInfo[]): SessionInfo[] {
  return [...s].sort((a, b) => Number(b.alive) - Number(a.alive) || Date.parse(b.started) - Date.parse(a.started));
}

export interface SessionColumns {
  tool: number;
  pid: number;
  up: number;
  mem: number;
  n: number;
  state: number;
  cwd: number;
}

export function sessionColumns(width: number): SessionColumns {
  // Narrow terminals (80 columns) keep room for the project: tighter numeric columns.
  const c = width < 110 ? { tool: 12, pid: 7, up: 7, mem: 11, n: 5, state: 7, cwd: 0 } : { tool: 14, pid: 8, up: 8, mem: 15, n: 6, state: 7, cwd: 0 };
  const used = 2 + c.tool + c.pid + c.up + c.mem + c.n * 3 + c.state + 7;
  c.cwd = Math.max(0, width - used);
  return c;
}

export function sessionHeader(c: SessionColumns): string {
  return (
    '  ' +
    [fit('TOOL', c.tool), fit('PID', c.pid), fit('UPTIME', c.up), fit('MEM/LIMIT', c.mem), fit('ALERT', c.n), fit('WARN', c.n), fit('INFO', c.n), fit('STATE', c.state), cut('PROJECT', c.cwd)].join(' ')
  );
}

export function memoryText(m: TreeMemory | undefined, alive: boolean): string {
  if (!alive) return '-';
  if (!m) return '?';
  return m.limitBytes !== undefined ? `${bytes(m.rssBytes)}/${bytes(m.limitBytes)}` : `${bytes(m.rssBytes)}`;
}

export interface SessionCells {
  tool: string;
  pid: string;
  up: string;
  mem: string;
  alert: string;
  warn: string;
  info: string;
  state: string;
  cwd: string;
}

export function sessionCells(s: SessionInfo, c: SessionColumns, mem: TreeMemory | undefined, now = Date.now(), gov?: GovernedInfo): SessionCells {
  // A tool of the session the governor paused, throttled or froze shows in the state column.
  const held = gov?.tools.find((t) => t.state === 'paused' || t.state === 'throttled' || t.state === 'frozen');
  const govMem = gov?.memory.usage !== undefined ? `${bytes(gov.memory.usage)}/${bytes(gov.memory.high)}` : undefined;
  return {
    tool: fit(s.name, c.tool),
    pid: fit(String(s.root_pid), c.pid),
    up: fit(s.alive ? duration(now - Date.parse(s.started)) : '-', c.up),
    mem: fit(s.alive && govMem ? govMem : memoryText(mem, s.alive), c.mem),
    alert: fit(String(s.counts.alert ?? 0), c.n),
    warn: fit(String(s.counts.warn ?? 0), c.n),
    info: fit(String(s.counts.info ?? 0), c.n),
    state: fit(!s.alive ? 'ended' : gov?.frozen ? 'FROZEN' : (held?.state ?? 'running'), c.state),
    cwd: cutLeft(s.cwd ?? '', c.cwd),
  };
}

/** Stream row text after the severity column: time, severity, agent, description. */
export function streamCells(ev: WardenEvent, width: number, acked: boolean): { time: string; sev: string; agent: string; text: string } {
  const time = clock(ev.ts);
  const sev = fit(ev.severity === 'info' ? 'info' : ev.severity.toUpperCase(), 5);
  const agentWidth = width < 110 ? 12 : 16;
  const agent = fit(agentShort(ev), agentWidth);
  const rest = Math.max(0, width - 2 - 9 - 6 - agentWidth - 1);
  const text = fitDescription((acked ? '✓ ' : '') + describe(ev), rest);
  return { time, sev, agent, text };
}

export function egressCells(r: EgressRow, width: number): string {
  const owner = fit(r.ownerLabel, 28);
  const dest = fit(r.dest, 28);
  const ports = fit(r.ports.join(',') || '-', 10);
  const verdict = r.scope === 'sandbox' ? fit(`${r.allowed} ok / ${r.denied} denied`, 18) : fit(`${r.seen} seen`, 18);
  const why = r.denied > 0 ? `${r.lastReason ?? ''}${r.suggest ? ` (allow: ${r.suggest})` : ''}` : (r.lastReason ?? '');
  return cut(`  ${owner} ${dest} ${ports} ${verdict} ${why}`, width);
}
