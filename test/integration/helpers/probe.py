# Calls each syscall `warden run` denies, with harmless arguments, and prints
# {"name": errno} (0 = the call succeeded). Run inside and outside the sandbox.
import ctypes, json, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sc(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    return 0 if r >= 0 else ctypes.get_errno()
NO = b"/nonexistent-warden-probe"
calls = {
    "ptrace": lambda: sc(101, 0, 0, 0, 0),                       # PTRACE_TRACEME
    "process_vm_readv": lambda: sc(310, os.getpid(), 0, 0, 0, 0, 0),
    "process_vm_writev": lambda: sc(311, os.getpid(), 0, 0, 0, 0, 0),
    "bpf": lambda: sc(321, 0, 0, 0),
    "perf_event_open": lambda: sc(298, 0, 0, -1, -1, 0),
    "kexec_load": lambda: sc(246, 0, 0, 0, 0),
    "kexec_file_load": lambda: sc(320, -1, -1, 0, 0, 0),
    "init_module": lambda: sc(175, 0, 0, b""),
    "finit_module": lambda: sc(313, -1, b"", 0),
    "delete_module": lambda: sc(176, b"warden_no_such_module", 0),
    "keyctl": lambda: sc(250, 0, -3, 0),                          # KEYCTL_GET_KEYRING_ID session
    "add_key": lambda: sc(248, b"user", b"warden-probe", b"x", 1, -2),
    "request_key": lambda: sc(249, b"user", b"warden-probe-none", 0, 0),
    "userfaultfd": lambda: sc(323, 0),
    "io_uring_setup": lambda: sc(425, 1, 0),
    "io_uring_enter": lambda: sc(426, -1, 0, 0, 0, 0, 0),
    "io_uring_register": lambda: sc(427, -1, 0, 0, 0),
    "mount": lambda: sc(165, b"none", NO, b"tmpfs", 0, 0),
    "umount2": lambda: sc(166, NO, 0),
    "pivot_root": lambda: sc(155, NO, NO),
    "chroot": lambda: sc(161, NO),
    "fsopen": lambda: sc(430, b"tmpfs", 0),
    "fsconfig": lambda: sc(431, -1, 0, 0, 0, 0),
    "fsmount": lambda: sc(432, -1, 0, 0),
    "fspick": lambda: sc(433, -1, b"", 0),
    "move_mount": lambda: sc(429, -1, b"", -1, b"", 0),
    "open_tree": lambda: sc(428, -1, NO, 0),
    "mount_setattr": lambda: sc(442, -1, b"", 0, 0, 0),
    "setns": lambda: sc(308, -1, 0),
    "open_by_handle_at": lambda: sc(304, -1, 0, 0),
    "syslog": lambda: sc(103, 10, 0, 0),                          # SYSLOG_ACTION_SIZE_BUFFER
    "pidfd_getfd": lambda: sc(438, -1, 0, 0),
    "kcmp": lambda: sc(312, os.getpid(), os.getpid(), 0, 0, 0),
    "modify_ldt": lambda: sc(154, 0, 0, 0),
    "iopl": lambda: sc(172, 0),
    "clone3": lambda: sc(435, 0, 0),
    "x32 getpid": lambda: sc(0x40000000 + 39),
}
def sock(fam, typ):
    try:
        socket.socket(fam, typ).close(); return 0
    except OSError as e:
        return e.errno
calls["socket(AF_UNIX)"] = lambda: sock(socket.AF_UNIX, socket.SOCK_STREAM)
calls["socket(AF_PACKET)"] = lambda: sock(17, socket.SOCK_RAW)
calls["socket(AF_VSOCK)"] = lambda: sock(40, socket.SOCK_STREAM)
# Last: outside the sandbox these succeed and change what the process may do afterwards.
calls["unshare(CLONE_NEWNS)"] = lambda: sc(272, 0x00020000)
calls["unshare(CLONE_NEWUSER)"] = lambda: sc(272, 0x10000000)
out = {}
for name, fn in calls.items():
    out[name] = fn()
print(json.dumps(out))
