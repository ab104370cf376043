// Who the sandboxed command is on the host. The rule (DESIGN invariants): no process of a
// sandbox is ever kuid 0. Global uid 0 needs no capability to write 0644 root files such as
// /proc/sys/kernel/core_pattern, and what it creates in a root-owned workspace (a setuid
// copy of sh) is root's on the host. So when Warden runs as root:
//   * a workspace owned by a normal user: the sandbox runs as that user (files keep their owner);
//   * a root-owned workspace (CI containers, `sudo warden run` in /root): the sandbox runs as a
//     stand-in, an unprivileged uid (STAND_IN_UID) that owns no file on the host; the
//     directories it must write are shown to it through idmapped mounts (views.ts), so what it
//     writes lands on disk as the real owner, and nothing else of root's is reachable. One uid
//     for every such run (each sandbox has its own pid, mount and IPC namespaces, and no
//     ptrace): the id mapping its views need is then made once and reused (idmap.ts).
// Unprivileged, Warden can only run the sandbox as itself.
import fs from 'node:fs';
import { passwdEntry } from './host.js';
import type { RunAs } from './policy.js';

export interface SandboxIdentity {
  /** Host uid/gid the sandboxed processes run as. Never 0. */
  uid: number;
  gid: number;
  /** Whether Warden (root) must change identity to get there. */
  drop: boolean;
  /** uid/gid seen inside the sandbox. */
  innerUid: number;
  innerGid: number;
  /** The uid the files it writes belong to on disk, when they are shown to it by idmapped mounts. */
  standIn: boolean;
  home?: string;
  name?: string;
}

/** The stand-in uid/gid: far above any distribution's user and subuid ranges, in no passwd file. */
export const STAND_IN_UID = 0x6d000000;

/**
 * Whether uid 0 here is the host's uid 0 (kuid 0). In a user namespace (rootless podman, a
 * container with user namespaces), our uid 0 maps to another id outside and is no host root;
 * a map of 0 to 0 is treated as root, whichever namespace it is relative to.
 */
export function isHostRoot(uid = process.getuid!(), readMap: () => string = () => fs.readFileSync('/proc/self/uid_map', 'utf8')): boolean {
  if (uid !== 0) return false;
  let map: string;
  try {
    map = readMap();
  } catch {
    return true;
  }
  for (const line of map.trim().split('\n')) {
    const [inner, outer, count] = line.trim().split(/\s+/).map(Number);
    if (inner! <= 0 && 0 < inner! + count!) return outer! - inner! === 0;
  }
  return true;
}

export class IdentityError extends Error {
  readonly exitCode = 2;
}

export function chooseIdentity(runAs: RunAs, workspace: string, callerUid = process.getuid!(), callerGid = process.getgid!(), hostRoot = isHostRoot(callerUid)): SandboxIdentity {
  if (callerUid === 0 && !hostRoot) {
    // Root of a user namespace (a rootless container): not the host's root, and no other
    // host ids to change to. The sandbox runs as it, nobody inside, as before.
    if (typeof runAs === 'object') throw new IdentityError('process.user: Warden runs as root of a user namespace (a rootless container), which cannot change to another user');
    return { uid: 0, gid: 0, drop: false, innerUid: 65534, innerGid: 65534, standIn: false };
  }
  if (callerUid !== 0) {
    if (typeof runAs === 'object' && runAs.uid !== callerUid)
      throw new IdentityError(`process.user: running as uid ${runAs.uid} needs root (warden runs as uid ${callerUid})`);
    return { uid: callerUid, gid: callerGid, drop: false, innerUid: callerUid, innerGid: callerGid, standIn: false };
  }
  let target: { uid: number; gid: number } | undefined;
  if (typeof runAs === 'object') {
    if (runAs.uid === 0 || runAs.gid === 0)
      throw new IdentityError('process.user: uid/gid 0 is not allowed: no sandboxed process runs as root on the host (use a normal user, or leave it unset)');
    target = runAs;
  } else {
    // `auto` and `caller` alike: root's own identity is never handed to the sandbox. The
    // group is the owner's own (passwd), never the directory's: a directory's group can be
    // anything its owner chose (shadow, disk, root).
    const st = fs.statSync(workspace);
    if (st.uid !== 0) {
      const gid = passwdEntry(st.uid)?.gid;
      target = { uid: st.uid, gid: gid !== undefined && gid !== 0 ? gid : st.uid };
    }
  }
  if (!target) return { uid: STAND_IN_UID, gid: STAND_IN_UID, drop: true, innerUid: 65534, innerGid: 65534, standIn: true };
  const pw = passwdEntry(target.uid);
  return { uid: target.uid, gid: target.gid, drop: true, innerUid: target.uid, innerGid: target.gid, standIn: false, home: pw?.home, name: pw?.name };
}
