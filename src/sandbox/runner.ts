// `warden run` end to end, in phases: plan the sandbox (identity, filesystem, environment,
// command), record it for crash recovery, create what it needs on the host (cgroups, idmapped
// views, network, monitor), launch bwrap, supervise it (signals, timeout), then tear
// everything down and return the command's exit status (128+N when it died of signal N, like
// a shell; 124 on timeout, like timeout(1); 127 when the command does not exist).
//
// Speed matters: `warden run -- true` must stay within tens of ms of `true`. So this module
// only loads node builtins and small sandbox modules; yaml/zod (policy files), the egress
// module, koffi (views) and the kernel sensor are loaded by the caller only when asked for.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { UnstampedEvent } from '../events/types.js';
import { bwrapArgs, pinWritableBinds } from './bwrap.js';
import { CgroupError, createSandboxCgroups, destroyDirs, detectCgroups, type CgroupLayout, type CgroupStats, type SandboxCgroups } from './cgroups.js';
import { buildSandboxEnv } from './env.js';
import { homeRunPatterns, isInside, planFilesystem, PlanError, runsCodeOrHoldsSecrets, SKIP_DIRS, type FsPlan, type MountOp, type ProtectedEntry } from './fs-plan.js';
import { which } from './host.js';
import { chooseIdentity, IdentityError, isHostRoot, type SandboxIdentity } from './identity.js';
import { launch, LaunchError, renderCommand } from './launch.js';
import { writableBy } from './views.js';
import type { SandboxMonitor } from './monitor-hook.js';
import type { NetworkProvider, PreparedNetwork } from './network-provider.js';
import type { RunPolicy } from './policy.js';
import { checkModes, checkProtected, newGitEntries, newHomeEntries, newNestedProtected, type ProtectViolation } from './protect.js';
import { reportLimits, reportTimeout, reportViolations, type EmitSandbox } from './reports.js';
import { buildSeccompFilter } from './seccomp.js';
import { claimStale, ensureStateDir, mountDirFor, procStartTime, RecordFile, stateDir, type SandboxRecord } from './state.js';
import { SIGNUM, supervise } from './supervise.js';
import { diagnoseUsernsFailure, formatProblem, probeUserns, UNKNOWN_USERNS, usernsPrecheck } from './userns.js';
import type { ViewMounter } from './view-mounts.js';
import { finishLayers, planLayers, prepareLayers, type LayerOutcome, type LayerPlan } from './layers.js';
import { DenialLog, droppedVariables } from './denials.js';
import type { Learner } from './learn.js';
import { stateDir as stateDirOf } from '../util/xdg.js';

export { processGroupOf } from './supervise.js';

export interface RunOptions {
  policy: RunPolicy;
  argv: string[];
  cwd?: string;
  /** Audit sink; undefined = no audit events are built at all. */
  emit?: (ev: UnstampedEvent) => void;
  network: NetworkProvider;
  monitor?: SandboxMonitor;
  /** Attaches idmapped views (root runs whose sandbox uid does not own what it is given). */
  views?: () => Promise<ViewMounter>;
  /** Messages for the user (stderr). */
  log?: (msg: string) => void;
  /** Override for tests: where crash records live. */
  stateDir?: string;
  /** No hints on stderr (denials are still recorded). */
  quiet?: boolean;
  /** `--learn`: every destination allowed and recorded, home writes seen. */
  learn?: Learner;
}

export class SandboxSetupError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export function newSandboxId(): string {
  const r = Math.floor(Math.random() * 36 ** 6).toString(36).padStart(6, '0');
  return `${process.pid.toString(36)}${r}`;
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

/** WARDEN_TIMING=1 prints where start-up time goes (ms since process start). */
const marks: Array<[string, number]> | undefined = process.env.WARDEN_TIMING ? [] : undefined;
export function mark(label: string): void {
  marks?.push([label, performance.now()]);
}
function printMarks(): void {
  if (marks) fs.writeSync(2, marks.map(([l, t]) => `${t.toFixed(1).padStart(7)} ms  ${l}`).join('\n') + '\n');
}

/** Everything decided before anything is created on the host. */
interface Setup {
  id: string;
  root: boolean;
  /** Warden is the host's root (not root of a user namespace). */
  hostRoot: boolean;
  /** Where the empty cover file and the views live: reachable by the sandbox's uid. */
  shared: string;
  /** The agent's private layers, when an agent profile is used. */
  layers?: LayerPlan;
  bwrap: string;
  workspace: string;
  chdir: string;
  ident: SandboxIdentity;
  homes: string[];
  plan: FsPlan;
  closedFds: number[];
  sdir: string;
}

/** What exists on the host for this run, and how to remove it. */
interface Resources {
  layout: CgroupLayout;
  layersMade?: LayerPlan;
  cg?: SandboxCgroups;
  net?: PreparedNetwork;
  runDir?: string;
  mountDir?: string;
  mounter?: ViewMounter;
  monitorAttached: boolean;
  openedFds: number[];
  record: RecordFile;
}

export async function runSandbox(opts: RunOptions): Promise<number> {
  const t0 = performance.now();
  mark('runSandbox');
  const sink = opts.log ?? stderrLog;
  // Paths in messages come from the sandbox: its control characters must not drive the terminal.
  const log = (m: string) => sink(printable(m));
  // Every event passes the denial log (hints on stderr, the run's own record) on its way to --audit.
  const denials = new DenialLog(log, !!opts.quiet, !!process.stderr.isTTY && !!process.stdin.isTTY);
  const o: RunOptions = {
    ...opts,
    emit: (e) => {
      denials.observe(e);
      opts.learn?.observe(e);
      opts.emit?.(e);
    },
  };
  const id = newSandboxId();
  const sandbox = { id };
  const ev: EmitSandbox = (e) => o.emit?.({ ts: new Date().toISOString(), sandbox, ...e } as UnstampedEvent);

  const setup = planRun(o, id, log);
  if (typeof setup === 'number') return setup;
  const layout = detectLayout();
  mark('command lookup + cgroup detect');
  const emptyFile = ensureStateDir(setup.sdir, setup.shared);
  await cleanupStale(setup.sdir, log, o.views);
  mark('stale cleanup');
  const res: Resources = { layout, monitorAttached: false, openedFds: [], record: recordRun(setup, layout, o.policy.network.mode) };
  try {
    await createResources(o, setup, layout, res, ev);
    const started = startSandbox(o, setup, res, emptyFile, ev, t0, denials);
    const sup = supervise(started.child, started.status, started.exit, {
      timeoutMs: o.policy.resources.timeoutMs,
      graceMs: o.policy.resources.graceMs,
      killAll: () => res.cg?.killAll(),
      log,
    });
    denials.started();
    const result = await sup.result;
    denials.finished();
    const duration = Math.round(performance.now() - started.at);
    mark('exited');
    if (result.error) throw new SandboxSetupError(`cannot start ${started.chain[0]}: ${result.error.message}`);
    const stats = res.cg!.stats(); // before teardown removes the cgroups
    const code = exitCode(o, setup, res, stats, result, started.status, sup.timedOut(), ev, log);
    const violations = await teardown(o, setup, res, ev, log, denials);
    mark('teardown');
    printMarks();
    reportViolations(violations, ev, log);
    // The run's record is not written where the sandbox could have prepared the way (workspace = $HOME).
    const runs = path.join(stateDirOf(), 'runs');
    const record = setup.plan.writable.some((w) => isInside(runs, w) || isInside(w, runs)) ? undefined : denials.save(runs, setup.id);
    const summary = denials.summary(record);
    if (summary && !o.quiet) log(summary);
    ev({
      kind: 'sandbox.exit',
      severity: 'info',
      message: `sandbox exited with ${code}`,
      exit: { code, ...(result.signal ? { signal: SIGNUM[result.signal] } : {}), duration_ms: duration },
      data: { timed_out: sup.timedOut(), stats, protected_violations: violations.length },
    });
    return code;
  } catch (err) {
    denials.finished();
    const violations = await teardown(o, setup, res, ev, log, denials).catch(() => []);
    reportViolations(violations, ev, log);
    if (err instanceof LaunchError) throw new SandboxSetupError(err.message);
    throw err;
  }
}

/** A string from the sandbox (a path, a key) for a message: every control character escaped, newlines too. */
export function quote(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Control characters (ESC, CR, BS, C1...) as visible escapes; newlines and tabs kept. */
export function printable(m: string): string {
  return m.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function stderrLog(m: string): void {
  try {
    fs.writeSync(2, `warden: ${m}\n`);
  } catch {
    /* stderr closed */
  }
}

function detectLayout(): CgroupLayout {
  try {
    return detectCgroups();
  } catch {
    return { v1: [] }; // no cgroups at all
  }
}

// ------------------------------------------------------------------ phase 1: plan

/** Everything that can be decided without changing the host. A number is an exit code (127). */
function planRun(o: RunOptions, id: string, log: (m: string) => void): Setup | number {
  const policy = o.policy;
  const root = process.getuid?.() === 0;
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

  let ident: SandboxIdentity;
  const hostRoot = isHostRoot();
  try {
    ident = chooseIdentity(policy.process.runAs, workspace, undefined, undefined, hostRoot);
  } catch (err) {
    if (err instanceof IdentityError) throw new SandboxSetupError(`${policy.source ? `${policy.source}: ` : ''}${err.message}`, 2);
    throw err;
  }
  const callerHome = os.userInfo().homedir;
  // The sandbox's HOME first: `~/` in the policy means the home the command will see.
  const sandboxHome = userOf(ident)?.home ?? process.env.HOME;
  const homes = [...new Set([sandboxHome, process.env.HOME, callerHome, ident.home].filter((h): h is string => !!h && h !== '/'))];
  if (policy.agent && sandboxHome) prepareAgentHome(policy.agent, sandboxHome, log);
  const gids = ident.drop ? [ident.gid] : (process.getgroups?.() ?? [ident.gid]);
  const sdir = o.stateDir ?? stateDir();
  mark('identity');

  const shared = sharedDir(sdir, hostRoot);
  // Learning without an agent profile: the home as a layer too, so what the command writes there is seen.
  const layerProfile = policy.agent ?? (o.learn ? { name: 'command', title: 'the command', stateDirs: [], keep: [], perProject: [], fresh: [], homeFiles: [] } : undefined);
  const layers = layerProfile && sandboxHome ? agentLayers({ ...policy, agent: layerProfile }, sandboxHome, workspace, ident, path.join(shared, 'scratch', id), log) : undefined;
  const planPolicy = layers ? { ...policy, filesystem: { ...policy.filesystem, allowWrite: [...policy.filesystem.allowWrite, ...layers.writable] } } : policy;
  let plan: FsPlan;
  try {
    plan = planFilesystem({
      policy: planPolicy,
      workspace,
      homes,
      layers: layers?.layers,
      identity: { uid: ident.uid, gid: ident.gid, gids, callerRoot: hostRoot, standIn: ident.standIn, mountDir: mountDirFor(shared, id) },
    });
  } catch (err) {
    if (err instanceof PlanError) throw new SandboxSetupError(err.message, 2);
    throw err;
  }
  for (const w of plan.warnings) log(w);
  // Warden's own state (crash records, the runtime directory) where a sandbox can write would
  // let it forge a record that the next run acts on.
  const stateRoot = path.dirname(sdir);
  const exposed = plan.writable.find((w) => isInside(stateRoot, w) || isInside(w, stateRoot));
  if (exposed)
    throw new SandboxSetupError(`Warden's state directory ${stateRoot} lies in ${exposed}, which the sandbox can write; set XDG_RUNTIME_DIR (or TMPDIR) to a directory outside it`, 2);
  for (const w of plan.writable.slice(1))
    if (!plan.views.some((v) => v.src === w) && !writableBy({ uid: ident.uid, gids }, w))
      log(`allow_write ${w}: the sandbox runs as uid ${ident.uid}${ident.drop && !ident.standIn ? ' (the workspace owner)' : ''}, which cannot write it; change its owner or set process.user`);
  mark('fs plan');

  // The command, before anything is created on the host.
  const env = buildSandboxEnv({ policy, host: process.env, sandboxId: id, user: userOf(ident) });
  const cmd = o.argv[0]!;
  const resolved = which(cmd, env.PATH!);
  if (!resolved) {
    log(`${cmd}: command not found`);
    return 127;
  }
  const hiddenHit = plan.hidden.find((h) => isInside(resolved, h));
  const privateDir = ['/tmp', '/var/tmp', '/run'].find((d) => isInside(resolved, d) && !plan.writable.some((w) => isInside(resolved, w)));
  if (hiddenHit || privateDir) {
    const why = hiddenHit
      ? `hidden: ${hiddenHit}; filesystem.allow_read: [${hiddenHit}] shows it`
      : `${privateDir} is private to the sandbox; filesystem.allow_write: [${path.dirname(resolved)}] brings its directory in`;
    log(`${cmd}: ${resolved} is not visible inside the sandbox (${why})`);
    return 127;
  }
  if (!plan.reach(resolved)) {
    const who = ident.standIn ? `the sandbox's unprivileged stand-in user (uid ${ident.uid})` : `the sandbox's user (uid ${ident.uid})`;
    log(`${cmd}: ${resolved} cannot be reached by ${who}: a directory on the way is not searchable by it. Put the tool where others can read it, or make its directories searchable (chmod o+x)`);
    return 127;
  }
  return { id, root, hostRoot, bwrap, workspace, chdir, ident, homes, plan, closedFds, sdir, shared, layers };
}

/**
 * An agent's primary state directory (~/.claude, ~/.codex, ~/.gemini) is made when missing, as
 * the agent itself would at its first start: its profile makes it writable, and Warden never
 * binds a path that does not exist. Owned by the home's owner, 0700.
 */
/**
 * The agent's layers, when its home is the sandbox user's own (a sandbox that runs as the
 * workspace owner never gets root's home, nor copies of its files).
 */
function agentLayers(policy: RunPolicy, home: string, workspace: string, ident: SandboxIdentity, scratchRoot: string, log: (m: string) => void): LayerPlan | undefined {
  const st = fs.statSync(home, { throwIfNoEntry: false });
  const owner = ident.standIn ? 0 : ident.uid;
  if (!st?.isDirectory() || st.uid !== owner) {
    log(`${policy.agent!.title} profile: HOME (${home}) is not the sandbox user's (uid ${ident.uid}), so the agent gets none of its state; set HOME to that user's home, or process.user`);
    return undefined;
  }
  if (isInside(workspace, home)) return undefined; // the home is the workspace's own: writable as it is
  return planLayers(policy.agent!, home, workspace, scratchRoot, log);
}

function prepareAgentHome(agent: { stateDirs: string[] }, home: string, log: (m: string) => void): void {
  const first = agent.stateDirs[0];
  if (!first?.startsWith('~/')) return;
  const dir = path.join(home, first.slice(2));
  if (fs.existsSync(dir)) return;
  try {
    const owner = fs.statSync(home);
    fs.mkdirSync(dir, { mode: 0o700 });
    if (process.getuid?.() === 0) fs.chownSync(dir, owner.uid, owner.gid);
  } catch (err) {
    log(`could not create ${dir} for the agent's state: ${(err as Error).message}`);
  }
}

/**
 * The directory for what the sandbox's uid must reach (the empty file that covers secrets, the
 * views): for host root, /run/warden whatever XDG_RUNTIME_DIR says (/run/user/0 is 0700 and
 * the stand-in could not reach it); otherwise the runtime directory, which the caller can reach.
 */
function sharedDir(sdir: string, hostRoot: boolean): string {
  return hostRoot ? '/run/warden' : path.dirname(sdir);
}

function userOf(ident: SandboxIdentity): { home: string; name: string } | undefined {
  return ident.drop && ident.home ? { home: ident.home, name: ident.name ?? String(ident.uid) } : undefined;
}

// ------------------------------------------------------------------ phase 2: record

/** Crash recovery: what this run is about to create, written before it creates it. */
function recordRun(s: Setup, layout: CgroupLayout, networkMode: string): RecordFile {
  const cgName = `warden-${s.id}`;
  const parents = [...layout.v1.map((h) => path.join(h.mount, h.own)), ...(layout.v2 ? [path.join(layout.v2.mount, layout.v2.own)] : [])];
  return new RecordFile(s.sdir, {
    version: 1,
    id: s.id,
    pid: process.pid,
    start: procStartTime(process.pid) ?? 0,
    created: new Date().toISOString(),
    workspace: s.workspace,
    cgroups: { dirs: parents.map((p) => path.join(p, cgName)) },
    network: { mode: networkMode },
    protected: s.plan.protectedEntries,
    mounts: s.plan.views.length ? mountDirFor(s.shared, s.id) : undefined,
    scratch: s.layers?.layers[0] ? path.dirname(s.layers.layers[0].scratch) : undefined,
  });
}

// ------------------------------------------------------------------ phase 3: host resources

async function createResources(o: RunOptions, s: Setup, layout: CgroupLayout, res: Resources, ev: EmitSandbox): Promise<void> {
  const policy = o.policy;
  try {
    res.cg = createSandboxCgroups(layout, {
      id: s.id,
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
  mark('record + cgroups');
  if (s.plan.views.length) await attachViews(o, s, res);
  if (s.layers) {
    res.layersMade = s.layers;
    prepareLayers(s.layers, { uid: s.ident.uid, gid: s.ident.gid });
  }

  const sandbox = { id: s.id };
  const emitNet = (e: UnstampedEvent) => o.emit?.({ ...e, sandbox: e.sandbox ?? sandbox });
  if (policy.network.mode === 'allowlist') {
    res.runDir = path.join(s.sdir, `${s.id}.d`);
    fs.mkdirSync(res.runDir, { mode: 0o700 });
  }
  res.net = await o.network.prepare({
    sandboxId: s.id,
    allow: policy.network.allow,
    resolve: policy.network.resolve,
    upstreamDns: policy.network.upstreamDns,
    policyFile: policy.source,
    writablePaths: s.plan.writable,
    credentials: policy.credentials,
    rules: policy.network.rules,
    learn: !!o.learn,
    root: s.root,
    uid: s.ident.uid,
    gid: s.ident.gid,
    runDir: res.runDir ?? s.sdir,
    extraCaCerts: process.env.WARDEN_NODE_EXTRA_CA_CERTS ?? process.env.NODE_EXTRA_CA_CERTS,
    emit: emitNet,
  });
  if (res.net.record !== undefined || policy.network.mode === 'allowlist')
    res.record.update({ network: { mode: policy.network.mode, provider: 'egress', record: res.net.record } });

  if (o.monitor) {
    await o.monitor.attach({ sandboxId: s.id, cgroupV2: res.cg.identity, cgroup: res.cg.node, argv: o.argv, emit: (e) => o.emit?.({ ...e, sandbox: e.sandbox ?? sandbox }) });
    res.monitorAttached = true;
  }
  if (s.closedFds.length) ev({ kind: 'sandbox.deny', severity: 'info', message: `inherited descriptors closed: ${s.closedFds.join(', ')}`, data: { reason: 'inherited_fd', fds: s.closedFds } });
}

async function attachViews(o: RunOptions, s: Setup, res: Resources): Promise<void> {
  if (!o.views) throw new SandboxSetupError('this build cannot attach idmapped views (internal: no view mounter)');
  res.mountDir = mountDirFor(s.shared, s.id);
  try {
    res.mounter = await o.views();
    await res.mounter.attach(s.plan.views, res.mountDir, { uid: s.ident.uid, gid: s.ident.gid });
  } catch (err) {
    // Where no sandbox can be made at all (a container that blocks nested user namespaces),
    // that is the cause to name, not the views.
    if (!probeUserns(s.bwrap).ok) throw new SandboxSetupError(formatProblem(diagnoseUsernsFailure(s.root) ?? UNKNOWN_USERNS));
    const what = s.plan.views.map((v) => v.src).join(', ');
    throw new SandboxSetupError(
      `cannot show ${what} to the sandbox's unprivileged stand-in user (${(err as Error).message}; idmapped mounts need CAP_SYS_ADMIN and a filesystem that supports them). ` +
        'Warden never runs a sandbox as host root: run it in a directory owned by a normal user (or set process.user to one that owns it)',
    );
  }
  mark('views');
}

// ------------------------------------------------------------------ phase 4: launch

function startSandbox(o: RunOptions, s: Setup, res: Resources, emptyFile: string, ev: EmitSandbox, t0: number, denials: DenialLog) {
  const policy = o.policy;
  const net = res.net!;
  const cg = res.cg!;
  // Descriptor slots in bwrap: pass_fds keep their numbers, ours follow.
  const passFds = policy.process.passFds;
  const base = Math.max(3, ...passFds.map((f) => f + 1));
  const pinned = pinWritableBinds([...s.plan.mounts, ...cgroupViewOps(res.layout, cg.dirs)], base + 3);
  res.openedFds.push(...pinned.fds);
  const providerFds = net.fds ?? [];
  const providerSlots = providerFds.map((_, i) => base + 3 + pinned.fds.length + i);
  const seccomp = buildSeccompFilter({ deny: policy.syscalls.deny, allow: policy.syscalls.allow, unixSockets: policy.network.unixSockets || !!net.needsUnixSockets });
  const env = buildSandboxEnv({ policy, host: process.env, sandboxId: s.id, user: userOf(s.ident), provider: net.env });
  const dropped = droppedVariables(process.env, env).filter((n) => !policy.credentials.some((c) => c.env === n));
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
  mark('args');
  const l = launch({
    bwrap: s.bwrap,
    args,
    cgroupProcs: cg.procsFiles,
    netPrefix: net.commandPrefix,
    drop: s.ident.drop ? { uid: s.ident.uid, gid: s.ident.gid } : undefined,
    env,
    seccomp: seccomp.program,
    passFds,
    base,
    extraFds: [...pinned.fds, ...providerFds],
  });
  if (marks) fs.writeSync(2, renderCommand(l.chain, s.bwrap, args) + '\n');
  const at = performance.now();
  o.monitor?.launched?.(l.child.pid!);
  mark('spawned');
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
      seccomp: { denied: seccomp.denied.length, instructions: seccomp.instructions, socket_families: seccomp.socketFamilies },
      launcher_pid: l.child.pid,
      setup_ms: Math.round(at - t0),
    },
  });
  return { ...l, at };
}

/** Keys whose change, not taken from the agent's run, is an attempt on the next session. */
const EXEC_KEY = /mcp|env|hook|command|helper|allowedtools|trust|plugin|permission|apikey|baseurl|proxy/i;

/** What the agent's layers came to: data written back, what was not taken and why. */
function reportLayers(r: LayerOutcome, home: string, ev: EmitSandbox, log: (m: string) => void, denials: DenialLog, learner?: Learner): void {
  for (const k of r.keptBeside) {
    log(`${quote(k.path)}: changed on the host during the run; the agent's version is ${quote(k.besideAs)}`);
    ev({ kind: 'sandbox.deny', severity: 'warn', rule: 'sandbox.agent_state', category: 'persistence', mitre: ['T1546'], message: `${k.path} changed during the run; the agent's version kept beside it`, file: { path: k.path, op: 'write' }, data: { reason: 'agent_state', kept_as: k.besideAs } });
  }
  for (const i of r.ignoredKeys) {
    const exec = i.keys.filter((k) => EXEC_KEY.test(k));
    log(`${quote(i.path)}: not taken from the agent's run: ${i.keys.slice(0, 6).map(quote).join(', ')}${i.keys.length > 6 ? ` and ${i.keys.length - 6} more` : ''}`);
    ev({ kind: 'sandbox.deny', severity: exec.length ? 'alert' : 'warn', rule: 'sandbox.agent_config', category: 'persistence', mitre: ['T1546'], message: `${i.path}: keys the agent changed and Warden did not take: ${i.keys.slice(0, 10).join(', ')}`, file: { path: i.path, op: 'write' }, data: { reason: 'agent_config', keys: i.keys } });
  }
  for (const p of r.discarded) {
    const name = isInside(p, home) ? `~/${path.relative(home, p)}` : p;
    const runsCode = runsCodeOrHoldsSecrets(p, home);
    learner?.wrote(name, !runsCode);
    denials.add({ kind: 'home', what: quote(p), reason: runsCode ? 'a file that runs code or holds secrets: discarded with the run' : 'written outside the agent\'s data, discarded with the run', allow: runsCode ? undefined : `filesystem.allow_write: [${quote(name)}] (create it first)` });
    ev({ kind: 'sandbox.deny', severity: runsCode ? 'warn' : 'info', message: `write discarded: ${p}`, file: { path: p, op: 'write' }, data: { reason: 'home_write_discarded' } });
  }
  for (const e of r.errors) log(`the agent's state: ${quote(e)}`);
}

/**
 * /sys/fs/cgroup inside: the host's tree lists every host process and other sandboxes' cgroups.
 * It is replaced by an empty read-only tmpfs on which each hierarchy's mount point shows this
 * sandbox's own cgroup, read-only (tools that size themselves from their limits, like Node,
 * the JVM and Go, read them there; with the cgroup namespace /proc/self/cgroup says "/").
 */
export function cgroupViewOps(layout: CgroupLayout, dirs: string[]): MountOp[] {
  const root = '/sys/fs/cgroup';
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(root);
  } catch {
    return [];
  }
  if (!st.isDirectory()) return [];
  const mounts = [...layout.v1.map((h) => h.mount), ...(layout.v2 ? [layout.v2.mount] : [])].filter((m) => isInside(m, root));
  const ops: MountOp[] = [];
  if (!mounts.includes(root)) ops.push({ op: 'tmpfs', dest: root });
  for (const m of mounts.sort((a, b) => a.length - b.length)) {
    const own = dirs.filter((d) => isInside(d, m) && d !== m).sort((a, b) => b.length - a.length)[0];
    if (own) ops.push({ op: 'ro-bind', src: own, dest: m });
    else if (m !== root) ops.push({ op: 'tmpfs', dest: m, readOnly: true });
    else ops.push({ op: 'tmpfs', dest: m });
  }
  ops.push({ op: 'remount-ro', dest: root });
  return ops;
}

// ------------------------------------------------------------------ phase 5: outcome

function exitCode(
  o: RunOptions,
  s: Setup,
  res: Resources,
  stats: CgroupStats,
  result: { code: number | null; signal: NodeJS.Signals | null },
  status: { childPid?: number; exitCode?: number },
  timedOut: boolean,
  ev: EmitSandbox,
  log: (m: string) => void,
): number {
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

// ------------------------------------------------------------------ phase 6: teardown

/** Removes what the run created, checks the protected paths; keeps the record for what is left. */
async function teardown(o: RunOptions, s: Setup, res: Resources, ev: EmitSandbox, log: (m: string) => void, denials: DenialLog): Promise<ProtectViolation[]> {
  // Each step on its own: one that fails (an unreadable file the sandbox left) must not skip the
  // checks after it. The cgroups go first (nothing of the sandbox is left running), then the
  // checks of what it may have planted, then the rest.
  const step = async (what: string, f: () => unknown) => {
    try {
      await f();
    } catch (err) {
      log(`${what}: ${quote((err as Error).message)}`);
    }
  };
  let left: string[] = [];
  await step('cgroups', async () => {
    left = res.cg ? await res.cg.destroy() : [];
  });
  res.cg = undefined;
  let violations: ProtectViolation[] = [];
  await step('protected paths', () => {
    violations = checkProtected(protectedAfterRun(s), s.id, true, s.plan.writable);
  });
  await step('modes', () => reportModes(s, ev, log));
  if (res.layersMade) await step("the agent's state", () => reportLayers(finishLayers(res.layersMade!, s.id), res.layersMade!.layers[0]!.dir, ev, log, denials, o.learn));
  res.layersMade = undefined;
  let netLeft = false;
  if (res.net)
    await res.net.cleanup().catch((err: Error) => {
      netLeft = true;
      log(`network cleanup: ${err.message}; the next warden run retries`);
    });
  res.net = undefined;
  if (res.monitorAttached) await o.monitor!.detach().catch((err: Error) => log(`monitor: ${err.message}`));
  res.monitorAttached = false;
  for (const fd of res.openedFds.splice(0)) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
  }
  let mountsLeft: string[] = [];
  await step('views', () => {
    mountsLeft = res.mountDir && res.mounter ? res.mounter.detach(res.mountDir) : [];
  });
  res.mountDir = undefined;
  await step('run directory', () => res.runDir && fs.rmSync(res.runDir, { recursive: true, force: true }));
  if (left.length || netLeft || mountsLeft.length) {
    if (left.length) log(`could not remove cgroups ${left.join(', ')}; the next warden run retries`);
    if (mountsLeft.length) log(`could not remove ${mountsLeft.join(', ')}; the next warden run retries`);
    // Keep the record for what is left only: the protected paths were checked just now.
    res.record.update({ cgroups: { dirs: left }, network: netLeft ? res.record.record.network : undefined, protected: [], mounts: mountsLeft.length ? res.record.record.mounts : undefined });
  } else res.record.remove();
  return violations;
}

/** Protected paths as planned, and what appeared during the run (home startup files, repositories). */
function protectedAfterRun(s: Setup): ProtectedEntry[] {
  const known = new Set(s.plan.protectedEntries.map((e) => e.path));
  return [
    ...s.plan.protectedEntries,
    ...newHomeEntries(homeRunPatterns(s.homes, s.plan.writable), s.plan.writable, known),
    ...newGitEntries({ workspace: s.workspace, writable: s.plan.writable, homes: s.homes, before: [...s.plan.git.protect, ...known], skip: SKIP_DIRS }),
    ...newNestedProtected(s.workspace, s.plan.protectedEntries, SKIP_DIRS),
  ];
}

function reportModes(s: Setup, ev: EmitSandbox, log: (m: string) => void): void {
  for (const m of checkModes(s.plan.modes)) {
    const msg = `${quote(m.path)}: the sandbox made it writable for others (${m.before.toString(8)} → ${m.after.toString(8)})${m.restored ? '; the old mode was put back' : '; the old mode could not be put back'}`;
    log(msg);
    ev({ kind: 'sandbox.deny', severity: 'warn', rule: 'sandbox.mode_widened', category: 'defense_evasion', mitre: ['T1222.002'], message: msg, file: { path: m.path, op: 'chmod' }, data: { reason: 'mode_widened', before: m.before, after: m.after, restored: m.restored } });
  }
}

/** Finishes the cleanup of sandboxes whose Warden died (SIGKILL, power loss of the process). */
export async function cleanupStale(dir: string, log: (m: string) => void, views?: () => Promise<ViewMounter>): Promise<number> {
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
    if (record.mounts && views) {
      const mleft = (await views()).detach(record.mounts);
      if (!mleft.length) done.push('views');
      else log(`cleanup of sandbox ${record.id}: could not remove ${mleft.join(', ')}`);
    }
    const v = checkProtected(record.protected ?? [], record.id);
    for (const x of v) log(`cleanup of sandbox ${record.id}: protected path ${x.path} was ${x.change.replace('_', ' ')}${x.quarantinedTo ? `; moved aside to ${x.quarantinedTo}` : ''}`);
    fs.rmSync(path.join(dir, `${record.id}.d`), { recursive: true, force: true });
    if (record.scratch && /\/scratch\/[a-z0-9]+$/.test(record.scratch) && path.basename(record.scratch) === record.id) fs.rmSync(record.scratch, { recursive: true, force: true });
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
