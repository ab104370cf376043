// How the sandbox's uid gets at the directories it is given when Warden runs as root and that
// uid is not their owner (identity.ts): each such directory is shown through an idmapped
// "view" (its owner swapped with the sandbox uid, idmap.ts), and directories on the way to
// them that the sandbox uid cannot search are replaced inside by a skeleton (an empty
// read-only tmpfs in which bwrap creates only the mount points it needs: the siblings, which
// that uid could not read anyway, do not exist inside). Pure planning: views are attached by
// the runner. Also answers, for the plan, which paths the sandbox can reach *inside*, which is
// what decides whether a secret there must be covered.
import fs from 'node:fs';
import path from 'node:path';

export interface View {
  /** Host directory shown. */
  src: string;
  /** Where its idmapped clone is attached on the host (below the run's mount directory). */
  at: string;
  readOnly: boolean;
  /** Its owner on disk, swapped with the sandbox's uid/gid through the view. */
  diskUid: number;
  diskGid: number;
}

export interface ViewIdentity {
  uid: number;
  gid: number;
  gids: number[];
  /** Warden runs as root (views need root; without it nothing is planned). */
  callerRoot: boolean;
  /** The root stand-in: the caller's homes are shown read-only as if they were its own. */
  standIn: boolean;
  /** Directory for this run's attach points, e.g. /run/warden/mnt/<id>. */
  mountDir?: string;
}

export interface ViewPlan {
  views: View[];
  skeletons: string[];
  /** Whether the sandbox uid can reach `p` inside (every directory on the way searchable). */
  reach(p: string): boolean;
  /** The host path bwrap should bind from for `p` (inside a view: its attach point). */
  source(p: string): string;
}

export function isInside(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : dir + '/');
}

function stat(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

/** The search permission of `id` on a directory with owner `uid`, group `gid` and `mode`. */
function canSearchAs(id: { uid: number; gids: number[] }, uid: number, gid: number, mode: number): boolean {
  if (id.uid === 0) return true;
  if (uid === id.uid) return (mode & 0o100) !== 0;
  if (id.gids.includes(gid)) return (mode & 0o010) !== 0;
  return (mode & 0o001) !== 0;
}

/** Whether `id` may create files in directory `p` on the host (owner, group or other write and search bits). */
export function writableBy(id: { uid: number; gids: number[] }, p: string): boolean {
  const st = stat(p);
  if (!st) return false;
  if (id.uid === 0) return true;
  const bits = st.uid === id.uid ? 0o300 : id.gids.includes(st.gid) ? 0o030 : 0o003;
  return (st.mode & bits) === bits;
}

export function planViews(id: ViewIdentity, writable: string[], homes: string[]): ViewPlan {
  const views: View[] = [];
  // Only for the stand-in: a view is a host mount where its uid owns what it shows, and no
  // process outside a sandbox ever runs as the stand-in. For a real user (root running the
  // sandbox in their project) a view would hand them root's files outside the sandbox too.
  if (id.callerRoot && id.standIn && id.uid !== 0) {
    const dir = id.mountDir ?? '/nonexistent';
    const add = (src: string, readOnly: boolean) => {
      const st = stat(src);
      if (!st || st.uid === id.uid) return;
      views.push({ src, at: path.join(dir, String(views.length)), readOnly, diskUid: st.uid, diskGid: st.gid });
    };
    for (const w of writable) add(w, false);
    for (const h of homes) if (!writable.some((w) => isInside(h, w)) && !views.some((v) => v.src === h)) add(h, true);
  }
  const viewOf = (p: string): View | undefined => {
    let best: View | undefined;
    for (const v of views) if (isInside(p, v.src) && (!best || v.src.length > best.src.length)) best = v;
    return best;
  };
  const gids = [id.gid, ...id.gids];
  const hostSearchable = (d: string): boolean => {
    const st = stat(d);
    return !!st && canSearchAs({ uid: id.uid, gids }, st.uid, st.gid, st.mode);
  };
  // Seen through view v, on-disk owner diskUid is the sandbox uid and vice versa.
  const searchableIn = (d: string, v: View): boolean => {
    const st = stat(d);
    if (!st) return false;
    const swap = (x: number, a: number, b: number) => (x === a ? b : x === b ? a : x);
    return canSearchAs({ uid: id.uid, gids }, swap(st.uid, v.diskUid, id.uid), swap(st.gid, v.diskGid, id.gid), st.mode);
  };

  // Skeletons: for each directory bound in for the sandbox (writable roots and views), the
  // topmost ancestor outside any view that its uid cannot search.
  const skeletons = new Set<string>();
  if (id.callerRoot && id.uid !== 0) {
    for (const dest of [...writable, ...views.map((v) => v.src)]) {
      const parts = dest.split('/').filter(Boolean);
      let cur = '';
      for (const part of parts.slice(0, -1)) {
        cur += '/' + part;
        const v = viewOf(cur);
        if (v && v.src !== dest && isInside(dest, v.src)) break; // inside another view: its rules apply
        if ([...skeletons].some((s) => isInside(cur, s))) break;
        if (!hostSearchable(cur)) {
          skeletons.add(cur);
          break;
        }
      }
    }
  }
  const skel = [...skeletons].sort();
  const bound = [...writable, ...views.map((v) => v.src)];

  const reach = (p: string): boolean => {
    if (id.uid === 0) return true; // planning as root (tests, tools)
    const v = viewOf(p);
    const s = skel.find((k) => isInside(p, k));
    if (s && !bound.some((b) => isInside(p, b))) return false; // not inside: the skeleton is empty
    if (!id.callerRoot && process.getuid?.() === id.uid) {
      try {
        fs.lstatSync(p);
        return true; // the kernel already answered for us
      } catch {
        return false;
      }
    }
    const chain: string[] = [];
    for (let d = path.dirname(p); d !== '/'; d = path.dirname(d)) chain.push(d);
    return chain.every((d) => {
      if (s && !isInside(d, s)) return true; // above a skeleton: bwrap made it
      if (s && !bound.some((b) => isInside(d, b))) return true; // inside the skeleton, on the way to a bind
      const dv = viewOf(d);
      if (dv && (!v || isInside(dv.src, v.src) || isInside(v.src, dv.src))) return searchableIn(d, dv);
      return hostSearchable(d);
    });
  };
  const source = (p: string): string => {
    const v = viewOf(p);
    return v ? path.join(v.at, path.relative(v.src, p)) : p;
  };
  return { views, skeletons: skel, reach, source };
}
