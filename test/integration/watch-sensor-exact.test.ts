// What the kernel sensor must deliver exactly, for each kernel backend: paths with newlines
// and unit separators (the bpftrace framing's hard case), every folded open accounted for
// (first open + file.repeat counts = opens made, flushed before a different open), and for
// the compiled sensor, a 3,000-character path and a 5,000-character argv arriving whole.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WardenEvent } from '../../src/events/types.js';
import { KERNEL_BACKENDS, run, startWatch, type RunningWatch } from '../helpers/watch.js';

const root = process.getuid?.() === 0;
const LIBDIR = fs.existsSync('/usr/lib/x86_64-linux-gnu') ? '/usr/lib/x86_64-linux-gnu' : '/usr/lib';

describe.skipIf(!root).each(KERNEL_BACKENDS)('kernel sensor %s: exact paths, argv and open folding', (backend) => {
  let w: RunningWatch;
  let tmp: string;
  let agentPid = 0;
  let events: WardenEvent[] = [];
  let longPath = '';
  let oddPath = '';
  let fileA = '';
  let fileB = '';
  let look = '';
  let planted = '';
  let moved = '';
  const longArg = Array.from({ length: 50 }, (_, i) => `${i}`.padEnd(99, 'x')).join(' '); // 4,999 chars + argv[0]
  const preload = '/nonexistent/warden-preload-test.so';
  const N1 = 1500;
  const N2 = 700;

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-exact-'));
    // 3,000+ characters: nested directories of 200-character names
    let dir = tmp;
    while (dir.length < 2700) dir = path.join(dir, 'd'.repeat(200));
    fs.mkdirSync(dir, { recursive: true });
    longPath = path.join(dir, 'f'.repeat(3000 - dir.length - 1));
    fs.writeFileSync(longPath, 'x');
    oddPath = path.join(tmp, 'new\nline\x1fsep\x1f\nend');
    fs.writeFileSync(oddPath, 'x');
    fileA = path.join(tmp, 'a.txt');
    fileB = path.join(tmp, 'b.txt');
    fs.writeFileSync(fileA, 'a');
    fs.writeFileSync(fileB, 'b');
    const script = path.join(tmp, 'agent.sh');
    fs.writeFileSync(
      script,
      [
        'cat "$LONG" > /dev/null',
        'cat "$ODD" > /dev/null',
        '/bin/true "$ARG"',
        'LD_PRELOAD="$PRE" /bin/echo preloaded > /dev/null 2>&1',
        // bash opens the redirect itself: N identical opens by one process, then a different
        // open (which must flush the count), then more of the first
        `i=0; while [ $i -lt ${N1} ]; do : < "$A"; i=$((i+1)); done`,
        ': < "$B"',
        `i=0; while [ $i -lt ${N2} ]; do : < "$A"; i=$((i+1)); done`,
        // a shared object in a directory that only looks like a library directory: by name, by a
        // symlink to it, and mounted over the real one in a private mount namespace
        'cat "$LOOK/libwarden.so.1" > /dev/null',
        'cat "$LINKED/libwarden.so.1" > /dev/null',
        `unshare -m sh -c 'mount --bind "$LOOK" ${LIBDIR} && : < ${LIBDIR}/libwarden.so.1'`,
        // a library planted now, and a file that existed before monitoring moved in: both changed
        // since the monitor started, so their reads are reported
        'cp "$LOOK/libwarden.so.1" "$PLANTED" && cat "$PLANTED" > /dev/null',
        'mv "$MOVE_FROM" "$MOVED" && cat "$MOVED" > /dev/null',
      ].join('\n') + '\n',
    );
    look = path.join(tmp, 'usr/lib/x86_64-linux-gnu');
    fs.mkdirSync(look, { recursive: true });
    fs.writeFileSync(path.join(look, 'libwarden.so.1'), 'x');
    fs.symlinkSync(look, path.join(tmp, 'lib'));
    const tag = path.basename(tmp).replace(/[^A-Za-z0-9]/g, '');
    planted = `${LIBDIR}/libwarden-planted-${tag}.so.1`;
    moved = `${LIBDIR}/libwarden-moved-${tag}.so.1`;
    fs.writeFileSync(path.join(tmp, 'moved.so.1'), 'x');
    w = await startWatch(['--backend', backend]);
    const r = await run('bash', [script], {
      env: { PATH: process.env.PATH, LANG: 'C.UTF-8', LONG: longPath, ODD: oddPath, ARG: longArg, A: fileA, B: fileB, PRE: preload, LOOK: look, LINKED: path.join(tmp, 'lib'), PLANTED: planted, MOVED: moved, MOVE_FROM: path.join(tmp, 'moved.so.1') },
      argv0: 'claude',
    });
    expect(r.code, r.out).toBe(0);
    agentPid = r.pid;
    await w.waitFor((e) => e.kind === 'agent.exit' && e.agent?.root_pid === agentPid, 30_000, 'agent.exit');
    expect(await w.stop()).toBe(0);
    events = w.events().filter((e) => e.agent?.root_pid === agentPid);
  }, 180_000);

  afterAll(async () => {
    await w?.stop();
    for (const f of [planted, moved]) if (f) fs.rmSync(f, { force: true });
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('reports a path holding newlines and unit separators intact', () => {
    const e = events.find((x) => x.kind === 'file.open' && x.file?.path === oddPath);
    expect(e, 'open of the odd path').toBeDefined();
    expect(e!.proc!.argv).toEqual(['cat', oddPath]);
  });

  it('reports LD_PRELOAD set for an exec', () => {
    const e = events.find((x) => x.kind === 'process.exec' && x.proc?.exe === '/bin/echo');
    expect(e?.data?.ld_preload).toBe(preload);
    const plain = events.find((x) => x.kind === 'process.exec' && x.proc?.argv[0] === 'cat');
    expect(plain?.data?.ld_preload).toBeUndefined();
  });

  it('accounts for every folded open, and flushes the count before a different open', () => {
    const byA = events.filter((x) => x.file?.path === fileA && (x.kind === 'file.open' || x.kind === 'file.repeat'));
    const opens = byA.filter((x) => x.kind === 'file.open').length;
    const repeats = byA.filter((x) => x.kind === 'file.repeat').reduce((n, x) => n + Number(x.data?.count ?? 0), 0);
    expect(opens + repeats).toBe(N1 + N2);
    expect(opens).toBeLessThan(N1 + N2); // folding happened
    // order: the repeats of the first run come before the open of B
    const iB = events.findIndex((x) => x.kind === 'file.open' && x.file?.path === fileB);
    expect(iB).toBeGreaterThan(0);
    const before = events
      .slice(0, iB)
      .filter((x) => x.file?.path === fileA)
      .reduce((n, x) => n + (x.kind === 'file.repeat' ? Number(x.data?.count ?? 0) : 1), 0);
    expect(before).toBe(N1);
  });

  it.runIf(backend === 'ebpf')("counts the dynamic loader's and the C library's start-up opens (shared objects, locale data) on the exit instead of reporting them; a look-alike library directory is reported", () => {
    const libOpen = (x: WardenEvent) => x.kind === 'file.open' && !x.file?.path.includes('/libwarden') && /^\/(usr\/)?lib(64)?\/.*\.so(\.|$)|^\/etc\/(ld\.so\.cache|locale\.alias)$|^\/usr\/lib\/locale\/|\/gconv\//.test(x.file?.path ?? '');
    expect(events.filter(libOpen).map((x) => x.file?.path)).toEqual([]);
    const trueExit = events.find((x) => x.kind === 'process.exit' && x.proc?.exe === '/bin/true');
    // ld.so.cache and libc at least (a static /bin/true would load none: then nothing was hidden)
    if (!spawnSync('ldd', ['/bin/true']).stdout.toString().includes('not a dynamic')) expect(Number(trueExit?.data?.library_loads)).toBeGreaterThanOrEqual(2);
    const lookAlike = events.filter((x) => x.kind === 'file.open' && x.file?.path.endsWith('/libwarden.so.1') && x.proc?.argv[0] !== 'cp').map((x) => x.file?.path);
    expect(lookAlike).toEqual(expect.arrayContaining([path.join(look, 'libwarden.so.1'), `${LIBDIR}/libwarden.so.1`]));
    expect(lookAlike.length).toBe(3);
    const readOf = (f: string) => events.find((x) => x.kind === 'file.open' && x.file?.path === f && x.proc?.argv[0] === 'cat');
    expect(readOf(planted), 'the planted library read').toBeDefined();
    expect(readOf(moved), 'the read of a file moved into the library directory').toBeDefined();
  });

  it.runIf(backend === 'ebpf')('delivers a 3,000-character path whole', () => {
    expect(longPath.length).toBe(3000);
    const e = events.find((x) => x.kind === 'file.open' && x.proc?.argv[0] === 'cat' && x.file?.path.startsWith(tmp + '/ddd'));
    expect(e?.file?.path.length).toBe(3000);
    expect(e?.file?.path).toBe(longPath);
    expect(e?.data?.path_truncated).toBeUndefined();
  });

  it.runIf(backend === 'ebpf')('delivers a 5,000-character argv whole', () => {
    const e = events.find((x) => x.kind === 'process.exec' && x.proc?.exe === '/bin/true');
    expect(e?.proc?.argv).toEqual(['/bin/true', longArg]);
    expect(e!.proc!.argv.join(' ').length).toBe(5009);
    expect(e?.data?.argv_truncated).toBeUndefined();
  });
});
