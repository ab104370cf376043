// Secrets remembered per workspace (src/sandbox/remembered-secrets.ts): what is read back, what
// is written, and where a moved one is found.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findMoved, movedSecrets, rememberedSecrets, rememberSecrets, secretFiles } from '../../src/sandbox/remembered-secrets.js';

let root: string;
let ws: string;
let state: string;
beforeEach(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'remembered-')));
  ws = path.join(root, 'ws');
  state = path.join(root, 'state');
  fs.mkdirSync(path.join(ws, 'a/b'), { recursive: true });
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

describe('remembered secrets', () => {
  it('keeps only absolute paths inside the workspace, for that workspace', () => {
    rememberSecrets(state, ws, [path.join(ws, 'a/.env'), '/etc/passwd', ws, path.join(root, 'other/.env')]);
    expect(rememberedSecrets(state, ws)).toEqual([path.join(ws, 'a/.env')]);
    expect(rememberedSecrets(state, path.join(root, 'other'))).toEqual([]);
    // a file prepared by hand with paths elsewhere, relative or climbing out: none of them
    const file = fs.readdirSync(state)[0]!;
    fs.writeFileSync(path.join(state, file), JSON.stringify({ workspace: ws, paths: ['/etc/shadow', 'rel/.env', `${ws}/../x/.env`, path.join(ws, 'ok/.env')] }));
    expect(rememberedSecrets(state, ws)).toEqual([path.join(ws, 'ok/.env')]);
  });

  it('is rewritten only when the set changed', () => {
    rememberSecrets(state, ws, [path.join(ws, 'a/.env')]);
    const file = path.join(state, fs.readdirSync(state)[0]!);
    const ino = fs.statSync(file).ino;
    rememberSecrets(state, ws, [path.join(ws, 'a/.env')]);
    expect(fs.statSync(file).ino).toBe(ino);
    rememberSecrets(state, ws, [path.join(ws, 'a/.env'), path.join(ws, 'b/.npmrc')]);
    expect(rememberedSecrets(state, ws).sort()).toEqual([path.join(ws, 'a/.env'), path.join(ws, 'b/.npmrc')]);
  });

  it('a moved secret is found by its inode anywhere in the workspace, skipped directories included', () => {
    fs.writeFileSync(path.join(ws, 'a/b/.env'), 'k');
    fs.writeFileSync(path.join(ws, 'a/.npmrc'), 'k');
    const secrets = secretFiles([path.join(ws, 'a/b/.env'), path.join(ws, 'a/.npmrc'), '/etc/hostname'], ws);
    expect(secrets.map((x) => path.relative(ws, x.path))).toEqual(['a/b/.env', 'a/.npmrc']);
    fs.mkdirSync(path.join(ws, 'node_modules/x'), { recursive: true });
    fs.renameSync(path.join(ws, 'a/b'), path.join(ws, 'node_modules/x/b'));
    fs.rmSync(path.join(ws, 'a/.npmrc'));
    const lost = movedSecrets(secrets);
    expect(lost.map((x) => path.relative(ws, x.path))).toEqual(['a/b/.env', 'a/.npmrc']);
    expect(findMoved(ws, lost)).toEqual([[path.join(ws, 'a/b/.env'), path.join(ws, 'node_modules/x/b/.env')]]);
  });
});
