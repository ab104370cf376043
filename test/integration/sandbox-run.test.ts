// `warden run` basics with the real CLI, as root: exit codes and signals pass through like a
// shell, stdin and terminals work (an interactive agent can run inside), audit events,
// configuration errors, nothing left behind.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOBODY, PY, readEvents, residueAfter, run, sandboxId, sandboxSh, scratch, USER_UID, warden, WARDEN, type Scratch } from './helpers/warden-run.js';

let s: Scratch;
beforeAll(() => {
  s = scratch();
});
afterAll(() => s.cleanup());

/** Starts `warden run -- sh -c script`, waits for `ready` on stdout, then calls act(pid). */
function interact(script: string, act: (pid: number) => void): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const c = spawn(WARDEN, ['run', '--', '/bin/sh', '-c', script], { cwd: s.ws, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let acted = false;
    const t = setTimeout(() => c.kill('SIGKILL'), 30_000);
    c.stdout.on('data', (d) => {
      out += d;
      if (!acted && out.includes('ready')) {
        acted = true;
        act(c.pid!);
      }
    });
    c.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout: out });
    });
  });
}

describe('warden run: exit status', () => {
  it.each([0, 3, 255])('exit %i passes through', async (n) => {
    const r = await sandboxSh(`exit ${n}`, { cwd: s.ws });
    expect(r.code).toBe(n);
  });

  it('a command killed by a signal gives 128+N, like a shell', async () => {
    expect((await sandboxSh('kill -KILL $$', { cwd: s.ws })).code).toBe(137);
    expect((await sandboxSh('kill -TERM $$', { cwd: s.ws })).code).toBe(143);
    // control: the same through a plain shell
    expect((await run(['/bin/sh', '-c', 'sh -c "kill -TERM \\$\\$"'], { cwd: s.ws })).code).toBe(143);
  });

  it('a missing command is 127 with a message, and no sandbox is built', async () => {
    const r = await warden(['run', '--', 'no-such-command-xyz'], { cwd: s.ws });
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/no-such-command-xyz: command not found/);
  });
});

/** The state letter (S, T…) of the `sleep <marker>` process, or undefined while there is none. */
function stateOf(marker: string): string | undefined {
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, 'utf8') !== `sleep\0${marker}\0`) continue;
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
      /* gone */
    }
  }
  return undefined;
}

/** Polls cond every 50 ms for up to 10 s. */
async function until(cond: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

describe('warden run: signals', () => {
  it('SIGTERM to warden reaches the command, which may handle it', async () => {
    const r = await interact(`trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done`, (pid) => process.kill(pid, 'SIGTERM'));
    expect(r.stdout).toContain('got-term');
    expect(r.code).toBe(42);
  });

  it('SIGINT to warden interrupts the command (130 when it does not handle it)', async () => {
    const marker = `30.${process.pid}`;
    const r = await interact(`echo ready; exec sleep ${marker}`, (pid) => {
      void until(() => stateOf(marker) !== undefined).then(() => process.kill(pid, 'SIGINT'));
    });
    expect(r.code).toBe(130);
  });

  it('SIGINT (Ctrl-C) reaches the whole foreground group: a shell waiting for a child ends with 130', async () => {
    // The shell alone defers SIGINT until its child ends; the child must get it too, as on a terminal.
    // Sent once the child runs: a SIGINT between the echo and the fork is deferred by a plain shell too.
    const marker = `100.${process.pid}`;
    const r = await interact(`echo ready; sleep ${marker}; echo after`, (pid) => {
      void until(() => stateOf(marker) !== undefined).then(() => process.kill(pid, 'SIGINT'));
    });
    expect(r.stdout).not.toContain('after');
    expect(r.code).toBe(130);
  });

  it('SIGTSTP (Ctrl-Z) stops the command too, and SIGCONT (fg) resumes it', async () => {
    const marker = `77.${process.pid}`;
    let stopped = false;
    let resumed = false;
    const r = await interact(`echo ready; sleep ${marker}`, (pid) => {
      void (async () => {
        await until(() => stateOf(marker) !== undefined);
        process.kill(pid, 'SIGTSTP');
        stopped = await until(() => stateOf(marker) === 'T'); // the kernel discarded SIGTSTP in the sandbox's orphaned group
        process.kill(pid, 'SIGCONT');
        resumed = await until(() => stateOf(marker) === 'S');
        process.kill(pid, 'SIGINT');
      })();
    });
    expect(stopped).toBe(true);
    expect(resumed).toBe(true);
    expect(r.code).toBe(130);
  });

  it('SIGWINCH and SIGUSR1 are passed on', async () => {
    const r = await interact(`trap 'echo winch' WINCH; trap 'echo usr1; exit 0' USR1; echo ready; while :; do sleep 0.05; done`, (pid) => {
      process.kill(pid, 'SIGWINCH');
      setTimeout(() => process.kill(pid, 'SIGUSR1'), 300);
    });
    expect(r.stdout).toMatch(/winch[\s\S]*usr1/);
    expect(r.code).toBe(0);
  });
});

describe('warden run: stdin and terminals', () => {
  it('stdin is piped through', async () => {
    const r = await warden(['run', '--', 'cat'], { cwd: s.ws, input: 'hello sandbox\n' });
    expect(r.stdout).toBe('hello sandbox\n');
    expect(r.code).toBe(0);
  });

  it('works on a terminal: line input', async () => {
    const cmd = `${WARDEN} run -- ${PY} -c 'import os; print("isatty", os.isatty(0), os.isatty(1)); print("hi", input("name? "))'`;
    const r = await run(['script', '-qec', cmd, '/dev/null'], { cwd: s.ws, input: 'bob\n' });
    expect(r.stdout).toContain('isatty True True');
    expect(r.stdout).toContain('hi bob');
    expect(r.code).toBe(0);
  });

  it('works on a terminal: raw mode, one key at a time (like an agent TUI)', async () => {
    const py = `import tty,sys,termios; a=termios.tcgetattr(0); tty.setraw(0); print("ready", end="\\r\\n", flush=True); c=sys.stdin.read(1); termios.tcsetattr(0, termios.TCSANOW, a); print("raw got", repr(c))`;
    const cmd = `${WARDEN} run -- ${PY} -c '${py}'`;
    const r = await new Promise<{ out: string; code: number | null }>((resolve) => {
      const c = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: s.ws, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let sent = false;
      const t = setTimeout(() => c.kill('SIGKILL'), 30_000);
      c.stdout.on('data', (d) => {
        out += d;
        if (!sent && out.includes('ready')) {
          sent = true;
          c.stdin.write('x');
        }
      });
      c.on('close', (code) => {
        clearTimeout(t);
        resolve({ out, code });
      });
    });
    expect(r.out).toContain("raw got 'x'");
    expect(r.code).toBe(0);
  });
});

describe('warden run: identity', () => {
  it('as root in a workspace owned by a user: runs as that user (files keep their owner; root-only files stay closed), limits still apply', async () => {
    const own = scratch(NOBODY);
    try {
      s.write(path.join(own.ws, 'x'), '');
      const audit = path.join(own.root, 'audit-own.ndjson');
      const r = await warden(['run', '--policy', own.policy('resources: { memory: 128MB }\n'), '--audit', audit, '--', '/bin/sh', '-c', 'id -u; echo hi > made.txt; cat /etc/shadow /root/.profile 2>&1 | head -2; echo done'], {
        cwd: own.ws,
        env: { HOME: '/root' },
      });
      expect(r.code).toBe(0);
      expect(r.stdout.split('\n')[0]).toBe(String(NOBODY));
      expect(fs.statSync(path.join(own.ws, 'made.txt')).uid).toBe(NOBODY);
      expect(r.stdout).not.toMatch(/root:|PATH=/);
      const start = readEvents(audit).find((e) => e.kind === 'sandbox.start')!;
      expect(start.data).toMatchObject({ uid: NOBODY, inner_uid: NOBODY });
      expect((start.data as { cgroups: { enforced_by: Record<string, string> } }).cgroups.enforced_by.memory).toBeDefined();
    } finally {
      own.cleanup();
    }
  });

  it('a user without a passwd entry (a container\'s arbitrary uid), with HOME and without, both start-up paths', async () => {
    // Such a uid once failed before anything ran: "uv_os_get_passwd returned ENOENT".
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-nopasswd-'));
    fs.chownSync(ws, USER_UID, USER_UID);
    try {
      for (const fast of ['0', '1', '1'])
        for (const home of [ws, undefined]) {
          const r = await warden(['run', '--', '/bin/sh', '-c', 'id -u; echo ran'], { cwd: ws, uid: USER_UID, env: { HOME: home, WARDEN_FAST: fast, XDG_RUNTIME_DIR: undefined } });
          expect(r.stdout, `fast=${fast} home=${home}: ${r.stderr}`).toBe(`${USER_UID}\nran\n`);
          expect(r.code).toBe(0);
        }
    } finally {
      fs.rmSync(ws, { recursive: true, force: true });
    }
  });

  it('as root in a root-owned workspace: uid 0 on the host without capabilities, nobody inside', async () => {
    const r = await sandboxSh('id -u; grep -E "^Cap(Eff|Bnd)" /proc/self/status', { cwd: s.ws });
    expect(r.stdout).toMatch(/^65534\nCapEff:\s+0+\nCapBnd:\s+0+\n$/);
  });
});

describe('warden run: audit and configuration', () => {
  it('writes sandbox.start and sandbox.exit as valid NDJSON, and leaves nothing behind', async () => {
    const audit = path.join(s.root, 'audit.ndjson');
    const r = await sandboxSh('echo out; exit 5', { cwd: s.ws, audit });
    expect(r.code).toBe(5);
    const ev = readEvents(audit);
    const start = ev.find((e) => e.kind === 'sandbox.start')!;
    const exit = ev.find((e) => e.kind === 'sandbox.exit')!;
    expect(start.data).toMatchObject({ workspace: s.ws, network: 'none' });
    expect(exit.exit?.code).toBe(5);
    expect(exit.sandbox?.id).toBe(start.sandbox?.id);
    const seqs = ev.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(await residueAfter(sandboxId(ev))).toEqual([]);
  });

  it('an audit log inside the workspace cannot be rewritten, removed or replaced by the command it audits', async () => {
    const audit = path.join(s.ws, 'run-audit.ndjson');
    const r = await sandboxSh(
      `echo '{"kind":"forged"}' > run-audit.ndjson || echo no-write; echo '{"kind":"forged"}' >> run-audit.ndjson || echo no-append; ` +
        `rm -f run-audit.ndjson || echo no-rm; echo x > t && mv t run-audit.ndjson || echo no-mv`,
      { cwd: s.ws, audit: 'run-audit.ndjson' },
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('no-write\nno-append\nno-rm\nno-mv\n');
    const ev = readEvents(audit);
    expect(ev.map((e) => e.kind)).toContain('sandbox.start');
    expect(ev.some((e) => e.kind === 'forged')).toBe(false);
    fs.rmSync(audit);
    fs.rmSync(path.join(s.ws, 't'), { force: true });
  });

  it('an audit log that cannot be opened refuses the run (it ran unaudited, exit 0)', async () => {
    const r = await sandboxSh('echo ran', { cwd: s.ws, audit: s.root });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`--audit ${s.root}: cannot open it (EISDIR); nothing was run`);
  });

  it('a bad policy is exit 2 naming file, line and key', async () => {
    const p = s.policy('network:\n  mode: none\nresources:\n  memory: plenty\n');
    const r = await warden(['run', '--policy', p, '--', 'true'], { cwd: s.ws });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${p}:4: resources.memory:`);
  });

  it('bad options are usage errors (exit 2); --help works', async () => {
    expect((await warden(['run', '--network', 'sometimes', '--', 'true'], { cwd: s.ws })).code).toBe(2);
    expect((await warden(['run', '--bogus', '--', 'true'], { cwd: s.ws })).code).toBe(2);
    const h = await warden(['run', '--help'], { cwd: s.ws });
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/--policy/);
  });

  it('a pass_fds descriptor that is not open is a configuration error naming it (it was "spawn EBADF", exit 1)', async () => {
    const p = s.policy('process: { pass_fds: [987] }\n');
    const r = await warden(['run', '--policy', p, '--', 'true'], { cwd: s.ws });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${p}: process.pass_fds: descriptor 987 is not open`);
  });

  it('a workspace that does not exist is a configuration error', async () => {
    const p = s.policy(`filesystem: { workspace: ${path.join(s.root, 'nope')} }\n`);
    const r = await warden(['run', '--policy', p, '--', 'true'], { cwd: s.ws });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/workspace/);
  });

  it('network allowlist comes from the egress module: unlisted names do not resolve', async () => {
    const audit = path.join(s.root, 'audit-allow.ndjson');
    const p = s.policy('network: { mode: allowlist, allow: [allowed.invalid] }\n');
    const r = await warden(['run', '--policy', p, '--audit', audit, '--', 'getent', 'hosts', 'example.com'], { cwd: s.ws });
    expect(r.code).not.toBe(0);
    const ev = readEvents(audit);
    expect(ev.some((e) => e.kind === 'egress.ready')).toBe(true);
    expect(ev.filter((e) => e.kind === 'net.dns').map((e) => [e.dns?.query, e.severity])).toContainEqual(['example.com', 'warn']);
    // On the fast path the namespace and its record go right after the answer, in the background.
    const id = sandboxId(ev);
    expect(await residueAfter(id)).toEqual([]);
  });

  it.skipIf(process.getuid?.() !== 0)('modules loaded late (--monitor) never start a second run of the command', async () => {
    const r = await warden(['run', '--monitor', '--', '/bin/sh', '-c', 'echo once'], { cwd: s.ws, timeoutMs: 120_000 });
    expect(r.stdout).toBe('once\n');
  });

  it.skipIf(process.getuid?.() !== 0)('--monitor without --audit reports warnings and alerts on stderr (they went nowhere)', async () => {
    const r = await warden(['run', '--monitor', '--', '/bin/sh', '-c', 'cat /etc/shadow >/dev/null 2>&1; echo done'], { cwd: s.ws, timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('done\n');
    expect(r.stderr).toMatch(/^warden: ALERT cred_read_shadow: .*\/etc\/shadow/m);
  });

  it('the workspace is the current directory and files written there persist', async () => {
    const r = await sandboxSh('echo made-inside > made.txt && pwd', { cwd: s.ws });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(s.ws);
    expect(fs.readFileSync(path.join(s.ws, 'made.txt'), 'utf8')).toBe('made-inside\n');
  });
});
