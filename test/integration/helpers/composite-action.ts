// Runs a composite GitHub Action (action.yml) the way a runner does, for tests on a machine
// without one: inputs with their defaults, `${{ }}` expressions of the subset the action uses
// (inputs.*, github.action_path, steps.ID.outputs.*, always(), ==, !=, &&), each `run:` step
// as `bash --noprofile --norc -eo pipefail FILE` with its `env:` and a fresh GITHUB_OUTPUT
// file whose `name=value` lines become the step's outputs, GITHUB_STEP_SUMMARY shared by the
// job, later steps skipped after a failure unless their `if:` says always(). `uses:` steps
// (upload-artifact) are not run: they are returned with their evaluated `with:` to check.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

interface StepDef {
  name?: string;
  id?: string;
  if?: string;
  shell?: string;
  run?: string;
  uses?: string;
  env?: Record<string, string>;
  with?: Record<string, string>;
}

export interface StepResult {
  name: string;
  id?: string;
  ran: boolean;
  code?: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  uses?: string;
  with?: Record<string, string>;
}

export interface ActionResult {
  failed: boolean;
  steps: StepResult[];
  outputs: Record<string, string>;
  summary: string;
}

export function runCompositeAction(actionDir: string, inputs: Record<string, string>, o: { env: Record<string, string>; tmp: string }): ActionResult {
  const action = parse(fs.readFileSync(path.join(actionDir, 'action.yml'), 'utf8')) as {
    inputs: Record<string, { default?: string; required?: boolean }>;
    outputs: Record<string, { value: string }>;
    runs: { using: string; steps: StepDef[] };
  };
  if (action.runs.using !== 'composite') throw new Error('not a composite action');
  const inp: Record<string, string> = {};
  for (const [k, d] of Object.entries(action.inputs)) {
    if (!(k in inputs) && d.required) throw new Error(`input ${k} is required`);
    inp[k] = inputs[k] ?? d.default ?? '';
  }
  for (const k of Object.keys(inputs)) if (!(k in action.inputs)) throw new Error(`unknown input ${k}`);
  const steps: Record<string, Record<string, string>> = {};
  const value = (ref: string): string => {
    const r = ref.trim();
    let m: RegExpExecArray | null;
    if ((m = /^'(.*)'$/.exec(r))) return m[1]!;
    if ((m = /^inputs\.([\w-]+)$/.exec(r))) {
      if (!(m[1]! in inp)) throw new Error(`undeclared input ${m[1]}`);
      return inp[m[1]!]!;
    }
    if (r === 'github.action_path') return actionDir;
    if ((m = /^steps\.([\w-]+)\.outputs\.([\w-]+)$/.exec(r))) return steps[m[1]!]?.[m[2]!] ?? '';
    throw new Error(`expression not supported by this test runner: ${r}`);
  };
  const truth = (expr: string, failed: boolean): boolean =>
    expr.split('&&').every((t) => {
      const x = t.trim();
      if (x === 'always()') return true;
      if (x === 'failure()') return failed;
      if (x === 'success()') return !failed;
      const m = /^(.+?)\s*(==|!=)\s*(.+)$/.exec(x);
      if (m) return (value(m[1]!) === value(m[3]!)) === (m[2] === '==');
      return value(x) !== '';
    });
  const expand = (s: string) => s.replace(/\$\{\{\s*(.+?)\s*\}\}/g, (_, e: string) => value(e));
  const ifExpr = (s: string | undefined) => (s ?? 'success()').replace(/^\$\{\{\s*(.*?)\s*\}\}$/, '$1');

  const summary = path.join(o.tmp, 'step_summary.md');
  fs.writeFileSync(summary, '');
  let failed = false;
  const results: StepResult[] = [];
  action.runs.steps.forEach((def, i) => {
    const name = def.name ?? `step ${i}`;
    const cond = ifExpr(def.if);
    const runs = /\b(always|failure)\(\)/.test(cond) ? truth(cond, failed) : !failed && truth(cond, failed);
    if (!runs) {
      results.push({ name, id: def.id, ran: false, stdout: '', stderr: '', outputs: {} });
      return;
    }
    if (def.uses) {
      results.push({ name, id: def.id, ran: true, stdout: '', stderr: '', outputs: {}, uses: def.uses, with: Object.fromEntries(Object.entries(def.with ?? {}).map(([k, v]) => [k, expand(String(v))])) });
      return;
    }
    if (def.shell !== 'bash') throw new Error(`${name}: only shell: bash is supported here`);
    const script = path.join(o.tmp, `step-${i}.sh`);
    fs.writeFileSync(script, expand(def.run!));
    const out = path.join(o.tmp, `output-${i}`);
    fs.writeFileSync(out, '');
    const env = { ...o.env, GITHUB_OUTPUT: out, GITHUB_STEP_SUMMARY: summary, GITHUB_ACTION_PATH: actionDir };
    for (const [k, v] of Object.entries(def.env ?? {})) env[k] = expand(String(v));
    const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], { env, cwd: o.env.GITHUB_WORKSPACE, encoding: 'utf8', timeout: 120_000 });
    const outputs: Record<string, string> = {};
    for (const line of fs.readFileSync(out, 'utf8').split('\n')) {
      const m = /^([\w-]+)=(.*)$/.exec(line);
      if (m) outputs[m[1]!] = m[2]!;
    }
    if (def.id) steps[def.id] = outputs;
    const code = r.status ?? 128;
    if (code !== 0) failed = true;
    results.push({ name, id: def.id, ran: true, code, stdout: r.stdout, stderr: r.stderr, outputs });
  });
  const outputs = Object.fromEntries(Object.entries(action.outputs).map(([k, v]) => [k, expand(v.value)]));
  return { failed, steps: results, outputs, summary: fs.readFileSync(summary, 'utf8') };
}
