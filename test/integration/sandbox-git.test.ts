// Issue #10, git persistence: everything git reads on the host to decide what to run
// (hooks and config of the repository, its submodules at any depth, its worktrees, the
// directory core.hooksPath names, files its config includes) cannot be changed from inside
// `warden run`; repositories the sandbox creates are judged after the run. Each plant is
// followed by the user's next `git` on the host, which must run nothing; a control shows the
// same plant runs without Warden. Three identities, as in the escape suite.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOBODY, readEvents, run, sandboxSh, scratch, USER_UID, type Scratch } from './helpers/warden-run.js';

const IDENTITIES = [
  { who: 'root', uid: undefined, owner: undefined },
  { who: 'root-user-ws', uid: undefined, owner: USER_UID },
  { who: 'nobody', uid: NOBODY, owner: NOBODY },
] as const;

const GIT_ENV = { GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' };

for (const { who, uid, owner } of IDENTITIES) {
  describe(`git persistence (warden run as ${who})`, () => {
    let s: Scratch;
    let env: Record<string, string>;
    let marker: string;
    const sh = (script: string, cwd: string, audit?: string) => sandboxSh(script, { cwd, uid, env: { ...env, ...GIT_ENV }, audit });
    /** The user's next git command on the host, as the workspace owner. */
    const hostGit = (cwd: string, args: string) => run(['/bin/sh', '-c', `git ${args} >/dev/null 2>&1; true`], { cwd, uid: owner, env: { ...env, ...GIT_ENV, HOME: s.home } });
    const plant = (name: string) => `printf '#!/bin/sh\\necho ${name} >> ${marker}\\n'`;

    /** A real repository (made by git, as the owner) with a submodule, a nested module, a linked worktree, husky's hooksPath and an included config. */
    async function repo(name: string): Promise<string> {
      const ws = path.join(s.ws, name);
      const libsrc = path.join(s.outside, `${name}-libsrc`);
      for (const d of [ws, libsrc]) {
        fs.mkdirSync(d, { recursive: true });
        if (owner !== undefined) fs.chownSync(d, owner, owner);
      }
      const script = [
        `cd ${libsrc} && git init -q -b main . && echo l > l && git add l && git commit -qm lib`,
        `cd ${ws} && git init -q -b main . && echo a > a && mkdir -p tools .husky/_ && printf '[user]\\n\\tname = t\\n' > tools/git.inc && printf '#!/bin/sh\\n' > .husky/_/h && printf 'npm test\\n' > .husky/pre-commit && git add -A && git commit -qm one`,
        `git -c protocol.file.allow=always submodule add -q ${libsrc} lib && git commit -qm sub`,
        `git config core.hooksPath .husky/_ && git config include.path ../tools/git.inc`,
        `git worktree add -q ../${name}-wt1 -b wt1 2>/dev/null || true`,
        `mkdir -p .git/modules/lib/modules/deep/hooks .git/modules/lib/modules/deep/objects && echo 'ref: refs/heads/main' > .git/modules/lib/modules/deep/HEAD && printf '[core]\\n' > .git/modules/lib/modules/deep/config`,
      ].join(' && ');
      const r = await run(['/bin/sh', '-c', script], { cwd: ws, uid: owner, env: { ...env, ...GIT_ENV } });
      if (r.code !== 0) throw new Error(`repo setup failed: ${r.stderr}`);
      return ws;
    }

    beforeAll(() => {
      s = scratch(owner);
      env = { HOME: s.home };
      marker = path.join(s.outside, `ran-${who}`);
      fs.writeFileSync(marker, '');
      fs.chmodSync(marker, 0o666);
      if (owner !== undefined) fs.chownSync(marker, owner, owner);
    });
    afterAll(() => s.cleanup());

    it('cannot plant hooks or config that run programs in the repository, its submodules, worktrees, hooksPath or includes', async () => {
      const ws = await repo('plant');
      const attempts = [
        `${plant('hook')} > .git/hooks/post-checkout`,
        `${plant('module-hook')} > .git/modules/lib/hooks/post-checkout`,
        `${plant('deep-hook')} > .git/modules/lib/modules/deep/hooks/post-checkout`,
        `echo '[core] fsmonitor = ${marker}' >> .git/modules/lib/config`,
        `echo '[core] fsmonitor = ${marker}' >> .git/modules/lib/modules/deep/config`,
        `echo '../../../evil' > .git/worktrees/plant-wt1/commondir`,
        `${plant('husky')} > .husky/_/post-checkout`,
        `${plant('husky-parent')} > .husky/post-checkout`,
        `echo '[core] fsmonitor = ${marker}' >> tools/git.inc`,
        `git config core.fsmonitor ${marker}`,
        `git config core.pager 'sh -c "echo pager >> ${marker}"'`,
        `echo 'gitdir: /tmp/evil' > lib/.git`,
      ];
      const script = attempts.map((a, i) => `(${a}) 2>/dev/null && echo "PLANTED ${i}"`).join('; ') + '; echo done';
      const r = await sh(script, ws);
      expect(r.stdout).toContain('done');
      expect(r.stdout).not.toContain('PLANTED');
      // A protected file that did not exist (config.worktree) cannot be covered without creating
      // it on the host: the sandbox may create it, and it is judged after the run.
      const wtConfig = path.join(ws, '.git/worktrees/plant-wt1/config.worktree');
      const r2 = await sh(`echo '[core] fsmonitor = ${marker}' >> ${wtConfig} && echo created`, ws);
      expect(r2.stdout).toContain('created');
      expect(r2.stderr).toMatch(/config.worktree was created by the sandbox \(keys not known to be safe: core.fsmonitor\); moved aside/);
      expect(fs.existsSync(wtConfig)).toBe(false);
      for (const args of ['status', 'checkout -q -b x', 'log -1']) await hostGit(ws, args);
      await hostGit(path.join(s.ws, 'plant-wt1'), 'status');
      await hostGit(path.join(ws, 'lib'), 'status');
      expect(fs.readFileSync(marker, 'utf8')).toBe('');
    });

    it('config keys that run programs are refused (the config is read-only), while the repository stays usable', async () => {
      const ws = path.join(s.ws, 'usable');
      fs.mkdirSync(ws, { recursive: true });
      if (owner !== undefined) fs.chownSync(ws, owner, owner);
      await run(['/bin/sh', '-c', 'git init -q -b main . && echo a > a && git add a && git commit -qm one'], { cwd: ws, uid: owner, env: { ...env, ...GIT_ENV } });
      const r = await sh(`echo b > b && git add b && git -c user.name=t -c user.email=t@t commit -qm two && git log --oneline | wc -l; git config alias.x '!echo x' 2>&1 | tail -1; echo done`, ws);
      expect(r.stdout).toMatch(/^2$/m);
      expect(r.stdout).toMatch(/could not lock config file|Read-only|Device or resource busy/);
      expect(fs.readFileSync(path.join(ws, '.git/config'), 'utf8')).not.toContain('alias');
    });

    it('a repository the sandbox creates with a hook or an fsmonitor is moved aside after the run; a plain git init is left alone', async () => {
      const ws = path.join(s.ws, 'created');
      fs.mkdirSync(ws, { recursive: true });
      if (owner !== undefined) fs.chownSync(ws, owner, owner);
      const audit = path.join(s.root, `audit-git-${who}.ndjson`);
      if (uid !== undefined) fs.writeFileSync(audit, ''), fs.chownSync(audit, uid, uid);
      const r = await sh(
        `git init -q plain && git init -q evil && git config -f evil/.git/config core.fsmonitor ${marker} && ` +
          `mkdir -p sub && git init -q sub/hooked && ${plant('new-hook')} > sub/hooked/.git/hooks/post-checkout && chmod +x sub/hooked/.git/hooks/post-checkout && echo done`,
        ws,
        audit,
      );
      expect(r.stdout).toContain('done');
      expect(fs.existsSync(path.join(ws, 'plain/.git/config'))).toBe(true);
      expect(fs.existsSync(path.join(ws, 'evil/.git/config'))).toBe(false);
      expect(fs.existsSync(path.join(ws, 'sub/hooked/.git/hooks'))).toBe(false);
      const alerts = readEvents(audit).filter((e) => e.rule === 'sandbox.protected_path');
      expect(alerts.map((e) => path.relative(ws, e.file!.path)).sort()).toEqual(['evil/.git/config', 'sub/hooked/.git/hooks']);
      expect(JSON.stringify(alerts)).toContain('core.fsmonitor');
      for (const d of ['evil', 'sub/hooked', 'plain']) await hostGit(path.join(ws, d), 'status');
      expect(fs.readFileSync(marker, 'utf8')).toBe('');
    });

    it('pointers that move where git reads config and hooks (commondir, .git files, .git symlinks) are moved aside; the next git runs nothing', async () => {
      const ws = path.join(s.ws, 'pointers');
      fs.mkdirSync(ws, { recursive: true });
      if (owner !== undefined) fs.chownSync(ws, owner, owner);
      await run(['/bin/sh', '-c', 'git init -q -b main . && echo a > a && git add a && git commit -qm one && mkdir -p pkg sub2'], { cwd: ws, uid: owner, env: { ...env, ...GIT_ENV } });
      const evil = (dir: string) =>
        `mkdir -p '${dir}' && cp -r .git/objects .git/refs .git/HEAD '${dir}/' && printf '[core]\\n\\trepositoryformatversion = 0\\n\\tfsmonitor = "echo pointer >> ${marker}"\\n' > '${dir}/config'`;
      const r = await sh(
        [
          evil('.git/evil'),
          `printf '/proc/self/root%s/.git/evil\\n' "$PWD" > .git/commondir`,
          evil('.git/evil2 '),
          `printf 'gitdir: /proc/self/root%s/.git/evil\\n' "$PWD" > pkg/.git`,
          `ln -s "$PWD/.git/evil" sub2/.git`,
          'echo done',
        ].join(' && '),
        ws,
      );
      expect(r.stdout, r.stderr).toContain('done');
      expect(r.stderr).toMatch(/commondir was created by the sandbox \(commondir (points git elsewhere|is not what git writes)/);
      expect(r.stderr).toMatch(/pkg\/\.git was created by the sandbox \(\.git file points to/);
      expect(r.stderr).toMatch(/sub2\/\.git was created by the sandbox \(\.git is a symlink\)/);
      for (const d of [ws, path.join(ws, 'pkg'), path.join(ws, 'sub2')]) await hostGit(d, 'status');
      expect(fs.readFileSync(marker, 'utf8')).toBe('');
    });

    it('a sandbox that knows its id cannot block the quarantine, nor widen modes for other users', async () => {
      const ws = path.join(s.ws, 'blocker');
      fs.mkdirSync(ws, { recursive: true });
      if (owner !== undefined) fs.chownSync(ws, owner, owner);
      await run(['/bin/sh', '-c', 'git init -q -b main . && echo a > a && git add a && git commit -qm one'], { cwd: ws, uid: owner, env: { ...env, ...GIT_ENV } });
      const modes = () => [ws, path.join(ws, '.git'), path.join(ws, '.git/objects')].map((p) => fs.statSync(p).mode & 0o777);
      const before = modes();
      const r = await sh(
        `git init -q n && mkdir -p "n/.git/hooks.warden-quarantined-$WARDEN_SANDBOX/x" ".vscode.warden-quarantined-$WARDEN_SANDBOX/keep" && ` +
          `${plant('blocked-hook')} > n/.git/hooks/post-checkout && chmod +x n/.git/hooks/post-checkout && mkdir -p .vscode && echo '{}' > .vscode/tasks.json && ` +
          `(chmod 777 . 2>/dev/null && echo WORLD-WRITABLE); chmod g+w . .git .git/objects && echo done`,
        ws,
      );
      expect(r.stdout).toContain('done');
      expect(r.stdout).not.toContain('WORLD-WRITABLE'); // chmod o+w is refused inside
      expect(fs.existsSync(path.join(ws, 'n/.git/hooks'))).toBe(false);
      expect(fs.existsSync(path.join(ws, '.vscode'))).toBe(false);
      expect(modes()).toEqual(before);
      expect(r.stderr).toMatch(/made it writable for others \(\d+ → 775\); the old mode was put back/);
      await run(['/bin/sh', '-c', 'git -c user.name=t -c user.email=t@t commit -q --allow-empty -m x && git checkout -q -b z'], { cwd: path.join(ws, 'n'), uid: owner, env: { ...env, ...GIT_ENV } });
      expect(fs.readFileSync(marker, 'utf8')).toBe('');
    });

    it('a repository made to be expensive to walk (a commondir chain) neither crashes the run nor the next one', async () => {
      const ws = path.join(s.ws, 'chain');
      fs.mkdirSync(ws, { recursive: true });
      if (owner !== undefined) fs.chownSync(ws, owner, owner);
      const chain = 'import os\nfor i in range(3000):\n  d = f"c{i}"; os.makedirs(d, exist_ok=True)\n  open(f"{d}/commondir", "w").write(f"../c{i+1}\\n"); open(f"{d}/HEAD", "w").write("ref: x\\n"); open(f"{d}/config", "w").write("")\nopen(".git/commondir", "w").write("../c0\\n")\n';
      s.write(path.join('ws', 'chain', 'chain.py'), chain);
      if (owner !== undefined) fs.chownSync(path.join(ws, 'chain.py'), owner, owner);
      const r = await sh(`git init -q . && python3 chain.py; exit 7`, ws);
      expect(r.code).toBe(7);
      const again = await sh('echo again', ws);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('again');
    });

    it('control: without Warden, the same plants run on the next git command', async () => {
      const ws = await repo('control');
      await run(['/bin/sh', '-c', `${plant('ctl-hook')} > .husky/_/post-checkout; chmod +x .husky/_/post-checkout; ${plant('ctl-module')} > .git/modules/lib/hooks/post-checkout; chmod +x .git/modules/lib/hooks/post-checkout; echo '[core] fsmonitor = ${marker}' >> tools/git.inc`], { cwd: ws, uid: owner, env: { ...env, ...GIT_ENV } });
      await hostGit(ws, 'checkout -q -b y');
      await hostGit(path.join(ws, 'lib'), 'checkout -q -b y');
      await hostGit(ws, 'status');
      const ran = fs.readFileSync(marker, 'utf8');
      expect(ran).toContain('ctl-hook');
      expect(ran).toContain('ctl-module');
      fs.writeFileSync(marker, '');
    });
  });
}
