// `warden top` screen logic through ink-testing-library (no real terminal): keys change the
// filters and views as documented, and the screen shows what the store holds.
import React from 'react';
import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../src/cli/top/app.js';
import { TopSource } from '../../src/cli/top/source.js';
import type { AgentRef, WardenEvent } from '../../src/events/types.js';

const agent: AgentRef = { name: 'claude', root_pid: 4242, session: 'claude-4242-x' };
const agent2: AgentRef = { name: 'codex', root_pid: 5151, session: 'codex-5151-y' };
let seq = 0;
const ts = () => new Date().toISOString();
function ev(kind: string, over: Partial<WardenEvent>): WardenEvent {
  return { ts: ts(), seq: ++seq, kind, severity: 'info', agent, ...over };
}

function fixture(): TopSource {
  const src = new TopSource({ socket: '/nonexistent/warden.sock', memory: false });
  src.status = { connected: true, monitorPid: 999, version: 'test' };
  src.store.setSessions([
    { name: 'claude', root_pid: 4242, session: 'claude-4242-x', started: ts(), alive: true, cwd: '/work/proj', counts: { info: 5, warn: 0, alert: 1 } },
    { name: 'codex', root_pid: 5151, session: 'codex-5151-y', started: ts(), alive: true, cwd: '/work/other', counts: { info: 1, warn: 1, alert: 0 } },
  ]);
  const s = src.store;
  s.add(ev('agent.start', { proc: { pid: 4242, ppid: 1, exe: '/usr/bin/node', argv: ['claude'], cwd: '/work/proj', uid: 1000 } }));
  s.add(ev('process.exec', { proc: { pid: 4300, ppid: 4242, exe: '/usr/bin/bash', argv: ['bash', '-c', 'cat ~/.ssh/id_ed25519'], cwd: '/work/proj', uid: 1000 } }));
  s.add(ev('process.exec', { proc: { pid: 4301, ppid: 4300, exe: '/usr/bin/cat', argv: ['cat', '/home/u/.ssh/id_ed25519'], cwd: '/work/proj', uid: 1000 } }));
  s.add(ev('file.open', { file: { path: '/lib/x86_64-linux-gnu/libc.so.6', op: 'read' }, proc: { pid: 4301, ppid: 4300, exe: '/usr/bin/cat', argv: ['cat', '/home/u/.ssh/id_ed25519'], cwd: '/work/proj', uid: 1000 } }));
  s.add(
    ev('file.open', {
      severity: 'alert',
      rule: 'cred_read_ssh_key',
      category: 'credential_access',
      mitre: ['T1552.004'],
      message: 'SSH private key read: /home/u/.ssh/id_ed25519 by cat',
      file: { path: '/home/u/.ssh/id_ed25519', op: 'read' },
      proc: { pid: 4301, ppid: 4300, exe: '/usr/bin/cat', argv: ['cat', '/home/u/.ssh/id_ed25519'], cwd: '/work/proj', uid: 1000 },
    }),
  );
  s.add(ev('net.connect', { agent: agent2, severity: 'warn', rule: 'net_unlisted_destination', message: 'connection to unlisted host evil.test', net: { proto: 'tcp', host: 'evil.test', dst_ip: '203.0.113.5', dst_port: 443 }, proc: { pid: 5200, ppid: 5151, exe: '/usr/bin/curl', argv: ['curl', 'https://evil.test'], cwd: '/w', uid: 1000 } }));
  s.add({ ts: ts(), seq: ++seq, kind: 'egress.deny', severity: 'warn', rule: 'egress.not_allowed', sandbox: { id: 'sbx1' }, message: 'denied evil.test:443', net: { proto: 'tcp', host: 'evil.test', dst_port: 443 }, data: { reason: 'not-allowed', suggest: 'evil.test' } });
  return src;
}

const tick = (ms = 150) => new Promise((r) => setTimeout(r, ms));
/**
 * Waits (up to 15 s) until `pred` holds: a render can take longer than a tick on a loaded machine
 * (CI, with the unit tests in parallel threads, once took over 5 s for a key press to show).
 */
async function until(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !pred(); i++) await tick(50);
}
let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

async function mount() {
  const source = fixture();
  const r = render(React.createElement(App, { source, socket: '/nonexistent/warden.sock', size: { columns: 140, rows: 30 } }));
  cleanup = () => {
    r.unmount();
    source.close();
  };
  await tick();
  const press = async (k: string) => {
    r.stdin.write(k);
    await tick();
  };
  return { r, press, frame: () => r.lastFrame() ?? '', source };
}

describe('warden top screen', () => {
  it('shows sessions, counts and the stream without routine events', async () => {
    const { frame } = await mount();
    const f = frame();
    expect(f).toContain('claude');
    expect(f).toContain('4242');
    expect(f).toContain('codex');
    expect(f).toContain('cred_read_ssh_key');
    expect(f).toContain('ALERT');
    expect(f).toContain('1 alerts');
    expect(f).not.toContain('libc.so.6');
  });

  it('s cycles the severity filter, c clears, n shows routine events', async () => {
    const { press, frame } = await mount();
    await press('s');
    expect(frame()).toContain('severity ≥ warn');
    expect(frame()).toContain('net_unlisted_destination');
    expect(frame()).not.toContain('process.exec');
    await press('s');
    expect(frame()).toContain('severity ≥ alert');
    expect(frame()).not.toContain('net_unlisted_destination');
    expect(frame()).toContain('cred_read_ssh_key');
    await press('c');
    expect(frame()).toContain('all severities');
    await press('n');
    expect(frame()).toContain('libc.so.6');
  });

  it('a filters by agent session, k by kind, / by text', async () => {
    const { press, frame } = await mount();
    await press('a');
    expect(frame()).toMatch(/agent (claude|codex):\d+/);
    const first = /agent (claude|codex)/.exec(frame())![1];
    expect(frame()).not.toContain(first === 'claude' ? 'net_unlisted_destination' : 'cred_read_ssh_key');
    // Pressing on goes through every session (the panel only lists the filtered one), then back to all.
    await press('a');
    expect(frame()).toMatch(/agent (claude|codex):\d+/);
    expect(/agent (claude|codex)/.exec(frame())![1]).not.toBe(first);
    await press('a');
    expect(frame()).toContain('all agents');
    await press('c');
    await press('k');
    expect(frame()).toMatch(/kind \w+/);
    await press('c');
    await press('/');
    for (const ch of 'evil') await press(ch);
    expect(frame()).toContain('/ search: evil');
    await press('\r');
    expect(frame()).toContain('text "evil"');
    expect(frame()).not.toContain('cred_read_ssh_key');
    await press('/');
    await press('\x1b');
    await tick(200);
    expect(frame()).toContain('text "evil"');
  });

  it('Enter opens the detail with the process chain; Esc goes back', async () => {
    const { press, frame } = await mount();
    await press('s');
    await press('s');
    await press('\r');
    const f = frame();
    expect(f).toContain('Process chain');
    expect(f).toMatch(/4242\s+\[agent\] claude/);
    expect(f).toMatch(/└─ 4300\s+bash -c "cat ~\/.ssh\/id_ed25519"/);
    expect(f).toMatch(/└─ 4301\s+\[acted\] cat \/home\/u\/.ssh\/id_ed25519/);
    expect(f).toContain('file read  /home/u/.ssh/id_ed25519');
    await press('\x1b');
    await tick(200);
    expect(frame()).toContain('Agent sessions');
  });

  it('e shows egress per sandbox and agent; ? shows the keys', async () => {
    const { press, frame } = await mount();
    await press('e');
    expect(frame()).toContain('sandbox sbx1');
    expect(frame()).toContain('evil.test');
    expect(frame()).toContain('0 ok / 1 denied');
    await press('e');
    await press('?');
    expect(frame()).toContain('acknowledge the selected alert');
    await press('x');
    expect(frame()).toContain('Agent sessions');
  });

  it('A on an info event explains instead of calling the API', async () => {
    const { press, frame } = await mount();
    await press('c');
    await press('k');
    // The first kind family present is "process": select an exec and try to acknowledge it.
    await press('A');
    expect(frame()).toContain('select an alert or warning');
  });

  it("shows the governor's usage against the soft limit and a frozen session; F, X X and + call the API for the filtered session", async () => {
    const { press, frame, source } = await mount();
    const gib = 1024 ** 3;
    source.governed.set('claude-4242-x', { session: 'claude-4242-x', mode: 'throttle', frozen: true, memory: { usage: 1.5 * gib, high: 3 * gib, max: 4 * gib }, cpu: {}, pids: {}, tools: [] });
    const calls: Array<[string, Record<string, unknown>]> = [];
    source.govern = async (m, p) => {
      calls.push([m, p]);
      return `${m} ok`;
    };
    // `a` steps through the sessions (their order depends on the clock: CI once got codex first)
    await press('a');
    for (let i = 0; i < 4 && !frame().includes('agent claude:4242'); i++) await press('a');
    await until(() => frame().includes('FROZEN'));
    expect(frame()).toMatch(/1\.5G\/3\.0G|1\.5 ?GiB\/3\.0 ?GiB/);
    expect(frame()).toContain('FROZEN');
    await press('F');
    await until(() => calls.length === 1);
    await press('X');
    await until(() => frame().includes('press X again'));
    expect(frame()).toContain('press X again');
    await press('X');
    await until(() => calls.length === 2);
    await press('+');
    await until(() => calls.length === 3);
    expect(calls.map((c) => c[0])).toEqual(['session.resume', 'session.kill', 'session.limit']);
    expect(calls[2]![1]).toMatchObject({ session: 'claude-4242-x', memory_high: 3.75 * gib, memory_max: 5 * gib });
  });
});
