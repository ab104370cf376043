// Trust, both ways. Upstream: the host's own trust store (the system bundle, or Warden's
// SSL_CERT_FILE) plus NODE_EXTRA_CA_CERTS given to Warden, never the sandbox's view. Inside:
// the run CA appended to that same store, mounted over the system bundle and named by the
// variable each runtime reads, so curl, git, Node, Python, pip, Go, Rust, Java… accept the
// proxy's certificates without being told about Warden.
import fs from 'node:fs';
import tls from 'node:tls';

/** Where Debian/Ubuntu, Fedora/RHEL, Alpine and SUSE keep the system bundle. */
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem', '/etc/ssl/ca-bundle.pem'];

/** Inside the sandbox: the bundle (host store + run CA) and the run CA alone. */
export const INSIDE_DIR = '/run/warden-egress';
export const INSIDE_BUNDLE = `${INSIDE_DIR}/ca-bundle.pem`;
export const INSIDE_CA = `${INSIDE_DIR}/warden-ca.pem`;

export interface HostTrust {
  /** PEM certificates the proxy verifies upstream servers against (system + extra). */
  ca: string[];
  /** The system store alone (what the sandbox's bundle starts from). */
  system: string[];
  /** The system bundle path it came from (mounted over inside), if any. */
  systemBundle?: string;
}

/** The host's trust store, as the proxy uses it for upstream verification. */
export function hostTrust(o: { env?: NodeJS.ProcessEnv; extraCaCerts?: string } = {}): HostTrust {
  const env = o.env ?? process.env;
  const systemBundle = SYSTEM_BUNDLES.find((f) => fs.existsSync(f));
  const source = env.SSL_CERT_FILE && fs.existsSync(env.SSL_CERT_FILE) ? env.SSL_CERT_FILE : systemBundle;
  let system: string[] = [];
  if (source) system = splitPem(fs.readFileSync(source, 'utf8'));
  if (!system.length) system = [...tls.rootCertificates];
  const ca = [...system];
  if (o.extraCaCerts) {
    try {
      ca.push(...splitPem(fs.readFileSync(o.extraCaCerts, 'utf8')));
    } catch {
      // An unreadable NODE_EXTRA_CA_CERTS: Node itself only warns too.
    }
  }
  return { ca, system, systemBundle };
}

export function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((c) => c + '\n') ?? [];
}

/**
 * Variables that make each runtime trust the bundle inside. Those that *replace* a store get
 * the whole bundle (so public hosts that pass through still verify); those that *add* to a
 * built-in store get the run CA alone.
 */
export function trustEnv(): Record<string, string> {
  return {
    SSL_CERT_FILE: INSIDE_BUNDLE, // OpenSSL (curl, Python ssl, Ruby), Go, rustls-native-certs, Bun
    SSL_CERT_DIR: '/etc/ssl/certs',
    NODE_EXTRA_CA_CERTS: INSIDE_CA, // Node, npm, Bun
    REQUESTS_CA_BUNDLE: INSIDE_BUNDLE, // Python requests (certifi otherwise)
    CURL_CA_BUNDLE: INSIDE_BUNDLE,
    GIT_SSL_CAINFO: INSIDE_BUNDLE,
    PIP_CERT: INSIDE_BUNDLE,
    CARGO_HTTP_CAINFO: INSIDE_BUNDLE,
    AWS_CA_BUNDLE: INSIDE_BUNDLE,
    CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE: INSIDE_BUNDLE,
    DENO_CERT: INSIDE_CA,
    NIX_SSL_CERT_FILE: INSIDE_BUNDLE,
    HEX_CACERTS_PATH: INSIDE_BUNDLE,
    GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: INSIDE_BUNDLE,
  };
}

/** The bundle the sandbox trusts: the host store plus the run CA. */
export function insideBundle(host: HostTrust, caPem: string): string {
  return host.system.join('') + caPem;
}
