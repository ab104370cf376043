// The resident per-user supervisor of `warden run`'s fast path. The native launcher
// (native/launcher/launcher.c) connects to its unix socket (in Warden's runtime directory,
// 0600, this user's), sends the run (arguments, current directory, environment) and gets the
// launch back: the same plan, host resources and bwrap arguments runner.ts makes for itself,
// compiled here in a process that is already warm. The launcher starts bwrap and reports its
// end; the supervisor then does what follows a run (teardown, the checks of protected paths,
// the denial summary) and answers the exit status. Started on demand by the launcher; exits
// after an idle period, or when Warden was rebuilt under it.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunPolicy } from './policy.js';
import { checkCommand, compileSetup, precheckRun, SandboxSetupError, type RunSetup } from './run-plan.js';
import { mountsOf, PlanCache } from './plan-cache.js';
import { SharedViews } from './shared-views.js';
import { runtimeDir } from '../util/xdg.js';
import { beginRun, newSandboxId, runPlanned, type Driver, type Ended } from './runner.js';
import type { RunOptions, Setup } from './run-types.js';
import type { LaunchPlan } from './run-launch.js';
import { ensureStateDir, stateDir } from './state.js';
import { SIGNUM } from './supervise.js';
import { mark, printMarks } from './run-host.js';
import { encodeFrame, every, first, FrameReader, type Fields } from './wire.js';
import { peerCred } from '../sinks/peercred.js';
import type { SpareNetworks } from './spare-networks.js';
import type { NetworkProvider } from './network-provider.js';

export const DEFAULT_IDLE_MS = 120_000;
/** A peer that connected and says nothing for this long is dropped (it would keep the supervisor from ever idling out). */
export const REQUEST_TIMEOUT_MS = 10_000;

/** A run the supervisor serves: what the launcher sent. */
export interface FastRequest {
  /** The launcher's protocol version (2: enters the namespaces it is given). */
  version: number;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  tty: boolean;
  groups: number[];
  pid?: number;
}

/** What the caller's side (cli/supervisor.ts) makes of a request: the run, or "use the Node path". */
export type Resolved =
  | { policy: RunPolicy; argv: string[]; quiet: boolean; network: RunOptions['network']; emit?: RunOptions['emit']; close?: () => Promise<void> }
  | 'fallback';

export interface SupervisorOptions {
  socket: string;
  /** Allowlist networks made ahead (none: each run makes its own). */
  spares?: SpareNetworks;
  idleMs?: number;
  /** How long a peer has to send its request (default REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
  /** Decides the policy of a request (and opens its audit log); a number is an exit code. */
  resolve(req: FastRequest, log: (m: string) => void): Promise<Resolved | number>;
  log?: (m: string) => void;
}

/** The launcher's answer to "fallback": it runs the Node CLI instead, which says what is wrong. */
class Fallback extends Error {}

/** Frames from one launcher, in order; rejects once it is gone. */
class Conn {
  private queue: Fields[] = [];
  private waiting?: { resolve: (f: Fields) => void; reject: (e: Error) => void };
  private closed?: Error;

  constructor(readonly sock: net.Socket) {
    const reader = new FrameReader();
    sock.on('data', (d: Buffer) => {
      try {
        for (const f of reader.push(d)) this.deliver(f);
      } catch (err) {
        this.fail(err as Error);
        sock.destroy();
      }
    });
    sock.on('close', () => this.fail(new Error('the launcher went away')));
    sock.on('error', (err) => this.fail(err));
  }

  private deliver(f: Fields): void {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve(f);
    } else this.queue.push(f);
  }

  private fail(err: Error): void {
    this.closed ??= err;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(err);
  }

  next(): Promise<Fields> {
    const f = this.queue.shift();
    if (f) return Promise.resolve(f);
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  /** The next frame, or the connection dropped after `ms` without one. */
  nextWithin(ms: number): Promise<Fields> {
    const t = setTimeout(() => {
      this.fail(new Error(`no request within ${ms} ms`));
      this.sock.destroy();
    }, ms);
    return this.next().finally(() => clearTimeout(t));
  }

  send(fields: Fields): void {
    if (!this.sock.destroyed) this.sock.write(encodeFrame(fields));
  }
}

export function parseRequest(f: Fields): FastRequest {
  const env: Record<string, string> = {};
  for (const e of every(f, 'env')) {
    const eq = e.indexOf('=');
    if (eq > 0) env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  const pid = Number(first(f, 'pid'));
  return {
    version: Number(first(f, 'v')) || 0,
    args: every(f, 'a'),
    cwd: first(f, 'cwd') ?? '/',
    env,
    tty: first(f, 'tty') === '1',
    groups: every(f, 'group').map(Number),
    pid: Number.isInteger(pid) && pid > 0 ? pid : undefined,
  };
}

/**
 * Runs `f` with the caller's environment in place of the supervisor's, synchronously (no other
 * request runs meanwhile): the plan reads HOME, PATH, XDG_* as `warden run` itself would. (Its
 * directory is passed explicitly: compileRun's `cwd`.)
 */
export function asCaller<T>(req: FastRequest, f: () => T): T {
  // The object is replaced, not its variables: each variable set or deleted in the real
  // environment is a setenv/unsetenv call, and a caller under `npm run` has ~70 of them (0.4 ms
  // per run, twice). Everything the plan reads goes through process.env (xdg.ts: not
  // os.homedir(), which reads the environment Node started with), and children inherit it.
  const saved = process.env;
  process.env = { ...req.env };
  try {
    return f();
  } finally {
    process.env = saved;
  }
}

/** The launch as the launcher takes it: bwrap's options and command, descriptors, seccomp, identity, timeout. */
export function launchFields(bwrap: string, l: LaunchPlan, policy: RunPolicy): Fields {
  const dashes = l.args.indexOf('--');
  const f: Fields = [['r', 'launch'], ['bwrap', bwrap]];
  for (const a of l.args.slice(0, dashes)) f.push(['o', a]);
  for (const a of l.args.slice(dashes)) f.push(['c', a]);
  for (const [k, v] of Object.entries(l.env)) f.push(['env', `${k}=${v}`]);
  f.push(['seccomp', l.seccomp.program.toString('hex')]);
  for (const p of l.pins) f.push(['pin', p]);
  for (const c of l.cgroupProcs) f.push(['cg', c]);
  for (const n of l.netJoin) f.push(['ns', `${n.ino} ${n.path}`]);
  if (l.netHolder) f.push(['nsholder', `${l.netHolder.pid} ${l.netHolder.start}`]);
  for (const p of l.passFds) f.push(['pass', String(p)]);
  f.push(['base', String(l.base)]);
  if (l.drop) f.push(['drop', `${l.drop.uid} ${l.drop.gid}`]);
  if (policy.resources.timeoutMs !== undefined) f.push(['timeout', String(policy.resources.timeoutMs)]);
  f.push(['grace', String(policy.resources.graceMs)]);
  return f;
}

/**
 * bwrap started and watched by the launcher at the other end of `conn`. While it runs, messages
 * (a denied connection) go to the launcher as they come (`live`), not at the end.
 */
function remoteDriver(conn: Conn, setup: Setup, policy: RunPolicy, flush: () => Fields, live: (on: boolean) => void, log: (m: string) => void): Driver {
  return {
    async start(l, _res, started): Promise<Ended> {
      // Descriptors of this process (TLS inspection's CA, credential files) cannot be handed over;
      // a namespace is entered by the launcher only when the provider names it as a file.
      if (l.providerFds.length) throw new Fallback('a network provider with descriptors to pass (credentials, request rules)');
      if (l.netPrefix.length && !l.netJoin.length) throw new Fallback('a network provider with a namespace to enter');
      conn.send([...launchFields(setup.bwrap, l, policy), ...flush()]);
      let msg = await conn.next();
      if (first(msg, 'r') === 'abort') throw new Fallback('the launcher gave up');
      if (first(msg, 'r') === 'started') {
        const pid = Number(first(msg, 'pid')) || undefined;
        started(pid);
        live(true);
        if (pid) void checkNamespace(pid, l, setup.bwrap, log);
        msg = await conn.next().finally(() => live(false));
      }
      if (first(msg, 'r') !== 'exit') throw new Error('the launcher sent something unexpected');
      const error = first(msg, 'error');
      if (error) throw new SandboxSetupError(`cannot start bwrap: ${error}`);
      const num = (t: string) => (first(msg, t) !== undefined ? Number(first(msg, t)) : undefined);
      const signal = first(msg, 'signal');
      return {
        result: { code: num('code') ?? null, signal: signal && SIGNUM[signal] ? (signal as NodeJS.Signals) : null },
        status: { childPid: num('childpid'), exitCode: num('exitcode') },
        timedOut: first(msg, 'timedout') === '1',
        durationMs: num('ms') ?? 0,
      };
    },
  };
}

/**
 * bwrap, as the launcher started it, is in the network namespace planned for it; else (a
 * launcher that did not enter it) it is stopped at once. Checked once the launcher's child has
 * become bwrap (it enters the namespace before that exec); one already gone has nothing to check.
 */
async function checkNamespace(pid: number, l: LaunchPlan, bwrap: string, log: (m: string) => void): Promise<void> {
  const net = l.netJoin.at(-1);
  if (!net) return;
  const want = fs.realpathSync(bwrap);
  let ino: number | undefined;
  for (let i = 0; i < 250 && ino === undefined; i++) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/exe`) === want) ino = fs.statSync(`/proc/${pid}/ns/net`).ino;
      else await new Promise((r) => setTimeout(r, 20));
    } catch {
      return; // gone
    }
  }
  if (ino === undefined || ino === net.ino) return;
  for (const target of [-pid, pid])
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      /* gone */
    }
  log('the sandbox was not started in the network namespace prepared for it: it was stopped');
}

const plans = new PlanCache<RunSetup>();
/** The scratch layers' name in a cached plan. */
const PLAN_ID = 'plan-cached';

/** The plan of this caller's run: from the cache while what it was made from holds. */
function cachedSetup(req: FastRequest, policy: RunPolicy, log: (m: string) => void): RunSetup {
  // Variables a shell changes at every command say nothing about the plan.
  const env = Object.fromEntries(Object.entries(req.env).filter(([k]) => !['_', 'OLDPWD', 'SHLVL'].includes(k)));
  const key = PlanCache.key({ policy, cwd: req.cwd, env, uid: process.getuid?.(), groups: req.groups });
  const transient = ['/run/netns', '/run/warden/netns', '/run/warden/mnt', path.join(runtimeDir(), 'mnt')];
  const mounts = mountsOf(req.pid ?? 'self', transient);
  // Each plan made has views of its own (attached at its first run, shared by the next ones).
  const compile = (say: (m: string) => void) => compileSetup({ policy, cwd: req.cwd, ids: { scratch: PLAN_ID, views: newSandboxId() }, log: say });
  const s = plans.get(key, mounts, compile, log);
  if (!s.plan.views.length || !sharedViews || sharedViews.usable(s.mountDir, s.plan.views)) return s;
  plans.drop(key); // a directory shown was replaced since its views were attached
  return plans.get(key, mounts, compile, log);
}

let sharedViews: SharedViews | undefined;
// koffi and the mount API: loaded at the first run that shows the sandbox directories it does not own.
const views = async () => (sharedViews ??= new SharedViews((await import('./view-mounts.js')).viewMounter, stateDir(), (dir) => plans.values().some((s) => s.mountDir === dir)));

/** Resolves once the answer written just before is on its way (work after a run begins with synchronous steps). */
const afterAnswer = () => new Promise<void>((r) => setImmediate(r));

/** Serves one launcher: plan, launch, outcome. `later` takes work to finish after the answer. */
async function serveRun(conn: Conn, o: SupervisorOptions, later: (work: Promise<void>) => void): Promise<void> {
  const t0 = performance.now();
  const req = parseRequest(await conn.nextWithin(o.requestTimeoutMs ?? REQUEST_TIMEOUT_MS));
  mark('request');
  const pending: string[] = [];
  const flush = (): Fields => pending.splice(0).map((m) => ['log', m]);
  let live = false;
  const say = (m: string) => (live ? conn.send([['r', 'log'], ['log', m]]) : pending.push(m));
  // The plan is made from this process's view of the system: a caller in other namespaces, or
  // with other groups, takes the Node path. Which process the caller is comes from the kernel
  // (SO_PEERCRED, in this pid namespace), never from what it says: a launcher in another pid
  // namespace sends its pid there, which here is another process (kthreadd for pid 2), whose
  // namespaces are ours.
  const peer = await peerCred(conn.sock);
  if (!peer || peer.uid !== process.getuid?.()) return conn.send([['r', 'fallback'], ['why', 'the peer credentials of the caller cannot be read or are not this user']]);
  if (!req.pid || peer.pid !== req.pid) return conn.send([['r', 'fallback'], ['why', 'another pid namespace than the supervisor']]);
  if ((['mnt', 'pid', 'user'] as const).some((ns) => nsOf(req.pid!, ns) !== own().ns[ns])) return conn.send([['r', 'fallback'], ['why', 'another namespace than the supervisor']]);
  // What the supervisor does for a run (open --audit, make cgroups and views) it does with its
  // own privileges: a caller with fewer (root without capabilities, under no_new_privs, a
  // seccomp filter or an LSM profile of its own) would have it do what it could not.
  if (privilegesOf(req.pid) !== own().privileges) return conn.send([['r', 'fallback'], ['why', 'other credentials, capabilities or confinement than the supervisor']]);
  const mine = new Set(process.getgroups?.() ?? []);
  if (new Set(req.groups).size !== mine.size || req.groups.some((g) => !mine.has(g))) return conn.send([['r', 'fallback'], ['why', 'other supplementary groups']]);
  let close: (() => Promise<void>) | undefined;
  let spare: string | undefined;
  let network: NetworkProvider | undefined;
  mark('caller checked');
  try {
    const r = await o.resolve(req, say);
    mark('resolved');
    if (r === 'fallback') return conn.send([['r', 'fallback'], ['why', 'options the fast path does not serve']]);
    if (typeof r === 'number') return conn.send([['r', 'exit'], ...flush(), ['code', String(r)]]);
    close = r.close;
    // A launcher of an older build would ignore the namespaces and start bwrap in its own.
    if (r.policy.network.mode === 'allowlist' && req.version < 2) return conn.send([['r', 'fallback'], ['why', 'a launcher too old to enter a network namespace (scripts/build-launcher.sh)']]);
    network = r.policy.network.mode === 'allowlist' ? r.network : undefined;
    spare = network && o.spares?.take(network);
    const releaseLater = (release: () => Promise<void>) => later(afterAnswer().then(release));
    const run = beginRun({ policy: r.policy, argv: r.argv, network: r.network, emit: r.emit, quiet: r.quiet, env: { ...req.env }, cgroupOf: req.pid, views, log: say, id: spare, releaseLater, holderPid: req.pid }, req.tty);
    const plan = (log: (m: string) => void) =>
      asCaller(req, (): Setup | number => {
        precheckRun();
        const c = cachedSetup(req, r.policy, log);
        const exit = checkCommand(r.argv[0]!, req.cwd, r.policy, c.ident, c.plan, log);
        if (exit !== undefined) return exit;
        ensureStateDir(c.sdir, c.shared);
        return { ...c, id: run.id, closedFds: [] };
      });
    const setup = plan(run.log);
    mark('plan');
    if (typeof setup === 'number') return conn.send([['r', 'exit'], ...flush(), ['code', String(setup)]]);
    const code = await runPlanned(run, setup, (s) => remoteDriver(conn, s, r.policy, flush, (on) => (live = on), run.log), t0, () => plan(() => {}));
    await close?.();
    close = undefined;
    mark('answer');
    printMarks();
    conn.send([['r', 'done'], ...flush(), ['code', String(code)]]);
  } catch (err) {
    if (err instanceof Fallback) return conn.send([['r', 'fallback'], ['why', err.message], ...flush()]);
    const e = err as Error & { exitCode?: number };
    const message = e.name === 'ConfigError' ? `config error: ${e.message}` : typeof e.exitCode === 'number' ? e.message : `error: ${e.message}`;
    conn.send([['r', 'exit'], ...flush(), ['log', message], ['code', String(e.name === 'ConfigError' ? 2 : (e.exitCode ?? 1))]]);
  } finally {
    await close?.().catch(() => undefined);
    if (spare) later(o.spares!.ended(spare));
    // Views of plans no longer cached, which no run holds, go after the grace (a run in a user's
    // directory never attaches views, so this is the only moment they would be looked at).
    if (sharedViews) later(afterAnswer().then(() => void sharedViews!.release()));
    if (network && o.spares) later(afterAnswer().then(() => o.spares!.refill(network!)));
  }
}

const PRIVILEGE_LINES = ['Uid', 'Gid', 'Groups', 'CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp', 'Seccomp_filters'];

/** A process's identity, capabilities and confinement (/proc/PID/status and its LSM label), or undefined. */
export function privilegesOf(pid: number | 'self'): string | undefined {
  try {
    const lines = fs
      .readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .filter((l) => PRIVILEGE_LINES.includes(l.slice(0, l.indexOf(':'))));
    let label = '';
    try {
      label = fs.readFileSync(`/proc/${pid}/attr/current`, 'utf8');
    } catch {
      /* no LSM */
    }
    return [...lines, label].join('\n');
  } catch {
    return undefined;
  }
}

function nsOf(pid: number | 'self', ns: string): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${ns}`);
  } catch {
    return undefined;
  }
}

/** The supervisor's own namespaces and privileges: read once (it never changes them). */
let self: { ns: Record<'mnt' | 'pid' | 'user', string | undefined>; privileges: string | undefined } | undefined;
function own(): NonNullable<typeof self> {
  self ??= { ns: { mnt: nsOf('self', 'mnt'), pid: nsOf('self', 'pid'), user: nsOf('self', 'user') }, privileges: privilegesOf('self') };
  return self;
}

/** Listens until idle; resolves when it stopped. */
export async function serveSupervisor(o: SupervisorOptions): Promise<void> {
  const log = o.log ?? (() => {});
  const idleMs = o.idleMs ?? DEFAULT_IDLE_MS;
  ensureStateDir(stateDir());
  if (await alive(o.socket)) return; // another one serves this socket
  // Rebuilt under it: the next launcher starts a supervisor of the new build.
  const self = fileURLToPath(import.meta.url);
  const built = fs.statSync(self).mtimeMs;
  const stale = () => fs.statSync(self, { throwIfNoEntry: false })?.mtimeMs !== built;
  let active = 0;
  let idle: NodeJS.Timeout | undefined;
  const server = net.createServer((sock) => {
    if (stale()) {
      sock.end(encodeFrame([['r', 'fallback'], ['why', 'Warden was rebuilt: this supervisor stops']]), () => sock.destroy());
      return stop();
    }
    active++;
    clearTimeout(idle);
    const conn = new Conn(sock);
    serveRun(conn, o, later)
      .catch((err: Error) => log(`run: ${err.message}`))
      .finally(() => {
        // Closed once the answer is written, not when the peer hangs up: the server's close (and
        // so the supervisor's end) waits for every connection, and a peer that never hangs up
        // (stopped, or not a launcher) kept a stopped supervisor and its spare networks alive.
        sock.end(() => sock.destroy());
        active--;
        arm();
      });
  });
  const arm = () => {
    clearTimeout(idle);
    if (active === 0 && !stopping) idle = setTimeout(stop, idleMs);
  };
  // What runs finish after their answer (a network's removal): waited for before the supervisor ends.
  const background = new Set<Promise<void>>();
  const later = (work: Promise<void>) => {
    const p = work.catch((err: Error) => log(`after a run: ${err.message}`)).finally(() => background.delete(p));
    background.add(p);
  };
  let stopping = false;
  function stop(): void {
    if (stopping) return;
    stopping = true;
    clearTimeout(idle);
    // Only our own socket file: a newer supervisor may have replaced it.
    try {
      if (fs.statSync(o.socket).ino === ino) fs.rmSync(o.socket, { force: true });
    } catch {
      /* gone */
    }
    server.close();
  }
  const ino = await claimSocket(server, o.socket);
  if (ino === undefined) return; // another one started at the same time and serves it
  arm();
  // Its socket removed or replaced (the runtime directory cleaned up): nobody can reach it any more.
  const watch = setInterval(() => {
    if (fs.statSync(o.socket, { throwIfNoEntry: false })?.ino !== ino) stop();
  }, 5000);
  watch.unref();
  server.once('close', () => clearInterval(watch));
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(s, stop);
  await new Promise<void>((resolve) => server.once('close', () => resolve()));
  await o.spares?.stop();
  // Work finished later may hand on work of its own (a network released after the views).
  while (background.size) await Promise.all(background);
  const left = sharedViews?.release(true) ?? [];
  if (left.length) log(`could not remove ${left.join(', ')}; the next warden run retries`);
}

/**
 * Listens on `socket` unless another supervisor does: bound under a name of its own first, then
 * linked to the socket's name, which fails while another holds it. Launchers started at the same
 * time each start a supervisor; each used to remove the other's socket and take its place (a
 * burst of parallel first runs left as many supervisors, each making a spare network). Returns
 * the socket's inode, or undefined (closed: another one serves it).
 */
async function claimSocket(server: net.Server, socket: string): Promise<number | undefined> {
  // In the same directory (a link cannot cross filesystems), no longer than the socket's name.
  const own = path.join(path.dirname(socket), `.${process.pid.toString(36)}.sock`);
  fs.rmSync(own, { force: true });
  const old = process.umask(0o177);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(own, () => resolve());
  }).finally(() => process.umask(old));
  fs.chmodSync(own, 0o600);
  try {
    try {
      fs.linkSync(own, socket);
      return fs.statSync(own).ino;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await alive(socket)) {
      server.close();
      return undefined;
    }
    // A dead supervisor's socket: replaced in one step (a link would fail again on it).
    fs.renameSync(own, socket);
    return fs.statSync(socket).ino;
  } finally {
    fs.rmSync(own, { force: true });
  }
}

function alive(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socket);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}
