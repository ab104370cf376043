// A root agent that removes the monitor's pinned kernel state and kills its sensor (attacker round
// at 8b1aeb7): a change to the state is an alert (evasion_monitor_state) when its records leave the
// kernel; when the sensor dies with them, the monitor says the state was removed
// (monitor.state_removed), restarts the sensor afresh, and follows the agent again. Without pinned
// links the killed sensor's exit takes the kernel seconds (every attached program is released);
// the monitor restarts it when its output closes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loaderOf, run, startWatch, until, type RunningWatch } from '../helpers/watch.js';
import { REGISTRY } from '../../src/sensors/ebpf/pins.js';

const root = process.getuid?.() === 0;

/** The pinned instance of a monitor, by its registry entry. */
function instanceOf(monitor: number): string | undefined {
  for (const n of fs.readdirSync(REGISTRY).filter((x) => x.endsWith('.json'))) {
    try {
      if (JSON.parse(fs.readFileSync(path.join(REGISTRY, n), 'utf8')).monitor_pid === monitor) return n.slice(0, -5);
    } catch {
      // being written or removed
    }
  }
  return undefined;
}

describe.skipIf(!root)("compiled sensor: an agent removes the monitor's pinned state and kills its sensor", () => {
  let w: RunningWatch;
  let tmp = '';

  afterAll(async () => {
    await w?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("a change to the monitor's state is an alert; its removal before the sensor is killed is said, the sensor restarted afresh, the agent followed again", async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-pins-'));
    const secret = path.join(tmp, 'id_ed25519');
    fs.writeFileSync(secret, '-----BEGIN OPENSSH PRIVATE KEY-----\n');
    w = await startWatch(['--backend', 'ebpf']);
    const monitor = w.child.pid!;
    const id = await until('the pinned instance', () => instanceOf(monitor));
    const loader = await until('the sensor', () => loaderOf(monitor));
    // a file of the state changed, the sensor alive: the record reaches the monitor
    const touch = await run('bash', ['-c', 'rm -f "$1"', 'tamper', path.join(REGISTRY, `${id}.log`)], { env: { PATH: process.env.PATH }, argv0: 'claude' });
    expect(touch.code, touch.out).toBe(0);
    const alert = await w.waitFor((e) => e.rule === 'evasion_monitor_state' && e.agent?.root_pid === touch.pid, 30_000, 'evasion_monitor_state');
    expect(alert.severity).toBe('alert');
    // the whole state removed and the sensor killed at once: its records may die with it, the monitor says what happened
    const r = await run('bash', ['-c', 'rm -rf "/sys/fs/bpf/warden/$1" && kill -9 "$2"', 'tamper', id, String(loader)], { env: { PATH: process.env.PATH }, argv0: 'claude' });
    expect(r.code, r.out).toBe(0);
    const removed = await w.waitFor((e) => e.kind === 'monitor.state_removed', 60_000, 'monitor.state_removed');
    expect(removed.severity).toBe('alert');
    await w.waitFor((e) => e.kind === 'monitor.sensor_restart', 60_000, 'monitor.sensor_restart');
    const cat = await run('bash', ['-c', 'cat "$1" > /dev/null', 'cat', secret], { env: { PATH: process.env.PATH }, argv0: 'claude' });
    expect(cat.code, cat.out).toBe(0);
    await w.waitFor((e) => e.kind === 'agent.exit' && e.agent?.root_pid === cat.pid, 30_000, 'agent.exit');
    expect(w.events().some((e) => e.kind === 'file.open' && e.file?.path === secret && e.agent?.root_pid === cat.pid)).toBe(true);
  }, 180_000);
});
