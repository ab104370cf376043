// Phase 1 of `warden run`: the plan. Everything that can be decided before anything is created
// on the host: who the sandbox runs as, its filesystem view, the command it runs. It only reads
// the host (the one write: an agent's primary state directory is made when missing), so the
// resident supervisor can compile it once and reuse it while what it was made from still holds
// (plan-cache.ts records that as it runs). Reads its environment from process.env and its
// current directory from `cwd` only.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSandboxEnv } from './env.js';
import { isInside, planFilesystem, PlanError, resolveUserPath, type FsPlan } from './fs-plan.js';
import { which } from './host.js';
import { chooseIdentity, IdentityError, isHostRoot, type SandboxIdentity } from './identity.js';
import { planLayers, type LayerPlan } from './layers.js';
import type { RunPolicy } from './policy.js';
import { mountDirFor, stateDir } from './state.js';
import { formatProblem, usernsPrecheck } from './userns.js';
import { writableBy } from './views.js';
import { isFileAt, rememberedWithin, rememberSecrets, secretsDirFor } from './remembered-secrets.js';
import { homeDir, stateDir as stateDirOf } from '../util/xdg.js';

export class SandboxSetupError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** What a run is made from, decided before anything is created on the host (cacheable). */
export interface RunSetup {
  root: boolean;
  /** Warden is the host's root (not root of a user namespace). */
  hostRoot: boolean;
  /** Where the empty cover file and the views live: reachable by the sandbox's uid. */
  shared: string;
  /** The agent's private layers, when an agent profile is used (per run: never cached). */
  layers?: LayerPlan;
  bwrap: string;
  workspace: string;
  chdir: string;
  ident: SandboxIdentity;
  homes: string[];
  plan: FsPlan;
  /** Crash records (the runtime directory's `sandboxes`). */
  sdir: string;
  /** Where this run's idmapped views are attached: per run, or per cached plan. */
  mountDir: string;
  /** The directory of the runs' own records (denials), when the sandbox cannot prepare it. */
  runsDir?: string;
}

export interface CompileOptions {
  policy: RunPolicy;
  argv: string[];
  /** The caller's current directory (the workspace and relative paths start there). */
  cwd: string;
  /** Crash record directory (tests); default: the runtime directory's. */
  stateDir?: string;
  /** Names for what the plan lays out below the shared directory: the run's scratch layers, the views. */
  ids: { scratch: string; views: string };
  /** `--learn`: the home becomes a layer too, so what the command writes there is seen. */
  learn?: boolean;
  log: (m: string) => void;
}

/** Restrictions that make bwrap fail for certain, checked at every run (they can change at any time). */
export function precheckRun(): void {
  const p = usernsPrecheck(process.getuid?.() === 0);
  if (p) throw new SandboxSetupError(formatProblem(p));
}

/** The plan of a run, or an exit code (127: the command cannot be run inside). */
export function compileRun(o: CompileOptions): RunSetup | number {
  const s = compileSetup(o);
  return checkCommand(o.argv[0]!, o.cwd, o.policy, s.ident, s.plan, o.log) ?? s;
}

/** The plan of a run whatever its command (what the supervisor caches). */
export function compileSetup(o: Omit<CompileOptions, 'argv'>): RunSetup {
  const { policy, log } = o;
  const root = process.getuid?.() === 0;
  const bwrap = which('bwrap', process.env.PATH ?? '/usr/bin:/bin');
  if (!bwrap) throw new SandboxSetupError('bwrap (bubblewrap) is not installed; install it: apt-get install bubblewrap');

  let workspace: string;
  try {
    workspace = fs.realpathSync.native(path.resolve(o.cwd, policy.filesystem.workspace ?? '.'));
    if (!fs.statSync(workspace).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new SandboxSetupError(`workspace ${policy.filesystem.workspace ?? o.cwd}: ${(err as Error).message}`, 2);
  }
  const cwd = fs.realpathSync.native(o.cwd);
  const chdir = isInside(cwd, workspace) ? cwd : workspace;

  let ident: SandboxIdentity;
  const hostRoot = isHostRoot();
  try {
    ident = chooseIdentity(policy.process.runAs, workspace, undefined, undefined, hostRoot);
  } catch (err) {
    if (err instanceof IdentityError) throw new SandboxSetupError(`${policy.source ? `${policy.source}: ` : ''}${err.message}`, 2);
    throw err;
  }
  // A uid without a passwd entry (a container's arbitrary user) has no home there: HOME alone.
  const callerHome = homeDir();
  // The sandbox's HOME first: `~/` in the policy means the home the command will see.
  const sandboxHome = userOf(ident)?.home ?? process.env.HOME;
  const homes = [...new Set([sandboxHome, process.env.HOME, callerHome, ident.home].filter((h): h is string => !!h && h !== '/'))];
  if (policy.agent && sandboxHome) prepareAgentHome(policy.agent, sandboxHome, log);
  const gids = ident.drop ? [ident.gid] : (process.getgroups?.() ?? [ident.gid]);
  const sdir = o.stateDir ?? stateDir();

  const shared = sharedDir(sdir, hostRoot);
  const mountDir = mountDirFor(shared, o.ids.views);
  // Learning without an agent profile: the home as a layer too, so what the command writes there is seen.
  const layerProfile = policy.agent ?? (o.learn ? { name: 'command', title: 'the command', stateDirs: [], keep: [], perProject: [], fresh: [], homeFiles: [] } : undefined);
  const layers = layerProfile && sandboxHome ? agentLayers({ ...policy, agent: layerProfile }, sandboxHome, workspace, ident, path.join(shared, 'scratch', o.ids.scratch), log) : undefined;
  const planPolicy = layers ? { ...policy, filesystem: { ...policy.filesystem, allowWrite: [...policy.filesystem.allowWrite, ...layers.writable] } } : policy;
  // Warden's runtime directory (crash records, the supervisor's socket) is hidden inside when it
  // would be visible there (XDG_RUNTIME_DIR outside /run and /tmp, which are private inside).
  const runtime = path.dirname(sdir);
  const hideRuntime = !['/run', '/tmp', '/var/tmp'].some((d) => isInside(runtime, d)) && !isInside(workspace, runtime) && fs.existsSync(runtime);
  const withRuntimeHidden = hideRuntime ? { ...planPolicy, filesystem: { ...planPolicy.filesystem, denyRead: [...planPolicy.filesystem.denyRead, runtime] } } : planPolicy;
  // Where no sandbox can write (attacker round 12: one the sandbox could write was read, hiding the
  // user's own files, or was a FIFO that hung the supervisor); checked again against the plan below.
  const rawWritable = [workspace, ...policy.filesystem.allowWrite.map((p) => resolveUserPath(p, workspace, sandboxHome))];
  const secretsDir = secretsDirFor([path.join(stateDirOf(), 'secrets'), path.join(path.dirname(sdir), 'secrets')], rawWritable);
  let plan: FsPlan;
  try {
    plan = planFilesystem({
      policy: withRuntimeHidden,
      workspace,
      homes,
      layers: layers?.layers,
      identity: { uid: ident.uid, gid: ident.gid, gids, callerRoot: hostRoot, standIn: ident.standIn, mountDir },
      remembered: rememberedWithin(secretsDir, workspace),
    });
  } catch (err) {
    if (err instanceof PlanError) throw new SandboxSetupError(err.message, 2);
    throw err;
  }
  for (const w of plan.warnings) log(w);
  // Warden's own state (crash records, the runtime directory) where a sandbox can write would
  // let it forge a record that the next run acts on.
  const exposed = plan.writable.find((w) => isInside(runtime, w) || isInside(w, runtime));
  if (exposed)
    throw new SandboxSetupError(`Warden's state directory ${runtime} lies in ${exposed}, which the sandbox can write; set XDG_RUNTIME_DIR (or TMPDIR) to a directory outside it`, 2);
  for (const w of plan.writable.slice(1))
    if (!plan.views.some((v) => v.src === w) && !writableBy({ uid: ident.uid, gids }, w))
      log(`allow_write ${w}: the sandbox runs as uid ${ident.uid}${ident.drop && !ident.standIn ? ' (the workspace owner)' : ''}, which cannot write it; change its owner or set process.user`);

  // The run's record is not written where the sandbox could have prepared the way (workspace = $HOME).
  const prepared = (dir: string | undefined) => (dir && plan.writable.some((w) => isInside(dir, w) || isInside(w, dir)) ? undefined : dir);
  const runsDir = prepared(path.join(stateDirOf(), 'runs'));
  rememberSecrets(prepared(secretsDir), workspace, plan.hidden.filter((p) => isInside(p, workspace) && isFileAt(p)));
  return { root, hostRoot, bwrap, workspace, chdir, ident, homes, plan, sdir, shared, layers, mountDir, runsDir };
}

/** Why the command cannot run inside (its exit code, 127), or undefined. Before anything is created on the host. */
export function checkCommand(cmd: string, cwd: string, policy: RunPolicy, ident: SandboxIdentity, plan: FsPlan, log: (m: string) => void): number | undefined {
  // Only PATH of the caller's environment decides where the command is found.
  const PATH = buildSandboxEnv({ policy, host: { PATH: process.env.PATH }, sandboxId: '', user: userOf(ident) }).PATH!;
  const resolved = which(cmd, PATH, cwd);
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
  return undefined;
}

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

/**
 * An agent's primary state directory (~/.claude, ~/.codex, ~/.gemini) is made when missing, as
 * the agent itself would at its first start: its profile makes it writable, and Warden never
 * binds a path that does not exist. Owned by the home's owner, 0700.
 */
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

export function userOf(ident: SandboxIdentity): { home: string; name: string } | undefined {
  return ident.drop && ident.home ? { home: ident.home, name: ident.name ?? String(ident.uid) } : undefined;
}

