import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeHeader, encodeHeader, frame, FrameReader } from '../../src/egress/framing.js';
import { PolicyWatch, writableHolder } from '../../src/egress/reload.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-reload-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('policy reload', () => {
  const ws = path.join(dir, 'ws');
  fs.mkdirSync(ws);

  it('knows when the sandbox could write the policy file', () => {
    expect(writableHolder(path.join(ws, 'p.yaml'), [ws])).toBe(fs.realpathSync(ws));
    expect(writableHolder(path.join(dir, 'p.yaml'), [ws])).toBeUndefined();
    fs.symlinkSync(path.join(ws, 'real.yaml'), path.join(dir, 'link.yaml'));
    fs.writeFileSync(path.join(ws, 'real.yaml'), '');
    expect(writableHolder(path.join(dir, 'link.yaml'), [ws])).toBeDefined(); // a symlink into the workspace
  });

  it('reloads allow and resolve; keeps the old list on an invalid file', async () => {
    const file = path.join(dir, 'p.yaml');
    fs.writeFileSync(file, 'network: { mode: allowlist, allow: [a.test, b.test], resolve: { a.test: 203.0.113.5 } }\n');
    const applied: Array<[string[], Record<string, string>]> = [];
    const w = new PolicyWatch({ file, writablePaths: [ws], apply: (a, r) => (applied.push([a, r]), { added: a, removed: [] }), report: () => {} });
    expect(await w.reload()).toMatchObject({ ok: true, added: ['a.test', 'b.test'] });
    expect(applied[0]).toEqual([['a.test', 'b.test'], { 'a.test': '203.0.113.5' }]);
    fs.writeFileSync(file, 'network: { mode: allowlist, allow: ["*"] }\n');
    const bad = await w.reload();
    expect(bad.ok).toBe(false);
    expect(bad.message).toMatch(/network\.allow\[0\]|network.mode: full/);
    expect(applied).toHaveLength(1);
    fs.writeFileSync(file, 'network: { mode: full }\n');
    expect((await w.reload()).message).toMatch(/needs a restart/);
  });

  it('refuses to reload a file inside a writable path', async () => {
    const file = path.join(ws, 'p.yaml');
    fs.writeFileSync(file, 'network: { mode: allowlist, allow: [a.test] }\n');
    const w = new PolicyWatch({ file, writablePaths: [ws], apply: () => ({ added: [], removed: [] }), report: () => {} });
    expect(w.start()).toBe(false);
    expect((await w.reload()).message).toMatch(/writable inside the sandbox/);
  });
});

describe('relay wire format', () => {
  it('round-trips headers and rejects anything else', () => {
    const h = { dst: '198.18.0.5', dport: 443, src: '10.255.0.2', sport: 40000 };
    expect(decodeHeader(encodeHeader(h).toString().trim())).toEqual(h);
    expect(decodeHeader('{"dst":null,"dport":null}')).toEqual({ dst: null, dport: null, src: undefined, sport: undefined });
    for (const bad of ['', 'x', '[]', '{"dst":"a b","dport":1}', '{"dst":"1.2.3.4","dport":0}', '{"dst":"1.2.3.4","dport":70000}', '{"dst":"1.2.3.4"}'])
      expect(decodeHeader(bad)).toBeUndefined();
  });

  it('reassembles frames split anywhere', () => {
    const got: string[] = [];
    const r = new FrameReader((f) => got.push(f.toString()));
    const all = Buffer.concat(['one', 'two', '', 'three'].map((s) => frame(Buffer.from(s))));
    for (let i = 0; i < all.length; i++) r.push(all.subarray(i, i + 1));
    expect(got).toEqual(['one', 'two', '', 'three']);
  });
});
