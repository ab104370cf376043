// Crash recovery for `warden run`. Before it creates anything on the host (cgroups, network
// namespaces, nft tables), a run writes what it is about to create to
// <runtime dir>/sandboxes/<id>.json, and removes the record once it has cleaned up. If Warden
// is SIGKILLed, the sandbox itself dies with it (--die-with-parent, pid namespace), and the
// next `warden run` finds the record of a dead Warden and finishes the cleanup.
import fs from 'node:fs';
import path from 'node:path';
import { runtimeDir } from '../util/xdg.js';
import { procStartTime } from '../util/proc-stat.js';

export { procStartTime };

let ownStart: number | undefined;
/** This process's start time (what records name it by); read once, it never changes. */
export function ownStartTime(): number {
  ownStart ??= procStartTime(process.pid) ?? 0;
  return ownStart;
}
import type { ProtectedEntry } from './fs-plan.js';

export interface SandboxRecord {
  version: 1;
  id: string;
  /** Warden's pid and its start time (clock ticks since boot): a reused pid is not us. */
  pid: number;
  start: number;
  created: string;
  workspace: string;
  cgroups: { dirs: string[]; identity?: string };
  network?: { mode: string; provider?: string; record?: unknown };
  protected: ProtectedEntry[];
  /** Directory of the run's idmapped views (detached at cleanup). */
  mounts?: string;
  /** The agent's scratch home (removed at cleanup). */
  scratch?: string;
  /**
   * The process that holds the sandbox when it is not Warden's own child (the fast path's
   * launcher): while it lives, its sandbox may still run, and the record is not stale.
   */
  holder?: { pid: number; start: number };
}

export function stateDir(): string {
  return path.join(runtimeDir(), 'sandboxes');
}

/** Where runs attach their idmapped views: <shared>/mnt/<id> (below a private mount, 0711). */
export function mountDirFor(shared: string, id: string): string {
  return path.join(shared, 'mnt', id);
}

function ensureOwnDir(dir: string, mode: number): void {
  try {
    fs.mkdirSync(dir, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
      fs.mkdirSync(dir, { mode });
    } else if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  let st = fs.lstatSync(dir);
  const uid = process.getuid?.() ?? 0;
  if (st.isDirectory() && st.uid === uid && (st.mode & 0o777) !== mode) {
    fs.chmodSync(dir, mode);
    st = fs.lstatSync(dir);
  }
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0)
    throw new Error(`${dir} is not a directory owned by uid ${uid} and writable only by it; remove it or set XDG_RUNTIME_DIR`);
}

/**
 * Creates the state directory (0700) below the runtime directory (0711), and the empty file
 * that covers secret files in `shared` (0711; default: the runtime directory), which a
 * sandbox started as another user must reach. Returns the empty file.
 */
export function ensureStateDir(dir = stateDir(), shared = path.dirname(dir)): string {
  const parent = path.dirname(dir);
  ensureOwnDir(parent, 0o711);
  ensureOwnDir(dir, 0o700);
  if (shared !== parent) ensureOwnDir(shared, 0o711);
  const empty = path.join(shared, 'empty');
  const st = fs.lstatSync(empty, { throwIfNoEntry: false });
  if (!st || !st.isFile() || st.size !== 0 || st.uid !== (process.getuid?.() ?? 0) || (st.mode & 0o777) !== 0o444) {
    if (st) fs.rmSync(empty, { force: true, recursive: true });
    fs.writeFileSync(empty, '', { mode: 0o444, flag: 'wx' });
  }
  return empty;
}

/** Dead but not yet reaped by its parent: a killed Warden (or supervisor) whose parent has not waited yet. */
export function isZombie(pid: number): boolean {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

/** Whether process `pid` is still the one that started at `start` (and has not exited). */
export function alive(pid: number, start: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const now = procStartTime(pid);
  return now !== undefined && now === start && !isZombie(pid);
}

export class RecordFile {
  readonly file: string;
  /**
   * `kind` "spare": the record of a network made ahead for the run with this id (its own file
   * beside the run's); "views": a supervisor's idmapped views shared by the runs of a plan.
   */
  constructor(
    dir: string,
    private rec: SandboxRecord,
    kind?: 'spare' | 'views',
  ) {
    this.file = path.join(dir, kind ? `${rec.id}.${kind}.json` : `${rec.id}.json`);
    this.write();
  }

  get record(): SandboxRecord {
    return this.rec;
  }

  update(patch: Partial<SandboxRecord>): void {
    this.rec = { ...this.rec, ...patch };
    this.write();
  }

  private write(): void {
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(this.rec), { mode: 0o600 });
    fs.renameSync(tmp, this.file);
  }

  remove(): void {
    try {
      fs.unlinkSync(this.file);
    } catch {
      /* already gone */
    }
  }
}

export interface StaleRecord {
  file: string;
  record: SandboxRecord;
}

/**
 * Claims the records of Wardens that are gone. A record is claimed by renaming it, so two
 * Wardens starting at once never clean the same sandbox twice.
 */
export function claimStale(dir = stateDir()): StaleRecord[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: StaleRecord[] = [];
  for (const n of names) {
    const claimedBy = /\.json\.claimed-(\d+)$/.exec(n);
    if (!n.endsWith('.json') && !claimedBy) continue;
    if (claimedBy && procStartTime(Number(claimedBy[1])) !== undefined) continue; // another cleaner is alive
    const file = path.join(dir, n);
    let rec: SandboxRecord;
    try {
      rec = JSON.parse(fs.readFileSync(file, 'utf8')) as SandboxRecord;
    } catch {
      continue;
    }
    // Only records this code writes: an id of [a-z0-9] that matches the file name.
    const base = claimedBy ? n.slice(0, n.lastIndexOf('.claimed-')) : n;
    if (typeof rec.id !== 'string' || !/^[a-z0-9]{1,32}$/.test(rec.id) || ![`${rec.id}.json`, `${rec.id}.spare.json`, `${rec.id}.views.json`].includes(base)) continue;
    if (!Number.isInteger(rec.pid) || rec.pid <= 0) continue;
    if (rec.pid === process.pid) continue;
    if (alive(rec.pid, rec.start)) continue; // that Warden is still running
    if (rec.holder && alive(rec.holder.pid, rec.holder.start)) continue; // its sandbox may still run
    const claimed = path.join(dir, `${base}.claimed-${process.pid}`);
    try {
      fs.renameSync(file, claimed);
    } catch {
      continue; // someone else claimed it first
    }
    out.push({ file: claimed, record: rec });
  }
  return out;
}
