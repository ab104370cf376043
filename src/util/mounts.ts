// Mount points that Warden removes (a run's idmapped views, network namespace handles) and the
// way they go. Removing a directory or file on which something is mounted detaches the copies of
// that mount in every other namespace, and a bwrap starting meanwhile (its `--ro-bind / /` copies
// every mount below /, then remounts each read-only) lost a copy in the middle of that loop and
// failed ("Unable to apply mount flags: remount …: No such file or directory"). An unmount alone
// does not reach the copies when the parent is a private mount, so Warden unmounts at once and
// removes the emptied entry only after a grace far longer than any sandbox's start.
import fs from 'node:fs';
import path from 'node:path';

/** How long an unmounted entry stays before it is removed. */
export const UNMOUNTED_GRACE_MS = 60_000;

/** Every mount point of this process's mount namespace (mountinfo's octal escapes undone). */
export function mountPoints(): Set<string> {
  try {
    const mi = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    return new Set(mi.split('\n').map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))));
  } catch {
    return new Set();
  }
}

/** Marks `p` as just unmounted: its grace counts from now (its own times may be hours old). */
export function markUnmounted(p: string): void {
  try {
    const now = new Date();
    fs.utimesSync(p, now, now);
  } catch {
    // gone already
  }
}

/**
 * Removes the entries of `parent` (files, or directories of empty directories) marked or made at
 * least UNMOUNTED_GRACE_MS ago that have nothing mounted on or below them; `keep` names entries
 * never to touch. What cannot be removed now is left for a later sweep.
 */
export function sweepUnmounted(parent: string, now = Date.now(), keep: (name: string) => boolean = () => false): void {
  let names: string[];
  try {
    names = fs.readdirSync(parent).filter((n) => !keep(n));
  } catch {
    return;
  }
  const mounted = [...mountPoints()];
  for (const n of names) {
    const p = path.join(parent, n);
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st || now - st.mtimeMs < UNMOUNTED_GRACE_MS) continue;
    if (mounted.some((m) => m === p || m.startsWith(`${p}/`))) continue; // still in use
    try {
      if (st.isDirectory()) {
        for (const c of fs.readdirSync(p)) fs.rmdirSync(path.join(p, c));
        fs.rmdirSync(p);
      } else if (st.isFile()) fs.unlinkSync(p);
    } catch {
      // not empty, or gone: a later sweep
    }
  }
}
