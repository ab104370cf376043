import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.js';
import { loadRunPolicy, parseRunPolicy } from '../../src/config/run-policy.js';
import { buildSandboxEnv } from '../../src/sandbox/env.js';
import { defaultRunPolicy, parseDuration, parseRunAs, parseSize } from '../../src/sandbox/policy.js';
import { parseRunArgs } from '../../src/cli/run-args.js';

function err(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected ConfigError');
}

describe('policy value parsers', () => {
  it('sizes are binary units', () => {
    expect(parseSize('2GB')).toBe(2 * 1024 ** 3);
    expect(parseSize('512M')).toBe(512 * 1024 ** 2);
    expect(parseSize('1.5GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseSize(4096)).toBe(4096);
    expect(parseSize('12 XB')).toBeUndefined();
    expect(parseSize('0')).toBeUndefined();
    expect(parseSize(-5)).toBeUndefined();
  });
  it('durations', () => {
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration(45)).toBe(45_000);
    expect(parseDuration('2')).toBe(2000);
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseDuration('')).toBeUndefined();
  });
  it('users', () => {
    expect(parseRunAs('auto')).toBe('auto');
    expect(parseRunAs('nobody')).toEqual({ uid: 65534, gid: 65534 });
    expect(parseRunAs('1000:100')).toEqual({ uid: 1000, gid: 100 });
    expect(parseRunAs(1001)).toEqual({ uid: 1001, gid: 1001 });
    expect(parseRunAs('bob')).toBeUndefined();
  });
});

describe('run policy file', () => {
  const file = 'policy.yaml';
  it('maps every key', () => {
    const p = parseRunPolicy(
      [
        'filesystem: { allow_write: [~/.cache/pip], deny_read: ["secrets/*"], allow_read: [~/.npmrc], read_only: [Makefile] }',
        'env: { pass: [GOPATH, LC_*], set: { CI: true, N: 3 } }',
        'network: { mode: allowlist, allow: [github.com, "*.npmjs.org", "example.com:443"], resolve: { github.com: 127.0.0.1 } }',
        'credentials: [ { env: GH_TOKEN, hosts: [api.github.com] } ]',
        'resources: { memory: 2GB, pids: 512, cpu: 1.5, timeout: 30m, timeout_grace: 2s }',
        'process: { user: nobody, pass_fds: [3] }',
        'syscalls: { deny: [ioperm], allow: [ptrace] }',
      ].join('\n'),
      file,
    );
    expect(p.filesystem).toEqual({ workspace: undefined, allowWrite: ['~/.cache/pip'], denyRead: ['secrets/*'], allowRead: ['~/.npmrc'], readOnly: ['Makefile'] });
    expect(p.env).toEqual({ pass: ['GOPATH', 'LC_*'], set: { CI: 'true', N: '3' } });
    expect(p.network).toEqual({ mode: 'allowlist', allow: ['github.com', '*.npmjs.org', 'example.com:443'], resolve: { 'github.com': '127.0.0.1' }, upstreamDns: undefined, unixSockets: false });
    expect(p.credentials).toEqual([{ env: 'GH_TOKEN', hosts: ['api.github.com'] }]);
    expect(p.resources).toEqual({ memoryBytes: 2 * 1024 ** 3, pids: 512, cpus: 1.5, timeoutMs: 1_800_000, graceMs: 2000 });
    expect(p.process).toEqual({ runAs: { uid: 65534, gid: 65534 }, passFds: [3] });
    expect(p.syscalls).toEqual({ deny: ['ioperm'], allow: ['ptrace'] });
    expect(p.source).toBe(file);
  });

  it('an empty file is the default policy', () => {
    const p = parseRunPolicy('', file);
    expect({ ...p, source: undefined, explicit: undefined }).toEqual(defaultRunPolicy());
    expect(p.explicit).toEqual({ networkMode: false });
    expect(parseRunPolicy('network: { mode: none }\n', file).explicit).toEqual({ networkMode: true });
  });

  it('names file, line and key of an unknown key', () => {
    const e = err(() => parseRunPolicy('network:\n  mode: none\nresources:\n  memroy: 1GB\n', file));
    expect(e.file).toBe(file);
    expect(e.line).toBe(4);
    expect(e.key).toBe('resources.memroy');
    expect(e.message).toMatch(/unknown key.*memory/);
  });

  it('rejects bad values with their line', () => {
    expect(err(() => parseRunPolicy('resources:\n  memory: lots\n', file)).line).toBe(2);
    expect(err(() => parseRunPolicy('network:\n  mode: some\n', file)).key).toBe('network.mode');
    const s = err(() => parseRunPolicy('syscalls:\n  deny: [ptrace, nope]\n', file));
    expect(s.key).toBe('syscalls.deny[1]');
    expect(s.message).toMatch(/unknown syscall/);
  });

  it('rejects values that failed only when the run started (timeout past 24 days ran nothing, exit 124; uid past int32; resolve to a non-address)', () => {
    const t = err(() => parseRunPolicy('resources:\n  timeout: 600h\n', file));
    expect([t.key, t.line, t.detail]).toEqual(['resources.timeout', 2, 'at most 24 days (596h)']);
    expect(parseRunPolicy('resources:\n  timeout: 596h\n', file).resources.timeoutMs).toBe(596 * 3600_000);
    expect(err(() => parseRunPolicy('process: { user: "99999999999" }\n', file)).key).toBe('process.user');
    const r = err(() => parseRunPolicy('network:\n  mode: allowlist\n  allow: [a.com]\n  resolve:\n    a.com: notanip\n', file));
    expect([r.key, r.line, r.detail]).toEqual(['network.resolve.a.com', 5, '"notanip" is not an IP address']);
    expect(parseRunPolicy('network:\n  mode: allowlist\n  allow: [a.com]\n  resolve: { a.com: "127.0.0.1, ::1" }\n', file).network.resolve).toEqual({ 'a.com': '127.0.0.1, ::1' });
    const dns = (d: string) => parseRunPolicy(`network:\n  mode: allowlist\n  upstream_dns: ["${d}"]\n`, file);
    expect(err(() => dns('1.2.3.4:99999')).key).toBe('network.upstream_dns[0]');
    expect(err(() => dns('1.2.3.999')).key).toBe('network.upstream_dns[0]');
    for (const ok of ['9.9.9.9', '10.0.0.2:5353', '2001:db8::1', '[2001:db8::1]:53']) expect(dns(ok).network.upstreamDns).toEqual([ok]);
  });

  it('rejects combinations that cannot work', () => {
    expect(err(() => parseRunPolicy('credentials: [ { env: X, hosts: [a.com] } ]\n', file)).key).toBe('credentials');
    expect(err(() => parseRunPolicy('network: { allow: [a.com] }\n', file)).key).toBe('network.allow');
    expect(err(() => parseRunPolicy('network: { mode: allowlist, allow: ["*"] }\n', file)).key).toBe('network.allow[0]');
    expect(err(() => parseRunPolicy('network:\n  mode: allowlist\n  allow:\n    - ok.com\n    - "*.com"\n', file)).line).toBe(5);
    expect(err(() => parseRunPolicy('syscalls: { deny: [ptrace], allow: [ptrace] }\n', file)).key).toBe('syscalls.allow');
  });

  it('reports an unreadable file', () => {
    const e = err(() => loadRunPolicy(path.join(os.tmpdir(), 'no-such-policy-file.yaml')));
    expect(e.message).toMatch(/cannot read: ENOENT/);
  });

  it('reports YAML syntax errors with the line', () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-pol-'));
    fs.writeFileSync(path.join(d, 'p.yaml'), 'network:\n  mode: none\n   bad: [\n');
    expect(err(() => loadRunPolicy(path.join(d, 'p.yaml'))).line).toBeGreaterThanOrEqual(2);
    fs.rmSync(d, { recursive: true });
  });
});

describe('sandbox environment', () => {
  const host = { PATH: '/usr/bin', HOME: '/h', AWS_SECRET_ACCESS_KEY: 's', GITHUB_TOKEN: 't', LC_ALL: 'C', TERM: 'xterm', WARDEN_X: '1', GOPATH: '/g', NODE_EXTRA_CA_CERTS: undefined, WARDEN_NODE_EXTRA_CA_CERTS: '/ca.pem' };
  it('clears everything but the allowlist', () => {
    const env = buildSandboxEnv({ policy: defaultRunPolicy(), host, sandboxId: 'abc' });
    expect(env).toEqual({ PATH: '/usr/bin', HOME: '/h', LC_ALL: 'C', TERM: 'xterm', WARDEN_SANDBOX: 'abc' });
  });
  it('adds passed names, explicit values, provider values; credentials never pass', () => {
    const p = defaultRunPolicy();
    p.env = { pass: ['GOPATH', 'GITHUB_*', 'NODE_EXTRA_CA_CERTS'], set: { CI: '1' } };
    p.credentials = [{ env: 'GITHUB_TOKEN', hosts: ['api.github.com'] }];
    const env = buildSandboxEnv({ policy: p, host, sandboxId: 'abc', provider: { GITHUB_TOKEN: 'surrogate', HTTPS_PROXY: 'x' }, user: { home: '/home/u', name: 'u' } });
    expect(env.GOPATH).toBe('/g');
    expect(env.GITHUB_TOKEN).toBe('surrogate');
    expect(env.CI).toBe('1');
    expect(env.NODE_EXTRA_CA_CERTS).toBe('/ca.pem');
    expect(env.HOME).toBe('/home/u');
    expect(env.USER).toBe('u');
    expect(env.AWS_SECRET_ACCESS_KEY).toBeUndefined();
    expect(env.WARDEN_X).toBeUndefined();
  });
  it('sets a PATH when none is inherited', () => {
    expect(buildSandboxEnv({ policy: defaultRunPolicy(), host: {}, sandboxId: 'x' }).PATH).toMatch(/\/usr\/bin/);
  });
});

describe('warden run argument parsing (fast path)', () => {
  it('parses options and the command', () => {
    expect(parseRunArgs(['--policy', 'p.yaml', '--audit=a.ndjson', '--monitor', '--', 'ls', '-la'])).toEqual({ command: ['ls', '-la'], opts: { policy: 'p.yaml', audit: 'a.ndjson', monitor: true } });
    expect(parseRunArgs(['-p', 'x', 'make', '-j2'])).toEqual({ command: ['make', '-j2'], opts: { policy: 'x' } });
    expect(parseRunArgs(['--network', 'full', '--', 'curl'])).toEqual({ command: ['curl'], opts: { network: 'full' } });
  });
  it('leaves anything unusual to commander', () => {
    expect(parseRunArgs(['--help'])).toBeUndefined();
    expect(parseRunArgs(['--bogus', '--', 'ls'])).toBeUndefined();
    expect(parseRunArgs(['--policy'])).toBeUndefined();
    expect(parseRunArgs(['--'])).toBeUndefined();
    expect(parseRunArgs([])).toBeUndefined();
  });
});
