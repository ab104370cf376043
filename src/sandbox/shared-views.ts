// The supervisor's idmapped views (issue #16): attached once per cached plan and shared by the
// runs of that plan, instead of attached before and detached after every run (in a root-owned
// workspace that took ~1 ms before each warm run and ~2.5 ms of the supervisor's time after it).
// A view serves a run only while it still shows the directory its source names now (same device
// and inode: an idmapped clone keeps both); otherwise the plan's views are attached again in a
// directory of their own. Views of a plan that is no longer cached are detached once no run
// holds them. Each held directory has a record of the supervisor's (state.ts), so the views of a
// supervisor that was killed are detached by the next run's cleanup.
import fs from 'node:fs';
import path from 'node:path';
import { alive, ownStartTime, RecordFile } from './state.js';
import type { ViewMounter } from './view-mounts.js';
import type { View } from './views.js';

interface Held {
  views: View[];
  sandbox: { uid: number; gid: number };
  /** Runs that asked for them and have not ended (counted before the attach is awaited). */
  users: number;
  /** Settles when the first run's attach did; rejects when it failed (every run waiting fails with it). */
  ready: Promise<void>;
  /** The attach failed: never used again (the plan is made again, with a directory of its own). */
  broken?: boolean;
  record?: RecordFile;
  /** When it was first seen unused by any cached plan (its detach waits RELEASE_AFTER_MS from then). */
  unusedSince?: number;
}

/**
 * How long views no cached plan names are kept before they are detached: a run that made its
 * plan just before the plan was made again attaches them a moment later (detached by then, their
 * directory could not be attached again before the sweep a minute later).
 */
export const RELEASE_AFTER_MS = 30_000;

export class SharedViews implements ViewMounter {
  readonly shared = true;
  private held = new Map<string, Held>();

  /**
   * `current(dir)`: whether a cached plan still names views directory `dir` (a plan made again,
   * or evicted, no longer does); `stateDir`: where the records of held directories go.
   */
  constructor(
    private readonly inner: ViewMounter,
    private readonly stateDir: string,
    private readonly current: (dir: string) => boolean,
  ) {}

  /**
   * The plan's views in `dir` for one more run: attached by the first run, which the runs that
   * come while it attaches wait for (attacker round 10: each made its own attempt on the same
   * directory, removed the first one's record and detached its views). Every call counts as a
   * user, whatever happens, since the run's teardown calls detach(dir).
   */
  async attach(views: View[], dir: string, sandbox: { uid: number; gid: number }): Promise<void> {
    this.release();
    let h = this.held.get(dir);
    if (!h) {
      const made: Held = { views, sandbox, users: 0, ready: Promise.resolve() };
      made.ready = this.attachNew(made, dir);
      made.ready.catch(() => undefined); // the runs waiting on it get the error
      this.held.set(dir, (h = made));
    }
    h.users++;
    await h.ready;
    if (h.sandbox.uid !== sandbox.uid || h.sandbox.gid !== sandbox.gid || !sameViews(h.views, views) || !views.every(stillShows))
      throw new Error(`the directories shown in ${dir} changed while the sandbox was being set up`);
  }

  private async attachNew(h: Held, dir: string): Promise<void> {
    const id = path.basename(dir);
    const record = new RecordFile(
      this.stateDir,
      {
        version: 1,
        id,
        pid: process.pid,
        start: ownStartTime(),
        created: new Date().toISOString(),
        workspace: '',
        cgroups: { dirs: [] },
        network: { mode: 'none' },
        protected: [],
        mounts: dir,
      },
      'views',
    );
    h.record = record;
    writeOwner(dir);
    try {
      await this.inner.attach(h.views, dir, h.sandbox);
    } catch (err) {
      h.broken = true;
      if (!this.inner.detach(dir).length) {
        record.remove();
        h.record = undefined;
        removeOwner(dir);
      }
      throw err;
    }
  }

  /** A run that used `dir` ended: its views stay for the plan's next run unless the plan is gone. */
  detach(dir: string): string[] {
    const h = this.held.get(dir);
    if (!h) return this.inner.detach(dir);
    h.users = Math.max(0, h.users - 1);
    return this.release();
  }

/** Whether the views of `dir` can serve another run as they are (else the caller plans a new directory). */
  usable(dir: string, views: View[]): boolean {
    const h = this.held.get(dir);
    return !h || (!h.broken && sameViews(h.views, views) && views.every(stillShows));
  }

  /** Detaches what no cached plan names and no run holds (all: everything); returns what could not be detached. */
  release(all = false, now = Date.now()): string[] {
    const left: string[] = [];
    for (const [dir, h] of this.held) {
      if (!all) {
        if (!h.broken && this.current(dir) && h.views.every(stillShows)) {
          h.unusedSince = undefined;
          continue;
        }
        h.unusedSince ??= now;
        if (h.users > 0 || now - h.unusedSince < RELEASE_AFTER_MS) continue;
      }
      this.held.delete(dir);
      const l = this.inner.detach(dir);
      if (l.length) left.push(...l);
      else {
        h.record?.remove();
        removeOwner(dir);
      }
    }
    return left;
  }
}

function sameViews(a: View[], b: View[]): boolean {
  return a.length === b.length && a.every((v, i) => v.src === b[i]!.src && v.at === b[i]!.at && v.readOnly === b[i]!.readOnly && v.diskUid === b[i]!.diskUid && v.diskGid === b[i]!.diskGid);
}

/** The view attached at `at` is still a clone of the directory `src` names now. */
function stillShows(v: View): boolean {
  try {
    const a = fs.statSync(v.at);
    const s = fs.lstatSync(v.src);
    return s.isDirectory() && a.dev === s.dev && a.ino === s.ino;
  } catch {
    return false;
  }
}

/**
 * Beside the views, whose directory (`/run/warden/mnt`) every runtime directory of root shares, a
 * file naming the supervisor that holds them: its records live in its own runtime directory, and
 * views whose records went with that directory (deleted while the supervisor was dead) were left
 * mounted for good, each slowing every later bwrap (it copies every mount). Any run detaches the
 * views of a dead owner (sweepOrphanViews).
 */
const ownerFile = (dir: string) => path.join(path.dirname(dir), '.owners', path.basename(dir));

function writeOwner(dir: string): void {
  try {
    fs.mkdirSync(path.dirname(ownerFile(dir)), { recursive: true, mode: 0o700 });
    fs.writeFileSync(ownerFile(dir), `${process.pid} ${ownStartTime()}\n`, { mode: 0o600 });
  } catch {
    /* the records still name them */
  }
}

function removeOwner(dir: string): void {
  fs.rmSync(ownerFile(dir), { force: true });
}

/** Detaches the views below `parent` (a `mnt` directory) whose owning supervisor is gone; returns how many. */
export function sweepOrphanViews(parent: string, detach: (dir: string) => string[]): number {
  let names: string[];
  try {
    names = fs.readdirSync(path.join(parent, '.owners'));
  } catch {
    return 0;
  }
  let n = 0;
  for (const id of names) {
    if (!/^[a-z0-9]{1,32}$/.test(id)) continue;
    const dir = path.join(parent, id);
    let owner: string[] = [];
    try {
      owner = fs.readFileSync(ownerFile(dir), 'utf8').trim().split(' ');
    } catch {
      continue;
    }
    if (alive(Number(owner[0]), Number(owner[1]))) continue;
    if (!detach(dir).length) removeOwner(dir);
    n++;
  }
  return n;
}

