// Issue #17: `warden watch` against an agent that knows how it works, with the compiled kernel
// sensor. A stub agent (argv[0] `claude`, temporary HOME holding a fake key) tries each evasion
// of the issue (helpers/evasion.py does the system-call tricks) and the test checks that every
// one produces the event and the alert a user would expect:
//   1. arguments on pages that are not resident (connect, rename, DNS)
//   2. secret reads under innocent paths (dup2 over a directory fd, /proc/self/root, /proc/self/cwd/..,
//      open_tree, O_PATH + /proc/self/fd, a bind mount in a private mount namespace, hard and symbolic
//      links, a script named like a trusted tool, a nested agent with a forged HOME)
//   5. what was not traced at all: privilege changes, setns, unshare, packet and raw sockets,
//      userfaultfd, the security-relevant environment of an exec
// and, from issue #11, the sensor side: `rm -rf` relative to a directory fd arrives as resolved
// paths, failed opens and lookups of secrets are events, the workspace follows the agent's own cd.
// Needs the compiled sensor (most of this is what bpftrace cannot do: docs/sensor.md).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import dgram from 'node:dgram';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { run, startWatch, type RunningWatch } from '../helpers/watch.js';

const root = process.getuid?.() === 0;
const HELPER = path.resolve(__dirname, 'helpers', 'evasion.py');
const PY = '/usr/bin/python3';

describe.skipIf(!root)('warden watch against an agent that knows how it works (compiled sensor)', () => {
  let w: RunningWatch;
  let tmp: string;
  let home: string;
  let key: string;
  let tcp: net.Server;
  let tcpPort: number;
  let dns: dgram.Socket;
  let dnsIp: string;
  let agentPid = 0;
  let events: WardenEvent[] = [];

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-evasion-'));
    fs.chmodSync(tmp, 0o755);
    home = path.join(tmp, 'home');
    key = path.join(home, '.ssh', 'id_ed25519');
    fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
    fs.mkdirSync(path.join(home, 'project'), { recursive: true });
    fs.mkdirSync(path.join(tmp, 'launch'));
    fs.writeFileSync(key, '-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n');
    fs.copyFileSync(HELPER, path.join(tmp, 'evasion.py'));
    fs.chmodSync(path.join(tmp, 'evasion.py'), 0o755);
    tcp = net.createServer((s) => {
      s.on('error', () => undefined); // the client closes at once
      s.end('hi\n');
    });
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    tcpPort = (tcp.address() as net.AddressInfo).port;
    dnsIp = `127.53.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    dns = dgram.createSocket('udp4');
    dns.on('message', (m, rinfo) => {
      const resp = Buffer.concat([m.subarray(0, 2), Buffer.from([0x81, 0x80]), m.subarray(4, 6), Buffer.from([0, 1, 0, 0, 0, 0]), m.subarray(12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1])]);
      dns.send(resp, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => dns.bind(53, dnsIp, r));

    const E = `${PY} ${tmp}/evasion.py`;
    const script = path.join(tmp, 'agent.sh');
    fs.writeFileSync(
      script,
      [
        // #11: the agent starts elsewhere and moves into its project itself
        `cd "$HOME/project"`,
        'echo "int main(){return 0;}" > main.c',
        // 1. arguments on pages that are not resident
        `${E} nonresident-connect ${tcpPort}`,
        'echo x > "$HOME/project/rc.tmp"',
        `${E} nonresident-rename "$HOME/project/rc.tmp" "$HOME/.bashrc"`,
        `${E} nonresident-dns ${dnsIp} nonresident-probe.example.test`,
        // 2. the key under other names
        `${E} dup2-read "$HOME"`,
        `${E} proc-root-read "$HOME"`,
        `${E} proc-cwd-read "$HOME"`,
        `${E} open-tree-read "$HOME"`,
        `${E} opath-fd-read "$HOME"`,
        `unshare -m --propagation private sh -c 'mkdir -p ${tmp}/m && mount --bind "$HOME/.ssh" ${tmp}/m && cat ${tmp}/m/id_ed25519 >/dev/null'`,
        `ln "$HOME/.ssh/id_ed25519" ${tmp}/notes.txt && cat ${tmp}/notes.txt >/dev/null`,
        `ln -s "$HOME/.ssh/id_ed25519" ${tmp}/cfg && cat ${tmp}/cfg >/dev/null`,
        // a script the agent wrote, named like the SSH tool that may read keys
        `printf '#!${PY}\\nimport sys\\nopen(sys.argv[1]).read()\\n' > "$HOME/project/ssh-add" && chmod +x "$HOME/project/ssh-add" && "$HOME/project/ssh-add" "$HOME/.ssh/id_ed25519"`,
        // a nested agent with a forged HOME
        `HOME=${tmp}/fakehome bash -c 'exec -a codex cat "$0"' "$HOME/.ssh/id_ed25519" >/dev/null`,
        // 5. what was not traced
        `cp ${PY} ${tmp}/pyroot && chmod 4755 ${tmp}/pyroot && setpriv --reuid=65534 --regid=65534 --clear-groups ${tmp}/pyroot ${tmp}/evasion.py setresuid-root`,
        `${E} setns-init`,
        'unshare -Um true',
        `${E} packet-socket`,
        `${E} userfaultfd`,
        `LD_AUDIT=${tmp}/audit.so /bin/true 2>/dev/null || true`,
        'GLIBC_TUNABLES=glibc.malloc.check=3 /bin/true',
        'HTTPS_PROXY=http://agentuser:s3cret-proxy-pass@127.0.0.1:9 /bin/true',
        'PROMPT_COMMAND="echo hooked" bash -c true',
        `PATH=${tmp}/bin:$PATH /bin/true`,
        // #11: failed attempts of secret paths, and make clean relative to a directory fd
        'find "$HOME/.azure" >/dev/null 2>&1 || true',
        'cat "$HOME/.oci/config" >/dev/null 2>&1 || true',
        'mkdir -p build/obj && touch build/obj/a.o build/obj/b.o && rm -rf build',
      ].join('\n') + '\n',
    );
    w = await startWatch(['--backend', 'ebpf']);
    const r = await run('bash', [script], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: home },
      argv0: 'claude',
      cwd: path.join(tmp, 'launch'),
    });
    expect(r.code, r.out).toBe(0);
    agentPid = r.pid;
    await w.waitFor((e) => e.kind === 'agent.exit' && e.agent?.root_pid === agentPid, 30_000, 'agent.exit');
    expect(await w.stop()).toBe(0);
    events = w.events();
  }, 240_000);

  afterAll(async () => {
    await w?.stop();
    tcp?.close();
    dns?.close();
    if (tmp) {
      spawnSyncQuiet('umount', [path.join(tmp, 'm')]);
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  const mine = () => events.filter((e) => e.agent?.root_pid === agentPid || e.agent?.session?.startsWith(`codex-`));
  const byArg = (sub: string) => mine().filter((e) => e.proc?.argv.includes(sub));
  const keyReads = (sub: string) => byArg(sub).filter((e) => e.kind === 'file.open' && e.file?.path === key);

  describe('1. arguments on pages that are not resident', () => {
    it('the connect is reported with its destination', () => {
      const c = byArg('nonresident-connect').find((e) => e.kind === 'net.connect' && e.net?.dst_port === tcpPort);
      expect(c?.net).toMatchObject({ proto: 'tcp', dst_ip: '127.0.0.1', dst_port: tcpPort });
    });

    it('the rename into ~/.bashrc is reported as that (a persistence alert), not as a rename of the cwd', () => {
      const r = byArg('nonresident-rename').find((e) => e.kind === 'file.rename');
      expect(r?.file?.path).toBe(path.join(home, '.bashrc'));
      expect(r?.severity).toBe('alert');
      expect(r?.rule).toBe('persist_shell_startup');
    });

    it('the DNS query is decoded with its name', () => {
      const d = byArg('nonresident-dns').find((e) => e.kind === 'net.dns');
      expect(d?.dns?.query).toBe('nonresident-probe.example.test');
    });
  });

  describe('2. the key read under other names is the key read (alert)', () => {
    for (const trick of ['dup2-read', 'proc-root-read', 'proc-cwd-read', 'open-tree-read', 'opath-fd-read']) {
      it(trick, () => {
        const reads = keyReads(trick);
        expect(reads.length, `${trick}: ${JSON.stringify(byArg(trick).filter((e) => e.kind === 'file.open').map((e) => e.file))}`).toBeGreaterThan(0);
        expect(reads.some((e) => e.severity === 'alert' && e.rule === 'cred_read_ssh_key')).toBe(true);
      });
    }

    it('through a bind mount in a private mount namespace: known by its inode', () => {
      const e = mine().find((x) => x.kind === 'file.open' && x.file?.path === key && x.file.identified_by === 'inode' && x.proc?.argv[0] === 'cat' && x.file.resolved === path.join(tmp, 'm', 'id_ed25519'));
      expect(e?.severity).toBe('alert');
      expect([e?.rule, ...(e?.also ?? [])]).toContain('evasion_secret_other_name');
    });

    it('through a hard link and a symlink: the links are alerts, the reads are key reads', () => {
      const links = mine().filter((e) => (e.kind === 'file.link' || e.kind === 'file.symlink') && e.rule === 'evasion_link_to_secret');
      expect(links.map((e) => e.kind).sort()).toEqual(['file.link', 'file.symlink']);
      for (const via of ['notes.txt', 'cfg']) {
        const r = mine().find((e) => e.kind === 'file.open' && e.proc?.argv.includes(path.join(tmp, via)) && e.file?.path === key);
        expect(r?.severity, via).toBe('alert');
      }
    });

    it('a script the agent wrote and named ssh-add is not trusted as the SSH tool', () => {
      const r = mine().find((e) => e.kind === 'file.open' && e.file?.path === key && e.proc?.argv.some((a) => a.endsWith('/ssh-add')));
      expect(r?.proc?.tool_untrusted).toMatch(/written by agent session|temporary directory/);
      expect(r?.severity).toBe('alert');
      expect(r?.rule).toBe('cred_read_ssh_key');
    });

    it('a nested agent with a forged HOME keeps the session home: its read of the key is an alert, its HOME a warning', () => {
      const start = events.find((e) => e.kind === 'agent.start' && e.agent?.name === 'codex' && e.data?.parent_session);
      expect(start?.agent?.home).toBe(home);
      expect(start?.rule).toBe('agent_forged_home');
      const r = events.find((e) => e.kind === 'file.open' && e.agent?.session === start?.agent?.session && e.file?.path === key);
      expect(r?.severity).toBe('alert');
    });
  });

  describe('5. privilege, namespaces, sockets, exploit primitives and the exec environment', () => {
    it('setresuid to root by a setuid-root program run as nobody', () => {
      const e = mine().find((x) => x.kind === 'process.setid' && x.data?.gained_root === true);
      expect(e?.rule).toBe('priv_gained_root');
      expect(e?.data).toMatchObject({ call: 'setresuid', ret: 0, before: { uid: 65534 }, after: { uid: 0, euid: 0 } });
    });

    it('setns into PID 1 namespace, unshare of user and mount namespaces', () => {
      expect(mine().find((e) => e.kind === 'process.setns')?.rule).toBe('ns_join_host_namespace');
      const u = mine().find((e) => e.kind === 'process.unshare' && e.proc?.argv[0] === 'unshare' && (e.data?.namespaces as string[]).includes('user'));
      expect(u?.rule).toBe('ns_new_namespace');
    });

    it('packet and raw sockets, userfaultfd', () => {
      const socks = mine().filter((e) => e.kind === 'net.socket');
      expect(socks.map((e) => e.rule).sort()).toEqual(['net_packet_socket', 'net_raw_socket']);
      expect(mine().find((e) => e.kind === 'process.userfaultfd')?.rule).toBe('exploit_userfaultfd');
    });

    it('the environment of an exec: loader, tunables, proxy, shell hook, PATH; a proxy password is never stored', () => {
      const execOf = (rule: string) => mine().find((e) => e.kind === 'process.exec' && (e.rule === rule || e.also?.includes(rule)));
      for (const rule of ['env_loader_audit', 'env_glibc_tunables', 'env_proxy_set', 'env_shell_hook', 'env_path_tmp_first']) expect(execOf(rule), rule).toBeDefined();
      expect((execOf('env_proxy_set')!.data!.env as Record<string, string>).HTTPS_PROXY).toBe('http://***@127.0.0.1:9');
      expect(fs.readFileSync(w.file, 'utf8')).not.toContain('s3cret-proxy-pass');
    });
  });

  describe('issue #11, sensor side', () => {
    it('rm -rf relative to a directory fd arrives as resolved paths, and the project is the workspace', () => {
      const unl = mine().filter((e) => e.kind === 'file.unlink' && e.proc?.argv[0] === 'rm');
      expect(unl.map((e) => e.file?.path).sort()).toEqual(
        ['build', 'build/obj', 'build/obj/a.o', 'build/obj/b.o'].map((p) => path.join(home, 'project', p)).sort(),
      );
      expect(mine().filter((e) => e.file?.path.includes('[fd '))).toEqual([]);
      expect(mine().filter((e) => e.rule === 'ws_write_outside_project' && e.file?.path.startsWith(path.join(home, 'project')))).toEqual([]);
    });

    it('the workspace is the start cwd and the project the agent moved into itself', () => {
      const exit = events.find((e) => e.kind === 'agent.exit' && e.agent?.root_pid === agentPid);
      expect(exit?.agent?.cwd).toBe(path.join(tmp, 'launch'));
      expect(exit?.agent?.workspaces).toEqual([path.join(tmp, 'launch'), path.join(home, 'project')]);
    });

    it('failed lookups and opens of secret paths are events (find ~/.azure, cat ~/.oci/config)', () => {
      const lookup = mine().find((e) => e.kind === 'file.lookup' && e.file?.path === path.join(home, '.azure'));
      expect(lookup?.file?.ret).toBe(-2);
      expect(lookup?.rule).toBe('cred_probe_secret');
      const open = mine().find((e) => e.kind === 'file.open' && e.file?.path === path.join(home, '.oci', 'config'));
      expect(open?.file?.ret).toBe(-2);
      expect(open?.severity).not.toBe('info');
    });
  });
});

function spawnSyncQuiet(cmd: string, args: string[]): void {
  spawnSync(cmd, args, { stdio: 'ignore' });
}
