import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AF, buildSeccompFilter, CLONE_NS_FLAGS, DEFAULT_DENY, evaluate, knownSyscallNames, SECCOMP_RET, syscallNumber } from '../../src/sandbox/seccomp.js';

const { ALLOW, EPERM, ENOSYS, KILL_PROCESS } = SECCOMP_RET;
const nr = (n: string) => syscallNumber(n, 'x86_64')!;

describe('seccomp filter (x86_64)', () => {
  const f = buildSeccompFilter({ arch: 'x86_64' });
  const run = (n: number, args: number[] = []) => evaluate(f.program, { nr: n, args });

  it('denies every default entry with EPERM', () => {
    for (const name of DEFAULT_DENY) {
      if (name === 'namespaces') continue;
      expect(run(nr(name)), name).toBe(EPERM);
    }
  });

  it('allows ordinary syscalls', () => {
    for (const n of [0, 1, 2, 3, 9, 12, 39, 57, 59, 60, 61, 231, 257, 262, 435 - 1, 439 /* faccessat2 */, 452 /* fchmodat2 */]) expect(run(n), String(n)).toBe(ALLOW);
  });

  it('kills foreign architectures and refuses the x32 ABI', () => {
    expect(evaluate(f.program, { nr: 39, arch: 0x40000003 /* i386 */ })).toBe(KILL_PROCESS);
    expect(run(0x40000000 | 39)).toBe(EPERM);
  });

  it('returns ENOSYS for syscalls newer than its table and for clone3', () => {
    expect(run(470)).toBe(ENOSYS);
    expect(run(1000)).toBe(ENOSYS);
    expect(run(nr('clone3'))).toBe(ENOSYS);
  });

  it('checks clone() and unshare() flags for namespaces only', () => {
    const threadFlags = 0x003d0f00; // CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
    expect(run(nr('clone'), [threadFlags])).toBe(ALLOW);
    expect(run(nr('clone'), [17 /* SIGCHLD: fork */])).toBe(ALLOW);
    for (const bit of [0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x80])
      expect(run(nr('clone'), [17 | bit]), bit.toString(16)).toBe(EPERM);
    expect(run(nr('unshare'), [0x200 /* CLONE_FS */])).toBe(ALLOW);
    expect(run(nr('unshare'), [0x10000000 /* CLONE_NEWUSER */])).toBe(EPERM);
    expect(run(nr('setns'), [3, 0])).toBe(EPERM);
  });

  it('allows only IP and netlink sockets by default', () => {
    expect(run(nr('socket'), [AF.INET])).toBe(ALLOW);
    expect(run(nr('socket'), [AF.INET6])).toBe(ALLOW);
    expect(run(nr('socket'), [AF.NETLINK])).toBe(ALLOW);
    for (const fam of [AF.UNIX, AF.PACKET, AF.VSOCK, 38 /* AF_ALG */, 31 /* bluetooth */, 3 /* AX25 */]) expect(run(nr('socket'), [fam]), String(fam)).toBe(EPERM);
    expect(run(nr('socketpair'), [AF.UNIX, 1])).toBe(ALLOW);
    expect(run(nr('socketpair'), [AF.INET])).toBe(EPERM);
  });

  it('allows unix sockets when asked, never packet or vsock', () => {
    const g = buildSeccompFilter({ arch: 'x86_64', unixSockets: true });
    expect(evaluate(g.program, { nr: nr('socket'), args: [AF.UNIX] })).toBe(ALLOW);
    expect(evaluate(g.program, { nr: nr('socket'), args: [AF.PACKET] })).toBe(EPERM);
    expect(evaluate(g.program, { nr: nr('socket'), args: [AF.VSOCK] })).toBe(EPERM);
  });

  it('denies TIOCSTI and TIOCLINUX but not other ioctls', () => {
    expect(run(nr('ioctl'), [0, 0x5412])).toBe(EPERM);
    expect(run(nr('ioctl'), [0, 0x541c])).toBe(EPERM);
    expect(run(nr('ioctl'), [0, 0x5401 /* TCGETS */])).toBe(ALLOW);
    expect(run(nr('ioctl'), [0, 0x5413 /* TIOCGWINSZ */])).toBe(ALLOW);
  });

  it('restricts personality()', () => {
    expect(run(nr('personality'), [0xffffffff])).toBe(ALLOW);
    expect(run(nr('personality'), [0])).toBe(ALLOW);
    expect(run(nr('personality'), [0x0040000 /* ADDR_NO_RANDOMIZE */])).toBe(EPERM);
    expect(run(nr('personality'), [0x0400000 /* READ_IMPLIES_EXEC */])).toBe(EPERM);
  });

  it('never lets a mode with set-uid or set-gid through (chmod family, creating opens, mknod); openat2 falls back', () => {
    const g = buildSeccompFilter({ arch: 'x86_64', allow: [...DEFAULT_DENY] }); // not liftable by policy
    for (const bits of [0o4755, 0o2755, 0o6755, 0o4000]) {
      expect(evaluate(g.program, { nr: nr('chmod'), args: [0, bits] })).toBe(EPERM);
      expect(evaluate(g.program, { nr: nr('fchmod'), args: [3, bits] })).toBe(EPERM);
      expect(evaluate(g.program, { nr: nr('fchmodat'), args: [-100, 0, bits] })).toBe(EPERM);
      expect(evaluate(g.program, { nr: nr('fchmodat2'), args: [-100, 0, bits, 0] })).toBe(EPERM);
      expect(evaluate(g.program, { nr: nr('creat'), args: [0, bits] })).toBe(EPERM);
      expect(evaluate(g.program, { nr: nr('open'), args: [0, 0o101, bits] })).toBe(EPERM); // O_WRONLY|O_CREAT
      expect(evaluate(g.program, { nr: nr('openat'), args: [-100, 0, 0o100, bits] })).toBe(EPERM);
      expect(evaluate(g.program, { nr: nr('openat'), args: [-100, 0, 0o20200002, bits] })).toBe(EPERM); // O_TMPFILE
      expect(evaluate(g.program, { nr: nr('mknodat'), args: [-100, 0, 0o100000 | bits, 0] })).toBe(EPERM);
    }
    for (const mode of [0o755, 0o1777, 0o644, 0]) {
      expect(evaluate(g.program, { nr: nr('chmod'), args: [0, mode] })).toBe(ALLOW);
      expect(evaluate(g.program, { nr: nr('openat'), args: [-100, 0, 0o101, mode] })).toBe(ALLOW);
    }
    // without O_CREAT/O_TMPFILE the mode argument is not used: whatever is in it, the open is fine
    expect(evaluate(g.program, { nr: nr('openat'), args: [-100, 0, 0o2, 0o4755] })).toBe(ALLOW);
    expect(evaluate(g.program, { nr: nr('openat2') })).toBe(ENOSYS);
    expect(g.denied).toContain('setid_bits');
  });

  it('socketpair: unix only, and no datagram pair unless unix sockets are allowed', () => {
    const f2 = buildSeccompFilter({ arch: 'x86_64' });
    expect(evaluate(f2.program, { nr: nr('socketpair'), args: [AF.UNIX, 1] })).toBe(ALLOW);
    expect(evaluate(f2.program, { nr: nr('socketpair'), args: [AF.UNIX, 5 | 0x80000] })).toBe(ALLOW);
    expect(evaluate(f2.program, { nr: nr('socketpair'), args: [AF.UNIX, 2] })).toBe(EPERM);
    expect(evaluate(f2.program, { nr: nr('socketpair'), args: [AF.UNIX, 2 | 0x800 | 0x80000] })).toBe(EPERM);
    for (const t of [0, 3, 4, 6, 10, 15]) expect(evaluate(f2.program, { nr: nr('socketpair'), args: [AF.UNIX, t] }), `type ${t}`).toBe(EPERM); // SOCK_RAW is a datagram pair
    expect(evaluate(f2.program, { nr: nr('socketpair'), args: [AF.INET, 1] })).toBe(EPERM);
    const u = buildSeccompFilter({ arch: 'x86_64', unixSockets: true });
    expect(evaluate(u.program, { nr: nr('socketpair'), args: [AF.UNIX, 2] })).toBe(ALLOW);
  });

  it('lets a policy lift and add denials', () => {
    const g = buildSeccompFilter({ arch: 'x86_64', allow: ['ptrace'], deny: ['ioperm'] });
    expect(evaluate(g.program, { nr: nr('ptrace') })).toBe(ALLOW);
    expect(evaluate(g.program, { nr: nr('bpf') })).toBe(EPERM);
    const h = buildSeccompFilter({ arch: 'x86_64', allow: ['namespaces'] });
    expect(evaluate(h.program, { nr: nr('unshare'), args: [0x10000000] })).toBe(ALLOW);
    expect(evaluate(h.program, { nr: nr('clone3') })).toBe(ALLOW);
    expect(() => buildSeccompFilter({ arch: 'x86_64', deny: ['nosuchcall'] })).toThrow(/unknown syscall/);
  });

  it('every syscall number is either one of the listed decisions or allowed (property)', () => {
    const denied = new Set(f.denied.map(nr));
    const argChecked = new Set(['clone', 'unshare', 'socket', 'socketpair', 'ioctl', 'personality', 'clone3', 'open', 'openat', 'openat2', 'creat', 'chmod', 'fchmod', 'fchmodat', 'fchmodat2', 'mknod', 'mknodat'].map(nr));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 469 }), fc.array(fc.nat(), { minLength: 6, maxLength: 6 }), (n, args) => {
        const r = evaluate(f.program, { nr: n, args });
        if (denied.has(n)) return r === EPERM;
        if (argChecked.has(n)) return r === ALLOW || r === EPERM || r === ENOSYS;
        return r === ALLOW;
      }),
    );
  });

  it('builds a valid program for aarch64 too', () => {
    const a = buildSeccompFilter({ arch: 'aarch64' });
    expect(evaluate(a.program, { nr: 117 /* ptrace */ }, 'aarch64')).toBe(EPERM);
    expect(evaluate(a.program, { nr: 63 /* read */ }, 'aarch64')).toBe(ALLOW);
    expect(evaluate(a.program, { nr: 220, args: [CLONE_NS_FLAGS] }, 'aarch64')).toBe(EPERM);
    expect(evaluate(a.program, { nr: 63, arch: 0xc000003e }, 'aarch64')).toBe(KILL_PROCESS);
  });

  it('knows the names a policy may use', () => {
    expect(knownSyscallNames()).toContain('ptrace');
    expect(knownSyscallNames()).toContain('namespaces');
    expect(knownSyscallNames()).not.toContain('socket');
  });
});
