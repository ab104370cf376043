// Issue #11: ordinary developer sessions under the real `warden watch` (default rules and the
// optional Sigma pack) raise no alert. Each session (src/bench/benign-sessions.ts) runs as a
// `claude`-named stub agent in a disposable namespace with loopback only: version-manager shims,
// npm ci + tests, pip install -e + pytest, cargo, git with pre-commit hooks and a rebase, make and
// make clean, archives, a loopback docs server, tsserver, direnv, and the start-up of the real
// Claude Code, Codex and Gemini CLIs of test/agents with no network. RECORD_BENIGN=1 rewrites the
// recordings the unit test replays (test/fixtures/benign).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { evidenceUnavailable, runEvidence } from '../../src/bench/atomics-harness.js';
import { BENIGN_SESSIONS, EXPECTED_WARNINGS } from '../../src/bench/benign-sessions.js';

const why = evidenceUnavailable();
const FIXTURES = path.resolve(__dirname, '..', 'fixtures', 'benign');

describe.skipIf(why !== undefined)('benign corpus under the real sensor', () => {
  it('every developer session runs, is seen, and raises no alert (defaults + sigma pack)', async () => {
    const log: string[] = [];
    const r = await runEvidence({ atomics: [], sessions: BENIGN_SESSIONS, packs: ['sigma'], log: (m) => log.push(m) });
    const lines = r.sessions.map((s) => `${s.name}: ${s.skipped ? `skipped (${s.skipped})` : `${s.events} events, ${s.alerts} alerts, ${s.warnings} warnings, exit ${s.exitCode}`}${s.rules.length ? '\n    ' + s.rules.join('\n    ') : ''}`);
    process.stdout.write(`\n${lines.join('\n')}\nlost: ${r.lost}\n`);
    if (process.env['RECORD_BENIGN'] === '1') {
      fs.mkdirSync(FIXTURES, { recursive: true });
      for (const s of r.sessions.filter((x) => !x.skipped)) {
        fs.writeFileSync(path.join(FIXTURES, `${s.name}.ndjson.gz`), zlib.gzipSync(s.recorded.map((e) => JSON.stringify(e)).join('\n') + '\n', { level: 9 }));
      }
    }
    const ran = r.sessions.filter((s) => !s.skipped);
    // the sessions that need nothing beyond scripts/setup.sh always run
    expect(ran.map((s) => s.name)).toEqual(expect.arrayContaining(['git-npm-edit', 'pip-editable-pytest', 'direnv', 'make-c', 'archives', 'docs-server', 'git-hooks-rebase', 'tsserver']));
    for (const s of ran) {
      expect(s.agentSeen, s.name).toBe(true);
      expect(s.exitCode, `${s.name} exit`).toBe(0);
      expect(s.alerts, `${s.name}: ${s.rules.join('; ')}`).toBe(0);
      const unexpected = s.rules.filter((x) => x.startsWith('warn:') && !(EXPECTED_WARNINGS[s.name] ?? []).some((id) => x.startsWith(`warn:${id}:`)));
      expect(unexpected, s.name).toEqual([]);
    }
    expect(r.lost).toBe(0);
  }, 1_800_000);
});

if (why) {
  describe('benign corpus under the real sensor', () => {
    it.skip(`skipped: ${why}`, () => {});
  });
}
