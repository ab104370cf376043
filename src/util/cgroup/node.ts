// One logical cgroup spread over the hierarchies that enforce its controllers (v1 memory,
// pids, cpu here; v2 where enabled) plus the v2 cgroup that identifies it (kill, freeze,
// `populated`). The sandbox (`warden run`) and the governor (`warden watch`) both build
// theirs from it: limits, usage, moving processes in, freezing, killing, removing.
import fs from 'node:fs';
import path from 'node:path';
import { childDirs, procsOf, readKv, readNum, readWords, tryW, w, writable } from './files.js';
import { ownDir, planControllers, v1Freezer, type CgroupLayout, type Controller, type Hierarchy } from './layout.js';

export class CgroupError extends Error {}

export interface NodeDir {
  h: Hierarchy;
  dir: string;
}

export interface MemoryState {
  usageBytes?: number;
  /** The hard limit in force (v1 limit_in_bytes, v2 memory.max), undefined = none. */
  maxBytes?: number;
  /** v2 memory.high, undefined = none. */
  highBytes?: number;
  peakBytes?: number;
  oomKills?: number;
  /** v1 with oom_kill_disable: the group waits at its limit. */
  underOom?: boolean;
  limitHits?: number;
}

/** v1 reports "no limit" as a huge page-aligned number. */
const NO_LIMIT = 2 ** 60;

export class CgroupNode {
  private constructor(
    readonly name: string,
    /** One directory per hierarchy, the v2 identity first when there is one. */
    readonly dirs: NodeDir[],
    /** Which directory enforces each controller. */
    private readonly by: Partial<Record<Controller | 'freezer', NodeDir>>,
    /** The v2 directory (identity: kill, freeze, populated), when cgroup2 is mounted and ours. */
    readonly identity: string | undefined,
  ) {}

  /**
   * Creates `name` below Warden's own cgroup in every hierarchy it needs: those enforcing
   * `controllers`, v2 for identity when asked (or when v2 enforces something), and the v1
   * freezer when asked and there is no v2 to freeze with. Existing directories are reused.
   */
  static create(layout: CgroupLayout, name: string, o: { controllers: Controller[]; identity: boolean; freezer?: boolean; under?: string }): CgroupNode {
    const { map, missing } = planControllers(layout, o.controllers);
    if (missing.length) throw new CgroupError(missingMessage(layout, missing));
    const made: NodeDir[] = [];
    const by: Partial<Record<Controller | 'freezer', NodeDir>> = {};
    const seen = new Map<Hierarchy, NodeDir>();
    const rel = o.under ? path.join(o.under, name) : name;
    const mk = (h: Hierarchy): NodeDir => {
      let d = seen.get(h);
      if (d) return d;
      if (o.under) fs.mkdirSync(path.join(ownDir(h), o.under), { recursive: true });
      d = { h, dir: path.join(ownDir(h), rel) };
      try {
        fs.mkdirSync(d.dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      made.push(d);
      seen.set(h, d);
      return d;
    };
    try {
      const v2 = layout.v2;
      let identity: string | undefined;
      const v2wanted = o.controllers.filter((c) => map[c] === v2);
      if (v2 && (v2wanted.length || (o.identity && writable(ownDir(v2))))) {
        if (v2wanted.length) enableV2Controllers(ownDir(v2), o.under, v2wanted);
        identity = mk(v2).dir;
      }
      for (const c of o.controllers) by[c] = mk(map[c]!);
      if (o.freezer && !identity) {
        const fh = v1Freezer(layout);
        if (fh) by.freezer = mk(fh);
      }
      return new CgroupNode(name, made, by, identity);
    } catch (err) {
      for (const d of made.reverse()) rmdirQuiet(d.dir);
      if (err instanceof CgroupError) throw err;
      throw new CgroupError(`cannot create cgroup ${rel}: ${(err as Error).message}`);
    }
  }

  /** A node over directories that already exist (crash recovery, `warden resume` without a monitor). */
  static existing(layout: CgroupLayout, rel: string): CgroupNode | undefined {
    const dirs: NodeDir[] = [];
    const by: Partial<Record<Controller | 'freezer', NodeDir>> = {};
    let identity: string | undefined;
    const hs = [...(layout.v2 ? [layout.v2] : []), ...layout.v1];
    for (const h of hs) {
      const dir = path.join(ownDir(h), rel);
      if (!fs.existsSync(dir)) continue;
      const d = { h, dir };
      dirs.push(d);
      if (h.version === 2) identity = dir;
      for (const c of h.controllers) if (['memory', 'pids', 'cpu', 'freezer'].includes(c)) by[c as Controller] ??= d;
    }
    return dirs.length ? new CgroupNode(path.basename(rel), dirs, by, identity) : undefined;
  }

  /**
   * A child cgroup in each of this node's hierarchies. In v2, controllers must be enabled in
   * this node's subtree_control, which the kernel refuses while this node holds processes
   * ("no internal processes"): the child then has none of them (reported in `missing`).
   */
  child(name: string): { node: CgroupNode; missing: Controller[] } {
    const made: NodeDir[] = [];
    const by: Partial<Record<Controller | 'freezer', NodeDir>> = {};
    const missing: Controller[] = [];
    const map = new Map<NodeDir, NodeDir>();
    try {
      for (const d of this.dirs) {
        const c = { h: d.h, dir: path.join(d.dir, name) };
        try {
          fs.mkdirSync(c.dir);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        made.push(c);
        map.set(d, c);
      }
      for (const [k, d] of Object.entries(this.by) as Array<[Controller | 'freezer', NodeDir]>) {
        const c = map.get(d)!;
        if (d.h.version === 2 && k !== 'freezer') {
          const have = readWords(path.join(d.dir, 'cgroup.subtree_control'));
          if (!have.includes(k) && !tryW(d.dir, 'cgroup.subtree_control', `+${k}`)) {
            missing.push(k);
            continue;
          }
        }
        by[k] = c;
      }
    } catch (err) {
      for (const d of made.reverse()) rmdirQuiet(d.dir);
      throw new CgroupError(`cannot create cgroup ${name} below ${this.name}: ${(err as Error).message}`);
    }
    const identity = this.identity ? path.join(this.identity, name) : undefined;
    return { node: new CgroupNode(name, made, by, identity), missing };
  }

  /** Which hierarchy enforces a controller here ('v1' | 'v2'), if any. */
  enforcer(c: Controller): 'v1' | 'v2' | undefined {
    const d = this.by[c];
    return d ? (d.h.version === 2 ? 'v2' : 'v1') : undefined;
  }

  dirOf(c: Controller): string | undefined {
    return this.by[c]?.dir;
  }

  /** cgroup.procs files of every hierarchy (a launcher joins them all before exec). */
  get procsFiles(): string[] {
    return this.dirs.map((d) => path.join(d.dir, 'cgroup.procs'));
  }

  // ---- limits ---------------------------------------------------------------------------

  /**
   * Memory: `max` is the hard limit, `high` the v2 throttling threshold (v1 has none),
   * `oomKillDisable` (v1) makes the group wait at its limit instead of the OOM killer acting,
   * `oomGroup` (v2) kills the whole group when one of its processes is OOM-killed.
   * Throws when a required write fails (a limit below current usage that cannot be reclaimed).
   */
  setMemory(o: { max?: number | 'max'; high?: number | 'max'; oomKillDisable?: boolean; oomGroup?: boolean }): void {
    const d = this.by.memory;
    if (!d) throw new CgroupError(`cgroup ${this.name} has no memory controller`);
    if (d.h.version === 2) {
      if (o.max !== undefined) w(d.dir, 'memory.max', String(o.max));
      if (o.high !== undefined) w(d.dir, 'memory.high', String(o.high));
      if (o.max !== undefined) tryW(d.dir, 'memory.swap.max', '0');
      if (o.oomGroup !== undefined) tryW(d.dir, 'memory.oom.group', o.oomGroup ? '1' : '0');
    } else {
      if (o.max !== undefined) {
        const v = o.max === 'max' ? '-1' : String(o.max);
        // memsw must stay >= the memory limit: raise it first when raising, after when lowering.
        const raising = o.max === 'max' || o.max > (readNum(path.join(d.dir, 'memory.limit_in_bytes')) ?? 0);
        if (raising) tryW(d.dir, 'memory.memsw.limit_in_bytes', v);
        w(d.dir, 'memory.limit_in_bytes', v);
        // With swap accounting, the swap+memory limit must follow or swap is an escape.
        if (!raising) tryW(d.dir, 'memory.memsw.limit_in_bytes', v);
      }
      if (o.oomKillDisable !== undefined) w(d.dir, 'memory.oom_control', o.oomKillDisable ? '1' : '0');
    }
  }

  setPids(max: number | 'max'): void {
    const d = this.by.pids;
    if (!d) throw new CgroupError(`cgroup ${this.name} has no pids controller`);
    w(d.dir, 'pids.max', String(max));
  }

  /** `cpus`: a cap in cores (quota); `weight`: relative share, 1-10000, 100 = normal. */
  setCpu(o: { cpus?: number | 'max'; weight?: number }): void {
    const d = this.by.cpu;
    if (!d) throw new CgroupError(`cgroup ${this.name} has no cpu controller`);
    if (d.h.version === 2) {
      if (o.cpus !== undefined) w(d.dir, 'cpu.max', o.cpus === 'max' ? 'max 100000' : `${Math.max(1000, Math.round(o.cpus * 100_000))} 100000`);
      if (o.weight !== undefined) w(d.dir, 'cpu.weight', String(Math.round(o.weight)));
    } else {
      if (o.cpus !== undefined) {
        w(d.dir, 'cpu.cfs_period_us', '100000');
        w(d.dir, 'cpu.cfs_quota_us', o.cpus === 'max' ? '-1' : String(Math.max(1000, Math.round(o.cpus * 100_000))));
      }
      if (o.weight !== undefined) w(d.dir, 'cpu.shares', String(Math.max(2, Math.round((o.weight * 1024) / 100))));
    }
  }

  // ---- state ----------------------------------------------------------------------------

  memory(): MemoryState {
    const d = this.by.memory;
    if (!d) return {};
    if (d.h.version === 2) {
      const ev = readKv(path.join(d.dir, 'memory.events'));
      return {
        usageBytes: readNum(path.join(d.dir, 'memory.current')),
        maxBytes: readNum(path.join(d.dir, 'memory.max')),
        highBytes: readNum(path.join(d.dir, 'memory.high')),
        peakBytes: readNum(path.join(d.dir, 'memory.peak')),
        oomKills: ev.oom_kill,
        limitHits: ev.max,
      };
    }
    const oc = readKv(path.join(d.dir, 'memory.oom_control'));
    const max = readNum(path.join(d.dir, 'memory.limit_in_bytes'));
    return {
      usageBytes: readNum(path.join(d.dir, 'memory.usage_in_bytes')),
      maxBytes: max !== undefined && max < NO_LIMIT ? max : undefined,
      peakBytes: readNum(path.join(d.dir, 'memory.max_usage_in_bytes')),
      oomKills: oc.oom_kill,
      underOom: oc.under_oom === 1,
      limitHits: readNum(path.join(d.dir, 'memory.failcnt')),
    };
  }

  /** CPU time used by the group in µs (v2 cpu.stat works without the cpu controller; v1 cpuacct). */
  cpuUsageUsec(): number | undefined {
    if (this.identity) {
      const u = readKv(path.join(this.identity, 'cpu.stat')).usage_usec;
      if (u !== undefined) return u;
    }
    for (const d of this.dirs) {
      if (d.h.version === 2) continue;
      const n = readNum(path.join(d.dir, 'cpuacct.usage'));
      if (n !== undefined) return Math.round(n / 1000);
    }
    return undefined;
  }

  pidsState(): { current?: number; max?: number; limitHits?: number } {
    const d = this.by.pids;
    if (!d) return {};
    return { current: readNum(path.join(d.dir, 'pids.current')), max: readNum(path.join(d.dir, 'pids.max')), limitHits: readKv(path.join(d.dir, 'pids.events')).max };
  }

  /** Processes directly in this node (any hierarchy). */
  procs(): number[] {
    const set = new Set<number>();
    for (const d of this.dirs) for (const p of procsOf(d.dir)) set.add(p);
    return [...set];
  }

  /** Processes in this node and its children. */
  procsDeep(): number[] {
    const set = new Set<number>();
    const walk = (dir: string, depth: number) => {
      for (const p of procsOf(dir)) set.add(p);
      if (depth > 0) for (const c of childDirs(dir)) walk(c, depth - 1);
    };
    for (const d of this.dirs) walk(d.dir, 6);
    return [...set];
  }

  populated(): boolean {
    if (this.identity) {
      const ev = readKv(path.join(this.identity, 'cgroup.events'));
      if (ev.populated !== undefined) return ev.populated === 1;
    }
    return this.procsDeep().length > 0;
  }

  // ---- control --------------------------------------------------------------------------

  /** Moves a process (all its threads) into every hierarchy of this node. Returns the failures. */
  addProcess(pid: number): string[] {
    const errors: string[] = [];
    for (const d of this.dirs) {
      try {
        w(d.dir, 'cgroup.procs', String(pid));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ESRCH') return ['gone'];
        errors.push(`${d.dir}: ${code ?? (err as Error).message}`);
      }
    }
    return errors;
  }

  /** Freezes or thaws: v2 cgroup.freeze, else the v1 freezer. False when neither exists. */
  freeze(on: boolean): boolean {
    if (this.identity && tryW(this.identity, 'cgroup.freeze', on ? '1' : '0')) return true;
    const fz = this.by.freezer;
    return !!fz && tryW(fz.dir, 'freezer.state', on ? 'FROZEN' : 'THAWED');
  }

  /** True when the group is frozen (v2 cgroup.events `frozen`, or v1 freezer.state). */
  frozen(): boolean {
    if (this.identity) {
      const ev = readKv(path.join(this.identity, 'cgroup.events'));
      if (ev.frozen !== undefined) return ev.frozen === 1;
    }
    const fz = this.by.freezer;
    if (!fz) return false;
    try {
      return fs.readFileSync(path.join(fz.dir, 'freezer.state'), 'utf8').trim() === 'FROZEN';
    } catch {
      return false;
    }
  }

  /** SIGKILLs everything inside, children included (v2 cgroup.kill, else each process). */
  kill(): number {
    const before = this.procsDeep().length;
    if (this.identity && tryW(this.identity, 'cgroup.kill', '1')) return before;
    for (const pid of this.procsDeep()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    return before;
  }

  /** Removes the directories (children first); returns those that could not be removed. */
  remove(): string[] {
    const left: string[] = [];
    for (const d of [...this.dirs].reverse()) {
      for (const c of childDirs(d.dir)) rmTree(c);
      if (!rmdirQuiet(d.dir)) left.push(d.dir);
    }
    return left;
  }
}

function rmTree(dir: string): void {
  for (const c of childDirs(dir)) rmTree(c);
  rmdirQuiet(dir);
}

function rmdirQuiet(dir: string): boolean {
  try {
    fs.rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

function missingMessage(layout: CgroupLayout, missing: Controller[]): string {
  return (
    `resources.${missing.join(', resources.')} needs a writable cgroup with the ${missing.join('/')} controller, and there is none ` +
    `(running as uid ${process.getuid?.()}; v2 controllers: ${layout.v2?.controllers.join(' ') || 'none'}; v1: ${layout.v1.flatMap((h) => h.controllers).join(' ') || 'none'}). ` +
    `Fix: run warden as root, or delegate a cgroup to this user, or remove these limits from the policy.`
  );
}

/**
 * Enables controllers for children of Warden's own v2 cgroup (and of `under`). The kernel
 * refuses while that cgroup holds processes ("no internal processes"): then Warden, as root,
 * moves itself into a leaf `warden.self` and tries again, as a delegated service manager does.
 */
function enableV2Controllers(own: string, under: string | undefined, ctrls: Controller[]): void {
  const enable = (parent: string) => {
    const have = readWords(path.join(parent, 'cgroup.subtree_control'));
    const need = ctrls.filter((c) => !have.includes(c));
    if (need.length) fs.writeFileSync(path.join(parent, 'cgroup.subtree_control'), need.map((c) => `+${c}`).join(' '));
  };
  try {
    enable(own);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EBUSY') throw err;
    if (!moveSelfToLeaf(own))
      throw new CgroupError(
        `cgroup v2: cannot enable ${ctrls.join(', ')} below ${own} because processes live in it ("no internal processes" rule). ` +
          `Fix: start warden in a cgroup of its own (e.g. systemd-run --scope -p Delegate=yes warden ...).`,
      );
    enable(own);
  }
  if (under) {
    const dir = path.join(own, under);
    fs.mkdirSync(dir, { recursive: true });
    enable(dir);
  }
}

/** Moves this process into `<own>/warden.self` when it is the only one in `own`. */
function moveSelfToLeaf(own: string): boolean {
  const procs = procsOf(own);
  if (procs.some((p) => p !== process.pid)) return false;
  const leaf = path.join(own, 'warden.self');
  try {
    fs.mkdirSync(leaf, { recursive: true });
    w(leaf, 'cgroup.procs', String(process.pid));
    return true;
  } catch {
    return false;
  }
}
