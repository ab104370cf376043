// Entry of the small helper `warden supervise` starts for its command: it drops every
// privilege Warden (root in the container) has and then execs the command, so the command
// starts as an unprivileged uid with no capabilities in any set (the bounding set included),
// no_new_privs, and Warden's seccomp filter. Read from descriptor 3: a JSON spec. Nothing here
// is bwrap: in a container the image is the filesystem boundary, and user namespaces are often
// refused there. The calls go to libc through koffi (no compiler, like original-dst.ts).
// Order matters: no_new_privs first; the bounding set needs CAP_SETPCAP, so before the uid
// changes; groups, gid, then uid (glibc applies set*id to every thread); the seccomp filter
// last, right before execve (the filter would refuse the set-id calls otherwise).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { privileges } from './privileges.js';

export interface DropExecSpec {
  /** Absolute path of the program (resolved by the caller with the command's PATH). */
  path: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  uid: number;
  gid: number;
  /** Classic BPF program (sock_filter[]), base64. */
  seccomp: string;
}

const PR_SET_NO_NEW_PRIVS = 38;
const PR_CAPBSET_DROP = 24;
const PR_CAP_AMBIENT = 47;
const PR_CAP_AMBIENT_CLEAR_ALL = 4;
const PR_SET_SECCOMP = 22;
const SECCOMP_MODE_FILTER = 2;
const F_SETFD = 2;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;

type Fn = (...a: unknown[]) => number;

function fail(msg: string, code = 126): never {
  try {
    fs.writeSync(2, `warden supervise: ${msg}\n`);
  } catch {
    /* stderr closed */
  }
  process.exit(code);
}

function main(): void {
  let spec: DropExecSpec;
  try {
    spec = JSON.parse(fs.readFileSync(3, 'utf8')) as DropExecSpec;
    fs.closeSync(3);
  } catch (err) {
    fail(`cannot read the command's spec: ${(err as Error).message}`);
  }
  if (!(spec.uid > 0) || !(spec.gid > 0)) fail(`refusing to run the command as uid ${spec.uid} gid ${spec.gid}`);
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as { load(l: string): { func(s: string): Fn }; struct(n: string, d: Record<string, string>): unknown; errno(): number };
  const libc = koffi.load('libc.so.6');
  koffi.struct('sock_fprog', { len: 'uint16_t', filter: 'void *' });
  koffi.struct('cap_header', { version: 'uint32_t', pid: 'int' });
  koffi.struct('cap_data', { effective: 'uint32_t', permitted: 'uint32_t', inheritable: 'uint32_t' });
  const prctl = libc.func('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)');
  const prctlSeccomp = libc.func('int prctl(int option, unsigned long mode, _In_ sock_fprog *prog, unsigned long a4, unsigned long a5)');
  const setgroups = libc.func('int setgroups(size_t size, const uint32_t *list)');
  const setresgid = libc.func('int setresgid(uint32_t r, uint32_t e, uint32_t s)');
  const setresuid = libc.func('int setresuid(uint32_t r, uint32_t e, uint32_t s)');
  const capset = libc.func('int capset(_In_ cap_header *hdr, _In_ cap_data *data)');
  const fcntl = libc.func('int fcntl(int fd, int cmd, int arg)');
  const execve = libc.func('int execve(const char *path, const char **argv, const char **envp)');
  const check = (what: string, r: number) => {
    if (r !== 0) fail(`${what} failed (errno ${koffi.errno()}); the command was not started`);
  };

  check('no_new_privs', prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
  const last = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
  for (let c = 0; c <= last; c++) check(`dropping capability ${c} from the bounding set`, prctl(PR_CAPBSET_DROP, c, 0, 0, 0));
  check('setgroups', setgroups(1, [spec.gid]));
  check('setresgid', setresgid(spec.gid, spec.gid, spec.gid));
  check('setresuid', setresuid(spec.uid, spec.uid, spec.uid));
  // A uid change from 0 clears permitted and effective; inheritable and ambient are cleared here.
  const data = [{ effective: 0, permitted: 0, inheritable: 0 }, { effective: 0, permitted: 0, inheritable: 0 }];
  check('capset', capset({ version: 0x20080522, pid: 0 }, data));
  check('clearing ambient capabilities', prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
  // Verified, not assumed: what the kernel says this process now is.
  const now = privileges(fs.readFileSync('/proc/self/status', 'utf8'));
  const left = Object.entries(now.caps).filter(([, v]) => v !== 0n);
  if (left.length) fail(`capabilities left after dropping them: ${left.map(([k, v]) => `${k}=${v.toString(16)}`).join(' ')}`);
  if (!now.nnp) fail('no_new_privs is not set');
  if (now.uids.some((u) => u !== spec.uid) || now.gids.some((g) => g !== spec.gid) || now.groups.some((g) => g !== spec.gid)) fail(`identity is not uid ${spec.uid} gid ${spec.gid}`);
  try {
    process.chdir(spec.cwd);
  } catch (err) {
    fail(`cannot enter ${spec.cwd} as uid ${spec.uid}: ${(err as NodeJS.ErrnoException).code}`);
  }
  // Node marks its standard descriptors close-on-exec (and may make them non-blocking).
  for (const fd of [0, 1, 2]) {
    fcntl(fd, F_SETFD, 0);
    const fl = fcntl(fd, F_GETFL, 0);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  }
  const prog = Buffer.from(spec.seccomp, 'base64');
  if (!prog.length || prog.length % 8) fail('bad seccomp program');
  check('installing the seccomp filter', prctlSeccomp(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, { len: prog.length / 8, filter: prog }, 0, 0));
  const env = Object.entries(spec.env).map(([k, v]) => `${k}=${v}`);
  execve(spec.path, [...spec.argv, null], [...env, null]);
  const e = koffi.errno();
  fail(`cannot execute ${spec.path}: errno ${e}`, e === 2 ? 127 : 126);
}

main();
