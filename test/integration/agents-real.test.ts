// Issue #12 with the real CLIs from the npm registry (pinned in test/agents/package.json,
// installed by scripts/setup.sh; skipped with a message where the set-up could not install
// them): each starts under `warden run` with its profile and the default policy, without a
// read-only-file-system error, as a version query, as a headless prompt that fails for lack of
// network (this machine and CI have none: the allowed host is reported unreachable, not
// refused), and interactively in a terminal. Under `warden watch` (compiled sensor), each
// start through its real launcher (`#!/usr/bin/env node`, codex's native binary, gemini's
// relaunch) - version queries, a headless prompt, an interactive start in tmux - is found, as one
// session, and raises no alert; without a network namespace of its
// own the CLI is started in an empty one (`unshare -n`, which execs it in place) so that nothing
// leaves the machine.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPane, tmuxAvailable, type Pane } from '../helpers/tmux.js';
import { REPO, scratch, warden, WARDEN, type Scratch } from './helpers/warden-run.js';
import { run, startWatch } from '../helpers/watch.js';
import type { WardenEvent } from '../../src/events/types.js';

const BIN = path.join(REPO, 'test/agents/node_modules/.bin');
const installed = (name: string) => fs.existsSync(path.join(BIN, name));
const AGENTS = [
  // name, version pattern, headless prompt, what its interactive start shows first
  // (screens: text of the agent's own interface, never of Warden's lines)
  { name: 'claude', version: /\d+\.\d+\.\d+ \(Claude Code\)/, prompt: ['-p', 'hello'], screen: /Welcome to Claude Code|Unable to connect to Anthropic|Select login method|Choose the text style/ },
  { name: 'codex', version: /codex-cli \d+\.\d+/, prompt: ['exec', '--skip-git-repo-check', 'hello'], screen: /Welcome to Codex|Sign in with ChatGPT/ },
  { name: 'gemini', version: /^\d+\.\d+\.\d+/m, prompt: ['-p', 'hello'], screen: /Do you trust the files in this folder|Type your message|How would you like to authenticate/ },
] as const;

let s: Scratch;
const panes: Pane[] = [];
beforeAll(() => {
  s = scratch();
});
afterAll(() => {
  for (const p of panes) p.kill();
  // codex leaves its app-server daemon running (under watch nothing confines it): ended with the scratch home
  spawnSync('pkill', ['-f', path.join(s.home, '.codex')]);
  s.cleanup();
});

const env = () => ({ HOME: s.home, PATH: `${BIN}:/usr/local/bin:/usr/bin:/bin`, ANTHROPIC_API_KEY: 'sk-ant-test-not-a-key', OPENAI_API_KEY: 'sk-test-not-a-key', GEMINI_API_KEY: 'test-not-a-key', GEMINI_CLI_TRUST_WORKSPACE: 'true' });

for (const a of AGENTS) {
  describe.skipIf(!installed(a.name))(`${a.name} (real CLI) under warden run`, () => {
    it('--version', async () => {
      const r = await warden(['run', '--', a.name, '--version'], { cwd: s.ws, env: env(), timeoutMs: 60_000 });
      expect(r.stdout).toMatch(a.version);
      expect(r.code).toBe(0);
      expect(r.stderr).not.toMatch(/Read-only file system|EROFS/);
    });

    it('a headless prompt fails for lack of network, not for its files; the unreachable host is told apart from a refusal', async () => {
      const policy = s.policy('resources: { timeout: 25s }\n');
      const r = await warden(['run', '--policy', policy, '--', a.name, ...a.prompt], { cwd: s.ws, env: env(), timeoutMs: 90_000 });
      expect(r.code).not.toBe(0);
      expect(`${r.stdout}\n${r.stderr}`).not.toMatch(/Read-only file system|EROFS|EACCES: permission denied, (open|mkdir) '.*\/\.(claude|codex|gemini)/);
      expect(r.stderr).toMatch(/allowed, but could not be reached/);
    });

    it.skipIf(!tmuxAvailable())('starts interactively in a terminal', async () => {
      const pane = startPane(`cd ${s.ws} && ${WARDEN} run -- ${a.name}`, { env: env(), cols: 120, rows: 40 });
      panes.push(pane);
      const screen = await pane.waitFor((t) => a.screen.test(t), 60_000, `${a.name}'s first screen`);
      expect(screen).not.toMatch(/Read-only file system|EROFS|did not become ready/);
      expect(pane.history()).not.toMatch(/Read-only file system|EROFS/);
      pane.kill(); // the sandbox dies with Warden
    });
  });
}

const WATCH_STARTS = 3;
describe.skipIf(process.getuid?.() !== 0 || AGENTS.every((a) => !installed(a.name)))('real agent CLIs under warden watch', () => {
  const pids = new Map<string, number[]>();
  const interactive = new Map<string, number>();
  const headless = new Map<string, number>();
  let events: WardenEvent[] = [];
  beforeAll(async () => {
    const w = await startWatch([]);
    try {
      for (const a of AGENTS.filter((x) => installed(x.name))) {
        const list: number[] = [];
        for (let i = 0; i < WATCH_STARTS; i++) {
          const r = await run('unshare', ['-n', path.join(BIN, a.name), '--version'], { env: env(), cwd: s.ws });
          expect(r.out).toMatch(a.version);
          list.push(r.pid);
        }
        pids.set(a.name, list);
      }
      // a headless prompt, which fails for lack of network (its start-up writes, telemetry attempts)
      for (const a of AGENTS.filter((x) => installed(x.name))) {
        const pidFile = path.join(s.root, `${a.name}.headless.pid`);
        const prompt = a.prompt.map((x) => `'${x}'`).join(' ');
        await run('timeout', ['-s', 'KILL', '45', 'sh', '-c', `echo $$ > ${pidFile}; exec unshare -n ${path.join(BIN, a.name)} ${prompt} </dev/null`], { env: env(), cwd: s.ws });
        headless.set(a.name, Number(fs.readFileSync(pidFile, 'utf8')));
      }
      // interactively, in a terminal (codex once made 8 sessions this way): one session
      if (tmuxAvailable())
        for (const a of AGENTS.filter((x) => installed(x.name))) {
          const pidFile = path.join(s.root, `${a.name}.interactive.pid`);
          const pane = startPane(`cd ${s.ws} && sh -c 'echo $$ > ${pidFile}; exec unshare -n ${path.join(BIN, a.name)}'`, { env: env(), cols: 120, rows: 40 });
          panes.push(pane);
          await pane.waitFor((t) => a.screen.test(t), 60_000, `${a.name}'s first screen`);
          await new Promise((r) => setTimeout(r, 2000)); // what it starts after its first screen
          pane.kill();
          interactive.set(a.name, Number(fs.readFileSync(pidFile, 'utf8')));
        }
    } finally {
      expect(await w.stop()).toBe(0);
    }
    events = w.events();
  }, 300_000);

  for (const a of AGENTS)
    it.skipIf(!installed(a.name))(`every ${a.name} start (version queries, a headless prompt, an interactive start) is found, once, and raises nothing`, () => {
      const list = [...pids.get(a.name)!, headless.get(a.name)!, ...(interactive.has(a.name) ? [interactive.get(a.name)!] : [])];
      const starts = (pid: number) => events.filter((e) => e.kind === 'agent.start' && e.agent?.root_pid === pid);
      expect(list.filter((p) => starts(p).length !== 1), 'starts not seen exactly once').toEqual([]);
      const sessions = new Set(list.map((p) => starts(p)[0]!.agent!.session));
      for (const p of list) expect(starts(p)[0]!.agent!.name).toBe(a.name);
      // no second session started from within one of these (a relaunch, a native binary)
      expect(events.filter((e) => e.kind === 'agent.start' && sessions.has(e.data?.parent_session as string))).toEqual([]);
      const raised = events.filter((e) => sessions.has(e.agent?.session as string) && (e.severity === 'alert' || e.severity === 'warn'));
      expect(raised.map((e) => `${e.severity} ${e.rule ?? e.kind} ${e.proc?.exe} ${e.file?.path ?? e.net?.addr ?? ""} ${e.file?.ret ?? ""}`)).toEqual([]);
    });
  it('nothing lost', () => {
    const c = events.find((e) => e.kind === 'monitor.stop')?.data?.counters as Record<string, number>;
    expect(c?.lost ?? 0).toBe(0);
  });
});

describe.skipIf(AGENTS.every((a) => installed(a.name)))('real agent CLIs', () => {
  it('are not installed here (scripts/setup.sh installs them into test/agents from the npm registry)', () => {
    console.warn(`skipped: ${AGENTS.filter((a) => !installed(a.name)).map((a) => a.name).join(', ')} not installed in ${BIN}`);
  });
});
