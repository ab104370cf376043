import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PERSISTENCE_PATHS, SECRET_PATHS } from '../../src/config/defaults.js';
import { severityRank, type WardenEvent } from '../../src/events/types.js';
import { compileRules, defaultFixturesDir, loadRuleEngine } from '../../src/rules/index.js';
import { fixtureFiles, loadFixtureFile, runFixture, runFixtureFiles } from '../../src/rules/fixtures.js';

const base = compileRules({});
const files = fixtureFiles([defaultFixturesDir()]);

describe('default rule fixtures', () => {
  for (const file of files) {
    const ff = loadFixtureFile(file);
    const set = ff.extraRules ? compileRules({ sources: [{ file: `${file}#extra_rules`, text: ff.extraRules }] }) : base;
    ff.fixtures.forEach((f, i) => {
      it(`${file.split('/').pop()}: ${f.name}`, () => {
        const r = runFixture(set, file, ff.defaults, f, i);
        expect(r.problems).toEqual([]);
      });
    });
  }

  it('every default rule has a fixture where it fires and one where it does not', () => {
    const report = runFixtureFiles(base, files, (file, text) => compileRules({ sources: [{ file, text }] }));
    const ids = [...base.rules, ...base.sequences, ...base.thresholds].map((r) => r.id);
    expect(ids.length).toBeGreaterThan(90);
    expect(ids.filter((id) => !report.positive.has(id))).toEqual([]);
    expect(ids.filter((id) => !report.negative.has(id))).toEqual([]);
  });

  it('a fixture naming a rule id that does not exist fails (a misspelt not_fire passed for ever)', () => {
    const f = { name: 'typo', events: [{ kind: 'file.open', file: { path: '/tmp/x', op: 'read' } }], expect: { fire: [], not_fire: ['cred_read_sshkey_typo', 'warden.loss'] } };
    const r = runFixture(base, 'typo.yaml', {}, f, 0);
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual(['unknown rule id "cred_read_sshkey_typo": no loaded rule, sequence or threshold has it']);
  });

  it('a fixture event with a non-string argv fails that fixture; a bad defaults.start is a config error (both were stack traces)', () => {
    const f = { name: 'argv', events: [{ kind: 'process.exec', proc: { argv: [1, 2] } }], expect: { fire: [], not_fire: [] } };
    expect(runFixture(base, 'argv.yaml', {}, f, 0).problems).toEqual(['event 0: invalid: proc.argv: expected a list of strings']);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-fx-'));
    const file = path.join(dir, 'start.yaml');
    fs.writeFileSync(file, 'defaults:\n  start: garbage\nfixtures: []\n');
    expect(() => loadFixtureFile(file)).toThrow(`${file}:2: defaults.start: expected an ISO date`);
    fs.rmSync(dir, { recursive: true });
  });

  it('the benign session raises nothing above info', () => {
    const ff = loadFixtureFile(files.find((f) => f.endsWith('benign-session.yaml'))!);
    const r = runFixture(base, ff.file, ff.defaults, ff.fixtures[0]!, 0);
    expect(r.problems).toEqual([]);
    expect(r.events.length).toBeGreaterThan(80);
    expect(r.events.filter((e) => e.severity !== 'info')).toEqual([]);
  });
});

/** A concrete path for a pattern of src/config/defaults.ts. */
function concrete(pattern: string): string {
  let p = pattern;
  if (p.startsWith('~/')) p = '/home/dev/' + p.slice(2);
  else if (p.startsWith('**/')) p = '/home/dev/.local/lib/python3.11/' + p.slice(3);
  p = p.replace(/\*/g, 'x');
  return p;
}

describe('built-in path lists are covered by the default rules', () => {
  const engine = loadRuleEngine({});
  // An agent none of the lists belongs to: each agent's own token files are another's secrets.
  const agent = { name: 'my-agent', root_pid: 1, session: 's', cwd: '/home/dev/project', home: '/home/dev' };
  const run = (ev: Partial<WardenEvent>): WardenEvent => {
    let out: WardenEvent | undefined;
    engine.process({ ts: '2026-01-01T00:00:00.000Z', severity: 'info', kind: 'file.open', agent, proc: { pid: 9, ppid: 1, exe: '/usr/bin/cat', argv: ['cat'], cwd: '/home/dev/project', uid: 1000 }, ...ev }, (e) => {
      out ??= e as WardenEvent;
    });
    return out!;
  };

  for (const { pattern, what } of SECRET_PATHS) {
    it(`reading ${pattern} (${what}) is reported`, () => {
      const e = run({ file: { path: concrete(pattern), op: 'read', flags: ['read'] } });
      expect(severityRank(e.severity)).toBeGreaterThanOrEqual(severityRank('warn'));
      expect(['credential_access', 'discovery']).toContain(e.category);
    });
  }

  for (const { pattern, what } of PERSISTENCE_PATHS) {
    it(`writing ${pattern} (${what}) is an alert`, () => {
      const path = pattern.endsWith('*.pth') ? concrete(pattern.replace('*.pth', 'evil.pth')) : concrete(pattern) + (pattern.includes('.') && !pattern.endsWith('/hooks') ? '' : '/x');
      const e = run({ proc: { pid: 9, ppid: 1, exe: '/usr/bin/sh', argv: ['sh'], cwd: '/home/dev/project', uid: 0 }, file: { path, op: 'create', flags: ['write', 'create'] } });
      expect(e.severity).toBe('alert');
      expect(['persistence', 'privilege_escalation']).toContain(e.category);
    });
  }
});
