// `warden supervisor --socket PATH`: the resident process behind `warden run`'s fast path
// (sandbox/supervisor.ts), started by the native launcher when none answers. This side decides
// which runs it serves: the policy as `warden run` makes it (run.ts), for the options the fast
// path covers (network none, full and allowlist without credentials or request rules, --audit,
// --policy); everything else (--monitor, --learn, --print-policy, --policy-ref, agent profiles)
// is sent back to the Node path.
import fs from 'node:fs';
import path from 'node:path';
import { agentForCommand } from '../agents/catalog.js';
import { loadRunPolicy } from '../config/run-policy.js';
import { networkProvider } from '../sandbox/network.js';
import { defaultRunPolicy, type NetworkMode } from '../sandbox/policy.js';
import { asCaller, serveSupervisor, type FastRequest, type Resolved } from '../sandbox/supervisor.js';
import { openAudit } from './run.js';
import { withMonitorFeed } from '../sinks/ingest-client.js';
import { SpareNetworks } from '../sandbox/spare-networks.js';
import { stateDir } from '../sandbox/state.js';
import type { NetworkProvider } from '../sandbox/network-provider.js';
import type { RunOptions } from '../sandbox/run-types.js';
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
export async function resolveFast(req: FastRequest, providerFor: (mode: NetworkMode) => Promise<NetworkProvider>, log: (m: string) => void = () => {}): Promise<Resolved | number> {
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
    if (!['none', 'full', 'allowlist'].includes(opts.network)) return 'fallback'; // the Node path says what is wrong
    policy.network.mode = opts.network as NetworkMode;
  }
  const mode = policy.network.mode;
  // Credentials and request rules hand descriptors of the provider's to bwrap (a CA, surrogate files): the Node path.
  if (mode === 'allowlist' && (policy.credentials.length > 0 || Object.keys(policy.network.rules ?? {}).length > 0)) return 'fallback';
  const network = await providerFor(mode);
  let emit: RunOptions['emit'];
  let close: (() => Promise<void>) | undefined;
  if (opts.audit) {
    // The command's descriptors are the launcher's: seen through /proc (same user).
    const fdStat = (fd: number) => fs.statSync(`/proc/${req.pid ?? 0}/fd/${fd}`);
    const audit = await openAudit(opts.audit, policy, { cwd: req.cwd, home: req.env.HOME, fdStat, say: log });
    if (typeof audit === 'number') return audit;
    ({ emit, close } = audit);
  }
  // A running `warden watch` gets the sandbox's egress decisions too, as from the Node path.
  if (mode === 'allowlist') ({ emit, close } = withMonitorFeed(emit, close, req.env));
  return { policy, argv: command, quiet: !!opts.quiet, network, emit, close };
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
  // Providers made once (the egress module is loaded at the first allowlist run).
  const providers = new Map<NetworkMode, Promise<NetworkProvider>>();
  const providerFor = (mode: NetworkMode) => providers.get(mode) ?? providers.set(mode, networkProvider(mode)).get(mode)!;
  const ms = (name: string) => (Number(process.env[name]) > 0 ? Number(process.env[name]) : undefined);
  const spares = new SpareNetworks(stateDir(), undefined, 2);
  await serveSupervisor({ socket, idleMs: ms('WARDEN_SUPERVISOR_IDLE_MS'), requestTimeoutMs: ms('WARDEN_SUPERVISOR_REQUEST_MS'), spares, resolve: (req, log) => resolveFast(req, providerFor, log) });
  return 0;
}
