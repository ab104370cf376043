// The security-relevant environment of an exec: a fixed, documented list of variables that
// change what a program loads, where its traffic goes, or what a shell runs before anything
// else (docs/events.md, "process.exec"). The compiled sensor reads only these (names matched
// in the kernel); values that can carry credentials (proxy URLs) are stored without them.

/** The variables an exec event reports, by what they can do. */
export const EXEC_ENV_NAMES: readonly string[] = [
  // the dynamic loader: code injected into every program started
  'LD_PRELOAD',
  'LD_AUDIT',
  'LD_LIBRARY_PATH',
  'GLIBC_TUNABLES',
  // where traffic goes (a proxy sees every request, TLS settings decide who is trusted)
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'ALL_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'all_proxy',
  'no_proxy',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'NODE_EXTRA_CA_CERTS',
  'NODE_TLS_REJECT_UNAUTHORIZED',
  'REQUESTS_CA_BUNDLE',
  'CURL_CA_BUNDLE',
  'GIT_SSL_NO_VERIFY',
  // code a shell or an interpreter runs on its own
  'PROMPT_COMMAND',
  'BASH_ENV',
  'ENV',
  'NODE_OPTIONS',
  'PYTHONPATH',
  'PYTHONSTARTUP',
  'PYTHONHOME',
  'PERL5OPT',
  'PERL5LIB',
  'RUBYOPT',
  'RUBYLIB',
  'GIT_SSH_COMMAND',
  'GIT_SSH',
  'GIT_PROXY_COMMAND',
  'GIT_EXEC_PATH',
  // who the program thinks it is for, what it finds first
  'HOME',
  'PATH',
  'SSH_AUTH_SOCK',
];

/** Variables whose value may be a URL with credentials in it. */
const URL_VARS = new Set(['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy']);

/** A proxy URL without its user and password ("http://user:pw@host:3128" -> "http://***@host:3128"). */
export function redactValue(name: string, value: string): string {
  if (!URL_VARS.has(name)) return value;
  return value.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/@]*@/, '$1***@');
}

/** The reported environment: only the listed variables, values redacted where needed. */
export function reportedEnv(env: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!env) return undefined;
  let out: Record<string, string> | undefined;
  for (const name of EXEC_ENV_NAMES) {
    const v = env[name];
    if (v === undefined) continue;
    (out ??= {})[name] = redactValue(name, v);
  }
  return out;
}

/**
 * The variables whose value differs from the environment the process had before (its previous
 * image, or its parent's): set, changed or removed inside the agent's tree.
 */
export function changedEnv(prev: Record<string, string> | undefined, next: Record<string, string> | undefined): string[] {
  if (!prev) return [];
  const out: string[] = [];
  for (const name of EXEC_ENV_NAMES) {
    const a = prev[name];
    const b = next?.[name];
    if (a !== b) out.push(name);
  }
  return out;
}
