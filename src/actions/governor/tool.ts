// Which subtree of a session is the runaway tool. The agent's own process is not: when it is
// the one that holds the memory (or burns the CPU), there is no tool to single out. Starting
// at the agent's child with the largest subtree, the choice descends through wrappers (a
// shell, `npm run`, `timeout`) while one child holds nearly all of the subtree, so the tool is
// the command that grows, not the shell the agent keeps open.
export interface ProcNode {
  pid: number;
  ppid: number;
  /** What is measured: resident bytes, or CPU time in a window. */
  value: number;
}

export interface ToolChoice {
  pid: number;
  /** The measure of its subtree, and of the whole session. */
  subtree: number;
  total: number;
}

/** Fraction of the subtree a single child must hold for the choice to descend into it. */
const DESCEND = 0.9;
/** Fraction of the subtree a node may hold itself and still count as a wrapper. */
const WRAPPER = 0.1;

export function pickTool(procs: ProcNode[], root: number): ToolChoice | undefined {
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const children = new Map<number, number[]>();
  for (const p of procs) {
    if (p.pid === root) continue;
    // A process whose parent is not in the session (reparented to init) hangs off the root.
    const parent = byPid.has(p.ppid) ? p.ppid : root;
    let l = children.get(parent);
    if (!l) children.set(parent, (l = []));
    l.push(p.pid);
  }
  const sums = new Map<number, number>();
  const sum = (pid: number, depth = 0): number => {
    const known = sums.get(pid);
    if (known !== undefined) return known;
    let s = byPid.get(pid)?.value ?? 0;
    if (depth < 256) for (const c of children.get(pid) ?? []) s += sum(c, depth + 1);
    sums.set(pid, s);
    return s;
  };
  const total = sum(root);
  const own = byPid.get(root)?.value ?? 0;
  const top = best(children.get(root) ?? [], sum);
  if (top === undefined || sum(top) <= own) return undefined;
  let cur = top;
  for (let i = 0; i < 64; i++) {
    const s = sum(cur);
    const mine = byPid.get(cur)?.value ?? 0;
    const next = best(children.get(cur) ?? [], sum);
    if (next === undefined || s <= 0 || mine > WRAPPER * s || sum(next) < DESCEND * s) break;
    cur = next;
  }
  return { pid: cur, subtree: sum(cur), total };
}

function best(pids: number[], sum: (pid: number) => number): number | undefined {
  let b: number | undefined;
  for (const p of pids) if (b === undefined || sum(p) > sum(b)) b = p;
  return b;
}

/** The pid and its descendants among `procs`. */
export function subtreeOf(procs: Array<{ pid: number; ppid: number }>, top: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of procs) {
    let l = children.get(p.ppid);
    if (!l) children.set(p.ppid, (l = []));
    l.push(p.pid);
  }
  const out: number[] = [];
  const seen = new Set<number>();
  const stack = [top];
  while (stack.length && out.length < 100_000) {
    const p = stack.pop()!;
    if (seen.has(p)) continue;
    seen.add(p);
    out.push(p);
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return out;
}
