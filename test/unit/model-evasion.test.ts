// The process model's answers to issue #17 and #12 without a kernel: paths walked like the
// kernel does through /proc magic links, launchers seen through, the exec environment reported
// without credentials, programs an agent wrote not trusted, one session per agent start,
// decisions that apply to one image only, sessions recovered from the pinned state, loss and
// signals reported with their session.
import { describe, expect, it } from 'vitest';
import { Guard } from '../../src/cli/guard.js';
import { LossReporter } from '../../src/cli/loss.js';
import type { UnstampedEvent } from '../../src/events/types.js';
import { AgentMatcher, launchedCommand } from '../../src/model/agents.js';
import { AuthoredFiles } from '../../src/model/authored.js';
import { changedEnv, redactValue, reportedEnv } from '../../src/model/exec-env.js';
import { kernelDev, watchedNames } from '../../src/model/identity.js';
import { ProcessModel } from '../../src/model/process-model.js';
import { walkPath } from '../../src/model/resolve.js';
import type { RawRecord } from '../../src/sensors/raw.js';

const view = (pid: number, cwd: string) => ({ pid, cwd: () => cwd });

describe('paths walked like the kernel walks them', () => {
  it('rewrites /proc/self/cwd and /proc/<pid>/cwd before walking what follows, so .. leaves the cwd', () => {
    expect(walkPath('/proc/self/cwd/../.ssh/id_ed25519', view(process.pid, '/home/dev/project'))).toBe('/home/dev/.ssh/id_ed25519');
    expect(walkPath(`/proc/${process.pid}/task/${process.pid}/cwd/x`, view(process.pid, '/home/dev/project'))).toBe('/home/dev/project/x');
    expect(walkPath('/proc/thread-self/cwd', view(process.pid, '/srv'))).toBe('/srv');
  });

  it('/proc/self/root is the root, and .. cannot climb above it', () => {
    expect(walkPath('/proc/self/root/home/dev/.ssh/key', view(process.pid, '/'))).toBe('/home/dev/.ssh/key');
    expect(walkPath('/../../etc/./shadow', view(1, '/'))).toBe('/etc/shadow');
  });

  it('leaves other /proc paths alone', () => {
    expect(walkPath('/proc/self/environ', view(process.pid, '/'))).toBe('/proc/self/environ');
    expect(walkPath('/proc/1/mem', view(process.pid, '/'))).toBe('/proc/1/mem');
  });
});

describe('launchers', () => {
  it('sees through env (a #!/usr/bin/env node shebang), env -S, nohup and nice', () => {
    expect(launchedCommand(['/usr/bin/env', 'node', '/usr/lib/node_modules/@openai/codex/bin/codex.js', '--version'])).toEqual(['node', '/usr/lib/node_modules/@openai/codex/bin/codex.js', '--version']);
    expect(launchedCommand(['env', '-i', 'A=1', '-u', 'B', 'codex'])).toEqual(['codex']);
    expect(launchedCommand(['/usr/bin/env', '-S', 'node --no-warnings', '/x/gemini'])).toEqual(['node', '--no-warnings', '/x/gemini']);
    expect(launchedCommand(['nohup', 'claude', '-p', 'x'])).toEqual(['claude', '-p', 'x']);
    expect(launchedCommand(['nice', '-n', '5', 'aider'])).toEqual(['aider']);
    expect(launchedCommand(['env'])).toBeUndefined();
    expect(launchedCommand(['bash', '-c', 'codex'])).toBeUndefined();
  });

  it('the matcher names the agent a launcher runs', () => {
    const m = new AgentMatcher();
    expect(m.match({ argv: ['/usr/bin/env', 'node', '/home/u/.npm/bin/codex', '--version'] })).toBe('codex');
    expect(m.match({ argv: ['/usr/bin/env', 'node', '/home/u/bin/tool.js'] })).toBeUndefined();
  });
});

describe('the exec environment', () => {
  it('reports only the listed variables, proxy credentials removed', () => {
    const env = reportedEnv({ HTTPS_PROXY: 'http://bob:hunter2@proxy:3128', OPENAI_API_KEY: 'sk-secret', LD_PRELOAD: '/tmp/x.so', PATH: '/usr/bin' });
    expect(env).toEqual({ HTTPS_PROXY: 'http://***@proxy:3128', LD_PRELOAD: '/tmp/x.so', PATH: '/usr/bin' });
    expect(JSON.stringify(env)).not.toContain('hunter2');
    expect(redactValue('ALL_PROXY', 'socks5://proxy:1080')).toBe('socks5://proxy:1080');
  });

  it('tells what changed from the environment before (set, altered, removed)', () => {
    expect(changedEnv({ PATH: '/usr/bin', HOME: '/home/u' }, { PATH: '/tmp/x:/usr/bin', HOME: '/home/u', LD_AUDIT: '/a.so' })).toEqual(['LD_AUDIT', 'PATH']);
    expect(changedEnv({ BASH_ENV: '/x' }, {})).toEqual(['BASH_ENV']);
    expect(changedEnv(undefined, { LD_PRELOAD: 'x' })).toEqual([]);
  });
});

describe('identity', () => {
  it('converts the userspace st_dev encoding to the kernel dev_t the sensor reports', () => {
    // major 8, minor 1 (sda1): st_dev 0x801 -> kernel (8 << 20) | 1
    expect(kernelDev(0x801)).toBe((8 << 20) | 1);
    // minor above 255: bits 12+ of st_dev hold minor's high bits
    expect(kernelDev(0x100801)).toBe((8 << 20) | 0x101);
  });

  it('watches the secrets themselves, not the directories they sit among (a PATH search is not a search for a token)', () => {
    const names = watchedNames();
    for (const n of ['.ssh', '.aws', '.azure', '.oci', '.netrc', 'shadow', '.bashrc', 'authorized_keys', 'id_ed25519']) expect(names).toContain(n);
    for (const n of ['.config', '.cargo', '.docker', '.local', 'config', 'ld.so.preload', 'etc']) expect(names).not.toContain(n);
  });
});

describe('programs an agent wrote are not the tools they are named after', () => {
  it('by authorship and by location', () => {
    const a = new AuthoredFiles();
    a.wrote('/home/dev/project/ssh-add', 's1');
    expect(a.untrusted(['/usr/bin/python3.11', '/home/dev/project/ssh-add'])).toBe('written by agent session s1');
    expect(a.untrusted(['/tmp/aws'])).toMatch(/temporary directory/);
    expect(a.untrusted(['/usr/bin/ssh-add'])).toBeUndefined();
  });
});

/** A model fed hand-made records; what it asks the kernel to do is recorded. */
function model() {
  const events: UnstampedEvent[] = [];
  const untracked: Array<[number, number | undefined]> = [];
  const tracked: Array<[number, number | undefined]> = [];
  let t = 1000;
  const m = new ProcessModel({
    matcher: new AgentMatcher(),
    emit: (e) => events.push(e),
    track: (p, r) => tracked.push([p, r]),
    untrack: (p, g) => untracked.push([p, g]),
    now: () => t,
  });
  return { m, events, untracked, tracked, advance: (ms: number) => (t += ms) };
}

const exec = (o: Partial<RawRecord & { t: 'exec' }> & { pid: number; argv: string[] }): RawRecord =>
  ({ t: 'exec', ns: 1n, tid: o.pid, ppid: 1, uid: 0, euid: 0, filename: o.argv[0]!, candidate: true, gen: 1, cwd: '/home/dev/project', ...o }) as RawRecord;

describe('one session per agent start (pids far above any live one, so /proc has none of them)', () => {
  it('a #!/usr/bin/env node wrapper and the native binary it runs are one session', () => {
    const { m, events } = model();
    m.record(exec({ pid: 4_000_001, argv: ['/usr/bin/env', 'node', '/opt/codex/bin/codex', '--version'], filename: '/opt/codex/bin/codex' }));
    m.record({ t: 'fork', ns: 2n, pid: 4_000_002, tid: 4_000_002, ppid: 4_000_001 });
    m.record(exec({ pid: 4_000_002, ppid: 4_000_001, argv: ['codex', '--version'], filename: '/opt/codex/native/codex', candidate: false }));
    const starts = events.filter((e) => e.kind === 'agent.start');
    expect(starts).toHaveLength(1);
    expect(starts[0]!.agent!.name).toBe('codex');
    const native = events.find((e) => e.kind === 'process.exec' && e.proc?.pid === 4_000_002);
    expect(native?.agent?.session).toBe(starts[0]!.agent!.session);
  });

  it('a launcher gone before its command line was read is decided on its next image (bpftrace: no argv for a first exec)', () => {
    const { m, events } = model();
    m.record({ ...exec({ pid: 4_000_021, argv: ['x'], filename: '/opt/codex/bin/codex' }), argv: undefined } as RawRecord);
    expect(events.filter((e) => e.kind === 'agent.start')).toHaveLength(0);
    m.record(exec({ pid: 4_000_021, argv: ['node', '/opt/codex/bin/codex', '--version'], filename: '/usr/bin/node', gen: 2 }));
    const starts = events.filter((e) => e.kind === 'agent.start');
    expect(starts.map((e) => [e.agent!.name, e.agent!.root_pid])).toEqual([['codex', 4_000_021]]);
  });

  it('another agent started inside a tree is its own session, with the outer session home', () => {
    const { m, events } = model();
    m.record(exec({ pid: 4_000_011, argv: ['claude'], env: { HOME: '/home/dev' } }));
    m.record({ t: 'fork', ns: 2n, pid: 4_000_012, tid: 4_000_012, ppid: 4_000_011 });
    m.record(exec({ pid: 4_000_012, ppid: 4_000_011, argv: ['codex', 'exec'], candidate: false, env: { HOME: '/tmp/fake' } }));
    const starts = events.filter((e) => e.kind === 'agent.start');
    expect(starts.map((e) => e.agent!.name)).toEqual(['claude', 'codex']);
    expect(starts[1]!.agent!.home).toBe('/home/dev');
    expect(starts[1]!.data).toMatchObject({ parent_session: starts[0]!.agent!.session, env_home: '/tmp/fake' });
  });
});

describe('decisions apply to one image', () => {
  it('a rejected candidate is untracked for its exec generation only; its next exec is decided anew', () => {
    const { m, events, untracked } = model();
    m.record(exec({ pid: 4_000_021, argv: ['node', '/srv/app.js'], gen: 3 }));
    expect(untracked).toEqual([[4_000_021, 3]]);
    m.record(exec({ pid: 4_000_021, argv: ['node', '/opt/@google/gemini-cli/dist/index.js'], gen: 4 }));
    expect(events.filter((e) => e.kind === 'agent.start').map((e) => e.agent!.name)).toEqual(['gemini']);
  });

  it('a launcher named like an agent is held until its next image, not rejected', () => {
    const { m, events, untracked } = model();
    m.record(exec({ pid: 4_000_031, argv: ['/bin/sh', '/opt/bin/claude'], filename: '/opt/bin/claude' }));
    expect(untracked).toEqual([]);
    m.record(exec({ pid: 4_000_031, argv: ['node', '/opt/@anthropic-ai/claude-code/cli.js'], gen: 2 }));
    expect(events.filter((e) => e.kind === 'agent.start').map((e) => e.agent!.name)).toEqual(['claude']);
  });

  it('records of a process found not to be an agent are counted', () => {
    const { m } = model();
    m.record(exec({ pid: 4_000_041, argv: ['python3', '/srv/job.py'] }));
    m.record({ t: 'open', ns: 3n, pid: 4_000_041, tid: 4_000_041, dfd: -100, flags: 0, mode: 0, ret: 3, path: '/etc/hostname' });
    m.record({ t: 'exit', ns: 4n, pid: 4_000_041, tid: 4_000_041, code: 0, signal: 0 });
    expect(m.counters.rejected_records).toBe(2);
  });
});

describe('the pinned state remembers sessions', () => {
  it('records of an agent that exited while no monitor ran are attributed to its session by the kernel root', () => {
    const { m, events, advance } = model();
    m.recoverSession({ root: 4_000_051, name: 'claude', session: 'claude-4000051-abc', cwd: '/home/dev/project', home: '/home/dev' });
    m.record({ t: 'open', ns: 3n, pid: 4_000_052, tid: 4_000_052, root: 4_000_051, dfd: -100, flags: 0, mode: 0, ret: 3, path: '/home/dev/.ssh/id_ed25519', kpath: '/home/dev/.ssh/id_ed25519' });
    advance(300);
    m.tick();
    const e = events.find((x) => x.kind === 'file.open');
    expect(e?.agent).toMatchObject({ name: 'claude', session: 'claude-4000051-abc', home: '/home/dev' });
    expect(m.counters.attributed_by_root).toBe(1);
  });
});

describe('a child of an agent that exited while no monitor ran', () => {
  it('has its fork, exec, reads and exit reported in the recovered session, once, not deferred for ever', () => {
    // The agent (4000061, exited) started `cat` (4000062, exited too), which read a key; the
    // records reach a monitor started again, which knows the session from the pinned state only.
    const { m, events, advance } = model();
    m.recoverSession({ root: 4_000_061, name: 'claude', session: 'claude-4000061-abc', cwd: '/home/dev/project', home: '/home/dev' });
    const base = { pid: 4_000_062, tid: 4_000_062, root: 4_000_061 };
    m.record({ t: 'fork', ns: 2n, ...base, ppid: 4_000_061 });
    m.record({ ...exec({ pid: 4_000_062, argv: ['cat', '/home/dev/.ssh/id_ed25519'], filename: '/usr/bin/cat', ppid: 4_000_061, candidate: false }), ns: 3n, root: 4_000_061 } as RawRecord);
    m.record({ t: 'open', ns: 4n, ...base, dfd: -100, flags: 0, mode: 0, ret: 3, path: '/home/dev/.ssh/id_ed25519', kpath: '/home/dev/.ssh/id_ed25519' });
    m.record({ t: 'exit', ns: 5n, ...base, code: 0, signal: 0 });
    for (let i = 0; i < 5; i++) {
      advance(300);
      m.tick();
    }
    const mine = events.filter((e) => e.proc?.pid === 4_000_062);
    expect(mine.map((e) => e.kind)).toEqual(['process.fork', 'process.exec', 'file.open', 'process.exit']);
    expect(mine.find((e) => e.kind === 'file.open')?.agent).toMatchObject({ session: 'claude-4000061-abc' });
    expect(m.counters.unattributed).toBe(0);
  });
});

describe('loss and signals, by session', () => {
  it('loss of a session that flooded is its own flood; loss of no session is reported apart', () => {
    const out: UnstampedEvent[] = [];
    const session = { id: 's1', rootPid: 10, ref: { name: 'claude', root_pid: 10, session: 's1' }, events: 5000, name: 'claude' };
    const other = { id: 's2', rootPid: 20, ref: { name: 'codex', root_pid: 20, session: 's2' }, events: 10, name: 'codex' };
    const l = new LossReporter({
      sessionByRoot: (r) => (r === 10 ? session : r === 20 ? other : undefined) as never,
      sessions: () => [session, other] as never,
      emit: (e) => out.push(e),
      now: () => '2026-01-01T00:00:00.000Z',
    });
    l.flush();
    session.events += 9000;
    other.events += 3;
    l.add(500, 10, 'utimes', 'rate_limited');
    l.add(7, 20, 'open', 'dropped');
    l.add(3, undefined, 'open', 'dropped');
    l.flush();
    expect(out.map((e) => [e.agent?.session, e.data?.own_flood])).toEqual([
      ['s1', true],
      ['s2', false],
      [undefined, undefined],
    ]);
    expect(out[0]!.data).toMatchObject({ lost: 500, by_kind: { utimes: 500 }, by_reason: { rate_limited: 500 } });
  });

  it('a signal to the monitor names the sender and its session, and is acknowledged once', async () => {
    const out: UnstampedEvent[] = [];
    const acks: number[] = [];
    const g = new Guard({
      agentOf: (pid) => (pid === 77 ? { name: 'claude', root_pid: 70, session: 's7' } : undefined),
      sessionRoot: () => undefined,
      emit: (e) => out.push(e),
      ack: (s) => acks.push(s),
      isoFromNs: () => '2026-01-01T00:00:00.000Z',
    });
    const r = { t: 'signal', ns: process.hrtime.bigint(), pid: 77, tid: 77, sig: 9, target: 500, role: 'monitor', uid: 0, code: 0, seq: 4, comm: 'bash', ancestry: [{ pid: 70, comm: 'node' }] } as const;
    g.onRecord(r);
    g.onRecord(r);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ kind: 'monitor.killed', severity: 'alert', rule: 'warden.monitor_killed', agent: { session: 's7' } });
    expect(acks).toEqual([4, 4]);
    const term = { ...r, sig: 15, seq: 5, pid: 1234 };
    const waiting = g.senderOf(15, 500);
    g.onRecord(term);
    expect((await waiting)?.sender).toBe(1234);
    expect(out[1]).toMatchObject({ kind: 'monitor.signal', severity: 'info' });
  });
});

describe('secrets known by inode, as of the event', () => {
  /** A temporary home with ~/.aws/credentials, removed after fn. */
  async function withSecretHome(fn: (home: string, secret: string) => Promise<void>): Promise<void> {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-ident-'));
    try {
      fs.mkdirSync(path.join(home, '.aws'));
      const secret = path.join(home, '.aws', 'credentials');
      fs.writeFileSync(secret, 'old');
      await fn(home, secret);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  }

  it('a file written under a temporary name and renamed over a secret (an atomic save) is not the secret at its open; a link made to a known secret is', async () => {
    const { SecretIdentity } = await import('../../src/model/identity.js');
    const fs = await import('node:fs');
    const path = await import('node:path');
    await withSecretHome(async (home, secret) => {
      let clock = 1000n;
      const id = new SecretIdentity({ homes: () => [home], clock: () => clock });
      id.refresh(); // at the start: known from then on
      const dev = (p: string) => kernelDev(fs.statSync(p).dev);
      const ino = (p: string) => fs.statSync(p).ino;
      expect(id.lookup(dev(secret), ino(secret), 5n)?.path).toBe(secret);
      // an atomic save: the temporary file is opened at t=2000, renamed over the secret, then found at t=3000
      const tmp = `${secret}.tmp`;
      fs.writeFileSync(tmp, 'new');
      const tmpIno = ino(tmp);
      fs.renameSync(tmp, secret);
      clock = 3000n;
      id.refresh();
      expect(id.lookup(dev(secret), tmpIno, 2000n)).toBeUndefined(); // its open, before it was the secret
      expect(id.lookup(dev(secret), tmpIno, 3500n)?.path).toBe(secret); // an open after: the secret
      // a hard link to the known secret, opened later: the secret, named by what it is
      const link = path.join(home, 'innocent');
      fs.linkSync(secret, link);
      expect(id.lookup(dev(link), ino(link), 4000n)?.path).toBe(secret);
    });
  });

  it('gives the sensor every protected inode once it runs, whatever was known before (the kernel hides library reads of inodes it was not given)', async () => {
    const { SecretIdentity } = await import('../../src/model/identity.js');
    const fs = await import('node:fs');
    await withSecretHome(async (home, secret) => {
      const key = `${kernelDev(fs.statSync(secret).dev)}:${fs.statSync(secret).ino}`;
      let running = false;
      const given: string[] = [];
      const id = new SecretIdentity({ homes: () => [home], protect: (d, i) => running && given.push(`${d}:${i}`) > 0 });
      id.refresh(); // an agent found before the sensor attached: nothing can be given yet
      expect(given).toEqual([]);
      running = true;
      id.refresh(); // the refresh once the sensor runs gives it all
      expect(given).toContain(key);
      const n = given.length;
      id.refresh();
      expect(given.length).toBe(n); // once per sensor
      id.resendProtected(); // a sensor started without the last one's kernel state
      expect(given.length).toBe(2 * n);
    });
  });

  it("keeps an inode on the kernel's list after the secret was moved away from its path (a moved secret is still the secret)", async () => {
    const { SecretIdentity } = await import('../../src/model/identity.js');
    const fs = await import('node:fs');
    const path = await import('node:path');
    await withSecretHome(async (home, secret) => {
      const key = (p: string) => `${kernelDev(fs.statSync(p).dev)}:${fs.statSync(p).ino}`;
      const on = new Set<string>();
      const id = new SecretIdentity({ homes: () => [home], protect: (d, i) => on.add(`${d}:${i}`) !== undefined });
      id.refresh();
      const old = key(secret);
      const away = path.join(home, 'innocent.so.1');
      fs.renameSync(secret, away);
      fs.writeFileSync(secret, 'new');
      id.refresh();
      expect(on.has(old)).toBe(true);
      expect(key(away)).toBe(old);
      expect(on.has(key(secret))).toBe(true);
    });
  });
});
