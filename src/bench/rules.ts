// Issue #3 benchmark: `warden replay` of a recorded 1,000,000-event file through the default
// ruleset. The file is generated (event-gen.ts: a realistic kind mix). Measured in a child
// process pinned to one core: the same-run baseline of splitting and JSON.parse-ing every
// line, the replay with the prefilter (what `warden replay --stats` does), and the replay with
// --strict (every line parsed, validated and classified). Then the CLI itself:
// `warden replay FILE --stats`. Figures: events/s, ratios to the parse-only baseline, peak RSS.
// Events/s are per second of CPU time of the pinned process (one core's work, not inflated by
// neighbours on a shared machine); wall-clock rates are logged beside them.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeEventFile } from './event-gen.js';
import { ratio, type Bench, type Figure } from './types.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const WARDEN = path.resolve(here, '..', '..', 'bin', 'warden');

interface WorkerResult {
  mode: string;
  lines: number;
  processed: number;
  alerts: number;
  seconds: number;
  cpuSeconds: number;
  /** Lines per CPU second. */
  eps: number;
  wallEps: number;
  maxRssMb: number;
}

/** One core: the second CPU when there are several (the first takes interrupts). */
function pin(): string[] {
  const cpus = os.cpus().length;
  const has = spawnSync('sh', ['-c', 'command -v taskset']).status === 0;
  return has ? ['taskset', '-c', String(cpus > 1 ? 1 : 0)] : [];
}

function worker(file: string, mode: string): WorkerResult {
  const p = pin();
  const node = [process.execPath, path.join(here, 'rules-worker.js'), file, mode];
  const [cmd, ...args] = p.length ? [...p, ...node] : node;
  const out = execFileSync(cmd!, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop()!) as WorkerResult;
}

const bench: Bench = {
  name: 'rules',
  issue: 3,
  description: 'warden replay of 1,000,000 recorded events through the default ruleset (one core)',
  async run(ctx) {
    const n = Math.round(1_000_000 * ctx.scale);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-rules-'));
    const file = path.join(dir, 'events.ndjson');
    try {
      const bytes = writeEventFile(file, n, 7);
      ctx.log(`generated ${n} events (${(bytes / 1e6).toFixed(0)} MB, ${(bytes / n).toFixed(0)} B/event)`);
      const best = (mode: string, reps: number): WorkerResult => {
        let b: WorkerResult | undefined;
        for (let i = 0; i < reps; i++) {
          const r = worker(file, mode);
          if (!b || r.eps > b.eps) b = r;
        }
        return b!;
      };
      // best of two: the machine is shared; the slower run measures the neighbours
      const parse = best('parse', 2);
      const replay = best('replay', 2);
      const strict = best('strict', 1);
      ctx.log(`parse-only ${parse.eps.toFixed(0)}/s (wall ${parse.wallEps.toFixed(0)}); replay ${replay.eps.toFixed(0)}/s (wall ${replay.wallEps.toFixed(0)}; ${replay.processed} of ${replay.lines} lines parsed, ${replay.alerts} alerts); strict ${strict.eps.toFixed(0)}/s`);

      // the CLI, end to end (process start, rule loading, reading the file)
      const t0 = process.hrtime.bigint();
      const cli = spawnSync(WARDEN, ['replay', file, '--stats', '--json'], { encoding: 'utf8', maxBuffer: 1 << 24 });
      const cliSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (cli.status !== 0) throw new Error(`warden replay failed (${cli.status}): ${cli.stderr}`);
      const cliStats = JSON.parse(cli.stderr.trim().split('\n').pop()!) as { lines: number; peak_rss_mb: number; alerts: number; events_per_second: number };
      const cliEps = cliStats.lines / cliSeconds;
      ctx.log(`warden replay --stats: ${cliEps.toFixed(0)} events/s wall (${cliStats.events_per_second}/s after start-up), peak RSS ${cliStats.peak_rss_mb} MB`);

      const figures: Figure[] = [
        {
          id: 'rules.replay_eps',
          label: 'replay through the default ruleset (events/s of CPU, one core)',
          value: replay.eps,
          unit: 'ev/s',
          target: '>= 500000',
          met: replay.eps >= 500_000,
          note: `${((replay.processed / replay.lines) * 100).toFixed(1)}% of lines parsed`,
        },
        ratio('rules.replay_vs_parse', 'replay / JSON.parse-only baseline (events/s)', replay.eps, parse.eps, { lowerIsBetter: false }),
        ratio('rules.strict_vs_parse', 'replay --strict (every line parsed) / JSON.parse-only', strict.eps, parse.eps, { lowerIsBetter: false }),
        { id: 'rules.parse_eps', label: 'baseline: split + JSON.parse only (events/s)', value: parse.eps, unit: 'ev/s' },
        { id: 'rules.strict_eps', label: 'replay --strict (events/s)', value: strict.eps, unit: 'ev/s' },
        { id: 'rules.replay_rss_mb', label: 'replay peak RSS (in-process)', value: replay.maxRssMb, unit: 'MB', note: `parse-only: ${parse.maxRssMb.toFixed(0)} MB` },
        ratio('rules.cli_vs_parse', 'warden replay FILE --stats (wall, incl. start-up) / parse-only', cliEps, parse.eps, { lowerIsBetter: false }),
        { id: 'rules.cli_rss_mb', label: 'warden replay --stats peak RSS', value: cliStats.peak_rss_mb, unit: 'MB' },
      ];
      if (replay.alerts !== strict.alerts) figures.push({ id: 'rules.prefilter_mismatch', label: 'ALERT COUNT DIFFERS between prefilter and strict', value: replay.alerts - strict.alerts, unit: 'alerts' });
      return figures;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
