// Notifications: without a session bus it says so once and prints to the terminal; with one it
// runs notify-send; dedup and rate limits hold; a failing notify-send falls back, never throws.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { NotifySink } from '../../src/sinks/notify.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-notify-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const alert = (seq: number, file: string, rule = 'secret.read'): WardenEvent => ({
  ts: new Date().toISOString(),
  seq,
  kind: 'file.open',
  severity: 'alert',
  rule,
  message: `reads ${file}`,
  agent: { name: 'claude', root_pid: 10, session: 's1' },
  file: { path: file, op: 'read' },
});
const sink = () => {
  const out: string[] = [];
  return { out, stream: { write: (s: string) => void out.push(s) } as unknown as NodeJS.WritableStream };
};
const waitFor = async (cond: () => boolean) => {
  const end = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('notifications', () => {
  it('without a session bus: says so once, then prints alerts to the terminal, deduplicated', async () => {
    const { out, stream } = sink();
    const n = new NotifySink({ env: { PATH: process.env.PATH }, stderr: stream });
    expect(n.active).toBe('terminal');
    n.write(alert(1, '/h/.ssh/id_rsa'));
    n.write(alert(2, '/h/.ssh/id_rsa')); // same rule, session, target
    n.write(alert(3, '/h/.aws/credentials'));
    n.write({ ...alert(4, '/x'), severity: 'info' }); // below min_severity
    await n.close();
    expect(out.filter((l) => /unavailable/.test(l))).toHaveLength(1);
    expect(out[0]).toMatch(/no desktop session bus/);
    expect(out.filter((l) => /ALERT/.test(l))).toHaveLength(2);
    expect(n.counters.deduplicated).toBe(1);
  });

  it('with --quiet (announce: false, terminal: false) prints nothing at all', async () => {
    const { out, stream } = sink();
    const n = new NotifySink({ env: { PATH: process.env.PATH }, stderr: stream, terminal: false, announce: false });
    expect(n.active).toBe('off');
    n.write(alert(1, '/h/.ssh/id_rsa'));
    await n.close();
    expect(out).toEqual([]);
  });

  it('rate-limits and summarises what it held back', async () => {
    const { out, stream } = sink();
    let now = 1_000_000;
    const n = new NotifySink({ env: { PATH: process.env.PATH }, stderr: stream, rateMax: 3, rateWindowS: 30, now: () => now });
    for (let i = 1; i <= 10; i++) n.write(alert(i, `/h/secret-${i}`));
    expect(out.filter((l) => /ALERT/.test(l))).toHaveLength(3);
    expect(n.counters.rate_limited).toBe(7);
    now += 31_000;
    await n.close();
    expect(out.at(-1)).toMatch(/7 more alerts not shown/);
  });

  it('with a bus: runs notify-send with title and body; falls back once if it fails', async () => {
    const argsFile = path.join(tmp, 'args');
    const good = path.join(tmp, 'notify-ok');
    fs.writeFileSync(good, `#!/bin/sh\nprintf '%s\\n' "$@" >> ${argsFile}\n`, { mode: 0o755 });
    const { out, stream } = sink();
    const n = new NotifySink({ env: { PATH: process.env.PATH, DISPLAY: ':99' }, stderr: stream, notifySend: good });
    expect(n.active).toBe('desktop');
    n.write(alert(1, '/h/.ssh/<id>'));
    await waitFor(() => n.counters.notified === 1);
    const args = fs.readFileSync(argsFile, 'utf8').split('\n');
    expect(args.slice(0, 5)).toEqual(['-a', 'Warden', '-u', 'critical', '--']);
    expect(args[5]).toBe('Warden alert: secret.read');
    expect(args[6]).toContain('reads /h/.ssh/&lt;id&gt;');
    expect(out).toEqual([]);

    const bad = path.join(tmp, 'notify-bad');
    fs.writeFileSync(bad, '#!/bin/sh\necho "Cannot autolaunch D-Bus without X11 $DISPLAY" >&2\nexit 1\n', { mode: 0o755 });
    const b = sink();
    const n2 = new NotifySink({ env: { PATH: process.env.PATH, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent' }, stderr: b.stream, notifySend: bad });
    n2.write(alert(1, '/a'));
    await waitFor(() => n2.active === 'terminal');
    n2.write(alert(2, '/b'));
    expect(b.out.filter((l) => /notify-send failed \(Cannot autolaunch D-Bus/.test(l))).toHaveLength(1);
    expect(b.out.filter((l) => /ALERT/.test(l))).toHaveLength(2); // the failed one is printed too
  });

  it('the real notify-send on this host (no D-Bus) never throws', async () => {
    const { stream } = sink();
    const n = new NotifySink({ env: { ...process.env, DISPLAY: ':0' }, stderr: stream });
    n.write(alert(1, '/a'));
    await new Promise((r) => setTimeout(r, 300));
    await n.close();
    expect(['desktop', 'terminal', 'off']).toContain(n.active);
  });
});
