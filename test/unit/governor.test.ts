// The governor's logic: tiers, leak and CPU-burn detection, the runaway-tool choice, limits
// per agent kind, and the session/tool cgroups it writes on a v2 layout and on this machine's
// hybrid layout (fake cgroup trees: plain directories standing for the kernel's files).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BurnTracker } from '../../src/actions/governor/cpu-burn.js';
import { LeakDetector } from '../../src/actions/governor/leak.js';
import { resolveLimits } from '../../src/actions/governor/limits.js';
import { createSessionCgroups, splitTool } from '../../src/actions/governor/session-cgroups.js';
import { crossedTiers } from '../../src/actions/governor/tiers.js';
import { pickTool } from '../../src/actions/governor/tool.js';
import { notMovable, parseCgroupLines } from '../../src/actions/governor/procs.js';
import { watchConfigSchema } from '../../src/config/watch-config.js';
import { governorSettings } from '../../src/actions/governor/limits.js';
import { detectCgroups } from '../../src/util/cgroup/layout.js';

const GB = 1024 ** 3;
const MB = 1024 ** 2;

describe('tiers', () => {
  it('reports 85, 95 and the limit once each, and again only after falling well below', () => {
    const t = { level: 0 };
    expect(crossedTiers(t, 80, 100, [85, 95])).toEqual([]);
    expect(crossedTiers(t, 86, 100, [85, 95])).toEqual([85]);
    expect(crossedTiers(t, 90, 100, [85, 95])).toEqual([]);
    expect(crossedTiers(t, 101, 100, [85, 95])).toEqual([95, 100]);
    expect(crossedTiers(t, 99, 100, [85, 95])).toEqual([]);
    expect(crossedTiers(t, 70, 100, [85, 95])).toEqual([]);
    expect(crossedTiers(t, 88, 100, [85, 95])).toEqual([85]);
  });
});

describe('leak detection', () => {
  it('reports memory that only grew over the window by at least the minimum', () => {
    const d = new LeakDetector(10_000, 100 * MB);
    let r;
    for (let t = 0; t <= 10_000; t += 1000) r = d.push(t, 200 * MB + t * 20 * 1024);
    expect(r).toMatchObject({ fromBytes: 200 * MB, windowMs: 10_000 });
    expect(r!.toBytes - r!.fromBytes).toBeGreaterThanOrEqual(100 * MB);
  });

  it('does not report a series that fell, or grew too little', () => {
    const d = new LeakDetector(10_000, 100 * MB);
    const out = [];
    for (let t = 0; t <= 17_000; t += 1000) out.push(d.push(t, t === 8000 ? 100 * MB : 200 * MB + t * 20 * 1024));
    expect(out.filter(Boolean)).toEqual([]);
    const small = new LeakDetector(10_000, 100 * MB);
    for (let t = 0; t <= 20_000; t += 1000) expect(small.push(t, 200 * MB + t * 1024)).toBeUndefined();
  });
});

describe('CPU burn', () => {
  it('counts time waiting to run as wanted: a burner on a busy machine is still one, reported once', () => {
    const b = new BurnTracker(2000, 0.9);
    const reports = [];
    for (let t = 0; t <= 6000; t += 500) reports.push(b.sample(42, 1, { t, cpuMs: t * 0.4, demandMs: t * 0.99 }));
    const got = reports.filter(Boolean);
    expect(got).toHaveLength(1);
    expect(got[0]!.share).toBeGreaterThan(0.95);
    expect(got[0]!.used).toBeCloseTo(0.4, 1);
  });

  it('does not report a process that sleeps, and starts over for a reused pid', () => {
    const b = new BurnTracker(2000, 0.9);
    for (let t = 0; t <= 6000; t += 500) expect(b.sample(7, 1, { t, cpuMs: t * 0.1, demandMs: t * 0.12 })).toBeUndefined();
    for (let t = 6000; t <= 7500; t += 500) expect(b.sample(7, 2, { t, cpuMs: t, demandMs: t })).toBeUndefined();
    expect(b.sample(7, 2, { t: 8000, cpuMs: 8000, demandMs: 8000 })).toBeDefined();
  });
});

describe('the runaway tool', () => {
  it('descends from the agent through wrappers to the command that holds the memory', () => {
    const procs = [
      { pid: 1, ppid: 0, value: 300 }, // the agent
      { pid: 2, ppid: 1, value: 5 }, // bash -c
      { pid: 3, ppid: 2, value: 10 }, // npm test
      { pid: 4, ppid: 3, value: 2000 }, // jest worker
      { pid: 5, ppid: 1, value: 50 }, // an MCP server
    ];
    expect(pickTool(procs, 1)).toMatchObject({ pid: 4, subtree: 2000 });
  });

  it('is nobody when the agent itself holds the memory', () => {
    expect(pickTool([{ pid: 1, ppid: 0, value: 3000 }, { pid: 2, ppid: 1, value: 100 }], 1)).toBeUndefined();
  });

  it('stops at a process that holds a real share itself (a test runner with workers)', () => {
    const procs = [
      { pid: 1, ppid: 0, value: 10 },
      { pid: 2, ppid: 1, value: 500 },
      { pid: 3, ppid: 2, value: 600 },
      { pid: 4, ppid: 2, value: 600 },
    ];
    expect(pickTool(procs, 1)?.pid).toBe(2);
  });
});

describe('limits per agent kind', () => {
  const settings = (yaml: object) => governorSettings(watchConfigSchema.parse({ governor: yaml }));

  it('has the built-in defaults of the issue', () => {
    const s = settings({});
    expect(s.mode).toBe('warn');
    expect(s.limitsFor('claude')).toMatchObject({ memoryHigh: 3 * GB, memoryMax: 4 * GB, mode: 'warn' });
    expect(s.limitsFor('codex')).toMatchObject({ memoryHigh: 1.5 * GB, memoryMax: 2 * GB });
    expect(s.limitsFor('gemini')).toMatchObject({ memoryHigh: 2 * GB, memoryMax: 3 * GB });
    expect(s.limitsFor('cursor-agent')).toMatchObject({ memoryHigh: 3 * GB, memoryMax: 4 * GB });
    expect(s.limitsFor('my-agent')).toMatchObject({ memoryHigh: 2 * GB, memoryMax: 3 * GB });
  });

  it('takes governor.defaults, then the agent entry, mode included', () => {
    const s = settings({ mode: 'throttle', defaults: { memory_max: '1GB' }, agents: { codex: { mode: 'kill', memory_high: '100MB', memory_max: '200MB', pids: 64 } } });
    expect(s.limitsFor('claude')).toMatchObject({ mode: 'throttle', memoryMax: GB, memoryHigh: 0.75 * GB });
    expect(s.limitsFor('codex')).toMatchObject({ mode: 'kill', memoryHigh: 100 * MB, memoryMax: 200 * MB, pids: 64 });
    expect(resolveLimits('x', { memory_high: '5GB', memory_max: '1GB' })).toMatchObject({ memoryHigh: GB, memoryMax: GB });
  });

  it('refuses an unknown mode with the key named', () => {
    expect(() => watchConfigSchema.parse({ governor: { agents: { claude: { mode: 'pause' } } } })).toThrow(/mode/);
  });
});

describe('session and tool cgroups', () => {
  const tmps: string[] = [];
  afterEach(() => {
    for (const t of tmps.splice(0)) fs.rmSync(t, { recursive: true, force: true });
  });
  function fakeTree(dirs: Record<string, string[]>): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-gov-'));
    tmps.push(root);
    for (const [d, files] of Object.entries(dirs)) {
      fs.mkdirSync(path.join(root, d), { recursive: true });
      for (const f of files) {
        const [name, content] = f.split('=');
        fs.writeFileSync(path.join(root, d, name!), content ?? '');
      }
    }
    return root;
  }
  const read = (f: string) => fs.readFileSync(f, 'utf8');

  it('v2 with controllers: memory.max and, in throttle mode, memory.high on the session; the tool gets memory.high', () => {
    const scope = '/sys/fs/cgroup/warden.slice';
    const root = fakeTree({ [scope]: ['cgroup.controllers=cpu memory pids', 'cgroup.subtree_control='] });
    const layout = detectCgroups({ procSelfCgroup: '0::/warden.slice\n', mountinfo: '30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw', root });
    const limits = { mode: 'throttle' as const, memoryHigh: 3 * GB, memoryMax: 4 * GB, pids: 100, cpuWeight: 100 };
    const cg = createSessionCgroups(layout, 'claude-1-x', limits, 'throttle');
    const dir = `${root}${scope}/warden.governor/claude-1-x`;
    expect(cg.session.identity).toBe(dir);
    expect(read(`${dir}/memory.max`)).toBe(String(4 * GB));
    expect(read(`${dir}/memory.high`)).toBe(String(3 * GB));
    expect(read(`${dir}/pids.max`)).toBe('100');
    expect(cg.main.identity).toBe(`${dir}/agent`);
    // the session holds no processes itself (they are in agent/), so its children can have controllers
    fs.writeFileSync(`${dir}/cgroup.subtree_control`, '');
    const t = splitTool(cg, { pid: 999_999, argv: ['jest'], pids: [] }, { mode: 'throttle', headroom: 500 * MB });
    expect(t.missing).toEqual([]);
    expect(read(`${dir}/tool-999999/memory.high`)).toBe(String(500 * MB));
    expect(t.node.enforcer('memory')).toBe('v2');
  });

  it("v1 memory (this machine): the hard limit, and throttle holds the OOM killer off (a pause); the tool is paused at what is left", () => {
    const root = fakeTree({
      '/sys/fs/cgroup/unified': ['cgroup.controllers=hugetlb', 'cgroup.subtree_control='],
      '/sys/fs/cgroup/memory/process_api/abc': [],
      '/sys/fs/cgroup/pids': [],
      '/sys/fs/cgroup/cpu': [],
    });
    const mountinfo = [
      '32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu',
      '35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
      '39 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids',
      '41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
    ].join('\n');
    const layout = detectCgroups({ procSelfCgroup: '8:pids:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n', mountinfo, root });
    const limits = { mode: 'throttle' as const, memoryHigh: 100 * MB, memoryMax: 200 * MB, pids: 50 };
    const cg = createSessionCgroups(layout, 'codex-2-y', limits, 'throttle');
    const mem = `${root}/sys/fs/cgroup/memory/process_api/abc/warden.governor/codex-2-y`;
    expect(read(`${mem}/memory.limit_in_bytes`)).toBe(String(200 * MB));
    expect(read(`${mem}/memory.oom_control`)).toBe('1');
    expect(cg.session.identity).toBe(`${root}/sys/fs/cgroup/unified/warden.governor/codex-2-y`);
    const t = splitTool(cg, { pid: 999_998, argv: ['python3', 'alloc.py'], pids: [] }, { mode: 'throttle', headroom: 30 * MB });
    expect(read(`${mem}/tool-999998/memory.limit_in_bytes`)).toBe(String(30 * MB));
    expect(read(`${mem}/tool-999998/memory.oom_control`)).toBe('1');
    expect(t.node.identity).toBe(`${root}/sys/fs/cgroup/unified/warden.governor/codex-2-y/tool-999998`);
  });

  it("never moves a process out of a cgroup that is not Warden's or an ancestor of it (limits someone else set)", () => {
    const layout = {
      v1: [
        { version: 1 as const, mount: '/sys/fs/cgroup/memory', own: '/process_api/warden', controllers: ['memory'] },
        { version: 1 as const, mount: '/sys/fs/cgroup/pids', own: '/', controllers: ['pids'] },
      ],
      v2: { version: 2 as const, mount: '/sys/fs/cgroup/unified', own: '/', controllers: [] },
    };
    const lines = (mem: string) => parseCgroupLines(`8:pids:/\n6:freezer:/elsewhere\n4:memory:${mem}\n0::/\n`);
    expect(notMovable(lines('/process_api/warden'), [], layout)).toBeUndefined();
    expect(notMovable(lines('/process_api/warden/job'), [], layout)).toBeUndefined();
    expect(notMovable(lines('/'), [], layout)).toBeUndefined();
    expect(notMovable(lines('/process_api/other'), [], layout)).toMatch(/outside Warden's/);
    expect(notMovable(lines('/process_api/warden/warden-abc'), [], layout)).toMatch(/sandbox/);
    expect(notMovable(lines('/process_api/warden/warden.governor/x/agent'), ['/process_api/warden/warden.governor/'], layout)).toBeUndefined();
    expect(notMovable(lines('/process_api/warden/warden.governor/x/agent'), ['/mine/warden.governor/'], layout)).toMatch(/another monitor/);
  });
});
