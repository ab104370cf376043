// Where the cgroup hierarchies are and which controllers each offers, seen from this process:
// v2 where a controller is enabled, v1 otherwise (this kernel binds memory to v1), and the
// v2 tree even without controllers (cgroup.kill, freeze, `populated`, a bpftrace filter id).
// Every cgroup Warden makes goes below the one it runs in, so nothing escapes limits Warden
// itself is under. Reads /proc/self/{cgroup,mountinfo}; nothing here needs systemd.
import fs from 'node:fs';
import path from 'node:path';
import { readWords, writable } from './files.js';

export type Controller = 'memory' | 'pids' | 'cpu';

export interface Hierarchy {
  version: 1 | 2;
  /** Mount point of the hierarchy. */
  mount: string;
  /** Warden's own cgroup path inside it (from /proc/self/cgroup). */
  own: string;
  /** v1: the controllers bound to this mount; v2: cgroup.controllers of Warden's own cgroup. */
  controllers: string[];
}

export interface CgroupLayout {
  v1: Hierarchy[];
  v2?: Hierarchy;
}

/** Reads the cgroup layout of the current process. `root` lets tests point it at a fake tree. */
export function detectCgroups(opts: { procSelfCgroup?: string; mountinfo?: string; root?: string } = {}): CgroupLayout {
  let cgText = opts.procSelfCgroup;
  let miText = opts.mountinfo;
  try {
    cgText ??= fs.readFileSync('/proc/self/cgroup', 'utf8');
    miText ??= fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return { v1: [] };
  }
  const ownV1 = new Map<string, string>();
  let ownV2: string | undefined;
  for (const line of cgText.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') ownV2 = m[3]!;
    else for (const c of m[2]!.split(',')) if (c) ownV1.set(c, m[3]!);
  }
  const layout: CgroupLayout = { v1: [] };
  const root = opts.root ?? '';
  for (const line of miText.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fstype = right[0];
    const mnt = unescapeMount(left[4] ?? '');
    const fsRoot = unescapeMount(left[3] ?? '/');
    if (fstype === 'cgroup2' && ownV2 !== undefined && !layout.v2) {
      const own = relativeTo(ownV2, fsRoot);
      if (own === undefined) continue;
      const dir = root + path.join(mnt, own);
      layout.v2 = { version: 2, mount: root + mnt, own, controllers: readWords(path.join(dir, 'cgroup.controllers')) };
    } else if (fstype === 'cgroup') {
      const ctrls = (right[2] ?? '').split(',').filter((o) => ownV1.has(o));
      if (ctrls.length === 0) continue;
      const own = relativeTo(ownV1.get(ctrls[0]!)!, fsRoot);
      if (own === undefined) continue;
      if (layout.v1.some((h) => h.controllers.some((c) => ctrls.includes(c)))) continue;
      layout.v1.push({ version: 1, mount: root + mnt, own, controllers: ctrls });
    }
  }
  return layout;
}

/** Detection that never throws (no cgroups at all reads as an empty layout). */
export function detectLayoutSafe(): CgroupLayout {
  try {
    return detectCgroups();
  } catch {
    return { v1: [] };
  }
}

function relativeTo(cgPath: string, fsRoot: string): string | undefined {
  if (fsRoot === '/') return cgPath;
  if (cgPath === fsRoot) return '/';
  if (cgPath.startsWith(fsRoot + '/')) return cgPath.slice(fsRoot.length);
  return undefined; // our cgroup is outside what this mount shows (nested container)
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Warden's own cgroup directory in a hierarchy. */
export function ownDir(h: Hierarchy): string {
  return path.join(h.mount, h.own);
}

/** Which hierarchy would enforce each controller (no side effects). */
export function planControllers(layout: CgroupLayout, wanted: Controller[]): { map: Partial<Record<Controller, Hierarchy>>; missing: Controller[] } {
  const map: Partial<Record<Controller, Hierarchy>> = {};
  const missing: Controller[] = [];
  for (const c of wanted) {
    if (layout.v2 && layout.v2.controllers.includes(c) && writable(ownDir(layout.v2))) map[c] = layout.v2;
    else {
      const h = layout.v1.find((x) => x.controllers.includes(c));
      if (h && writable(ownDir(h))) map[c] = h;
      else missing.push(c);
    }
  }
  return { map, missing };
}

/** The v1 hierarchy with the freezer controller, when mounted and writable. */
export function v1Freezer(layout: CgroupLayout): Hierarchy | undefined {
  const h = layout.v1.find((x) => x.controllers.includes('freezer'));
  return h && writable(ownDir(h)) ? h : undefined;
}
