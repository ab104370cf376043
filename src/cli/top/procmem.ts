// Memory of an agent's process tree, read from /proc on this host (`warden top` runs where the
// monitor runs): the resident memory of the root and every descendant, and the memory limit
// of the cgroup the root is in, when it has one (v2 memory.max, v1 memory.limit_in_bytes).
import fs from 'node:fs';

export interface TreeMemory {
  rssBytes: number;
  processes: number;
  /** Undefined when the cgroup sets no limit (or it cannot be read). */
  limitBytes?: number;
}

interface Stat {
  ppid: number;
  rssPages: number;
}

const PAGE = 4096;
/** v1 reports "no limit" as a huge page-aligned number. */
const NO_LIMIT = 2 ** 60;

function readStat(pid: string): Stat | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses: fields start after the last ')'.
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(rest[1]), rssPages: Number(rest[21]) };
  } catch {
    return undefined;
  }
}

/** One pass over /proc: children by parent, and each process's resident pages. */
export function snapshot(): Map<number, { ppid: number; rss: number }> {
  const out = new Map<number, { ppid: number; rss: number }>();
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return out;
  }
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    const st = readStat(n);
    if (st) out.set(Number(n), { ppid: st.ppid, rss: st.rssPages * PAGE });
  }
  return out;
}

/** Memory of the tree under each root pid, from one snapshot. */
export function treeMemory(roots: number[], snap = snapshot()): Map<number, TreeMemory> {
  const children = new Map<number, number[]>();
  for (const [pid, s] of snap) {
    let l = children.get(s.ppid);
    if (!l) children.set(s.ppid, (l = []));
    l.push(pid);
  }
  const out = new Map<number, TreeMemory>();
  for (const root of roots) {
    if (!snap.has(root)) continue;
    let rss = 0;
    let n = 0;
    const stack = [root];
    const seen = new Set<number>();
    while (stack.length) {
      const p = stack.pop()!;
      if (seen.has(p)) continue;
      seen.add(p);
      rss += snap.get(p)?.rss ?? 0;
      n++;
      for (const c of children.get(p) ?? []) stack.push(c);
    }
    const limit = cgroupMemoryLimit(root);
    out.set(root, { rssBytes: rss, processes: n, ...(limit !== undefined ? { limitBytes: limit } : {}) });
  }
  return out;
}

/** The memory limit of the cgroup `pid` is in, if any. */
export function cgroupMemoryLimit(pid: number, root = '/sys/fs/cgroup'): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return undefined;
  }
  return limitFromCgroupFile(text, (p) => {
    try {
      return fs.readFileSync(root + p, 'utf8');
    } catch {
      return undefined;
    }
  });
}

/** Parses /proc/PID/cgroup and reads the limit through `read` (relative to the cgroup root). */
export function limitFromCgroupFile(text: string, read: (path: string) => string | undefined): number | undefined {
  let best: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, , ctrls, path] = m;
    const candidates: string[] = [];
    if (ctrls === '' ) candidates.push(`${path === '/' ? '' : path}/memory.max`, `/unified${path === '/' ? '' : path}/memory.max`);
    else if (ctrls!.split(',').includes('memory')) candidates.push(`/memory${path === '/' ? '' : path}/memory.limit_in_bytes`);
    for (const c of candidates) {
      const v = read(c)?.trim();
      if (!v || v === 'max') continue;
      const n = Number(v);
      if (Number.isFinite(n) && n > 0 && n < NO_LIMIT) best = best === undefined ? n : Math.min(best, n);
    }
  }
  return best;
}
