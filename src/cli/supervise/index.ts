// `warden supervise [--policy FILE] -- CMD`: Warden as a container's PID 1. It composes the
// sandbox's pieces that fit a container (the seccomp filter, a scrubbed environment, an
// unprivileged uid with no capabilities and no_new_privs: sandbox/drop-exec.ts) with the egress
// proxy and DNS responder of `warden run` in the container's own network namespace
// (egress/container.ts), does PID 1's duties (reaps orphans, forwards signals, exits with the
// command's status), serves /healthz, /denials and /metrics on a port the command cannot
// reach, and writes the audit as NDJSON on stdout for the runtime's log driver (the command's
// output goes to stderr unless --command-stdout inherit, so nothing it prints can pass for an
// audit line). No CAP_NET_ADMIN means the network cannot be confined: the command is not
// started (fail closed), unless the policy asks for network.mode full.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type http from 'node:http';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Dispatcher } from '../../events/dispatcher.js';
import type { UnstampedEvent } from '../../events/types.js';
import type { ContainerEgress } from '../../egress/container.js';
import { buildSandboxEnv } from '../../sandbox/env.js';
import { passwdEntry, which } from '../../sandbox/host.js';
import { defaultRunPolicy, parseRunAs, type RunPolicy } from '../../sandbox/policy.js';
import { buildSeccompFilter } from '../../sandbox/seccomp.js';
import { SIGNUM } from '../../sandbox/supervise.js';
import { Metrics } from '../../sinks/metrics.js';
import { NdjsonFileSink } from '../../sinks/ndjson-file.js';
import { StdoutSink } from '../../sinks/stdout.js';
import { startHealthServer, parseListen } from './health.js';
import { startReaper } from './reaper.js';

export interface SuperviseOptions {
  policy?: string;
  user?: string;
  listen?: string;
  tokenFile?: string;
  audit?: string;
  commandStdout?: string;
  cwd?: string;
}

const FORWARDED = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const;
const NOBODY = { uid: 65534, gid: 65534 };

const say = (m: string) => {
  try {
    fs.writeSync(2, `warden supervise: ${m}\n`);
  } catch {
    /* stderr closed */
  }
};

class Usage extends Error {}

export async function runSupervise(command: string[], opts: SuperviseOptions): Promise<number> {
  try {
    return await supervise(command, opts);
  } catch (err) {
    const e = err as Error & { exitCode?: number };
    if (err instanceof Usage) {
      say(e.message);
      return 2;
    }
    if (e.name === 'ConfigError') {
      say(`config error: ${e.message}`);
      return 2;
    }
    say(process.env.WARDEN_DEBUG ? (e.stack ?? e.message) : `error: ${e.message}`);
    return 1;
  }
}

/** Who the command runs as: --user, else process.user, else nobody; never uid 0. */
function commandIdentity(policy: RunPolicy, user?: string): { uid: number; gid: number } {
  const spec = user !== undefined ? parseRunAs(user) : policy.process.runAs;
  if (spec === undefined) throw new Usage(`--user ${user}: expected uid[:gid] or nobody`);
  const id = typeof spec === 'object' ? spec : NOBODY;
  if (id.uid === 0 || id.gid === 0) throw new Usage('the command never runs as uid or gid 0: choose an unprivileged user (--user, process.user)');
  return id;
}

async function supervise(command: string[], o: SuperviseOptions): Promise<number> {
  if (!command.length) throw new Usage('missing command (usage: warden supervise [--policy FILE] -- CMD ARGS...)');
  if (process.getuid?.() !== 0) throw new Usage('warden supervise runs as root in the container (it drops the command to an unprivileged user itself)');
  const policy = o.policy ? (await import('../../config/run-policy.js')).loadRunPolicy(o.policy) : defaultRunPolicy();
  if (policy.credentials.some((c) => c.file || c.sshKey)) throw new Usage(`${o.policy}: credentials: only env (and aws) credentials work with supervise: a file or key would stay readable in the container`);
  const id = commandIdentity(policy, o.user);
  const listen = o.listen === 'none' ? undefined : parseListen(o.listen ?? '0.0.0.0:9464');
  const token = o.tokenFile ? fs.readFileSync(o.tokenFile, 'utf8').trim() : undefined;
  if (token !== undefined && token.length < 16) throw new Usage(`--token-file ${o.tokenFile}: at least 16 characters`);
  const commandStdout = o.commandStdout ?? 'stderr';
  if (commandStdout !== 'stderr' && commandStdout !== 'inherit') throw new Usage('--command-stdout must be stderr or inherit');
  const cwd = o.cwd ?? process.cwd();
  const sandboxId = `supervise-${os.hostname().replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 40)}`;
  const sandbox = { id: sandboxId };

  // ---- audit: NDJSON on stdout (and a file if asked), counted for /metrics
  const d = new Dispatcher();
  d.addSink(new StdoutSink({ onError: (err) => say(`audit on stdout: ${err.message}`) }));
  if (o.audit) d.addSink(new NdjsonFileSink(o.audit, { noFollow: true, onError: (err) => say(`audit ${o.audit}: ${err.message}`) }));
  const counters = { reaped: 0, signals: 0, command_up: 0 };
  const metrics = new Metrics({ monitor: () => ({ ...counters }), sinks: () => [], api: () => ({ clients: 0, subscribers: 0 }) });
  d.addSink(metrics);
  const emit = (e: Omit<UnstampedEvent, 'ts'>) => d.emit({ ts: new Date().toISOString(), sandbox, ...e } as UnstampedEvent);

  let child: ChildProcess | undefined;
  let egress: ContainerEgress | undefined;
  let http: http.Server | undefined;
  let networkState = 'starting';
  let runDir: string | undefined;
  const removeRunDir = () => runDir && fs.rmSync(runDir, { recursive: true, force: true });
  const health = () => ({ ok: networkState !== 'failed' && counters.command_up === 1, command: child?.pid ? (counters.command_up ? 'running' : 'exited') : 'starting', pid: child?.pid, network: policy.network.mode, enforcement: networkState });
  if (listen)
    http = await startHealthServer(listen, {
      health,
      denials: () => ({ sandbox: sandboxId, ...(egress?.denials() ?? { allow: policy.network.allow, denials: [], suggest: [] }) }),
      metrics: async () => ({ contentType: metrics.registry.contentType, text: await metrics.text() }),
    }, token);
  const guardPorts = http ? [(http.address() as { port: number }).port] : [];

  // ---- network: confined in this namespace, or the command is not started
  if (policy.network.mode === 'full') {
    networkState = 'unconfined (network.mode full)';
    emit({ kind: 'supervise.network', severity: 'info', message: 'network.mode full: the command shares the container\'s network unfiltered', data: { mode: 'full' } });
  } else {
    const { prepareContainerEgress } = await import('../../egress/container.js');
    runDir = fs.mkdtempSync(`${os.tmpdir()}/warden-supervise-`);
    try {
      egress = await prepareContainerEgress(
        {
          sandboxId,
          allow: policy.network.allow,
          resolve: policy.network.resolve,
          upstreamDns: policy.network.upstreamDns,
          credentials: policy.credentials,
          rules: policy.network.rules,
          root: true,
          uid: id.uid,
          gid: id.gid,
          runDir,
          emit: (e) => d.emit({ ...e, sandbox: e.sandbox ?? sandbox }),
        },
        { guardPorts, mode: policy.network.mode === 'none' ? 'none' : 'allowlist' },
      );
      networkState = policy.network.mode === 'none' ? 'loopback only' : 'egress proxy';
    } catch (err) {
      networkState = 'failed';
      const why = (err as Error).message;
      emit({ kind: 'supervise.refused', severity: 'warn', rule: 'supervise.network_unconfined', category: 'defense_evasion', mitre: ['T1562.004'], message: `the command was not started: its network cannot be confined (${why})`, data: { reason: why, mode: policy.network.mode } });
      say(`the command was not started: its network cannot be confined: ${why}. Give the container CAP_NET_ADMIN (podman/docker --cap-add NET_ADMIN; Kubernetes securityContext.capabilities.add: [NET_ADMIN]), or set network.mode: full in the policy to run it unconfined`);
      http?.close();
      removeRunDir();
      await d.close();
      return 1;
    }
  }

  // ---- the command, with every privilege dropped
  const seccomp = buildSeccompFilter({ deny: policy.syscalls.deny, allow: policy.syscalls.allow, unixSockets: policy.network.unixSockets });
  const pw = passwdEntry(id.uid);
  const env = buildSandboxEnv({ policy, host: process.env, sandboxId, user: { home: pw?.home && pw.home !== '/nonexistent' ? pw.home : '/tmp', name: pw?.name ?? String(id.uid) }, provider: egress?.env });
  const path = which(command[0]!, env.PATH!);
  if (!path) {
    say(`${command[0]}: command not found`);
    await egress?.cleanup();
    http?.close();
    removeRunDir();
    await d.close();
    return 127;
  }
  const helper = fileURLToPath(new URL('../../sandbox/drop-exec.js', import.meta.url));
  const spec = JSON.stringify({ path, argv: command, env, cwd, uid: id.uid, gid: id.gid, seccomp: seccomp.program.toString('base64') });
  const started = Date.now();
  child = spawn(process.execPath, [helper], { stdio: ['inherit', commandStdout === 'inherit' ? 'inherit' : 2, 'inherit', 'pipe'], detached: true, env: {}, cwd: '/' });
  const specPipe = child.stdio[3] as NodeJS.WritableStream;
  specPipe.on('error', () => {});
  specPipe.end(spec);
  counters.command_up = 1;
  const cmdPid = child.pid!;
  emit({
    kind: 'supervise.start',
    severity: 'info',
    message: `supervising ${command.join(' ')} as uid ${id.uid}`,
    data: {
      argv: command,
      pid: cmdPid,
      pid1: process.pid === 1,
      uid: id.uid,
      gid: id.gid,
      capabilities: 'none',
      no_new_privs: true,
      policy: o.policy,
      network: policy.network.mode,
      enforcement: networkState,
      seccomp: { denied: seccomp.denied.length, instructions: seccomp.instructions, socket_families: seccomp.socketFamilies },
      listen: listen ? `${listen.host}:${guardPorts[0]}` : undefined,
    },
  });

  // ---- PID 1: forward signals to the command's process group, reap orphans, time out
  const forward = (sig: NodeJS.Signals) => {
    counters.signals++;
    try {
      process.kill(-cmdPid, sig);
    } catch {
      try {
        process.kill(cmdPid, sig);
      } catch {
        /* gone */
      }
    }
  };
  const handlers = FORWARDED.map((s) => [s, () => forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  const reaper = startReaper(() => new Set([cmdPid]), () => counters.reaped++);
  let timedOut = false;
  const timeout = policy.resources.timeoutMs;
  const timers: NodeJS.Timeout[] = [];
  if (timeout !== undefined)
    timers.push(
      setTimeout(() => {
        timedOut = true;
        say(`timeout after ${timeout} ms: stopping the command`);
        forward('SIGTERM');
        timers.push(setTimeout(() => forward('SIGKILL'), policy.resources.graceMs));
      }, timeout),
    );

  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child!.once('error', (error) => resolve({ code: null, signal: null, error }));
    child!.once('exit', (code, signal) => resolve({ code, signal }));
  });
  counters.command_up = 0;
  for (const t of timers) clearTimeout(t);
  for (const [s, h] of handlers) process.off(s, h);
  // What the command left in its group goes with it (as PID 1, the kernel ends the rest with us).
  try {
    process.kill(-cmdPid, 'SIGKILL');
  } catch {
    /* none left */
  }
  reaper.stop();
  const code = timedOut ? 124 : result.code !== null ? result.code : 128 + (SIGNUM[result.signal ?? 'SIGKILL'] ?? 9);
  if (result.error) say(`cannot start the command: ${result.error.message}`);
  emit({
    kind: 'supervise.exit',
    severity: 'info',
    message: `command exited with ${code}`,
    exit: { code, ...(result.signal ? { signal: SIGNUM[result.signal] } : {}), duration_ms: Date.now() - started },
    data: { timed_out: timedOut, reaped: counters.reaped, signals_forwarded: counters.signals },
  });
  await egress?.cleanup();
  http?.close();
  removeRunDir();
  await d.close();
  return code;
}
