// The benign corpus: developer sessions recorded under the real sensor (test/fixtures/benign,
// recorded by test/integration/benign-corpus.test.ts with RECORD_BENIGN=1), replayed through the
// current rules - the defaults and the optional Sigma pack. Ordinary work raises no alert, and
// only the warnings listed here, each one a reviewer would call right.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { UnstampedEvent } from '../../src/events/types.js';
import { EXPECTED_WARNINGS } from '../../src/bench/benign-sessions.js';
import { loadRuleEngine } from '../../src/rules/index.js';

const DIR = path.resolve(__dirname, '..', 'fixtures', 'benign');


function replay(file: string, packs: string[]): UnstampedEvent[] {
  const engine = loadRuleEngine({ packs });
  const out: UnstampedEvent[] = [];
  for (const line of zlib.gunzipSync(fs.readFileSync(file)).toString('utf8').split('\n')) {
    if (!line.trim()) continue;
    const e = JSON.parse(line) as UnstampedEvent & Record<string, unknown>;
    if (e.kind.startsWith('alert.') || e.kind === 'rule.error') continue;
    for (const k of ['rule', 'category', 'mitre', 'message', 'also']) delete e[k];
    e.severity = 'info';
    engine.process(e, (x) => out.push(x));
  }
  return out;
}

const files = fs.existsSync(DIR) ? fs.readdirSync(DIR).filter((f) => f.endsWith('.ndjson.gz')).sort() : [];

describe('benign corpus (recorded developer sessions)', () => {
  it('has the sessions of the issue recorded', () => {
    const names = files.map((f) => f.replace('.ndjson.gz', ''));
    expect(names).toEqual(expect.arrayContaining(['git-npm-edit', 'pyenv-python', 'pip-editable-pytest', 'make-c', 'archives', 'docs-server', 'git-hooks-rebase', 'tsserver', 'claude-code-startup', 'codex-startup', 'gemini-cli-startup']));
  });
  for (const f of files) {
    const name = f.replace('.ndjson.gz', '');
    for (const packs of [[], ['sigma']]) {
      it(`${name}: no alert, only the expected warnings (rules: defaults${packs.length ? ' + ' + packs.join(', ') : ''})`, () => {
        const evs = replay(path.join(DIR, f), packs);
        expect(evs.length).toBeGreaterThan(50);
        const alerts = evs.filter((e) => e.severity === 'alert').map((e) => `${e.rule}: ${e.message}`);
        expect(alerts).toEqual([]);
        const warns = [...new Set(evs.filter((e) => e.severity === 'warn').map((e) => e.rule))];
        expect(warns.filter((r) => !(EXPECTED_WARNINGS[name] ?? []).includes(r!))).toEqual([]);
        expect(evs.filter((e) => e.severity === 'warn').length).toBeLessThanOrEqual(5);
      });
    }
  }
});
