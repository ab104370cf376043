// A RunPolicy written back in the policy file's format (`warden run --print-policy`, and the
// policy `--learn` writes): keys as the file has them, only what differs from the defaults.
import { stringify } from 'yaml';
import type { RunPolicy } from './policy.js';

export function policyToObject(p: RunPolicy): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const fsKeys = {
    workspace: p.filesystem.workspace,
    allow_write: p.filesystem.allowWrite,
    deny_read: p.filesystem.denyRead,
    allow_read: p.filesystem.allowRead,
    read_only: p.filesystem.readOnly,
  };
  o.filesystem = prune(fsKeys);
  o.env = prune({ pass: p.env.pass, set: Object.keys(p.env.set).length ? p.env.set : undefined });
  o.network = prune({
    mode: p.network.mode,
    allow: p.network.allow,
    resolve: Object.keys(p.network.resolve).length ? p.network.resolve : undefined,
    upstream_dns: p.network.upstreamDns,
    unix_sockets: p.network.unixSockets || undefined,
  });
  if (p.credentials.length) o.credentials = p.credentials;
  o.resources = prune({
    memory: p.resources.memoryBytes,
    pids: p.resources.pids,
    cpu: p.resources.cpus,
    timeout: p.resources.timeoutMs !== undefined ? `${p.resources.timeoutMs}ms` : undefined,
  });
  const user = p.process.runAs;
  o.process = prune({ user: typeof user === 'object' ? `${user.uid}:${user.gid}` : user === 'auto' ? undefined : user, pass_fds: p.process.passFds });
  o.syscalls = prune({ deny: p.syscalls.deny, allow: p.syscalls.allow });
  return prune(o) ?? {};
}

function prune(o: Record<string, unknown>): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || (Array.isArray(v) && !v.length)) continue;
    if (v && typeof v === 'object' && !Array.isArray(v) && !Object.keys(v).length) continue;
    out[k] = v;
  }
  return Object.keys(out).length ? out : undefined;
}

export function policyToYaml(p: RunPolicy): string {
  const head = [
    '# warden run policy',
    p.agent ? `# includes the ${p.agent.title} profile (state ${p.agent.stateDirs[0]}, home files written back: ${p.agent.homeFiles.join(', ') || 'none'})` : undefined,
    p.source ? `# from ${p.source}` : undefined,
  ].filter(Boolean);
  return `${head.join('\n')}\n${stringify(policyToObject(p), { lineWidth: 0 })}`;
}
