// Issue #14: the governor and rule actions in `warden watch`, against the real kernel sensor
// and this machine's cgroups (v1 memory, v2 for identity/freeze/kill). Agents are stub shells
// with their own names (so the limits never touch another session's agents), whose children
// allocate memory, burn a core, or run commands a test rule acts on.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { startWatch, WARDEN, type RunningWatch } from '../helpers/watch.js';

const root = process.getuid?.() === 0;
const MB = 1024 * 1024;

interface Agent {
  child: ChildProcess;
  pid: number;
  out(): string;
  done: Promise<number | null>;
}

describe.skipIf(!root)('governor and rule actions in warden watch (issue #14)', () => {
  let w: RunningWatch;
  let dir: string;
  const agents: Agent[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync('/tmp/warden-gov-');
    fs.writeFileSync(
      path.join(dir, 'alloc.py'),
      'import sys, time\nchunks = []\nfor i in range(int(sys.argv[1])):\n    chunks.append(bytearray(10 * 1024 * 1024))\n    time.sleep(0.03)\nprint("allocated", flush=True)\n',
    );
    fs.writeFileSync(
      path.join(dir, 'rules.yaml'),
      [
        'rules:',
        '  - id: user_kill_marker',
        '    description: the marker command a user wants killed on sight',
        '    kinds: [process.exec]',
        '    condition: proc.name == "sleep" && "1234" in proc.args',
        '    severity: alert',
        '    category: impact',
        '    mitre: [T1496]',
        '    action: kill',
        '  - id: user_freeze_marker',
        '    description: the marker command a user wants the session frozen for',
        '    kinds: [process.exec]',
        '    condition: proc.name == "sleep" && "2345" in proc.args',
        '    severity: alert',
        '    category: impact',
        '    mitre: [T1496]',
        '    action: freeze',
        '',
      ].join('\n'),
    );
    const cfg = path.join(dir, 'watch.yaml');
    fs.writeFileSync(
      cfg,
      [
        'sensor: { persist: false }',
        'agents:',
        '  - { name: govkill, binary: govkill }',
        '  - { name: govthrottle, binary: govthrottle }',
        '  - { name: govwarn, binary: govwarn }',
        `rules: { files: [${path.join(dir, 'rules.yaml')}] }`,
        'governor:',
        '  interval_ms: 100',
        '  cpu_burn: { window_s: 2 }',
        "  defaults: { mode: 'off' }  # other sessions' agents on this machine are not ours to govern",
        '  agents:',
        '    govkill: { mode: kill, memory_high: 100MB, memory_max: 200MB }',
        '    govthrottle: { mode: throttle, memory_high: 100MB, memory_max: 200MB }',
        '    govwarn: { mode: warn }',
        '',
      ].join('\n'),
    );
    w = await startWatch(['--config', cfg]);
  }, 90_000);

  afterAll(async () => {
    for (const a of agents) if (a.child.exitCode === null) a.child.kill('SIGKILL');
    await w?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function agent(name: string, script: string): Agent {
    const c = spawn('bash', ['-c', script], { argv0: name, cwd: dir, env: { PATH: process.env.PATH, HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    c.stderr!.on('data', (d) => (out += d));
    const a: Agent = { child: c, pid: c.pid!, out: () => out, done: new Promise((r) => c.on('close', (code) => r(code))) };
    agents.push(a);
    return a;
  }

  /** The agent's output arrives through a pipe the event loop reads: wait (bounded) for it. */
  const said = async (a: Agent, re: RegExp, ms = 10_000): Promise<string> => {
    const end = Date.now() + ms;
    while (!re.test(a.out()) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    return a.out();
  };
  const mine = (a: Agent) => (e: WardenEvent) => e.agent?.root_pid === a.pid;
  const sessionOf = async (a: Agent) => (await w.waitFor((e) => mine(a)(e) && e.kind === 'resource.session', 30_000, `resource.session of ${a.pid}`)).agent!.session;
  const cli = (...args: string[]) => spawnSync(process.execPath, [WARDEN, ...args], { env: { ...process.env, XDG_RUNTIME_DIR: w.dir }, encoding: 'utf8', timeout: 20_000 });
  const cgroupEvents = (dir: string) => Object.fromEntries(fs.readFileSync(path.join(dir, 'cgroup.events'), 'utf8').trim().split('\n').map((l) => l.split(' ')));

  it('kill mode: the allocating child is killed at the limit with tiered events; the agent keeps running and is told', async () => {
    const a = agent('govkill', `sleep 1; python3 ${dir}/alloc.py 30; echo "tool exit $?"; echo agent-alive`);
    const s = await sessionOf(a);
    const kill = await w.waitFor((e) => mine(a)(e) && e.kind === 'resource.kill', 60_000, 'resource.kill');
    expect(await a.done).toBe(0);
    expect(a.out()).toMatch(/tool exit 137/);
    expect(a.out()).toMatch(/agent-alive/);
    expect(a.out()).toMatch(/warden: .*alloc\.py.*was killed/);
    expect(kill.severity).toBe('alert');
    expect(kill.proc?.argv.some((x) => x.endsWith('alloc.py'))).toBe(true);
    expect(kill.data?.tool).toMatchObject({ argv: expect.arrayContaining([`${dir}/alloc.py`]) });
    const tiers = w.events().filter((e) => mine(a)(e) && e.kind === 'resource.warn').map((e) => e.data?.tier);
    expect(tiers).toEqual([85, 95]);
    const gov = w.events().find((e) => mine(a)(e) && e.kind === 'resource.session')!;
    expect(gov.agent?.session).toBe(s);
    expect(gov.data).toMatchObject({ mode: 'kill', memory_high: 100 * MB, memory_max: 200 * MB });
  }, 90_000);

  it('throttle mode: the child is paused at the limit (v1: OOM killer held off) and resumes when the user raises the limit', async () => {
    const a = agent('govthrottle', `sleep 1; python3 ${dir}/alloc.py 15; echo "tool exit $?"; echo agent-alive`);
    const s = await sessionOf(a);
    const paused = await w.waitFor((e) => mine(a)(e) && e.kind === 'resource.throttle', 60_000, 'resource.throttle');
    expect(paused.data?.how).toMatch(/paused|memory\.high/);
    expect(a.child.exitCode).toBeNull();
    expect(await said(a, /warden: .*alloc\.py.*(is paused|slowed)/)).toMatch(/warden: .*alloc\.py.*(is paused|slowed)/);
    const list = JSON.parse(cli('governor', 'list', '--json').stdout.split('\n').find((l) => l.includes(s))!) as { tools: Array<{ state: string }> };
    expect(list.tools[0]?.state).toMatch(/paused|throttled/);
    const r = cli('governor', 'limit', s, '--high', '400MB', '--max', '500MB');
    expect(r.status, r.stderr).toBe(0);
    expect(await a.done).toBe(0);
    expect(a.out()).toMatch(/allocated\n[\s\S]*tool exit 0/);
    const limit = await w.waitFor((e) => mine(a)(e) && e.kind === 'action.limit', 10_000, 'action.limit');
    expect(limit.data?.to).toEqual({ memory_high: 400 * MB, memory_max: 500 * MB });
  }, 90_000);

  it('a CPU burner (yes > /dev/null) in an agent tree is reported as impact_cpu_burn', async () => {
    const a = agent('govwarn', `timeout 6 sh -c 'yes > /dev/null'; echo agent-alive`);
    const burn = await w.waitFor((e) => mine(a)(e) && e.kind === 'resource.cpu' && e.rule === 'impact_cpu_burn', 30_000, 'impact_cpu_burn');
    expect(burn.severity).toBe('alert');
    expect(burn.category).toBe('impact');
    expect(burn.mitre).toContain('T1496');
    expect(burn.proc?.argv).toEqual(['yes']);
    expect(burn.data).toMatchObject({ output_null: true });
    expect(await a.done).toBe(0);
  }, 60_000);

  it('freeze and resume through the API: the session cgroup is frozen, then runs to its end', async () => {
    const a = agent('govwarn', `for i in $(seq 1 40); do sleep 0.1; done; echo agent-done`);
    const s = await sessionOf(a);
    const cg = (await w.waitFor((e) => mine(a)(e) && e.kind === 'resource.session', 5000)).data?.cgroup as string;
    expect(cli('governor', 'freeze', s).status).toBe(0);
    await w.waitFor((e) => mine(a)(e) && e.kind === 'action.freeze', 10_000, 'action.freeze');
    if (cg.includes('/unified/') || fs.existsSync(path.join(cg, 'cgroup.freeze'))) expect(cgroupEvents(cg).frozen).toBe('1');
    expect(a.child.exitCode).toBeNull();
    const r = cli('resume', s);
    expect(r.status, r.stderr).toBe(0);
    await w.waitFor((e) => mine(a)(e) && e.kind === 'action.resume', 10_000, 'action.resume');
    expect(await a.done).toBe(0);
    expect(a.out()).toMatch(/agent-done/);
  }, 60_000);

  it('rule actions: kill takes the process, freeze stops the session until warden resume; each is an event naming the rule', async () => {
    const a = agent('govwarn', `sleep 1; sleep 1234; echo "killed $?"; sleep 2345; echo after-freeze`);
    const s = await sessionOf(a);
    const killed = await w.waitFor((e) => mine(a)(e) && e.kind === 'action.kill', 30_000, 'action.kill');
    expect(killed.rule).toBe('user_kill_marker');
    expect(killed.data).toMatchObject({ target: 'process' });
    const frozen = await w.waitFor((e) => mine(a)(e) && e.kind === 'action.freeze', 30_000, 'action.freeze');
    expect(frozen.rule).toBe('user_freeze_marker');
    expect(await said(a, /killed 137/)).toMatch(/killed 137/);
    expect(a.child.exitCode).toBeNull();
    // the marker sleep would have ended long ago; the frozen session has not gone on
    spawnSync('pkill', ['-f', '-x', 'sleep 2345']);
    expect(a.out()).not.toMatch(/after-freeze/);
    expect(cli('resume', s).status).toBe(0);
    expect(await a.done).toBe(0);
    expect(a.out()).toMatch(/after-freeze/);
  }, 60_000);

  it('kill of a whole session: every process of its cgroup dies, the event says how many', async () => {
    const a = agent('govwarn', `sleep 60 & sleep 60 & (sleep 60; true) & wait`);
    const s = await sessionOf(a);
    await new Promise((r) => setTimeout(r, 500));
    const r = cli('governor', 'kill', s);
    expect(r.status, r.stderr).toBe(0);
    expect(await a.done).not.toBe(0);
    const ev = await w.waitFor((e) => mine(a)(e) && e.kind === 'action.kill', 10_000, 'action.kill');
    expect(ev.data).toMatchObject({ target: 'session' });
    expect(ev.data?.processes).toBeGreaterThanOrEqual(4);
    expect(spawnSync('pgrep', ['-P', String(a.pid)]).status).not.toBe(0);
  }, 60_000);
});
