// The --policy-ref merge never widens the operator's base policy, for any pair of policies
// (fast-check): every destination the merged policy lets through (decided by the egress
// proxy's own Policy, not by the merge's helpers), every path it makes writable or shows,
// every variable it passes, every syscall it re-allows, every host a credential goes to, is
// one the base policy grants too; denials only grow; limits only go down; the network mode
// only narrows. The generators draw from small vocabularies so that entries overlap often.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseYaml } from '../../src/config/load.js';
import { setKeys, tightenPolicy } from '../../src/config/policy-merge.js';
import { parseRunPolicy } from '../../src/config/run-policy.js';
import { Policy } from '../../src/egress/policy.js';
import type { RunPolicy } from '../../src/sandbox/policy.js';

const NAMES = ['github.com', 'api.github.com', 'x.api.github.com', 'npmjs.org', 'registry.npmjs.org', 'evil.example'];
const IPS = ['10.0.0.0/8', '10.1.0.0/16', '10.1.2.3', '192.0.2.0/24', '192.0.2.7'];
const PORTS = [22, 80, 443, 5432];
const PATHS = ['build', 'build/out', 'dist', '~/.cache', '~/.cache/npm', '/tmp/x', '/tmp', '../up', '~'];
const ENVS = ['CI', 'CIX', 'NPM_TOKEN', 'NPM_*', 'N*', 'AWS_SECRET_ACCESS_KEY', 'GH_TOKEN'];
const SYSCALLS = ['ptrace', 'bpf', 'acct', 'perf_event_open'];

const host = fc.oneof(fc.constantFrom(...NAMES), fc.constantFrom(...NAMES).map((n) => `*.${n}`));
const allowEntry = fc.oneof(
  host,
  fc.tuple(host, fc.constantFrom(...PORTS)).map(([h, p]) => `${h}:${p}`),
  fc.constantFrom(...IPS),
  fc.tuple(fc.constantFrom(...IPS), fc.constantFrom(...PORTS)).map(([h, p]) => `${h}:${p}`),
);
const sub = <T>(a: readonly T[]) => fc.subarray([...a]);
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

/** A policy file as a user would write it: any subset of the keys the merge looks at. */
const policyDoc = fc.record(
  {
    filesystem: fc.record({ allow_write: sub(PATHS), deny_read: sub(['secrets', '.env.local']), read_only: sub(['Makefile']) }, { requiredKeys: [] }),
    env: fc.record({ pass: sub(ENVS) }, { requiredKeys: [] }),
    network: fc.record({ mode: fc.constantFrom('none', 'allowlist', 'full'), allow: fc.array(allowEntry, { maxLength: 6 }), unix_sockets: fc.boolean() }, { requiredKeys: [] }),
    credentials: fc.array(fc.record({ env: fc.constantFrom('GH_TOKEN', 'NPM_TOKEN'), hosts: fc.array(host, { minLength: 1, maxLength: 3 }) }), { maxLength: 2 }),
    resources: fc.record(
      { memory: fc.constantFrom('256MB', '1GB', '2GB'), pids: fc.integer({ min: 16, max: 4096 }), timeout: fc.constantFrom('10s', '30m', '2h'), timeout_grace: fc.constantFrom('1s', '5s', '30s') },
      { requiredKeys: [] },
    ),
    syscalls: fc.record({ allow: sub(SYSCALLS), deny: sub(SYSCALLS) }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);

/** Probe destinations: every name and address of the vocabularies, on every port. */
const DESTS = [...NAMES, 'deep.x.api.github.com', '10.1.2.3', '10.9.9.9', '192.0.2.7', '192.0.2.200'].flatMap((h) => PORTS.map((p) => [h, p] as const));

function allows(p: RunPolicy, h: string, port: number): boolean {
  if (p.network.mode === 'full') return true;
  if (p.network.mode === 'none') return false;
  const pol = new Policy(p.network.allow);
  return /^\d/.test(h) ? !!pol.ipEntry(h, port) : pol.decideName(h, port).allowed;
}

const norm = (x: string) => x.replace(/\/+$/, '');
/** A path is writable when it is at or under an allow_write entry (as the sandbox binds them). */
const writable = (entries: string[], x: string) => entries.some((e) => norm(x) === norm(e) || norm(x).startsWith(`${norm(e)}/`));
const passes = (pats: string[], name: string) => pats.some((p) => (p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : p === name));
const credHosts = (p: RunPolicy, env: string) => p.credentials.filter((c) => c.env === env).flatMap((c) => c.hosts);

function load(doc: object, name: string): { policy: RunPolicy; keys: Set<string> } | undefined {
  const text = stringify(doc);
  try {
    return { policy: parseRunPolicy(text, name), keys: setKeys(parseYaml(text, name).value) };
  } catch {
    return undefined; // a combination the policy parser refuses (e.g. a syscall both denied and allowed)
  }
}

describe('policy merge property: a repository policy never widens the base', () => {
  it('holds for any base and repository policy', () => {
    let checked = 0;
    fc.assert(
      fc.property(policyDoc, policyDoc, (b, r) => {
        const base = load(b, 'base.yaml');
        const repo = load(r, 'repo.yaml');
        fc.pre(!!base && !!repo);
        const m = tightenPolicy(base!.policy, repo!.policy, repo!.keys).policy;
        const B = base!.policy;
        checked++;
        // network
        const rank = { none: 0, allowlist: 1, full: 2 } as const;
        expect(rank[m.network.mode]).toBeLessThanOrEqual(rank[B.network.mode]);
        for (const [h, port] of DESTS) if (allows(m, h, port)) expect(allows(B, h, port), `${h}:${port} (merged allow ${JSON.stringify(m.network.allow)}, base ${B.network.mode} ${JSON.stringify(B.network.allow)})`).toBe(true);
        expect(B.network.unixSockets || !m.network.unixSockets).toBe(true);
        expect(m.network.resolve).toEqual(B.network.resolve);
        // filesystem
        for (const x of [...PATHS, 'build/out/deep', '~/.cache/npm/x', '/tmp/x/y', 'elsewhere']) if (writable(m.filesystem.allowWrite, x)) expect(writable(B.filesystem.allowWrite, x), x).toBe(true);
        for (const d of B.filesystem.denyRead) expect(m.filesystem.denyRead).toContain(d);
        for (const d of B.filesystem.readOnly) expect(m.filesystem.readOnly).toContain(d);
        for (const a of m.filesystem.allowRead) expect(writable(B.filesystem.allowRead, a)).toBe(true);
        // environment
        for (const n of [...ENVS.filter((e) => !e.endsWith('*')), 'NPM_OTHER', 'NODE_ENV', 'PATH', 'HOME', 'LC_ALL']) if (passes(m.env.pass, n)) expect(passes(B.env.pass, n), n).toBe(true);
        for (const [k, v] of Object.entries(B.env.set)) expect(m.env.set[k]).toBe(v);
        // credentials: never a new one, never to a host the base does not send it to
        for (const env of ['GH_TOKEN', 'NPM_TOKEN']) {
          const mh = credHosts(m, env);
          if (mh.length) expect(credHosts(B, env).length).toBeGreaterThan(0);
          const bp = new Policy(credHosts(B, env));
          for (const [h, port] of DESTS) if (!/^\d/.test(h) && new Policy(mh).decideName(h, port).allowed) expect(bp.decideName(h, port).allowed, `${env} to ${h}:${port}`).toBe(true);
        }
        // limits
        for (const f of ['memoryBytes', 'pids', 'timeoutMs', 'cpus'] as const) if (B.resources[f] !== undefined) expect(m.resources[f]).toBeLessThanOrEqual(B.resources[f]!);
        expect(m.resources.graceMs).toBeLessThanOrEqual(B.resources.graceMs);
        // syscalls
        for (const s of B.syscalls.deny) expect(m.syscalls.deny).toContain(s);
        for (const s of m.syscalls.allow) expect(B.syscalls.allow).toContain(s);
        // who runs it and where stays the operator's
        expect(m.process.runAs).toEqual(B.process.runAs);
        expect(m.filesystem.workspace).toEqual(B.filesystem.workspace);
      }),
      { numRuns: 200 },
    );
    expect(checked).toBeGreaterThan(100);
  });

  it('and a repository policy equal to the base changes nothing it grants', () => {
    fc.assert(
      fc.property(policyDoc, (b) => {
        const base = load(b, 'base.yaml');
        fc.pre(!!base);
        const m = tightenPolicy(base!.policy, base!.policy, base!.keys).policy;
        for (const [h, port] of DESTS) expect(allows(m, h, port)).toBe(allows(base!.policy, h, port));
      }),
      { numRuns: 200 },
    );
  });
});
