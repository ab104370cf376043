// Attaches and removes the idmapped views a plan asks for (views.ts plans them, idmap.ts does
// the syscalls). Loaded lazily by the CLI and handed to the runner: the koffi binding costs
// ~10 ms and only runs of root in a directory it does not give away need it.
import fs from 'node:fs';
import path from 'node:path';
import { attachIdmapped, detachAll, ensurePrivateMountDir, MOUNT_ATTR, swapMap, usernsFor } from './idmap.js';
import type { View } from './views.js';

export interface ViewMounter {
  /** Attaches every view below `dir` (created). Throws with a message for the user. */
  attach(views: View[], dir: string, sandbox: { uid: number; gid: number }): Promise<void>;
  /** Removes what is below `dir`; returns what could not be removed. Never throws. */
  detach(dir: string): string[];
  /** Views kept beyond the run (a plan's, shared by its runs): detach() is then only a release. */
  readonly shared?: boolean;
}

export const viewMounter: ViewMounter = {
  async attach(views, dir, sandbox) {
    ensurePrivateMountDir(path.dirname(dir));
    // Searchable by the sandbox's group only: the views show root's files as the stand-in's,
    // and no host process (which is never the stand-in) may walk into them.
    fs.mkdirSync(dir, { mode: 0o710 });
    fs.chownSync(dir, 0, sandbox.gid);
    fs.chmodSync(dir, 0o710);
    // One user namespace per distinct owner: it is only a mapping, held by descriptor.
    const byOwner = new Map<string, View[]>();
    for (const v of views) {
      const k = `${v.diskUid}:${v.diskGid}`;
      byOwner.set(k, [...(byOwner.get(k) ?? []), v]);
    }
    for (const group of byOwner.values()) {
      const { diskUid, diskGid } = group[0]!;
      const ns = await usernsFor(swapMap(diskUid, sandbox.uid), swapMap(diskGid, sandbox.gid), path.join(path.dirname(dir), '.userns'));
      try {
        for (const v of group) attachIdmapped(v.src, v.at, ns, MOUNT_ATTR.IDMAP | MOUNT_ATTR.NOSUID | MOUNT_ATTR.NODEV | (v.readOnly ? MOUNT_ATTR.RDONLY : 0));
      } finally {
        fs.closeSync(ns);
      }
    }
  },
  detach(dir) {
    return detachAll(dir);
  },
};
