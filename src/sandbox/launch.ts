// Starting bwrap: the launcher chain (join cgroups as root, enter the provider's network
// namespace, drop to the sandbox's uid, bwrap), the descriptors bwrap reads (seccomp program,
// its arguments, its JSON status), and reading that status back.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import { which } from './host.js';

const CGROUP_JOIN = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';

export class LaunchError extends Error {
  readonly exitCode = 1;
}

export interface LaunchSpec {
  bwrap: string;
  /** bwrap's arguments, options then `--` and the command. */
  args: string[];
  /** cgroup.procs files the launcher joins (as root) before anything else. */
  cgroupProcs: string[];
  /** Network provider's prefix (e.g. `nsenter --net=HANDLE --`). */
  netPrefix: string[];
  /** Host identity to drop to, when Warden changes identity. */
  drop?: { uid: number; gid: number };
  env: Record<string, string>;
  seccomp: Buffer;
  /** Descriptor slots: pass_fds keep their numbers below `base`; ours start there. */
  passFds: number[];
  base: number;
  /** Descriptors placed right after the three pipes (pinned binds, provider fds). */
  extraFds: number[];
}

export interface Launched {
  child: ChildProcess;
  /** The launcher argv, for messages. */
  chain: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;
  status: StatusReader;
}

export interface StatusReader {
  childPid?: number;
  exitCode?: number;
  done: Promise<void>;
}

/** Slots: status base, seccomp base+1, arguments base+2, extra fds from base+3. */
export function launch(s: LaunchSpec): Launched {
  const statusSlot = s.base;
  const seccompSlot = s.base + 1;
  const argsSlot = s.base + 2;
  const chain: string[] = [];
  if (s.cgroupProcs.length) chain.push('/bin/sh', '-c', CGROUP_JOIN, 'warden-launch', ...s.cgroupProcs, '--');
  chain.push(...s.netPrefix);
  let spawnIds: { uid?: number; gid?: number } = {};
  if (s.drop) {
    if (chain.length) {
      const setpriv = which('setpriv', process.env.PATH ?? '/usr/bin:/bin');
      if (!setpriv) throw new LaunchError('setpriv (util-linux) is needed to run the sandbox as another user; install util-linux');
      chain.push(setpriv, `--reuid=${s.drop.uid}`, `--regid=${s.drop.gid}`, '--clear-groups', '--');
    } else spawnIds = { uid: s.drop.uid, gid: s.drop.gid };
  }
  // The arguments go through a pipe: inside, bwrap's command line (pid 1, visible to the
  // sandbox) is just `bwrap --args N`, not the list of hidden paths; and no ARG_MAX limit.
  // (The command itself must stay on the command line: bwrap takes only options from --args.)
  const dashes = s.args.indexOf('--');
  const options = s.args.slice(0, dashes);
  chain.push(s.bwrap, '--args', String(argsSlot), ...s.args.slice(dashes));

  const stdio: StdioOptions = ['inherit', 'inherit', 'inherit'];
  for (let i = 3; i < s.base; i++) stdio.push(s.passFds.includes(i) ? i : 'ignore');
  stdio.push('pipe', 'pipe', 'pipe', ...s.extraFds);

  const child = spawn(chain[0]!, chain.slice(1), { stdio, env: s.env, detached: true, ...spawnIds });
  const exit = waitExit(child);
  // bwrap may die before reading it (setup failure): EPIPE is then expected, not fatal.
  const seccompPipe = child.stdio[seccompSlot] as NodeJS.WritableStream;
  seccompPipe.on('error', () => {});
  seccompPipe.end(s.seccomp);
  const argsPipe = child.stdio[argsSlot] as NodeJS.WritableStream;
  argsPipe.on('error', () => {});
  argsPipe.end(Buffer.from(options.map((a) => `${a}\0`).join('')));
  return { child, chain, exit, status: readStatus(child, statusSlot) };
}

/** A shell-quoted rendering of the full command (WARDEN_TIMING). */
export function renderCommand(chain: string[], bwrap: string, args: string[]): string {
  return [...chain.slice(0, chain.indexOf(bwrap) + 1), ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function waitExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }> {
  return new Promise((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
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

/** The first child of bwrap's init inside the sandbox: the command. */
export function commandPidOf(init: number | undefined): number | undefined {
  if (!init) return undefined;
  try {
    const kids = fs.readFileSync(`/proc/${init}/task/${init}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return kids.length ? Number(kids[0]) : undefined;
  } catch {
    return undefined; // init gone
  }
}
