// A repository's policy (read from git by `--policy-ref`) laid over the operator's base policy,
// so that it can only tighten it: allowlists are intersected (network.allow, allow_write,
// allow_read, env.pass, syscalls.allow, credential hosts), denials joined (deny_read,
// read_only, syscalls.deny, request-rule denials), limits lowered, the network mode made no
// wider. What the repository asked for and did not get is listed with the reason, so that the
// merge can be printed and recorded (sandbox.start data.policy_ref).
import path from 'node:path';
import { cidrContains, parseCidr } from '../egress/ip.js';
import { DEFAULT_PORTS, parseAllowEntry, type AllowEntry } from '../egress/policy.js';
import { isSubdomainOf } from '../egress/names.js';
import type { CredentialSpec, NetworkMode, RequestRuleSpec, RunPolicy } from '../sandbox/policy.js';

export interface MergeNote {
  /** Policy key, as the file spells it (`network.allow`). */
  key: string;
  /** What the key is after the merge (tightened) or what was not taken (ignored). */
  value: unknown;
  detail: string;
}

export interface MergeResult {
  policy: RunPolicy;
  /** Keys the repository made stricter. */
  tightened: MergeNote[];
  /** What the repository asked for that would have widened the base policy. */
  ignored: MergeNote[];
}

/** Which keys the repository's file sets (`network.allow`, `resources.memory`...), from its raw YAML. */
export function setKeys(raw: unknown): Set<string> {
  const out = new Set<string>();
  if (!raw || typeof raw !== 'object') return out;
  for (const [section, v] of Object.entries(raw as Record<string, unknown>)) {
    out.add(section);
    if (v && typeof v === 'object' && !Array.isArray(v)) for (const k of Object.keys(v)) out.add(`${section}.${k}`);
  }
  return out;
}

const RANK: Record<NetworkMode, number> = { none: 0, allowlist: 1, full: 2 };
const uniq = <T>(a: T[]) => [...new Set(a)];
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function tightenPolicy(base: RunPolicy, repo: RunPolicy, keys: Set<string>): MergeResult {
  const p: RunPolicy = structuredClone(base);
  const tightened: MergeNote[] = [];
  const ignored: MergeNote[] = [];
  const changed = (key: string, before: unknown, after: unknown, detail: string) => {
    if (!same(before, after)) tightened.push({ key, value: after, detail });
  };
  const has = (k: string) => keys.has(k);

  // --- filesystem
  if (has('filesystem.workspace') && repo.filesystem.workspace !== base.filesystem.workspace)
    ignored.push({ key: 'filesystem.workspace', value: repo.filesystem.workspace, detail: 'the workspace is the operator\'s choice' });
  if (has('filesystem.allow_write')) {
    const r = intersectPaths(base.filesystem.allowWrite, repo.filesystem.allowWrite);
    p.filesystem.allowWrite = r.kept;
    changed('filesystem.allow_write', base.filesystem.allowWrite, r.kept, 'only paths the base policy also makes writable');
    for (const x of r.dropped) ignored.push({ key: 'filesystem.allow_write', value: x, detail: 'not writable under the base policy' });
  }
  if (has('filesystem.allow_read')) {
    const r = intersectPaths(base.filesystem.allowRead, repo.filesystem.allowRead);
    p.filesystem.allowRead = r.kept;
    changed('filesystem.allow_read', base.filesystem.allowRead, r.kept, 'secrets shown only where the base policy shows them too');
    for (const x of r.dropped) ignored.push({ key: 'filesystem.allow_read', value: x, detail: 'a secret the base policy hides' });
  }
  for (const [k, field] of [['filesystem.deny_read', 'denyRead'], ['filesystem.read_only', 'readOnly']] as const) {
    if (!has(k)) continue;
    const u = uniq([...base.filesystem[field], ...repo.filesystem[field]]);
    p.filesystem[field] = u;
    changed(k, base.filesystem[field], u, 'joined');
  }

  // --- environment
  if (has('env.pass')) {
    const r = intersectEnv(base.env.pass, repo.env.pass);
    p.env.pass = r.kept;
    changed('env.pass', base.env.pass, r.kept, 'only variables the base policy passes');
    for (const x of r.dropped) ignored.push({ key: 'env.pass', value: x, detail: 'not passed by the base policy' });
  }
  if (has('env.set')) {
    for (const [k, v] of Object.entries(repo.env.set)) {
      if (k in base.env.set) {
        if (base.env.set[k] !== v) ignored.push({ key: `env.set.${k}`, value: v, detail: 'the base policy sets it' });
      } else p.env.set[k] = v;
    }
    changed('env.set', base.env.set, p.env.set, 'variables added (the base policy\'s values win)');
  }

  // --- network
  mergeNetwork(p, base, repo, has, changed, ignored);

  // --- credentials: the repository may only narrow where an operator's secret may go
  if (has('credentials')) {
    for (const rc of repo.credentials) {
      const i = p.credentials.findIndex((bc) => sameSource(bc, rc));
      if (i < 0) {
        ignored.push({ key: 'credentials', value: sourceName(rc), detail: 'not a credential of the base policy' });
        continue;
      }
      const bc = p.credentials[i]!;
      const r = intersectAllow(bc.hosts, rc.hosts);
      p.credentials[i] = { ...bc, hosts: r.kept };
      changed(`credentials[${sourceName(rc)}].hosts`, bc.hosts, r.kept, 'only hosts the base policy sends it to');
      for (const x of r.dropped) ignored.push({ key: `credentials[${sourceName(rc)}].hosts`, value: x, detail: 'the base policy does not send it there' });
    }
    // A credential with no host left is not given at all (its surrogate goes nowhere real).
    p.credentials = p.credentials.filter((c) => c.hosts.length);
  }

  // --- resources: the lower limit wins
  const lower = (k: string, field: 'memoryBytes' | 'pids' | 'cpus' | 'timeoutMs') => {
    const r = repo.resources[field];
    if (r === undefined) return;
    const b = base.resources[field];
    if (b === undefined || r < b) {
      p.resources[field] = r;
      tightened.push({ key: k, value: r, detail: b === undefined ? 'set (no base limit)' : `lowered from ${b}` });
    } else if (r > b) ignored.push({ key: k, value: r, detail: `higher than the base policy's ${b}` });
  };
  lower('resources.memory', 'memoryBytes');
  lower('resources.pids', 'pids');
  lower('resources.cpu', 'cpus');
  lower('resources.timeout', 'timeoutMs');
  if (has('resources.timeout_grace') && repo.resources.graceMs < base.resources.graceMs) {
    p.resources.graceMs = repo.resources.graceMs;
    tightened.push({ key: 'resources.timeout_grace', value: repo.resources.graceMs, detail: `lowered from ${base.resources.graceMs}` });
  }

  // --- process
  if (has('process.user') && !same(repo.process.runAs, base.process.runAs))
    ignored.push({ key: 'process.user', value: repo.process.runAs, detail: 'who the sandbox runs as is the operator\'s choice' });
  if (has('process.pass_fds')) {
    const kept = base.process.passFds.filter((f) => repo.process.passFds.includes(f));
    p.process.passFds = kept;
    changed('process.pass_fds', base.process.passFds, kept, 'only descriptors the base policy passes');
    for (const f of repo.process.passFds.filter((x) => !base.process.passFds.includes(x))) ignored.push({ key: 'process.pass_fds', value: f, detail: 'not passed by the base policy' });
  }

  // --- syscalls: denials joined, re-allowed syscalls only where both allow them
  if (has('syscalls.deny')) {
    p.syscalls.deny = uniq([...base.syscalls.deny, ...repo.syscalls.deny]);
    changed('syscalls.deny', base.syscalls.deny, p.syscalls.deny, 'joined');
  }
  if (has('syscalls.allow')) {
    p.syscalls.allow = base.syscalls.allow.filter((s) => repo.syscalls.allow.includes(s));
    changed('syscalls.allow', base.syscalls.allow, p.syscalls.allow, 'only what the base policy also re-allows');
    for (const s of repo.syscalls.allow.filter((x) => !base.syscalls.allow.includes(x))) ignored.push({ key: 'syscalls.allow', value: s, detail: 'denied by the base policy' });
  }
  p.syscalls.allow = p.syscalls.allow.filter((s) => !p.syscalls.deny.includes(s));
  return { policy: p, tightened, ignored };
}

function mergeNetwork(
  p: RunPolicy,
  base: RunPolicy,
  repo: RunPolicy,
  has: (k: string) => boolean,
  changed: (key: string, before: unknown, after: unknown, detail: string) => void,
  ignored: MergeNote[],
): void {
  const bm = base.network.mode;
  const rm = has('network.mode') ? repo.network.mode : bm;
  if (RANK[rm] > RANK[bm]) ignored.push({ key: 'network.mode', value: rm, detail: `wider than the base policy's ${bm}` });
  const mode: NetworkMode = RANK[rm] < RANK[bm] ? rm : bm;
  p.network.mode = mode;
  changed('network.mode', bm, mode, `the narrower of ${bm} (base) and ${rm} (repository)`);
  if (mode !== 'allowlist') {
    if (mode === 'none') p.network.allow = [];
    if (has('network.allow') && rm === 'allowlist' && mode === 'none') for (const x of repo.network.allow) ignored.push({ key: 'network.allow', value: x, detail: 'the base policy has no network' });
  } else if (bm === 'full') {
    // The base allowed everything: the repository's list is the intersection.
    p.network.allow = [...repo.network.allow];
    changed('network.allow', base.network.allow, p.network.allow, 'the base policy allows every destination');
  } else if (rm === 'allowlist' && (has('network.allow') || has('network.mode'))) {
    const r = intersectAllow(base.network.allow, repo.network.allow);
    p.network.allow = r.kept;
    changed('network.allow', base.network.allow, r.kept, 'destinations both policies allow');
    for (const x of r.dropped) ignored.push({ key: 'network.allow', value: x, detail: 'not allowed by the base policy' });
  }
  // Where allowed names resolve and which resolvers the proxy uses stay the operator's: a pin
  // would send an allowed name's traffic to an address the repository chose.
  if (has('network.resolve'))
    for (const [k, v] of Object.entries(repo.network.resolve)) if (base.network.resolve[k] !== v) ignored.push({ key: `network.resolve.${k}`, value: v, detail: 'pins are the operator\'s' });
  if (has('network.upstream_dns') && !same(repo.network.upstreamDns, base.network.upstreamDns))
    ignored.push({ key: 'network.upstream_dns', value: repo.network.upstreamDns, detail: 'resolvers are the operator\'s' });
  if (has('network.unix_sockets')) {
    p.network.unixSockets = base.network.unixSockets && repo.network.unixSockets;
    changed('network.unix_sockets', base.network.unixSockets, p.network.unixSockets, 'only when both allow them');
    if (repo.network.unixSockets && !base.network.unixSockets) ignored.push({ key: 'network.unix_sockets', value: true, detail: 'the base policy refuses unix sockets' });
  }
  if (has('network.rules') && repo.network.rules) {
    const merged = mergeRules(base.network.rules ?? {}, repo.network.rules);
    p.network.rules = merged;
    changed('network.rules', base.network.rules ?? {}, merged, 'both policies\' request rules apply');
  }
}

// ------------------------------------------------------------------ allow entries

function hostPart(e: AllowEntry): string {
  if (e.kind === 'host') return e.name;
  if (e.kind === 'wildcard') return `*.${e.domain}`;
  const raw = e.raw.trim();
  // An entry with a port ends in ":port" (its ports are not the default pair).
  const h = e.ports === DEFAULT_PORTS ? raw : raw.slice(0, raw.lastIndexOf(':'));
  return h.replace(/^\[(.*)\]$/, '$1');
}

function withPorts(host: string, ports: readonly number[]): string[] {
  if (ports.length === DEFAULT_PORTS.length && DEFAULT_PORTS.every((p) => ports.includes(p))) return [host];
  const h = host.includes(':') ? `[${host}]` : host;
  return ports.map((p) => `${h}:${p}`);
}

/** Whether every name or address of `a` is also one of `b`'s (ports aside). */
function within(a: AllowEntry, b: AllowEntry): boolean {
  if (a.kind === 'host') return (b.kind === 'host' && b.name === a.name) || (b.kind === 'wildcard' && isSubdomainOf(a.name, b.domain));
  if (a.kind === 'wildcard') return b.kind === 'wildcard' && (a.domain === b.domain || isSubdomainOf(a.domain, b.domain));
  if (b.kind !== 'ip' || a.cidr.family !== b.cidr.family || a.cidr.bits < b.cidr.bits) return false;
  const addr = hostPart(a).split('/')[0]!;
  return cidrContains(b.cidr, addr);
}

/** The destinations both lists allow, as entries; and the repository's entries that got nothing. */
export function intersectAllow(base: readonly string[], repo: readonly string[]): { kept: string[]; dropped: string[] } {
  const parse = (l: readonly string[]) => l.map((raw) => ({ raw, e: parseAllowEntry(raw) })).filter((x): x is { raw: string; e: AllowEntry } => typeof x.e !== 'string');
  const bs = parse(base);
  const rs = parse(repo);
  const kept: string[] = [];
  const dropped: string[] = [];
  for (const r of rs) {
    let any = false;
    for (const b of bs) {
      const narrower = within(r.e, b.e) ? r.e : within(b.e, r.e) ? b.e : undefined;
      if (!narrower) continue;
      const ports = r.e.ports.filter((x) => b.e.ports.includes(x));
      if (!ports.length) continue;
      any = true;
      kept.push(...withPorts(hostPart(narrower), ports));
    }
    if (!any) dropped.push(r.raw);
  }
  return { kept: uniq(kept), dropped };
}

// ------------------------------------------------------------------ paths and names

function normPath(p: string): string {
  if (p === '~' || p.startsWith('~/')) return path.posix.normalize(p).replace(/\/$/, '');
  return path.posix.normalize(p.startsWith('/') ? p : `./${p}`).replace(/\/$/, '') || '/';
}

function under(a: string, b: string): boolean {
  const x = normPath(a);
  const y = normPath(b);
  if (x === y) return true;
  if (y === '.') return !x.startsWith('/') && !x.startsWith('~') && !x.startsWith('..');
  return x.startsWith(y === '/' ? '/' : `${y}/`);
}

export function intersectPaths(base: readonly string[], repo: readonly string[]): { kept: string[]; dropped: string[] } {
  const kept: string[] = [];
  const dropped: string[] = [];
  for (const r of repo) {
    let any = false;
    for (const b of base) {
      if (under(r, b)) kept.push(r), (any = true);
      else if (under(b, r)) kept.push(b), (any = true);
    }
    if (!any) dropped.push(r);
  }
  return { kept: uniq(kept), dropped };
}

function envCovers(pattern: string, name: string): boolean {
  if (pattern === name) return true;
  if (!pattern.endsWith('*')) return false;
  const prefix = pattern.slice(0, -1);
  return name.startsWith(prefix) && (name.endsWith('*') ? name.length >= pattern.length : true);
}

export function intersectEnv(base: readonly string[], repo: readonly string[]): { kept: string[]; dropped: string[] } {
  const kept: string[] = [];
  const dropped: string[] = [];
  for (const r of repo) {
    let any = false;
    for (const b of base) {
      if (envCovers(b, r)) kept.push(r), (any = true);
      else if (envCovers(r, b)) kept.push(b), (any = true);
    }
    if (!any) dropped.push(r);
  }
  return { kept: uniq(kept), dropped };
}

// ------------------------------------------------------------------ credentials

function sameSource(a: CredentialSpec, b: CredentialSpec): boolean {
  return sourceName(a) === sourceName(b);
}

function sourceName(c: CredentialSpec): string {
  if (c.aws) return `aws:${c.aws.accessKeyId}`;
  if (c.sshKey) return `ssh_key:${c.sshKey}`;
  return c.env ? `env:${c.env}` : `file:${c.file}`;
}

// ------------------------------------------------------------------ request rules

/** The most specific key of `rules` whose pattern covers `key` (a host or "*.domain"). */
function ruleFor(rules: Record<string, RequestRuleSpec>, key: string): RequestRuleSpec | undefined {
  const k = parseAllowEntry(key);
  if (typeof k === 'string') return rules[key];
  let best: { len: number; spec: RequestRuleSpec } | undefined;
  for (const [rk, spec] of Object.entries(rules)) {
    const e = parseAllowEntry(rk);
    if (typeof e === 'string' || !within(k, e)) continue;
    const len = e.kind === 'host' ? 10_000 + rk.length : rk.length;
    if (!best || len > best.len) best = { len, spec };
  }
  return best?.spec;
}

/** A path pattern whose matches are all matches of `outer` (conservatively: equal, or under a `/**`). */
function pathWithin(inner: string, outer: string): boolean {
  if (inner === outer || outer === '/**') return true;
  if (!outer.endsWith('/**')) return false;
  const prefix = outer.slice(0, -2);
  return !prefix.includes('*') && inner.startsWith(prefix);
}

function conjoin(a: RequestRuleSpec | undefined, b: RequestRuleSpec | undefined): RequestRuleSpec {
  if (!a) return structuredClone(b!);
  if (!b) return structuredClone(a);
  const out: RequestRuleSpec = {};
  if (a.inspect || b.inspect) out.inspect = true;
  if (a.methods || b.methods) out.methods = a.methods && b.methods ? a.methods.filter((m) => b.methods!.includes(m)) : [...(a.methods ?? b.methods!)];
  if (a.paths || b.paths) {
    if (a.paths && b.paths) out.paths = uniq([...b.paths.filter((x) => a.paths!.some((y) => pathWithin(x, y))), ...a.paths.filter((x) => b.paths!.some((y) => pathWithin(x, y)))]);
    else out.paths = [...(a.paths ?? b.paths!)];
  }
  const deny = [...(a.deny ?? []), ...(b.deny ?? [])];
  if (deny.length) out.deny = structuredClone(deny);
  if (a.git === 'fetch' || b.git === 'fetch') out.git = 'fetch';
  else if (a.git || b.git) out.git = 'push';
  return out;
}

/**
 * Both rule sets at once: every key of either, each with the conjunction of the rule each
 * set would apply to it (the most specific covering key), so a more specific repository key
 * cannot shadow a base rule.
 */
export function mergeRules(base: Record<string, RequestRuleSpec>, repo: Record<string, RequestRuleSpec>): Record<string, RequestRuleSpec> {
  const out: Record<string, RequestRuleSpec> = {};
  for (const k of uniq([...Object.keys(base), ...Object.keys(repo)])) out[k] = conjoin(ruleFor(base, k), ruleFor(repo, k));
  return out;
}
