// Classic-BPF seccomp filter for `warden run`, generated here and handed to bwrap with
// `--seccomp FD`. A deny list on top of bwrap's namespaces: it removes the kernel surface a
// confined agent never needs (namespaces, mounts, tracing, BPF, keyrings, io_uring, raw and
// vsock sockets...) so read-only binds cannot be undone and the host cannot be inspected.
// Pure and dependency-free: it runs on the startup path of every `warden run`.

/** AUDIT_ARCH_* values (linux/audit.h). */
const ARCH = { x86_64: 0xc000003e, aarch64: 0xc00000b7 } as const;
export type SeccompArch = keyof typeof ARCH;

const RET_KILL_PROCESS = 0x80000000;
const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = 0x00050000;
const EPERM = 1;
const ENOSYS = 38;

/** seccomp_data offsets. */
const OFF_NR = 0;
const OFF_ARCH = 4;
const argLo = (i: number) => 16 + 8 * i; // low 32 bits, little endian

// BPF opcodes (linux/bpf_common.h)
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGT_K = 0x25;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;
const ALU_AND_K = 0x54;

/**
 * Syscall numbers the filter refers to. x86_64 from asm/unistd_64.h, aarch64 from
 * asm-generic/unistd.h; numbers >= 424 are shared by every architecture.
 */
const SYSCALLS: Record<string, Partial<Record<SeccompArch, number>>> = {
  // namespaces
  unshare: { x86_64: 272, aarch64: 97 },
  setns: { x86_64: 308, aarch64: 268 },
  clone: { x86_64: 56, aarch64: 220 },
  clone3: { x86_64: 435, aarch64: 435 },
  // mounts (old and new API)
  mount: { x86_64: 165, aarch64: 40 },
  umount2: { x86_64: 166, aarch64: 39 },
  pivot_root: { x86_64: 155, aarch64: 41 },
  chroot: { x86_64: 161, aarch64: 51 },
  open_tree: { x86_64: 428, aarch64: 428 },
  move_mount: { x86_64: 429, aarch64: 429 },
  fsopen: { x86_64: 430, aarch64: 430 },
  fsconfig: { x86_64: 431, aarch64: 431 },
  fsmount: { x86_64: 432, aarch64: 432 },
  fspick: { x86_64: 433, aarch64: 433 },
  mount_setattr: { x86_64: 442, aarch64: 442 },
  open_tree_attr: { x86_64: 467, aarch64: 467 },
  // other processes' memory and descriptors
  ptrace: { x86_64: 101, aarch64: 117 },
  process_vm_readv: { x86_64: 310, aarch64: 270 },
  process_vm_writev: { x86_64: 311, aarch64: 271 },
  process_madvise: { x86_64: 440, aarch64: 440 },
  pidfd_getfd: { x86_64: 438, aarch64: 438 },
  kcmp: { x86_64: 312, aarch64: 272 },
  // kernel programmability and introspection
  bpf: { x86_64: 321, aarch64: 280 },
  perf_event_open: { x86_64: 298, aarch64: 241 },
  userfaultfd: { x86_64: 323, aarch64: 282 },
  io_uring_setup: { x86_64: 425, aarch64: 425 },
  io_uring_enter: { x86_64: 426, aarch64: 426 },
  io_uring_register: { x86_64: 427, aarch64: 427 },
  fanotify_init: { x86_64: 300, aarch64: 262 },
  syslog: { x86_64: 103, aarch64: 116 },
  // keyrings
  keyctl: { x86_64: 250, aarch64: 219 },
  add_key: { x86_64: 248, aarch64: 217 },
  request_key: { x86_64: 249, aarch64: 218 },
  // kernel images and modules
  kexec_load: { x86_64: 246, aarch64: 104 },
  kexec_file_load: { x86_64: 320, aarch64: 294 },
  init_module: { x86_64: 175, aarch64: 105 },
  finit_module: { x86_64: 313, aarch64: 273 },
  delete_module: { x86_64: 176, aarch64: 106 },
  // host administration
  open_by_handle_at: { x86_64: 304, aarch64: 265 },
  acct: { x86_64: 163, aarch64: 89 },
  swapon: { x86_64: 167, aarch64: 224 },
  swapoff: { x86_64: 168, aarch64: 225 },
  reboot: { x86_64: 169, aarch64: 142 },
  quotactl: { x86_64: 179, aarch64: 60 },
  quotactl_fd: { x86_64: 443, aarch64: 443 },
  settimeofday: { x86_64: 164, aarch64: 170 },
  clock_settime: { x86_64: 227, aarch64: 112 },
  adjtimex: { x86_64: 159, aarch64: 171 },
  clock_adjtime: { x86_64: 305, aarch64: 266 },
  vhangup: { x86_64: 153, aarch64: 58 },
  // x86 only: port I/O, LDT, obsolete interfaces
  iopl: { x86_64: 172 },
  ioperm: { x86_64: 173 },
  modify_ldt: { x86_64: 154 },
  uselib: { x86_64: 134 },
  ustat: { x86_64: 136 },
  sysfs: { x86_64: 139 },
  _sysctl: { x86_64: 156 },
  lookup_dcookie: { x86_64: 212, aarch64: 18 },
  // argument-checked (never denied outright)
  open: { x86_64: 2 },
  creat: { x86_64: 85 },
  openat: { x86_64: 257, aarch64: 56 },
  openat2: { x86_64: 437, aarch64: 437 },
  chmod: { x86_64: 90 },
  fchmod: { x86_64: 91, aarch64: 52 },
  fchmodat: { x86_64: 268, aarch64: 53 },
  fchmodat2: { x86_64: 452, aarch64: 452 },
  mknod: { x86_64: 133 },
  mknodat: { x86_64: 259, aarch64: 33 },
  socket: { x86_64: 41, aarch64: 198 },
  socketpair: { x86_64: 53, aarch64: 199 },
  ioctl: { x86_64: 16, aarch64: 29 },
  personality: { x86_64: 135, aarch64: 92 },
};

/** Highest syscall number this table knows of; newer ones get ENOSYS (fail closed). */
const MAX_KNOWN_NR = 469; // file_setattr (Linux 6.17)

/** Denied with EPERM by default. */
export const DEFAULT_DENY: readonly string[] = [
  'namespaces', // pseudo-entry: unshare()/clone() with namespace flags, clone3 (see below)
  'setns',
  'mount', 'umount2', 'pivot_root', 'chroot',
  'open_tree', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'mount_setattr', 'open_tree_attr',
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'process_madvise', 'pidfd_getfd', 'kcmp',
  'bpf', 'perf_event_open', 'userfaultfd', 'io_uring_setup', 'io_uring_enter', 'io_uring_register',
  'fanotify_init', 'syslog',
  'keyctl', 'add_key', 'request_key',
  'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module',
  'open_by_handle_at', 'acct', 'swapon', 'swapoff', 'reboot', 'quotactl', 'quotactl_fd',
  'settimeofday', 'clock_settime', 'adjtimex', 'clock_adjtime', 'vhangup',
  'iopl', 'ioperm', 'modify_ldt', 'uselib', 'ustat', 'sysfs', '_sysctl', 'lookup_dcookie',
];

/** Names a policy may list in `syscalls.deny` / `syscalls.allow`. */
export function knownSyscallNames(): string[] {
  const argChecked = ['socket', 'socketpair', 'ioctl', 'personality', 'clone', 'unshare', 'clone3', ...Object.keys(MODE_ARG), 'openat2'];
  return ['namespaces', ...Object.keys(SYSCALLS).filter((n) => !argChecked.includes(n))];
}

/** All namespace flags of clone()/unshare(): NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME. */
export const CLONE_NS_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;

export const AF = { UNIX: 1, INET: 2, INET6: 10, NETLINK: 16, PACKET: 17, VSOCK: 40 } as const;
const SOCK_STREAM = 1;
const SOCK_SEQPACKET = 5;
const SOCK_TYPE_MASK = 0xf;
/** S_ISUID | S_ISGID: never set by a sandboxed process (see setuid checks below). */
export const SETID_BITS = 0o6000;
/** O_CREAT | __O_TMPFILE: the flags with which open() uses its mode argument. */
const O_CREATES = 0o100 | 0o20000000;
/**
 * Calls that set a file mode, with the argument index of the mode, and for opens the index of
 * the flags that decide whether the mode is used at all.
 */
const MODE_ARG: Record<string, { mode: number; flags?: number }> = {
  chmod: { mode: 1 },
  fchmod: { mode: 1 },
  fchmodat: { mode: 2 },
  fchmodat2: { mode: 2 },
  creat: { mode: 1 },
  open: { mode: 2, flags: 1 },
  openat: { mode: 3, flags: 2 },
  mknod: { mode: 1 },
  mknodat: { mode: 2 },
};
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;
/** personality() values Docker's default profile allows: PER_LINUX, PER_LINUX32, UNAME26 variants, query. */
const PERSONALITY_OK = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

export interface SeccompOptions {
  arch?: SeccompArch;
  /** Extra syscalls to deny (names from the table). */
  deny?: readonly string[];
  /** Default denials to lift (e.g. `ptrace` for a debugger inside). */
  allow?: readonly string[];
  /** Allow socket(AF_UNIX). Off by default: a unix socket can reach docker.sock, ssh-agent, D-Bus... */
  unixSockets?: boolean;
}

export interface SeccompFilter {
  program: Buffer;
  instructions: number;
  /** Syscall names denied with EPERM (after allow/deny adjustments). */
  denied: string[];
  socketFamilies: number[];
}

type Target = { label: string } | { ret: number };
type Ins =
  | { op: 'ld'; off: number }
  | { op: 'jmp'; code: number; k: number; jt: Target | null; jf: Target | null }
  | { op: 'ret'; k: number }
  | { op: 'and'; k: number }
  | { op: 'label'; name: string };

/** Current machine's seccomp arch, or undefined where the generator has no table. */
export function hostSeccompArch(): SeccompArch | undefined {
  if (process.arch === 'x64') return 'x86_64';
  if (process.arch === 'arm64') return 'aarch64';
  return undefined;
}

export function buildSeccompFilter(opts: SeccompOptions = {}): SeccompFilter {
  const arch = opts.arch ?? hostSeccompArch();
  if (!arch) throw new Error(`seccomp: no syscall table for architecture ${process.arch}`);
  const allow = new Set(opts.allow ?? []);
  const names = [...new Set([...DEFAULT_DENY, ...(opts.deny ?? [])])].filter((n) => !allow.has(n));
  const nsChecks = names.includes('namespaces');
  const nr = (name: string): number | undefined => SYSCALLS[name]?.[arch];
  for (const n of names) if (n !== 'namespaces' && !(n in SYSCALLS)) throw new Error(`seccomp: unknown syscall ${n}`);

  const prog: Ins[] = [];
  const EPERM_T: Target = { label: 'eperm' };
  const ALLOW_T: Target = { label: 'allow' };
  const jeq = (k: number, jt: Target | null, jf: Target | null = null) => prog.push({ op: 'jmp', code: JEQ_K, k, jt, jf });

  // 1. Foreign architectures (e.g. i386 via int 0x80 on x86_64) kill the process: their
  //    syscall numbers mean something else and would bypass every check below.
  prog.push({ op: 'ld', off: OFF_ARCH });
  jeq(ARCH[arch], null, { ret: RET_KILL_PROCESS });
  prog.push({ op: 'ld', off: OFF_NR });
  // 2. The x32 ABI (nr | 0x40000000) shares the arch value with x86_64.
  if (arch === 'x86_64') prog.push({ op: 'jmp', code: JGE_K, k: 0x40000000, jt: EPERM_T, jf: null });
  // 3. Syscalls newer than this table: unknown surface, fail closed with ENOSYS (libc falls back).
  prog.push({ op: 'jmp', code: JGT_K, k: MAX_KNOWN_NR, jt: { label: 'enosys' }, jf: null });
  // 4. Plain denials.
  const denied: string[] = [];
  for (const n of names) {
    if (n === 'namespaces') continue;
    const k = nr(n);
    if (k === undefined) continue; // not on this arch
    denied.push(n);
    jeq(k, EPERM_T);
  }
  // 5. Argument checks.
  if (nsChecks) {
    jeq(nr('clone')!, { label: 'clone' });
    jeq(nr('unshare')!, { label: 'clone' }); // same flag word in arg 0
    // clone3 passes flags in a struct the filter cannot read: ENOSYS makes libc use clone().
    jeq(nr('clone3')!, { label: 'enosys' });
  }
  jeq(nr('socket')!, { label: 'socket' });
  jeq(nr('socketpair')!, { label: 'socketpair' });
  // Set-id bits: what a sandbox writes can be owned by someone else on disk (the workspace's
  // owner, through an idmapped view when Warden runs as root): a setuid copy of sh would be a
  // root shell for every local user. openat2 takes its mode in a struct the filter cannot
  // read: ENOSYS makes callers fall back to openat.
  for (const name of Object.keys(MODE_ARG)) {
    const k = nr(name);
    if (k !== undefined) jeq(k, { label: `mode_${name}` });
  }
  jeq(nr('openat2')!, { label: 'enosys' });
  jeq(nr('ioctl')!, { label: 'ioctl' });
  jeq(nr('personality')!, { label: 'personality' });
  prog.push({ op: 'ret', k: RET_ALLOW });

  if (nsChecks) {
    prog.push({ op: 'label', name: 'clone' }, { op: 'ld', off: argLo(0) });
    prog.push({ op: 'jmp', code: JSET_K, k: CLONE_NS_FLAGS, jt: EPERM_T, jf: ALLOW_T });
  }
  // socket(domain): only IP, netlink (getaddrinfo, ip) and optionally unix. Everything else
  // (AF_PACKET sniffing/injection, AF_VSOCK to the hypervisor, AF_ALG, bluetooth...) is EPERM.
  const families: number[] = [AF.INET, AF.INET6, AF.NETLINK];
  if (opts.unixSockets) families.push(AF.UNIX);
  prog.push({ op: 'label', name: 'socket' }, { op: 'ld', off: argLo(0) });
  for (const f of families) jeq(f, ALLOW_T);
  prog.push({ op: 'ret', k: RET_ERRNO | EPERM });
  // socketpair: unix only (libuv, Python and shells use it for pipes). A datagram pair is not
  // only a pipe: sendto() with an address on it reaches any named or abstract unix socket the
  // sandbox can see (SOCK_RAW is a datagram socket too), so without unix sockets only the
  // connection-oriented types are allowed, whose sendto ignores or refuses an address.
  prog.push({ op: 'label', name: 'socketpair' }, { op: 'ld', off: argLo(0) });
  if (opts.unixSockets) jeq(AF.UNIX, ALLOW_T, EPERM_T);
  else {
    jeq(AF.UNIX, null, EPERM_T);
    prog.push({ op: 'ld', off: argLo(1) }, { op: 'and', k: SOCK_TYPE_MASK });
    jeq(SOCK_STREAM, ALLOW_T);
    jeq(SOCK_SEQPACKET, ALLOW_T, EPERM_T);
  }
  for (const [name, a] of Object.entries(MODE_ARG)) {
    if (nr(name) === undefined) continue;
    prog.push({ op: 'label', name: `mode_${name}` });
    if (a.flags !== undefined) {
      prog.push({ op: 'ld', off: argLo(a.flags) });
      prog.push({ op: 'jmp', code: JSET_K, k: O_CREATES, jt: null, jf: ALLOW_T });
    }
    prog.push({ op: 'ld', off: argLo(a.mode) });
    prog.push({ op: 'jmp', code: JSET_K, k: SETID_BITS, jt: EPERM_T, jf: ALLOW_T });
  }
  // ioctl(TIOCSTI) pushes input into the terminal's queue: keystrokes for the user's shell.
  prog.push({ op: 'label', name: 'ioctl' }, { op: 'ld', off: argLo(1) });
  jeq(TIOCSTI, EPERM_T);
  jeq(TIOCLINUX, EPERM_T, ALLOW_T);
  // personality: no READ_IMPLIES_EXEC / ADDR_NO_RANDOMIZE games.
  prog.push({ op: 'label', name: 'personality' }, { op: 'ld', off: argLo(0) });
  for (const p of PERSONALITY_OK) jeq(p, ALLOW_T);
  prog.push({ op: 'ret', k: RET_ERRNO | EPERM });

  prog.push({ op: 'label', name: 'eperm' }, { op: 'ret', k: RET_ERRNO | EPERM });
  prog.push({ op: 'label', name: 'enosys' }, { op: 'ret', k: RET_ERRNO | ENOSYS });
  prog.push({ op: 'label', name: 'allow' }, { op: 'ret', k: RET_ALLOW });

  const program = assemble(prog);
  return { program, instructions: program.length / 8, denied: [...denied, 'setid_bits'], socketFamilies: families };
}

/** Resolves labels and inline returns into a sock_filter array (8 bytes each, little endian). */
function assemble(prog: Ins[]): Buffer {
  // Inline return targets become shared instructions appended at the end.
  const extraRets = new Map<number, string>();
  const code: Exclude<Ins, { op: 'label' }>[] = [];
  const labels = new Map<string, number>();
  const rets: Ins[] = [];
  for (const ins of prog) {
    if (ins.op === 'jmp') {
      for (const t of [ins.jt, ins.jf]) {
        if (t && 'ret' in t && !extraRets.has(t.ret)) {
          const name = `ret_${t.ret.toString(16)}`;
          extraRets.set(t.ret, name);
          rets.push({ op: 'label', name }, { op: 'ret', k: t.ret });
        }
      }
    }
  }
  for (const ins of [...prog, ...rets]) {
    if (ins.op === 'label') labels.set(ins.name, code.length);
    else code.push(ins);
  }
  const buf = Buffer.alloc(code.length * 8);
  code.forEach((ins, i) => {
    let c: number;
    let jt = 0;
    let jf = 0;
    let k: number;
    if (ins.op === 'ld') {
      c = LD_W_ABS;
      k = ins.off;
    } else if (ins.op === 'and') {
      c = ALU_AND_K;
      k = ins.k;
    } else if (ins.op === 'ret') {
      c = RET_K;
      k = ins.k;
    } else {
      c = ins.code;
      k = ins.k;
      const off = (t: Target | null): number => {
        if (!t) return 0;
        const name = 'label' in t ? t.label : extraRets.get(t.ret)!;
        const at = labels.get(name);
        if (at === undefined) throw new Error(`seccomp: undefined label ${name}`);
        const d = at - i - 1;
        if (d < 0 || d > 255) throw new Error(`seccomp: jump to ${name} out of range (${d})`);
        return d;
      };
      jt = off(ins.jt);
      jf = off(ins.jf);
    }
    buf.writeUInt16LE(c, i * 8);
    buf[i * 8 + 2] = jt;
    buf[i * 8 + 3] = jf;
    buf.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return buf;
}

// ---- A tiny interpreter, so unit tests can check decisions without a kernel. ----

export interface SeccompData {
  nr: number;
  arch?: number;
  args?: number[];
}

/** Runs the filter on one syscall; returns the raw SECCOMP_RET_* value. */
export function evaluate(program: Buffer, data: SeccompData, arch: SeccompArch = 'x86_64'): number {
  const mem = Buffer.alloc(64);
  mem.writeInt32LE(data.nr | 0, OFF_NR);
  mem.writeUInt32LE(data.arch ?? ARCH[arch], OFF_ARCH);
  (data.args ?? []).forEach((a, i) => mem.writeUInt32LE(a >>> 0, argLo(i)));
  let acc = 0;
  for (let pc = 0; pc < program.length / 8; ) {
    const code = program.readUInt16LE(pc * 8);
    const jt = program[pc * 8 + 2]!;
    const jf = program[pc * 8 + 3]!;
    const k = program.readUInt32LE(pc * 8 + 4);
    pc++;
    switch (code) {
      case LD_W_ABS: acc = mem.readUInt32LE(k); break;
      case ALU_AND_K: acc = (acc & k) >>> 0; break;
      case JEQ_K: pc += acc === k ? jt : jf; break;
      case JGT_K: pc += acc > k ? jt : jf; break;
      case JGE_K: pc += acc >= k ? jt : jf; break;
      case JSET_K: pc += (acc & k) !== 0 ? jt : jf; break;
      case RET_K: return k;
      default: throw new Error(`bad opcode ${code}`);
    }
  }
  throw new Error('fell off the end');
}

export const SECCOMP_RET = { KILL_PROCESS: RET_KILL_PROCESS, ALLOW: RET_ALLOW, EPERM: RET_ERRNO | EPERM, ENOSYS: RET_ERRNO | ENOSYS };

export function syscallNumber(name: string, arch: SeccompArch = 'x86_64'): number | undefined {
  return SYSCALLS[name]?.[arch];
}
