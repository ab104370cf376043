// `warden top` implementation: finds the monitor's socket, explains what to do when there is
// none, then runs the ink app on the alternate screen and restores the terminal however it
// ends (q, Ctrl-C, SIGTERM, SIGHUP, a crash).
import React from 'react';
import { render } from 'ink';
import { defaultSocketPath } from '../../util/xdg.js';
import { SEVERITIES, type Severity } from '../../events/types.js';
import { UsageError } from '../main.js';
import { App } from './app.js';
import type { TopFilters } from './filters.js';
import { NoMonitorError, TopSource } from './source.js';

export interface TopOptions {
  socket?: string;
  severity?: string;
  agent?: string;
  kind?: string;
  search?: string;
  replay?: string;
}

const ENTER_ALT = '\x1b[?1049h\x1b[H\x1b[2J';
const LEAVE_ALT = '\x1b[?25h\x1b[?1049l';

export function initialFilters(o: TopOptions): TopFilters {
  const f: TopFilters = {};
  if (o.severity) {
    if (!(SEVERITIES as readonly string[]).includes(o.severity)) throw new UsageError(`--severity must be one of ${SEVERITIES.join(', ')}`);
    if (o.severity !== 'info') f.severity = o.severity as Severity;
  }
  if (o.agent) f.agent = o.agent;
  if (o.kind) f.kind = o.kind;
  if (o.search) f.text = o.search;
  return f;
}

export function noMonitorHelp(err: NoMonitorError): string {
  const lines = [`warden top: ${err.message}`];
  if (err.reason === 'missing' || err.reason === 'refused') {
    lines.push(
      '',
      'Start a monitor first, in another terminal or as a service:',
      '  sudo warden watch                 # monitor every agent on this machine (API on /run/warden/warden.sock)',
      '  warden watch                      # without root: degraded /proc poller, socket in $XDG_RUNTIME_DIR/warden',
      '  sudo warden demo --hold           # or watch the demo: a scripted rogue agent, then run top again',
      '',
      'If the monitor uses another socket (api.socket in its config), pass it: warden top --socket PATH',
    );
  }
  return lines.join('\n') + '\n';
}

export async function runTop(o: TopOptions): Promise<number> {
  const filters = initialFilters(o);
  const socket = o.socket ?? defaultSocketPath();
  const replay = o.replay !== undefined ? Number(o.replay) : 2000;
  if (!Number.isInteger(replay) || replay < 0 || replay > 10000) throw new UsageError('--replay must be an integer from 0 to 10000');
  const source = new TopSource({ socket, replay });
  try {
    await source.start();
  } catch (err) {
    if (err instanceof NoMonitorError) {
      process.stderr.write(noMonitorHelp(err));
      return 1;
    }
    throw err;
  }
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    source.close();
    process.stderr.write('warden top: needs a terminal (stdin and stdout must be a TTY); for scripts use `warden events --follow`\n');
    return 2;
  }

  const out = process.stdout;
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    out.write(LEAVE_ALT);
  };
  out.write(ENTER_ALT);
  process.once('exit', restore);
  const app = render(<App source={source} socket={socket} initial={filters} />, { exitOnCtrlC: true, patchConsole: true, maxFps: 20 });
  const onSignal = () => app.unmount();
  for (const s of ['SIGTERM', 'SIGHUP'] as const) process.once(s, onSignal);
  try {
    await app.waitUntilExit();
  } finally {
    for (const s of ['SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
    source.close();
    restore();
  }
  const st = source.status;
  if (!st.connected && st.error) process.stderr.write(`warden top: ${st.error}\n`);
  return 0;
}
