// `warden supervise`'s pieces that need no container: which zombies PID 1 reaps (only orphans
// of the command's sessions, never the command itself nor Warden's own children), the nft table
// for the container's namespace, reading privileges back from /proc, the CAP_NET_ADMIN check,
// and the health endpoint (token for /denials and /metrics, /healthz open).
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { boundPort, parseListen, startHealthServer } from '../../src/cli/supervise/health.js';
import { orphanZombies, parseStat } from '../../src/cli/supervise/reaper.js';
import { hasNetAdmin } from '../../src/egress/container.js';
import { containerRuleset } from '../../src/egress/nft.js';
import { privileges } from '../../src/sandbox/privileges.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-sv-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('reaper', () => {
  it('parses /proc/PID/stat with spaces and parentheses in the name', () => {
    expect(parseStat('4242 (a) b (c)) Z 1 4242 4242 0 -1 4194560')).toEqual({ pid: 4242, state: 'Z', ppid: 1, session: 4242 });
    expect(parseStat('garbage')).toBeUndefined();
  });

  it("reaps only zombie children of ours outside Warden's session, never the command", () => {
    const stats = [
      { pid: 10, state: 'Z', ppid: 1, session: 10 }, // the command (Node waits for it)
      { pid: 11, state: 'Z', ppid: 1, session: 10 }, // an orphan of the command's session
      { pid: 12, state: 'S', ppid: 1, session: 10 }, // alive
      { pid: 13, state: 'Z', ppid: 1, session: 1 }, // a child of Warden's own (nft, helpers): Node reaps it
      { pid: 14, state: 'Z', ppid: 11, session: 10 }, // someone else's child
      { pid: 15, state: 'Z', ppid: 1, session: 15 }, // an orphan that made its own session
    ];
    expect(orphanZombies(stats, 1, 1, new Set([10]))).toEqual([11, 15]);
  });
});

describe('container nft table', () => {
  const rules = containerRuleset({ table: 'warden_supervise', uid: 65534, proxyPort: 4000, dnsPort: 4001, guardPorts: [9464, 4000] });

  it("redirects the command's uid to the proxy and DNS responder; lets the redirect through; drops the rest", () => {
    expect(rules).toContain('meta skuid 65534 jump nat_cmd');
    expect(rules).toContain('meta skuid 65534 jump filter_cmd');
    expect(rules).toMatch(/chain nat_cmd \{\n\s+ip daddr 127\.0\.0\.0\/8 return\n\s+meta nfproto ipv4 meta l4proto tcp redirect to :4000\n\s+meta nfproto ipv4 udp dport 53 redirect to :4001/);
    // Order matters: redirected traffic first, then Warden's ports refused, loopback, drop.
    const filter = /chain filter_cmd \{\n([\s\S]*?)\n {2}\}/.exec(rules)![1]!.trim().split('\n').map((l) => l.trim());
    expect(filter).toEqual(['ct status dnat accept', 'tcp dport { 9464, 4000 } drop', 'udp dport { 9464, 4000 } drop', 'ip daddr 127.0.0.0/8 accept', 'ip6 daddr ::1 accept', 'drop']);
    // No oifname match: the output hook's chains all see the device routed before the redirect.
    expect(rules).not.toContain('oifname');
  });

  it('network none: no redirect, loopback only; refuses uid 0 and bad ports', () => {
    const none = containerRuleset({ table: 't', uid: 1000, guardPorts: [9464] });
    expect(none).not.toContain('redirect');
    expect(none).toContain('tcp dport { 9464 } drop');
    expect(() => containerRuleset({ table: 't', uid: 0, guardPorts: [] })).toThrow(/uid 0/);
    expect(containerRuleset({ table: 't', uid: 5, guardPorts: [0, 70000, 1.5] })).not.toMatch(/dport \{/);
  });
});

describe('privileges and CAP_NET_ADMIN', () => {
  const status = (capEff: string, nnp = '1') =>
    `Name:\tnode\nUid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\nGroups:\t65534 \nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t${capEff}\nCapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t${nnp}\nSeccomp:\t2\n`;

  it('reads capability sets, ids, no_new_privs and seccomp as the kernel reports them', () => {
    const p = privileges(status('0000000000001000'));
    expect(p.caps.CapEff).toBe(0x1000n);
    expect(p.caps.CapBnd).toBe(0n);
    expect(p).toMatchObject({ nnp: true, uids: [65534, 65534, 65534, 65534], groups: [65534], seccomp: 2 });
    expect(privileges(status('0', '0')).nnp).toBe(false);
  });

  it('CAP_NET_ADMIN is bit 12 of CapEff', () => {
    const f = path.join(tmp, 'status');
    fs.writeFileSync(f, status('0000000000001000'));
    expect(hasNetAdmin(f)).toBe(true);
    fs.writeFileSync(f, status('00000000a80425fb'.replace(/./g, (c, i) => (i === 13 ? '4' : c)))); // bit 12 cleared
    expect(hasNetAdmin(f)).toBe(false);
    expect(hasNetAdmin(path.join(tmp, 'missing'))).toBe(false);
  });
});

describe('health endpoint', () => {
  const get = (port: number, p: string, auth?: string) =>
    new Promise<{ code: number; body: string }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: p, headers: auth ? { authorization: auth } : {} }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ code: res.statusCode!, body }));
      }).on('error', reject);
    });

  it('parses --listen', () => {
    expect(parseListen('0.0.0.0:9464')).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(parseListen('[::]:80')).toEqual({ host: '::', port: 80 });
    expect(parseListen(':81')).toEqual({ host: '0.0.0.0', port: 81 });
    expect(() => parseListen('9464')).toThrow(/ADDRESS:PORT/);
    expect(() => parseListen('x:70000')).toThrow(/ADDRESS:PORT/);
  });

  it('/healthz is open and says 503 when not ok; /denials and /metrics need the token', async () => {
    let ok = true;
    const s = await startHealthServer(
      { host: '127.0.0.1', port: 0 },
      { health: () => ({ ok, command: 'running' }), denials: () => ({ denials: [{ host: 'x.test' }] }), metrics: async () => ({ contentType: 'text/plain', text: 'm 1\n' }) },
      'a-token-of-sixteen-chars',
    );
    try {
      const port = boundPort(s);
      expect((await get(port, '/healthz')).code).toBe(200);
      ok = false;
      expect((await get(port, '/healthz')).code).toBe(503);
      expect((await get(port, '/denials')).code).toBe(401);
      expect((await get(port, '/metrics', 'Bearer wrong')).code).toBe(401);
      const d = await get(port, '/denials', 'Bearer a-token-of-sixteen-chars');
      expect(d.code).toBe(200);
      expect(JSON.parse(d.body)).toEqual({ denials: [{ host: 'x.test' }] });
      expect((await get(port, '/metrics', 'Bearer a-token-of-sixteen-chars')).body).toBe('m 1\n');
      expect((await get(port, '/nope')).code).toBe(404);
    } finally {
      s.close();
    }
  });
});
