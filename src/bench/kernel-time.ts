// Where the compiled sensor's kernel time goes: the run time and run count of each of its BPF
// programs (kernel.bpf_stats_enabled) over one workload run. The stats add a clock read per
// program run, so they are taken in a run of their own, never in the runs that are timed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export interface ProgTime {
  name: string;
  ns: number;
  runs: number;
}

const STATS = '/proc/sys/kernel/bpf_stats_enabled';

/** Program ids of the BPF programs a process holds open. */
function progIds(pid: number): Set<number> {
  const ids = new Set<number>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const id = /^prog_id:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1];
      if (id) ids.add(Number(id));
    } catch {
      /* closed meanwhile */
    }
  }
  return ids;
}

function snapshot(ids: Set<number>): Map<string, { ns: number; runs: number }> {
  const all = JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json'], { maxBuffer: 1 << 27 }).toString()) as Array<{ id: number; name?: string; run_time_ns?: number; run_cnt?: number }>;
  const out = new Map<string, { ns: number; runs: number }>();
  for (const p of all) if (ids.has(p.id)) out.set(`${p.name ?? '?'}#${p.id}`, { ns: p.run_time_ns ?? 0, runs: p.run_cnt ?? 0 });
  return out;
}

/** Why per-program times cannot be had here, or undefined. */
export function kernelTimeUnavailable(): string | undefined {
  try {
    execFileSync('bpftool', ['version'], { stdio: 'ignore' });
  } catch {
    return 'no bpftool';
  }
  return fs.existsSync(STATS) ? undefined : `no ${STATS}`;
}

/**
 * Runs `work` with BPF run-time statistics on and returns the time of each program held by
 * `pid` (the loader) over it, most expensive first. The sysctl is put back as it was.
 */
export async function kernelTime(pid: number, work: () => Promise<void>): Promise<ProgTime[]> {
  const ids = progIds(pid);
  const was = fs.readFileSync(STATS, 'utf8').trim();
  fs.writeFileSync(STATS, '1');
  let before: Map<string, { ns: number; runs: number }>;
  let after: Map<string, { ns: number; runs: number }>;
  try {
    before = snapshot(ids);
    await work();
    after = snapshot(ids);
  } finally {
    fs.writeFileSync(STATS, was);
  }
  const out: ProgTime[] = [];
  for (const [k, v] of after) {
    const b = before.get(k) ?? { ns: 0, runs: 0 };
    if (v.runs > b.runs) out.push({ name: k.replace(/#\d+$/, ''), ns: v.ns - b.ns, runs: v.runs - b.runs });
  }
  return out.sort((a, b) => b.ns - a.ns);
}
