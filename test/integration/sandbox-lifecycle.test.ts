// What `warden run` leaves on the host (nothing: no placeholder files, mounts, cgroups,
// namespaces, records), also when Warden itself is SIGKILLed (the next start cleans up),
// and how it fails where user namespaces are restricted (a message naming cause and fix).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSeccompFilter } from '../../src/sandbox/seccomp.js';
import { heldBySupervisor, NOBODY, readEvents, residueAfter, residueOf, run, sandboxId, sandboxSh, scratch, warden, WARDEN, type Scratch } from './helpers/warden-run.js';

let s: Scratch;
/** A state directory of these tests' own: another engineer's `warden run` on this machine
 *  would otherwise finish the cleanup of our killed sandboxes before we can watch it. */
let xdg: string;
beforeAll(() => {
  s = scratch();
  xdg = fs.mkdtempSync(path.join(s.root, 'xdg-'));
});
afterAll(() => s.cleanup());

function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(path.relative(dir, p));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

// (a supervisor's shared views of a cached plan stay with it after the run: not left by the run)
const hostMounts = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(s.root) && !heldBySupervisor(l.split(' ')[4] ?? ''));

/** Starts a sandbox, waits until its command runs, SIGKILLs Warden; returns the sandbox id. */
async function startAndKill(policyYaml: string, script: string, cwd: string): Promise<{ id: string; audit: string }> {
  const audit = path.join(s.root, `audit-kill-${Math.random().toString(36).slice(2)}.ndjson`);
  const c = spawn(WARDEN, ['run', '--policy', s.policy(policyYaml), '--audit', audit, '--', '/bin/sh', '-c', script], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    // The Node path: there Warden itself holds the sandbox's resources (on the fast path a killed
    // launcher is cleaned up at once by the supervisor: sandbox-fastpath.test.ts).
    env: { ...process.env, XDG_RUNTIME_DIR: xdg, WARDEN_FAST: '0' },
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`sandbox did not start: ${out}`)), 30_000);
    c.stdout.on('data', (d) => {
      out += d;
      if (out.includes('running')) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  // The audit sink flushes on a short timer: wait for sandbox.start to be on disk.
  for (let i = 0; i < 100 && !readEvents(audit).some((e) => e.kind === 'sandbox.start'); i++) await new Promise((r) => setTimeout(r, 50));
  c.kill('SIGKILL');
  await new Promise((r) => c.once('close', r));
  return { id: sandboxId(readEvents(audit)), audit };
}

describe('warden run leaves nothing behind', () => {
  it('after a normal run: workspace unchanged but for what the command wrote, no mounts, cgroups or records', async () => {
    const ws = path.join(s.ws, 'clean');
    s.write('ws/clean/.git/HEAD', 'ref: refs/heads/main\n');
    s.write('ws/clean/src/a.txt', 'a');
    const before = listTree(ws);
    const mountsBefore = hostMounts();
    const audit = path.join(s.root, 'audit-clean.ndjson');
    const r = await sandboxSh('echo new > src/b.txt; cat .env .mcp.json 2>/dev/null; ls -a', { cwd: ws, audit, policy: s.policy('resources: { memory: 128MB, pids: 64 }\n') });
    expect(r.code).toBe(0);
    // No placeholders for protected paths that do not exist (.mcp.json, .vscode, .claude ...).
    expect(listTree(ws)).toEqual([...before, 'src/b.txt'].sort());
    expect(hostMounts()).toEqual(mountsBefore);
    expect(await residueAfter(sandboxId(readEvents(audit)))).toEqual([]);
  });

  it('after Warden is SIGKILLed, the sandbox dies with it and the next start cleans up', async () => {
    const ws = path.join(s.ws, 'killed');
    s.write('ws/killed/.keep', '');
    const { id } = await startAndKill('resources: { memory: 128MB, pids: 64 }\n', `echo '{"mcpServers":{}}' > .mcp.json; echo running; exec sleep 300`, ws);
    // Its cgroups and record are still there until the next warden run...
    const left = residueOf(id, [xdg]);
    // ...but no process is left in them (die-with-parent, pid namespace).
    for (const d of left.filter((p) => p.startsWith('/sys/fs/cgroup/'))) {
      let procs = '';
      for (let i = 0; i < 100; i++) {
        procs = fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').trim();
        if (!procs) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(procs, d).toBe('');
    }
    expect(left.some((p) => p.includes('/sys/fs/cgroup/'))).toBe(true);
    expect(left.some((p) => p.endsWith(`${id}.json`))).toBe(true);
    expect(fs.existsSync(path.join(ws, '.mcp.json'))).toBe(true);

    const r = await warden(['run', '--', 'true'], { cwd: s.ws, env: { XDG_RUNTIME_DIR: xdg } });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`cleaned up after sandbox ${id}`);
    expect(await residueAfter(id, [xdg])).toEqual([]);
    // The protected file the killed sandbox created was dealt with by the cleanup too.
    expect(fs.existsSync(path.join(ws, '.mcp.json'))).toBe(false);
    expect(fs.readdirSync(ws).some((n) => n.startsWith('.mcp.json.warden-quarantined-'))).toBe(true);
  });

  it('the network namespace of a SIGKILLed allowlist sandbox is removed by the next start', async () => {
    const { id } = await startAndKill('network: { mode: allowlist, allow: [example.invalid] }\n', 'echo running; exec sleep 300', s.ws);
    expect(residueOf(id, [xdg]).some((p) => p.startsWith('/run/warden/netns/'))).toBe(true);
    const r = await warden(['run', '--', 'true'], { cwd: s.ws, env: { XDG_RUNTIME_DIR: xdg } });
    expect(r.stderr).toContain(`cleaned up after sandbox ${id}`);
    expect(await residueAfter(id, [xdg])).toEqual([]);
  });

  it('a record of a Warden that is still running is left alone', async () => {
    const env = { ...process.env, XDG_RUNTIME_DIR: xdg };
    const c = spawn(WARDEN, ['run', '--', '/bin/sh', '-c', 'echo running; exec sleep 3'], { cwd: s.ws, stdio: ['ignore', 'pipe', 'pipe'], env });
    await new Promise<void>((r) => c.stdout.on('data', (d) => String(d).includes('running') && r()));
    // (a supervisor's records of the views its plans keep are not runs)
    const records = fs.readdirSync(path.join(xdg, 'warden/sandboxes')).filter((n) => n.endsWith('.json') && !n.endsWith('.views.json'));
    expect(records).toHaveLength(1);
    const r = await warden(['run', '--', 'true'], { cwd: s.ws, env: { XDG_RUNTIME_DIR: xdg } });
    expect(r.stderr).not.toContain('cleaned up');
    expect(fs.existsSync(path.join(xdg, 'warden/sandboxes', records[0]!))).toBe(true);
    c.kill('SIGTERM');
    await new Promise((r2) => c.once('close', r2));
  });
});

describe('restricted user namespaces', () => {
  it('user namespaces disabled (max_user_namespaces = 0 in this namespace): cause and fix, as root and as nobody', async () => {
    // The limit is per user namespace: set it to 0 in a namespace of the test's own (like an
    // unprivileged container whose admin disabled them) so nothing else on the host is affected.
    const inner = `echo 0 > /proc/sys/user/max_user_namespaces && exec ${WARDEN} run -- true`;
    for (const uid of [undefined, NOBODY]) {
      const xdg = fs.mkdtempSync(path.join(s.root, 'xdg-'));
      if (uid !== undefined) fs.chownSync(xdg, uid, uid);
      const r = await run(['unshare', '-Ur', '/bin/sh', '-c', inner], { cwd: '/', uid, env: { XDG_RUNTIME_DIR: xdg, HOME: '/nonexistent' } });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/cannot create the sandbox: user namespaces are disabled on this host \(sysctl user.max_user_namespaces = 0\)/);
      expect(r.stderr).toMatch(/fix: sysctl -w user.max_user_namespaces=/);
    }
  });

  it('user.max_user_namespaces = 0 host-wide (where this test may change the sysctl)', async (ctx) => {
    const file = '/proc/sys/user/max_user_namespaces';
    const saved = fs.readFileSync(file, 'utf8').trim();
    try {
      fs.writeFileSync(file, saved); // a no-op write: can we change it at all?
    } catch {
      ctx.skip(); // no CAP_SYS_RESOURCE here (e.g. a restricted container); covered by the test above
      return;
    }
    let results;
    try {
      // Kept as short as possible: other sandboxes on this machine fail while it is 0.
      fs.writeFileSync(file, '0');
      results = await Promise.all([
        warden(['run', '--', 'true'], { cwd: s.ws }),
        warden(['run', '--', 'true'], { cwd: '/', uid: NOBODY, env: { HOME: '/nonexistent' } }),
      ]);
    } finally {
      fs.writeFileSync(file, saved);
    }
    for (const r of results) {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/sysctl user.max_user_namespaces = 0/);
    }
    expect(fs.readFileSync(file, 'utf8').trim()).toBe(saved);
  });

  it('inside a container that blocks nested user namespaces: bwrap fails and the cause is named', async () => {
    // A container like Docker's default: its own user namespace and a seccomp filter that
    // refuses namespace creation. Built with bwrap and Warden's own filter generator.
    const filter = path.join(s.root, 'container.bpf');
    fs.writeFileSync(filter, buildSeccompFilter({ unixSockets: true }).program);
    const fd = fs.openSync(filter, 'r');
    try {
      // (--bind /proc: a nested bwrap cannot mount a new proc over one with covered parts)
      const base = ['bwrap', '--unshare-user', '--unshare-pid', '--ro-bind', '/', '/', '--dev', '/dev', '--bind', '/proc', '/proc', '--tmpfs', '/tmp'];
      const container = [...base, '--seccomp', '3', '--'];
      const r = await run([...container, WARDEN, 'run', '--', 'true'], { cwd: s.ws, env: { XDG_RUNTIME_DIR: '/tmp/xdg', HOME: s.home }, extraStdio: [fd] });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cannot create the sandbox: Warden runs inside a container that does not allow nested user namespaces/);
      expect(r.stderr).toMatch(/fix: start the container with --security-opt seccomp=unconfined/);
      // control: the same container without the filter fails for another reason (root there is
      // the host's root, and without CAP_SYS_ADMIN the stand-in cannot be given the workspace),
      // which Warden names instead of blaming user namespaces; it never runs the command as root.
      const other = await run([...base, '--', WARDEN, 'run', '--', 'true'], {
        cwd: s.ws,
        env: { XDG_RUNTIME_DIR: '/tmp/xdg', HOME: s.home },
      });
      expect(other.code).toBe(1);
      expect(other.stderr).not.toMatch(/nested user namespaces/);
    } finally {
      fs.closeSync(fd);
    }
  });
});
