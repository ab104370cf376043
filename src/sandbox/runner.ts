// `warden run` end to end, driven from this Node process: plan the sandbox (run-plan.ts),
// record it for crash recovery, create what it needs on the host (run-host.ts), start bwrap,
// supervise it (signals, timeout), then tear everything down and return the command's exit
// status (run-launch.ts: 128+N when it died of signal N, like a shell; 124 on timeout, like
// timeout(1); 127 when the command does not exist). The native launcher's path, served by
// the resident supervisor, drives the same phases (fast-run.ts).
//
// Speed matters: `warden run -- true` must stay within tens of ms of `true`. So this module
// only loads node builtins and small sandbox modules; yaml/zod (policy files), the egress
// module, koffi (views) and the kernel sensor are loaded by the caller only when asked for.
import path from 'node:path';
import fs from 'node:fs';
import type { UnstampedEvent } from '../events/types.js';
import { openPins } from './bwrap.js';
import { DenialLog } from './denials.js';
import { launch, LaunchError, renderCommand } from './launch.js';
import type { EmitSandbox } from './reports.js';
import { cleanupStale, createResources, detectLayout, mark, printable, recordRun, timing } from './run-host.js';
import { abortRun, finishRun, planLaunch, startEvent, type LaunchPlan, type LaunchResult, type LaunchStatus } from './run-launch.js';
import { compileRun, precheckRun, SandboxSetupError } from './run-plan.js';
import type { Resources, RunOptions, Setup } from './run-types.js';
import { ensureStateDir, stateDir } from './state.js';
import { supervise } from './supervise.js';
import { which } from './host.js';

export { processGroupOf } from './supervise.js';
export { SandboxSetupError } from './run-plan.js';
export { mark, quote, printable, cleanupStale, cgroupViewOps } from './run-host.js';
export type { RunOptions } from './run-types.js';
export type { SandboxRecord } from './state.js';
export { which };

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

export async function runSandbox(opts: RunOptions): Promise<number> {
  const t0 = performance.now();
  mark('runSandbox');
  const run = beginRun(opts, !!process.stderr.isTTY && !!process.stdin.isTTY);
  const setup = planRun(run.o, run.id, run.log);
  if (typeof setup === 'number') return setup;
  return runPlanned(run, setup, (s) => localDriver(run.o, s, run.log), t0, () => planRun(run.o, run.id, () => {}));
}

/** One run's messages, denial log and events, before its plan exists. */
export interface RunContext {
  o: RunOptions;
  id: string;
  log: (m: string) => void;
  denials: DenialLog;
  ev: EmitSandbox;
}

export function beginRun(opts: RunOptions, tty: boolean): RunContext {
  const sink = opts.log ?? stderrLog;
  // Paths in messages come from the sandbox: its control characters must not drive the terminal.
  const log = (m: string) => sink(printable(m));
  // Every event passes the denial log (hints on stderr, the run's own record) on its way to --audit.
  const denials = new DenialLog(log, !!opts.quiet, tty);
  const o: RunOptions = {
    ...opts,
    emit: (e) => {
      denials.observe(e);
      opts.learn?.observe(e);
      opts.emit?.(e);
    },
  };
  const id = opts.id ?? newSandboxId();
  const sandbox = { id };
  const ev: EmitSandbox = (e) => o.emit?.({ ts: new Date().toISOString(), sandbox, ...e } as UnstampedEvent);
  return { o, id, log, denials, ev };
}

/** How bwrap is started and watched: by this process (localDriver), or by the native launcher (supervisor.ts). */
export interface Driver {
  /** Starts bwrap with this launch; calls `started` once it runs; resolves when it is gone. */
  start(l: LaunchPlan, res: Resources, started: (launcherPid: number | undefined) => void): Promise<Ended>;
}
export interface Ended {
  result: LaunchResult;
  status: LaunchStatus;
  timedOut: boolean;
  durationMs: number;
}

/**
 * Phases 2 to 6 of a planned run: record, host resources, launch through the driver, outcome,
 * teardown. `replan` plans again, quietly, from the state a crash cleanup left.
 */
export async function runPlanned(run: RunContext, planned: Setup, driverFor: (s: Setup) => Driver, t0: number, replan: () => Setup | number): Promise<number> {
  const { o, log, denials, ev } = run;
  let setup = planned;
  const layout = detectLayout(o.cgroupOf);
  mark('command lookup + cgroup detect');
  const emptyFile = ensureStateDir(setup.sdir, setup.shared);
  // A killed sandbox's leftovers (a protected file it created, a view) change what the plan sees:
  // planned again, quietly (its messages were printed once), from the cleaned-up state.
  if ((await cleanupStale(setup.sdir, log, o.views, path.dirname(setup.mountDir))) > 0) {
    const again = replan();
    if (typeof again === 'number') return again;
    setup = again;
  }
  mark('stale cleanup');
  const driver = driverFor(setup);
  const res: Resources = { layout, monitorAttached: false, openedFds: [], record: recordRun(setup, layout, o.policy.network.mode, true, o.holderPid) };
  try {
    await createResources(o, setup, res, ev);
    const l = planLaunch(o, setup, res, emptyFile, denials);
    mark('args');
    const end = await driver.start(l, res, (pid) => {
      mark('spawned');
      startEvent(o, setup, res, l, ev, pid, performance.now() - t0);
      denials.started();
    });
    denials.finished();
    mark('exited');
    if (end.status.childPid !== undefined) o.sandboxCreated?.();
    return await finishRun(o, setup, res, ev, log, denials, end);
  } catch (err) {
    await abortRun(o, setup, res, ev, log, denials);
    if (err instanceof LaunchError) throw new SandboxSetupError(err.message);
    throw err;
  }
}

/** Node starts bwrap itself (launch.ts) and watches it (supervise.ts). */
function localDriver(o: RunOptions, setup: Setup, log: (m: string) => void): Driver {
  return {
    async start(l, res, started) {
      const pins = openPins(l.pins);
      res.openedFds.push(...pins);
      const s = launch({ bwrap: setup.bwrap, args: l.args, cgroupProcs: l.cgroupProcs, netPrefix: l.netPrefix, drop: l.drop, env: l.env, seccomp: l.seccomp.program, passFds: l.passFds, base: l.base, extraFds: [...pins, ...l.providerFds] });
      if (timing()) fs.writeSync(2, renderCommand(s.chain, setup.bwrap, l.args) + '\n');
      const at = performance.now();
      o.monitor?.launched?.(s.child.pid!);
      started(s.child.pid);
      const sup = supervise(s.child, s.status, s.exit, {
        timeoutMs: o.policy.resources.timeoutMs,
        graceMs: o.policy.resources.graceMs,
        killAll: () => res.cg?.killAll(),
        log,
      });
      const result = await sup.result;
      if (result.error) throw new SandboxSetupError(`cannot start ${s.chain[0]}: ${result.error.message}`);
      return { result, status: s.status, timedOut: sup.timedOut(), durationMs: performance.now() - at };
    },
  };
}

/** The plan of this run (closing what this process inherited first), or an exit code. */
function planRun(o: RunOptions, id: string, log: (m: string) => void): Setup | number {
  const policy = o.policy;
  // First, before Warden opens anything: descriptors inherited without O_CLOEXEC would
  // otherwise reach the sandbox (bwrap passes everything through).
  const closedFds = closeInheritedFds(policy.process.passFds);
  // A descriptor to pass that is not open made spawn fail with a bare "EBADF" (exit 1).
  for (const fd of policy.process.passFds) {
    try {
      fs.fstatSync(fd);
    } catch {
      throw new SandboxSetupError(passFdMessage(policy.source, fd), 2);
    }
  }
  precheckRun();
  const c = compileRun({ policy, argv: o.argv, cwd: o.cwd ?? process.cwd(), stateDir: o.stateDir ?? stateDir(), ids: { scratch: id, views: id }, learn: !!o.learn, log });
  mark('fs plan');
  return typeof c === 'number' ? c : { ...c, id, closedFds };
}

export function passFdMessage(source: string | undefined, fd: number): string {
  return `${source ? `${source}: ` : ''}process.pass_fds: descriptor ${fd} is not open in Warden (open it for warden run, e.g. ${fd}<FILE)`;
}

function stderrLog(m: string): void {
  try {
    fs.writeSync(2, `warden: ${m}\n`);
  } catch {
    /* stderr closed */
  }
}
