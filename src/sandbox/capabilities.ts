// What this host offers `warden run`, for `warden doctor`: bwrap and its version, whether a
// user namespace can actually be created (tried, not guessed), the cgroup hierarchies and
// which one would enforce each limit, and seccomp support.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { detectCgroups, planControllers } from './cgroups.js';
import { hostSeccompArch } from './seccomp.js';
import { diagnoseUsernsFailure, inNestedUserns, usernsPrecheck, type UsernsProblem } from './userns.js';
import { which } from './host.js';

export interface SandboxCapabilities {
  bwrap: { path: string; version: string } | null;
  userns: { ok: boolean; nested: boolean; problem?: UsernsProblem; detail?: string };
  seccomp: { available: boolean; filterArch: string | null; actions: string[] };
  cgroups: {
    v2?: { mount: string; own: string; controllers: string[]; writable: boolean };
    v1: Array<{ mount: string; own: string; controllers: string[] }>;
    /** Which hierarchy would enforce each limit for this user, null when none can. */
    limits: Record<'memory' | 'pids' | 'cpu', 'v1' | 'v2' | null>;
  };
  setpriv: boolean;
  /** Plain-language fixes for anything missing. */
  advice: string[];
}

export function sandboxCapabilities(): SandboxCapabilities {
  const advice: string[] = [];
  const root = process.getuid?.() === 0;
  const bwrapPath = which('bwrap', process.env.PATH ?? '/usr/bin:/bin');
  let bwrap: SandboxCapabilities['bwrap'] = null;
  if (bwrapPath) {
    const v = spawnSync(bwrapPath, ['--version'], { encoding: 'utf8', timeout: 5000 });
    bwrap = { path: bwrapPath, version: (v.stdout ?? '').trim().replace(/^bubblewrap\s*/, '') };
  } else advice.push('install bubblewrap: apt-get install bubblewrap');

  const userns: SandboxCapabilities['userns'] = { ok: false, nested: inNestedUserns() };
  const pre = usernsPrecheck(root);
  if (pre) userns.problem = pre;
  else if (bwrapPath) {
    const r = spawnSync(bwrapPath, ['--unshare-user', '--unshare-pid', '--ro-bind', '/', '/', '--', 'true'], { encoding: 'utf8', timeout: 10_000 });
    userns.ok = r.status === 0;
    if (!userns.ok) {
      userns.detail = (r.stderr ?? '').trim();
      userns.problem = diagnoseUsernsFailure(root);
    }
  }
  if (userns.problem) advice.push(userns.problem.fix);

  let actions: string[] = [];
  try {
    actions = fs.readFileSync('/proc/sys/kernel/seccomp/actions_avail', 'utf8').trim().split(/\s+/);
  } catch {
    /* kernel without seccomp filter support */
  }
  const arch = hostSeccompArch() ?? null;
  const seccomp = { available: actions.includes('errno'), filterArch: arch, actions };
  if (!seccomp.available) advice.push('the kernel lacks seccomp filters (CONFIG_SECCOMP_FILTER): warden run cannot start');
  if (!arch) advice.push(`no seccomp syscall table for ${process.arch}: warden run cannot start`);

  const layout = detectCgroups();
  const { map } = planControllers(layout, ['memory', 'pids', 'cpu']);
  const v = (c: 'memory' | 'pids' | 'cpu') => (map[c] ? (map[c]!.version === 2 ? 'v2' : 'v1') : null);
  const limits = { memory: v('memory'), pids: v('pids'), cpu: v('cpu') } as const;
  let v2: SandboxCapabilities['cgroups']['v2'];
  if (layout.v2) {
    let writable = false;
    try {
      fs.accessSync(`${layout.v2.mount}${layout.v2.own}`, fs.constants.W_OK);
      writable = true;
    } catch {
      /* not ours */
    }
    v2 = { mount: layout.v2.mount, own: layout.v2.own, controllers: layout.v2.controllers, writable };
  }
  if (!limits.memory || !limits.pids || !limits.cpu)
    advice.push('resource limits (resources.memory/pids/cpu) need a writable cgroup: run warden as root or delegate a cgroup to this user');
  const setpriv = !!which('setpriv', process.env.PATH ?? '/usr/bin:/bin');
  if (root && !setpriv) advice.push('install util-linux (setpriv) so sandboxes started by root can run as the workspace owner');

  return {
    bwrap,
    userns,
    seccomp,
    cgroups: { v2, v1: layout.v1.map((h) => ({ mount: h.mount, own: h.own, controllers: h.controllers })), limits },
    setpriv,
    advice,
  };
}
