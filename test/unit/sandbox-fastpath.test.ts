// The fast path's pieces that are logic: the launcher's wire format, which runs the supervisor
// serves (the rest go to the Node path), the launch it sends, and the caller's context swap.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveFast } from '../../src/cli/supervisor.js';
import type { NetworkMode } from '../../src/sandbox/policy.js';
import { networkProvider } from '../../src/sandbox/network.js';
import { defaultRunPolicy } from '../../src/sandbox/policy.js';
import type { LaunchPlan } from '../../src/sandbox/run-launch.js';
import { asCaller, launchFields, parseRequest, type FastRequest } from '../../src/sandbox/supervisor.js';
import { decodeFields, encodeFrame, every, first, FrameReader } from '../../src/sandbox/wire.js';

describe('wire frames', () => {
  it('round-trip tags and values, repeated tags kept in order, UTF-8 and empty values too', () => {
    const f: Array<[string, string]> = [['a', 'sh'], ['a', ''], ['a', 'é ü 中'], ['env', 'X=1=2']];
    const frame = encodeFrame(f);
    expect(frame.readUInt32LE(0)).toBe(frame.length - 4);
    expect(decodeFields(frame.subarray(4))).toEqual(f);
    expect(every(f, 'a')).toEqual(['sh', '', 'é ü 中']);
    expect(first(f, 'env')).toBe('X=1=2');
  });

  it('a reader fed byte by byte gives each frame once it is whole', () => {
    const bytes = Buffer.concat([encodeFrame([['r', 'one']]), encodeFrame([['r', 'two'], ['x', 'y']])]);
    const r = new FrameReader();
    const got = [];
    for (const b of bytes) got.push(...r.push(Buffer.from([b])));
    expect(got).toEqual([[['r', 'one']], [['r', 'two'], ['x', 'y']]]);
  });

  it('malformed frames are refused, not half-read', () => {
    expect(() => decodeFields(Buffer.from('tag-without-value\0'))).toThrow(/malformed/);
    const huge = Buffer.alloc(4);
    huge.writeUInt32LE(0xffffffff);
    expect(() => new FrameReader().push(huge)).toThrow(/frame of/);
  });

  it('a request: arguments, directory, environment, terminal, groups', () => {
    const req = parseRequest([['v', '2'], ['cwd', '/w'], ['a', '--'], ['a', 'true'], ['env', 'HOME=/h'], ['env', 'A=b=c'], ['env', 'junk'], ['tty', '1'], ['group', '0'], ['group', '27'], ['pid', '42']]);
    expect(req).toEqual({ version: 2, cwd: '/w', args: ['--', 'true'], env: { HOME: '/h', A: 'b=c' }, tty: true, groups: [0, 27], pid: 42 });
  });
});

describe('which runs the supervisor serves', () => {
  const req = (args: string[]): FastRequest => ({ version: 2, args, cwd: '/', env: {}, tty: false, groups: [] });
  const providers = async () => (mode: NetworkMode) => networkProvider(mode);

  it('plain runs, network none or full, quiet', async () => {
    const p = await providers();
    const r = await resolveFast(req(['--', 'true']), p);
    expect(r).not.toBe('fallback');
    if (typeof r === 'object') {
      expect(r.argv).toEqual(['true']);
      expect(r.network.mode).toBe('none');
    }
    const full = await resolveFast(req(['--network', 'full', '-q', '--', 'curl', 'x']), p);
    expect(typeof full === 'object' && full.network.mode === 'full' && full.quiet).toBe(true);
  });

  it('allowlist runs (the launcher enters the namespace the supervisor made)', async () => {
    const r = await resolveFast(req(['--network', 'allowlist', '--', 'true']), await providers());
    expect(typeof r === 'object' && r.network.mode).toBe('allowlist');
  });

  it('everything that needs more than a launch goes to the Node path', async () => {
    const p = await providers();
    for (const args of [
      ['--audit', '-', '--', 'true'], // the launcher's stdout
      ['--audit', '/dev/stdout', '--', 'true'], // the supervisor's, here: the Node path checks the caller's
      ['--audit', '/proc/self/fd/1', '--', 'true'],
      ['--audit', '/dev/fd/2', '--', 'true'],
      ['--policy', '/dev/fd/63', '--', 'true'], // <(…) of the caller's shell
      ['--policy', '/dev/stdin', '--', 'true'],
      ['--monitor', '--', 'true'],
      ['--learn', '--', 'true'],
      ['--print-policy', '--', 'true'],
      ['--policy-ref', 'origin/main:.warden/policy.yaml', '--', 'true'], // the trusted policy is read by the Node path
      ['--network', 'bogus', '--', 'true'],
      ['--agent', 'claude', '--', 'true'],
      ['--', 'claude', '-p', 'hi'], // agent found from the command
      ['--unknown-option', '--', 'true'],
      ['--'],
    ])
      expect(await resolveFast(req(args), p), args.join(' ')).toBe('fallback');
  });

  it('a policy file is read as the caller sees it (relative to its directory)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fast-'));
    try {
      fs.writeFileSync(path.join(dir, 'p.yaml'), 'network:\n  mode: allowlist\n  allow: [example.com]\n');
      fs.writeFileSync(path.join(dir, 'q.yaml'), 'network:\n  mode: full\n');
      const p = await providers();
      const at = (args: string[]) => resolveFast({ ...req(args), cwd: dir }, p);
      const allow = await at(['--policy', 'p.yaml', '--', 'true']);
      expect(typeof allow === 'object' && allow.policy.network.allow).toEqual(['example.com']);
      const q = await at(['--policy', 'q.yaml', '--', 'true']);
      expect(typeof q === 'object' && q.policy.network.mode).toBe('full');
      await expect(at(['--policy', 'missing.yaml', '--', 'true'])).rejects.toThrow();
      // a symlink to the caller's own output: the Node path (here it would be the supervisor's)
      fs.symlinkSync('/dev/stdout', path.join(dir, 'out.ndjson'));
      expect(await at(['--audit', 'out.ndjson', '--', 'true'])).toBe('fallback');
      // --audit: opened here, relative to the caller's directory, read-only inside
      const said: string[] = [];
      const a = await resolveFast({ ...req(['--audit', 'run.ndjson', '--', 'true']), cwd: dir, pid: process.pid }, p, (m) => said.push(m));
      expect(typeof a === 'object' && a.policy.filesystem.readOnly).toEqual([path.join(dir, 'run.ndjson')]);
      if (typeof a === 'object') await a.close?.();
      expect(fs.existsSync(path.join(dir, 'run.ndjson'))).toBe(true);
      // one the command could write to (a symlink planted in the workspace) is refused, exit 2
      fs.symlinkSync('/etc/passwd', path.join(dir, 'link.ndjson'));
      expect(await resolveFast({ ...req(['--audit', 'link.ndjson', '--', 'true']), cwd: dir, pid: process.pid }, p, (m) => said.push(m))).toBe(2);
      expect(said.join('\n')).toMatch(/link\.ndjson.*symlink/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the launch sent to the launcher', () => {
  it('splits bwrap options (sent through a descriptor) from the command, and carries descriptors, identity, namespaces to enter, timeout', () => {
    const l = {
      args: ['--unshare-net', '--bind-fd', '6', '/w', '--', 'sh', '-c', 'echo --'],
      pins: ['/w'],
      providerFds: [],
      env: { PATH: '/bin', A: 'x=y' },
      seccomp: { program: Buffer.from([1, 2, 0xff]), denied: [], instructions: 1, socketFamilies: [] },
      passFds: [3],
      base: 4,
      cgroupProcs: ['/sys/fs/cgroup/pids/warden-x/cgroup.procs'],
      netPrefix: ['ip', 'netns', 'exec', 'warden-x'],
      netJoin: [{ path: '/run/warden/netns/warden-x', ino: 4026532999 }],
      drop: { uid: 1000, gid: 1000 },
    } as unknown as LaunchPlan;
    const policy = defaultRunPolicy();
    policy.resources.timeoutMs = 5000;
    const f = launchFields('/usr/bin/bwrap', l, policy);
    expect(every(f, 'o')).toEqual(['--unshare-net', '--bind-fd', '6', '/w']);
    expect(every(f, 'c')).toEqual(['--', 'sh', '-c', 'echo --']);
    expect(every(f, 'env')).toEqual(['PATH=/bin', 'A=x=y']);
    expect(first(f, 'seccomp')).toBe('0102ff');
    expect([first(f, 'base'), first(f, 'drop'), first(f, 'timeout'), every(f, 'pass'), every(f, 'pin'), every(f, 'cg')]).toEqual(['4', '1000 1000', '5000', ['3'], ['/w'], ['/sys/fs/cgroup/pids/warden-x/cgroup.procs']]);
    expect(every(f, 'ns')).toEqual(['4026532999 /run/warden/netns/warden-x']);
  });
});

describe('the caller context', () => {
  it("plans with the caller's environment, then puts the supervisor's back, also after an error", () => {
    const before = { ...process.env };
    const seen = asCaller({ version: 2, args: [], cwd: '/', env: { HOME: '/caller-home', ONLY_CALLER: '1' }, tty: false, groups: [] }, () => ({ home: process.env.HOME, only: process.env.ONLY_CALLER, path: process.env.PATH }));
    expect(seen).toEqual({ home: '/caller-home', only: '1', path: undefined });
    expect(() => asCaller({ version: 2, args: [], cwd: '/', env: {}, tty: false, groups: [] }, () => { throw new Error('boom'); })).toThrow('boom');
    expect(process.env).toEqual(before);
  });
});
