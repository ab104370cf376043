import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.js';
import type { UnstampedEvent, WardenEvent } from '../../src/events/types.js';
import { loadRuleEngine, type RuleEngine } from '../../src/rules/index.js';

function engine(text: string, opts: { networkAllow?: string[]; extra?: string; disable?: string[] } = {}): RuleEngine {
  const sources = [{ file: 'base.yaml', text }];
  if (opts.extra) sources.push({ file: 'user.yaml', text: opts.extra });
  return loadRuleEngine({ defaults: false, sources, networkAllow: opts.networkAllow, disable: opts.disable });
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

const AGENT = { name: 'claude', root_pid: 100, session: 's1', cwd: '/home/dev/proj', home: '/home/dev' };

function ev(kind: string, extra: Partial<UnstampedEvent> = {}, argv = ['cat']): UnstampedEvent {
  return {
    ts: '2026-01-01T00:00:00.000Z',
    kind,
    severity: 'info',
    agent: { ...AGENT },
    proc: { pid: 200, ppid: 100, exe: `/usr/bin/${argv[0]}`, argv, cwd: '/home/dev/proj', uid: 1000 },
    ...extra,
  };
}

function run(e: RuleEngine, events: UnstampedEvent[]): WardenEvent[] {
  const out: WardenEvent[] = [];
  let seq = 0;
  for (const x of events) e.process(x, (o) => {
    (o as WardenEvent).seq = ++seq;
    out.push(o as WardenEvent);
  });
  return out;
}

const SECRET_RULE = `
lists:
  - name: key_readers
    items: [ssh, ssh-add]
macros:
  - name: is_read
    condition: file.op == "read"
rules:
  - id: secret_read
    description: a secret was read
    kinds: [file.open]
    condition: is_read && file.path.under(secret_paths)
    severity: alert
    category: credential_access
    mitre: [T1552.001]
    output: "read %file.path by %proc.cmdline"
    exceptions:
      - name: ssh_tools
        fields: [proc.name, file.path]
        comps: [in, under]
        values:
          - [key_readers, "~/.ssh"]
  - id: any_read
    description: any read in /home
    kinds: [file.open]
    condition: file.path.startsWith("/home/")
    severity: info
`;

describe('rule language', () => {
  it('matches with lists, macros, built-in path lists and ~ expansion, and renders the output', () => {
    const e = engine(SECRET_RULE);
    const [a] = run(e, [ev('file.open', { file: { path: '/home/dev/.aws/credentials', op: 'read' } })]);
    expect(a!.severity).toBe('alert');
    expect(a!.rule).toBe('secret_read');
    expect(a!.category).toBe('credential_access');
    expect(a!.mitre).toEqual(['T1552.001']);
    expect(a!.message).toBe('read /home/dev/.aws/credentials by cat');
    expect(a!.also).toEqual(['any_read']);
  });

  it('matches ~ against agent.home, /root and /home/* even for another user', () => {
    const e = engine(SECRET_RULE);
    const tmpHome = { ...AGENT, home: '/tmp/h123' };
    const out = run(e, [
      ev('file.open', { agent: tmpHome, file: { path: '/tmp/h123/.ssh/id_rsa', op: 'read' } }),
      ev('file.open', { agent: tmpHome, file: { path: '/root/.netrc', op: 'read' } }),
      ev('file.open', { agent: tmpHome, file: { path: '/home/alice/.aws/config', op: 'read' } }),
      ev('file.open', { agent: tmpHome, file: { path: '/tmp/h123/project/.sshx', op: 'read' } }),
    ]);
    expect(out.map((o) => o.rule ?? null)).toEqual(['secret_read', 'secret_read', 'secret_read', null]);
  });

  it('applies exceptions as tuples', () => {
    const e = engine(SECRET_RULE);
    const out = run(e, [
      ev('file.open', { file: { path: '/home/dev/.ssh/id_rsa', op: 'read' } }, ['ssh', 'host']),
      ev('file.open', { file: { path: '/home/dev/.aws/credentials', op: 'read' } }, ['ssh', 'host']),
      ev('file.open', { file: { path: '/home/dev/.ssh/id_rsa', op: 'read' } }, ['cp']),
    ]);
    expect(out.map((o) => o.severity)).toEqual(['info', 'alert', 'alert']);
  });

  it('leaves unmatched events at info without verdict fields', () => {
    const e = engine(SECRET_RULE);
    const [a] = run(e, [ev('net.connect', { net: { proto: 'tcp', dst_ip: '1.1.1.1', dst_port: 443 } })]);
    expect(a!.severity).toBe('info');
    expect(a!.rule).toBeUndefined();
    expect(a!.category).toBeUndefined();
    expect(a!.also).toBeUndefined();
  });

  it('downgrades known_safe_for agents to info but keeps the rule name', () => {
    const e = engine(`
rules:
  - id: env_read
    kinds: [file.open]
    condition: file.name == ".env"
    severity: warn
    category: credential_access
    mitre: [T1552.001]
    known_safe_for: [aider]
`);
    const out = run(e, [
      ev('file.open', { file: { path: '/home/dev/proj/.env', op: 'read' } }),
      ev('file.open', { agent: { ...AGENT, name: 'aider' }, file: { path: '/home/dev/proj/.env', op: 'read' } }),
    ]);
    expect(out[0]!.severity).toBe('warn');
    expect(out[1]!.severity).toBe('info');
    expect(out[1]!.rule).toBe('env_read');
  });

  it('lets a user file append to a condition, append exception values, replace keys, add and disable rules', () => {
    const user = `
lists:
  - name: key_readers
    items: [git]
    override: { items: append }
rules:
  - id: secret_read
    condition: '!file.path.endsWith(".pub")'
    exceptions:
      - name: ssh_tools
        values:
          - [[cp], "~/.aws"]
    severity: warn
    override: { condition: append, exceptions: append, severity: replace }
  - id: any_read
    enabled: false
  - id: my_rule
    kinds: [process.exec]
    condition: proc.name == "nmap"
    severity: alert
    category: discovery
    mitre: [T1046]
`;
    const e = engine(SECRET_RULE, { extra: user });
    const out = run(e, [
      ev('file.open', { file: { path: '/home/dev/.ssh/id_rsa.pub', op: 'read' } }),
      ev('file.open', { file: { path: '/home/dev/.ssh/id_rsa', op: 'read' } }, ['git']),
      ev('file.open', { file: { path: '/home/dev/.aws/x', op: 'read' } }, ['cp']),
      ev('file.open', { file: { path: '/home/dev/.gnupg/k', op: 'read' } }),
      ev('process.exec', {}, ['nmap', '-sS']),
    ]);
    expect(out.map((o) => `${o.severity}:${o.rule ?? ''}`)).toEqual(['info:', 'info:', 'info:', 'warn:secret_read', 'alert:my_rule']);
    const info = e.rules().find((r) => r.id === 'any_read')!;
    expect(info.enabled).toBe(false);
    expect(info.source).toBe('base.yaml:23');
  });

  it('replaces a rule entirely with replace: true', () => {
    const e = engine(SECRET_RULE, {
      extra: `
rules:
  - id: secret_read
    replace: true
    kinds: [process.exec]
    condition: proc.name == "gpg"
    severity: warn
    category: credential_access
    mitre: [T1555]
`,
    });
    const out = run(e, [ev('file.open', { file: { path: '/home/dev/.aws/credentials', op: 'read' } }), ev('process.exec', {}, ['gpg'])]);
    expect(out.map((o) => o.rule ?? null)).toEqual(['any_read', 'secret_read']);
    expect(out[1]!.severity).toBe('warn');
  });

  it('disables rules by id or pattern from options', () => {
    const e = engine(SECRET_RULE, { disable: ['secret_*'] });
    const [a] = run(e, [ev('file.open', { file: { path: '/home/dev/.aws/credentials', op: 'read' } })]);
    expect(a!.rule).toBe('any_read');
    expect(() => engine(SECRET_RULE, { disable: ['nope'] })).toThrow(/no rule matches "nope"/);
  });

  it('exposes network.allow as the list network_allow for destIn()', () => {
    const e = engine(
      `
rules:
  - id: egress
    kinds: [net.connect]
    condition: '!destIn(net, network_allow)'
    severity: warn
    category: command_and_control
    mitre: [T1071]
`,
      { networkAllow: ['github.com', '*.example.org', '10.0.0.0/8', 'pypi.org:443'] },
    );
    const c = (host: string | undefined, ip: string, port = 443) =>
      ev('net.connect', { net: { proto: 'tcp', dst_ip: ip, dst_port: port, ...(host ? { host } : {}) } });
    const out = run(e, [
      c('github.com', '1.2.3.4'),
      c('api.example.org', '1.2.3.5'),
      c('example.org', '1.2.3.6'),
      c(undefined, '10.1.2.3'),
      c('pypi.org', '1.2.3.7', 443),
      c('pypi.org', '1.2.3.7', 80),
    ]);
    expect(out.map((o) => o.severity)).toEqual(['info', 'info', 'warn', 'info', 'info', 'warn']);
    expect(() => engine('rules: []', { networkAllow: ['bad host!'] })).toThrow(/network.allow\[0\]/);
  });

  it('treats absent fields as false in comparisons (Falco semantics) and has() as presence', () => {
    const e = engine(`
rules:
  - id: no_mode
    kinds: [file.chmod]
    condition: '!(file.mode == 420) && !has(file.mode)'
    severity: info
`);
    const out = run(e, [ev('file.chmod', { file: { path: '/x', op: 'chmod' } }), ev('file.chmod', { file: { path: '/x', op: 'chmod', mode: 420 } })]);
    expect(out.map((o) => o.rule ?? null)).toEqual(['no_mode', null]);
  });

  it('highest severity wins, ties go to the first rule, the others are in also', () => {
    const e = engine(`
rules:
  - id: a_warn
    kinds: [process.exec]
    condition: proc.name == "curl"
    severity: warn
    category: command_and_control
    mitre: [T1071]
  - id: b_alert
    kinds: [process.exec]
    condition: proc.name == "curl"
    severity: alert
    category: exfiltration
    mitre: [T1048]
  - id: c_alert
    kinds: [process.exec]
    condition: proc.name == "curl"
    severity: alert
    category: execution
    mitre: [T1059]
`);
    const [a] = run(e, [ev('process.exec', {}, ['curl'])]);
    expect(a!.rule).toBe('b_alert');
    expect(a!.category).toBe('exfiltration');
    expect(a!.also).toEqual(['a_warn', 'c_alert']);
  });

  it('keeps a severity the sensor set when no rule raises it', () => {
    const e = engine(`
rules:
  - id: note
    kinds: [monitor.loss]
    condition: "true"
    severity: info
`);
    const [a] = run(e, [{ ts: '2026-01-01T00:00:00.000Z', kind: 'monitor.loss', severity: 'warn', data: { lost: 3 } }]);
    expect(a!.severity).toBe('warn');
    expect(a!.rule).toBeUndefined();
    expect(a!.also).toEqual(['note']);
  });
});

describe('rule errors', () => {
  it('names file, line and rule for an unknown field', () => {
    const err = errorOf(() =>
      engine(`rules:
  - id: r1
    kinds: [file.open]
    condition: |
      file.op == "read" &&
      file.pth == "/x"
    severity: info
`),
    );
    expect(err.file).toBe('base.yaml');
    expect(err.line).toBe(6);
    expect(err.message).toContain('rule r1');
    expect(err.message).toContain('unknown field file.pth');
  });

  it('reports CEL syntax errors with the line inside a block condition', () => {
    const err = errorOf(() =>
      engine(`rules:
  - id: r2
    kinds: [file.open]
    condition: |
      file.op == "read" &&

      file.path ||| "x"
    severity: info
`),
    );
    expect(err.line).toBe(7);
    expect(err.message).toMatch(/rule r2: syntax error/);
  });

  it('rejects unknown kinds, unknown keys, missing category, bad regexes, type errors and unknown lists', () => {
    const rule = (body: string) => `rules:\n  - id: bad\n${body}`;
    expect(errorOf(() => engine(rule('    kinds: [file.opne]\n    condition: "true"\n    severity: info\n'))).message).toMatch(/unknown event kind "file.opne"/);
    const k = errorOf(() => engine(rule('    kinds: [file.open]\n    conditon: "true"\n    severity: info\n')));
    expect(k.line).toBe(4);
    expect(k.message).toMatch(/unknown key/);
    expect(errorOf(() => engine(rule('    kinds: [file.open]\n    condition: "true"\n    severity: alert\n'))).message).toMatch(/category is required/);
    expect(errorOf(() => engine(rule('    kinds: [file.open]\n    condition: file.path.matches("(")\n    severity: info\n'))).message).toMatch(/invalid regular expression/);
    expect(errorOf(() => engine(rule('    kinds: [file.open]\n    condition: file.mode == "x"\n    severity: info\n'))).message).toMatch(/cannot compare int with string/);
    expect(errorOf(() => engine(rule('    kinds: [file.open]\n    condition: file.path.under(no_such_list)\n    severity: info\n'))).message).toMatch(/unknown identifier 'no_such_list'/);
    expect(errorOf(() => engine(rule('    kinds: [file.open]\n    condition: file.path\n    severity: info\n'))).message).toMatch(/boolean/);
    expect(errorOf(() => engine(rule('    kinds: [alert.sequence]\n    condition: "true"\n    severity: info\n'))).message).toMatch(/produced by the rule engine/);
  });

  it('rejects redefinition without override, and overrides of unknown rules', () => {
    const dup = errorOf(() => engine(SECRET_RULE, { extra: 'rules:\n  - id: secret_read\n    kinds: [file.open]\n    condition: "true"\n    severity: info\n' }));
    expect(dup.file).toBe('user.yaml');
    expect(dup.line).toBe(2);
    expect(dup.message).toMatch(/already defined at base.yaml:\d+/);
    const unk = errorOf(() => engine(SECRET_RULE, { extra: 'rules:\n  - id: nope\n    enabled: false\n' }));
    expect(unk.message).toMatch(/rule nope: no rule with this id/);
    const mode = errorOf(() => engine(SECRET_RULE, { extra: 'rules:\n  - id: secret_read\n    severity: info\n    override: { condition: append }\n' }));
    expect(mode.message).toMatch(/'severity' is given but override has no mode/);
  });

  it('names the macro for an error inside a macro', () => {
    const err = errorOf(() => engine('macros:\n  - name: m1\n    condition: proc.nme == "x"\nrules: []\n'));
    expect(err.line).toBe(3);
    expect(err.message).toMatch(/macro m1: unknown field proc.nme/);
  });

  it('names exception problems', () => {
    const err = errorOf(() =>
      engine(`rules:
  - id: r
    kinds: [file.open]
    condition: "true"
    severity: info
    exceptions:
      - name: x
        fields: [proc.name, file.path]
        values:
          - [only_one]
`),
    );
    expect(err.line).toBe(10);
    expect(err.message).toMatch(/exception x: each value must be a list of 2/);
  });

  it('disables a rule that throws, reports rule.error once, and keeps processing', () => {
    const e = engine(`
rules:
  - id: fragile
    kinds: [process.exec]
    condition: int(data.level) > 3
    severity: warn
    category: execution
    mitre: [T1059]
  - id: sturdy
    kinds: [process.exec]
    condition: proc.name == "sh"
    severity: warn
    category: execution
    mitre: [T1059]
`);
    const out = run(e, [
      ev('process.exec', { data: { level: 'high' } }, ['sh']),
      ev('process.exec', { data: { level: '9' } }, ['sh']),
    ]);
    expect(out.map((o) => o.kind)).toEqual(['process.exec', 'rule.error', 'process.exec']);
    expect(out[0]!.rule).toBe('sturdy');
    expect(out[1]!.rule).toBe('fragile');
    expect(out[1]!.severity).toBe('warn');
    expect(String(out[1]!.data?.['error'])).toMatch(/not a number/);
    expect(out[2]!.also).toBeUndefined();
    expect(e.stats()['errors']).toBe(1);
    expect(e.rules().find((r) => r.id === 'fragile')!.enabled).toBe(false);
  });
});
