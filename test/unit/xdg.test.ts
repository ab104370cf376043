// Warden's directories from the XDG variables: a relative value is ignored (XDG base directory
// spec), since it would resolve against the current directory, the workspace the sandbox writes.
import { afterEach, describe, expect, it } from 'vitest';
import { configDir, runtimeDir, stateDir, tmpDir } from '../../src/util/xdg.js';

const saved = { ...process.env };
afterEach(() => {
  for (const k of ['XDG_RUNTIME_DIR', 'XDG_STATE_HOME', 'XDG_CONFIG_HOME', 'TMPDIR', 'HOME']) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

describe('XDG directories', () => {
  it('absolute values are used as they are', () => {
    Object.assign(process.env, { XDG_RUNTIME_DIR: '/r', XDG_STATE_HOME: '/s', XDG_CONFIG_HOME: '/c' });
    expect([runtimeDir(), stateDir(), configDir()]).toEqual(['/r/warden', '/s/warden', '/c/warden']);
  });

  it('relative values are ignored: never a directory under the current one', () => {
    Object.assign(process.env, { XDG_RUNTIME_DIR: 'rt', XDG_STATE_HOME: './st', XDG_CONFIG_HOME: 'cfg', TMPDIR: 'tmp', HOME: '/home/u' });
    for (const d of [runtimeDir(), stateDir(), configDir()]) expect(d.startsWith('/'), d).toBe(true);
    expect(tmpDir()).toBe('/tmp');
    if (process.getuid?.() !== 0) expect(runtimeDir()).toBe(`/tmp/warden-${process.getuid?.()}`);
    else expect(runtimeDir()).toBe('/run/warden');
    expect(stateDir()).toBe(process.getuid?.() === 0 ? '/var/lib/warden' : '/home/u/.local/state/warden');
  });

  it('TMPDIR as the launcher reads it: absolute, without its trailing slash', () => {
    process.env.TMPDIR = '/var/tmp/x/';
    expect(tmpDir()).toBe('/var/tmp/x');
    process.env.TMPDIR = '/';
    expect(tmpDir()).toBe('/');
    delete process.env.TMPDIR;
    expect(tmpDir()).toBe('/tmp');
  });
});
