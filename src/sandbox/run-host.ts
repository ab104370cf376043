// Phases 2, 3 and 6 of `warden run`: what a run creates on the host and how it goes away. The
// crash record is written before anything is created; then cgroups, idmapped views, the agent's
// layers, the network and the monitor; after the command exited, teardown removes them and
// checks what the sandbox may have planted (protected paths, new repositories, widened modes,
// the agent's layers). Shared by both drivers (runner.ts, fast-run.ts).
import fs from 'node:fs';
import path from 'node:path';
import type { UnstampedEvent } from '../events/types.js';
import { CgroupError, createSandboxCgroups, destroyDirs, detectCgroups, type CgroupLayout } from './cgroups.js';
import type { DenialLog } from './denials.js';
import { homeRunPatterns, isInside, runsCodeOrHoldsSecrets, SKIP_DIRS, type MountOp, type ProtectedEntry } from './fs-plan.js';
import { finishLayers, prepareLayers, type LayerOutcome } from './layers.js';
import type { Learner } from './learn.js';
import { checkModes, checkProtected, newGitEntries, newHomeEntries, newNestedProtected, type ProtectViolation } from './protect.js';
import type { EmitSandbox } from './reports.js';
import { SandboxSetupError } from './run-plan.js';
import type { Resources, RunOptions, Setup } from './run-types.js';
import { claimStale, ownStartTime, procStartTime, RecordFile } from './state.js';
import { sweepOrphanViews } from './shared-views.js';
import { diagnoseUsernsFailure, formatProblem, probeUserns, UNKNOWN_USERNS } from './userns.js';
import type { ViewMounter } from './view-mounts.js';

/** WARDEN_TIMING=1 prints where start-up time goes (ms since process start). */
const marks: Array<[string, number]> | undefined = process.env.WARDEN_TIMING ? [] : undefined;
export function mark(label: string): void {
  marks?.push([label, performance.now()]);
}
export function printMarks(): void {
  if (marks) fs.writeSync(2, marks.map(([l, t]) => `${t.toFixed(1).padStart(7)} ms  ${l}`).join('\n') + '\n');
}
export const timing = (): boolean => !!marks;

/** A string from the sandbox (a path, a key) for a message: every control character escaped, newlines too. */
export function quote(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Control characters (ESC, CR, BS, C1...) as visible escapes; newlines and tabs kept. */
export function printable(m: string): string {
  return m.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The cgroup layout, below the cgroups of process `pid` (default: this one). */
export function detectLayout(pid?: number): CgroupLayout {
  try {
    return detectCgroups(pid ? { procSelfCgroup: fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8') } : {});
  } catch {
    return { v1: [] }; // no cgroups at all
  }
}

// ------------------------------------------------------------------ phase 2: record

/** Crash recovery: what this run is about to create, written before it creates it. */
export function recordRun(s: Setup, layout: CgroupLayout, networkMode: string, ownViews: boolean, holderPid?: number): RecordFile {
  const holderStart = holderPid ? procStartTime(holderPid) : undefined;
  const cgName = `warden-${s.id}`;
  const parents = [...layout.v1.map((h) => path.join(h.mount, h.own)), ...(layout.v2 ? [path.join(layout.v2.mount, layout.v2.own)] : [])];
  return new RecordFile(s.sdir, {
    version: 1,
    id: s.id,
    pid: process.pid,
    start: ownStartTime(),
    created: new Date().toISOString(),
    workspace: s.workspace,
    cgroups: { dirs: parents.map((p) => path.join(p, cgName)) },
    // The provider named before prepare(): a crash in the middle leaves what its names find.
    network: networkMode === 'allowlist' ? { mode: networkMode, provider: 'egress' } : { mode: networkMode },
    protected: s.plan.protectedEntries,
    // Views shared by the runs of a cached plan belong to the supervisor, not to this record.
    mounts: s.plan.views.length && ownViews ? s.mountDir : undefined,
    scratch: s.layers?.layers[0] ? path.dirname(s.layers.layers[0].scratch) : undefined,
    holder: holderPid && holderStart !== undefined ? { pid: holderPid, start: holderStart } : undefined,
  });
}

// ------------------------------------------------------------------ phase 3: host resources

export async function createResources(o: RunOptions, s: Setup, res: Resources, ev: EmitSandbox, markDone: (l: string) => void = mark): Promise<void> {
  const policy = o.policy;
  try {
    res.cg = createSandboxCgroups(res.layout, {
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
  markDone('record + cgroups');
  if (s.plan.views.length) await attachViews(o, s, res);
  markDone('views');
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
  const env = o.env ?? process.env;
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
    extraCaCerts: env.WARDEN_NODE_EXTRA_CA_CERTS ?? env.NODE_EXTRA_CA_CERTS,
    env,
    emit: emitNet,
  });
  markDone('network');
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
  res.mountDir = s.mountDir;
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
    // Where the sandbox has no cgroup of its own, an empty directory of the tmpfs above (read-only
    // with it at the end): a tmpfs of its own there cost bwrap a mount and a remount, each a
    // re-read of the mount table, ~5 ms per run for the ten v1 hierarchies of a host.
    else if (m !== root) ops.push({ op: 'dir', dest: m });
    else ops.push({ op: 'tmpfs', dest: m });
  }
  ops.push({ op: 'remount-ro', dest: root });
  return ops;
}

// ------------------------------------------------------------------ phase 6: teardown

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

/** Removes what the run created, checks the protected paths; keeps the record for what is left. */
export async function teardown(o: RunOptions, s: Setup, res: Resources, ev: EmitSandbox, log: (m: string) => void, denials: DenialLog): Promise<ProtectViolation[]> {
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
  mark('cgroups removed');
  let violations: ProtectViolation[] = [];
  await step('protected paths', () => {
    violations = checkProtected(protectedAfterRun(s), s.id, true, s.plan.writable);
  });
  mark('protected paths checked');
  await step('modes', () => reportModes(s, ev, log));
  if (res.layersMade) await step("the agent's state", () => reportLayers(finishLayers(res.layersMade!, s.id), res.layersMade!.layers[0]!.dir, ev, log, denials, o.learn));
  res.layersMade = undefined;
  let netLeft = false;
  let release: (() => Promise<void>) | undefined;
  if (res.net)
    await res.net.cleanup(o.releaseLater && ((r) => (release = r))).catch((err: Error) => {
      netLeft = true;
      log(`network cleanup: ${err.message}; the next warden run retries`);
    });
  res.net = undefined;
  if (res.monitorAttached) await o.monitor!.detach().catch((err: Error) => log(`monitor: ${err.message}`));
  res.monitorAttached = false;
  const held = { fds: res.openedFds.splice(0), mountDir: res.mountDir, mounter: res.mounter, runDir: res.runDir };
  res.mountDir = undefined;
  const removeRest = () => removeLeftovers(res.record, held, left, netLeft, release, step, log, o.releaseLater);
  // Nothing of the sandbox runs any more and what it may have planted was checked: what is left
  // (its views, run directory and network) can go after the answer when the caller has a later.
  // Without a run directory or network, what is left is quick (shared views stay with their
  // plan): the record goes now, rather than rewritten now and removed later (on ext4, removing a
  // file just replaced waits for its data to be written out: ~1 ms of the supervisor per run).
  const slow = !!(held.runDir || release || (held.mountDir && held.mounter && !held.mounter.shared));
  if (o.releaseLater && slow) {
    // The record says the checks are done before the answer: a supervisor that dies before the
    // rest is removed must not have the next run check the protected paths again (it would take
    // the user's own edits made since for the sandbox's).
    res.record.update({ protected: [] });
    o.releaseLater(removeRest);
  } else await removeRest();
  return violations;
}

/** The run's views, run directory and descriptors removed; its record with them, or kept for what could not be. */
async function removeLeftovers(
  record: RecordFile,
  held: { fds: number[]; mountDir?: string; mounter?: ViewMounter; runDir?: string },
  left: string[],
  netLeft: boolean,
  release: (() => Promise<void>) | undefined,
  step: (what: string, f: () => unknown) => Promise<void>,
  log: (m: string) => void,
  later: RunOptions['releaseLater'],
): Promise<void> {
  for (const fd of held.fds) {
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
  }
  let mountsLeft: string[] = [];
  await step('views', () => {
    mountsLeft = held.mountDir && held.mounter ? held.mounter.detach(held.mountDir) : [];
  });
  await step('run directory', () => held.runDir && fs.rmSync(held.runDir, { recursive: true, force: true }));
  const othersLeft = left.length > 0 || mountsLeft.length > 0;
  if (othersLeft || netLeft || release) {
    if (left.length) log(`could not remove cgroups ${left.join(', ')}; the next warden run retries`);
    if (mountsLeft.length) log(`could not remove ${mountsLeft.join(', ')}; the next warden run retries`);
    // Keep the record for what is left only: the protected paths were checked before.
    record.update({ cgroups: { dirs: left }, network: netLeft || release ? record.record.network : undefined, protected: [], mounts: mountsLeft.length ? record.record.mounts : undefined });
  } else record.remove();
  if (release) releaseAfter(later!, record, release, othersLeft);
}

/** The network removed after the run's answer; its record goes with it (or stays for the next run to retry). */
function releaseAfter(later: (release: () => Promise<void>) => void, record: RecordFile, release: () => Promise<void>, othersLeft: boolean): void {
  later(async () => {
    try {
      await release();
    } catch {
      return; // the record keeps the network: the next run's cleanup retries
    }
    if (othersLeft) record.update({ network: undefined });
    else record.remove();
  });
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
export async function cleanupStale(dir: string, log: (m: string) => void, views?: () => Promise<ViewMounter>, mountParent?: string): Promise<number> {
  // A supervisor's shared views whose owner is gone, whatever happened to its records.
  if (views && mountParent && fs.existsSync(path.join(mountParent, '.owners'))) {
    const v = await views();
    const n = sweepOrphanViews(mountParent, (d) => v.detach(d));
    if (n) log(`removed the idmapped views of ${n} plan(s) of a supervisor that is gone`);
  }
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
