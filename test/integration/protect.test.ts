// Issue #14: kernel-refused reads in `warden watch` (protect). A fake key is refused by the
// kernel to an agent's child and readable by a process outside agent trees; Warden's own
// config and audit log are closed to the agent too; a rule's `deny` action adds a path; a
// decision that takes too long is allowed and reported (fail-open); a killed monitor leaves
// nothing blocked.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startWatch, type RunningWatch } from '../helpers/watch.js';

const root = process.getuid?.() === 0;

function agentRun(name: string, script: string, cwd: string): Promise<{ code: number | null; out: string; pid: number }> {
  return new Promise((resolve) => {
    const c = spawn('bash', ['-c', script], { argv0: name, cwd, env: { PATH: process.env.PATH, HOME: cwd }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    c.stderr!.on('data', (d) => (out += d));
    c.on('close', (code) => resolve({ code, out, pid: c.pid! }));
  });
}

describe.skipIf(!root)('protect: kernel-refused reads in warden watch (issue #14)', () => {
  const dirs: string[] = [];
  const watches: RunningWatch[] = [];
  afterAll(async () => {
    for (const w of watches) await w.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  function setup(extra = ''): { dir: string; key: string; cfg: string; other: string } {
    const dir = fs.mkdtempSync('/tmp/warden-protect-');
    dirs.push(dir);
    const key = path.join(dir, 'id_fake');
    const other = path.join(dir, 'deploy.token');
    fs.writeFileSync(key, '-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n');
    fs.writeFileSync(other, 'token\n');
    fs.writeFileSync(
      path.join(dir, 'rules.yaml'),
      'rules:\n  - id: user_deny_token\n    description: the deploy token is refused once an agent touched it\n    kinds: [file.open]\n    condition: file.path.endsWith("/deploy.token")\n    severity: alert\n    category: credential_access\n    mitre: [T1552.001]\n    action: deny\n',
    );
    const cfg = path.join(dir, 'watch.yaml');
    fs.writeFileSync(
      cfg,
      [
        'sensor: { persist: false }',
        'agents: [{ name: protagent, binary: protagent }]',
        "governor: { defaults: { mode: 'off' }, agents: { protagent: { mode: warn } } }",
        `rules: { files: [${path.join(dir, 'rules.yaml')}] }`,
        `protect: { builtin: false, paths: [${key}]${extra} }`,
        '',
      ].join('\n'),
    );
    return { dir, key, cfg, other };
  }

  it("refuses the key (and Warden's own files) to the agent's child, not to a normal process; a deny rule adds a path", async () => {
    const t = setup();
    const w = await startWatch(['--config', t.cfg]);
    watches.push(w);
    await w.waitFor((e) => e.kind === 'monitor.protect', 10_000, 'monitor.protect');
    const r = await agentRun('protagent', `sleep 0.5; cat ${t.key}; echo "key $?"; cat ${t.cfg} > /dev/null; echo "cfg $?"; cat ${w.file} > /dev/null; echo "log $?"; cat ${t.other} > /dev/null; sleep 1; cat ${t.other}; echo "token $?"`, t.dir);
    expect(r.out).toMatch(/key 1/);
    expect(r.out).toMatch(/Operation not permitted/);
    expect(r.out).toMatch(/cfg 1/);
    expect(r.out).toMatch(/log 1/);
    expect(r.out).toMatch(/token 1/);
    expect(fs.readFileSync(t.key, 'utf8')).toMatch(/fake/); // this test process is in no agent tree
    expect(spawnSync('cat', [t.key]).status).toBe(0);
    const deny = await w.waitFor((e) => e.kind === 'action.deny' && e.file?.path === t.key, 10_000, 'action.deny of the key');
    expect(deny.severity).toBe('alert');
    expect(deny.agent?.root_pid).toBe(r.pid);
    expect(deny.proc?.argv).toEqual(['cat', t.key]);
    const added = await w.waitFor((e) => e.kind === 'action.deny' && e.rule === 'user_deny_token', 10_000, 'the deny rule action');
    expect(added.file?.path).toBe(t.other);
    expect(spawnSync('cat', [t.other]).status).toBe(0);
    await w.stop();
  }, 90_000);

  it('a decision that takes too long is allowed and reported; a killed monitor leaves nothing waiting', async () => {
    const t = setup(', decision_timeout_ms: 100');
    const w = await startWatch(['--config', t.cfg], { env: { WARDEN_PROTECT_TEST_DELAY_MS: '1500' } });
    watches.push(w);
    await w.waitFor((e) => e.kind === 'monitor.protect', 10_000, 'monitor.protect');
    const r = await agentRun('protagent', `sleep 0.5; cat ${t.key} > /dev/null; echo "key $?"`, t.dir);
    expect(r.out).toMatch(/key 0/);
    const late = await w.waitFor((e) => e.kind === 'monitor.protect_timeout', 10_000, 'monitor.protect_timeout');
    expect(late.severity).toBe('alert');
    const gone = new Promise((res) => w.child.once('exit', res));
    w.child.kill('SIGKILL');
    await gone;
    watches.splice(watches.indexOf(w), 1);
    const after = await agentRun('protagent', `cat ${t.key} > /dev/null; echo "after $?"`, t.dir);
    expect(after.out).toMatch(/after 0/);
  }, 90_000);
});
