// Secrets remembered per workspace (src/sandbox/remembered-secrets.ts): what is read back, what
// is written, and where.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rememberedSecrets, rememberSecrets, secretsDirFor } from '../../src/sandbox/remembered-secrets.js';

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

  it('merges with what another run wrote since, keeping what still exists', () => {
    fs.writeFileSync(path.join(ws, 'a/.env'), 'k');
    fs.writeFileSync(path.join(ws, 'a/b/.npmrc'), 'k');
    rememberSecrets(state, ws, [path.join(ws, 'a/.env')]);
    rememberSecrets(state, ws, [path.join(ws, 'a/b/.npmrc')]); // another run's plan, which did not find the first
    expect(rememberedSecrets(state, ws).sort()).toEqual([path.join(ws, 'a/.env'), path.join(ws, 'a/b/.npmrc')]);
    fs.rmSync(path.join(ws, 'a/.env'));
    rememberSecrets(state, ws, [path.join(ws, 'a/b/.npmrc'), path.join(ws, 'c/.env')]);
    expect(rememberedSecrets(state, ws).sort()).toEqual([path.join(ws, 'a/b/.npmrc'), path.join(ws, 'c/.env')]);
  });

  it('is read only from a regular file: a FIFO, a symlink or an oversized file in its place is ignored, at once (attacker round 12)', () => {
    rememberSecrets(state, ws, [path.join(ws, 'a/.env')]);
    const file = path.join(state, fs.readdirSync(state)[0]!);
    fs.rmSync(file);
    execFileSync('mkfifo', [file]);
    expect(rememberedSecrets(state, ws)).toEqual([]); // returns: no writer needed
    fs.rmSync(file);
    fs.writeFileSync(path.join(root, 'elsewhere.json'), JSON.stringify({ workspace: ws, paths: [path.join(ws, 'src/index.js')] }));
    fs.symlinkSync(path.join(root, 'elsewhere.json'), file);
    expect(rememberedSecrets(state, ws)).toEqual([]);
    fs.rmSync(file);
    fs.writeFileSync(file, JSON.stringify({ workspace: ws, paths: [path.join(ws, 'x/.env')], pad: 'x'.repeat(2 << 20) }));
    expect(rememberedSecrets(state, ws)).toEqual([]);
  });

  it('is kept where neither the workspace nor an allow_write path reaches', () => {
    expect(secretsDirFor(['/var/lib/warden/secrets', '/run/warden/secrets'], ['/srv/proj'])).toBe('/var/lib/warden/secrets');
    expect(secretsDirFor(['/home/u/.local/state/warden/secrets', '/run/user/1000/warden/secrets'], ['/home/u'])).toBe('/run/user/1000/warden/secrets');
    expect(secretsDirFor(['/home/u/.local/state/warden/secrets', '/run/user/1000/warden/secrets'], ['/home/u', '/run/user/1000'])).toBeUndefined();
  });
});
