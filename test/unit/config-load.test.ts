import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.js';
import { loadWatchConfig } from '../../src/config/watch-config.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmpFile(text: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-cfg-'));
  dirs.push(d);
  const f = path.join(d, 'watch.yaml');
  fs.writeFileSync(f, text);
  return f;
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('watch config loading', () => {
  it('defaults when no file is given', () => {
    const c = loadWatchConfig(undefined);
    expect(c.rules.min_severity).toBe('info');
    expect(c.agents).toEqual([]);
  });

  it('accepts a valid file', () => {
    const f = tmpFile('agents:\n  - name: my-agent\n    binary: my-agent\n    args_regex: "--serve"\nnetwork:\n  allow: ["github.com"]\n');
    const c = loadWatchConfig(f);
    expect(c.agents[0]).toEqual({ name: 'my-agent', binary: 'my-agent', args_regex: '--serve' });
    expect(c.network.allow).toEqual(['github.com']);
  });

  it('resolves relative rule files against the config directory, not the current one (as rules lint -c does)', () => {
    const f = tmpFile('rules:\n  files: [mine.yaml, rules.d, /etc/warden/abs.yaml]\n');
    const dir = path.dirname(f);
    expect(loadWatchConfig(path.relative(process.cwd(), f)).rules.files).toEqual([path.join(dir, 'mine.yaml'), path.join(dir, 'rules.d'), '/etc/warden/abs.yaml']);
  });

  it('names file and line of a rules.disable entry that matches no rule and of a bad network.allow entry (it said <config>)', async () => {
    const { loadClassifier } = await import('../../src/cli/classifier.js');
    const f = tmpFile('agents: []\nrules:\n  disable:\n    - disc_process_list_all\n    - no_such_rule\n');
    await expect(loadClassifier(loadWatchConfig(f))).rejects.toThrow(`${f}:5: rules.disable[1]: no rule matches "no_such_rule"`);
    const g = tmpFile('network:\n  allow: [github.com, "*"]\n');
    await expect(loadClassifier(loadWatchConfig(g))).rejects.toThrow(`${g}:2: network.allow[1]: invalid destination`);
  });

  it('refuses a YAML alias bomb as a config error naming the file (it was a stack trace)', () => {
    const f = tmpFile('a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n');
    const e = errorOf(() => loadWatchConfig(f));
    expect(e.message).toMatch(new RegExp(`^${f}: YAML: Excessive alias count`));
  });

  it('names file, line and key of an unknown key', () => {
    const f = tmpFile('agents: []\nrules:\n  files: []\n  min_severty: warn\n');
    const e = errorOf(() => loadWatchConfig(f));
    expect(e.file).toBe(f);
    expect(e.line).toBe(4);
    expect(e.key).toBe('rules.min_severty');
    expect(e.message).toContain('unknown key');
  });

  it('names the line of a wrong type inside a list', () => {
    const f = tmpFile('agents:\n  - name: a\n    binary: a\n  - name: b\n    binary: 7\n');
    const e = errorOf(() => loadWatchConfig(f));
    expect(e.line).toBe(5);
    expect(e.key).toBe('agents[1].binary');
  });

  it('rejects a bad regex with its line', () => {
    const f = tmpFile('agents:\n  - name: a\n    binary: a\n    args_regex: "(unclosed"\n');
    const e = errorOf(() => loadWatchConfig(f));
    expect(e.line).toBe(4);
    expect(e.key).toBe('agents[0].args_regex');
  });

  it('reports YAML syntax errors with a line', () => {
    const f = tmpFile('agents:\n  - name: a\n   binary: [\n');
    const e = errorOf(() => loadWatchConfig(f));
    expect(e.line).toBeGreaterThan(0);
    expect(e.message).toContain('YAML');
  });

  it('reports a missing file', () => {
    const e = errorOf(() => loadWatchConfig('/nonexistent/warden.yaml'));
    expect(e.message).toContain('ENOENT');
  });
});
