// `warden run` end to end: plan the sandbox, record it for crash recovery, create cgroups and
// the network, start bwrap, pass signals through, enforce the timeout, then tear everything
// down and return the command's exit status (128+N when it died of signal N, like a shell;
// 124 on timeout, like timeout(1); 127 when the command does not exist).
//
// Speed matters: `warden run -- true` must stay within tens of ms of `true`. So this module
// only loads node builtins and small sandbox modules; yaml/zod (policy files), the egress
// module and the kernel sensor are loaded by the caller only when asked for.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { UnstampedEvent } from '../events/types.js';
import { bwrapArgs, pinWritableBinds } from './bwrap.js';
import { CgroupError, createSandboxCgroups, destroyDirs, detectCgroups, type CgroupLayout, type CgroupStats, type SandboxCgroups } from './cgroups.js';
import { buildSandboxEnv } from './env.js';
import { isInside, planFilesystem, PlanError, type FsPlan } from './fs-plan.js';
import type { SandboxMonitor } from './monitor-hook.js';
import type { NetworkProvider, PreparedNetwork } from './network-provider.js';
import type { RunPolicy } from './policy.js';
import { checkProtected, type ProtectViolation } from './protect.js';
import { passwdEntry, which } from './host.js';
import { buildSeccompFilter } from './seccomp.js';
import { claimStale, ensureStateDir, procStartTime, RecordFile, stateDir, type SandboxRecord } from './state.js';
import { diagnoseUsernsFailure, formatProblem, probeUserns, UNKNOWN_USERNS, usernsPrecheck } from './userns.js';
import { readStat } from '../sensors/procfs/proc.js';

export interface RunOptions {
  policy: RunPolicy;
  argv: string[];
  cwd?: string;
  /** Audit sink; undefined = no audit events are built at all. */
  emit?: (ev: UnstampedEvent) => void;
  network: NetworkProvider;
  monitor?: SandboxMonitor;
  /** Messages for the user (stderr). */
  log?: (msg: string) => void;
  /** Override for tests: where crash records live. */
  stateDir?: string;
}

export class SandboxSetupError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGALRM'] as const;
const SIGNUM: Record<string, number> = { ...os.constants.signals };

export function newSandboxId(): string {
  const r = Math.floor(Math.random() * 36 ** 6).toString(36).padStart(6, '0');
  return `${process.pid.toString(36)}${r}`;
}

/** The process group of `pid`, or undefined when it is gone. */
export function processGroupOf(pid: number): number | undefined {
  const pgrp = readStat(pid)?.pgrp;
  return pgrp !== undefined && pgrp > 1 ? pgrp : undefined;
}

/** Closes descriptors Warden inherited without O_CLOEXEC so the sandbox cannot inherit them. */
export function closeInheritedFds(keep: number[]): number[] {
  const closed: number[] = [];
  let names: string[];
  try {
    names = fs.readdirSync('/proc/self/fd');
  } catch {
    return closed;
  }
  const buf = Buffer.allocUnsafe(128); // "pos: …\nflags: 0…" comes first
  for (const n of names) {
    const fd = Number(n);
    if (fd < 3 || keep.includes(fd)) continue;
    try {
      const h = fs.openSync(`/proc/self/fdinfo/${fd}`, 'r');
      const len = fs.readSync(h, buf, 0, buf.length, null);
      fs.closeSync(h);
      const flags = /flags:\s*([0-7]+)/.exec(buf.toString('latin1', 0, len));
      if (flags && (parseInt(flags[1]!, 8) & 0o2000000) === 0) {
        fs.closeSync(fd);
        closed.push(fd);
      }
    } catch {
      /* the readdir's own descriptor, already closed */
    }
  }
  return closed;
}

interface Identity {
  /** Host uid/gid the sandbox runs as. */
  uid: number;
  gid: number;
  /** Whether Warden must change identity to get there. */
  drop: boolean;
  /** uid/gid seen inside. */
  innerUid: number;
  innerGid: number;
  home?: string;
  name?: string;
}

function chooseIdentity(policy: RunPolicy, workspace: string): Identity {
  const uid = process.getuid!();
  const gid = process.getgid!();
  const runAs = policy.process.runAs;
  if (uid !== 0) {
    if (typeof runAs === 'object' && runAs.uid !== uid)
      throw new SandboxSetupError(`process.user: running as uid ${runAs.uid} needs root (warden runs as uid ${uid})`, 2);
    return { uid, gid, drop: false, innerUid: uid, innerGid: gid };
  }
  let target: { uid: number; gid: number } | undefined;
  if (typeof runAs === 'object') target = runAs;
  else if (runAs === 'auto') {
    const st = fs.statSync(workspace);
    if (st.uid !== 0) target = { uid: st.uid, gid: passwdEntry(st.uid)?.gid ?? st.gid };
  }
  if (!target || target.uid === 0) {
    // Root stays root on the host (no capabilities, no_new_privs) but is nobody inside.
    return { uid: 0, gid: 0, drop: false, innerUid: 65534, innerGid: 65534 };
  }
  const pw = passwdEntry(target.uid);
  return { uid: target.uid, gid: target.gid, drop: true, innerUid: target.uid, innerGid: target.gid, home: pw?.home, name: pw?.name };
}

const CGROUP_JOIN = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

/** WARDEN_TIMING=1 prints where start-up time goes (ms since process start). */
const marks: Array<[string, number]> | undefined = process.env.WARDEN_TIMING ? [] : undefined;
export function mark(label: string): void {
  marks?.push([label, performance.now()]);
}
function printMarks(): void {
  if (marks) fs.writeSync(2, marks.map(([l, t]) => `${t.toFixed(1).padStart(7)} ms  ${l}`).join('\n') + '\n');
}

export async function runSandbox(o: RunOptions): Promise<number> {
  const t0 = performance.now();
  mark('runSandbox');
  const log =
    o.log ??
    ((m: string) => {
      try {
        fs.writeSync(2, `warden: ${m}\n`);
      } catch {
        /* stderr closed */
      }
    });
  const policy = o.policy;
  const id = newSandboxId();
  const root = process.getuid?.() === 0;
  const emit = o.emit;
  const sandbox = { id };
  const ev = (e: Omit<UnstampedEvent, 'ts' | 'sandbox'>) => emit?.({ ts: new Date().toISOString(), sandbox, ...e } as UnstampedEvent);

  // First, before Warden opens anything: descriptors inherited without O_CLOEXEC would
  // otherwise reach the sandbox (bwrap passes everything through).
  const closedFds = closeInheritedFds(policy.process.passFds);
  // A descriptor to pass that is not open made spawn fail with a bare "EBADF" (exit 1).
  for (const fd of policy.process.passFds) {
    try {
      fs.fstatSync(fd);
    } catch {
      throw new SandboxSetupError(`${policy.source ? `${policy.source}: ` : ''}process.pass_fds: descriptor ${fd} is not open in Warden (open it for warden run, e.g. ${fd}<FILE)`, 2);
    }
  }

  const precheck = usernsPrecheck(root);
  if (precheck) throw new SandboxSetupError(formatProblem(precheck));

  const bwrap = which('bwrap', process.env.PATH ?? '/usr/bin:/bin');
  if (!bwrap) throw new SandboxSetupError('bwrap (bubblewrap) is not installed; install it: apt-get install bubblewrap');

  let workspace: string;
  try {
    workspace = fs.realpathSync.native(path.resolve(o.cwd ?? process.cwd(), policy.filesystem.workspace ?? '.'));
    if (!fs.statSync(workspace).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new SandboxSetupError(`workspace ${policy.filesystem.workspace ?? o.cwd ?? '.'}: ${(err as Error).message}`, 2);
  }
  const cwd = fs.realpathSync.native(o.cwd ?? process.cwd());
  const chdir = isInside(cwd, workspace) ? cwd : workspace;

  const ident = chooseIdentity(policy, workspace);
  const callerHome = os.userInfo().homedir;
  const homes = [...new Set([process.env.HOME, callerHome, ident.home].filter((h): h is string => !!h && h !== '/'))];
  const gids = ident.drop ? [ident.gid] : (process.getgroups?.() ?? [ident.gid]);

  mark('identity');
  let plan: FsPlan;
  try {
    plan = planFilesystem({ policy, workspace, homes, identity: { uid: ident.uid, gids } });
  } catch (err) {
    if (err instanceof PlanError) throw new SandboxSetupError(err.message, 2);
    throw err;
  }
  for (const w of plan.warnings) log(w);
  mark('fs plan');

  // The environment and the command, before anything is created on the host.
  const provisionalEnv = buildSandboxEnv({ policy, host: process.env, sandboxId: id, user: ident.drop && ident.home ? { home: ident.home, name: ident.name ?? String(ident.uid) } : undefined });
  const cmd = o.argv[0]!;
  const resolved = which(cmd, provisionalEnv.PATH!);
  if (!resolved) {
    log(`${cmd}: command not found`);
    return 127;
  }
  const hiddenHit = plan.hidden.find((h) => isInside(resolved, h));
  const scratch = ['/tmp', '/var/tmp', '/run'].find((d) => isInside(resolved, d) && !plan.writable.some((w) => isInside(resolved, w)));
  if (hiddenHit || scratch) {
    log(`${cmd}: ${resolved} is not visible inside the sandbox (${hiddenHit ? `hidden: ${hiddenHit}` : `${scratch} is private to the sandbox`})`);
    return 127;
  }

  // Crash recovery: finish the cleanup of Wardens that died, then record ourselves.
  const sdir = o.stateDir ?? stateDir();
  let layout: CgroupLayout = { v1: [] };
  try {
    layout = detectCgroups();
  } catch {
    /* no cgroups at all */
  }
  mark('command lookup + cgroup detect');
  const emptyFile = ensureStateDir(sdir);
  await cleanupStale(sdir, log);
  mark('stale cleanup');
  const cgName = `warden-${id}`;
  const candidateParents = [...layout.v1.map((h) => path.join(h.mount, h.own)), ...(layout.v2 ? [path.join(layout.v2.mount, layout.v2.own)] : [])];
  const record = new RecordFile(sdir, {
    version: 1,
    id,
    pid: process.pid,
    start: procStartTime(process.pid) ?? 0,
    created: new Date().toISOString(),
    workspace,
    cgroups: { dirs: candidateParents.map((p) => path.join(p, cgName)) },
    network: { mode: policy.network.mode },
    protected: plan.protectedEntries,
  });

  let cg: SandboxCgroups | undefined;
  let net: PreparedNetwork | undefined;
  let runDir: string | undefined;
  let monitorAttached = false;
  const openedFds: number[] = [];
  const teardown = async () => {
    const left = cg ? await cg.destroy() : [];
    let netLeft = false;
    if (net)
      await net.cleanup().catch((err: Error) => {
        netLeft = true;
        log(`network cleanup: ${err.message}; the next warden run retries`);
      });
    if (monitorAttached) await o.monitor!.detach().catch((err: Error) => log(`monitor: ${err.message}`));
    for (const fd of openedFds.splice(0)) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already closed */
      }
    }
    if (runDir) fs.rmSync(runDir, { recursive: true, force: true });
    const violations = checkProtected(plan.protectedEntries, id);
    if (left.length || netLeft) {
      if (left.length) log(`could not remove cgroups ${left.join(', ')}; the next warden run retries`);
      // Keep the record for what is left only: the protected paths were checked just now.
      record.update({ cgroups: { dirs: left }, network: netLeft ? record.record.network : undefined, protected: [] });
    } else record.remove();
    return violations;
  };

  try {
    try {
      cg = createSandboxCgroups(layout, {
        id,
        limits: { memoryBytes: policy.resources.memoryBytes, pids: policy.resources.pids, cpus: policy.resources.cpus },
        // The v2 identity cgroup (kill, freeze, the sensor's filter) earns its ~15 ms of
        // start-up only when something uses it: limits or --monitor. Without them the pid
        // namespace already takes every process down with the sandbox.
        identity: !!o.monitor || policy.resources.memoryBytes !== undefined || policy.resources.pids !== undefined || policy.resources.cpus !== undefined,
      });
    } catch (err) {
      if (err instanceof CgroupError) throw new SandboxSetupError(err.message);
      throw err;
    }
    // The record already lists every possible cgroup dir (candidate parents × name).
    mark('record + cgroups');

    const emitNet = (e: UnstampedEvent) => emit?.({ ...e, sandbox: e.sandbox ?? sandbox });
    if (policy.network.mode === 'allowlist') {
      runDir = path.join(sdir, `${id}.d`);
      fs.mkdirSync(runDir, { mode: 0o700 });
    }
    net = await o.network.prepare({
      sandboxId: id,
      allow: policy.network.allow,
      resolve: policy.network.resolve,
      upstreamDns: policy.network.upstreamDns,
      policyFile: policy.source,
      writablePaths: plan.writable,
      credentials: policy.credentials,
      rules: policy.network.rules,
      root,
      uid: ident.uid,
      gid: ident.gid,
      runDir: runDir ?? sdir,
      extraCaCerts: process.env.WARDEN_NODE_EXTRA_CA_CERTS ?? process.env.NODE_EXTRA_CA_CERTS,
      emit: emitNet,
    });
    if (net.record !== undefined || policy.network.mode === 'allowlist')
      record.update({ network: { mode: policy.network.mode, provider: 'egress', record: net.record } });

    if (o.monitor) {
      await o.monitor.attach({ sandboxId: id, cgroupV2: cg.identity, argv: o.argv, emit: (e) => emit?.({ ...e, sandbox: e.sandbox ?? sandbox }) });
      monitorAttached = true;
    }

    // Descriptor slots in bwrap: pass_fds keep their numbers, ours follow.
    const passFds = policy.process.passFds;
    if (closedFds.length) ev({ kind: 'sandbox.deny', severity: 'info', message: `inherited descriptors closed: ${closedFds.join(', ')}`, data: { reason: 'inherited_fd', fds: closedFds } });
    const base = Math.max(3, ...passFds.map((f) => f + 1));
    const statusSlot = base;
    const seccompSlot = base + 1;
    const argsSlot = base + 2;
    const pinned = pinWritableBinds(plan.mounts, base + 3);
    openedFds.push(...pinned.fds);
    const providerFds = net.fds ?? [];
    const providerSlots = providerFds.map((_, i) => base + 3 + pinned.fds.length + i);
    const extraArgs = typeof net.bwrapArgs === 'function' ? net.bwrapArgs(providerSlots) : net.bwrapArgs;

    const seccomp = buildSeccompFilter({
      deny: policy.syscalls.deny,
      allow: policy.syscalls.allow,
      unixSockets: policy.network.unixSockets || !!net.needsUnixSockets,
    });
    const env = buildSandboxEnv({
      policy,
      host: process.env,
      sandboxId: id,
      user: ident.drop && ident.home ? { home: ident.home, name: ident.name ?? String(ident.uid) } : undefined,
      provider: net.env,
    });
    const args = bwrapArgs({
      mounts: pinned.mounts,
      extraArgs,
      unshareNet: net.unshareNet,
      uid: ident.innerUid,
      gid: ident.innerGid,
      chdir,
      emptyFile,
      seccompFd: seccompSlot,
      statusFd: statusSlot,
      allowUserns: policy.syscalls.allow.includes('namespaces'),
      argv: o.argv,
    });

    // Launcher chain: join cgroups (as root) → enter the provider's netns → drop identity → bwrap.
    const chain: string[] = [];
    if (cg.procsFiles.length) chain.push('/bin/sh', '-c', CGROUP_JOIN, 'warden-launch', ...cg.procsFiles, '--');
    chain.push(...net.commandPrefix);
    let spawnIds: { uid?: number; gid?: number } = {};
    if (ident.drop) {
      if (chain.length) {
        const setpriv = which('setpriv', process.env.PATH ?? '/usr/bin:/bin');
        if (!setpriv) throw new SandboxSetupError('setpriv (util-linux) is needed to run the sandbox as another user; install util-linux');
        chain.push(setpriv, `--reuid=${ident.uid}`, `--regid=${ident.gid}`, '--clear-groups', '--');
      } else spawnIds = { uid: ident.uid, gid: ident.gid };
    }
    // The arguments go through a pipe: inside, bwrap's command line (pid 1, visible to the
    // sandbox) is just `bwrap --args N`, not the list of hidden paths; and no ARG_MAX limit.
    // (The command itself must stay on the command line: bwrap takes only options from --args.)
    const dashes = args.indexOf('--');
    const options = args.slice(0, dashes);
    chain.push(bwrap, '--args', String(argsSlot), ...args.slice(dashes));

    const stdio: StdioOptions = ['inherit', 'inherit', 'inherit'];
    for (let i = 3; i < base; i++) stdio.push(passFds.includes(i) ? i : 'ignore');
    stdio.push('pipe', 'pipe', 'pipe', ...pinned.fds, ...providerFds);

    mark('args');
    if (marks) fs.writeSync(2, `${[...chain.slice(0, chain.indexOf(bwrap) + 1), ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')}\n`);
    const startedAt = performance.now();
    const child = spawn(chain[0]!, chain.slice(1), { stdio, env, detached: true, ...spawnIds });
    const exit = waitExit(child);
    // bwrap may die before reading it (setup failure): EPIPE is then expected, not fatal.
    const seccompPipe = child.stdio[seccompSlot] as NodeJS.WritableStream;
    seccompPipe.on('error', () => {});
    seccompPipe.end(seccomp.program);
    const argsPipe = child.stdio[argsSlot] as NodeJS.WritableStream;
    argsPipe.on('error', () => {});
    argsPipe.end(Buffer.from(options.map((a) => `${a}\0`).join('')));
    const status = readStatus(child, statusSlot);
    o.monitor?.launched?.(child.pid!);
    mark('spawned');

    ev({
      kind: 'sandbox.start',
      severity: 'info',
      message: `sandbox started: ${o.argv.join(' ')}`,
      data: {
        argv: o.argv,
        policy: policy.source,
        workspace,
        writable: plan.writable,
        network: policy.network.mode,
        uid: ident.uid,
        inner_uid: ident.innerUid,
        cgroups: { enforced_by: cg.enforcedBy, identity: cg.identity },
        limits: policy.resources,
        hidden: plan.hidden.length,
        read_only: plan.readOnly,
        seccomp: { denied: seccomp.denied.length, instructions: seccomp.instructions, socket_families: seccomp.socketFamilies },
        launcher_pid: child.pid,
        setup_ms: Math.round(startedAt - t0),
      },
    });

    // Signals: Warden stays in the terminal's foreground; the sandbox is in its own session
    // (no TIOCSTI), so terminal signals reach Warden and are passed to the command's group.
    let cmdPid: number | undefined;
    const commandPid = (): number | undefined => {
      if (cmdPid) return cmdPid;
      const init = status.childPid;
      if (!init) return undefined;
      try {
        const kids = fs.readFileSync(`/proc/${init}/task/${init}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
        if (kids.length) cmdPid = Number(kids[0]);
      } catch {
        /* init gone */
      }
      return cmdPid;
    };
    const forward = (sig: NodeJS.Signals) => {
      const pid = commandPid();
      try {
        // The command is not a group leader: it shares the group of bwrap's init (which, as a
        // namespace init without handlers, ignores these). kill(-pid) failed and the fallback
        // reached the command alone: Ctrl-C on `sh -c '…; sleep 100'` interrupted nothing.
        if (pid) process.kill(-(processGroupOf(pid) ?? pid), sig);
        else if (sig !== 'SIGWINCH') process.kill(-child.pid!, sig); // not started yet: stop the launcher
      } catch {
        try {
          if (pid) process.kill(pid, sig);
        } catch {
          /* already gone */
        }
      }
    };
    const handlers = new Map<string, () => void>();
    for (const s of FORWARDED) handlers.set(s, () => forward(s));
    handlers.set('SIGTSTP', () => {
      // The sandbox's group is orphaned (its session has no terminal and its parent is in another
      // session): the kernel discards SIGTSTP there, so the command kept running. SIGSTOP is not
      // discarded; SIGCONT from `fg` resumes it.
      forward('SIGSTOP');
      process.kill(process.pid, 'SIGSTOP');
    });
    handlers.set('SIGCONT', () => forward('SIGCONT'));
    for (const [s, h] of handlers) process.on(s, h);

    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer =
      policy.resources.timeoutMs !== undefined
        ? setTimeout(() => {
            timedOut = true;
            log(`timeout after ${policy.resources.timeoutMs} ms: stopping the sandbox`);
            forward('SIGTERM');
            killTimer = setTimeout(() => {
              try {
                process.kill(-child.pid!, 'SIGKILL');
              } catch {
                /* gone */
              }
              cg?.killAll();
            }, policy.resources.graceMs);
          }, policy.resources.timeoutMs)
        : undefined;

    let result: { code: number | null; signal: NodeJS.Signals | null; error?: Error };
    try {
      result = await exit;
      await status.done;
    } finally {
      if (timer) clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      for (const [s, h] of handlers) process.off(s, h);
    }
    const duration = Math.round(performance.now() - startedAt);
    mark('exited');

    let code: number;
    if (result.error) throw new SandboxSetupError(`cannot start ${chain[0]}: ${result.error.message}`);
    if (timedOut) code = 124;
    else if (result.code !== null) code = result.code;
    else code = 128 + (SIGNUM[result.signal ?? 'SIGKILL'] ?? 9);

    const stats: CgroupStats = cg.stats();
    if (!timedOut && status.exitCode === undefined && result.code !== 0) {
      // The command never ran: bwrap (or the launcher) failed during setup.
      if (result.code === 125 && cg.procsFiles.length) log('could not move the sandbox into its cgroup');
      else if (stats.oomKills) log(`the memory limit (resources.memory) killed the sandbox before the command started: raise it`);
      else {
        // No sandbox process was created: if a bare user namespace cannot be made either, say why.
        const p = status.childPid === undefined && !probeUserns(bwrap).ok ? (diagnoseUsernsFailure(root) ?? UNKNOWN_USERNS) : undefined;
        log(p ? formatProblem(p) : 'the sandbox failed to start (see the bwrap message above)');
      }
      code = result.code === 125 ? 1 : (result.code ?? 1);
    }

    if (emit || stats.oomKills || stats.pidsLimitHits) reportLimits(stats, policy, ev, log);
    if (timedOut)
      ev({
        kind: 'sandbox.deny',
        severity: 'warn',
        rule: 'sandbox.timeout',
        category: 'impact',
        mitre: ['T1499'],
        message: `wall-clock timeout (${policy.resources.timeoutMs} ms) reached; the sandbox was stopped`,
        data: { reason: 'timeout', limit_ms: policy.resources.timeoutMs },
      });

    const violations = await teardown();
    mark('teardown');
    printMarks();
    cg = undefined;
    net = undefined;
    monitorAttached = false;
    reportViolations(violations, ev, log);
    ev({
      kind: 'sandbox.exit',
      severity: 'info',
      message: `sandbox exited with ${code}`,
      exit: { code, ...(result.signal ? { signal: SIGNUM[result.signal] } : {}), duration_ms: duration },
      data: { timed_out: timedOut, stats, protected_violations: violations.length },
    });
    return code;
  } catch (err) {
    const violations = await teardown().catch(() => []);
    reportViolations(violations, ev, log);
    throw err;
  }
}

function reportLimits(s: CgroupStats, policy: RunPolicy, ev: (e: Omit<UnstampedEvent, 'ts' | 'sandbox'>) => void, log: (m: string) => void): void {
  if (s.oomKills) {
    log(`memory limit (${policy.resources.memoryBytes} bytes) reached: ${s.oomKills} process(es) killed by the OOM killer`);
    ev({
      kind: 'sandbox.deny',
      severity: 'warn',
      rule: 'sandbox.memory_limit',
      category: 'impact',
      mitre: ['T1499'],
      message: `memory limit reached: ${s.oomKills} process(es) OOM-killed`,
      data: { reason: 'memory', limit_bytes: policy.resources.memoryBytes, oom_kills: s.oomKills, peak_bytes: s.memoryPeakBytes },
    });
  }
  if (s.pidsLimitHits) {
    log(`process limit (${policy.resources.pids}) reached ${s.pidsLimitHits} time(s): fork/clone failed`);
    ev({
      kind: 'sandbox.deny',
      severity: 'warn',
      rule: 'sandbox.pids_limit',
      category: 'impact',
      mitre: ['T1499'],
      message: `process limit reached ${s.pidsLimitHits} time(s)`,
      data: { reason: 'pids', limit: policy.resources.pids, hits: s.pidsLimitHits },
    });
  }
}

function reportViolations(v: ProtectViolation[], ev: (e: Omit<UnstampedEvent, 'ts' | 'sandbox'>) => void, log: (m: string) => void): void {
  for (const x of v) {
    const what = x.quarantinedTo ? `moved aside to ${x.quarantinedTo}` : x.error ? `could not be moved aside: ${x.error}` : 'left in place';
    log(`protected path ${x.path} was ${x.change.replace('_', ' ')} by the sandbox; ${what}`);
    ev({
      kind: 'sandbox.deny',
      severity: 'alert',
      rule: 'sandbox.protected_path',
      category: 'persistence',
      mitre: ['T1546'],
      message: `protected path ${x.path} ${x.change.replace('_', ' ')} inside the sandbox; ${what}`,
      file: { path: x.path, op: x.change === 'created' ? 'create' : 'rename' },
      data: { reason: 'protected_path', change: x.change, quarantined_to: x.quarantinedTo, error: x.error },
    });
  }
}

function waitExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }> {
  return new Promise((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

interface StatusReader {
  childPid?: number;
  exitCode?: number;
  done: Promise<void>;
}

/** bwrap --json-status-fd: {"child-pid": N, ...} once the namespaces exist, {"exit-code": N} when the command exits. */
function readStatus(child: ChildProcess, slot: number): StatusReader {
  const r: StatusReader = { done: Promise.resolve() };
  const stream = child.stdio[slot] as NodeJS.ReadableStream | null;
  if (!stream) return r;
  let buf = '';
  r.done = new Promise((resolve) => {
    const parse = () => {
      for (const m of buf.matchAll(/"(child-pid|exit-code)"\s*:\s*(-?\d+)/g)) {
        if (m[1] === 'child-pid') r.childPid = Number(m[2]);
        else r.exitCode = Number(m[2]);
      }
    };
    stream.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      parse();
    });
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
  return r;
}

/** Finishes the cleanup of sandboxes whose Warden died (SIGKILL, power loss of the process). */
export async function cleanupStale(dir: string, log: (m: string) => void): Promise<number> {
  const stale = claimStale(dir);
  for (const { file, record } of stale) {
    const done: string[] = [];
    const left = await destroyDirs(record.cgroups.dirs, record.cgroups.identity, 2000);
    if (record.cgroups.dirs.some((d) => !left.includes(d))) done.push('cgroups');
    if (record.network?.provider) {
      try {
        const { loadEgress } = await import('./network.js');
        const egress = await loadEgress();
        await egress.cleanupStale?.(record.id, record.network.record);
        done.push('network');
      } catch (err) {
        log(`cleanup of sandbox ${record.id}: network: ${(err as Error).message}`);
      }
    }
    const v = checkProtected(record.protected ?? [], record.id);
    for (const x of v) log(`cleanup of sandbox ${record.id}: protected path ${x.path} was ${x.change.replace('_', ' ')}${x.quarantinedTo ? `; moved aside to ${x.quarantinedTo}` : ''}`);
    fs.rmSync(path.join(dir, `${record.id}.d`), { recursive: true, force: true });
    if (left.length) {
      log(`cleanup of sandbox ${record.id}: cgroups still busy: ${left.join(', ')}`);
      fs.renameSync(file, path.join(dir, `${record.id}.json`));
    } else fs.unlinkSync(file);
    log(`cleaned up after sandbox ${record.id} (warden pid ${record.pid} is gone)${done.length ? `: ${done.join(', ')}` : ''}`);
  }
  return stale.length;
}

export type { SandboxRecord };
export { which };
