// The GitHub Action (action.yml + deploy/action/) run as a runner runs it (helpers/
// composite-action.ts: inputs, expressions, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_WORKSPACE)
// on a pull-request checkout: main's .warden/policy.yaml allows a.test; the pull request widens
// its checked-out copy to evil.test. The action takes main's policy from git (the widening has
// no effect and the summary says so), the summary lists each denial with the allow entry that
// would have permitted it and the alert the command caused, the audit is where the upload step
// is told to look, and fail-on-alerts fails the step. The install step is run with the
// AppArmor user-namespace restriction of Ubuntu 24.04 simulated (sysctl file, apparmor.d and
// apparmor_parser pointed at temp files).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCompositeAction } from './helpers/composite-action.js';
import { readEvents, REPO, scratch, SCRATCH_BASE, type Scratch } from './helpers/warden-run.js';

const GIT_ENV = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' };
const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'init.defaultBranch=main', ...args], { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();
const BASE_POLICY = 'network:\n  mode: allowlist\n  allow: [a.test, b.test, evil.test]\n';
const LOOKUP = 'for h in a.test b.test evil.test; do getent hosts $h >/dev/null && echo "$h=resolves" || echo "$h=refused"; done';

let s: Scratch;
let ws: string;
let n = 0;

function runnerEnv(): { env: Record<string, string>; tmp: string } {
  const tmp = path.join(s.root, `runner-${n++}`);
  fs.mkdirSync(tmp);
  return {
    tmp,
    env: {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: '/root',
      LANG: 'C.UTF-8',
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_WORKSPACE: ws,
      GITHUB_RUN_ID: '4242',
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_ACTION: `warden${n}`,
      GITHUB_EVENT_NAME: 'pull_request',
      RUNNER_TEMP: tmp,
    },
  };
}

beforeAll(() => {
  fs.mkdirSync(SCRATCH_BASE, { recursive: true, mode: 0o755 });
  s = scratch();
  ws = path.join(s.root, 'checkout');
  fs.mkdirSync(path.join(ws, '.warden'), { recursive: true });
  git(ws, 'init', '-q');
  fs.writeFileSync(path.join(ws, '.warden/policy.yaml'), 'network:\n  mode: allowlist\n  allow: [a.test]\n');
  git(ws, 'add', '-A');
  git(ws, 'commit', '-qm', 'policy');
  git(ws, 'update-ref', 'refs/remotes/origin/main', 'HEAD');
  git(ws, 'checkout', '-qb', 'pr');
  fs.writeFileSync(path.join(ws, '.warden/policy.yaml'), 'network:\n  mode: allowlist\n  allow: [a.test, evil.test]\n');
  git(ws, 'commit', '-qam', 'widen the allowlist');
});
afterAll(() => s?.cleanup());

describe('the GitHub Action, run as a runner runs it', () => {
  it("pull request: main's policy applies, the widening is reported, denials with their allow entries, the alert fails the step", () => {
    const r = runCompositeAction(
      REPO,
      {
        command: `${LOOKUP}; echo 'export X=1' > .envrc; echo done`,
        'policy-yaml': BASE_POLICY,
        'policy-ref': 'origin/main:.warden/policy.yaml',
        'fail-on-alerts': 'true',
        install: 'false',
      },
      runnerEnv(),
    );
    const step = (name: string) => r.steps.find((x) => x.name === name)!;
    const run = step('Run the command under Warden');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('a.test=resolves');
    expect(run.stdout).toContain('b.test=refused'); // main tightened the operator's list
    expect(run.stdout).toContain('evil.test=refused'); // the pull request's edit had no effect
    expect(r.outputs['exit-code']).toBe('0');
    expect(Number(r.outputs.alerts)).toBeGreaterThanOrEqual(1);
    expect(Number(r.outputs.denials)).toBeGreaterThanOrEqual(2);
    // The summary: the verdict, the denials with the entry to add, the alert, the merge and the ignored edit.
    expect(r.summary).toMatch(/^## Warden: ❌ \d+ alerts?/m);
    expect(r.summary).toMatch(/\| `DNS A evil\.test` \| not-listed \| `evil\.test` \|/);
    expect(r.summary).toMatch(/\| `DNS A b\.test` \| not-listed \| `b\.test` \|/);
    expect(r.summary).toMatch(/`sandbox\.protected_path` \| persistence \| .*\.envrc/);
    expect(r.summary).toContain('Repository policy `origin/main:.warden/policy.yaml`');
    expect(r.summary).toMatch(/tightened `network\.allow`: `\["a\.test"\]`/);
    expect(r.summary).toMatch(/had \*\*no effect\*\* on this run:\n\n- `\.warden\/policy\.yaml`: modified/);
    // The artifact: the upload step is given the audit, which exists, is the run's, and is the runner user's.
    const upload = step('Upload the audit');
    expect(upload.uses).toBe('actions/upload-artifact@v4');
    expect(upload.with).toMatchObject({ name: 'warden-audit', path: r.outputs.audit });
    const ev = readEvents(r.outputs.audit!);
    expect(ev.find((e) => e.kind === 'sandbox.start')?.data?.policy_ref).toMatchObject({ ref: 'origin/main' });
    expect(fs.statSync(r.outputs.audit!).uid).toBe(process.getuid!());
    // fail-on-alerts: the command succeeded, the step fails.
    const verdict = step('Verdict');
    expect(verdict.code).toBe(1);
    expect(verdict.stdout).toMatch(/::error title=Warden::\d+ alert\(s\)/);
    expect(r.failed).toBe(true);
  });

  it("the step fails with the command's status; alerts alone do not fail it unless asked", () => {
    const failing = runCompositeAction(REPO, { command: 'echo "$GITHUB_TOKEN"; exit 3', install: 'false', 'artifact-name': '' }, runnerEnv());
    expect(failing.outputs['exit-code']).toBe('3');
    expect(failing.steps.find((x) => x.name === 'Verdict')!.code).toBe(3);
    expect(failing.steps.find((x) => x.name === 'Upload the audit')!.ran).toBe(false); // artifact-name ''
    expect(failing.summary).toMatch(/\| exit code \| `3` \|/);
    expect(failing.summary).toContain('No repository policy (--policy-ref) was used');

    const alertOnly = runCompositeAction(REPO, { command: 'touch .envrc', install: 'false' }, runnerEnv());
    expect(Number(alertOnly.outputs.alerts)).toBeGreaterThanOrEqual(1);
    expect(alertOnly.failed).toBe(false);
  });

  it('install: writes and loads the bwrap AppArmor profile where unprivileged user namespaces are restricted, then runs warden doctor', () => {
    const { env, tmp } = runnerEnv();
    const sysctl = path.join(tmp, 'apparmor_restrict_unprivileged_userns');
    fs.writeFileSync(sysctl, '1\n');
    const apparmorD = path.join(tmp, 'apparmor.d');
    fs.mkdirSync(apparmorD);
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'apparmor_parser'), `#!/bin/sh\necho "$@" >> ${tmp}/parser.log\n`, { mode: 0o755 });
    const r = runCompositeAction(REPO, { command: 'true', install: 'true', 'artifact-name': '' }, {
      tmp,
      env: { ...env, PATH: `${bin}:${env.PATH}`, WARDEN_ACTION_USERNS_SYSCTL: sysctl, WARDEN_ACTION_APPARMOR_D: apparmorD },
    });
    const install = r.steps.find((x) => x.name === 'Install Warden')!;
    expect(install.code, install.stderr).toBe(0);
    const profile = fs.readFileSync(path.join(apparmorD, 'warden-bwrap'), 'utf8');
    expect(profile).toMatch(/profile warden-bwrap \/\S*bwrap flags=\(unconfined\) \{\n {2}userns,/);
    expect(fs.readFileSync(path.join(tmp, 'parser.log'), 'utf8').trim()).toBe(`-r ${apparmorD}/warden-bwrap`);
    expect(install.stdout + install.stderr).toMatch(/bwrap|bubblewrap/i); // doctor's report
    expect(r.failed).toBe(false);
  });
});
