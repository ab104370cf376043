// Why a user namespace cannot be created here, and what to do about it. bwrap needs one
// (unprivileged, and as root for mount locking). Hosts restrict them in several ways; each
// gets a message naming the cause and the fix instead of bwrap's terse error.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

export interface UsernsProblem {
  cause: string;
  fix: string;
}

export type ReadFn = (file: string) => string | undefined;

const defaultRead: ReadFn = (f) => {
  try {
    return fs.readFileSync(f, 'utf8').trim();
  } catch {
    return undefined;
  }
};

/**
 * Restrictions that certainly make bwrap fail; checked before starting it (two small reads).
 * `root` means real root in the initial user namespace.
 */
export function usernsPrecheck(root: boolean, read: ReadFn = defaultRead): UsernsProblem | undefined {
  if (read('/proc/sys/user/max_user_namespaces') === '0')
    return {
      cause: 'user namespaces are disabled on this host (sysctl user.max_user_namespaces = 0)',
      fix: 'sysctl -w user.max_user_namespaces=15000 (persist it in /etc/sysctl.d/), as root',
    };
  if (!root && read('/proc/sys/kernel/unprivileged_userns_clone') === '0')
    return {
      cause: 'unprivileged user namespaces are disabled (sysctl kernel.unprivileged_userns_clone = 0)',
      fix: 'sysctl -w kernel.unprivileged_userns_clone=1 as root, or run warden as root',
    };
  return undefined;
}

/** Whether this process runs inside a user namespace other than the host's (a container). */
export function inNestedUserns(read: ReadFn = defaultRead): boolean {
  const map = read('/proc/self/uid_map');
  if (map === undefined) return false;
  return !/^\s*0\s+0\s+4294967295\s*$/.test(map);
}

/** Called after bwrap failed before the command started: the likeliest cause. */
export function diagnoseUsernsFailure(root: boolean, read: ReadFn = defaultRead): UsernsProblem | undefined {
  const pre = usernsPrecheck(root, read);
  if (pre) return pre;
  if (!root && read('/proc/sys/kernel/apparmor_restrict_unprivileged_userns') === '1')
    return {
      cause: 'AppArmor restricts unprivileged user namespaces (sysctl kernel.apparmor_restrict_unprivileged_userns = 1, Ubuntu 23.10 and later)',
      fix:
        'give bwrap an AppArmor profile that allows them: write /etc/apparmor.d/bwrap containing\n' +
        '    abi <abi/4.0>, include <tunables/global>\n' +
        '    profile bwrap /usr/bin/bwrap flags=(unconfined) { userns, include if exists <local/bwrap> }\n' +
        '  then run: apparmor_parser -r /etc/apparmor.d/bwrap  (or run warden as root)',
    };
  const maxNs = Number(read('/proc/sys/user/max_user_namespaces') ?? 'NaN');
  if (Number.isFinite(maxNs) && maxNs > 0 && maxNs < 16)
    return {
      cause: `user.max_user_namespaces is only ${maxNs} and may be used up`,
      fix: 'sysctl -w user.max_user_namespaces=15000 as root',
    };
  // Only called once a user namespace was shown not to work (probeUserns), so a container
  // marker is a fair hint even without a nested user namespace (rootful Docker's seccomp profile).
  if (inNestedUserns(read) || fs.existsSync('/.dockerenv') || fs.existsSync('/run/.containerenv'))
    return {
      cause: 'Warden runs inside a container that does not allow nested user namespaces (Docker and Podman block them with their default seccomp/AppArmor profiles)',
      fix:
        'start the container with --security-opt seccomp=unconfined --security-opt apparmor=unconfined ' +
        '(or a seccomp profile that allows clone/unshare with CLONE_NEWUSER), or run warden on the host',
    };
  return undefined;
}

export const UNKNOWN_USERNS: UsernsProblem = {
  cause: 'this host does not let bwrap create a user namespace (no known restriction found: see the bwrap message above)',
  fix: 'check `warden doctor`; try `bwrap --unshare-user --ro-bind / / true` to reproduce',
};

/** Tries a bare user namespace with bwrap (a few ms; used on failure paths and by doctor). */
export function probeUserns(bwrap: string): { ok: boolean; stderr: string } {
  const r = spawnSync(bwrap, ['--unshare-user', '--ro-bind', '/', '/', '--', 'true'], { encoding: 'utf8', timeout: 10_000 });
  return { ok: r.status === 0, stderr: (r.stderr ?? '').trim() };
}

export function formatProblem(p: UsernsProblem): string {
  return `cannot create the sandbox: ${p.cause}.\n  fix: ${p.fix}`;
}
