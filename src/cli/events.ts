// `warden events`: reads the audit log and its rotated (gzip) backups oldest first, filters by
// time, severity, agent, rule and kind, prints a table or NDJSON, and with --follow keeps
// printing new events across rotations.
import fs from 'node:fs';
import path from 'node:path';
import { loadWatchConfig } from '../config/watch-config.js';
import type { WardenEvent } from '../events/types.js';
import { auditFiles } from '../sinks/audit-files.js';
import { followAuditLog, readAuditLog } from '../sinks/audit-reader.js';
import { compileFilter, FilterError, parseFilter } from '../sinks/filter.js';
import { agentLabel, summary } from '../sinks/format.js';
import { defaultAuditLog } from '../util/xdg.js';
import { UsageError } from './main.js';

export interface EventsOptions {
  file?: string;
  config?: string;
  since?: string;
  until?: string;
  severity?: string;
  agent?: string;
  rule?: string;
  kind?: string;
  last?: string;
  json?: boolean;
  follow?: boolean;
}

const COLOR = { alert: '\x1b[31m', warn: '\x1b[33m', info: '' } as const;

export function tableRow(ev: WardenEvent, width: number, color: boolean): string {
  const ts = ev.ts.replace('T', ' ').replace(/Z$/, '');
  const sev = ev.severity.toUpperCase().padEnd(5);
  const what = (ev.rule ?? ev.kind).padEnd(32);
  const agent = agentLabel(ev).padEnd(16);
  const pid = String(ev.proc?.pid ?? '').padStart(7);
  let line = `${ts}  ${sev}  ${what}  ${agent}  ${pid}  ${summary(ev).replace(/[\r\n\t\x1b]/g, ' ')}`;
  if (line.length > width) line = line.slice(0, width - 1) + '…';
  return color && COLOR[ev.severity] ? `${COLOR[ev.severity]}${line}\x1b[0m` : line;
}

export async function runEvents(o: EventsOptions): Promise<number> {
  const file = o.file ?? (o.config ? loadWatchConfig(o.config).output.file : undefined) ?? defaultAuditLog();
  let filter;
  try {
    filter = parseFilter({ since: o.since, until: o.until, severity: o.severity, agent: o.agent, rule: o.rule, kind: o.kind });
  } catch (err) {
    if (err instanceof FilterError) throw new UsageError(err.message);
    throw err;
  }
  let last: number | undefined;
  if (o.last !== undefined) {
    last = Number(o.last);
    if (!Number.isInteger(last) || last < 0) throw new UsageError('--last must be a non-negative integer');
  }
  // A directory (the state dir, say) failed later with a bare "Error: EISDIR".
  if (fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`${file} is a directory; pass the audit log file (e.g. ${path.join(file, 'events.ndjson')})`);
  }
  if (auditFiles(file).length === 0) {
    // --follow waits for the log to appear; say so, or a wrong path looks like a quiet monitor.
    if (o.follow) process.stderr.write(`warden events: no audit log at ${file} yet; waiting for it (Ctrl-C to stop)\n`);
    else {
      process.stderr.write(`warden events: no audit log at ${file} (is \`warden watch\` writing elsewhere? use --file or --config)\n`);
      return 1;
    }
  }
  const pred = compileFilter(filter);
  const tty = process.stdout.isTTY === true;
  const width = tty ? (process.stdout.columns ?? 160) : Infinity;
  const lines: string[] = [];
  const flushOut = () => {
    if (lines.length === 0) return;
    process.stdout.write(lines.join('\n') + '\n');
    lines.length = 0;
  };
  const print = (ev: WardenEvent) => {
    lines.push(o.json ? JSON.stringify(ev) : tableRow(ev, width, tty));
    if (lines.length >= 512) flushOut();
  };
  if (!o.json && tty) process.stdout.write(`${'TIME (UTC)'.padEnd(23)}  SEV    ${'RULE / KIND'.padEnd(32)}  ${'AGENT'.padEnd(16)}  ${'PID'.padStart(7)}  WHAT\n`);

  let tail: WardenEvent[] | undefined = last !== undefined ? [] : undefined;
  const st = await readAuditLog(
    file,
    pred,
    (ev) => {
      if (tail) {
        tail.push(ev);
        if (tail.length > last!) tail.shift();
      } else print(ev);
    },
    filter,
  );
  for (const ev of tail ?? []) print(ev);
  tail = undefined;
  flushOut();
  if (st.bad > 0) process.stderr.write(`warden events: ${st.bad} unreadable line(s) skipped\n`);
  if (!o.follow) return 0;

  // Follow on from exactly where the read stopped (same file), else from the new file's start.
  const h = followAuditLog(
    file,
    (ev) => {
      if (pred(ev)) {
        print(ev);
        flushOut();
      }
    },
    st.live ? { fromOffset: st.live.offset, ino: st.live.ino, after: st.lastEvent } : { fromStart: true },
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      h.stop();
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.stdout.once('error', stop); // reader went away (| head)
  });
  flushOut();
  return 0;
}

