// The sandbox environment: cleared, then an allowlist of harmless variables, then explicit
// values from the policy. Nothing inherited can carry a token unless the policy names it.
import { DEFAULT_ENV_PASS, type RunPolicy } from './policy.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface EnvInput {
  policy: RunPolicy;
  host: NodeJS.ProcessEnv;
  sandboxId: string;
  /** Identity overrides when the sandbox runs as another user than the caller. */
  user?: { home: string; name: string };
  /** From the network provider (proxy settings, credential surrogates). */
  provider?: Record<string, string>;
}

function matcher(names: readonly string[]): (n: string) => boolean {
  const exact = new Set(names.filter((n) => !n.endsWith('*')));
  const prefixes = names.filter((n) => n.endsWith('*')).map((n) => n.slice(0, -1));
  return (n) => exact.has(n) || prefixes.some((p) => n.startsWith(p));
}

export function buildSandboxEnv(i: EnvInput): Record<string, string> {
  const pass = matcher([...DEFAULT_ENV_PASS, ...i.policy.env.pass]);
  const credentialNames = new Set(i.policy.credentials.flatMap((c) => (c.env ? [c.env] : [])));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(i.host)) {
    if (v === undefined || k.startsWith('WARDEN_') || credentialNames.has(k)) continue;
    if (pass(k)) env[k] = v;
  }
  // bin/warden moves NODE_EXTRA_CA_CERTS aside for a fast start; restore it if it is passed.
  const ca = i.host.WARDEN_NODE_EXTRA_CA_CERTS;
  if (ca !== undefined && pass('NODE_EXTRA_CA_CERTS')) env.NODE_EXTRA_CA_CERTS = ca;
  if (!env.PATH) env.PATH = DEFAULT_PATH;
  if (i.user) {
    env.HOME = i.user.home;
    env.USER = i.user.name;
    env.LOGNAME = i.user.name;
  }
  Object.assign(env, i.provider ?? {}, i.policy.env.set);
  env.WARDEN_SANDBOX = i.sandboxId;
  return env;
}
