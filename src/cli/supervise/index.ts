// `warden supervise [--policy FILE] -- CMD`: Warden as a container's PID 1. It composes the
// sandbox's pieces that fit a container (the seccomp filter, a scrubbed environment, an
// unprivileged uid with no capabilities and no_new_privs: sandbox/drop-exec.ts) with the egress
// proxy and DNS responder of `warden run` in the container's own network namespace
// (egress/container.ts), does PID 1's duties (pid1.ts: reaps orphans, forwards signals, exits with the
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
import { Metrics } from '../../sinks/metrics.js';
import { NdjsonFileSink } from '../../sinks/ndjson-file.js';
import { StdoutSink } from '../../sinks/stdout.js';
import { startHealthServer, parseListen } from './health.js';
import { watchCommand } from './pid1.js';

export interface SuperviseOptions {
  policy?: string;
  user?: string;
  listen?: string;
  tokenFile?: string;
  audit?: string;
  commandStdout?: string;
  cwd?: string;
}

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

interface Settings {
  command: string[];
  policyFile?: string;
  policy: RunPolicy;
  id: { uid: number; gid: number };
  listen?: { host: string; port: number };
  token?: string;
  commandStdout: 'stderr' | 'inherit';
  cwd: string;
  audit?: string;
  sandboxId: string;
}

/** Options and policy checked before anything starts (usage errors: exit 2). */
async function readSettings(command: string[], o: SuperviseOptions): Promise<Settings> {
  if (!command.length) throw new Usage('missing command (usage: warden supervise [--policy FILE] -- CMD ARGS...)');
  if (process.getuid?.() !== 0) throw new Usage('warden supervise runs as root in the container (it drops the command to an unprivileged user itself)');
  const policy = o.policy ? (await import('../../config/run-policy.js')).loadRunPolicy(o.policy) : defaultRunPolicy();
  if (policy.credentials.some((c) => c.file || c.sshKey)) throw new Usage(`${o.policy}: credentials: only env (and aws) credentials work with supervise: a file or key would stay readable in the container`);
  let token: string | undefined;
  if (o.tokenFile) {
    try {
      token = fs.readFileSync(o.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new Usage(`--token-file ${o.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (token.length < 16) throw new Usage(`--token-file ${o.tokenFile}: at least 16 characters`);
  }
  const commandStdout = o.commandStdout ?? 'stderr';
  if (commandStdout !== 'stderr' && commandStdout !== 'inherit') throw new Usage('--command-stdout must be stderr or inherit');
  let listen: Settings['listen'];
  try {
    listen = o.listen === 'none' ? undefined : parseListen(o.listen ?? '0.0.0.0:9464');
  } catch (err) {
    throw new Usage((err as Error).message);
  }
  return {
    command,
    policyFile: o.policy,
    policy,
    id: commandIdentity(policy, o.user),
    listen,
    token,
    commandStdout,
    cwd: o.cwd ?? process.cwd(),
    audit: o.audit,
    sandboxId: `supervise-${os.hostname().replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 40)}`,
  };
}

type Emit = (e: Omit<UnstampedEvent, 'ts'>) => void;

/** The audit: NDJSON on stdout (and a file if asked), counted for /metrics. */
function startAudit(s: Settings, counters: Record<string, number>) {
  const d = new Dispatcher();
  d.addSink(new StdoutSink({ onError: (err) => say(`audit on stdout: ${err.message}`) }));
  if (s.audit) d.addSink(new NdjsonFileSink(s.audit, { noFollow: true, onError: (err) => say(`audit ${s.audit}: ${err.message}`) }));
  const metrics = new Metrics({ monitor: () => ({ ...counters }), sinks: () => [], api: () => ({ clients: 0, subscribers: 0 }) });
  d.addSink(metrics);
  const sandbox = { id: s.sandboxId };
  const emit: Emit = (e) => d.emit({ ts: new Date().toISOString(), sandbox, ...e } as UnstampedEvent);
  return { d, metrics, emit, sandbox };
}

/**
 * The command's network confined in this namespace (or, with network.mode full, explicitly
 * not). Throws when it cannot be confined: the caller then does not start the command.
 */
async function confineNetwork(s: Settings, d: Dispatcher, runDir: string, guardPorts: number[]): Promise<{ egress?: ContainerEgress; state: string }> {
  const net = s.policy.network;
  if (net.mode === 'full') return { state: 'unconfined (network.mode full)' };
  const { prepareContainerEgress } = await import('../../egress/container.js');
  const egress = await prepareContainerEgress(
    {
      sandboxId: s.sandboxId,
      allow: net.allow,
      resolve: net.resolve,
      upstreamDns: net.upstreamDns,
      credentials: s.policy.credentials,
      rules: net.rules,
      root: true,
      uid: s.id.uid,
      gid: s.id.gid,
      runDir,
      emit: (e) => d.emit({ ...e, sandbox: e.sandbox ?? { id: s.sandboxId } }),
    },
    { guardPorts, mode: net.mode === 'none' ? 'none' : 'allowlist' },
  );
  return { egress, state: net.mode === 'none' ? 'loopback only' : 'egress proxy' };
}

/** The command, started through drop-exec.ts: every privilege dropped before its execve. */
function startCommand(s: Settings, path: string, env: Record<string, string>, seccomp: Buffer): ChildProcess {
  const helper = fileURLToPath(new URL('../../sandbox/drop-exec.js', import.meta.url));
  const spec = JSON.stringify({ path, argv: s.command, env, cwd: s.cwd, uid: s.id.uid, gid: s.id.gid, seccomp: seccomp.toString('base64') });
  const child = spawn(process.execPath, [helper], { stdio: ['inherit', s.commandStdout === 'inherit' ? 'inherit' : 2, 'inherit', 'pipe'], detached: true, env: {}, cwd: '/' });
  const specPipe = child.stdio[3] as NodeJS.WritableStream;
  specPipe.on('error', () => {});
  specPipe.end(spec);
  return child;
}

async function supervise(command: string[], o: SuperviseOptions): Promise<number> {
  const s = await readSettings(command, o);
  const { policy, id } = s;
  const counters = { reaped: 0, signals: 0, command_up: 0 };
  const { d, metrics, emit } = startAudit(s, counters);
  let child: ChildProcess | undefined;
  let egress: ContainerEgress | undefined;
  let server: http.Server | undefined;
  let networkState = 'starting';
  const runDir = fs.mkdtempSync(`${os.tmpdir()}/warden-supervise-`);
  try {
    // ---- the orchestrator's endpoint, first: its port is one the command must not reach
    const health = () => ({ ok: networkState !== 'failed' && counters.command_up === 1, command: child?.pid ? (counters.command_up ? 'running' : 'exited') : 'starting', pid: child?.pid, network: policy.network.mode, enforcement: networkState });
    if (s.listen)
      server = await startHealthServer(s.listen, {
        health,
        denials: () => ({ sandbox: s.sandboxId, ...(egress?.denials() ?? { allow: policy.network.allow, denials: [], suggest: [] }) }),
        metrics: async () => ({ contentType: metrics.registry.contentType, text: await metrics.text() }),
      }, s.token);
    const guardPorts = server ? [(server.address() as { port: number }).port] : [];

    // ---- network: confined in this namespace, or the command is not started
    try {
      ({ egress, state: networkState } = await confineNetwork(s, d, runDir, guardPorts));
    } catch (err) {
      networkState = 'failed';
      const why = (err as Error).message;
      emit({ kind: 'supervise.refused', severity: 'warn', rule: 'supervise.network_unconfined', category: 'defense_evasion', mitre: ['T1562.004'], message: `the command was not started: its network cannot be confined (${why})`, data: { reason: why, mode: policy.network.mode } });
      say(`the command was not started: its network cannot be confined: ${why}. Give the container CAP_NET_ADMIN (podman/docker --cap-add NET_ADMIN; Kubernetes securityContext.capabilities.add: [NET_ADMIN]), or set network.mode: full in the policy to run it unconfined`);
      return 1;
    }
    if (policy.network.mode === 'full') emit({ kind: 'supervise.network', severity: 'info', message: "network.mode full: the command shares the container's network unfiltered", data: { mode: 'full' } });

    // ---- the command, with every privilege dropped
    const seccomp = buildSeccompFilter({ deny: policy.syscalls.deny, allow: policy.syscalls.allow, unixSockets: policy.network.unixSockets });
    const pw = passwdEntry(id.uid);
    const env = buildSandboxEnv({ policy, host: process.env, sandboxId: s.sandboxId, user: { home: pw?.home && pw.home !== '/nonexistent' ? pw.home : '/tmp', name: pw?.name ?? String(id.uid) }, provider: egress?.env });
    const exe = which(command[0]!, env.PATH!);
    if (!exe) {
      say(`${command[0]}: command not found`);
      return 127;
    }
    const started = Date.now();
    child = startCommand(s, exe, env, seccomp.program);
    counters.command_up = 1;
    emit({
      kind: 'supervise.start',
      severity: 'info',
      message: `supervising ${command.join(' ')} as uid ${id.uid}`,
      data: {
        argv: command,
        pid: child.pid,
        pid1: process.pid === 1,
        uid: id.uid,
        gid: id.gid,
        capabilities: 'none',
        no_new_privs: true,
        policy: s.policyFile,
        network: policy.network.mode,
        enforcement: networkState,
        seccomp: { denied: seccomp.denied.length, instructions: seccomp.instructions, socket_families: seccomp.socketFamilies },
        listen: s.listen ? `${s.listen.host}:${guardPorts[0]}` : undefined,
      },
    });

    // ---- PID 1 until the command ends
    const end = await watchCommand(child, { timeoutMs: policy.resources.timeoutMs, graceMs: policy.resources.graceMs, counters, log: say });
    counters.command_up = 0;
    if (end.error) say(`cannot start the command: ${end.error.message}`);
    emit({
      kind: 'supervise.exit',
      severity: 'info',
      message: `command exited with ${end.code}`,
      exit: { code: end.code, ...(end.signal !== undefined ? { signal: end.signal } : {}), duration_ms: Date.now() - started },
      data: { timed_out: end.timedOut, reaped: counters.reaped, signals_forwarded: counters.signals },
    });
    return end.code;
  } finally {
    await egress?.cleanup();
    server?.close();
    fs.rmSync(runDir, { recursive: true, force: true });
    await d.close();
  }
}
