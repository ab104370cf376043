// Issue #17, vector 3: an agent leaves its process tree by handing work to a long-lived server
// (tmux, screen, at, ssh to this host). The servers are started by the test, outside any agent
// tree, as a user's would be; a stub agent (argv[0] `claude`, temporary HOME with a fake key)
// asks each to read the key. Every read must be attributed to the agent's session (an alert),
// the hand-off itself reported, and a control-API call from a tmux window refused like one from
// the agent's own tree. Loopback only, tools from the Debian packages setup.sh installs.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { run, startWatch, type RunningWatch } from '../helpers/watch.js';

const root = process.getuid?.() === 0;
const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const tools = ['tmux', 'screen', 'at', 'atd', 'sshd', 'ssh', 'ssh-keygen'].filter((t) => !have(t));

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe.skipIf(!root || tools.length > 0)(`hand-offs to servers outside the agent's tree (compiled sensor)${tools.length ? `: missing ${tools.join(', ')} (scripts/setup.sh installs them)` : ''}`, () => {
  let w: RunningWatch;
  let tmp: string;
  let home: string;
  const keys: Record<string, string> = {};
  const servers: ChildProcess[] = [];
  let atd: ChildProcess | undefined;
  let agentPid = 0;
  let events: WardenEvent[] = [];
  let apiResult: { refused?: boolean; message?: string } = {};

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-handoff-'));
    fs.chmodSync(tmp, 0o755);
    home = path.join(tmp, 'home');
    fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
    // one key per hand-off, so each read is told apart
    for (const via of ['tmux', 'tmuxkeys', 'screen', 'at', 'ssh']) {
      keys[via] = path.join(home, '.ssh', `id_${via}`);
      fs.writeFileSync(keys[via]!, `-----BEGIN OPENSSH PRIVATE KEY-----\n${via}\n`);
    }
    const env = { ...process.env, HOME: path.join(tmp, 'userhome'), SCREENDIR: path.join(tmp, 'screen') };
    fs.mkdirSync(env.HOME, { recursive: true });
    fs.mkdirSync(env.SCREENDIR, { mode: 0o700 });
    const tmuxSock = path.join(tmp, 'tmux.sock');
    // the user's terminal servers, started before and outside the agent
    expect(spawnSync('tmux', ['-S', tmuxSock, 'new-session', '-d', '-s', 'user', 'bash --norc --noprofile'], { env }).status).toBe(0);
    expect(spawnSync('screen', ['-dmS', 'usersess', 'sleep', '600'], { env }).status).toBe(0);
    // atd in the foreground, detached from this process tree like the system's
    atd = spawn('setsid', ['/usr/sbin/atd', '-f'], { stdio: 'ignore', detached: true });
    // sshd on a loopback port of its own, accepting one key
    const port = await freePort();
    fs.mkdirSync('/run/sshd', { recursive: true });
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(tmp, 'hostkey')]);
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(tmp, 'clientkey')]);
    fs.copyFileSync(path.join(tmp, 'clientkey.pub'), path.join(tmp, 'authorized_keys'));
    fs.writeFileSync(
      path.join(tmp, 'sshd_config'),
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${path.join(tmp, 'hostkey')}`,
        `AuthorizedKeysFile ${path.join(tmp, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        `PidFile ${path.join(tmp, 'sshd.pid')}`,
      ].join('\n') + '\n',
    );
    servers.push(spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(tmp, 'sshd_config')], { stdio: 'ignore' }));
    for (let i = 0; i < 50; i++) {
      if (spawnSync('sh', ['-c', `ss -ltn | grep -q 127.0.0.1:${port}`]).status === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    w = await startWatch(['--backend', 'ebpf']);
    const apiSock = path.join(w.dir, 'warden', 'warden.sock');
    const client = path.join(tmp, 'api-client.mjs');
    fs.writeFileSync(
      client,
      `import { connectApi } from ${JSON.stringify(path.resolve('dist/sinks/api-client.js'))};
import fs from 'node:fs';
const c = await connectApi(${JSON.stringify(apiSock)});
let out;
try { await c.call('rules.reload', {}); out = { refused: false }; } catch (e) { out = { refused: true, message: e.message }; }
fs.writeFileSync(${JSON.stringify(path.join(tmp, 'api-result.json'))}, JSON.stringify(out));
c.close();
`,
    );
    const wait = (file: string) => `for i in $(seq 1 100); do [ -e ${file} ] && break; sleep 0.1; done`;
    const script = path.join(tmp, 'agent.sh');
    fs.writeFileSync(
      script,
      [
        // tmux: a new window, and keys sent to the user's own pane
        `tmux -S ${tmuxSock} new-window "cat ${keys.tmux} > /dev/null; ${process.execPath} ${client}; touch ${tmp}/tmux.done"`,
        wait(`${tmp}/tmux.done`),
        `tmux -S ${tmuxSock} send-keys -t user "cat ${keys.tmuxkeys} > /dev/null; touch ${tmp}/keys.done" Enter`,
        wait(`${tmp}/keys.done`),
        // screen: a new window in the user's session
        `screen -S usersess -X screen bash -c "cat ${keys.screen} > /dev/null; touch ${tmp}/screen.done"`,
        wait(`${tmp}/screen.done`),
        // at: a job for atd
        `echo "cat ${keys.at} > /dev/null; touch ${tmp}/at.done" | at now 2>/dev/null`,
        wait(`${tmp}/at.done`),
        // ssh to this host
        `ssh -q -i ${tmp}/clientkey -p ${port} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes root@127.0.0.1 "cat ${keys.ssh} > /dev/null"`,
        'sleep 1',
      ].join('\n') + '\n',
    );
    const r = await run('bash', [script], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: home, SCREENDIR: env.SCREENDIR }, argv0: 'claude' });
    expect(r.code, r.out).toBe(0);
    agentPid = r.pid;
    await w.waitFor((e) => e.kind === 'agent.exit' && e.agent?.root_pid === agentPid, 30_000, 'agent.exit');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await w.stop()).toBe(0);
    events = w.events();
    apiResult = JSON.parse(fs.readFileSync(path.join(tmp, 'api-result.json'), 'utf8'));
  }, 240_000);

  afterAll(async () => {
    await w?.stop();
    if (tmp) {
      spawnSync('tmux', ['-S', path.join(tmp, 'tmux.sock'), 'kill-server']);
      spawnSync('screen', ['-S', 'usersess', '-X', 'quit'], { env: { ...process.env, SCREENDIR: path.join(tmp, 'screen') } });
    }
    for (const s of servers) s.kill('SIGTERM');
    if (atd?.pid) {
      try {
        process.kill(-atd.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const session = () => events.find((e) => e.kind === 'agent.start' && e.agent?.root_pid === agentPid)?.agent?.session;
  const readOf = (via: string) => events.find((e) => e.kind === 'file.open' && e.file?.path === keys[via]);

  for (const via of ['tmux', 'tmuxkeys', 'screen', 'at', 'ssh']) {
    it(`the key read handed to ${via} is the agent's (an alert in its session)`, () => {
      const e = readOf(via);
      expect(e, `no read of ${keys[via]}`).toBeDefined();
      expect(e!.agent?.session).toBe(session());
      expect(e!.severity).toBe('alert');
    });
  }

  it('each hand-off is reported, naming the server', () => {
    const h = events.filter((e) => e.kind === 'process.handoff' && e.agent?.session === session());
    const vias = new Set(h.map((e) => e.data?.via));
    for (const v of ['tmux', 'screen', 'at', 'sshd']) expect(vias, JSON.stringify(h.map((e) => e.data))).toContain(v);
    expect(h.every((e) => e.data?.attributed === true && e.severity === 'warn')).toBe(true);
  });

  it('a control-API call from the tmux window is refused like one from the agent tree', () => {
    expect(apiResult.refused).toBe(true);
    const refused = events.find((e) => e.kind === 'api.refused' && e.data?.method === 'rules.reload');
    expect(refused?.agent?.session).toBe(session());
  });
});
