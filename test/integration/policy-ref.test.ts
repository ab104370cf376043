// `warden run --policy-ref` end to end (the built CLI, as root, network allowlist): a pull
// request checked out over main edits .warden/policy.yaml to allow another host; the run takes
// main's policy from git objects, so the edit has no effect (the name is not even resolvable
// inside), is reported on stderr and in the audit, and main's tightening (a lower timeout, a
// shorter allowlist) applies. Control: the same edited file given with --policy does widen.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { scratch, SCRATCH_BASE, warden, type Scratch } from './helpers/warden-run.js';

const GIT_ENV = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' };
const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'init.defaultBranch=main', ...args], { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();
const events = (f: string) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as WardenEvent);
// Each name resolved inside through the sandbox's DNS (Warden's responder: allowed names only).
const LOOKUP = 'for h in a.test b.test evil.test; do if getent hosts $h >/dev/null; then echo "$h=resolves"; else echo "$h=refused"; fi; done';

let s: Scratch;
let ws: string;
let opsPolicy: string;
beforeAll(() => {
  fs.mkdirSync(SCRATCH_BASE, { recursive: true, mode: 0o755 });
  s = scratch();
  ws = path.join(s.root, 'repo');
  fs.mkdirSync(path.join(ws, '.warden'), { recursive: true });
  git(ws, 'init', '-q');
  // main: the repository allows a.test only and lowers the timeout.
  fs.writeFileSync(path.join(ws, '.warden/policy.yaml'), 'network:\n  mode: allowlist\n  allow: [a.test]\nresources:\n  timeout: 2s\n  timeout_grace: 1s\n');
  git(ws, 'add', '-A');
  git(ws, 'commit', '-qm', 'policy');
  git(ws, 'update-ref', 'refs/remotes/origin/main', 'HEAD');
  // The pull request: widens the allowlist and lifts the timeout in its checked-out copy.
  git(ws, 'checkout', '-qb', 'pr');
  fs.writeFileSync(path.join(ws, '.warden/policy.yaml'), 'network:\n  mode: allowlist\n  allow: [a.test, evil.test]\n');
  git(ws, 'commit', '-qam', 'widen');
  // The operator's base policy, outside the repository.
  opsPolicy = path.join(s.root, 'ops.yaml');
  fs.writeFileSync(opsPolicy, 'network:\n  mode: allowlist\n  allow: [a.test, b.test, evil.test]\n');
});
afterAll(() => s?.cleanup());

describe('warden run --policy-ref', () => {
  it("takes main's policy from git: the pull request's widening has no effect and is reported; the tightening applies", async () => {
    const audit = path.join(s.root, 'ref.ndjson');
    const r = await warden(['run', '--policy', opsPolicy, '--policy-ref', 'origin/main:.warden/policy.yaml', '--audit', audit, '--', '/bin/sh', '-c', LOOKUP], { cwd: ws });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('a.test=resolves');
    expect(r.stdout).toContain('b.test=refused'); // tightened: main does not list it
    expect(r.stdout).toContain('evil.test=refused'); // the PR's edit: no effect
    expect(r.stderr).toMatch(/policy from origin\/main:\.warden\/policy\.yaml \(commit [0-9a-f]{12}, refs\/remotes\/origin\/main\) laid over .*ops\.yaml/);
    expect(r.stderr).toContain('network.allow: ["a.test"] (destinations both policies allow)');
    expect(r.stderr).toContain('the checked-out .warden/policy.yaml is modified compared with origin/main: it has no effect on this run');
    const ev = events(audit);
    const start = ev.find((e) => e.kind === 'sandbox.start')!;
    expect(start.data?.policy_ref).toMatchObject({ ref: 'origin/main', path: '.warden/policy.yaml', worktree_changes: [{ path: '.warden/policy.yaml', change: 'modified' }] });
    expect((start.data?.policy_ref as { tightened: Array<{ key: string; value: unknown }> }).tightened).toContainEqual(expect.objectContaining({ key: 'network.allow', value: ['a.test'] }));
    const warn = ev.find((e) => e.kind === 'sandbox.policy');
    expect(warn).toMatchObject({ severity: 'warn', rule: 'sandbox.policy_worktree_change' });
    expect(ev.filter((e) => e.kind === 'net.dns' && (e.dns as { query: string }).query === 'evil.test').every((e) => (e.data as { decision: string }).decision !== 'allow')).toBe(true);

    const t = await warden(['run', '--policy', opsPolicy, '--policy-ref', 'origin/main:.warden/policy.yaml', '--', '/bin/sh', '-c', 'sleep 30'], { cwd: ws });
    expect(t.code).toBe(124); // main's 2 s timeout
  });

  it('control: the edited file itself (what a plain --policy in the checkout would read) does widen', async () => {
    const r = await warden(['run', '--policy', path.join(ws, '.warden/policy.yaml'), '--', '/bin/sh', '-c', LOOKUP], { cwd: ws });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('evil.test=resolves');
  });

  it('refuses a ref a branch shadows, and a policy that is not valid (exit 2, naming REF:PATH and the key)', async () => {
    git(ws, 'branch', 'origin/main');
    try {
      const r = await warden(['run', '--policy-ref', 'origin/main:.warden/policy.yaml', '--', 'true'], { cwd: ws });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/ambiguous/);
    } finally {
      git(ws, 'branch', '-D', 'origin/main');
    }
    git(ws, 'checkout', '-q', '-b', 'badmain', 'origin/main');
    fs.writeFileSync(path.join(ws, '.warden/policy.yaml'), 'network:\n  mode: wide\n');
    git(ws, 'commit', '-qam', 'bad');
    const r = await warden(['run', '--policy-ref', 'badmain:.warden/policy.yaml', '--', 'true'], { cwd: ws });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/badmain:\.warden\/policy\.yaml:2: network\.mode/);
  });
});
