import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execKeys, parseGitConfig, readGitConfig, values } from '../../src/sandbox/git-config.js';
import { findGitEntries, gitTargets } from '../../src/sandbox/git-protect.js';
import { judgeNew, newGitEntries } from '../../src/sandbox/protect.js';
import os from 'node:os';

const keys = (text: string) => execKeys(parseGitConfig(text).entries);

describe('git config reader', () => {
  it('reads a file again whenever it changed, even to the same size within the same second, or was replaced', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-gitcfg-'));
    try {
      const f = path.join(dir, 'config');
      const hooks = () => values(readGitConfig(f) ?? [], 'core', 'hookspath');
      fs.writeFileSync(f, '[core]\n\thooksPath = /aa\n');
      expect(hooks()).toEqual(['/aa']);
      expect(readGitConfig(f)).toBe(readGitConfig(f)); // unchanged: parsed once
      const ns = fs.statSync(f, { bigint: true }).mtimeNs;
      fs.writeFileSync(f, '[core]\n\thooksPath = /bb\n');
      // same size, the mtime put back to the nanosecond: only the ctime still tells
      execFileSync('touch', ['-m', '-d', `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`, f]);
      expect(fs.statSync(f, { bigint: true }).mtimeNs).toBe(ns);
      expect(hooks()).toEqual(['/bb']);
      fs.writeFileSync(path.join(dir, 'next'), '[core]\n\thooksPath = /cc\n');
      fs.renameSync(path.join(dir, 'next'), f);
      expect(hooks()).toEqual(['/cc']);
      fs.rmSync(f);
      expect(readGitConfig(f)).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads sections, subsections, quoting, comments and continuations like git', () => {
    const { entries, valid } = parseGitConfig(
      ['# comment', '[core]', '\tbare = false ; trailing', '[remote "origin"]', '  url = "https://x/y.git" # c', '[Filter.lfs]', 'clean = git-lfs clean -- %f', '[alias]', '  st = !git \\', '  status', '[http]', '\tsslVerify'].join('\n'),
    );
    expect(valid).toBe(true);
    expect(entries).toContainEqual({ section: 'core', subsection: undefined, key: 'bare', value: 'false' });
    expect(entries).toContainEqual({ section: 'remote', subsection: 'origin', key: 'url', value: 'https://x/y.git' });
    expect(entries).toContainEqual({ section: 'filter', subsection: 'lfs', key: 'clean', value: 'git-lfs clean -- %f' });
    expect(entries.find((e) => e.section === 'alias')?.value).toMatch(/^!git\s+status$/);
    expect(entries).toContainEqual({ section: 'http', subsection: undefined, key: 'sslverify', value: true });
  });

  it('names every key that makes git run a program, and none of the ordinary ones', () => {
    expect(keys('[core]\n\tfsmonitor = /x\n\tpager = less\n\teditor = vi\n\tsshCommand = ssh -i k\n\thooksPath = h\n')).toEqual(['core.fsmonitor', 'core.pager', 'core.editor', 'core.sshcommand', 'core.hookspath']);
    expect(keys('[diff "pdf"]\n\ttextconv = pdftotext\n[filter "x"]\n\tsmudge = cat\n[credential]\n\thelper = store\n[include]\n\tpath = other\n[includeIf "gitdir:~/w/"]\n\tpath = w.inc\n')).toEqual([
      'diff.pdf.textconv',
      'filter.x.smudge',
      'credential.helper',
      'include.path',
      'includeif.gitdir:~/w/.path',
    ]);
    expect(keys('[submodule "a"]\n\tupdate = !sh evil\n[submodule "b"]\n\tupdate = rebase\n')).toEqual(['submodule.a.update']);
    expect(keys('[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tworktree = ../../x\n[remote "o"]\n\turl = u\n\tfetch = +refs/*:refs/*\n[branch "main"]\n\tremote = o\n[user]\n\tname = n\n')).toEqual([]);
  });
});

describe('git targets', () => {
  let tmp: string;
  const w = (rel: string, content = '') => {
    const p = path.join(tmp, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  };
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-git-'));
    w('ws/.git/HEAD', 'ref: refs/heads/main\n');
    w('ws/.git/config', '[core]\n\thooksPath = .husky/_\n[include]\n\tpath = ../shared.inc\n');
    fs.mkdirSync(path.join(tmp, 'ws/.git/objects'), { recursive: true });
    w('ws/shared.inc', '[includeIf "onbranch:x"]\n\tpath = ../more.inc\n');
    w('ws/.git/modules/a/HEAD', 'ref: x\n');
    w('ws/.git/modules/a/config', '[core]\n\tworktree = ../../../a\n');
    w('ws/.git/modules/a/modules/b/c/HEAD', 'ref: x\n');
    w('ws/.git/modules/a/modules/b/c/config', '');
    w('ws/.git/worktrees/w1/commondir', '../..\n');
    w('ws/a/.git', 'gitdir: ../.git/modules/a\n');
    w('ws/nested/.git/HEAD', 'ref: x\n');
    w('ws/nested/.git/config', '[core]\n\thooksPath = /abs/hooks\n');
    w('home/.gitconfig', '[core]\n\thooksPath = ~/global-hooks\n');
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('covers the repository, submodules at any depth, worktrees, gitfiles, hooksPath (with husky) and includes', () => {
    const ws = path.join(tmp, 'ws');
    const t = gitTargets({ workspace: ws, gitEntries: [path.join(ws, 'a/.git'), path.join(ws, 'nested/.git')], homes: [path.join(tmp, 'home')] });
    const rel = t.protect.map((p) => (p.startsWith(tmp) ? path.relative(tmp, p) : p));
    expect(rel).toEqual(
      expect.arrayContaining([
        'ws/.git/hooks',
        'ws/.git/config',
        'ws/.git/modules/a/hooks',
        'ws/.git/modules/a/config',
        'ws/.git/modules/a/modules/b/c/hooks',
        'ws/.git/modules/a/modules/b/c/config',
        'ws/.git/worktrees/w1/commondir',
        'ws/.git/worktrees/w1/config.worktree',
        'ws/a/.git',
        'ws/.husky/_',
        'ws/.husky',
        'ws/shared.inc',
        'more.inc',
        'ws/nested/.git/hooks',
        '/abs/hooks',
        'home/global-hooks',
      ]),
    );
    expect(t.kinds[path.join(ws, '.husky/_')]).toBe('hooks');
    expect(t.kinds[path.join(ws, 'shared.inc')]).toBe('config');
    expect(t.kinds[path.join(ws, 'a/.git')]).toBe('gitfile');
  });

  it('judges what the sandbox created: samples and plain configs pass, live hooks and program keys do not', () => {
    w('j/hooks/pre-commit.sample', '#!/bin/sh');
    w('j/hooks2/pre-commit.sample', '');
    w('j/hooks2/post-merge', '#!/bin/sh');
    w('j/config', '[core]\n\tbare = false\n');
    w('j/config2', '[core]\n\tfsmonitor = x\n');
    w('j/gitdir', 'x\n');
    const p = (r: string) => path.join(tmp, 'j', r);
    expect(judgeNew(p('hooks'), 'hooks')).toBeUndefined();
    expect(judgeNew(p('hooks2'), 'hooks')).toBe('hooks: post-merge');
    expect(judgeNew(p('config'), 'config')).toBeUndefined();
    expect(judgeNew(p('config2'), 'config')).toBe('keys not known to be safe: core.fsmonitor');
    expect(judgeNew(p('gitdir'), 'pointer')).toBeUndefined();
    expect(judgeNew(p('config'), undefined)).toBe('created at a protected path');
  });

  it('finds repositories created during a run, and only the new paths', () => {
    const ws = path.join(tmp, 'ws2');
    w('ws2/.git/HEAD', 'ref: x\n');
    w('ws2/.git/config', '');
    const before = gitTargets({ workspace: ws, gitEntries: findGitEntries(ws), homes: [] }).protect;
    w('ws2/sub/new/.git/HEAD', 'ref: x\n');
    w('ws2/sub/new/.git/config', '[core]\n\tpager = evil\n');
    const fresh = newGitEntries({ workspace: ws, writable: [ws], homes: [], before });
    expect(fresh.map((e) => path.relative(ws, e.path))).toEqual(expect.arrayContaining(['sub/new/.git/config', 'sub/new/.git/config.worktree', 'sub/new/.git/hooks', 'sub/new/.git/commondir', 'sub/new/.pre-commit-config.yaml', 'sub/new/.husky']));
    expect(fresh.every((e) => e.path.startsWith(path.join(ws, 'sub/new/')))).toBe(true);
    expect(fresh.find((e) => e.path.endsWith('/config'))!.git).toBe('config');
  });
});
