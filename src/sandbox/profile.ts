// Agent profiles for `warden run --agent NAME|auto`: what an agent needs to work in the
// sandbox, from agents/catalog.ts, laid under the user's policy. Its state directories
// writable (nothing else of the home), its own token files readable to it alone, its key
// variables passed, its API, login and update hosts in the allowlist (network: allowlist unless
// the policy or --network says otherwise). The policy file is applied on top: lists are
// joined, scalars it sets explicitly win.
import type { AgentInfo } from '../agents/catalog.js';
import type { RunPolicy } from './policy.js';

const union = (a: readonly string[], b: readonly string[]) => [...new Set([...a, ...b])];

export function applyAgentProfile(policy: RunPolicy, agent: AgentInfo): RunPolicy {
  const p: RunPolicy = structuredClone(policy);
  p.agent = { name: agent.name, title: agent.title, stateDirs: [...agent.stateDirs], homeFiles: [...agent.homeFiles], execKeys: [...(agent.execKeys ?? [])], judgedConfig: structuredClone(agent.judgedConfig ?? []) };
  p.filesystem.allowWrite = union(agent.stateDirs, p.filesystem.allowWrite);
  // ...but not its config that runs programs (hooks, MCP servers, plugins).
  p.filesystem.readOnly = union(agent.execConfig, p.filesystem.readOnly);
  // Its own credentials and transcripts: a secret for every other process, its own to read.
  p.filesystem.allowRead = union(agent.credentials, p.filesystem.allowRead);
  p.env.pass = union(agent.keyEnv, p.env.pass);
  if (agent.unixSockets) p.network.unixSockets = true;
  if (!p.explicit?.networkMode && agent.hosts.length) p.network.mode = 'allowlist';
  if (p.network.mode === 'allowlist') p.network.allow = union(agent.hosts, p.network.allow);
  return p;
}
