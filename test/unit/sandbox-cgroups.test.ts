import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSandboxCgroups, detectCgroups, planControllers, type CgroupLayout } from '../../src/sandbox/cgroups.js';
import { diagnoseUsernsFailure, formatProblem, inNestedUserns, usernsPrecheck } from '../../src/sandbox/userns.js';

// This machine's layout: memory, pids and cpu on v1; cgroup2 with only hugetlb.
const HYBRID_CGROUP = '9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n1:cpu:/\n2:cpuacct:/\n0::/\n';
const HYBRID_MOUNTINFO = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct',
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');
// A systemd host with everything on v2.
const V2_CGROUP = '0::/user.slice/user-1000.slice/session-2.scope\n';
const V2_MOUNTINFO = '30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate';

const tmps: string[] = [];
afterEach(() => {
  for (const t of tmps.splice(0)) fs.rmSync(t, { recursive: true, force: true });
});

function fakeTree(dirs: Record<string, string[]>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-cg-'));
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

describe('cgroup detection', () => {
  it('reads the hybrid layout of this kind of machine', () => {
    const root = fakeTree({ '/sys/fs/cgroup/unified': ['cgroup.controllers=hugetlb'] });
    const l = detectCgroups({ procSelfCgroup: HYBRID_CGROUP, mountinfo: HYBRID_MOUNTINFO, root });
    expect(l.v2).toEqual({ version: 2, mount: `${root}/sys/fs/cgroup/unified`, own: '/', controllers: ['hugetlb'] });
    const mem = l.v1.find((h) => h.controllers.includes('memory'))!;
    expect(mem.own).toBe('/process_api/abc');
    expect(l.v1.flatMap((h) => h.controllers)).toEqual(expect.arrayContaining(['cpu', 'cpuacct', 'memory', 'pids']));
  });

  it('picks v1 for controllers v2 does not have, and v2 when it has them', () => {
    const hybrid = fakeTree({ '/sys/fs/cgroup/unified': ['cgroup.controllers=hugetlb'], '/sys/fs/cgroup/memory/process_api/abc': [], '/sys/fs/cgroup/pids': [], '/sys/fs/cgroup/cpu': [] });
    const l = detectCgroups({ procSelfCgroup: HYBRID_CGROUP, mountinfo: HYBRID_MOUNTINFO, root: hybrid });
    const { map, missing } = planControllers(l, ['memory', 'pids', 'cpu']);
    expect(missing).toEqual([]);
    expect(map.memory!.version).toBe(1);
    expect(map.cpu!.version).toBe(1);

    const v2 = fakeTree({ '/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope': ['cgroup.controllers=cpu memory pids'] });
    const l2 = detectCgroups({ procSelfCgroup: V2_CGROUP, mountinfo: V2_MOUNTINFO, root: v2 });
    expect(l2.v1).toEqual([]);
    expect(planControllers(l2, ['memory', 'pids']).map.memory!.version).toBe(2);
  });

  it('creates v1 limits and a v2 identity cgroup in a fake tree', () => {
    const root = fakeTree({
      '/sys/fs/cgroup/unified': ['cgroup.controllers=hugetlb', 'cgroup.subtree_control='],
      '/sys/fs/cgroup/memory/process_api/abc': [],
      '/sys/fs/cgroup/pids': [],
      '/sys/fs/cgroup/cpu': [],
    });
    const layout: CgroupLayout = detectCgroups({ procSelfCgroup: HYBRID_CGROUP, mountinfo: HYBRID_MOUNTINFO, root });
    const cg = createSandboxCgroups(layout, { id: 't1', limits: { memoryBytes: 1 << 20, pids: 16, cpus: 0.5 }, identity: true });
    expect(cg.identity).toBe(`${root}/sys/fs/cgroup/unified/warden-t1`);
    expect(cg.enforcedBy).toEqual({ memory: 'v1', pids: 'v1', cpu: 'v1' });
    const mem = `${root}/sys/fs/cgroup/memory/process_api/abc/warden-t1`;
    expect(fs.readFileSync(`${mem}/memory.limit_in_bytes`, 'utf8')).toBe(String(1 << 20));
    expect(fs.readFileSync(`${root}/sys/fs/cgroup/pids/warden-t1/pids.max`, 'utf8')).toBe('16');
    expect(fs.readFileSync(`${root}/sys/fs/cgroup/cpu/warden-t1/cpu.cfs_quota_us`, 'utf8')).toBe('50000');
    expect(cg.procsFiles).toHaveLength(4);
  });

  it('writes v2 limits and enables the controllers in the parent', () => {
    const scope = '/sys/fs/cgroup/warden.slice';
    const root = fakeTree({ [scope]: ['cgroup.controllers=cpu memory pids', 'cgroup.subtree_control='] });
    const layout = detectCgroups({ procSelfCgroup: '0::/warden.slice\n', mountinfo: V2_MOUNTINFO, root });
    const cg = createSandboxCgroups(layout, { id: 't2', limits: { memoryBytes: 4096, pids: 8, cpus: 2 }, identity: true });
    expect(cg.enforcedBy).toEqual({ memory: 'v2', pids: 'v2', cpu: 'v2' });
    expect(fs.readFileSync(`${root}${scope}/cgroup.subtree_control`, 'utf8')).toBe('+memory +pids +cpu');
    const d = `${root}${scope}/warden-t2`;
    expect(cg.dirs).toEqual([d]);
    expect(fs.readFileSync(`${d}/memory.max`, 'utf8')).toBe('4096');
    expect(fs.readFileSync(`${d}/cpu.max`, 'utf8')).toBe('200000 100000');
  });

  it('explains when no cgroup can enforce a limit', () => {
    const l: CgroupLayout = { v1: [] };
    expect(() => createSandboxCgroups(l, { id: 'x', limits: { memoryBytes: 1 }, identity: true })).toThrow(/resources.memory needs a writable cgroup.*Fix:/);
  });
});

describe('user namespace diagnosis', () => {
  const reader = (files: Record<string, string>) => (f: string) => files[f];
  it('names the sysctl that disables user namespaces and the fix', () => {
    const p = usernsPrecheck(false, reader({ '/proc/sys/user/max_user_namespaces': '0' }))!;
    expect(p.cause).toMatch(/user.max_user_namespaces = 0/);
    expect(formatProblem(p)).toMatch(/fix: sysctl -w user.max_user_namespaces=/);
    expect(usernsPrecheck(false, reader({ '/proc/sys/kernel/unprivileged_userns_clone': '0' }))!.cause).toMatch(/unprivileged_userns_clone/);
    expect(usernsPrecheck(true, reader({ '/proc/sys/kernel/unprivileged_userns_clone': '0' }))).toBeUndefined();
  });
  it('recognises AppArmor restrictions and containers', () => {
    expect(diagnoseUsernsFailure(false, reader({ '/proc/sys/kernel/apparmor_restrict_unprivileged_userns': '1' }))!.fix).toMatch(/apparmor_parser/);
    expect(inNestedUserns(reader({ '/proc/self/uid_map': '         0       1000          1' }))).toBe(true);
    expect(inNestedUserns(reader({ '/proc/self/uid_map': '         0          0 4294967295' }))).toBe(false);
    expect(diagnoseUsernsFailure(false, reader({ '/proc/self/uid_map': '0 1000 1' }))!.cause).toMatch(/container/);
  });
});
