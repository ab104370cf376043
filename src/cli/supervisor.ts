// `warden supervisor --socket PATH`: the resident process behind `warden run`'s fast path
// (sandbox/supervisor.ts), started by the native launcher when none answers. This side decides
// which runs it serves: the policy as `warden run` makes it (run.ts), for the options the fast
// path covers; everything else (--audit, --monitor, --learn, --print-policy, agent profiles,
// network allowlist) is sent back to the Node path.
import fs from 'node:fs';
import path from 'node:path';
import { agentForCommand } from '../agents/catalog.js';
import { loadRunPolicy } from '../config/run-policy.js';
import { networkProvider } from '../sandbox/network.js';
import { defaultRunPolicy, type NetworkMode } from '../sandbox/policy.js';
import { asCaller, serveSupervisor, type FastRequest, type Resolved } from '../sandbox/supervisor.js';
import { openAudit } from './run.js';
import type { NetworkProvider } from '../sandbox/network-provider.js';
import { parseRunArgs } from './run-args.js';

/**
 * A file this process can open for the caller (a policy, an audit log): not one of the caller's
 * own descriptors or terminal (`-`, /dev/stdout, /dev/fd/63 of `<(…)`, /proc/self/fd/N, /dev/tty
 * would be the supervisor's here). Those go to the Node path, which opens them as the caller's.
 */
export function servableFile(file: string, cwd: string): boolean {
  if (file === '-') return false;
  // Symlinks followed one at a time, looking at each target before the kernel would follow it
  // (here /proc/self is the supervisor).
  let cur = path.resolve(cwd, file);
  for (let hops = 0; hops < 40; hops++) {
    if (cur !== '/dev/null' && ['/proc', '/dev'].some((d) => cur === d || cur.startsWith(`${d}/`))) return false;
    const parts = cur.split('/').filter(Boolean);
    let link: { at: string; rest: string[] } | undefined;
    for (let i = 0, at = '/'; i < parts.length && !link; i++) {
      at = path.join(at, parts[i]!);
      const st = fs.lstatSync(at, { throwIfNoEntry: false });
      if (!st) return true; // a new file: the sink creates it
      if (st.isSymbolicLink()) link = { at, rest: parts.slice(i + 1) };
    }
    if (!link) return true;
    cur = path.resolve(path.dirname(link.at), fs.readlinkSync(link.at), ...link.rest);
  }
  return false;
}

/** The run a request asks for, when the fast path serves it; a number is an exit code (nothing run). */
export async function resolveFast(req: FastRequest, providers: Record<'none' | 'full', NetworkProvider>, log: (m: string) => void = () => {}): Promise<Resolved | number> {
  const parsed = parseRunArgs(req.args);
  if (!parsed || !parsed.command.length) return 'fallback';
  const { opts, command } = parsed;
  if ([opts.audit, opts.policy].some((f) => f !== undefined && !servableFile(f, req.cwd))) return 'fallback';
  // Only the options served here: any other (--policy-ref, --monitor, --learn...) takes the Node path.
  const SERVED = new Set(['policy', 'audit', 'network', 'agent', 'quiet']);
  if (Object.entries(opts).some(([k, v]) => v !== undefined && !SERVED.has(k))) return 'fallback';
  const policy = opts.policy ? asCaller(req, () => loadRunPolicy(path.resolve(req.cwd, opts.policy!))) : defaultRunPolicy();
  // Agent profiles lay private layers and an allowlist: whole sessions, not single commands.
  const agent = opts.agent ?? 'auto';
  if (agent !== 'none' && (agent !== 'auto' || agentForCommand(command))) return 'fallback';
  if (opts.network !== undefined) {
    if (opts.network !== 'none' && opts.network !== 'full') return 'fallback';
    policy.network.mode = opts.network as NetworkMode;
  }
  const mode = policy.network.mode;
  if (mode !== 'none' && mode !== 'full') return 'fallback';
  if (!opts.audit) return { policy, argv: command, quiet: !!opts.quiet, network: providers[mode] };
  // The command's descriptors are the launcher's: seen through /proc (same user).
  const fdStat = (fd: number) => fs.statSync(`/proc/${req.pid ?? 0}/fd/${fd}`);
  const audit = await openAudit(opts.audit, policy, { cwd: req.cwd, home: req.env.HOME, fdStat, say: log });
  if (typeof audit === 'number') return audit;
  return { policy, argv: command, quiet: !!opts.quiet, network: providers[mode], emit: audit.emit, close: audit.close };
}

export async function runSupervisor(args: string[]): Promise<number> {
  const i = args.indexOf('--socket');
  const socket = i >= 0 ? args[i + 1] : undefined;
  if (!socket) {
    process.stderr.write('usage: warden supervisor --socket PATH (started by the native launcher of warden run)\n');
    return 2;
  }
  // Descriptors the starting run passed on (pass_fds) are not ours to keep open for minutes.
  const { closeInheritedFds } = await import('../sandbox/runner.js');
  closeInheritedFds([]);
  const providers = { none: await networkProvider('none'), full: await networkProvider('full') };
  const idle = Number(process.env.WARDEN_SUPERVISOR_IDLE_MS);
  await serveSupervisor({ socket, idleMs: idle > 0 ? idle : undefined, resolve: (req, log) => resolveFast(req, providers, log) });
  return 0;
}
