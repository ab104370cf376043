// The governor's user actions as one-shot API calls: list, freeze, resume, kill, limit.
// Exit codes: 0 done, 1 the monitor refused or failed, 2 usage (bad size).
import type { GovernedInfo } from '../actions/governor/governor.js';
import { fmtBytes } from '../actions/governor/limits.js';
import { RpcError } from '../sinks/api-client.js';
import { parseSize } from '../util/size.js';
import { defaultSocketPath } from '../util/xdg.js';
import { connectMonitor } from './top/source.js';

const say = (m: string) => process.stderr.write(`warden: ${m}\n`);

async function call<T>(method: string, params: Record<string, unknown>, socket?: string): Promise<T> {
  const c = await connectMonitor(socket ?? defaultSocketPath());
  try {
    return await c.call<T>(method, params);
  } finally {
    c.close();
  }
}

/** One state-changing call; prints what the monitor answered. */
export async function governorCall(method: string, params: Record<string, unknown>, socket?: string): Promise<number> {
  try {
    const r = await call<{ ok: boolean; error?: string }>(method, params, socket);
    if (!r.ok) {
      say(`${method}: ${r.error ?? 'failed'}`);
      return 1;
    }
    process.stdout.write(`${method.replace('session.', '')}: ${String(params.session)}${params.pid ? ` pid ${String(params.pid)}` : ''}: done\n`);
    return 0;
  } catch (err) {
    say(err instanceof RpcError ? `${method}: ${err.message}` : (err as Error).message);
    return 1;
  }
}

export async function governorLimit(session: string, o: { high?: string; max?: string; socket?: string }): Promise<number> {
  const params: Record<string, unknown> = { session };
  try {
    if (o.high !== undefined) params.memory_high = parseSize(o.high);
    if (o.max !== undefined) params.memory_max = parseSize(o.max);
  } catch (err) {
    say(`limit: ${(err as Error).message}`);
    return 2;
  }
  if (params.memory_high === undefined && params.memory_max === undefined) {
    say('limit: give --high SIZE and/or --max SIZE');
    return 2;
  }
  return governorCall('session.limit', params, o.socket);
}

export async function governorList(o: { json?: boolean; socket?: string }): Promise<number> {
  let rows: GovernedInfo[];
  try {
    rows = await call<GovernedInfo[]>('governor.list', {}, o.socket);
  } catch (err) {
    say((err as Error).message);
    return 1;
  }
  if (o.json) {
    for (const r of rows) process.stdout.write(JSON.stringify(r) + '\n');
    return 0;
  }
  for (const r of rows) process.stdout.write(formatGoverned(r) + '\n');
  if (!rows.length) process.stdout.write('no governed sessions\n');
  return 0;
}

export function formatGoverned(r: GovernedInfo): string {
  const m = r.memory;
  const pct = m.usage !== undefined ? ` (${Math.round((m.usage / m.high) * 100)} %)` : '';
  const lines = [
    `${r.session}${r.frozen ? '  FROZEN' : ''}  mode ${r.mode}  memory ${m.usage !== undefined ? fmtBytes(m.usage) : '?'} of ${fmtBytes(m.high)} soft / ${fmtBytes(m.max)} hard${pct}` +
      `  cpu ${r.cpu.cores !== undefined ? `${r.cpu.cores} cores` : '?'}  pids ${r.pids.current ?? '?'}${r.pids.max ? `/${r.pids.max}` : ''}` +
      (r.unenforced ? `  (not enforced: ${r.unenforced})` : m.enforced_by ? `  [cgroup ${m.enforced_by}]` : ''),
  ];
  for (const t of r.tools) lines.push(`  tool ${t.pid} ${t.state}  ${t.usage !== undefined ? fmtBytes(t.usage) : '?'}${t.limit ? ` of ${fmtBytes(t.limit)}` : ''}  ${t.argv.join(' ').slice(0, 80)}`);
  return lines.join('\n');
}
