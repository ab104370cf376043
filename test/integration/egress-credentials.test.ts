// Credentials that never enter the sandbox, and inspection inside TLS, through `warden run`
// (the built CLI) as root and as an unprivileged user. Upstreams run in this file's own
// internet namespace (helpers/echo-internet.ts) with a test CA that only Warden is told to
// trust; every name reaches them through network.resolve pins. Each test checks both ends:
// what the upstream saw (its log) and what the client inside saw (its output).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { startEchoInternet, type EchoInternet, type EchoLog } from './helpers/echo-internet.js';
import { startWatch, type RunningWatch } from '../helpers/watch.js';
import { NOBODY, readEvents, REPO, sandboxSh, scratch, SCRATCH_BASE, type Scratch } from './helpers/warden-run.js';

let e: EchoInternet;

beforeAll(async () => {
  fs.mkdirSync(SCRATCH_BASE, { recursive: true, mode: 0o755 });
  e = await startEchoInternet(SCRATCH_BASE);
});
afterAll(async () => {
  await e?.stop();
});

const ALLOW = ['echo.test', 'other.test', 'aws.test', 'git.test', '"git.test:22"', 'registry.test', 'pypi.test', '"echo.test:8443"'];

function policyYaml(o: { rules?: string; credentials?: string; extraAllow?: string[] } = {}): string {
  const resolve = Object.entries(e.resolve())
    .map(([k, v]) => `    ${k}: ${v}`)
    .join('\n');
  return `network:
  mode: allowlist
  allow: [${[...ALLOW, ...(o.extraAllow ?? [])].join(', ')}]
  resolve:
${resolve}
  rules:
    other.test: { inspect: true }
${o.rules ?? ''}
credentials:
${
  o.credentials ??
  `  - { env: ECHO_TOKEN, hosts: [echo.test, "echo.test:8443"] }
  - { env: JWT_TOKEN, hosts: [echo.test] }
  - { env: GIT_TOKEN, hosts: [git.test] }
  - { env: NPM_TOKEN, hosts: [registry.test] }
  - { env: PYPI_TOKEN, hosts: [pypi.test] }
  - { aws: {}, hosts: [aws.test] }`
}
`;
}

function wardenEnv(s: Scratch): Record<string, string> {
  return {
    HOME: s.home,
    NODE_EXTRA_CA_CERTS: e.caFile,
    ECHO_TOKEN: e.tokens.echo,
    JWT_TOKEN: e.tokens.jwt,
    GIT_TOKEN: e.tokens.git,
    NPM_TOKEN: e.tokens.npm,
    PYPI_TOKEN: e.tokens.pypi,
    AWS_ACCESS_KEY_ID: e.aws.id,
    AWS_SECRET_ACCESS_KEY: e.aws.secret,
  };
}

/** Upstream log lines that arrived since `mark`. */
function since(mark: number): EchoLog[] {
  return e.logs().slice(mark);
}

/** The upstream's log lines reach this process through a pipe: wait (bounded) for `paths`. */
async function arrived(mark: number, paths: string[]): Promise<EchoLog[]> {
  for (let i = 0; i < 60 && !paths.every((p) => since(mark).some((l) => l.path?.startsWith(p))); i++) await new Promise((r) => setTimeout(r, 50));
  return since(mark);
}

function headerOf(l: EchoLog, name: string): string | undefined {
  return l.headers?.find(([k]) => k.toLowerCase() === name)?.[1];
}

function allText(ls: EchoLog[]): string {
  return JSON.stringify(ls);
}

function events(file: string): WardenEvent[] {
  return readEvents(file);
}

describe.each([
  ['root', undefined],
  ['rootless (unprivileged user)', NOBODY],
] as const)('credentials and inspection through warden run, %s', (_label, uid) => {
  let s: Scratch;
  beforeAll(() => {
    s = scratch(uid);
    if (uid !== undefined) {
      // Warden runs as this user: it must read the key it brokers.
      fs.chownSync(e.sshKey, uid, uid);
    }
  });
  afterAll(() => s?.cleanup());

  const run = (script: string, o: { policy?: string; audit?: string; env?: Record<string, string>; timeoutMs?: number } = {}) =>
    sandboxSh(script, { cwd: s.ws, uid, policy: s.policy(o.policy ?? policyYaml()), audit: o.audit, env: { ...wardenEnv(s), ...o.env }, timeoutMs: o.timeoutMs ?? 90_000 });

  it('surrogates have the shape of the secrets; the scoped host gets the real value, the client only ever sees the surrogate', async () => {
    const a = path.join(s.root, 'audit-scope.ndjson');
    const mark = e.logs().length;
    const r = await run(
      'printf "%s\\n%s\\n%s\\n%s\\n%s\\n" "$ECHO_TOKEN" "$JWT_TOKEN" "$GIT_TOKEN" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"; ' +
        'curl -sS -m 10 -i -H "Authorization: Bearer $ECHO_TOKEN" https://echo.test/echo-secret; echo; ' +
        'curl -sS -m 10 -H "Authorization: Bearer $ECHO_TOKEN" https://other.test/unscoped; echo; ' +
        'curl -sS -m 10 -H "Authorization: Bearer $ECHO_TOKEN" http://echo.test/plain; echo',
      { audit: a },
    );
    expect(r.code, r.stderr).toBe(0);
    const [echoS, jwtS, gitS, akid, secret] = r.stdout.split('\n') as [string, string, string, string, string];
    // Same shape, never the value.
    expect(echoS).not.toBe(e.tokens.echo);
    expect(echoS).toHaveLength(e.tokens.echo.length);
    expect(echoS.startsWith('sk-ant-api03-')).toBe(true);
    expect(gitS).toMatch(/^ghp_[A-Za-z0-9]{36}$/);
    expect(gitS).not.toBe(e.tokens.git);
    expect(akid).toMatch(/^AKIA[A-Z0-9]{16}$/);
    expect(akid).not.toBe(e.aws.id);
    expect(secret).toHaveLength(e.aws.secret.length);
    expect(secret).not.toBe(e.aws.secret);
    const [h, p, sig] = jwtS.split('.') as [string, string, string];
    expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toMatchObject({ alg: 'HS256' });
    expect(JSON.parse(Buffer.from(p, 'base64url').toString())).toMatchObject({ sub: 'agent' });
    expect(sig).not.toBe(e.tokens.jwt.split('.')[2]);
    // Nothing the client printed (bodies, echoed headers) holds a real value.
    for (const v of Object.values(e.tokens)) expect(r.stdout + r.stderr).not.toContain(v);
    expect(r.stdout + r.stderr).not.toContain(e.aws.secret);
    // The scoped host got the real value over TLS; the unscoped one and plain HTTP the surrogate.
    const seen = await arrived(mark, ['/echo-secret', '/unscoped', '/plain']);
    const scoped = seen.find((l) => l.path === '/echo-secret')!;
    expect(headerOf(scoped, 'authorization')).toBe(`Bearer ${e.tokens.echo}`);
    expect(scoped.sni).toBe('echo.test');
    const unscoped = seen.find((l) => l.path === '/unscoped')!;
    expect(headerOf(unscoped, 'authorization')).toBe(`Bearer ${echoS}`);
    const plain = seen.find((l) => l.path === '/plain')!;
    expect(headerOf(plain, 'authorization')).toBe(`Bearer ${echoS}`);
    // The echo came back re-masked in the header and in the body.
    expect(r.stdout).toContain(`x-echo-authorization: Bearer ${echoS}`);
    expect(r.stdout).toContain(`Bearer ${echoS}`);
    const ev = events(a);
    const inject = ev.find((x) => x.kind === 'egress.credential_inject');
    expect(inject?.data).toMatchObject({ credentials: { ECHO_TOKEN: 1 }, places: ['header:authorization'] });
    const remask = ev.filter((x) => x.kind === 'egress.credential_remask');
    expect(remask.length).toBeGreaterThan(0);
    expect(JSON.stringify(ev)).not.toContain(e.tokens.echo);
  });

  it('an upstream whose certificate the host does not trust is refused before any request leaves', async () => {
    const a = path.join(s.root, 'audit-untrusted.ndjson');
    const mark = e.logs().length;
    // Without the test CA in Warden's NODE_EXTRA_CA_CERTS, echo.test's certificate does not verify.
    const r = await run('curl -sS -m 10 -H "Authorization: Bearer $ECHO_TOKEN" https://echo.test/untrusted; echo rc=$?', { audit: a, env: { NODE_EXTRA_CA_CERTS: '' } });
    expect(r.stdout).toMatch(/rc=[1-9]/);
    await new Promise((res) => setTimeout(res, 300));
    expect(since(mark).some((l) => l.path === '/untrusted')).toBe(false);
    const deny = events(a).find((x) => x.kind === 'egress.deny' && x.data?.reason === 'upstream-certificate');
    expect(deny?.net?.host).toBe('echo.test');
  });

  it('a credential file appears at its own path as a surrogate file; a command can be the source', async () => {
    const a = path.join(s.root, 'audit-file.ndjson');
    const plain = s.write('home/.config/tool/token', `${e.tokens.other}\n`);
    const hidden = s.write('home/.config/tool/jwt', `${e.tokens.jwt}\n`);
    const mark = e.logs().length;
    const pol = policyYaml({
      credentials: `  - { file: ${plain}, hosts: [echo.test] }\n  - { file: ${hidden}, hosts: [echo.test], headers: [x-jwt] }\n  - { env: CMD_TOKEN, command: "printf %s ${e.tokens.git}", hosts: [echo.test] }`,
    });
    const r = await run(`T=$(cat ${plain}); J=$(cat ${hidden}); echo "$T"; echo "$J"; echo "$CMD_TOKEN"; curl -sS -m 10 -H "Authorization: Bearer $T" -H "X-Jwt: $J" -H "X-Cmd: $CMD_TOKEN" https://echo.test/file-cred >/dev/null`, { audit: a, policy: pol });
    expect(r.code, r.stderr).toBe(0);
    const [t, j, c] = r.stdout.split('\n') as [string, string, string];
    expect(t).not.toBe(e.tokens.other);
    expect(t).toHaveLength(e.tokens.other.length);
    expect(t.startsWith('sk-')).toBe(true);
    expect(j.split('.')).toHaveLength(3);
    expect(j).not.toBe(e.tokens.jwt);
    expect(c).toMatch(/^ghp_[A-Za-z0-9]{36}$/);
    expect(c).not.toBe(e.tokens.git);
    const seen = (await arrived(mark, ['/file-cred'])).find((l) => l.path === '/file-cred')!;
    expect(headerOf(seen, 'authorization')).toBe(`Bearer ${e.tokens.other}`);
    expect(headerOf(seen, 'x-jwt')).toBe(e.tokens.jwt);
    expect(headerOf(seen, 'x-cmd')).toBe(e.tokens.git);
    // The real file is untouched on the host.
    expect(fs.readFileSync(plain, 'utf8')).toBe(`${e.tokens.other}\n`);
  });

  it('a real value that reached the sandbox anyway is stripped toward other hosts and over plain HTTP, and is an alert', async () => {
    const a = path.join(s.root, 'audit-strip.ndjson');
    const leak = s.write('ws/leaked.txt', e.tokens.echo);
    const mark = e.logs().length;
    const r = await run(
      `T=$(cat ${leak}); curl -sS -m 10 -H "X-Key: $T" https://other.test/leak-tls; echo; curl -sS -m 10 "http://echo.test/leak-plain?k=$T"; echo; curl -sS -m 10 --data "k=$T" https://other.test/leak-body`,
      { audit: a },
    );
    expect(r.code, r.stderr).toBe(0);
    const seen = allText(await arrived(mark, ['/leak-tls', '/leak-plain', '/leak-body']));
    expect(seen).not.toContain(e.tokens.echo);
    expect(seen).toContain('/leak-tls');
    expect(seen).toContain('/leak-plain');
    const strips = events(a).filter((x) => x.kind === 'egress.credential_strip');
    expect(strips.length).toBeGreaterThanOrEqual(3);
    expect(strips.every((x) => x.severity === 'alert' && x.rule === 'egress.credential_leak')).toBe(true);
    expect(strips.map((x) => x.net?.host).sort()).toEqual(['echo.test', 'other.test', 'other.test']);
  });

  it('a JWT, AWS SigV4 (header, unhashed body, aws-chunked streaming), HTTP/2 and WebSocket: upstream gets real, client sees surrogates', async () => {
    const a = path.join(s.root, 'audit-kinds.ndjson');
    const ws = s.write(
      'ws/ws.cjs',
      `const WebSocket = require(${JSON.stringify(path.join(REPO, 'node_modules/ws'))});
const ws = new WebSocket('wss://echo.test:8443/socket', { headers: { Authorization: 'Bearer ' + process.env.ECHO_TOKEN } });
ws.on('open', () => ws.send('hello ' + process.env.ECHO_TOKEN));
ws.on('message', (m) => { console.log('WS ' + String(m)); ws.close(); });
ws.on('error', (e) => { console.log('WS-ERR ' + e.message); process.exit(1); });`,
    );
    const mark = e.logs().length;
    const r = await run(
      `curl -sS -m 10 -H "Authorization: Bearer $JWT_TOKEN" https://echo.test/jwt; echo; ` +
        `curl -sS -m 10 --http2 -H "Authorization: Bearer $ECHO_TOKEN" https://echo.test/h2; echo; ` +
        `curl -sS -m 10 --http2 -H "Host: other.test" https://echo.test/h2-front; echo; ` +
        `python3 ${path.join(REPO, 'test/fixtures/egress/aws_client.py')}; node ${ws}`,
      { audit: a },
    );
    expect(r.code, r.stderr).toBe(0);
    const seen = await arrived(mark, ['/jwt', '/h2', '/aws/bucket/stream.bin', '/socket']);
    expect(headerOf(seen.find((l) => l.path === '/jwt')!, 'authorization')).toBe(`Bearer ${e.tokens.jwt}`);
    const h2 = seen.find((l) => l.path === '/h2')!;
    expect(h2.proto).toBe('h2');
    expect(headerOf(h2, 'authorization')).toBe(`Bearer ${e.tokens.echo}`);
    expect(r.stdout).toMatch(/"proto":"h2"/);
    // Per request on HTTP/2 too: an :authority naming another host never leaves.
    expect(r.stdout).toContain('Warden egress denied GET echo.test/h2-front');
    expect(seen.some((l) => l.path === '/h2-front')).toBe(false);
    // The upstream's own SigV4 verifier accepted all three with the REAL keys.
    const aws = r.stdout.split('\n').filter((l) => l.startsWith('{"path": "/aws')).map((l) => JSON.parse(l) as { status: number; answer: string });
    expect(aws).toHaveLength(3);
    for (const x of aws) expect(x.status, x.answer).toBe(200);
    expect(aws[2]!.answer).toContain('"streamed":150000');
    expect(allText(seen)).not.toContain(e.aws.secret);
    // WebSocket: upgrade carried the real token, the echoed frames came back re-masked.
    expect(headerOf(seen.find((l) => l.srv === 'ws')!, 'authorization')).toBe(`Bearer ${e.tokens.echo}`);
    expect(r.stdout).toMatch(/WS \{"got":"hello sk-ant-api03-/);
    for (const v of [e.tokens.echo, e.tokens.jwt, e.aws.secret, e.aws.id]) expect(r.stdout).not.toContain(v);
    const ev = events(a);
    const resign = ev.filter((x) => x.kind === 'egress.credential_resign');
    expect(resign.map((x) => x.data?.service)).toEqual(['s3', 'sts', 's3']);
    expect(resign.every((x) => x.data?.verified === true)).toBe(true);
    expect(resign[2]!.data).toMatchObject({ streaming: true, chunks: 4 });
    expect(ev.some((x) => x.kind === 'egress.deny' && x.data?.reason === 'host-mismatch' && x.net?.host === 'echo.test')).toBe(true);
    expect(JSON.stringify(ev)).not.toContain(e.aws.secret);
  });

  it('request rules per host: methods and paths, denials the agent can read; git fetch works and push is refused over smart HTTP', async () => {
    const a = path.join(s.root, 'audit-rules.ndjson');
    const before = gitHead();
    const mark = e.logs().length;
    const pol = policyYaml({ rules: '    echo.test: { methods: [GET, HEAD], paths: ["/allowed/**"], deny: [{ paths: ["/allowed/secret/**"] }] }\n    git.test: { git: fetch }' });
    const r = await run(
      `curl -sS -m 10 https://echo.test/allowed/x; echo; curl -sS -m 10 -X POST https://echo.test/allowed/x; echo; ` +
        `curl -sS -m 10 https://echo.test/elsewhere; echo; curl -sS -m 10 https://echo.test/allowed/secret/k; echo; ` +
        `curl -sS -m 10 http://echo.test/elsewhere-plain; echo; ` +
        `git clone -q https://x-access-token:$GIT_TOKEN@git.test/repo.git c && cd c && echo y > y && git -c user.name=a -c user.email=a@a add y && git -c user.name=a -c user.email=a@a commit -qm y && git push origin HEAD:main; echo push-rc=$?`,
      { audit: a, policy: pol },
    );
    expect(r.stdout).toContain('"path":"/allowed/x"');
    expect(r.stdout).toContain('to allow it, add "POST" to network.rules["echo.test"].methods');
    expect(r.stdout).toContain('to allow it, add "/elsewhere" to network.rules["echo.test"].paths');
    expect(r.stdout).toContain('matches an entry of network.rules["echo.test"].deny');
    expect(r.stdout).toContain('Warden egress denied GET echo.test/elsewhere-plain');
    expect(r.stdout).toMatch(/push-rc=[1-9]/);
    expect(r.stderr).toContain('git push is refused for git.test');
    const seen = await arrived(mark, ['/repo.git/info/refs']);
    expect(seen.some((l) => l.path === '/allowed/x' && l.method === 'GET')).toBe(true);
    expect(seen.some((l) => l.method === 'POST' && l.path === '/allowed/x')).toBe(false);
    expect(seen.some((l) => ['/elsewhere', '/allowed/secret/k', '/elsewhere-plain'].includes(l.path!))).toBe(false);
    expect(seen.some((l) => l.path?.includes('git-receive-pack'))).toBe(false);
    expect(seen.some((l) => l.path === '/repo.git/git-upload-pack')).toBe(true); // the clone (fetch) went through
    expect(gitHead()).toBe(before);
    const reasons = events(a).filter((x) => x.kind === 'egress.deny').map((x) => x.data?.reason);
    expect(reasons).toEqual(expect.arrayContaining(['method-not-allowed', 'path-not-allowed', 'request-denied', 'git-push']));
    // With git: push the same push lands.
    const r2 = await run(
      `git clone -q https://x-access-token:$GIT_TOKEN@git.test/repo.git c2 && cd c2 && echo z > z-${uid ?? 0} && git -c user.name=a -c user.email=a@a add . && git -c user.name=a -c user.email=a@a commit -qm pushed-over-https && git push -q origin HEAD:main && echo pushed`,
      { policy: policyYaml({ rules: '    git.test: { git: push }' }) },
    );
    expect(r2.stdout + r2.stderr).toContain('pushed');
    expect(gitLog()).toContain('pushed-over-https');
  });

  it('plain HTTP keep-alive: every request is checked; framing Warden cannot parse is refused, not forwarded', async () => {
    const a = path.join(s.root, 'audit-keepalive.ndjson');
    const probe = s.write(
      'ws/keepalive.py',
      `import socket
def conn(first):
  s = socket.create_connection(("echo.test", 80), timeout=5); s.sendall(first); return s
def read(s):
  s.settimeout(3); out = b""
  try:
    while True:
      d = s.recv(65536)
      if not d: break
      out += d
      if out.count(b"HTTP/1.1 ") >= 2 or b"X-Warden-Deny" in out or b"x-warden-deny" in out: break
  except Exception: pass
  return out
s = conn(b"GET /ka-1 HTTP/1.1\\r\\nHost: echo.test\\r\\n\\r\\nGET /ka-2 HTTP/1.1\\r\\nHost: other.test\\r\\n\\r\\n")
print("PIPELINED", read(s).decode("latin1").replace("\\r", "").replace("\\n", " | ")[:4000])
for name, raw in [("crlf", b"\\r\\nGET /ka-crlf HTTP/1.1\\r\\nHost: other.test\\r\\n\\r\\n"),
                  ("lower", b"get /ka-lower HTTP/1.1\\r\\nHost: other.test\\r\\n\\r\\n"),
                  ("h2c", b"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n"),
                  ("long", b"GET /ka-long" + b"a" * 9000 + b" HTTP/1.1\\r\\nHost: other.test\\r\\n\\r\\n"),
                  ("cl-te", b"POST /ka-smuggle HTTP/1.1\\r\\nHost: echo.test\\r\\nContent-Length: 4\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\nGET /ka-smuggled HTTP/1.1\\r\\nHost: other.test\\r\\n\\r\\n")]:
  try:
    s = conn(raw); print(name.upper(), read(s).decode("latin1")[:60].replace("\\r", "").replace("\\n", " | "))
  except Exception as e: print(name.upper(), "FAIL", type(e).__name__)
`,
    );
    const mark = e.logs().length;
    const r = await run(`python3 ${probe}`, { audit: a });
    expect(r.code, r.stderr).toBe(0);
    const lines = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]));
    expect(lines.PIPELINED).toContain('"path":"/ka-1"');
    expect(lines.PIPELINED).toMatch(/403 Forbidden/);
    for (const k of ['CRLF', 'LOWER', 'H2C', 'LONG', 'CL-TE']) expect(lines[k], k).not.toContain('200 OK');
    await arrived(mark, ['/ka-1']);
    await new Promise((res) => setTimeout(res, 300));
    const paths = since(mark).map((l) => l.path);
    expect(paths).toContain('/ka-1');
    for (const p of ['/ka-2', '/ka-crlf', '/ka-lower', '/ka-smuggle', '/ka-smuggled']) expect(paths).not.toContain(p);
    expect(paths.some((p) => p?.startsWith('/ka-long'))).toBe(false);
    const reasons = events(a).filter((x) => x.kind === 'egress.deny').map((x) => x.data?.reason);
    expect(reasons).toEqual(expect.arrayContaining(['host-mismatch', 'bad-http']));
  });

  it('git over ssh through the agent broker: push works, only the public key is inside, other signatures are refused', async () => {
    const a = path.join(s.root, 'audit-ssh.ndjson');
    const before = gitLog();
    const key = e.sshKey;
    const pol = policyYaml({ credentials: `  - { ssh_key: ${key}, hosts: [git.test] }` });
    const sign = s.write(
      'ws/sign.py',
      `import os, socket, struct
def s(b): return struct.pack(">I", len(b)) + b
a = socket.socket(socket.AF_UNIX); a.connect(os.environ["SSH_AUTH_SOCK"])
a.sendall(struct.pack(">IB", 1, 11)); n = struct.unpack(">I", a.recv(4))[0]; ids = a.recv(n)
blob = ids[9:9 + struct.unpack(">I", ids[5:9])[0]]
data = s(os.urandom(32)) + bytes([50]) + s(b"root") + s(b"ssh-connection") + s(b"publickey") + b"\\x01" + s(b"ssh-ed25519") + s(blob)
m = bytes([13]) + s(blob) + s(data) + struct.pack(">I", 0)
a.sendall(struct.pack(">I", len(m)) + m); n = struct.unpack(">I", a.recv(4))[0]; print("LOGIN-SIGN-WITHOUT-CONNECTION", a.recv(n)[0])
`,
    );
    const r = await run(
      `export GIT_SSH_COMMAND='ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR'; ` +
        `ssh-add -L; grep -qs PRIVATE ${key} && echo KEY-READABLE; python3 ${sign}; echo data > d.txt; ssh-add -L > k.pub; ssh-keygen -Y sign -n file -f k.pub d.txt >/dev/null 2>&1; echo sshsig-rc=$?; ` +
        `git clone -q ssh://root@git.test${e.gitRepo} sc && cd sc && echo s > s-${uid ?? 0} && git -c user.name=a -c user.email=a@a add . && git -c user.name=a -c user.email=a@a commit -qm pushed-over-ssh-${uid ?? 0} && git push -q origin HEAD:main && echo SSH-PUSHED`,
      { audit: a, policy: pol },
    );
    expect(r.stdout, r.stderr).toContain('SSH-PUSHED');
    expect(gitLog()).toContain(`pushed-over-ssh-${uid ?? 0}`);
    expect(gitLog()).not.toBe(before);
    expect(r.stdout).toContain(fs.readFileSync(`${key}.pub`, 'utf8').split(' ').slice(0, 2).join(' '));
    expect(r.stdout).not.toContain('KEY-READABLE');
    expect(r.stdout).not.toContain('PRIVATE KEY');
    expect(r.stdout).toContain('LOGIN-SIGN-WITHOUT-CONNECTION 5'); // SSH_AGENT_FAILURE
    expect(r.stdout).toMatch(/sshsig-rc=[1-9]/);
    const ev = events(a);
    expect(ev.filter((x) => x.kind === 'egress.ssh_sign').length).toBeGreaterThan(0);
    const refused = ev.filter((x) => x.kind === 'egress.ssh_sign_refused').map((x) => x.data?.reason);
    expect(refused).toEqual(expect.arrayContaining(['no-allowed-connection']));
    expect(refused.some((x) => x === 'not-userauth' || x === 'malformed')).toBe(true);
  });

  it('real clients inside: curl, Node fetch, Python requests, git, npm and pip against local stubs, with tokens they never see', async () => {
    const a = path.join(s.root, 'audit-clients.ndjson');
    // An .npmrc is a secret file the sandbox hides; npm reads this one through npm_config_userconfig.
    const npmrc = s.write('ws/npm-probe.rc', 'registry=https://registry.test/\n//registry.test/:_authToken=${NPM_TOKEN}\n');
    s.write('ws/package.json', JSON.stringify({ name: 'probe-app', version: '1.0.0', private: true }));
    const mark = e.logs().length;
    const r = await run(
      `export npm_config_cache=$PWD/.npm-cache npm_config_userconfig=${npmrc} PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1; ` +
        `node -e 'fetch("https://echo.test/node-fetch",{headers:{authorization:"Bearer "+process.env.ECHO_TOKEN}}).then(r=>r.json()).then(j=>console.log("FETCH", j.path))'; ` +
        `python3 -c 'import os,requests; r=requests.get("https://echo.test/py-requests", headers={"Authorization":"Bearer "+os.environ["ECHO_TOKEN"]}); print("REQUESTS", r.status_code)'; ` +
        `npm install --no-audit --no-fund --loglevel=error ${e.npmPackage} && node -e 'console.log("NPM", require("${e.npmPackage}"))'; ` +
        `python3 -m pip install -q --target ./pylib --index-url "https://__token__:$PYPI_TOKEN@pypi.test/simple" ${e.pypiPackage} && PYTHONPATH=./pylib python3 -c 'import ${e.pypiPackage}; print("PIP", ${e.pypiPackage}.VALUE)'; ` +
        `git ls-remote https://x-access-token:$GIT_TOKEN@git.test/repo.git | head -1 | sed "s/^/GIT /"`,
      { audit: a, timeoutMs: 150_000 },
    );
    expect(r.stdout, r.stderr).toContain('FETCH /node-fetch');
    expect(r.stdout).toContain('REQUESTS 200');
    expect(r.stdout, r.stderr.slice(-1500)).toContain('NPM probe ok');
    expect(r.stdout).toContain('PIP wheel ok');
    expect(r.stdout).toMatch(/GIT [0-9a-f]{40}/);
    const seen = await arrived(mark, ['/node-fetch', '/py-requests']);
    const auth = (p: string) => headerOf(seen.find((l) => l.path?.startsWith(p))!, 'authorization');
    expect(auth('/node-fetch')).toBe(`Bearer ${e.tokens.echo}`);
    expect(auth('/py-requests')).toBe(`Bearer ${e.tokens.echo}`);
    expect(auth(`/${e.npmPackage}`)).toBe(`Bearer ${e.tokens.npm}`);
    expect(Buffer.from(auth('/simple/')!.slice(6), 'base64').toString()).toBe(`__token__:${e.tokens.pypi}`);
    const ev = events(a);
    const injected = new Set(ev.filter((x) => x.kind === 'egress.credential_inject').flatMap((x) => Object.keys((x.data?.credentials as object) ?? {})));
    expect([...injected].sort()).toEqual(['ECHO_TOKEN', 'GIT_TOKEN', 'NPM_TOKEN', 'PYPI_TOKEN']);
    const text = fs.readFileSync(a, 'utf8');
    for (const v of Object.values(e.tokens)) expect(text).not.toContain(v);
  });
});

describe('the sandbox\'s decisions reach a running warden watch', () => {
  let s: Scratch;
  let w: RunningWatch;
  let ingest: string;
  beforeAll(async () => {
    s = scratch(NOBODY);
    // The monitor's sockets where a sandbox could see them: the namespace check must hold on its own.
    const api = path.join(s.root, 'mon', 'warden.sock');
    fs.mkdirSync(path.dirname(api), { recursive: true, mode: 0o700 });
    const cfg = s.policy(`api: { socket: ${api} }\n`);
    w = await startWatch(['--config', cfg]);
    ingest = path.join(path.dirname(api) + '-ingest', 'ingest.sock');
    for (let i = 0; i < 100 && !fs.existsSync(ingest); i++) await new Promise((r) => setTimeout(r, 50));
  });
  afterAll(async () => {
    await w?.stop();
    s?.cleanup();
  });

  it('a separate warden run (another user) feeds its egress and credential events; the confined command cannot forge any', async () => {
    expect(fs.statSync(ingest).mode & 0o777).toBe(0o666);
    const forge = s.write(
      'ws/forge.py',
      `import json, socket
out = []
for note in ["first", "second"]:
  try:
    c = socket.socket(socket.AF_UNIX); c.connect(${JSON.stringify(ingest)})
    c.sendall((json.dumps({"hello": {"sandbox": "forged-sbx"}}) + "\\n" + json.dumps({"kind": "egress.allow", "severity": "info", "message": "FORGED " + note, "net": {"host": "evil.test"}}) + "\\n").encode())
    c.settimeout(3); out.append(c.recv(200).decode()[:80])
  except Exception as e: out.append("FAIL " + type(e).__name__)
print("FORGE", out)
`,
    );
    const pol = policyYaml({ extraAllow: [] }).replace('  mode: allowlist', '  mode: allowlist\n  unix_sockets: true');
    const r = await sandboxSh(`curl -sS -m 10 -H "Authorization: Bearer $ECHO_TOKEN" https://echo.test/fed-to-monitor >/dev/null && echo CURL-OK; python3 ${forge}`, {
      cwd: s.ws,
      uid: NOBODY,
      policy: s.policy(pol),
      env: { ...wardenEnv(s), WARDEN_MONITOR_INGEST: ingest },
      timeoutMs: 90_000,
    });
    expect(r.stdout, r.stderr).toContain('CURL-OK');
    const inject = await w.waitFor((x) => x.kind === 'egress.credential_inject' && x.net?.host === 'echo.test', 20_000, 'credential event from the run');
    expect(inject.sandbox?.id).toBeTruthy();
    expect(inject.data?.reported_by).toMatchObject({ uid: NOBODY });
    await w.waitFor((x) => x.kind === 'sandbox.exit' && x.sandbox?.id === inject.sandbox?.id, 20_000, 'sandbox.exit');
    const mine = w.events().filter((x) => x.sandbox?.id === inject.sandbox?.id);
    expect(mine.some((x) => x.kind === 'egress.allow' && x.net?.host === 'echo.test')).toBe(true);
    expect(mine.some((x) => x.kind === 'net.dns')).toBe(true);
    // The confined command reached the socket (unix_sockets: true) and was refused by namespace.
    expect(r.stdout).toMatch(/FORGE .*another (pid|user) namespace/);
    await w.waitFor((x) => x.kind === 'monitor.ingest_refused', 10_000, 'monitor.ingest_refused');
    expect(w.events().some((x) => x.message?.includes('FORGED') || x.sandbox?.id === 'forged-sbx')).toBe(false);
  });
});

function gitLog(): string {
  return execFileSync('git', ['-C', e.gitRepo, 'log', '--oneline', 'main'], { encoding: 'utf8' });
}

function gitHead(): string {
  return execFileSync('git', ['-C', e.gitRepo, 'rev-parse', 'main'], { encoding: 'utf8' }).trim();
}
