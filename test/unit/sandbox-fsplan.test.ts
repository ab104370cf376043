import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planFilesystem, PlanError, type MountOp } from '../../src/sandbox/fs-plan.js';
import { defaultRunPolicy } from '../../src/sandbox/policy.js';
import { checkProtected } from '../../src/sandbox/protect.js';

let tmp: string;
let ws: string;
let home: string;
const me = { uid: process.getuid!(), gids: process.getgroups!() };

function w(p: string, content = 'x') {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, content);
}

beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'warden-plan-')));
  ws = path.join(tmp, 'ws');
  home = path.join(tmp, 'home');
  w(path.join(ws, '.env'), 'A=1');
  w(path.join(ws, 'app/.env.production'), 'B=2');
  w(path.join(ws, 'node_modules/pkg/.env'), 'C=3'); // dependency trees are skipped
  w(path.join(ws, '.git/config'), '[core]');
  fs.mkdirSync(path.join(ws, '.git/hooks'), { recursive: true });
  w(path.join(ws, 'sub/.git/config'), '[core]'); // nested repository
  w(path.join(ws, 'src/main.c'));
  w(path.join(home, '.ssh/id_rsa'), 'KEY');
  w(path.join(home, '.npmrc'), '//registry/:_authToken=x');
  w(path.join(home, '.aws/credentials'), 'k');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const plan = (mut?: (p: ReturnType<typeof defaultRunPolicy>) => void, extra: Partial<Parameters<typeof planFilesystem>[0]> = {}) => {
  const policy = defaultRunPolicy();
  mut?.(policy);
  return planFilesystem({ policy, workspace: ws, homes: [home], identity: me, ...extra });
};
const dests = (ms: MountOp[], op: MountOp['op']) => ms.filter((m) => m.op === op).map((m) => m.dest);

describe('filesystem plan', () => {
  it('starts read-only with private scratch, then the workspace writable', () => {
    const p = plan();
    expect(p.mounts[0]).toEqual({ op: 'ro-bind', src: '/', dest: '/' });
    expect(dests(p.mounts, 'tmpfs')).toContain('/tmp');
    expect(p.mounts.find((m) => m.op === 'bind')).toEqual({ op: 'bind', src: ws, dest: ws });
    expect(p.writable).toEqual([ws]);
  });

  it('hides secrets in the home and .env files in the workspace (not in node_modules)', () => {
    const p = plan();
    expect(p.hidden).toEqual(expect.arrayContaining([path.join(home, '.ssh'), path.join(home, '.npmrc'), path.join(home, '.aws'), path.join(ws, '.env'), path.join(ws, 'app/.env.production')]));
    expect(p.hidden).not.toContain(path.join(ws, 'node_modules/pkg/.env'));
    expect(p.mounts).toContainEqual({ op: 'tmpfs', dest: path.join(home, '.ssh'), readOnly: true });
    expect(p.mounts).toContainEqual({ op: 'devnull', dest: path.join(home, '.npmrc') });
  });

  it('puts hidden paths after every writable and read-only bind', () => {
    const p = plan();
    const lastBind = Math.max(...p.mounts.map((m, i) => (m.op === 'bind' || (m.op === 'ro-bind' && m.dest !== '/' && !m.dest.startsWith('/run')) ? i : -1)));
    const firstHide = p.mounts.findIndex((m) => (m.op === 'devnull' || (m.op === 'tmpfs' && m.readOnly)) && p.hidden.includes(m.dest));
    expect(firstHide).toBeGreaterThan(lastBind);
  });

  it('protects existing paths read-only and records missing ones without creating them', () => {
    const p = plan();
    expect(p.readOnly).toEqual(expect.arrayContaining([path.join(ws, '.git/config'), path.join(ws, '.git/hooks'), path.join(ws, 'sub/.git/config')]));
    const missing = p.protectedEntries.filter((e) => !e.before).map((e) => e.path);
    expect(missing).toEqual(expect.arrayContaining([path.join(ws, '.mcp.json'), path.join(ws, '.vscode'), path.join(ws, '.claude')]));
    expect(fs.existsSync(path.join(ws, '.mcp.json'))).toBe(false);
  });

  it('honours allow_read, deny_read, read_only, allow_write', () => {
    w(path.join(tmp, 'cache/x'));
    w(path.join(ws, 'secrets/db.key'));
    w(path.join(ws, 'Makefile'));
    const p = plan((pol) => {
      pol.filesystem.allowRead = ['~/.npmrc'];
      pol.filesystem.denyRead = ['secrets/*.key'];
      pol.filesystem.readOnly = ['Makefile'];
      pol.filesystem.allowWrite = [path.join(tmp, 'cache'), path.join(tmp, 'nope')];
    });
    expect(p.hidden).not.toContain(path.join(home, '.npmrc'));
    expect(p.hidden).toContain(path.join(ws, 'secrets/db.key'));
    expect(p.readOnly).toContain(path.join(ws, 'Makefile'));
    expect(p.writable).toEqual([ws, path.join(tmp, 'cache')]);
    expect(p.warnings.join()).toMatch(/nope.*does not exist/);
  });

  it('hides credential files named in the policy', () => {
    w(path.join(home, '.config/tool/token'), 'T');
    const p = plan((pol) => {
      pol.credentials = [{ file: '~/.config/tool/token', hosts: ['api.example.com'] }];
    });
    expect(p.hidden).toContain(path.join(home, '.config/tool/token'));
  });

  it('refuses a workspace of / or inside a hidden path', () => {
    const policy = defaultRunPolicy();
    expect(() => planFilesystem({ policy, workspace: '/', homes: [home], identity: me })).toThrow(PlanError);
    expect(() => planFilesystem({ policy, workspace: path.join(home, '.ssh'), homes: [home], identity: me })).toThrow(/inside the hidden path/);
  });

  it('protects persistence files when the workspace is the home directory', () => {
    w(path.join(home, '.bashrc'), '# rc');
    const p = planFilesystem({ policy: defaultRunPolicy(), workspace: home, homes: [home], identity: me });
    expect(p.readOnly).toContain(path.join(home, '.bashrc'));
    expect(p.protectedEntries.map((e) => e.path)).toContain(path.join(home, '.bash_profile'));
  });

  it('stops the workspace scan at its limits and says so', () => {
    const p = plan(undefined, { scan: { maxDirs: 2 } });
    expect(p.scan.truncated).toBe(true);
    expect(p.warnings.join()).toMatch(/scan/);
  });
});

describe('protected paths after the run', () => {
  it('moves aside what the sandbox created or replaced, leaves git init alone', () => {
    const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'warden-prot-')));
    w(path.join(root, '.mcp.json.keep'));
    fs.mkdirSync(path.join(root, '.vscode'));
    const before = fs.lstatSync(path.join(root, '.vscode'));
    const entries = [
      { path: path.join(root, '.mcp.json'), root },
      { path: path.join(root, '.vscode'), root, before: { dev: before.dev, ino: before.ino, dir: true } },
      { path: path.join(root, '.git/hooks'), root },
      { path: path.join(root, '.git/config'), root },
      { path: path.join(root, '.idea'), root },
    ];
    // what a sandbox might do:
    w(path.join(root, '.mcp.json'), '{"mcpServers":{}}');
    fs.renameSync(path.join(root, '.vscode'), path.join(root, 'old-vscode'));
    w(path.join(root, '.vscode/tasks.json'), '{}');
    w(path.join(root, '.git/hooks/pre-commit.sample'), '#!/bin/sh');
    w(path.join(root, '.git/config'), '[core]\n\tbare = false\n');
    const v = checkProtected(entries, 'id1');
    expect(v.map((x) => [path.basename(x.path), x.change])).toEqual([
      ['.mcp.json', 'created'],
      ['.vscode', 'replaced'],
    ]);
    expect(fs.existsSync(path.join(root, '.mcp.json'))).toBe(false);
    expect(v[0]!.quarantinedTo).toMatch(/\.mcp\.json\.warden-quarantined-id1-[0-9a-f]{12}$/);
    expect(fs.readFileSync(v[0]!.quarantinedTo!, 'utf8')).toMatch(/mcpServers/);
    // a fresh repo with an executable hook or a command in its config is not benign
    w(path.join(root, '.git/hooks/post-checkout'), '#!/bin/sh\ncurl evil');
    w(path.join(root, '.git/config'), '[core]\n\tfsmonitor = ./x.sh\n');
    const v2 = checkProtected(entries.slice(2, 4), 'id2');
    expect(v2.map((x) => path.basename(x.path))).toEqual(['hooks', 'config']);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('a sandbox that knows its id cannot block the quarantine with a directory at the destination', () => {
    const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'warden-prot-')));
    w(path.join(root, '.mcp.json'), '{"mcpServers":{"x":{"command":"sh"}}}');
    for (const blocker of ['.mcp.json.warden-quarantined-id4', '.mcp.json.warden-quarantined-id4-000000000000']) w(path.join(root, blocker, 'keep'));
    const v = checkProtected([{ path: path.join(root, '.mcp.json'), root }], 'id4');
    expect(v[0]!.quarantinedTo).toBeDefined();
    expect(fs.existsSync(path.join(root, '.mcp.json'))).toBe(false);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('reports a symlinked parent instead of following it', () => {
    const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'warden-prot-')));
    const outside = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'warden-out-')));
    w(path.join(outside, 'hooks/pre-commit'));
    fs.symlinkSync(outside, path.join(root, '.git'));
    const v = checkProtected([{ path: path.join(root, '.git/hooks'), root }], 'id3');
    expect(v).toHaveLength(1);
    expect(v[0]!.change).toBe('symlinked_parent');
    expect(fs.existsSync(path.join(outside, 'hooks/pre-commit'))).toBe(true); // untouched
    expect(fs.lstatSync(v[0]!.quarantinedTo!).isSymbolicLink()).toBe(true);
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(outside, { recursive: true, force: true });
  });
});

describe('workspace scan', () => {
  it('does not descend into virtual environments and dependency trees (no truncation warning for a .venv project)', () => {
    const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'warden-venv-')));
    try {
      fs.writeFileSync(path.join(ws, '.env'), 'A=1');
      const deep = path.join(ws, '.venv/lib/python3.11/site-packages/pkg/sub/a/b/c/d/e/f');
      fs.mkdirSync(deep, { recursive: true });
      fs.writeFileSync(path.join(ws, '.venv/pyvenv.cfg'), 'home = /usr/bin\n');
      fs.writeFileSync(path.join(deep, '.env'), 'X=1');
      for (let i = 0; i < 50; i++) fs.mkdirSync(path.join(ws, '.venv/lib/python3.11/site-packages', `p${i}`, 'x'), { recursive: true });
      const p = planFilesystem({ policy: defaultRunPolicy(), workspace: ws, homes: [], identity: { uid: 0, gids: [0] } });
      expect(p.warnings.filter((w) => /scan/.test(w))).toEqual([]);
      expect(p.hidden).toContain(path.join(ws, '.env'));
      expect(p.scan.dirs).toBeLessThan(10);
    } finally {
      fs.rmSync(ws, { recursive: true, force: true });
    }
  });
});
