// --policy-ref: reading a committed file from git objects (loose, packed, deltas, packed refs,
// linked worktrees) against what git itself says, refusing what an untrusted repository could
// use to redirect the read; and the merge that lets a repository policy only tighten.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { commitTree, entryAt, findRepo, GitReadError, ObjectReader, resolveRef } from '../../src/config/git-objects.js';
import { intersectAllow, intersectEnv, intersectPaths, mergeRules, setKeys, tightenPolicy } from '../../src/config/policy-merge.js';
import { policyFromRef } from '../../src/config/policy-ref.js';
import { parseRunPolicy } from '../../src/config/run-policy.js';
import { RequestRules } from '../../src/egress/request-rules.js';
import { defaultRunPolicy } from '../../src/sandbox/policy.js';

const GIT_ENV = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' };
const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'init.defaultBranch=main', ...args], { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-pref-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function repoWith(name: string, files: Record<string, string>): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  git(dir, 'init', '-q');
  for (const [f, c] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), c);
  }
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'one');
  return dir;
}

function readAt(dir: string, ref: string, file: string): string {
  const repo = findRepo(dir);
  const r = new ObjectReader(repo);
  const { tree } = commitTree(r, resolveRef(repo, ref).oid);
  const e = entryAt(r, tree, file);
  if (!e) throw new Error('missing');
  return r.read(e.oid).data.toString('utf8');
}

describe('git objects', () => {
  it('reads loose objects, then the same after gc (packed objects, deltas, packed-refs), as git show does', () => {
    const big = Array.from({ length: 400 }, (_, i) => `line ${i} ${'x'.repeat(i % 17)}`).join('\n');
    const dir = repoWith('packed', { '.warden/policy.yaml': 'network: { mode: none }\n', 'big.txt': big });
    for (let i = 0; i < 6; i++) {
      fs.writeFileSync(path.join(dir, 'big.txt'), big.replace(`line ${i * 50} `, `changed ${i} `));
      git(dir, 'commit', '-qam', `c${i}`);
    }
    git(dir, 'tag', '-a', 'v1', '-m', 'tag');
    for (const ref of ['main', 'refs/heads/main', 'HEAD', 'v1', git(dir, 'rev-parse', 'HEAD~3')])
      expect(readAt(dir, ref, 'big.txt')).toBe(git(dir, 'show', `${ref}:big.txt`));
    git(dir, 'gc', '-q', '--aggressive');
    expect(fs.existsSync(path.join(dir, '.git/packed-refs'))).toBe(true);
    for (const ref of ['main', 'v1', git(dir, 'rev-parse', 'HEAD~5')]) expect(readAt(dir, ref, 'big.txt')).toBe(git(dir, 'show', `${ref}:big.txt`));
    expect(readAt(dir, 'main', '.warden/policy.yaml')).toBe('network: { mode: none }\n');
  });

  it('follows a linked worktree to its common directory, and a remote-tracking ref', () => {
    const dir = repoWith('wt', { 'p.yaml': 'a: 1\n' });
    git(dir, 'update-ref', 'refs/remotes/origin/main', 'HEAD');
    const wt = path.join(tmp, 'wt-linked');
    git(dir, 'worktree', 'add', '-q', '-b', 'feature', wt);
    fs.writeFileSync(path.join(wt, 'p.yaml'), 'a: 2\n');
    git(wt, 'commit', '-qam', 'feature');
    expect(readAt(wt, 'origin/main', 'p.yaml')).toBe('a: 1\n');
    expect(readAt(wt, 'HEAD', 'p.yaml')).toBe('a: 2\n');
  });

  it('refuses an ambiguous name (a branch that shadows the remote ref), symlinked refs, tampered objects, missing refs', () => {
    const dir = repoWith('hostile', { 'p.yaml': 'a: 1\n' });
    git(dir, 'update-ref', 'refs/remotes/origin/main', 'HEAD');
    fs.writeFileSync(path.join(dir, 'p.yaml'), 'a: evil\n');
    git(dir, 'commit', '-qam', 'evil');
    git(dir, 'branch', 'origin/main'); // what `git rev-parse origin/main` now picks (with a warning)
    const repo = findRepo(dir);
    expect(() => resolveRef(repo, 'origin/main')).toThrow(/ambiguous.*refs\/heads\/origin\/main.*refs\/remotes\/origin\/main/);
    expect(readAt(dir, 'refs/remotes/origin/main', 'p.yaml')).toBe('a: 1\n');
    // A ref that is a symlink to another file.
    fs.writeFileSync(path.join(tmp, 'outside-ref'), git(dir, 'rev-parse', 'HEAD') + '\n');
    fs.symlinkSync(path.join(tmp, 'outside-ref'), path.join(dir, '.git/refs/heads/linked'));
    expect(() => resolveRef(repo, 'refs/heads/linked')).toThrow(/symlink/);
    expect(() => resolveRef(repo, 'nosuch')).toThrow(/not found/);
    expect(() => resolveRef(repo, '../../etc/passwd')).toThrow(GitReadError);
    // An object file whose content does not hash to its name.
    const oid = git(dir, 'rev-parse', 'refs/remotes/origin/main:p.yaml');
    const evil = git(dir, 'rev-parse', 'HEAD:p.yaml');
    const file = (o: string) => path.join(dir, '.git/objects', o.slice(0, 2), o.slice(2));
    fs.chmodSync(file(oid), 0o644);
    fs.copyFileSync(file(evil), file(oid));
    expect(() => readAt(dir, 'refs/remotes/origin/main', 'p.yaml')).toThrow(/does not match/);
  });
});

describe('policy merge: a repository policy only tightens', () => {
  const base = () =>
    parseRunPolicy(
      `filesystem: { allow_write: [build, ~/.cache] }
env: { pass: [CI, NPM_*] }
network: { mode: allowlist, allow: ["*.github.com", registry.npmjs.org, "10.0.0.0/8:5432"], resolve: { registry.npmjs.org: 1.2.3.4 } }
resources: { memory: 2GB, timeout: 30m }
syscalls: { allow: [ptrace] }
credentials: [ { env: GH_TOKEN, hosts: [api.github.com, uploads.github.com] } ]
`,
      'base.yaml',
    );
  const merge = (text: string) => tightenPolicy(base(), parseRunPolicy(text, 'repo.yaml'), setKeys(parseYaml(text)));

  it('intersects allowlists, joins denials, lowers limits, and lists what it did not take', () => {
    const r = merge(`filesystem: { allow_write: [build/out, /etc], deny_read: [secrets] }
env: { pass: [NPM_TOKEN, AWS_SECRET_ACCESS_KEY] }
network: { mode: allowlist, allow: [api.github.com, evil.example, "*.npmjs.org", "10.1.0.0/16"], resolve: { api.github.com: 6.6.6.6 } }
resources: { memory: 1GB, timeout: 2h, pids: 100 }
syscalls: { allow: [ptrace, bpf], deny: [acct] }
credentials: [ { env: GH_TOKEN, hosts: [api.github.com, evil.example] }, { env: OTHER, hosts: [evil.example] } ]
`);
    const p = r.policy;
    expect(p.filesystem.allowWrite).toEqual(['build/out']);
    expect(p.filesystem.denyRead).toEqual(['secrets']);
    expect(p.env.pass).toEqual(['NPM_TOKEN']);
    expect(p.network.allow).toEqual(['api.github.com', 'registry.npmjs.org']);
    expect(p.network.resolve).toEqual({ 'registry.npmjs.org': '1.2.3.4' });
    expect(p.resources.memoryBytes).toBe(1024 ** 3);
    expect(p.resources.timeoutMs).toBe(30 * 60_000);
    expect(p.resources.pids).toBe(100);
    expect(p.syscalls.allow).toEqual(['ptrace']);
    expect(p.syscalls.deny).toEqual(["acct"]);
    expect(p.credentials).toEqual([{ env: 'GH_TOKEN', hosts: ['api.github.com'] }]);
    const ignored = r.ignored.map((i) => `${i.key}=${JSON.stringify(i.value)}`);
    for (const x of ['filesystem.allow_write="/etc"', 'env.pass="AWS_SECRET_ACCESS_KEY"', 'network.allow="evil.example"', 'network.allow="10.1.0.0/16"', 'network.resolve.api.github.com="6.6.6.6"', 'resources.timeout=7200000', 'syscalls.allow="bpf"', 'credentials="env:OTHER"'])
      expect(ignored).toContain(x);
    expect(r.tightened.map((t) => t.key)).toContain('network.allow');
  });

  it('never widens the network mode; a repository that sets nothing changes nothing', () => {
    expect(merge('network: { mode: full }').policy.network).toMatchObject({ mode: 'allowlist', allow: base().network.allow });
    expect(merge('network: { mode: none }').policy.network).toMatchObject({ mode: 'none', allow: [] });
    const same = merge('{}');
    expect(same.policy).toEqual(base());
    expect(same.tightened).toEqual([]);
    const full = tightenPolicy({ ...defaultRunPolicy(), network: { mode: 'full', allow: [], resolve: {}, unixSockets: false } }, parseRunPolicy('network: { mode: allowlist, allow: [a.test] }', 'r'), setKeys({ network: { mode: 1, allow: 1 } }));
    expect(full.policy.network).toMatchObject({ mode: 'allowlist', allow: ['a.test'] });
  });

  it('allow entries: the narrower name and the common ports', () => {
    expect(intersectAllow(['*.github.com'], ['api.github.com:22', 'github.com'])).toEqual({ kept: [], dropped: ['api.github.com:22', 'github.com'] });
    expect(intersectAllow(['*.github.com', 'github.com:22'], ['*.api.github.com', 'github.com'])).toEqual({ kept: ['*.api.github.com'], dropped: ['github.com'] });
    expect(intersectAllow(['example.com:443', '10.0.0.0/8'], ['example.com', '10.2.3.4:80', '[2001:db8::1]:443'])).toEqual({ kept: ['example.com:443', '10.2.3.4:80'], dropped: ['[2001:db8::1]:443'] });
    expect(intersectPaths(['~/.cache', 'build'], ['~/.cache/npm', 'build', '~', '../x']).kept).toEqual(['~/.cache/npm', 'build', '~/.cache']);
    expect(intersectEnv(['NPM_*', 'CI'], ['NPM_TOKEN', 'N*', 'CIX']).kept).toEqual(['NPM_TOKEN', 'NPM_*']);
  });

  it('request rules: a more specific repository key cannot shadow a base rule', () => {
    const merged = mergeRules({ '*.github.com': { methods: ['GET'], paths: ['/repos/acme/**'] } }, { 'api.github.com': { methods: ['GET', 'POST'], deny: [{ paths: ['/admin/**'] }] } });
    const rules = new RequestRules(merged);
    expect(rules.decide('api.github.com', 'POST', '/repos/acme/x').allowed).toBe(false);
    expect(rules.decide('api.github.com', 'GET', '/repos/other/x').allowed).toBe(false);
    expect(rules.decide('api.github.com', 'GET', '/repos/acme/x').allowed).toBe(true);
    expect(rules.decide('uploads.github.com', 'GET', '/repos/acme/x').allowed).toBe(true);
    expect(rules.decide('api.github.com', 'GET', '/repos/acme/../../admin/x').allowed).toBe(false);
  });
});

describe('policyFromRef', () => {
  it('takes the committed policy, reports a checked-out edit of .warden/ and never reads it', () => {
    const dir = repoWith('pr', { '.warden/policy.yaml': 'network: { mode: allowlist, allow: [a.test] }\n', '.warden/notes.md': 'x\n' });
    git(dir, 'update-ref', 'refs/remotes/origin/main', 'HEAD');
    fs.writeFileSync(path.join(dir, '.warden/policy.yaml'), 'network: { mode: allowlist, allow: [a.test, evil.test] }\n');
    fs.writeFileSync(path.join(dir, '.warden/extra.yaml'), 'x: 1\n');
    fs.rmSync(path.join(dir, '.warden/notes.md'));
    const base = parseRunPolicy('network: { mode: allowlist, allow: [a.test, b.test, evil.test] }', 'ops.yaml');
    const r = policyFromRef('origin/main:.warden/policy.yaml', base, path.join(dir, '.warden'));
    expect(r.policy.network.allow).toEqual(['a.test']);
    expect(r.record).toMatchObject({ ref: 'origin/main', resolved: 'refs/remotes/origin/main', path: '.warden/policy.yaml', base: 'ops.yaml' });
    expect(r.record.worktree_changes).toEqual([
      { path: '.warden/extra.yaml', change: 'added' },
      { path: '.warden/notes.md', change: 'deleted' },
      { path: '.warden/policy.yaml', change: 'modified' },
    ]);
    expect(r.policy.source).toBeUndefined(); // nothing to live-reload
  });

  it('errors name the ref, the path, the line and the key', () => {
    const dir = repoWith('bad', { 'w.yaml': 'network:\n  mode: sideways\n' });
    expect(() => policyFromRef('main:w.yaml', defaultRunPolicy(), dir)).toThrow(/main:w\.yaml:2: network\.mode/);
    expect(() => policyFromRef('main:nope.yaml', defaultRunPolicy(), dir)).toThrow(/nope\.yaml does not exist at main/);
    expect(() => policyFromRef('w.yaml', defaultRunPolicy(), dir)).toThrow(/REF:PATH/);
    expect(() => policyFromRef('main:w.yaml', defaultRunPolicy(), tmp)).toThrow(/not inside a git repository/);
  });
});
