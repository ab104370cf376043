// `warden demo` as a new user runs it, in a tmux terminal: it completes, its screen shows each
// detection (Part 1) and each block (Part 2), its exit code says whether all happened, and it
// leaves nothing behind — also when interrupted with Ctrl-C. `warden top` attached to the
// demo's monitor (--hold) shows both sessions and their alerts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WARDEN } from '../helpers/watch.js';
import { startPane, tmuxAvailable, type Pane } from '../helpers/tmux.js';

const isRoot = process.getuid?.() === 0;
const ACT_TITLES = ['Reads the SSH private key', 'Pipes a script from a server into a shell', 'Installs a cron job', 'Sends the key to the attacker'];
const TACTICS = ['credential_access', 'execution', 'persistence', 'exfiltration'];

/** What the demo could leave behind: its state directory, the cron file, a mount. */
function leftovers(stateHome: string): string[] {
  const out: string[] = [];
  const demoDir = path.join(stateHome, 'warden', 'demo');
  if (fs.existsSync(demoDir)) out.push(`${demoDir}: ${fs.readdirSync(demoDir).join(', ')}`);
  if (fs.existsSync('/etc/cron.d/system-update') && fs.readFileSync('/etc/cron.d/system-update', 'utf8').includes('127.0.0.1')) out.push('/etc/cron.d/system-update');
  if (fs.readFileSync('/proc/mounts', 'utf8').includes('warden-demo')) out.push('a warden-demo mount');
  return out;
}

describe.skipIf(!tmuxAvailable())('warden demo (tmux)', () => {
  let dir: string;
  let stateHome: string;
  const panes: Pane[] = [];

  beforeAll(() => {
    // Not under /tmp: `warden run` gives the sandbox a private /tmp (the demo refuses it).
    const parent = isRoot ? '/var/lib' : os.homedir();
    dir = fs.mkdtempSync(path.join(parent, 'warden-demo-test-'));
    stateHome = path.join(dir, 'state');
    fs.mkdirSync(path.join(dir, 'run'), { mode: 0o700 });
  });
  afterAll(() => {
    for (const p of panes) p.kill();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // Own state and runtime dirs: the demo's socket and files cannot meet other tests' monitors.
  // CI=true as on CI machines (ink in `warden top` draws nothing live with it unless overridden).
  const env = () => ({ XDG_STATE_HOME: stateHome, XDG_RUNTIME_DIR: path.join(dir, 'run'), NO_COLOR: '1', CI: 'true' });

  it.skipIf(!isRoot)('--fast: every detection and every block on screen, exit code from the real rules, nothing left behind', async () => {
    const p = startPane(`${process.execPath} ${WARDEN} demo --fast`, { cols: 200, rows: 50, env: env() });
    panes.push(p);
    await p.waitFor((x) => /\[exit=\d+\]/.test(x), 240_000, 'the demo to finish');
    const out = p.history();
    const part1 = out.slice(out.indexOf('Part 1'), out.indexOf('Part 2'));
    const part2 = out.slice(out.indexOf('Part 2'), out.indexOf('Summary'));
    expect(part1).toContain('agent claude detected');
    expect(part2).toContain('started inside the sandbox');

    // Part 2 does not depend on rules: each act is blocked, ordinary work still works.
    const blocks = part2.split('\n').filter((l) => l.includes('✓ blocked:'));
    expect(blocks).toHaveLength(4);
    expect(part2).toContain('✓ ordinary work still works');
    expect(part2).toContain('the key never reached the agent');
    expect(part2).toContain('the install server got no request');
    expect(part2).toContain('no cron file was written');
    expect(part2).toContain('the attacker received nothing');
    expect(part2).not.toContain('NOT blocked');

    // Part 1: the acts really happened (seen from outside the agent)…
    expect(part1).toContain('the agent has the private key');
    expect(part1).toContain('the shell ran it');
    expect(part1).toContain('/etc/cron.d/system-update now holds a job');
    expect(part1).toContain('the attacker received the private key');
    // …and the rule engine reported each with the expected tactic, live, on screen.
    for (let i = 0; i < ACT_TITLES.length; i++) {
      const step = part1.slice(part1.indexOf(ACT_TITLES[i]!));
      const verdict = step.split('\n').find((l) => l.includes('✓ detected') || l.includes('✗'))!;
      expect(verdict, ACT_TITLES[i]).toContain(`✓ detected (${TACTICS[i]}:`);
      expect(step.slice(0, step.indexOf(verdict))).toMatch(/ALERT|WARN/);
    }
    // Ordinary work (reading, editing, running the tests) raised no alert.
    expect(part1).toMatch(/✓ quiet: \d+ events recorded, no alert/);
    expect(out).toContain('DEMO PASSED');
    expect(out).toContain('[exit=0]');
    expect(out).toContain('Nothing was left behind');
    expect(leftovers(stateHome)).toEqual([]);
  });

  it.skipIf(!isRoot)('Ctrl-C in the middle stops the agent and cleans up', async () => {
    // The pane's shell must outlive the Ctrl-C to report the exit code (a trap with a command
    // is reset in children, so the demo still gets SIGINT).
    const p = startPane(`trap : INT; ${process.execPath} ${WARDEN} demo`, { cols: 160, rows: 45, env: env() });
    panes.push(p);
    await p.waitFor((x) => x.includes('2/5'), 120_000, 'the demo to reach its second act');
    const demoDir = path.join(stateHome, 'warden', 'demo');
    const runs = fs.readdirSync(demoDir);
    expect(runs.length).toBe(1);
    const agentScript = path.join(demoDir, runs[0]!, 'agent.mjs');
    p.keys(['C-c']);
    const s = await p.waitFor((x) => /\[exit=\d+\]/.test(x), 60_000, 'the demo to exit');
    expect(s).toContain('cleaning up');
    expect(s).toContain('[exit=130]');
    expect(leftovers(stateHome)).toEqual([]);
    // No agent process survives.
    const alive = fs
      .readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(agentScript);
        } catch {
          return false;
        }
      });
    expect(alive).toEqual([]);
  });

  it.skipIf(!isRoot)('closing the terminal (SIGHUP) in the middle cleans up too', async () => {
    const p = startPane(`${process.execPath} ${WARDEN} demo`, { cols: 160, rows: 45, env: env() });
    panes.push(p);
    await p.waitFor((x) => x.includes('1/5'), 120_000, 'the demo to start its acts');
    expect(fs.readdirSync(path.join(stateHome, 'warden', 'demo')).length).toBe(1);
    p.kill();
    const deadline = Date.now() + 30_000;
    while (leftovers(stateHome).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect(leftovers(stateHome)).toEqual([]);
  });

  it.skipIf(!isRoot)('--hold keeps the monitor for warden top: both sessions and their alerts', async () => {
    const demo = startPane(`trap : INT; ${process.execPath} ${WARDEN} demo --fast --hold`, { cols: 160, rows: 45, env: env() });
    panes.push(demo);
    const held = await demo.waitFor((x) => x.includes('The monitor is still running'), 240_000, 'the demo to hold');
    const runDir = /temporary HOME\s+(\S+)\/home/.exec(demo.history())?.[1];
    expect(runDir, held).toBeTruthy();
    // The demo's monitor sees every agent on this machine (other tests' too): look at the
    // demo's own sessions through a search for its directory.
    const top = startPane(`${process.execPath} ${WARDEN} top --search ${runDir}`, { cols: 180, rows: 50, env: env() });
    panes.push(top);
    let s = await top.waitFor((x) => /Agent sessions \(2( of \d+)?[,)]/.test(x), 20_000, 'both demo sessions in top');
    const claudeRows = s.split('\n').filter((l) => /^\S? +claude +\d+/.test(l));
    expect(claudeRows).toHaveLength(2);
    expect(claudeRows.some((l) => l.includes(`${runDir}/project-confined`))).toBe(true);
    expect(claudeRows.some((l) => l.trimEnd().endsWith(`${runDir}/project`))).toBe(true);
    // Alerts of both sessions: the agent watched, and the confined one (its attempts).
    top.keys(['s']);
    await top.waitFor((x) => x.includes('severity ≥ warn'), 5000, 'warn filter');
    top.keys(['s']);
    s = await top.waitFor((x) => x.includes('severity ≥ alert'), 10_000, 'alerts of the demo');
    const alertRows = s.split('\n').filter((l) => / ALERT claude:\d+ /.test(l));
    expect(new Set(alertRows.map((l) => /claude:(\d+)/.exec(l)![1])).size).toBe(2);
    top.keys(['c', 'k']);
    for (let i = 0; i < 10 && !top.screen().includes('kind sandbox'); i++) {
      top.keys(['k']);
      await new Promise((r) => setTimeout(r, 250));
    }
    s = await top.waitFor((x) => x.includes('kind sandbox'), 5000, 'the sandbox events forwarded from warden run');
    expect(s).toContain('sandbox.start');
    expect(s).toContain('sandbox.exit');
    top.keys(['q']);
    await top.waitFor((x) => x.includes('[exit=0]'), 10_000, 'top to exit');
    demo.keys(['C-c']);
    const out = await demo.waitFor((x) => /\[exit=\d+\]/.test(x), 30_000, 'the demo to end');
    expect(out).toContain('[exit=0]');
    expect(leftovers(stateHome)).toEqual([]);
  });

  it('refuses a state directory the sandbox cannot see, with the fix', async () => {
    const p = startPane(`${process.execPath} ${WARDEN} demo --fast --part run`, { env: { ...env(), XDG_STATE_HOME: '/tmp/x-warden-demo' } });
    panes.push(p);
    const s = await p.waitFor((x) => /\[exit=\d+\]/.test(x), 30_000, 'exit');
    expect(s).toContain('private to each sandbox');
    expect(s).toContain('XDG_STATE_HOME');
    expect(s).toContain('[exit=2]');
  });
});
