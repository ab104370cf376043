// Logic of credentials inside the egress proxy: surrogate shapes, length-preserving stream
// replacement, what one request may carry, SigV4 re-signing (AWS's published examples),
// request rules, the ssh-agent broker's checks, and what the monitor accepts from a run.
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeSurrogate } from '../../src/egress/credentials/surrogate.js';
import { partialTail, ReplaceStream } from '../../src/egress/credentials/replace.js';
import { CredentialStore } from '../../src/egress/credentials/store.js';
import { RequestCredentials } from '../../src/egress/credentials/request.js';
import { canonicalRequest, ChunkResigner, parseAuth, resign, sign } from '../../src/egress/credentials/sigv4.js';
import { isGitPush, normalisePath, pathPattern, RequestRules } from '../../src/egress/request-rules.js';
import { FlowTable, isUserauthFor, SshAgentBroker, sshSign, type BrokerKey } from '../../src/egress/credentials/ssh-agent.js';
import { Policy } from '../../src/egress/policy.js';
import { httpish, sniff } from '../../src/egress/proxy.js';
import { peerProblem, sanitize } from '../../src/sinks/ingest.js';
import type { DecisionRecorder } from '../../src/egress/record.js';

const classOf = (c: string) => (/[a-z]/.test(c) ? 'l' : /[A-Z]/.test(c) ? 'U' : /[0-9]/.test(c) ? 'd' : c);

describe('surrogates', () => {
  const samples = [
    'sk-ant-api03-' + 'aB3'.repeat(30) + '-xyzAA',
    'sk-proj-' + 'Q9z'.repeat(20),
    'ghp_' + 'A1b2C3d4E5'.repeat(3) + 'abcdef',
    'github_pat_11ABCDEFG0' + 'x'.repeat(60),
    'glpat-' + 'aBcDeFgHiJ1234567890',
    'xoxb-1234567890-0987654321-' + 'AbCdEfGhIjKlMnOpQrStUvWx',
    'AKIAIOSFODNN7EXAMPLE',
    'npm_' + 'z9Y8x7W6v5'.repeat(3) + '012345',
    'plainsecretvalue-with_dashes.and.dots',
  ];
  it.each(samples)('%s keeps prefix, length and character classes, and differs', (real) => {
    const s = makeSurrogate(real);
    expect(s).not.toBe(real);
    expect(s).toHaveLength(real.length);
    const prefix = /^(sk-ant-api03-|sk-proj-|ghp_|github_pat_|glpat-|xoxb-|AKIA|npm_)/.exec(real)?.[0] ?? '';
    expect(s.startsWith(prefix)).toBe(true);
    // GitHub/npm tokens end in a base62 checksum of the random part.
    const n = /^(ghp_|npm_)/.test(real) ? 34 : real.length;
    expect([...s.slice(0, n)].map(classOf).join('')).toBe([...real.slice(0, n)].map(classOf).join(''));
    expect(s.slice(n)).toMatch(/^[0-9A-Za-z]*$/);
  });
  it('GitHub and npm tokens get a valid CRC32 checksum', () => {
    const s = makeSurrogate('ghp_' + 'A1b2C3d4E5'.repeat(3) + 'abcdef');
    const body = s.slice(4, 34);
    let c = 0xffffffff;
    for (const ch of body) {
      c ^= ch.charCodeAt(0);
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    const want = ((c ^ 0xffffffff) >>> 0);
    const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    let n = 0;
    for (const ch of s.slice(34)) n = n * 62 + B62.indexOf(ch);
    expect(n).toBe(want);
  });
  it('a JWT keeps header and claims and gets another signature', () => {
    const h = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url');
    const p = Buffer.from(JSON.stringify({ sub: 'x', exp: 2_000_000_000 })).toString('base64url');
    const real = `${h}.${p}.${crypto.randomBytes(256).toString('base64url')}`;
    const s = makeSurrogate(real);
    const [sh, sp, ss] = s.split('.');
    expect([sh, sp]).toEqual([h, p]);
    expect(ss).toHaveLength(real.split('.')[2]!.length);
    expect(ss).not.toBe(real.split('.')[2]);
  });
  it('never equals the secret nor shares an 8-character run with it (random secrets)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{12,80}$/), (real) => {
        const s = makeSurrogate(real);
        expect(s).toHaveLength(real.length);
        expect(s).not.toBe(real);
      }),
      { numRuns: 300 },
    );
  });
  it('refuses values too short to tell apart from text', () => {
    expect(() => makeSurrogate('abc')).toThrow(/shorter than 8/);
  });
});

async function through(stream: ReplaceStream, chunks: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  stream.on('data', (d: Buffer) => out.push(d));
  const done = new Promise((r) => stream.on('end', r));
  Readable.from(chunks).pipe(stream);
  await done;
  return Buffer.concat(out);
}

describe('length-preserving replacement across chunks', () => {
  it('finds every value however the stream is cut', async () => {
    const pairs = [
      { from: Buffer.from('REALSECRET-0123456789'), to: Buffer.from('SURROGATE-9876543210'.padEnd(21, 'x')), name: 'a' },
      { from: Buffer.from('another-real-value!!'), to: Buffer.from('another-fake-value!!'), name: 'b' },
    ];
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom('xx', 'REALSECRET-0123456789', 'another-real-value!!', 'REAL', 'R', '\n'), { maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 10 }), async (parts, cuts) => {
        const text = parts.join('');
        const chunks: Buffer[] = [];
        let i = 0;
        let k = 0;
        while (i < text.length) {
          const n = cuts[k++ % cuts.length]!;
          chunks.push(Buffer.from(text.slice(i, i + n)));
          i += n;
        }
        const out = (await through(new ReplaceStream(pairs, 5), chunks)).toString();
        expect(out).toHaveLength(text.length);
        expect(out).toBe(text.split('REALSECRET-0123456789').join(pairs[0]!.to.toString()).split('another-real-value!!').join('another-fake-value!!'));
      }),
      { numRuns: 200 },
    );
  });
  it('holds back only a tail that could start a value', () => {
    const pairs = [{ from: Buffer.from('secret'), to: Buffer.from('XXXXXX'), name: 's' }];
    expect(partialTail(Buffer.from('hello sec'), pairs)).toBe(3);
    expect(partialTail(Buffer.from('hello world'), pairs)).toBe(0);
    expect(partialTail(Buffer.from('s'), pairs)).toBe(1);
  });
});

function store(): CredentialStore {
  return new CredentialStore(
    [
      { env: 'TOK', hosts: ['api.test'] },
      { env: 'QTOK', hosts: ['q.test'], query: ['key'] },
      { env: 'BTOK', hosts: ['b.test'], body: ['token'] },
    ],
    { env: { TOK: 'tok-real-0123456789abcdef', QTOK: 'qtok-real-0123456789abcdef', BTOK: 'btok-real-0123456789abcdef' } },
  );
}

describe('what one request may carry', () => {
  it('swaps a surrogate in any header toward its host over TLS, not over plain HTTP, not elsewhere', () => {
    const st = store();
    const sur = st.exposure.env.TOK!;
    const tls = new RequestCredentials(st, 'api.test', 443, true);
    expect(tls.headers(['Authorization', `Bearer ${sur}`])).toEqual(['Authorization', 'Bearer tok-real-0123456789abcdef']);
    expect(tls.tally.injected.get('TOK')).toBe(1);
    expect(new RequestCredentials(st, 'api.test', 80, false).headers(['Authorization', `Bearer ${sur}`])[1]).toBe(`Bearer ${sur}`);
    expect(new RequestCredentials(st, 'other.test', 443, true).headers(['Authorization', `Bearer ${sur}`])[1]).toBe(`Bearer ${sur}`);
  });
  it('swaps inside Basic credentials', () => {
    const st = store();
    const sur = st.exposure.env.TOK!;
    const rc = new RequestCredentials(st, 'api.test', 443, true);
    const out = rc.headers(['Authorization', `Basic ${Buffer.from(`user:${sur}`).toString('base64')}`]);
    expect(Buffer.from(out[1]!.slice(6), 'base64').toString()).toBe('user:tok-real-0123456789abcdef');
  });
  it('strips a real value sent anywhere else (headers, path, query, body) and counts it', async () => {
    const st = store();
    const rc = new RequestCredentials(st, 'other.test', 443, true);
    const sur = st.exposure.env.TOK!;
    expect(rc.headers(['X-K', 'tok-real-0123456789abcdef'])[1]).toBe(sur);
    expect(rc.target('/p/tok-real-0123456789abcdef?a=tok-real-0123456789abcdef')).toBe(`/p/${sur}?a=${sur}`);
    const body = (await through(rc.bodyStream(), [Buffer.from('x=tok-real-0123'), Buffer.from('456789abcdef')])).toString();
    expect(body).toBe(`x=${sur}`);
    rc.absorb(rc.bodyStream());
    expect(rc.tally.stripped.get('TOK')).toBe(3);
  });
  it('query parameters and body fields only where the policy names them', () => {
    const st = store();
    const q = st.exposure.env.QTOK!;
    const rc = new RequestCredentials(st, 'q.test', 443, true);
    expect(rc.target(`/x?key=${q}&other=${q}`)).toBe(`/x?key=qtok-real-0123456789abcdef&other=${q}`);
    expect(rc.headers(['Authorization', q])[1]).toBe(q); // not a header credential
    const b = st.exposure.env.BTOK!;
    const rb = new RequestCredentials(st, 'b.test', 443, true);
    expect(JSON.parse(rb.fieldBody(Buffer.from(JSON.stringify({ token: b, note: b })), 'application/json')!.toString())).toEqual({ token: 'btok-real-0123456789abcdef', note: b });
    expect(rb.fieldBody(Buffer.from(`token=${b}&note=${b}`), 'application/x-www-form-urlencoded')!.toString()).toBe(`token=btok-real-0123456789abcdef&note=${b}`);
  });
  it('re-masks responses of scoped hosts only', () => {
    const st = store();
    expect(new RequestCredentials(st, 'api.test', 443, true).scoped).toBe(true);
    expect(new RequestCredentials(st, 'other.test', 443, true).scoped).toBe(false);
    const counts = new Map<string, number>();
    const h = new RequestCredentials(st, 'api.test', 443, true).responseHeaders(['X-Echo', 'tok-real-0123456789abcdef'], counts);
    expect(h[1]).toBe(st.exposure.env.TOK);
    expect(counts.get('TOK')).toBe(1);
  });
});

describe('SigV4', () => {
  // AWS Signature Version 4 test suite, "get-vanilla".
  const suite = { secret: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', date: '20150830', region: 'us-east-1', service: 'service', amzDate: '20150830T123600Z' };
  it('signs the published get-vanilla request', () => {
    const headers = new Map([
      ['host', ['example.amazonaws.com']],
      ['x-amz-date', [suite.amzDate]],
    ]);
    const canon = canonicalRequest({ method: 'GET', target: '/', headers, payloadHash: crypto.createHash('sha256').digest('hex'), amzDate: suite.amzDate }, ['host', 'x-amz-date'], 'double', false);
    expect(sign(suite.secret, suite, suite.amzDate, canon)).toBe('5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
  });
  it('re-signs a request signed with the surrogate pair: verified, real key id, real signature', () => {
    const headers = new Map([
      ['host', ['s3.test']],
      ['x-amz-date', [suite.amzDate]],
      ['x-amz-content-sha256', ['UNSIGNED-PAYLOAD']],
    ]);
    const input = { method: 'GET', target: '/b/k%20x', headers, payloadHash: 'UNSIGNED-PAYLOAD', amzDate: suite.amzDate };
    const signed = ['host', 'x-amz-content-sha256', 'x-amz-date'];
    const a = { date: suite.date, region: 'us-east-1', service: 's3' };
    const surSig = sign('SURROGATESECRET', a, suite.amzDate, canonicalRequest(input, signed, 'single', false));
    const auth = parseAuth(`AWS4-HMAC-SHA256 Credential=AKIASURROGATE/${suite.date}/us-east-1/s3/aws4_request, SignedHeaders=${signed.join(';')}, Signature=${surSig}`, new URLSearchParams())!;
    const r = resign(auth, input, { surrogateSecret: 'SURROGATESECRET', realId: 'AKIAREAL', realSecret: 'REALSECRET' });
    expect(r.verified).toBe(true);
    expect(r.variant).toBe('single');
    expect(r.authorization).toContain('Credential=AKIAREAL/');
    expect(r.signature).toBe(sign('REALSECRET', a, suite.amzDate, canonicalRequest(input, signed, 'single', false)));
  });
  it('re-signs aws-chunked bodies (the S3 documentation example)', async () => {
    // S3 "Signature Calculations for the Authorization Header: Transferring Payload in Multiple Chunks".
    const a = { date: '20130524', region: 'us-east-1', service: 's3' };
    const seed = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9';
    const zero = '0'.repeat(64);
    const body = Buffer.concat([
      Buffer.from(`10000;chunk-signature=${zero}\r\n`),
      Buffer.alloc(65536, 'a'),
      Buffer.from(`\r\n400;chunk-signature=${zero}\r\n`),
      Buffer.alloc(1024, 'a'),
      Buffer.from(`\r\n0;chunk-signature=${zero}\r\n\r\n`),
    ]);
    const t = new ChunkResigner(seed, '20130524T000000Z', a, 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
    const out: Buffer[] = [];
    t.on('data', (d: Buffer) => out.push(d));
    const done = new Promise((r) => t.on('end', r));
    for (let i = 0; i < body.length; i += 7000) t.write(body.subarray(i, i + 7000));
    t.end();
    await done;
    const text = Buffer.concat(out).toString('latin1');
    expect(Buffer.concat(out)).toHaveLength(body.length);
    expect([...text.matchAll(/chunk-signature=([0-9a-f]{64})/g)].map((m) => m[1])).toEqual([
      'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
      '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
      'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9',
    ]);
    expect(t.chunks).toBe(3);
  });
});

describe('request rules', () => {
  it('path patterns: * one segment, ** any depth', () => {
    expect(pathPattern('/repos/acme/**').test('/repos/acme/x/y')).toBe(true);
    expect(pathPattern('/repos/acme/**').test('/repos/acme')).toBe(false);
    expect(pathPattern('/repos/*/issues').test('/repos/acme/issues')).toBe(true);
    expect(pathPattern('/repos/*/issues').test('/repos/a/b/issues')).toBe(false);
  });
  it('paths are compared after decoding and dot segments', () => {
    expect(normalisePath('/repos/%61cme/../acme/./x?q=1')).toBe('/repos/acme/x');
    expect(normalisePath('/a%2Fb')).toBe('/a%2Fb');
    expect(normalisePath('https://h.test/a/b')).toBe('/a/b');
  });
  it('git push over smart HTTP is told apart from fetch', () => {
    expect(isGitPush('/r.git/git-receive-pack', '/r.git/git-receive-pack')).toBe(true);
    expect(isGitPush('/r.git/info/refs', '/r.git/info/refs?service=git-receive-pack')).toBe(true);
    expect(isGitPush('/r.git/info/refs', '/r.git/info/refs?service=git-upload-pack')).toBe(false);
    expect(isGitPush('/r.git/git-upload-pack', '/r.git/git-upload-pack')).toBe(false);
  });
  it('decides methods, paths, denials and git, naming the rule to change', () => {
    const r = new RequestRules({ 'github.com': { methods: ['GET', 'HEAD'], paths: ['/repos/acme/**'], deny: [{ paths: ['/repos/acme/secret/**'] }] }, '*.git.test': { git: 'fetch' } });
    expect(r.decide('github.com', 'GET', '/repos/acme/x').allowed).toBe(true);
    expect(r.decide('github.com', 'POST', '/repos/acme/x')).toMatchObject({ allowed: false, reason: 'method-not-allowed', advice: expect.stringContaining('add "POST" to network.rules["github.com"].methods') });
    expect(r.decide('github.com', 'GET', '/repos/other/x')).toMatchObject({ allowed: false, reason: 'path-not-allowed' });
    expect(r.decide('github.com', 'GET', '/repos/acme/secret/k')).toMatchObject({ allowed: false, reason: 'request-denied' });
    expect(r.decide('github.com', 'GET', '/repos/%61cme/x').allowed).toBe(true);
    expect(r.decide('a.git.test', 'POST', '/r.git/git-receive-pack')).toMatchObject({ allowed: false, reason: 'git-push' });
    expect(r.decide('a.git.test', 'POST', '/r.git/git-upload-pack').allowed).toBe(true);
    expect(r.decide('elsewhere.test', 'DELETE', '/').allowed).toBe(true);
    expect(r.has('github.com') && r.has('x.git.test') && !r.has('git.test')).toBe(true);
  });
});

function sshStr(b: Buffer | string): Buffer {
  const v = Buffer.isBuffer(b) ? b : Buffer.from(b);
  const n = Buffer.alloc(4);
  n.writeUInt32BE(v.length);
  return Buffer.concat([n, v]);
}

function edKey(): BrokerKey {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'jwk' }).x!;
  const blob = Buffer.concat([sshStr('ssh-ed25519'), sshStr(Buffer.from(raw, 'base64url'))]);
  return { name: '/k', blob, comment: 'k', type: 'ed25519', fingerprint: 'SHA256:x', private: privateKey, scope: new Policy(['git.test:22']), hosts: ['git.test'] };
}

function userauth(blob: Buffer, method = 'publickey'): Buffer {
  return Buffer.concat([sshStr(crypto.randomBytes(32)), Buffer.from([50]), sshStr('git'), sshStr('ssh-connection'), sshStr(method), Buffer.from([1]), sshStr('ssh-ed25519'), sshStr(blob), ...(method === 'publickey' ? [] : [sshStr('hostkey')])]);
}

describe('ssh-agent broker', () => {
  it('signs only SSH logins for the same key', () => {
    const k = edKey();
    expect(isUserauthFor(userauth(k.blob), k.blob).ok).toBe(true);
    expect(isUserauthFor(userauth(k.blob, 'publickey-hostbound-v00@openssh.com'), k.blob).ok).toBe(true);
    expect(isUserauthFor(userauth(edKey().blob), k.blob)).toMatchObject({ ok: false, why: 'for another key' });
    expect(isUserauthFor(Buffer.from('SSHSIG\0\0\0\x04file'), k.blob).ok).toBe(false);
    const data = userauth(k.blob);
    const sig = sshSign(k, data, 0);
    const raw = sig.subarray(4 + 11 + 4);
    expect(crypto.verify(null, data, crypto.createPublicKey(k.private), raw)).toBe(true);
  });
  it('refuses while no allowed connection is open, signs while one is, and reports both', () => {
    const k = edKey();
    const flows = new FlowTable();
    const events: Array<{ kind: string; data: Record<string, unknown> }> = [];
    const record = { inside: (kind: string, f: { data: Record<string, unknown> }) => events.push({ kind, data: f.data }) } as unknown as DecisionRecorder;
    const b = new SshAgentBroker([k], flows, record);
    const req = () => {
      const body = Buffer.concat([Buffer.from([13]), sshStr(k.blob), sshStr(userauth(k.blob)), Buffer.alloc(4)]);
      return (b as unknown as { answer(m: Buffer): Buffer }).answer(body)[4];
    };
    expect(req()).toBe(5);
    const close = flows.opened('other.test', 22);
    expect(req()).toBe(5);
    const close2 = flows.opened('git.test', 22);
    expect(req()).toBe(14);
    close2();
    close();
    expect(req()).toBe(5);
    expect(events.map((e) => e.kind)).toEqual(['egress.ssh_sign_refused', 'egress.ssh_sign_refused', 'egress.ssh_sign', 'egress.ssh_sign_refused']);
    expect(events[0]!.data.reason).toBe('no-allowed-connection');
  });
});

describe('HTTP a lenient server would read is never opaque', () => {
  it.each([
    ['a leading CRLF', '\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a lower-case method', 'get / HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['the h2c preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['a request line over 8 KiB', 'GET /' + 'a'.repeat(9000)],
  ])('%s is refused', (_label, t) => {
    if (!t.startsWith('PRI')) expect(httpish(Buffer.from(t))).toBe(true);
    expect(sniff(Buffer.from(t))).toMatchObject({ kind: 'invalid', proto: 'http' });
  });
  it('ordinary protocols stay opaque', () => {
    for (const t of ['SSH-2.0-OpenSSH_9.2\r\n', 'SET key value\r\n', '*1\r\n$4\r\nPING\r\n', '\x00\x00\x00\x08\x04\xd2\x16\x2f'])
      expect(sniff(Buffer.from(t, 'latin1'))?.kind).toBe('opaque');
  });
});

describe('what the monitor accepts from a run', () => {
  const cred = { pid: process.pid, uid: 1000, gid: 1000 };
  it('its own namespaces pass', () => {
    expect(peerProblem(cred)).toBeUndefined();
    expect(peerProblem(undefined)).toMatch(/unavailable/);
  });
  it('only sandbox kinds, bound to the hello sandbox, stamped with the reporter, without agent attribution', () => {
    expect(sanitize({ kind: 'process.exec', severity: 'info' }, 's1', cred)).toBeUndefined();
    expect(sanitize({ kind: 'alert.ack', severity: 'info' }, 's1', cred)).toBeUndefined();
    const ev = sanitize({ kind: 'egress.deny', severity: 'warn', rule: 'egress.not_listed', category: 'exfiltration', mitre: ['T1041'], sandbox: { id: 'other' }, agent: { name: 'claude' }, data: { reason: 'x' } }, 's1', cred)!;
    expect(ev.sandbox).toEqual({ id: 's1' });
    expect((ev as unknown as Record<string, unknown>).agent).toBeUndefined();
    expect(ev.data).toMatchObject({ reason: 'x', reported_by: { uid: 1000, pid: process.pid } });
  });
});

describe('policy keys', () => {
  it('credentials of every source and network.rules parse into the plain specs', async () => {
    const { parseRunPolicy } = await import('../../src/config/run-policy.js');
    const p = parseRunPolicy(
      [
        'network:',
        '  mode: allowlist',
        '  allow: [api.test, "git.test:22"]',
        '  rules:',
        '    api.test: { methods: [get, HEAD], paths: ["/repos/**"], deny: [{ methods: [DELETE] }] }',
        '    "*.git.test": { git: fetch, inspect: true }',
        'credentials:',
        '  - { env: TOK, hosts: [api.test], headers: [Authorization], query: [key], body: [token] }',
        '  - { file: ~/.config/t/token, command: "pass show t", hosts: [api.test] }',
        '  - { aws: { session_token: AWS_SESSION_TOKEN }, hosts: ["*.amazonaws.com"] }',
        '  - { ssh_key: ~/.ssh/id_ed25519, hosts: [git.test] }',
        '',
      ].join('\n'),
      '/p.yaml',
    );
    expect(p.network.rules?.['api.test']).toMatchObject({ methods: ['GET', 'HEAD'], paths: ['/repos/**'] });
    expect(p.credentials).toEqual([
      { env: 'TOK', hosts: ['api.test'], headers: ['Authorization'], query: ['key'], body: ['token'] },
      { file: '~/.config/t/token', hosts: ['api.test'], command: ['/bin/sh', '-c', 'pass show t'] },
      { hosts: ['*.amazonaws.com'], aws: { accessKeyId: 'AWS_ACCESS_KEY_ID', secretAccessKey: 'AWS_SECRET_ACCESS_KEY', sessionToken: 'AWS_SESSION_TOKEN' } },
      { hosts: ['git.test'], sshKey: '~/.ssh/id_ed25519' },
    ]);
  });
  it('a bad rule host or credential host names its key', async () => {
    const { parseRunPolicy } = await import('../../src/config/run-policy.js');
    const err = (t: string) => {
      try {
        parseRunPolicy(t, '/p.yaml');
      } catch (e) {
        return e as { key?: string; line?: number };
      }
      throw new Error('no error');
    };
    expect(err('network:\n  mode: allowlist\n  rules:\n    "10.0.0.1": { inspect: true }\n').key).toBe('network.rules.10.0.0.1');
    expect(err('network: { mode: allowlist }\ncredentials:\n  - { env: T, hosts: ["*"] }\n').key).toBe('credentials[0].hosts[0]');
    expect(err('network:\n  mode: allowlist\n  rules:\n    a.test: { paths: ["no-slash"] }\n').key).toMatch(/^network\.rules/);
  });
});
