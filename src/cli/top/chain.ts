// Process chains for `warden top`'s alert detail: which processes led from the agent to the
// one that acted (claude → bash → curl), rebuilt from the `proc` (pid, ppid) of the events
// seen. A pid can be reused, and a process can exec several images, so each pid keeps a
// short history of what it was, and a lookup asks "what was pid N at event seq S".
import type { ProcRef, WardenEvent } from '../../events/types.js';

export interface ProcImage {
  /** The seq of the first event that showed this image. */
  seq: number;
  proc: ProcRef;
  session?: string;
}

const MAX_IMAGES_PER_PID = 8;

export class ProcTable {
  private readonly byPid = new Map<number, ProcImage[]>();

  constructor(private readonly maxPids = 50_000) {}

  get size(): number {
    return this.byPid.size;
  }

  clear(): void {
    this.byPid.clear();
  }

  /** Records the process an event shows (its image as of that event). */
  note(ev: WardenEvent): void {
    const p = ev.proc;
    if (!p) return;
    let list = this.byPid.get(p.pid);
    if (!list) {
      if (this.byPid.size >= this.maxPids) this.byPid.delete(this.byPid.keys().next().value!);
      list = [];
      this.byPid.set(p.pid, list);
    }
    const session = ev.agent?.session;
    // Events arrive in seq order except when history is merged in from a query: insert sorted.
    let i = list.length;
    while (i > 0 && list[i - 1]!.seq > ev.seq) i--;
    const before = list[i - 1];
    if (before && sameImage(before.proc, p) && before.session === session) return;
    const after = list[i];
    if (after && sameImage(after.proc, p) && after.session === session) {
      after.seq = ev.seq;
      after.proc = p;
      return;
    }
    list.splice(i, 0, { seq: ev.seq, proc: p, ...(session ? { session } : {}) });
    if (list.length > MAX_IMAGES_PER_PID) list.shift();
  }

  /**
   * What `pid` was at event `seq`: the latest image seen at or before it, else the earliest
   * seen after it (history before the client connected is not always available).
   */
  lookup(pid: number, seq: number, session?: string): ProcRef | undefined {
    const list = this.byPid.get(pid);
    if (!list?.length) return undefined;
    const pool = session ? list.filter((x) => x.session === undefined || x.session === session) : list;
    const cands = pool.length ? pool : list;
    let best: ProcImage | undefined;
    for (const x of cands) if (x.seq <= seq) best = x;
    return (best ?? cands[0])!.proc;
  }
}

function sameImage(a: ProcRef, b: ProcRef): boolean {
  return a.ppid === b.ppid && a.exe === b.exe && a.argv.length === b.argv.length && a.argv.every((x, i) => x === b.argv[i]);
}

export interface ChainLink {
  pid: number;
  /** Undefined when no event showed this process (started before Warden saw the tree). */
  proc?: ProcRef;
  /** The agent root. */
  root: boolean;
  /** The process that did what the event reports. */
  actor: boolean;
}

/**
 * The chain from the agent root down to the event's process, root first. Stops at the agent
 * root, at a process it knows nothing about (shown as an unknown link), at pid 1 or after 64
 * links (a cycle from pid reuse must not loop forever).
 */
export function buildChain(ev: WardenEvent, procs: ProcTable): ChainLink[] {
  if (!ev.proc) return [];
  const rootPid = ev.agent?.root_pid;
  const session = ev.agent?.session;
  const out: ChainLink[] = [{ pid: ev.proc.pid, proc: ev.proc, root: ev.proc.pid === rootPid, actor: true }];
  const seen = new Set<number>([ev.proc.pid]);
  let cur = ev.proc;
  while (out.length < 64 && cur.pid !== rootPid) {
    const ppid = cur.ppid;
    if (!ppid || ppid <= 1 || seen.has(ppid)) break;
    seen.add(ppid);
    const parent = procs.lookup(ppid, ev.seq, session);
    if (!parent) {
      out.push({ pid: ppid, root: ppid === rootPid, actor: false });
      break;
    }
    out.push({ pid: ppid, proc: parent, root: ppid === rootPid, actor: false });
    cur = parent;
  }
  return out.reverse();
}

/** True when the chain reaches the agent root with every link known. */
export function chainComplete(chain: ChainLink[]): boolean {
  return chain.length > 0 && chain[0]!.root && chain.every((l) => l.proc !== undefined);
}

/** `bash -c "curl … | sh"` → short label for a chain line. */
export function procLabel(p: ProcRef | undefined, max = 120): string {
  if (!p) return '(not seen)';
  const name = p.argv[0] ? base(p.argv[0]) : base(p.exe);
  const args = p.argv.slice(1).map(quoteArg).join(' ');
  const s = args ? `${name} ${args}` : name;
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

function base(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? p : p.slice(i + 1);
}

function quoteArg(a: string): string {
  const clean = a.replace(/[\x00-\x1f\x7f]/g, ' ');
  return /^[A-Za-z0-9_@%+=:,./~-]+$/.test(clean) ? clean : JSON.stringify(clean);
}
