// Phases 4 and 5 of `warden run`: what bwrap is started with (its arguments, descriptors,
// environment and seccomp program), the event that says it started, and what its exit means
// (the exit status, limits hit, a sandbox that never started and why). Whoever starts it — Node
// itself (runner.ts) or the native launcher (fast-run.ts) — gets the same launch.
import { assignPinSlots, bwrapArgs } from './bwrap.js';
import type { CgroupStats } from './cgroups.js';
import { droppedVariables, type DenialLog } from './denials.js';
import { buildSandboxEnv } from './env.js';
import { reportLimits, reportTimeout, reportViolations, type EmitSandbox } from './reports.js';
import { cgroupViewOps, mark, printMarks, teardown } from './run-host.js';
import { userOf } from './run-plan.js';
import type { Resources, RunOptions, Setup } from './run-types.js';
import { buildSeccompFilter, type SeccompFilter, type SeccompOptions } from './seccomp.js';
import { SIGNUM } from './supervise.js';
import { diagnoseUsernsFailure, formatProblem, probeUserns, UNKNOWN_USERNS } from './userns.js';

export interface LaunchPlan {
  /** bwrap's arguments: options, `--`, the command. Writable binds are `--bind-fd SLOT`. */
  args: string[];
  /** Paths to open (O_PATH, no symlink) into slots base+3, base+4, … in this order. */
  pins: string[];
  /** The network provider's descriptors (this process's), in the slots after the pins. */
  providerFds: number[];
  env: Record<string, string>;
  seccomp: SeccompFilter;
  /** Descriptor slots: pass_fds keep their numbers below `base`; status, seccomp, arguments from there. */
  passFds: number[];
  base: number;
  /** cgroup.procs files to join before bwrap starts. */
  cgroupProcs: string[];
  /** The network provider's command prefix (the Node driver's way into its namespace). */
  netPrefix: string[];
  /** The same namespaces as files to enter, with their inodes (the native launcher's way in); empty when there are none or the provider gave none. */
  netJoin: Array<{ path: string; ino: number }>;
  /** The process whose namespaces those are, with its start time, when they are named through /proc/PID. */
  netHolder?: { pid: number; start: number };
  /** Host identity to change to before bwrap starts. */
  drop?: { uid: number; gid: number };
}

/** Each policy's filter assembled once (0.3 ms per run in the supervisor); frozen, so no run can change another's. */
const filters = new Map<string, SeccompFilter>();
function seccompFor(o: SeccompOptions): SeccompFilter {
  const key = JSON.stringify([o.deny, o.allow, o.unixSockets]);
  let f = filters.get(key);
  if (!f) {
    const built = buildSeccompFilter(o);
    f = Object.freeze({ ...built, program: Buffer.from(built.program), denied: Object.freeze([...built.denied]) as string[], socketFamilies: Object.freeze([...built.socketFamilies]) as number[] });
    if (filters.size >= 16) filters.clear();
    filters.set(key, f);
  }
  return f;
}

export function planLaunch(o: RunOptions, s: Setup, res: Resources, emptyFile: string, denials: DenialLog): LaunchPlan {
  const policy = o.policy;
  const net = res.net!;
  const cg = res.cg!;
  const host = o.env ?? process.env;
  // Descriptor slots in bwrap: pass_fds keep their numbers, ours follow.
  const passFds = policy.process.passFds;
  const base = Math.max(3, ...passFds.map((f) => f + 1));
  const pinned = assignPinSlots([...s.plan.mounts, ...cgroupViewOps(res.layout, cg.dirs)], base + 3);
  const providerFds = net.fds ?? [];
  const providerSlots = providerFds.map((_, i) => base + 3 + pinned.srcs.length + i);
  const seccomp = seccompFor({ deny: policy.syscalls.deny, allow: policy.syscalls.allow, unixSockets: policy.network.unixSockets || !!net.needsUnixSockets });
  const env = buildSandboxEnv({ policy, host, sandboxId: s.id, user: userOf(s.ident), provider: net.env });
  const dropped = droppedVariables(host, env).filter((n) => !policy.credentials.some((c) => c.env === n));
  if (dropped.length) denials.add({ kind: 'env', what: dropped.join(', '), reason: 'not passed into the sandbox', allow: `env.pass: [${dropped[0]}] (or credentials: to keep its value outside)` });
  const args = bwrapArgs({
    mounts: pinned.mounts,
    extraArgs: typeof net.bwrapArgs === 'function' ? net.bwrapArgs(providerSlots) : net.bwrapArgs,
    unshareNet: net.unshareNet,
    uid: s.ident.innerUid,
    gid: s.ident.innerGid,
    chdir: s.chdir,
    emptyFile,
    seccompFd: base + 1,
    statusFd: base,
    allowUserns: policy.syscalls.allow.includes('namespaces'),
    argv: o.argv,
  });
  return {
    args,
    pins: pinned.srcs,
    providerFds,
    env,
    seccomp,
    passFds,
    base,
    cgroupProcs: cg.procsFiles,
    netPrefix: net.commandPrefix,
    netJoin: net.namespaces ?? [],
    netHolder: net.namespaceHolder,
    drop: s.ident.drop ? { uid: s.ident.uid, gid: s.ident.gid } : undefined,
  };
}

/** The `sandbox.start` event, once bwrap has been started by `launcherPid`. */
export function startEvent(o: RunOptions, s: Setup, res: Resources, l: LaunchPlan, ev: EmitSandbox, launcherPid: number | undefined, setupMs: number): void {
  const policy = o.policy;
  const cg = res.cg!;
  ev({
    kind: 'sandbox.start',
    severity: 'info',
    message: `sandbox started: ${o.argv.join(' ')}`,
    data: {
      argv: o.argv,
      policy: policy.source,
      workspace: s.workspace,
      writable: s.plan.writable,
      network: policy.network.mode,
      uid: s.ident.uid,
      inner_uid: s.ident.innerUid,
      stand_in: s.ident.standIn,
      views: s.plan.views.map((v) => ({ path: v.src, read_only: v.readOnly, owner: v.diskUid })),
      cgroups: { enforced_by: cg.enforcedBy, identity: cg.identity },
      limits: policy.resources,
      hidden: s.plan.hidden.length,
      read_only: s.plan.readOnly,
      seccomp: { denied: l.seccomp.denied.length, instructions: l.seccomp.instructions, socket_families: l.seccomp.socketFamilies },
      launcher_pid: launcherPid,
      setup_ms: Math.round(setupMs),
      ...o.startData,
    },
  });
}

/** How bwrap (or the chain that starts it) ended, and what its status descriptor said. */
export interface LaunchResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}
export interface LaunchStatus {
  childPid?: number;
  exitCode?: number;
}

/** The run's exit status (128+N for signal N, like a shell; 124 on timeout; the failure's when bwrap never started the command). */
export function exitCode(o: RunOptions, s: Setup, res: Resources, stats: CgroupStats, result: LaunchResult, status: LaunchStatus, timedOut: boolean, ev: EmitSandbox, log: (m: string) => void): number {
  let code: number;
  if (timedOut) code = 124;
  else if (result.code !== null) code = result.code;
  else code = 128 + (SIGNUM[result.signal ?? 'SIGKILL'] ?? 9);
  if (!timedOut && status.exitCode === undefined && result.code !== 0) {
    // The command never ran: bwrap (or the launcher) failed during setup.
    if (result.code === 125 && res.cg!.procsFiles.length) log('could not move the sandbox into its cgroup');
    else if (stats.oomKills) log(`the memory limit (resources.memory) killed the sandbox before the command started: raise it`);
    else {
      // No sandbox process was created: if a bare user namespace cannot be made either, say why.
      const p = status.childPid === undefined && !probeUserns(s.bwrap).ok ? (diagnoseUsernsFailure(s.root) ?? UNKNOWN_USERNS) : undefined;
      log(p ? formatProblem(p) : 'the sandbox failed to start (see the bwrap message above)');
    }
    code = result.code === 125 ? 1 : (result.code ?? 1);
  }
  if (o.emit || stats.oomKills || stats.pidsLimitHits) reportLimits(stats, o.policy, ev, log);
  if (timedOut) reportTimeout(o.policy, ev);
  return code;
}

/** After the command exited: the exit status, teardown and its checks, the denial summary, `sandbox.exit`. */
export async function finishRun(
  o: RunOptions,
  s: Setup,
  res: Resources,
  ev: EmitSandbox,
  log: (m: string) => void,
  denials: DenialLog,
  end: { result: LaunchResult; status: LaunchStatus; timedOut: boolean; durationMs: number },
): Promise<number> {
  const stats = res.cg!.stats(); // before teardown removes the cgroups
  const code = exitCode(o, s, res, stats, end.result, end.status, end.timedOut, ev, log);
  const violations = await teardown(o, s, res, ev, log, denials);
  mark('teardown');
  printMarks();
  reportViolations(violations, ev, log);
  const record = s.runsDir ? denials.save(s.runsDir, s.id) : undefined;
  const summary = denials.summary(record);
  if (summary && !o.quiet) log(summary);
  ev({
    kind: 'sandbox.exit',
    severity: 'info',
    message: `sandbox exited with ${code}`,
    exit: { code, ...(end.result.signal ? { signal: SIGNUM[end.result.signal] } : {}), duration_ms: Math.round(end.durationMs) },
    data: { timed_out: end.timedOut, stats, protected_violations: violations.length },
  });
  return code;
}

/** A run that failed after its record was written: everything it made goes, what it planted is checked. */
export async function abortRun(o: RunOptions, s: Setup, res: Resources, ev: EmitSandbox, log: (m: string) => void, denials: DenialLog): Promise<void> {
  denials.finished();
  const violations = await teardown(o, s, res, ev, log, denials).catch(() => []);
  reportViolations(violations, ev, log);
}
