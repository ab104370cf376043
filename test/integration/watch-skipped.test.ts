// A call the kernel never ran is not reported as done. A seccomp filter (RET_ERRNO, RET_TRAP) or
// a PTRACE_SYSEMU tracer can skip a system call after its arguments are in the registers; the
// call's sys_exit tracepoint still fires (its sys_enter does not), with a result the agent chose.
// An attacker round (commit 41f4365, reverted) showed that an open reported from its exit alone
// turned such a skipped openat of a key into a `cred_read_ssh_key` alert, or into an open of
// another file "as" the key. Both backends pair every exit with the entry the kernel ran.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { noCompiler } from '../helpers/cc.js';
import { KERNEL_BACKENDS, run, startWatch, type RunningWatch } from '../helpers/watch.js';

const root = process.getuid?.() === 0;
const SRC = path.resolve(__dirname, 'helpers', 'skipped-call.c');

const noCc = noCompiler();
if (noCc) console.warn(`watch-skipped: skipped: ${noCc}`);

describe.skipIf(!root || !!noCc).each(KERNEL_BACKENDS)('kernel sensor %s: calls the kernel skipped', (backend) => {
  let w: RunningWatch;
  let tmp = '';
  let key = '';
  let never = '';
  let marker = '';
  let agentPid = 0;
  let out = '';
  let events: WardenEvent[] = [];

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-skipped-'));
    fs.chmodSync(tmp, 0o755);
    const home = path.join(tmp, 'home');
    key = path.join(home, '.ssh', 'id_ed25519');
    fs.mkdirSync(path.dirname(key), { recursive: true });
    fs.writeFileSync(key, '-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n');
    never = path.join(tmp, 'never-opened.txt');
    const decoy = path.join(tmp, 'decoy.txt');
    fs.writeFileSync(decoy, 'decoy\n');
    marker = path.join(tmp, 'marker.txt');
    fs.writeFileSync(marker, 'done\n');
    const bin = path.join(tmp, 'skipped-call');
    execFileSync('cc', ['-O2', '-o', bin, SRC]);
    const script = path.join(tmp, 'agent.sh');
    fs.writeFileSync(
      script,
      [`${bin} errno0 "$HOME/.ssh/id_ed25519"`, `${bin} trap "$HOME/.ssh/id_ed25519"`, `${bin} sysemu "${never}" "${decoy}"`, `cat "${marker}" >/dev/null`].join('\n') + '\n',
    );
    w = await startWatch(['--backend', backend]);
    const r = await run('bash', [script], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: home }, argv0: 'claude', cwd: tmp });
    expect(r.code, r.out).toBe(0);
    agentPid = r.pid;
    out = r.out;
    await w.waitFor((e) => e.kind === 'file.open' && e.file?.path === marker && e.agent?.root_pid === agentPid, 30_000, 'the marker read');
    await w.waitFor((e) => e.kind === 'agent.exit' && e.agent?.root_pid === agentPid, 30_000, 'agent.exit');
    expect(await w.stop()).toBe(0);
    events = w.events().filter((e) => e.agent?.root_pid === agentPid);
  }, 180_000);

  afterAll(async () => {
    await w?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the skipped calls returned what the filter and the tracer chose (the helper works)', () => {
    expect(out).toMatch(/^errno0 0$/m);
    expect(out).toMatch(/^trap 257$/m);
    expect(out).toMatch(/^sysemu \d+$/m);
  });

  /** The rules an event raised (`rule`, and `also` when several matched). */
  const rules = (e: WardenEvent) => [e.rule, ...(e.also ?? [])].filter((r): r is string => !!r);

  // what names the file in an event: its file fields (argv and the messages of exec rules name it anyway)
  const about = (name: string) => events.filter((e) => [e.file?.path, e.file?.requested, e.file?.resolved].some((s) => s?.includes(name)));

  it('a skipped open of a key is no event and no alert', () => {
    expect(about('id_ed25519').map((e) => `${e.kind} ${e.file?.path} ${rules(e).join(',')}`)).toEqual([]);
    // the helper's argv names the key (an exec rule says so): the file events must not
    expect(events.filter((e) => e.kind.startsWith('file.')).flatMap(rules).filter((r) => r.startsWith('cred_'))).toEqual([]);
  });

  it('a skipped open made to return another file is not reported as an open of either', () => {
    expect(about('never-opened.txt').map((e) => `${e.kind} ${e.file?.path} ${rules(e).join(',')}`)).toEqual([]);
    // the tracer's own open of the decoy is real and reported, read-only, once
    const decoy = events.filter((e) => e.kind === 'file.open' && e.file?.path?.endsWith('/decoy.txt'));
    expect(decoy.length).toBe(1);
    expect(events.flatMap(rules).filter((r) => r === 'evasion_secret_other_name')).toEqual([]);
  });
});
