// An open's flags are the kernel's, not what user memory says. openat2 passes its flags in a
// struct in user memory that the kernel copies once; a sensor that reads that memory itself
// (at the call's exit: the compiled sensor; at its entry: bpftrace) can be shown other flags: a
// thread rewrites the struct while the kernel waits on the path (userfaultfd), or the struct lies
// on a page not yet mapped in, which a read at entry cannot fault in. A read-write open of a
// library then looked read-only (counted as a library load and folded away) and any write open
// could be shed as a read under pressure. Both backends take the access mode from the open file.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { noCompiler } from '../helpers/cc.js';
import { KERNEL_BACKENDS, run, startWatch, type RunningWatch } from '../helpers/watch.js';

const root = process.getuid?.() === 0;
const SRC = path.resolve(__dirname, 'helpers', 'openat2-flags.c');

const noCc = noCompiler();
if (noCc) console.warn(`watch-openat2: skipped: ${noCc}`);

describe.skipIf(!root || !!noCc).each(KERNEL_BACKENDS)('kernel sensor %s: openat2 flags', (backend) => {
  let w: RunningWatch;
  let tmp = '';
  let out = '';
  let events: WardenEvent[] = [];

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-openat2-'));
    fs.chmodSync(tmp, 0o755);
    for (const f of ['race.txt', 'cold.txt', 'marker.txt']) fs.writeFileSync(path.join(tmp, f), 'x\n');
    const bin = path.join(tmp, 'openat2-flags');
    execFileSync('cc', ['-O2', '-pthread', '-o', bin, SRC]);
    const script = path.join(tmp, 'agent.sh');
    fs.writeFileSync(script, [`${bin} race ${tmp}/race.txt`, `${bin} cold ${tmp}/cold.txt ${tmp}/how.bin`, `cat ${tmp}/marker.txt >/dev/null`].join('\n') + '\n');
    w = await startWatch(['--backend', backend]);
    const r = await run('bash', [script], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: tmp }, argv0: 'claude', cwd: tmp });
    expect(r.code, r.out).toBe(0);
    out = r.out;
    const agentPid = r.pid;
    await w.waitFor((e) => e.kind === 'file.open' && e.file?.path === `${tmp}/marker.txt` && e.agent?.root_pid === agentPid, 30_000, 'the marker read');
    await w.waitFor((e) => e.kind === 'agent.exit' && e.agent?.root_pid === agentPid, 30_000, 'agent.exit');
    expect(await w.stop()).toBe(0);
    events = w.events().filter((e) => e.agent?.root_pid === agentPid);
  }, 180_000);

  afterAll(async () => {
    await w?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the kernel opened both files read-write (the helper works)', () => {
    expect(out).toMatch(/^race rdwr$/m);
    expect(out).toMatch(/^cold rdwr$/m);
  });

  for (const mode of ['race', 'cold']) {
    it(`${mode}: the open is reported as the write it was`, () => {
      const opens = events.filter((e) => e.kind === 'file.open' && e.file?.path === `${tmp}/${mode}.txt`);
      expect(opens.map((e) => e.file?.op)).toEqual(['write']);
    });
  }
});
