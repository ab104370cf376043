// `npm run bench [-- NAME...]`: runs the benchmarks, prints every figure with its baseline,
// and writes bench/results/latest.json so the figures can be compared across commits.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadBenches } from './registry.js';
import type { Figure } from './types.js';

function fmt(n: number | undefined, unit = ''): string {
  if (n === undefined || Number.isNaN(n)) return '-';
  const s = Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(3);
  return unit ? `${s} ${unit}` : s;
}

async function main(): Promise<number> {
  const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const scale = process.env.BENCH_QUICK ? 0.1 : 1;
  const benches = (await loadBenches()).filter((b) => only.length === 0 || only.includes(b.name));
  const results: Record<string, { issue: number; figures: Figure[]; skipped?: string; error?: string }> = {};
  for (const b of benches) {
    process.stdout.write(`\n== ${b.name} (issue #${b.issue}): ${b.description}\n`);
    const why = await b.unavailable?.();
    if (why) {
      process.stdout.write(`   skipped: ${why}\n`);
      results[b.name] = { issue: b.issue, figures: [], skipped: why };
      continue;
    }
    try {
      const figures = await b.run({ scale, log: (m) => process.stdout.write(`   ${m}\n`) });
      for (const f of figures) {
        const base = f.baseline !== undefined ? `  (${fmt(f.measured)} / ${fmt(f.baseline)})` : '';
        const tgt = f.target ? `  target ${f.target} ${f.met ? 'met' : 'NOT met'}` : '';
        process.stdout.write(`   ${f.label.padEnd(56)} ${fmt(f.value, f.unit).padStart(12)}${base}${tgt}${f.note ? `  [${f.note}]` : ''}\n`);
      }
      results[b.name] = { issue: b.issue, figures };
    } catch (err) {
      process.stdout.write(`   FAILED: ${(err as Error).stack ?? err}\n`);
      results[b.name] = { issue: b.issue, figures: [], error: String(err) };
    }
  }
  const out = path.join(process.cwd(), 'bench', 'results');
  fs.mkdirSync(out, { recursive: true });
  const file = path.join(out, only.length ? `latest-${only.join('-')}.json` : 'latest.json');
  fs.writeFileSync(
    file,
    JSON.stringify({ date: new Date().toISOString(), host: { cpus: os.cpus().length, kernel: os.release(), node: process.version }, results }, null, 2) + '\n',
  );
  process.stdout.write(`\nresults written to ${path.relative(process.cwd(), file)}\n`);
  return Object.values(results).some((r) => r.error) ? 1 : 0;
}

main().then((c) => (process.exitCode = c));
