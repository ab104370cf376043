// Sandbox cgroups: resource limits (memory, pids, cpu) through whichever hierarchy has the
// controller — v2 where it is enabled, v1 otherwise (this kernel binds memory to v1) — plus,
// wherever cgroup2 is mounted, a v2 cgroup for identity and control (cgroup.kill, freeze,
// `populated`, a bpftrace cgroupid filter) even when it has no controllers. Every cgroup is
// created below the one Warden itself runs in, so a sandbox never escapes limits its caller
// is under. Detection reads /proc/self/{cgroup,mountinfo}; nothing here needs systemd.
import fs from 'node:fs';
import path from 'node:path';

export type Controller = 'memory' | 'pids' | 'cpu';

export interface CgroupLimits {
  memoryBytes?: number;
  pids?: number;
  cpus?: number;
}

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

function relativeTo(cgPath: string, fsRoot: string): string | undefined {
  if (fsRoot === '/') return cgPath;
  if (cgPath === fsRoot) return '/';
  if (cgPath.startsWith(fsRoot + '/')) return cgPath.slice(fsRoot.length);
  return undefined; // our cgroup is outside what this mount shows (nested container)
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function readWords(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

function writable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export interface CgroupStats {
  memoryPeakBytes?: number;
  oomKills?: number;
  memoryLimitHits?: number;
  pidsLimitHits?: number;
  cpuThrottledPeriods?: number;
  cpuUsageUsec?: number;
}

/** The cgroups of one sandbox. */
export interface SandboxCgroups {
  /** Which hierarchy enforces each requested controller. */
  enforcedBy: Partial<Record<Controller, 'v1' | 'v2'>>;
  /** Every directory created (for the crash-recovery record), deepest last. */
  dirs: string[];
  /** cgroup.procs files the launcher joins before it execs bwrap. */
  procsFiles: string[];
  /** The v2 identity cgroup (kill/freeze/populated/bpftrace filter), when available. */
  identity?: string;
  stats(): CgroupStats;
  /** SIGKILL everything still inside. */
  killAll(): void;
  /** Waits (bounded) until empty, killing leftovers, then removes the directories. */
  destroy(timeoutMs?: number): Promise<string[]>;
}

export class CgroupError extends Error {}

export interface CreateOptions {
  id: string;
  limits: CgroupLimits;
  /** Create the v2 identity cgroup when possible even without limits. */
  identity: boolean;
}

/** Which hierarchy would enforce each controller (no side effects). */
export function planControllers(layout: CgroupLayout, wanted: Controller[]): { map: Partial<Record<Controller, Hierarchy>>; missing: Controller[] } {
  const map: Partial<Record<Controller, Hierarchy>> = {};
  const missing: Controller[] = [];
  for (const c of wanted) {
    if (layout.v2 && layout.v2.controllers.includes(c) && writable(path.join(layout.v2.mount, layout.v2.own))) map[c] = layout.v2;
    else {
      const h = layout.v1.find((x) => x.controllers.includes(c));
      if (h && writable(path.join(h.mount, h.own))) map[c] = h;
      else missing.push(c);
    }
  }
  return { map, missing };
}

export function wantedControllers(l: CgroupLimits): Controller[] {
  const w: Controller[] = [];
  if (l.memoryBytes !== undefined) w.push('memory');
  if (l.pids !== undefined) w.push('pids');
  if (l.cpus !== undefined) w.push('cpu');
  return w;
}

export function createSandboxCgroups(layout: CgroupLayout, opts: CreateOptions): SandboxCgroups {
  const wanted = wantedControllers(opts.limits);
  const { map, missing } = planControllers(layout, wanted);
  if (missing.length) {
    throw new CgroupError(
      `resources.${missing.join(', resources.')} needs a writable cgroup with the ${missing.join('/')} controller, and there is none ` +
        `(running as uid ${process.getuid?.()}; v2 controllers: ${layout.v2?.controllers.join(' ') || 'none'}; v1: ${layout.v1.flatMap((h) => h.controllers).join(' ') || 'none'}). ` +
        `Fix: run warden as root, or delegate a cgroup to this user, or remove these limits from the policy.`,
    );
  }
  const name = `warden-${opts.id}`;
  const dirs: string[] = [];
  const created = new Map<Hierarchy, string>();
  const mk = (h: Hierarchy): string => {
    let d = created.get(h);
    if (d) return d;
    d = path.join(h.mount, h.own, name);
    fs.mkdirSync(d);
    dirs.push(d);
    created.set(h, d);
    return d;
  };
  const enforcedBy: SandboxCgroups['enforcedBy'] = {};
  try {
    let identity: string | undefined;
    const v2 = layout.v2;
    if (v2 && (opts.identity || Object.values(map).includes(v2)) && writable(path.join(v2.mount, v2.own))) {
      const v2wanted = wanted.filter((c) => map[c] === v2);
      if (v2wanted.length) enableV2Controllers(path.join(v2.mount, v2.own), v2wanted);
      identity = mk(v2);
    }
    const l = opts.limits;
    for (const c of wanted) {
      const h = map[c]!;
      const d = mk(h);
      enforcedBy[c] = h.version === 2 ? 'v2' : 'v1';
      if (h.version === 2) {
        if (c === 'memory') {
          w(d, 'memory.max', String(l.memoryBytes));
          tryW(d, 'memory.swap.max', '0');
        } else if (c === 'pids') w(d, 'pids.max', String(l.pids));
        else w(d, 'cpu.max', `${Math.max(1000, Math.round(l.cpus! * 100_000))} 100000`);
      } else {
        if (c === 'memory') {
          w(d, 'memory.limit_in_bytes', String(l.memoryBytes));
          // With swap accounting, the swap+memory limit must follow or swap is an escape.
          tryW(d, 'memory.memsw.limit_in_bytes', String(l.memoryBytes));
        } else if (c === 'pids') w(d, 'pids.max', String(l.pids));
        else {
          w(d, 'cpu.cfs_period_us', '100000');
          w(d, 'cpu.cfs_quota_us', String(Math.max(1000, Math.round(l.cpus! * 100_000))));
        }
      }
    }
    const handles = [...created.entries()];
    return {
      enforcedBy,
      dirs,
      procsFiles: dirs.map((d) => path.join(d, 'cgroup.procs')),
      identity,
      stats: () => readStats(handles),
      killAll: () => killAll(dirs, identity),
      destroy: (t) => destroyDirs(dirs, identity, t),
    };
  } catch (err) {
    for (const d of dirs.reverse()) {
      try {
        fs.rmdirSync(d);
      } catch {
        /* best effort: the state record still lists it */
      }
    }
    if (err instanceof CgroupError) throw err;
    throw new CgroupError(`cannot set up the sandbox cgroup: ${(err as Error).message}`);
  }
}

function w(dir: string, file: string, value: string): void {
  fs.writeFileSync(path.join(dir, file), value);
}

function tryW(dir: string, file: string, value: string): void {
  try {
    w(dir, file, value);
  } catch {
    /* optional knob (no swap accounting) */
  }
}

function enableV2Controllers(parent: string, ctrls: Controller[]): void {
  const have = readWords(path.join(parent, 'cgroup.subtree_control'));
  const need = ctrls.filter((c) => !have.includes(c));
  if (!need.length) return;
  try {
    fs.writeFileSync(path.join(parent, 'cgroup.subtree_control'), need.map((c) => `+${c}`).join(' '));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EBUSY')
      throw new CgroupError(
        `cgroup v2: cannot enable ${need.join(', ')} below ${parent} because processes live in it ("no internal processes" rule). ` +
          `Fix: start warden in a cgroup of its own (e.g. systemd-run --scope -p Delegate=yes warden run ...).`,
      );
    throw err;
  }
}

function readKv(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const [k, v] = line.split(/\s+/);
      if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
    }
  } catch {
    /* missing file: stat not available */
  }
  return out;
}

function readNum(file: string): number | undefined {
  try {
    const s = fs.readFileSync(file, 'utf8').trim();
    return /^\d+$/.test(s) ? Number(s) : undefined;
  } catch {
    return undefined;
  }
}

function readStats(handles: Array<[Hierarchy, string]>): CgroupStats {
  const s: CgroupStats = {};
  for (const [h, d] of handles) {
    if (h.version === 2) {
      if (h.controllers.includes('memory') && fs.existsSync(path.join(d, 'memory.events'))) {
        const ev = readKv(path.join(d, 'memory.events'));
        s.oomKills = ev.oom_kill;
        s.memoryLimitHits = ev.max;
        s.memoryPeakBytes = readNum(path.join(d, 'memory.peak'));
      }
      if (fs.existsSync(path.join(d, 'pids.events'))) s.pidsLimitHits = readKv(path.join(d, 'pids.events')).max;
      const cpu = readKv(path.join(d, 'cpu.stat'));
      if (cpu.usage_usec !== undefined) s.cpuUsageUsec = cpu.usage_usec;
      if (cpu.nr_throttled !== undefined) s.cpuThrottledPeriods = cpu.nr_throttled;
    } else {
      if (h.controllers.includes('memory')) {
        s.oomKills = readKv(path.join(d, 'memory.oom_control')).oom_kill;
        s.memoryLimitHits = readNum(path.join(d, 'memory.failcnt'));
        s.memoryPeakBytes = readNum(path.join(d, 'memory.max_usage_in_bytes'));
      }
      if (h.controllers.includes('pids')) s.pidsLimitHits = readKv(path.join(d, 'pids.events')).max;
      if (h.controllers.includes('cpu')) s.cpuThrottledPeriods = readKv(path.join(d, 'cpu.stat')).nr_throttled;
    }
  }
  return s;
}

function procsOf(dir: string): number[] {
  try {
    return fs
      .readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function killAll(dirs: string[], identity: string | undefined): void {
  if (identity) {
    try {
      fs.writeFileSync(path.join(identity, 'cgroup.kill'), '1');
      return;
    } catch {
      /* kernel < 5.14: fall back to signalling each process */
    }
  }
  for (const d of dirs)
    for (const pid of procsOf(d)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
}

function empty(dirs: string[], identity: string | undefined): boolean {
  if (identity) {
    const ev = readKv(path.join(identity, 'cgroup.events'));
    if (ev.populated !== undefined) return ev.populated === 0 && dirs.every((d) => d === identity || procsOf(d).length === 0);
  }
  return dirs.every((d) => procsOf(d).length === 0);
}

/** Removes sandbox cgroup directories; returns those that could not be removed. */
export async function destroyDirs(dirs: string[], identity?: string, timeoutMs = 3000): Promise<string[]> {
  const existing = dirs.filter((d) => fs.existsSync(d));
  if (!existing.length) return [];
  const deadline = Date.now() + timeoutMs;
  let killed = false;
  let delay = 1;
  while (!empty(existing, identity) && Date.now() < deadline) {
    // The pid namespace dies with bwrap, but its processes may take a moment to be reaped.
    if (delay > 8 && !killed) {
      killAll(existing, identity);
      killed = true;
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
  const left: string[] = [];
  for (const d of [...existing].reverse()) {
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) {
      try {
        fs.rmdirSync(d);
        ok = true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') ok = true;
        else if (code === 'EBUSY' && Date.now() < deadline) {
          killAll([d], undefined);
          await sleep(5);
        } else break;
      }
    }
    if (!ok) left.push(d);
  }
  return left;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
