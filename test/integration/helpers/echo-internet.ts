// The internet of the credential/inspection tests: a namespace (helpers/internet.ts) running
// test/fixtures/egress/echo-upstream.mjs with a certificate from a test CA made here (Warden
// verifies upstreams against it through NODE_EXTRA_CA_CERTS; the sandbox never trusts it),
// a bare git repository served by git http-backend and by sshd, an npm package and a wheel,
// and real tokens the upstreams insist on. Everything lives under one temporary directory.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startInternet, type Internet } from './internet.js';

export const NAMES = ['echo.test', 'other.test', 'aws.test', 'git.test', 'registry.test', 'pypi.test'];

export interface EchoLog {
  srv?: string;
  host?: string;
  method?: string;
  path?: string;
  proto?: string;
  headers?: Array<[string, string]>;
  body?: string;
  ready?: boolean;
}

export interface EchoInternet {
  inet: Internet;
  /** The test CA (what Warden is told to trust upstream). */
  caFile: string;
  tokens: { echo: string; git: string; npm: string; pypi: string; jwt: string; other: string };
  aws: { id: string; secret: string };
  gitRepo: string;
  sshKey: string;
  npmPackage: string;
  pypiPackage: string;
  logs(): EchoLog[];
  /** `network.resolve` pins for every name. */
  resolve(): Record<string, string>;
  stop(): Promise<void>;
}

function sh(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...opts });
}

function b64url(o: unknown): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}

/** Tokens of realistic shapes (their surrogates must keep those shapes). */
function makeTokens() {
  const r = (n: number) => crypto.randomBytes(n).toString('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, n);
  const jwt = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url({ sub: 'agent', exp: Math.floor(Date.now() / 1000) + 3600 })}.${crypto.randomBytes(32).toString('base64url')}`;
  return {
    echo: `sk-ant-api03-${r(40)}-${r(20)}AA`,
    other: `sk-${r(48)}`,
    git: `ghp_${r(36)}`,
    npm: `npm_${r(36)}`,
    pypi: `pypi-${r(60)}`,
    jwt,
  };
}

function makeCa(dir: string): { caFile: string; certFile: string; keyFile: string } {
  const caKey = path.join(dir, 'ca.key');
  const caFile = path.join(dir, 'ca.pem');
  const keyFile = path.join(dir, 'leaf.key');
  const csr = path.join(dir, 'leaf.csr');
  const certFile = path.join(dir, 'leaf.pem');
  const ext = path.join(dir, 'leaf.ext');
  sh('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=warden test upstream CA', '-keyout', caKey, '-out', caFile]);
  sh('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=echo.test', '-keyout', keyFile, '-out', csr]);
  fs.writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${NAMES.map((n) => `DNS:${n}`).join(',')}\n`);
  sh('openssl', ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', certFile]);
  fs.chmodSync(caFile, 0o644);
  return { caFile, certFile, keyFile };
}

function makeGit(dir: string): string {
  const repo = path.join(dir, 'git', 'repo.git');
  fs.mkdirSync(repo, { recursive: true });
  sh('git', ['init', '-q', '--bare', '-b', 'main', repo]);
  sh('git', ['-C', repo, 'config', 'http.receivepack', 'true']);
  const seed = path.join(dir, 'seed');
  sh('git', ['init', '-q', '-b', 'main', seed]);
  fs.writeFileSync(path.join(seed, 'README'), 'hello\n');
  sh('git', ['-C', seed, '-c', 'user.name=t', '-c', 'user.email=t@t', 'add', '.']);
  sh('git', ['-C', seed, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'seed']);
  sh('git', ['-C', seed, 'push', '-q', repo, 'main']);
  return repo;
}

function makeNpm(dir: string): { name: string; tarball: string } {
  const name = 'warden-probe-pkg';
  const pkg = path.join(dir, 'npm', 'package');
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name, version: '1.0.0', main: 'index.js' }));
  fs.writeFileSync(path.join(pkg, 'index.js'), 'module.exports = "probe ok";\n');
  const tarball = path.join(dir, 'npm', `${name}-1.0.0.tgz`);
  sh('tar', ['czf', tarball, '-C', path.join(dir, 'npm'), 'package']);
  return { name, tarball };
}

function makeWheel(dir: string): { name: string; wheel: string } {
  const name = 'wardenprobe';
  const wheel = path.join(dir, `${name}-1.0-py3-none-any.whl`);
  sh('python3', [
    '-c',
    `import zipfile,sys,hashlib,base64
w=zipfile.ZipFile(sys.argv[1],'w')
files={'${name}/__init__.py':'VALUE = "wheel ok"\\n','${name}-1.0.dist-info/METADATA':'Metadata-Version: 2.1\\nName: ${name}\\nVersion: 1.0\\n','${name}-1.0.dist-info/WHEEL':'Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n'}
rec=[]
for k,v in files.items():
  w.writestr(k,v); d=base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).rstrip(b'=').decode(); rec.append(f'{k},sha256={d},{len(v)}')
rec.append('${name}-1.0.dist-info/RECORD,,')
w.writestr('${name}-1.0.dist-info/RECORD','\\n'.join(rec)+'\\n'); w.close()`,
    wheel,
  ]);
  return { name, wheel };
}

function startSshd(ns: string, dir: string, repoParent: string, pubKey: string): ChildProcess {
  const hostKey = path.join(dir, 'ssh_host_ed25519_key');
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  const authorized = path.join(dir, 'authorized_keys');
  fs.writeFileSync(authorized, pubKey);
  const conf = path.join(dir, 'sshd_config');
  fs.writeFileSync(
    conf,
    [
      'Port 22',
      'ListenAddress 0.0.0.0',
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorized}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'StrictModes no',
      'UsePAM no',
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `SetEnv GIT_DIR_PARENT=${repoParent}`,
      '',
    ].join('\n'),
  );
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const p = spawn('ip', ['netns', 'exec', ns, '/usr/sbin/sshd', '-D', '-e', '-f', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  p.stderr!.on('data', () => {});
  return p;
}

export async function startEchoInternet(base: string): Promise<EchoInternet> {
  const dir = fs.mkdtempSync(path.join(base, 'warden-echo-'));
  fs.chmodSync(dir, 0o755);
  const tokens = makeTokens();
  const aws = { id: `AKIA${crypto.randomBytes(8).toString('hex').toUpperCase().slice(0, 16)}`, secret: crypto.randomBytes(30).toString('base64').slice(0, 40) };
  const ca = makeCa(dir);
  const gitRepo = makeGit(dir);
  const npm = makeNpm(dir);
  const pypi = makeWheel(dir);
  const sshKey = path.join(dir, 'agent_key');
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'warden-test-key', '-f', sshKey]);
  const inet = await startInternet((a) => Object.fromEntries(NAMES.map((n) => [n, n === 'other.test' ? a[1]! : a[0]!])), NAMES, base, {
    script: 'echo-upstream.mjs',
    cert: { certFile: ca.certFile, keyFile: ca.keyFile },
    config: () => ({ tokens, aws, gitRoot: path.dirname(gitRepo), npm, pypi: { wheel: pypi.wheel } }),
  });
  const sshd = startSshd(inet.ns, dir, path.dirname(gitRepo), fs.readFileSync(`${sshKey}.pub`, 'utf8'));
  // sshd is ready when it accepts a connection on :22.
  for (let i = 0; i < 100; i++) {
    try {
      sh('ip', ['netns', 'exec', inet.ns, 'bash', '-c', `exec 3<>/dev/tcp/${inet.addrs[0]}/22`]);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    inet,
    caFile: ca.caFile,
    tokens,
    aws,
    gitRepo,
    sshKey,
    npmPackage: npm.name,
    pypiPackage: pypi.name,
    logs: () => inet.logs as unknown as EchoLog[],
    resolve: () => Object.fromEntries(NAMES.map((n) => [n, n === 'other.test' ? inet.addrs[1]! : inet.addrs[0]!])),
    stop: async () => {
      sshd.kill('SIGTERM');
      await inet.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
