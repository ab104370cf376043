// Schema of `warden run --policy FILE` (DESIGN.md "Minimal file formats", extended). Unknown
// keys and bad values are errors naming the file, line and key; the result is the plain
// RunPolicy of sandbox/policy.ts. Loaded only when --policy is given (yaml + zod are slow to import).
import { z } from 'zod';
import { canonicalAddress } from '../egress/ip.js';
import { normalisePolicyHost } from '../egress/names.js';
import { checkAllowEntry } from '../egress/policy.js';
import { knownSyscallNames } from '../sandbox/seccomp.js';
import { defaultRunPolicy, parseDuration, parseRunAs, parseSize, type CredentialSpec, type RunPolicy } from '../sandbox/policy.js';
import { ConfigError, formatKey, lineAt, parseYaml, validateYaml } from './load.js';
import fs from 'node:fs';

const size = z.union([z.number(), z.string()]).refine((v) => parseSize(v) !== undefined, 'expected a size like 512MB, 2GB or a byte count');
const duration = z
  .union([z.number(), z.string()])
  .refine((v) => parseDuration(v) !== undefined, 'expected a duration like 90s, 30m, 1h30m or seconds')
  // Node timers overflow past 2^31-1 ms and fire at once: a longer timeout killed the command immediately.
  .refine((v) => (parseDuration(v) ?? 0) <= MAX_TIMER_MS, 'at most 24 days (596h)');
const MAX_TIMER_MS = 2 ** 31 - 1;
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*\*?$/, 'expected an environment variable name (NAME or PREFIX_*)');
const syscallName = z.string().refine((s) => knownSyscallNames().includes(s), {
  error: () => `unknown syscall; known: ${knownSyscallNames().join(', ')}`,
});
const pathStr = z.string().min(1);
const host = z.string().min(1);

const varName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name');
const hosts = z.array(host).min(1);
// Where a surrogate may be swapped for the real value (default: any request header).
const places = {
  headers: z.array(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name')).optional(),
  query: z.array(z.string().min(1)).optional(),
  body: z.union([z.boolean(), z.array(z.string().min(1))]).optional(),
};
const command = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
const credential = z.union([
  z.strictObject({ env: varName, command: command.optional(), hosts, ...places }),
  z.strictObject({ file: pathStr, command: command.optional(), hosts, ...places }),
  z.strictObject({
    aws: z
      .strictObject({ access_key_id: varName.default('AWS_ACCESS_KEY_ID'), secret_access_key: varName.default('AWS_SECRET_ACCESS_KEY'), session_token: varName.optional() })
      .prefault({}),
    hosts,
  }),
  z.strictObject({ ssh_key: pathStr, hosts }),
]);
const method = z.string().regex(/^[A-Za-z]{1,20}$/, 'expected an HTTP method').transform((m) => m.toUpperCase());
const pathPattern = z.string().regex(/^\//, 'a path pattern starts with /');
const requestRule = z.strictObject({
  inspect: z.boolean().optional(),
  methods: z.array(method).optional(),
  paths: z.array(pathPattern).optional(),
  deny: z.array(z.strictObject({ methods: z.array(method).optional(), paths: z.array(pathPattern).optional() })).optional(),
  git: z.enum(['fetch', 'push']).optional(),
});

export const runPolicySchema = z.strictObject({
  filesystem: z
    .strictObject({
      workspace: pathStr.optional(),
      allow_write: z.array(pathStr).default([]),
      deny_read: z.array(pathStr).default([]),
      allow_read: z.array(pathStr).default([]),
      read_only: z.array(pathStr).default([]),
    })
    .prefault({}),
  env: z
    .strictObject({
      pass: z.array(envName).default([]),
      set: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name'), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({}),
    })
    .prefault({}),
  network: z
    .strictObject({
      mode: z.enum(['none', 'allowlist', 'full']).default('none'),
      allow: z.array(host).default([]),
      resolve: z.record(z.string(), z.string()).default({}),
      upstream_dns: z.array(z.string().regex(/^[0-9a-fA-F.:[\]]+$/, 'expected an IP address, ip:port or [ipv6]:port')).optional(),
      unix_sockets: z.boolean().default(false),
      rules: z.record(z.string(), requestRule).optional(),
    })
    .prefault({}),
  credentials: z.array(credential).default([]),
  resources: z
    .strictObject({
      memory: size.optional(),
      pids: z.number().int().positive().optional(),
      cpu: z.number().positive().max(1024).optional(),
      timeout: duration.optional(),
      timeout_grace: duration.optional(),
    })
    .prefault({}),
  process: z
    .strictObject({
      user: z.union([z.string(), z.number()]).refine((v) => parseRunAs(v) !== undefined, 'expected auto, caller, nobody or uid[:gid]').default('auto'),
      pass_fds: z.array(z.number().int().min(3).max(1023)).default([]),
    })
    .prefault({}),
  syscalls: z
    .strictObject({
      deny: z.array(syscallName).default([]),
      allow: z.array(syscallName).default([]),
    })
    .prefault({}),
});

export type RunPolicyFile = z.infer<typeof runPolicySchema>;

export function loadRunPolicy(file: string): RunPolicy {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, undefined, undefined, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseRunPolicy(text, file);
}

export function parseRunPolicy(text: string, file: string): RunPolicy {
  const parsed = parseYaml(text, file);
  const v = validateYaml(parsed, runPolicySchema);
  const fail = (key: PropertyKey[], detail: string): never => {
    throw new ConfigError(file, lineAt(parsed, key), formatKey(key), detail);
  };
  if (v.credentials.length && v.network.mode !== 'allowlist')
    fail(['credentials'], 'credentials are swapped by the egress proxy: they need network.mode allowlist');
  if (v.network.allow.length && v.network.mode !== 'allowlist') fail(['network', 'allow'], `network.allow has no effect with mode ${v.network.mode}`);
  // A bad address or port here was only found when a name was resolved (a 403 inside the sandbox).
  (v.network.upstream_dns ?? []).forEach((d, i) => {
    const m = /^\[(.+)\]:(\d+)$/.exec(d) ?? /^([^:]+):(\d+)$/.exec(d) ?? [d, d, undefined];
    const port = m[2] === undefined ? 53 : Number(m[2]);
    if (!canonicalAddress(m[1]!) || port < 1 || port > 65535) fail(['network', 'upstream_dns', i], 'expected an IP address, ip:port or [ipv6]:port (port 1-65535)');
  });
  // Checked again when the proxy starts, where a bad entry was "warden: error: …", exit 1.
  for (const [k, addrs] of Object.entries(v.network.resolve)) {
    if (normalisePolicyHost(k).kind !== 'name') fail(['network', 'resolve', k], 'not a host name');
    for (const a of addrs.split(',')) if (!canonicalAddress(a.trim())) fail(['network', 'resolve', k], `"${a.trim()}" is not an IP address`);
  }
  v.network.allow.forEach((h, i) => {
    const bad = checkAllowEntry(h);
    if (bad) fail(['network', 'allow', i], bad);
  });
  for (const k of Object.keys(v.network.rules ?? {})) {
    const bad = checkAllowEntry(k);
    if (bad || k.includes(':') || normalisePolicyHost(k.replace(/^\*\./, '')).kind !== 'name') fail(['network', 'rules', k], bad ?? 'expected a host name or "*.domain" (no port, no address)');
  }
  v.credentials.forEach((c, i) => {
    const cmd = 'command' in c ? c.command : undefined;
    if (cmd !== undefined && typeof cmd === 'string' && !cmd.trim()) fail(['credentials', i, 'command'], 'empty command');
    c.hosts.forEach((h, j) => {
      const bad = checkAllowEntry(h);
      if (bad) fail(['credentials', i, 'hosts', j], bad);
    });
  });
  const overlap = v.syscalls.allow.filter((s) => v.syscalls.deny.includes(s));
  if (overlap.length) fail(['syscalls', 'allow'], `${overlap.join(', ')} listed both in allow and deny`);

  const p = defaultRunPolicy();
  p.source = file;
  const raw = parsed.value as { network?: { mode?: unknown } } | null | undefined;
  p.explicit = { networkMode: raw?.network?.mode !== undefined };
  p.filesystem = {
    workspace: v.filesystem.workspace,
    allowWrite: v.filesystem.allow_write,
    denyRead: v.filesystem.deny_read,
    allowRead: v.filesystem.allow_read,
    readOnly: v.filesystem.read_only,
  };
  p.env = { pass: v.env.pass, set: v.env.set };
  p.network = { mode: v.network.mode, allow: v.network.allow, resolve: v.network.resolve, upstreamDns: v.network.upstream_dns, unixSockets: v.network.unix_sockets };
  if (v.network.rules) p.network.rules = v.network.rules;
  p.credentials = v.credentials.map(toCredentialSpec);
  p.resources = {
    memoryBytes: v.resources.memory !== undefined ? parseSize(v.resources.memory) : undefined,
    pids: v.resources.pids,
    cpus: v.resources.cpu,
    timeoutMs: v.resources.timeout !== undefined ? parseDuration(v.resources.timeout) : undefined,
    graceMs: v.resources.timeout_grace !== undefined ? parseDuration(v.resources.timeout_grace)! : 5000,
  };
  p.process = { runAs: parseRunAs(v.process.user)!, passFds: v.process.pass_fds };
  p.syscalls = { deny: v.syscalls.deny, allow: v.syscalls.allow };
  return p;
}

type CredentialFile = RunPolicyFile['credentials'][number];

/** The YAML spelling of a credential → the plain spec the sandbox and egress use. */
function toCredentialSpec(c: CredentialFile): CredentialSpec {
  if ('aws' in c) return { hosts: c.hosts, aws: { accessKeyId: c.aws.access_key_id, secretAccessKey: c.aws.secret_access_key, ...(c.aws.session_token ? { sessionToken: c.aws.session_token } : {}) } };
  if ('ssh_key' in c) return { hosts: c.hosts, sshKey: c.ssh_key };
  const out: CredentialSpec = { ...('env' in c ? { env: c.env } : { file: c.file }), hosts: c.hosts };
  if (c.command !== undefined) out.command = typeof c.command === 'string' ? ['/bin/sh', '-c', c.command] : c.command;
  if (c.headers) out.headers = c.headers;
  if (c.query) out.query = c.query;
  if (c.body !== undefined) out.body = c.body;
  return out;
}
