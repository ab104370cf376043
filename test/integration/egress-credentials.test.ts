// Credentials that never enter the sandbox, and inspection inside TLS, through `warden run`
// (the built CLI) as root and as an unprivileged user. Upstreams run in this file's own
// internet namespace (helpers/echo-internet.ts) with a test CA that only Warden is told to
// trust; every name reaches them through network.resolve pins. Each test checks both ends:
// what the upstream saw (its log) and what the client inside saw (its output).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { startEchoInternet, type EchoInternet, type EchoLog } from './helpers/echo-internet.js';
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
});
