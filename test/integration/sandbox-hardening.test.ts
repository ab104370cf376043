// Issue #10: the ways out of `warden run` an attacker with the source found, each as a class,
// in the three identities (Warden as root in a root-owned workspace, as root in a user's
// workspace, unprivileged). Each attempt is checked on the host (core_pattern unchanged, no
// setuid file, no hook ran, the listener got nothing), with a control showing it works
// without Warden.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { SECRET_PATHS } from '../../src/config/defaults.js';
import { NOBODY, PY, readEvents, run, sandboxSh, scratch, USER_UID, warden, type Scratch } from './helpers/warden-run.js';

const IDENTITIES = [
  { who: 'root', uid: undefined, owner: undefined },
  { who: 'root-user-ws', uid: undefined, owner: USER_UID },
  { who: 'nobody', uid: NOBODY, owner: NOBODY },
] as const;

/** Every file below `dir` whose mode has the set-uid or set-gid bit. */
function setIdFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = fs.lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.mode & 0o6000) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** A fake secret at every concrete path of the built-in list (globs get an `x`). */
function plantSecrets(s: Scratch): string[] {
  const planted: string[] = [];
  for (const [i, e] of SECRET_PATHS.entries()) {
    let rel: string | undefined;
    if (e.pattern.startsWith('~/')) rel = path.join('home', e.pattern.slice(2).replace(/\*/g, 'x'));
    else if (e.pattern.startsWith('**/')) rel = path.join('ws', 'deep/dir', e.pattern.slice(3).replace(/\*/g, 'x'));
    if (!rel) continue;
    const p = path.join(s.root, rel);
    if (fs.existsSync(p) || planted.some((q) => p.startsWith(q + '/') || q.startsWith(p + '/'))) continue;
    s.write(rel, `FAKE-SECRET-${i}\n`);
    planted.push(p);
  }
  return planted;
}

for (const { who, uid, owner } of IDENTITIES) {
  describe(`hardening (warden run as ${who})`, () => {
    let s: Scratch;
    let env: Record<string, string>;
    const sh = (script: string, extra: { network?: string; policy?: string; audit?: string; cwd?: string } = {}) => sandboxSh(script, { cwd: s.ws, uid, env, ...extra });

    beforeAll(() => {
      s = scratch(owner);
      env = { HOME: s.home };
    });
    afterAll(() => s.cleanup());

    it('never runs as host uid 0, and writes land as the workspace owner', async () => {
      const marker = `${4 + Math.random()}`.slice(0, 8);
      const p = sh(`echo made > made.txt; sleep ${marker}; echo done`);
      // From the host: every process of the sandbox (found by its unique sleep argument)
      let uids: number[] = [];
      for (let i = 0; i < 60 && !uids.length; i++) {
        await new Promise((r) => setTimeout(r, 50));
        for (const pid of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
          try {
            if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') !== `sleep\0${marker}\0`) continue;
            const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
            uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(st)!.slice(1).map(Number);
          } catch {
            /* gone */
          }
        }
      }
      const r = await p;
      expect(r.stdout).toContain('done');
      expect(uids.length).toBe(4);
      expect(uids.every((u) => u !== 0)).toBe(true);
      if (owner !== undefined) expect(uids[0]).toBe(owner);
      expect(fs.statSync(path.join(s.ws, 'made.txt')).uid).toBe(owner ?? 0);
    });

    it('cannot write any sysctl: /proc/sys is a read-only mount (core_pattern stays)', async () => {
      const before = fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8');
      const py = [
        'import os, json',
        'ok = []',
        'for d, _, fs in os.walk("/proc/sys"):',
        '  for f in fs:',
        '    p = os.path.join(d, f)',
        '    try:',
        '      os.close(os.open(p, os.O_WRONLY)); ok.append(p)',
        '    except OSError: pass',
        'v = os.statvfs("/proc/sys")',
        'print(json.dumps({"writable": ok, "ro": bool(v.f_flag & os.ST_RDONLY)}))',
      ].join('\n');
      s.write('ws/sysctl.py', py);
      const r = await sh(`echo "|$PWD/p.sh" > /proc/sys/kernel/core_pattern 2>/dev/null && echo WROTE; ${PY} sysctl.py; echo 1 > /proc/sysrq-trigger 2>/dev/null && echo SYSRQ; echo done`);
      expect(r.stdout).toContain('done');
      expect(r.stdout).not.toMatch(/WROTE|SYSRQ/);
      const res = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('{'))!) as { writable: string[]; ro: boolean };
      expect(res.writable).toEqual([]);
      expect(res.ro).toBe(true); // fails when /proc/sys is writable inside, whatever the uid
      expect(fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8')).toBe(before);
      if (uid === undefined) {
        // control: root outside can open sysctls for writing
        const c = await run([PY, path.join(s.ws, 'sysctl.py')], { cwd: s.ws });
        expect((JSON.parse(c.stdout) as { writable: string[] }).writable.length).toBeGreaterThan(10);
      }
    });

    it('sees no kernel internals and not the host network in /sys', async () => {
      const r = await sh(`cat /proc/keys /proc/timer_list 2>/dev/null | wc -c; ls /sys/class/net | wc -l; ls /sys/devices/virtual/net | wc -l; ls /sys/firmware | wc -l; echo done`, { network: 'full' });
      expect(r.stdout.trim().split('\n').slice(0, 4)).toEqual(['0', '0', '0', '0']);
      const c = await run(['/bin/sh', '-c', 'ls /sys/class/net | wc -l'], { cwd: s.ws, uid });
      expect(Number(c.stdout.trim())).toBeGreaterThan(0); // control
    });

    it('cannot leave a set-uid or set-gid file on the host', async () => {
      const py = [
        'import os',
        'for name, f in [("open", lambda: os.close(os.open("py-open", os.O_CREAT | os.O_WRONLY, 0o4755))),',
        '                ("chmod", lambda: os.chmod("plain", 0o2755)),',
        '                ("mknod", lambda: os.mknod("node", 0o104755))]:',
        '  try: f(); print("OK", name)',
        '  except OSError as e: print("refused", name, e.errno)',
      ].join('\n');
      s.write('ws/setid.py', py);
      const r = await sh(
        `cp /bin/sh ./rootsh; chmod 4755 ./rootsh 2>/dev/null; chmod u+s ./rootsh 2>/dev/null; chmod g+s ./rootsh 2>/dev/null; install -m 4755 /bin/sh ./rootsh2 2>/dev/null; ` +
          `touch plain; ${PY} setid.py; mkdir sgid-dir; chmod 2775 sgid-dir 2>/dev/null; echo done`,
      );
      expect(r.stdout).toContain('done');
      expect(r.stdout).not.toMatch(/^OK/m);
      expect(setIdFiles(s.ws)).toEqual([]);
      // control: the owner can outside
      const c = await run(['/bin/sh', '-c', 'cp /bin/true ./ctl && chmod 4755 ./ctl && stat -c %a ./ctl; rm -f ./ctl'], { cwd: s.ws, uid: owner });
      expect(c.stdout.trim()).toBe('4755');
    });

    it('cannot read root-only files that are not secrets (only what its uid may)', async () => {
      if (uid !== undefined) return; // an unprivileged Warden cannot read them in the first place
      const secret = s.write('outside/root-only.key', 'ROOT-ONLY-CONTENT');
      fs.chownSync(secret, 0, 0);
      fs.chmodSync(secret, 0o600);
      fs.chmodSync(path.dirname(secret), 0o755);
      const r = await sh(`cat ${secret} 2>&1; cat /etc/ssl/private/* 2>&1 | head -1; echo done`);
      expect(r.stdout).toContain('done');
      expect(r.stdout).not.toContain('ROOT-ONLY-CONTENT');
      expect(r.stdout).toMatch(/Permission denied/);
    });

    it('hides every built-in secret path (agents, clouds, registries, databases, histories), in the home and in the workspace', async () => {
      const planted = plantSecrets(s);
      onTestFinished(() => {
        for (const p of planted) fs.rmSync(p, { force: true });
      });
      expect(planted.length).toBeGreaterThan(100);
      const r = await sh(`cat ${planted.map((p) => `'${p}'`).join(' ')} 2>/dev/null | grep -c FAKE-SECRET; grep -rh FAKE-SECRET ${s.home} ${s.ws} 2>/dev/null | head -5; echo done`);
      expect(r.stdout, r.stderr).toContain('done');
      expect(r.stdout.split('\n')[0]).toBe('0');
      // control: outside, every one is readable
      const c = await run(['/bin/sh', '-c', `cat ${planted.map((p) => `'${p}'`).join(' ')} | grep -c FAKE-SECRET`], { cwd: s.ws, uid: owner });
      expect(Number(c.stdout.trim())).toBe(planted.length);
    });

    it('a secret written into a hidden credential directory during the run stays hidden', async () => {
      s.write('home/.aws/config', '[default]\n');
      const late = path.join(s.home, '.aws/credentials');
      const script = `i=0; while [ ! -e ${s.ws}/go ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; cat ${late} 2>/dev/null; echo done`;
      const p = sh(script);
      await new Promise((r) => setTimeout(r, 800));
      s.write('home/.aws/credentials', 'aws_secret_access_key=LATE-SECRET\n');
      s.write('ws/go', '');
      const r = await p;
      expect(r.stdout).toContain('done');
      expect(r.stdout).not.toContain('LATE-SECRET');
    });

    it('cannot reach a host unix socket through a datagram socketpair (sendto a path or an abstract name)', async () => {
      const got: string[] = [];
      const sockPath = path.join(s.ws, 'host-dgram.sock');
      // node has no unix datagram server: python listens on the host side
      const listener = run([PY, '-c', `import socket,sys\ns=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); import os; os.chmod(sys.argv[1], 0o777); s.settimeout(6)\ntry:\n  print('GOT', s.recv(100))\nexcept Exception as e: print('none')`, sockPath], { cwd: s.ws, timeoutMs: 10_000 });
      for (let i = 0; i < 50 && !fs.existsSync(sockPath); i++) await new Promise((r) => setTimeout(r, 50));
      const py = [
        'import socket, sys',
        'for t in (socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_RDM, socket.SOCK_STREAM, socket.SOCK_SEQPACKET):',
        '  try:',
        '    a, b = socket.socketpair(socket.AF_UNIX, t)',
        '    try: a.sendto(b"escape", sys.argv[1]); print("sendto returned", t)',
        '    except OSError as e: print("send refused", t, e.errno)',
        '  except OSError as e: print("pair refused", t, e.errno)',
      ].join('\n');
      s.write('ws/dgram.py', py);
      for (const network of ['none', 'full']) {
        const r = await sh(`${PY} dgram.py ${sockPath}`, { network });
        expect(r.stdout, network).toMatch(/pair refused 2 1/); // SOCK_DGRAM, EPERM
        expect(r.stdout, network).toMatch(/pair refused 3 1/); // SOCK_RAW: the kernel makes it a datagram pair
        expect(r.stdout, network).toMatch(/send refused 1 106/); // a stream pair ignores no address: EISCONN
      }
      const out = await listener;
      got.push(out.stdout);
      expect(got.join('')).toContain('none');
      // control: outside the sandbox the same program reaches a listener
      fs.rmSync(sockPath, { force: true });
      const listener2 = run([PY, '-c', `import socket,sys,os\ns=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777); s.settimeout(6)\ntry:\n  print('GOT', s.recv(100))\nexcept Exception as e: print('none')`, sockPath], { cwd: s.ws, timeoutMs: 10_000 });
      for (let i = 0; i < 50 && !fs.existsSync(sockPath); i++) await new Promise((r) => setTimeout(r, 50));
      await run([PY, path.join(s.ws, 'dgram.py'), sockPath], { cwd: s.ws, uid });
      expect((await listener2).stdout).toContain('GOT');
    });

    it('host users cannot use the views the stand-in gets (they show root\'s files as the stand-in\'s)', async () => {
      if (who !== 'root') return; // views exist only for the stand-in
      const marker = `${5 + Math.random()}`.slice(0, 8);
      const p = sh(`echo secret-content > inside.txt; chmod 600 inside.txt; sleep ${marker}`);
      let views: string[] = [];
      for (let i = 0; i < 60 && !views.length; i++) {
        await new Promise((r) => setTimeout(r, 50));
        views = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => /^\/run\/warden\/mnt\/[a-z0-9]+\/\d+$/.test(m));
      }
      expect(views.length).toBeGreaterThan(0);
      const probe = views.map((v) => `ls ${v} >/dev/null 2>&1 && echo REACHED ${v}; cat ${v}/inside.txt 2>/dev/null && echo READ`).join('; ');
      for (const u of [USER_UID, NOBODY]) {
        const c = await run(['/bin/sh', '-c', probe + '; echo done'], { cwd: '/', uid: u });
        expect(c.stdout).toContain('done');
        expect(c.stdout).not.toMatch(/REACHED|READ/);
      }
      await p;
    });

    it('a root-owned allow_write path is not handed to a user\'s sandbox through a view (warned, not writable)', async () => {
      if (who !== 'root-user-ws') return;
      const cache = path.join(s.root, 'rootcache');
      fs.mkdirSync(cache, { recursive: true });
      fs.chownSync(cache, 0, 0);
      fs.chmodSync(cache, 0o755);
      const r = await sh(`touch ${cache}/x 2>/dev/null && echo WROTE; grep -c /run/warden/mnt /proc/self/mountinfo; echo done`, { policy: s.policy(`filesystem: { allow_write: [${cache}] }\n`) });
      expect(r.stdout).toContain('done');
      expect(r.stdout).not.toContain('WROTE');
      expect(r.stderr).toMatch(/rootcache: the sandbox runs as uid 4242 \(the workspace owner\), which cannot write it/);
    });

    it('--audit through a symlink an earlier run planted (or onto a non-file) is refused', async () => {
      const target = path.join(s.outside, `victim-${who}.sh`);
      const r1 = await sh(`ln -s ${target} planted.ndjson && mkdir -p sub && ln -s ${s.outside} linkdir && echo planted`);
      expect(r1.stdout).toContain('planted');
      for (const a of ['planted.ndjson', 'linkdir/audit.ndjson']) {
        const r = await warden(['run', '--audit', a, '--', 'touch', `ran-${a.replace(/\W/g, '')}`], { cwd: s.ws, uid, env });
        expect(r.code, a).toBe(2);
        expect(r.stderr, a).toMatch(/symlink/);
        expect(fs.existsSync(path.join(s.ws, `ran-${a.replace(/\W/g, '')}`))).toBe(false);
      }
      expect(fs.existsSync(target)).toBe(false);
    });

    it('workspace = HOME: startup files, git config, AWS config and Python hooks it creates are moved aside', async () => {
      const home = path.join(s.root, 'wshome');
      fs.mkdirSync(home, { recursive: true });
      if (owner !== undefined) fs.chownSync(home, owner, owner);
      const files = ['.config/git/config', '.aws/config', '.local/lib/python3.11/site-packages/usercustomize.py', '.bash_aliases', '.local/bin/ls', '.config/fish/conf.d/x.fish', '.tmux.conf', '.vimrc', '.kube/config'];
      // also: Warden's own run record through a symlink planted where it would write it
      const plant = `mkdir -p .local/state/warden/runs /var/tmp/x && ln -s ${home}/.profile .local/state/warden/runs/$WARDEN_SANDBOX.ndjson; getent hosts refused.example >/dev/null`;
      const r = await sandboxSh(`for f in ${files.join(' ')}; do mkdir -p "$(dirname "$f")" && echo 'payload' > "$f"; done; ${plant}; echo done`, { cwd: home, uid, env: { HOME: home }, network: 'allowlist' });
      expect(r.stdout).toContain('done');
      for (const f of files) expect(fs.existsSync(path.join(home, f)), f).toBe(false);
      expect(fs.existsSync(path.join(home, '.profile'))).toBe(false);
    });

    it('refuses a state directory a sandbox could write (XDG_RUNTIME_DIR in the workspace)', async () => {
      const rt = path.join(s.ws, 'rt');
      fs.mkdirSync(rt, { recursive: true, mode: 0o700 });
      if (owner !== undefined) fs.chownSync(rt, owner, owner);
      if (uid !== undefined) fs.chownSync(rt, uid, uid);
      const r = await warden(['run', '--', 'touch', 'ran-rt'], { cwd: s.ws, uid, env: { ...env, XDG_RUNTIME_DIR: rt } });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/state directory .* lies in .*which the sandbox can write/);
      expect(fs.existsSync(path.join(s.ws, 'ran-rt'))).toBe(false);
    });

    it('names the sandbox writes cannot drive the terminal through Warden\'s messages', async () => {
      const r = await sh(`mkdir -p "$(printf 'x\\033[2K\\rEVIL')" && mkdir -p .vscode && echo '{}' > .vscode/tasks.json; mkdir -p "$(printf 'y\\033[1A')/.git/hooks" && printf '#!/bin/sh\\n' > "$(printf 'y\\033[1A')/.git/hooks/post-merge"; echo done`);
      expect(r.stdout).toContain('done');
      expect(r.stderr).toMatch(/\\x1b\[1A/);
      expect(r.stderr).not.toContain('\x1b');
    });

    it('sees its own cgroup, not the host tree; no host interrupts or pressure', async () => {
      const r = await sh(`for f in $(find /sys/fs/cgroup -name cgroup.procs 2>/dev/null); do wc -l < $f; done | sort -n | tail -1; ls /sys/fs/cgroup | wc -l; cat /proc/interrupts 2>/dev/null | wc -c; ls /proc/pressure 2>/dev/null | wc -l; echo done`, { policy: s.policy('resources: { pids: 100 }\n') });
      // Every hierarchy's mount point, the sandbox's own cgroup or an empty directory, is read-only.
      for (const policy of uid === undefined ? [s.policy('resources: { pids: 100 }\n'), undefined] : [undefined]) {
        const w = await sh(`for d in /sys/fs/cgroup /sys/fs/cgroup/*; do mkdir "$d/x" 2>/dev/null && echo "WROTE $d"; touch "$d/f" 2>/dev/null && echo "WROTE $d"; done; ls /sys/fs/cgroup | wc -l`, policy ? { policy } : {});
        expect(w.stdout).not.toContain('WROTE');
        expect(Number(w.stdout.trim().split('\n').at(-1))).toBeGreaterThan(0); // the hierarchies' mount points are there
      }
      if (uid !== undefined) return; // unprivileged: no cgroup of its own, the policy is refused (escape suite)
      const [procs, , irq, pressure] = r.stdout.trim().split('\n').map(Number);
      expect(procs).toBeLessThan(10); // only the sandbox's own processes, in any hierarchy
      expect(irq).toBe(0);
      expect(pressure).toBe(0);
      const c = await run(['/bin/sh', '-c', 'cat /sys/fs/cgroup/unified/cgroup.procs /sys/fs/cgroup/pids/cgroup.procs 2>/dev/null | wc -l'], { cwd: s.ws });
      expect(Number(c.stdout.trim())).toBeGreaterThan(20); // control: the host tree lists every process
    });

    it('--audit on the command\'s own output is refused (the command could forge audit lines)', async () => {
      for (const target of ['-', '/dev/stdout', '/proc/self/fd/1', '/dev/stderr']) {
        const r = await warden(['run', '--audit', target, '--', '/bin/sh', '-c', `touch ${s.ws}/ran-${target.replace(/\W/g, '')}; echo '{"ts":"2026-01-01T00:00:00.000Z","seq":1,"kind":"sandbox.exit","severity":"info"}'`], { cwd: s.ws, uid, env });
        expect(r.code, target).toBe(2);
        expect(r.stderr, target).toMatch(/could write forged audit lines/);
        expect(fs.existsSync(path.join(s.ws, `ran-${target.replace(/\W/g, '')}`)), target).toBe(false);
      }
      const audit = path.join(s.root, `audit-${who}.ndjson`);
      if (uid !== undefined) fs.writeFileSync(audit, ''), fs.chownSync(audit, uid, uid);
      const ok = await warden(['run', '--audit', audit, '--', 'true'], { cwd: s.ws, uid, env });
      expect(ok.code).toBe(0);
      expect(readEvents(audit).some((e) => e.kind === 'sandbox.exit')).toBe(true);
    });
  });
}
