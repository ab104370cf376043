// `warden rules import-sigma FILE|DIR`: reads Sigma rules, converts what the specification and
// Warden's events allow (convert.ts), checks that every converted rule compiles against the
// default ruleset, and writes Warden rule YAML with each rule's provenance and the Detection Rule
// License attribution. Every rule it cannot convert is reported with the reason.
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { ConfigError } from '../../config/load.js';
import { compileRules } from '../index.js';
import { convertSigma, type WardenRuleDef } from './convert.js';
import { parseSigma, SigmaError, type SigmaRule } from './sigma.js';

export interface ImportEntry {
  file: string;
  title?: string;
  id?: string;
  logsource: string;
  rule?: WardenRuleDef;
  sigma?: SigmaRule;
  reason?: string;
  /** A converted rule's caveat (level lowered for want of ATT&CK tags). */
  note?: string;
}

export interface ImportResult {
  converted: ImportEntry[];
  skipped: ImportEntry[];
}

/** Sigma rule files under the paths (files as given; directories walked for *.yml / *.yaml). */
export function sigmaFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = fs.statSync(p);
    if (st.isDirectory()) {
      for (const e of fs.readdirSync(p).sort()) walk(path.join(p, e));
    } else if (/\.ya?ml$/i.test(p)) out.push(p);
  };
  for (const p of paths) {
    if (!fs.existsSync(p)) throw new ConfigError(p, undefined, undefined, 'no such file or directory');
    if (fs.statSync(p).isDirectory()) walk(p);
    else out.push(p);
  }
  return out;
}

/** Converts the rules under the paths; `base` names files relative to it in the provenance. */
export function importSigma(paths: readonly string[], base?: string): ImportResult {
  const converted: ImportEntry[] = [];
  const skipped: ImportEntry[] = [];
  for (const file of sigmaFiles(paths)) {
    const rel = base ? path.relative(base, file) : file;
    let sigma: SigmaRule;
    try {
      sigma = parseSigma(fs.readFileSync(file, 'utf8'), rel);
    } catch (err) {
      if (!(err instanceof SigmaError)) throw err;
      skipped.push({ file: rel, logsource: '-', reason: err.message });
      continue;
    }
    const c = convertSigma(sigma);
    const head = { file: rel, title: sigma.title, ...(sigma.id ? { id: sigma.id } : {}), logsource: c.logsource, sigma };
    if (!c.ok) {
      skipped.push({ ...head, reason: c.reason });
      continue;
    }
    // the condition must compile against Warden's fields and the default macros
    try {
      compileRules({ sources: [{ file: rel, text: renderPack([c.rule], '') }] });
    } catch (err) {
      skipped.push({ ...head, reason: `does not compile: ${(err as Error).message}` });
      continue;
    }
    converted.push({ ...head, rule: c.rule, ...(c.note ? { note: c.note } : {}) });
  }
  const ids = new Map<string, number>();
  for (const e of converted) {
    const n = ids.get(e.rule!.id) ?? 0;
    ids.set(e.rule!.id, n + 1);
    if (n) e.rule!.id = `${e.rule!.id}_${n + 1}`;
  }
  return { converted, skipped };
}

export const DRL_NOTICE = `Converted from Sigma rules (SigmaHQ community rules) by \`warden rules import-sigma\`.
The rules are under the Detection Rule License (DRL) 1.1: each rule keeps its title, id, author
and references in \`origin\`. https://github.com/SigmaHQ/Detection-Rule-License`;

/** Warden rule YAML for converted rules, with the licence notice as a header comment. */
export function renderPack(rules: WardenRuleDef[], header: string = DRL_NOTICE): string {
  const body = stringify({ rules }, { lineWidth: 0, aliasDuplicateObjects: false });
  return (header ? header.split('\n').map((l) => `# ${l}`.trimEnd()).join('\n') + '\n' : '') + body;
}

/** Markdown table: converted / not convertible by logsource. */
export function logsourceTable(r: ImportResult): string {
  const rows = new Map<string, { ok: number; no: number }>();
  for (const e of r.converted) (rows.get(e.logsource) ?? rows.set(e.logsource, { ok: 0, no: 0 }).get(e.logsource)!).ok++;
  for (const e of r.skipped) (rows.get(e.logsource) ?? rows.set(e.logsource, { ok: 0, no: 0 }).get(e.logsource)!).no++;
  let out = '| logsource | converted | not convertible |\n|---|---|---|\n';
  for (const [k, v] of [...rows.entries()].sort((a, b) => b[1].ok + b[1].no - (a[1].ok + a[1].no))) out += `| ${k} | ${v.ok} | ${v.no} |\n`;
  out += `| **all** | **${r.converted.length}** | **${r.skipped.length}** |\n`;
  return out;
}

/** The reasons rules could not be converted, with how many rules each. */
export function reasonSummary(r: ImportResult): Array<[string, number]> {
  const m = new Map<string, number>();
  for (const e of r.skipped) {
    const key = (e.reason ?? '').replace(/"[^"]*"|\([^)]*\)$/g, '…').replace(/^field \S+: /, 'field: ').slice(0, 120);
    m.set(key, (m.get(key) ?? 0) + 1);
  }
  return [...m.entries()].sort((a, b) => b[1] - a[1]);
}
