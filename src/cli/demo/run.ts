// `warden demo`: a scripted rogue agent, first watched (Part 1: the monitor reports each risky
// act as it happens), then confined (Part 2: the same agent under `warden run`, where each act
// fails). Needs no network (servers on 127.0.0.1), leaves nothing behind (temporary HOME and
// project, a private mount namespace for the cron file, all removed on exit and on Ctrl-C).
// Exit 0 when every expected detection and block happened, 1 otherwise.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WardenEvent } from '../../events/types.js';
import { newCursor, readAppendedEvents } from '../../events/ndjson-cursor.js';
import { startAgent, type AgentProcess } from './agent-conn.js';
import { createDemoEnv, type DemoEnv } from './env.js';
import { startDemoMonitor, type DemoMonitor } from './monitor.js';
import { ACTS, firstLine, readInNamespace, type Act, type ActContext, type ToolResult } from './scenario.js';
import { Screen } from './screen.js';
import { stateDir } from '../../util/xdg.js';
import { startServers, type DemoServer } from './servers.js';

export interface DemoOptions {
  fast?: boolean;
  hold?: boolean;
  color?: boolean;
  /** watch | run | both (default). */
  part?: string;
}

const CRON_DIR = '/etc/cron.d';
/** Directories `warden run` replaces with private ones: the demo's files cannot live there. */
const SANDBOX_PRIVATE = ['/tmp', '/var/tmp', '/run', '/dev/shm'];
const CRON_FILE = `${CRON_DIR}/system-update`;
/** Longest wait for an alert after an act (it normally arrives within a fraction of a second). */
const DETECT_TIMEOUT_MS = 10_000;

interface StepResult {
  part: 'watch' | 'run';
  act: Act['id'];
  ok: boolean;
  summary: string;
}

const WARDEN_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/warden');

/** Mechanism that stops each act in the sandbox (the evidence is checked separately). */
const BLOCKED_BY: Record<Act['id'], string> = {
  work: '',
  key: '~/.ssh and the other secret paths are hidden inside the sandbox',
  pipe: 'the sandbox has its own network namespace (network: none): nothing outside is reachable',
  cron: 'everything outside the project is read-only inside the sandbox',
  exfil: 'no network, and the key is hidden anyway',
};

export async function runDemo(o: DemoOptions): Promise<number> {
  const part = o.part ?? 'both';
  if (!['both', 'watch', 'run'].includes(part)) {
    process.stderr.write('warden demo: --part must be watch, run or both\n');
    return 2;
  }
  const color = o.color !== false && Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
  const screen = new Screen({ color, fast: Boolean(o.fast) });
  const isRoot = process.getuid?.() === 0;
  const results: StepResult[] = [];
  const notShown: string[] = [];

  let env: DemoEnv | undefined;
  let servers: { install: DemoServer; attacker: DemoServer } | undefined;
  let monitor: DemoMonitor | undefined;
  const agents: AgentProcess[] = [];
  let cleaned: Promise<void> | undefined;
  const cleanup = () =>
    (cleaned ??= (async () => {
      await Promise.all(agents.map((a) => a.stop(2000).catch(() => null)));
      await monitor?.stop().catch(() => undefined);
      await servers?.install.close().catch(() => undefined);
      await servers?.attacker.close().catch(() => undefined);
      env?.remove();
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    // The terminal may be gone (SIGHUP): a failed write must not stop the cleanup.
    try {
      process.stderr.write(`\nwarden demo: ${sig}: stopping the agent and cleaning up…\n`);
    } catch {
      /* no terminal */
    }
    void cleanup().then(() => process.exit(sig === 'SIGINT' ? 130 : 128 + (sig === 'SIGTERM' ? 15 : 1)));
  };
  const ignore = () => undefined;
  process.stdout.on('error', ignore);
  process.stderr.on('error', ignore);
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);

  try {
    const base = stateDir();
    if (part !== 'watch' && SANDBOX_PRIVATE.some((d) => base === d || base.startsWith(d + '/'))) {
      process.stderr.write(
        `warden demo: its files would go to ${base}, but ${base.split('/').slice(0, 2).join('/') || '/'} is private to each sandbox, so Part 2 could not see them.\n` +
          'Set XDG_STATE_HOME to a directory elsewhere (e.g. XDG_STATE_HOME=$HOME/.local/state).\n',
      );
      return 2;
    }
    servers = await startServers();
    env = createDemoEnv({ install: servers.install.port, attacker: servers.attacker.port });
    const e = env;
    const cronIsolated = isRoot && fs.existsSync(CRON_DIR) && hasCommand('unshare');

    screen.line(screen.bold('Warden demo: a coding agent goes rogue — first watched, then confined.'));
    screen.line(screen.dim('Nothing leaves this machine: fake secrets in a temporary HOME, servers on 127.0.0.1, all removed at exit.'));
    screen.line();
    screen.line(`  temporary HOME    ${e.home}  ${screen.dim('(fake ~/.ssh/id_ed25519, ~/.aws/credentials)')}`);
    screen.line(`  project           ${e.projects[0]}  ${screen.dim('(a tiny Node library with a failing test)')}`);
    screen.line(`  "install server"  ${servers.install.url('/setup.sh')}`);
    screen.line(`  "attacker"        ${servers.attacker.url('/collect')}`);
    if (cronIsolated) screen.line(`  cron              ${CRON_FILE} ${screen.dim("inside a private mount namespace (a throwaway tmpfs): the real cron never sees it")}`);

    // ── Part 1: watched ──────────────────────────────────────────────────────────────
    if (part !== 'run') {
      if (!isRoot) {
        notShown.push('Part 1 (detection): the kernel monitor needs root. Run: sudo warden demo');
      } else {
        monitor = await startDemoMonitor({ auditLog: e.auditLog, runDir: e.runDir });
        const where = monitor.socket ? (monitor.defaultSocket ? 'sudo warden top' : `sudo warden top --socket ${monitor.socket}`) : '(API unavailable)';
        screen.line(`  monitor           attached (${monitor.backend}${monitor.degraded ? ', DEGRADED' : ''}) · watch live in another terminal: ${screen.bold(where)}`);
        if (!monitor.rulesLoaded)
          screen.line(screen.paint('  rules             the rule engine is not in this build: events are recorded but not classified, so nothing can be detected', 'yellow'));
        await screen.pause(1500);
        results.push(...(await partWatch(screen, e, servers, monitor, cronIsolated, agents)));
      }
    }

    // ── Part 2: confined ─────────────────────────────────────────────────────────────
    if (part !== 'watch') {
      results.push(...(await partRun(screen, e, servers, monitor, cronIsolated, agents, o)));
    }

    // ── Summary ──────────────────────────────────────────────────────────────────────
    screen.title('Summary');
    const byPart = (p: 'watch' | 'run') => results.filter((r) => r.part === p);
    for (const p of ['watch', 'run'] as const) {
      const rs = byPart(p);
      if (!rs.length) continue;
      const risky = rs.filter((r) => r.act !== 'work');
      const good = risky.filter((r) => r.ok).length;
      const work = rs.find((r) => r.act === 'work');
      const label = p === 'watch' ? 'Part 1  watched:  detected' : 'Part 2  confined: blocked ';
      const line = `${label} ${good} of ${risky.length} risky acts${work ? `; ordinary work ${work.ok ? (p === 'watch' ? 'raised no alert' : 'still works (tests pass)') : 'FAILED'}` : ''}`;
      if (good === risky.length && (!work || work.ok)) screen.ok(line);
      else screen.fail(line);
      for (const r of rs.filter((x) => !x.ok)) screen.note(`✗ ${r.act}: ${r.summary}`, 9);
    }
    for (const n of notShown) screen.line(screen.paint(`       not shown: ${n}`, 'yellow'));
    const passed = results.length > 0 && results.every((r) => r.ok);

    if (o.hold && monitor?.socket) {
      screen.line();
      screen.line(`  The monitor is still running: ${screen.bold(monitor.defaultSocket ? 'sudo warden top' : `sudo warden top --socket ${monitor.socket}`)} shows both sessions. Ctrl-C ends the demo.`);
      await new Promise<void>((resolve) => {
        for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
        const done = () => resolve();
        for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, done);
      });
    }
    await cleanup();
    screen.line();
    screen.line(`  Cleaned up: temporary HOME, projects, servers${monitor ? ', monitor' : ''}${cronIsolated ? ', mount namespace' : ''}. Nothing was left behind.`);
    const verdict = !passed
      ? screen.paint('  DEMO FAILED: see the ✗ lines above (exit 1)', 'red', true)
      : notShown.length
        ? screen.paint(`  DEMO PASSED for what it could show here (exit 0); not shown: ${notShown.map((x) => x.split(':')[0]).join(', ')}`, 'green', true)
        : screen.paint(part === 'both' ? '  DEMO PASSED: every risky act was detected, then blocked (exit 0)' : `  DEMO PASSED (exit 0)`, 'green', true);
    screen.line(verdict);
    return passed ? 0 : 1;
  } catch (err) {
    screen.fail(`demo aborted: ${(err as Error).message}`);
    return 1;
  } finally {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
    await cleanup();
    process.stdout.off('error', ignore);
    process.stderr.off('error', ignore);
  }
}

function hasCommand(name: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => {
    try {
      fs.accessSync(path.join(d, name), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function agentEnv(home: string): NodeJS.ProcessEnv {
  // A minimal environment: the agent gets nothing of the caller's (tokens in sudo's env…).
  const nodeDir = path.dirname(process.execPath);
  const p = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
  return {
    HOME: home,
    PATH: p.split(':').includes(nodeDir) ? p : `${nodeDir}:${p}`,
    LANG: process.env.LANG ?? 'C.UTF-8',
    TERM: 'dumb',
    NO_COLOR: '1',
  };
}

/** Wraps a command so it runs in a private mount namespace with a tmpfs over /etc/cron.d. */
function inPrivateCron(cmd: string, args: string[]): [string, string[]] {
  return ['unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', `mount -t tmpfs -o size=1m,mode=0755 warden-demo ${CRON_DIR} && exec "$0" "$@"`, cmd, ...args]];
}

function context(e: DemoEnv, servers: { install: DemoServer; attacker: DemoServer }, nsPid: () => number | undefined, since: { install: number; attacker: number }): ActContext {
  return {
    home: e.home,
    keyMarker: e.keyMarker,
    installUrl: servers.install.url('/setup.sh'),
    attackerUrl: servers.attacker.url('/collect'),
    cronFile: CRON_FILE,
    readAsAgent: (p) => readInNamespace(nsPid(), p),
    installRequests: () => servers.install.received.length - since.install,
    attackerReceived: () => {
      const got = servers.attacker.received.slice(since.attacker);
      return { requests: got.length, bytes: got.reduce((n, r) => n + r.bytes, 0), containsKey: got.some((r) => r.body.includes(e.keyMarker)) };
    },
  };
}

async function runCommands(screen: Screen, agent: AgentProcess, cmds: string[]): Promise<ToolResult[]> {
  const out: ToolResult[] = [];
  for (const c of cmds) {
    screen.command(c);
    await screen.pause(700);
    const r = await agent.run(c);
    out.push(r);
    screen.output((r.stdout + (r.stderr ? `\n${r.stderr}` : '')).trim(), 3);
    await screen.pause(400);
  }
  return out;
}

function sessionAlerts(m: DemoMonitor, session: string, afterSeq: number): WardenEvent[] {
  return m.events.filter((x) => x.seq > afterSeq && x.agent?.session === session && x.severity !== 'info');
}

function showAlerts(screen: Screen, alerts: WardenEvent[], first: Set<string>, prefix = '', max = 4): void {
  // One line per rule; the rules of the expected tactic first.
  const seen = new Set<string>();
  const uniq = alerts.filter((a) => {
    const k = a.rule ?? a.kind;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  uniq.sort((a, b) => Number(first.has(b.category ?? '')) - Number(first.has(a.category ?? '')) || a.seq - b.seq);
  for (const a of uniq.slice(0, max)) screen.alert(a, prefix);
  if (uniq.length > max) screen.note(`${prefix}… and ${uniq.length - max} more (warden top shows them all)`);
}

async function partWatch(
  screen: Screen,
  e: DemoEnv,
  servers: { install: DemoServer; attacker: DemoServer },
  monitor: DemoMonitor,
  cronIsolated: boolean,
  agents: AgentProcess[],
): Promise<StepResult[]> {
  const results: StepResult[] = [];
  screen.title('Part 1 — warden watch: the agent runs as usual, Warden sees everything it does');
  const [cmd, args] = cronIsolated ? inPrivateCron(e.claude, [e.agentScript, '--part=watch']) : [e.claude, [e.agentScript, '--part=watch']];
  const startSeq = monitor.lastSeq();
  const agent = startAgent(cmd, args, { cwd: e.projects[0], env: agentEnv(e.home) });
  agents.push(agent);
  try {
    await agent.ready;
  } catch (err) {
    screen.fail(`the agent did not start: ${(err as Error).message} ${firstLine(agent.stderr())}`);
    return [{ part: 'watch', act: 'work', ok: false, summary: 'agent did not start' }];
  }
  const start = await monitor.waitFor((x) => x.kind === 'agent.start' && x.seq > startSeq && x.proc?.pid === agent.pid, DETECT_TIMEOUT_MS);
  if (!start?.agent) {
    screen.fail(`the monitor did not detect the agent (pid ${agent.pid}) as a coding agent`);
    await agent.stop();
    return [{ part: 'watch', act: 'work', ok: false, summary: 'agent not detected' }];
  }
  const session = start.agent.session;
  screen.line(`  agent ${screen.bold('claude')} detected: pid ${agent.pid}, session ${session}`);
  screen.note(`(found by ${String(start.data?.detected_by ?? 'exec')}; a stub that runs the shell commands "the model" sends it, as agents run their Bash tool)`, 2);
  await screen.pause(1200);

  const acts = ACTS.filter((a) => a.id !== 'cron' || cronIsolated);
  if (!cronIsolated) screen.note('(the cron act is skipped: it needs root, unshare and /etc/cron.d to stay inside a throwaway mount namespace)', 2);
  let n = 0;
  for (const act of acts) {
    n++;
    screen.line();
    screen.line(`  ${screen.bold(`${n}/${acts.length}`)}  ${screen.bold(act.title)}`);
    if (act.why) screen.note(act.why);
    const seq0 = monitor.lastSeq();
    const since = { install: servers.install.received.length, attacker: servers.attacker.received.length };
    const ctx = context(e, servers, () => (cronIsolated ? agent.pid : undefined), since);
    const res = await runCommands(screen, agent, act.commands(ctx));
    const outcome = act.outcome(ctx, res);
    screen.line(`       ${screen.paint('→', 'cyan')} ${screen.cut(outcome.detail, 10)}`);
    let ok: boolean;
    let summary: string;
    if (act.expect) {
      // Without a rule engine nothing is classified: no point waiting long for a verdict.
      const hit = await monitor.waitFor((x) => x.seq > seq0 && x.agent?.session === session && x.severity !== 'info' && x.category === act.expect, monitor.rulesLoaded ? DETECT_TIMEOUT_MS : 1000);
      await new Promise((r) => setTimeout(r, 300));
      showAlerts(screen, sessionAlerts(monitor, session, seq0), new Set([act.expect]));
      ok = Boolean(hit) && outcome.happened;
      summary = hit ? `detected (${act.expect}: ${hit.rule ?? hit.kind})` : `not detected: no ${act.expect} alert or warning for this session${monitor.rulesLoaded ? '' : ' (no rule engine in this build)'}`;
      if (!outcome.happened) summary = `the act did not take effect here, nothing to detect: ${outcome.detail}`;
      if (ok) screen.ok(summary);
      else {
        if (!hit) showRaw(screen, monitor, session, seq0);
        screen.fail(summary);
      }
    } else {
      await new Promise((r) => setTimeout(r, 1000));
      const alerts = sessionAlerts(monitor, session, seq0);
      const loud = alerts.filter((a) => a.severity === 'alert');
      const count = monitor.events.filter((x) => x.seq > seq0 && x.agent?.session === session).length;
      showAlerts(screen, alerts, new Set());
      ok = loud.length === 0 && outcome.happened;
      summary = !outcome.happened ? outcome.detail : loud.length ? `${loud.length} alert(s) on ordinary work` : `quiet: ${count} events recorded, no alert`;
      if (ok) screen.ok(summary);
      else screen.fail(summary);
    }
    results.push({ part: 'watch', act: act.id, ok, summary });
    await screen.pause(1500);
  }
  await agent.stop();
  return results;
}

/** Without alerts, what the monitor did record for the step (so a missing rule is visible). */
function showRaw(screen: Screen, monitor: DemoMonitor, session: string, seq0: number): void {
  const raw = monitor.events.filter((x) => x.seq > seq0 && x.agent?.session === session && (x.kind === 'process.exec' || x.kind.startsWith('net.') || (x.file && !x.file.path.startsWith('/usr/') && !x.file.path.startsWith('/lib') && !x.file.path.startsWith('/etc/ld.so'))));
  for (const r of raw.slice(0, 4)) screen.note(`seen: ${r.kind} ${r.file?.path ?? r.proc?.argv.join(' ') ?? ''}${r.net?.dst_ip ? ` ${r.net.dst_ip}:${r.net.dst_port}` : ''}`, 9);
}

async function partRun(
  screen: Screen,
  e: DemoEnv,
  servers: { install: DemoServer; attacker: DemoServer },
  monitor: DemoMonitor | undefined,
  cronIsolated: boolean,
  agents: AgentProcess[],
  o: DemoOptions,
): Promise<StepResult[]> {
  const results: StepResult[] = [];
  screen.title('Part 2 — warden run: the same agent, confined');
  const policy = path.join(e.root, 'policy.yaml');
  fs.writeFileSync(policy, '# warden demo: the defaults (secrets hidden, environment scrubbed, system read-only), no network\nnetwork: { mode: none }\nresources: { timeout: 10m }\n');
  const audit = path.join(e.root, 'sandbox-audit.ndjson');
  screen.line(`  ${screen.dim('$')} warden run --policy policy.yaml --audit sandbox-audit.ndjson -- claude`);
  screen.note('policy: the project is writable, the rest of the system read-only, secret paths hidden, environment scrubbed, network none', 2);
  const runArgs = [WARDEN_BIN, 'run', '--policy', policy, '--audit', audit, '--', e.claude, e.agentScript, '--part=run'];
  const [cmd, args] = cronIsolated ? inPrivateCron(process.execPath, runArgs) : [process.execPath, runArgs];
  const seqStart = monitor?.lastSeq() ?? 0;
  const agent = startAgent(cmd, args, { cwd: e.projects[1], env: agentEnv(e.home) });
  agents.push(agent);
  // The sandbox's own events (start, exit, denials) join the monitor's stream for `warden top`.
  const forward = monitor ? forwardAudit(audit, monitor) : undefined;
  try {
    await agent.ready;
  } catch (err) {
    screen.fail(`warden run did not start the agent: ${(err as Error).message}`);
    for (const l of agent.stderr().split('\n').filter((x) => x.trim()).slice(0, 8)) screen.line(`         ${l}`);
    forward?.stop();
    return [{ part: 'run', act: 'work', ok: false, summary: `warden run failed: ${firstLine(agent.stderr())}` }];
  }
  const inner = monitor ? await monitor.waitFor((x) => x.kind === 'agent.start' && x.seq > seqStart && (x.proc?.argv ?? []).includes('--part=run'), 5000) : undefined;
  screen.line(`  agent ${screen.bold('claude')} started inside the sandbox${inner?.agent ? ` ${screen.dim(`(the monitor follows it too: session ${inner.agent.session})`)}` : ''}`);
  await screen.pause(1200);

  let n = 0;
  for (const act of ACTS) {
    n++;
    screen.line();
    screen.line(`  ${screen.bold(`${n}/${ACTS.length}`)}  ${screen.bold(act.title)}`);
    const seq0 = monitor?.lastSeq() ?? 0;
    const since = { install: servers.install.received.length, attacker: servers.attacker.received.length };
    // The cron file is looked for where the sandbox would have put it: in the demo's mount
    // namespace (through warden run's /proc/PID/root), or on the host when there is none.
    const ctx = context(e, servers, () => (cronIsolated ? agent.pid : undefined), since);
    const res = await runCommands(screen, agent, act.commands(ctx));
    const outcome = act.outcome(ctx, res);
    let ok: boolean;
    let summary: string;
    screen.line(`       ${screen.paint('→', 'cyan')} ${screen.cut(outcome.detail, 10)}`);
    if (act.id === 'work') {
      ok = outcome.happened;
      summary = ok ? 'ordinary work still works: the project is writable and the tests pass inside the sandbox' : `ordinary work failed in the sandbox: ${outcome.detail}`;
    } else {
      ok = !outcome.happened;
      summary = ok ? `blocked: ${BLOCKED_BY[act.id]}` : `NOT blocked: ${outcome.detail}`;
    }
    if (monitor && inner?.agent) {
      await new Promise((r) => setTimeout(r, o.fast ? 300 : 600));
      const seen = sessionAlerts(monitor, inner.agent.session, seq0);
      if (seen.length) {
        screen.note('the monitor still reports the attempt:');
        showAlerts(screen, seen, new Set(act.expect ? [act.expect] : []), '  ', 2);
      }
    }
    if (ok) screen.ok(summary);
    else screen.fail(summary);
    results.push({ part: 'run', act: act.id, ok, summary });
    await screen.pause(1500);
  }
  const code = await agent.stop();
  forward?.stop(true);
  const sandboxEvents = readAudit(audit);
  const exit = sandboxEvents.find((x) => x.kind === 'sandbox.exit');
  screen.line();
  screen.note(`sandbox ${exit?.sandbox?.id ?? ''} exited ${code ?? '?'}; its audit: ${sandboxEvents.length} events (${sandboxEvents.map((x) => x.kind).filter((k, i, a) => a.indexOf(k) === i).join(', ')})`, 2);
  return results;
}

function readAudit(file: string): WardenEvent[] {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: WardenEvent[] = [];
  for (const l of text.split('\n')) {
    if (!l.trim()) continue;
    try {
      out.push(JSON.parse(l) as WardenEvent);
    } catch {
      /* a torn last line */
    }
  }
  return out;
}

/** Follows the sandbox's audit file and feeds new events to the monitor. */
function forwardAudit(file: string, monitor: DemoMonitor): { stop(final?: boolean): void } {
  const cursor = newCursor();
  const pump = () => {
    try {
      for (const e of readAppendedEvents(file, cursor)) monitor.inject(e);
    } catch {
      /* the sandbox's audit file is only ever appended to */
    }
  };
  const t = setInterval(pump, 250);
  t.unref();
  return {
    stop(final = false) {
      clearInterval(t);
      if (final) pump();
    },
  };
}
