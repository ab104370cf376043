// The CI job summary (sinks/job-summary.ts): counts, denials grouped with the allow entry to
// add, limits, the --policy-ref merge; and that nothing a sandboxed command controls (a
// hostname, an argv, a message) can write Markdown or HTML into the summary.
import { describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { jobSummary, mdText } from '../../src/sinks/job-summary.js';

let seq = 0;
const ev = (e: Partial<WardenEvent> & { kind: string }): WardenEvent => ({ ts: '2026-12-06T00:00:00.000Z', seq: ++seq, severity: 'info', ...e }) as WardenEvent;
const start = (data: Record<string, unknown> = {}) => ev({ kind: 'sandbox.start', data: { argv: ['bash', '-c', 'npm test'], ...data } });
const exit = (code: number, timedOut = false) => ev({ kind: 'sandbox.exit', exit: { code, duration_ms: 1500 }, data: { timed_out: timedOut } });
const deny = (host: string, port: number, suggest: string) =>
  ev({ kind: 'egress.deny', severity: 'warn', rule: 'egress.not_listed', net: { proto: 'tcp', dst_ip: '198.18.0.9', dst_port: port, host }, proc: { pid: 9, ppid: 1, exe: '/usr/bin/curl', argv: ['curl', `https://${host}/`], cwd: '/w', uid: 1000 }, data: { reason: 'not-listed', suggest } });

describe('job summary', () => {
  it('counts, groups the same denial, and names the allow entry for each', () => {
    const s = jobSummary([start(), deny('registry.example', 443, 'registry.example'), deny('registry.example', 443, 'registry.example'), deny('db.example', 5432, 'db.example:5432'), exit(0)]);
    expect(s.counts).toEqual({ exitCode: 0, alerts: 0, denials: 3, limits: 0 });
    expect(s.markdown).toMatch(/^## Warden: ✅ no alerts$/m);
    expect(s.markdown).toContain('| `registry.example:443` | not-listed | `registry.example` | curl https&#58;//registry.example/ | 2 |');
    expect(s.markdown).toContain('| `db.example:5432` | not-listed | `db.example:5432` |');
    expect(s.markdown).not.toContain('### Alerts');
    expect(s.markdown).toContain('No repository policy (--policy-ref) was used');
  });

  it('alerts, limits (timeout, memory, governor), the exit code given by the step over the recorded one', () => {
    const s = jobSummary(
      [
        start(),
        ev({ kind: 'sandbox.deny', severity: 'alert', rule: 'sandbox.protected_path', category: 'persistence', message: 'protected path /w/.envrc created' }),
        ev({ kind: 'sandbox.deny', severity: 'warn', rule: 'sandbox.timeout', message: 'wall-clock timeout (2000 ms) reached' }),
        ev({ kind: 'sandbox.deny', severity: 'warn', rule: 'sandbox.memory_limit', message: 'memory limit reached' }),
        ev({ kind: 'resource.kill', severity: 'alert', rule: 'governor.kill', message: 'killed at memory_max' }),
        ev({ kind: 'sandbox.deny', severity: 'info', rule: 'sandbox.inherited_fd', message: 'inherited descriptors closed' }),
        exit(124, true),
      ],
      { exitCode: 124 },
    );
    expect(s.counts).toEqual({ exitCode: 124, alerts: 2, denials: 0, limits: 3 });
    expect(s.markdown).toMatch(/^## Warden: ❌ 2 alerts$/m);
    expect(s.markdown).toContain('| exit code | `124` (timed out) |');
    expect(s.markdown).toMatch(/### Limits hit[\s\S]*sandbox\.timeout[\s\S]*sandbox\.memory_limit[\s\S]*governor\.kill/);
  });

  it('the --policy-ref merge: tightened, not taken, the checked-out edit that had no effect', () => {
    const s = jobSummary([
      start({
        policy_ref: {
          ref: 'origin/main', resolved: 'refs/remotes/origin/main', commit: 'abcdef0123456789', path: '.warden/policy.yaml', base: 'ops.yaml',
          tightened: [{ key: 'network.allow', value: ['a.test'], detail: 'destinations both policies allow' }],
          ignored: [{ key: 'network.allow', value: 'evil.test', detail: 'not allowed by the base policy' }],
          worktree_changes: [{ path: '.warden/policy.yaml', change: 'modified' }],
        },
      }),
      exit(0),
    ]);
    expect(s.markdown).toContain('Repository policy `origin/main:.warden/policy.yaml` at commit `abcdef012345`');
    expect(s.markdown).toContain('- tightened `network.allow`: `["a.test"]` (destinations both policies allow)');
    expect(s.markdown).toContain('- **not taken** `network.allow`: `"evil.test"`');
    expect(s.markdown).toContain('- `.warden/policy.yaml`: modified');
  });

  it('what the sandbox controls cannot write Markdown or HTML, nor break the table', () => {
    const host = 'x.test`](https://evil.example)<img src=x onerror=alert(1)>|fake|cell|\n## Warden: ✅ no alerts';
    const s = jobSummary([
      start({ argv: ['sh', '-c', '`whoami` | tee /dev/null\n## forged heading'] }),
      deny(host, 443, host),
      ev({ kind: 'sandbox.deny', severity: 'alert', rule: 'sandbox.protected_path', category: 'persistence', message: '[click](http://www.evil.example) <script>x</script> &lt;b&gt;' }),
      exit(0),
    ]);
    const lines = s.markdown.split('\n');
    // No injected heading: the only level-2 heading is the first line, and it reports the alert.
    expect(lines.filter((l) => l.startsWith('## '))).toEqual(['## Warden: ❌ 1 alert']);
    // Every table row keeps its column count (a | in a value is escaped).
    const cells = (l: string) => l.replace(/\\\|/g, '').split('|').length;
    for (const l of lines.filter((x) => x.startsWith('| `x.test'))) expect(cells(l)).toBe(cells('| a | b | c | d | e |'));
    // Outside code spans (where Markdown decodes nothing): no tag, no link, no entity of theirs.
    const prose = s.markdown.replace(/`[^`\n]*`/g, '');
    expect(prose).not.toMatch(/(?<!\\)<|(?<!\\)\]\(|&lt;b/);
    expect(prose).toContain('\\<script\\>');
    expect(mdText('a <b> & www.x.test http://y')).toBe('a \\<b\\> &amp; www&#46;x.test http&#58;//y');
    // A backtick cannot close the code span early.
    expect(s.markdown).toContain("| `sh -c 'whoami' \\| tee /dev/null ## forged heading` |");
  });

  it('an empty or unreadable audit still yields a summary that says what is unknown', () => {
    const s = jobSummary([], { exitCode: 2, badLines: 3 });
    expect(s.counts.exitCode).toBe(2);
    expect(s.markdown).toContain('| unreadable audit lines | 3 |');
    expect(jobSummary([]).markdown).toContain('unknown (no sandbox.exit recorded)');
  });
});
