// `warden run` implementation: policy (only parsed when --policy is given), audit sink (only
// when --audit is given), network provider (egress only for allowlist), optional kernel
// sensor, then sandbox/runner.ts. Returns the exit code; errors become messages here so the
// fast path (cli/entry.ts) and commander behave the same.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { UnstampedEvent } from '../events/types.js';
import { defaultRunPolicy, type NetworkMode, type RunPolicy } from '../sandbox/policy.js';
import type { RunCliOptions } from './run-args.js';

const say = (m: string) => {
  try {
    fs.writeSync(2, `warden: ${m}\n`);
  } catch {
    /* stderr closed: nothing else to tell */
  }
};

export async function runRun(command: string[], opts: RunCliOptions): Promise<number> {
  if (!command.length) {
    say('run: missing command (usage: warden run [--policy FILE] [--audit FILE] -- CMD ARGS...)');
    return 2;
  }
  let closeAudit: (() => Promise<void>) | undefined;
  try {
    let policy: RunPolicy;
    if (opts.policy) {
      const { loadRunPolicy } = await import('../config/run-policy.js');
      policy = loadRunPolicy(opts.policy);
    } else policy = defaultRunPolicy();
    const profiled = await withAgentProfile(policy, command, opts);
    if (typeof profiled === 'number') return profiled;
    policy = profiled;
    // After the profile: the repository tightens what the operator grants, profile included.
    let policyRef: import('../config/policy-ref.js').PolicyRefRecord | undefined;
    if (opts.policyRef) {
      const { policyFromRef, describeMerge } = await import('../config/policy-ref.js');
      const r = policyFromRef(opts.policyRef, policy);
      policy = r.policy;
      policyRef = r.record;
      for (const l of describeMerge(r.record)) say(l);
    }
    if (opts.network !== undefined) {
      if (!['none', 'full', 'allowlist'].includes(opts.network)) {
        say(`run: --network must be none, full or allowlist (got ${opts.network})`);
        return 2;
      }
      policy.network.mode = opts.network as NetworkMode;
    }
    if (opts.learn) {
      // Learning: every destination allowed and recorded, whatever the mode was.
      if (opts.network !== undefined && opts.network !== 'allowlist') {
        say('run: --learn records what the network proxy sees: it needs network mode allowlist');
        return 2;
      }
      policy.network.mode = 'allowlist';
    }
    if (opts.printPolicy) {
      const { policyToYaml } = await import('../sandbox/policy-yaml.js');
      process.stdout.write(policyToYaml(policy));
      return 0;
    }

    let emit: ((e: UnstampedEvent) => void) | undefined;
    if (opts.audit) {
      const audit = await openAudit(opts.audit, policy, { cwd: process.cwd(), home: process.env.HOME, fdStat: (fd) => fs.fstatSync(fd), say });
      if (typeof audit === 'number') return audit;
      emit = audit.emit;
      closeAudit = audit.close;
    } else if (opts.monitor) {
      // Without --audit the sensor's findings went nowhere: --monitor attached it for nothing.
      emit = (e) => {
        if (e.severity !== 'info') say(`${e.severity.toUpperCase()} ${e.rule ?? e.kind}: ${(e.message ?? '').replace(/[\r\n\x1b]/g, ' ')}`);
      };
    }

    // A running `warden watch` gets the sandbox's egress decisions too (sinks/ingest.ts).
    if (policy.network.mode === 'allowlist') ({ emit, close: closeAudit } = (await import('../sinks/ingest-client.js')).withMonitorFeed(emit, closeAudit));

    const { networkProvider, NetworkUnavailable } = await import('../sandbox/network.js');
    let network;
    try {
      network = await networkProvider(policy.network.mode);
    } catch (err) {
      if (err instanceof NetworkUnavailable) {
        say(err.message);
        return 2;
      }
      throw err;
    }
    let monitor;
    if (opts.monitor) {
      const { createSandboxMonitor } = await import('./sandbox-monitor.js');
      monitor = createSandboxMonitor();
    }
    const { runSandbox, mark } = await import('../sandbox/runner.js');
    mark('modules loaded');
    // koffi and the mount API: loaded only for a run whose sandbox uid is shown directories it does not own.
    const views = async () => (await import('../sandbox/view-mounts.js')).viewMounter;
    const learnFile = opts.learn ? path.resolve(typeof opts.learn === 'string' ? opts.learn : 'warden-policy.learned.yaml') : undefined;
    const learned = learnFile ? await import('../sandbox/learn.js') : undefined;
    const learner = learned?.createLearner();
    if (policyRef?.worktree_changes.length) emit?.(policyWorktreeEvent(policyRef));
    let created = false;
    const code = await runSandbox({
      policy,
      argv: command,
      emit,
      network,
      monitor,
      views,
      quiet: opts.quiet,
      learn: learner,
      startData: policyRef ? { policy_ref: policyRef } : undefined,
      sandboxCreated: () => (created = true),
    });
    if (created) startSupervisor();
    if (learner && learnFile) {
      const { policyToYaml } = await import('../sandbox/policy-yaml.js');
      const wrote = learned!.writeLearned(learnFile, learner.policy(policy), policyToYaml, learner.notes());
      const sh = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
      say(wrote ? `learned policy written to ${learnFile}; try it: warden run --policy ${sh(path.relative(process.cwd(), learnFile) || learnFile)} -- ${command.map(sh).join(' ')}` : `could not write ${learnFile} (a symlink, or not writable)`);
    }
    return code;
  } catch (err) {
    return report(err);
  } finally {
    await closeAudit?.();
  }
}

/** The checked-out policy directory differs from the trusted ref's: reported, never used. */
function policyWorktreeEvent(r: import('../config/policy-ref.js').PolicyRefRecord): UnstampedEvent {
  return {
    ts: new Date().toISOString(),
    kind: 'sandbox.policy',
    severity: 'warn',
    rule: 'sandbox.policy_worktree_change',
    category: 'defense_evasion',
    mitre: ['T1562.001'],
    message: `the checked-out ${r.worktree_changes.map((w) => `${w.path} (${w.change})`).join(', ')} differs from ${r.ref}:${r.path}; the run used ${r.ref}'s policy`,
    data: { ref: r.ref, commit: r.commit, path: r.path, worktree_changes: r.worktree_changes },
  } as UnstampedEvent;
}

/**
 * The native launcher found no supervisor and ran this Node path instead: start one for the
 * next runs, detached (its own session, no descriptors of ours: nothing waits for it).
 */
function startSupervisor(): void {
  const socket = process.env.WARDEN_SUPERVISOR_SOCKET;
  const entry = process.argv[1];
  if (!socket || !entry) return;
  // Only what locates Warden's own directories and settings: each run's environment is the
  // caller's (the supervisor plans with it), and this one's would stay for the supervisor's whole
  // life (its tokens, and a huge environment slowing every later run's swap of it).
  const keep = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR', 'XDG_RUNTIME_DIR', 'XDG_STATE_HOME', 'XDG_CONFIG_HOME'];
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => keep.includes(k) || (k.startsWith('WARDEN_') && k !== 'WARDEN_SUPERVISOR_SOCKET' && k !== 'WARDEN_NODE_EXTRA_CA_CERTS')));
  try {
    spawn(process.execPath, [entry, 'supervisor', '--socket', socket], { detached: true, stdio: 'ignore', cwd: '/', env }).unref();
  } catch {
    /* the next run tries again */
  }
}

/** Where and how a run's audit log is opened: the caller's directory and descriptors (the supervisor serves other processes). */
export interface AuditContext {
  cwd: string;
  /** The caller's HOME (`~/` in allow_write). */
  home: string | undefined;
  /** stat of the command's descriptor `fd` (stdin, stdout, stderr, pass_fds). */
  fdStat: (fd: number) => fs.Stats;
  say: (m: string) => void;
}

/**
 * Opens --audit FILE for a run, after refusing one the command could write to or an earlier
 * sandbox could have prepared; makes it read-only inside. A number is the exit code (nothing run).
 */
export async function openAudit(file: string, policy: RunPolicy, c: AuditContext): Promise<{ emit: (e: UnstampedEvent) => void; close: () => Promise<void> } | number> {
  const shared = auditSharedWithCommand(file, policy.process.passFds, c.fdStat, c.cwd);
  if (shared) {
    c.say(`--audit ${file}: that is the command's ${shared} too, so the command could write forged audit lines into it; give a file of its own (--audit FILE). Nothing was run`);
    return 2;
  }
  const planted = auditPathProblem(file, policy, c.cwd, c.home);
  if (planted) {
    c.say(`--audit ${file}: ${planted}; Warden would write where an earlier sandbox chose. Give the real path of a regular file. Nothing was run`);
    return 2;
  }
  const [{ Dispatcher }, { NdjsonFileSink }] = await Promise.all([import('../events/dispatcher.js'), import('../sinks/ndjson-file.js')]);
  const d = new Dispatcher();
  // An audit log that cannot be opened refuses the run: it ran unaudited, exit 0.
  let openError: NodeJS.ErrnoException | undefined;
  let opened = false;
  const sink = new NdjsonFileSink(file === '-' ? file : path.resolve(c.cwd, file), {
    noFollow: true,
    onError: (err, what) => {
      if (what === 'open' && !opened) openError ??= err;
      else c.say(`audit ${file}: ${err.message}`);
    },
  });
  if (openError) {
    await sink.close().catch(() => undefined);
    c.say(`--audit ${file}: cannot open it (${openError.code ?? openError.message}); nothing was run`);
    return 1;
  }
  opened = true;
  d.addSink(sink);
  // An audit log in the workspace (`--audit run.ndjson`) was writable by the command it
  // audits: it could erase or forge its own record. The sink created it: bind it read-only.
  if (file !== '-') policy.filesystem.readOnly.push(path.resolve(c.cwd, file));
  return { emit: (e) => void d.emit(e), close: () => d.close() };
}

/**
 * The agent profile to lay under the policy: named with --agent, or found from the command
 * (`auto`, the default); `none` for no profile. A number is an exit code.
 */
async function withAgentProfile(policy: RunPolicy, command: string[], opts: RunCliOptions): Promise<RunPolicy | number> {
  const want = opts.agent ?? 'auto';
  if (want === 'none') return policy;
  const { AGENTS, agentForCommand } = await import('../agents/catalog.js');
  const agent = want === 'auto' ? agentForCommand(command) : AGENTS.find((a) => a.name === want || a.binaries.includes(want));
  if (!agent) {
    if (want === 'auto') return policy;
    say(`run: --agent ${want}: unknown agent (known: ${AGENTS.map((a) => a.name).join(', ')}, auto, none)`);
    return 2;
  }
  const { applyAgentProfile } = await import('../sandbox/profile.js');
  const p = applyAgentProfile(policy, agent);
  if (!opts.quiet && !opts.printPolicy)
    say(`${agent.title} profile: ${agent.stateDirs[0]} and home as private layers (its sessions kept), network ${p.network.mode === 'allowlist' ? `to ${agent.hosts.slice(0, 3).join(', ')}${agent.hosts.length > 3 ? '…' : ''}` : p.network.mode} (--print-policy shows all; --agent none: no profile)`);
  return p;
}

/**
 * Which of the command's own descriptors the audit destination is (stdout, stderr, a passed
 * descriptor), if any: the command could then print lines that read as Warden's. Compares
 * what the names lead to (a pipe, a file, a terminal), not the names.
 */
export function auditSharedWithCommand(audit: string, passFds: number[], fdStat: (fd: number) => fs.Stats = (fd) => fs.fstatSync(fd), cwd = process.cwd()): string | undefined {
  let target: fs.Stats;
  try {
    target = audit === '-' ? fdStat(1) : fs.statSync(path.resolve(cwd, audit));
  } catch {
    return undefined; // a new file: nobody else has it
  }
  const major = (rdev: number) => (rdev >> 8) & 0xfff;
  const isTty = (st: fs.Stats) => st.isCharacterDevice() && [4, 5, 136, 137, 138, 139, 140, 141, 142, 143].includes(major(st.rdev));
  if (target.isCharacterDevice() && !isTty(target)) return undefined; // /dev/null and friends
  const names: Record<number, string> = { 0: 'stdin', 1: 'stdout', 2: 'stderr' };
  for (const fd of [0, 1, 2, ...passFds]) {
    let st: fs.Stats;
    try {
      st = fdStat(fd);
    } catch {
      continue;
    }
    const same = st.dev === target.dev && st.ino === target.ino;
    // /dev/tty is the controlling terminal, whichever pts the command writes to.
    const tty = isTty(target) && isTty(st) && (target.rdev === st.rdev || target.rdev === 0x500);
    if (same || tty) return names[fd] ?? `descriptor ${fd}`;
  }
  return undefined;
}

/**
 * An audit path a sandbox could have prepared: a symlink (the file itself, or a directory on
 * the way inside a directory sandboxes may write: the workspace, allow_write paths), or
 * something other than a regular file. /dev/null is fine.
 */
export function auditPathProblem(audit: string, policy: RunPolicy, cwd = process.cwd(), home = process.env.HOME): string | undefined {
  if (audit === '-' || audit === '/dev/null') return undefined;
  const abs = path.resolve(cwd, audit);
  const st = lstatOr(abs);
  if (st?.isSymbolicLink()) return `${abs} is a symlink`;
  if (st && !st.isFile() && !st.isDirectory()) return `${abs} is not a regular file`; // a directory fails to open (exit 1)
  const roots = [path.resolve(cwd, policy.filesystem.workspace ?? '.'), ...policy.filesystem.allowWrite.map((p) => (p === '~' || p.startsWith('~/') ? path.join(home ?? '/nonexistent', p.slice(1)) : path.resolve(cwd, p)))];
  for (const root of roots) {
    if (!abs.startsWith(root.endsWith('/') ? root : root + '/')) continue;
    let cur = root;
    for (const part of path.relative(root, path.dirname(abs)).split('/').filter(Boolean)) {
      cur = path.join(cur, part);
      if (lstatOr(cur)?.isSymbolicLink()) return `${cur} on the way is a symlink inside a directory the sandbox can write`;
    }
  }
  return undefined;
}

function lstatOr(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

function report(err: unknown): number {
  const e = err as Error & { exitCode?: number; name?: string };
  if (e?.name === 'ConfigError') {
    say(`config error: ${e.message}`);
    return 2;
  }
  if (typeof e?.exitCode === 'number') {
    say(e.message);
    return e.exitCode;
  }
  // Stack traces only on request: these are host problems (missing tool, permissions), not bugs.
  say(e instanceof Error ? (process.env.WARDEN_DEBUG ? (e.stack ?? e.message) : `error: ${e.message}`) : String(err));
  return 1;
}
