// `warden rules list | lint | test` implementations.
import fs from 'node:fs';
import path from 'node:path';
import { configSource, loadWatchConfig } from '../config/watch-config.js';
import { compileRules, defaultFixturesDir, type LoadRuleEngineOptions } from '../rules/index.js';
import { Engine } from '../rules/engine.js';
import { fixtureFiles, runFixtureFiles } from '../rules/fixtures.js';

interface CommonOpts {
  config?: string;
  rules?: string[];
  defaults?: boolean;
}

function loadOpts(opts: CommonOpts, extraFiles: string[] = []): LoadRuleEngineOptions {
  const cfg = loadWatchConfig(opts.config);
  return {
    defaults: opts.defaults !== false,
    files: [...cfg.rules.files /* absolute: loadWatchConfig resolves them against the config's directory */, ...(opts.rules ?? []), ...extraFiles],
    packs: cfg.rules.packs,
    disable: cfg.rules.disable,
    networkAllow: cfg.network.allow,
    config: configSource(cfg),
  };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export async function rulesList(opts: CommonOpts & { json?: boolean }): Promise<number> {
  const engine = new Engine(compileRules(loadOpts(opts)));
  const rules = engine.rules();
  if (opts.json) {
    process.stdout.write(JSON.stringify(rules, null, 2) + '\n');
    return 0;
  }
  const w = (l: string) => process.stdout.write(l + '\n');
  w(`${pad('ID', 36)} ${pad('TYPE', 9)} ${pad('SEVERITY', 8)} ${pad('CATEGORY', 21)} ${pad('MITRE', 22)} ${pad('ON', 3)} SOURCE`);
  for (const r of rules) {
    w(`${pad(r.id, 36)} ${pad(r.type, 9)} ${pad(r.severity, 8)} ${pad(r.category ?? '-', 21)} ${pad(r.mitre.join(','), 22)} ${pad(r.enabled ? 'yes' : 'no', 3)} ${r.source}`);
  }
  const on = rules.filter((r) => r.enabled).length;
  w(`\n${rules.length} rules (${on} enabled): ${rules.filter((r) => r.type === 'rule').length} event rules, ${rules.filter((r) => r.type === 'sequence').length} sequences, ${rules.filter((r) => r.type === 'threshold').length} thresholds`);
  return 0;
}

export async function rulesLint(files: string[], opts: CommonOpts): Promise<number> {
  const set = compileRules(loadOpts(opts, files));
  const warnings: string[] = [];
  for (const s of set.sequences) {
    if (!s.enabled) continue;
    for (const st of s.steps) {
      if (st.rules.length && st.rules.every((i) => !set.rules[i]!.enabled)) {
        warnings.push(`${s.source}: sequence ${s.id}: step ${st.name} refers only to disabled rules; it can never match`);
      }
    }
  }
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  process.stdout.write(
    `ok: ${set.rules.length} rules, ${set.sequences.length} sequences, ${set.thresholds.length} thresholds${files.length ? ` (checked ${files.join(', ')})` : ''}\n`,
  );
  return 0;
}

export async function rulesTest(paths: string[], opts: CommonOpts & { coverage?: boolean; verbose?: boolean }): Promise<number> {
  const base = loadOpts(opts);
  const set = compileRules(base);
  const files = fixtureFiles(paths.length ? paths : [defaultFixturesDir()]);
  const report = runFixtureFiles(set, files, (file, text) => compileRules({ ...base, sources: [...(base.sources ?? []), { file, text }] }));
  let failed = 0;
  for (const r of report.results) {
    const where = `${path.relative(process.cwd(), r.file) || r.file}${r.line ? `:${r.line}` : ''}`;
    if (r.ok) {
      if (opts.verbose) process.stdout.write(`PASS ${where} ${r.name}\n`);
      continue;
    }
    failed++;
    process.stdout.write(`FAIL ${where} ${r.name}\n`);
    for (const p of r.problems) process.stdout.write(`     ${p}\n`);
  }
  process.stdout.write(`${report.results.length - failed}/${report.results.length} fixtures passed (${files.length} files)\n`);
  if (opts.coverage) {
    const ids = [...set.rules, ...set.sequences, ...set.thresholds].filter((r) => r.enabled).map((r) => r.id);
    const noPos = ids.filter((id) => !report.positive.has(id));
    const noNeg = ids.filter((id) => !report.negative.has(id));
    process.stdout.write(`rules without a firing fixture (${noPos.length}): ${noPos.join(', ') || '-'}\n`);
    process.stdout.write(`rules without a not-firing fixture (${noNeg.length}): ${noNeg.join(', ') || '-'}\n`);
    if (noPos.length || noNeg.length) return failed ? 1 : 1;
  }
  return failed ? 1 : 0;
}

export async function rulesImportSigma(paths: string[], opts: { output?: string; report?: string; quiet?: boolean }): Promise<number> {
  const { importSigma, renderPack, logsourceTable, reasonSummary } = await import('../rules/sigma/index.js');
  // provenance names files relative to the directory given (as the corpus lays them out)
  const r = importSigma(paths, paths.length === 1 && fs.statSync(paths[0]!).isDirectory() ? paths[0] : undefined);
  const text = renderPack(r.converted.map((e) => e.rule!));
  if (opts.output) fs.writeFileSync(opts.output, text);
  else process.stdout.write(text);
  if (opts.report) {
    const rows = [...r.converted, ...r.skipped].map((e) => ({ file: e.file, id: e.id, title: e.title, logsource: e.logsource, converted: !!e.rule, rule: e.rule?.id, reason: e.reason }));
    fs.writeFileSync(opts.report, JSON.stringify(rows, null, 2) + '\n');
  }
  if (!opts.quiet) {
    const err = (l: string) => process.stderr.write(l + '\n');
    err(logsourceTable(r));
    for (const e of r.skipped) err(`not converted: ${e.file}: ${e.reason}`);
    err(`\nreasons: ${reasonSummary(r).map(([k, n]) => `${n}x ${k}`).join('; ')}`);
  }
  return 0;
}
