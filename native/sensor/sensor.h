/* Record format shared by sensor.bpf.c (kernel), loader.c (warden-sensor) and
 * src/sensors/ebpf/decoder.ts. Every record is a fixed 88-byte header followed by up to
 * six byte strings whose lengths are in the header (no NUL terminators, no escaping:
 * a path holding \n or \x1f arrives as it is). All integers are little-endian.
 *
 *   off size field
 *     0    2 type          (REC_*)
 *     2    2 flags         (F_*)
 *     4    4 pid           (thread-group id)
 *     8    4 tid
 *    12    4 root          session root pid from the kernel's tracked map (0: none)
 *    16   12 len[6]        bytes of strings 0..5
 *    28    4 (zero)
 *    32    8 ns            CLOCK_MONOTONIC nanoseconds
 *    40   48 a[6]          signed 64-bit arguments, meaning per type (see decoder.ts)
 *    88    . string 0, string 1, ... string 5
 *
 * String slots by convention: s0 the path (or name) as the process passed it, s1 a second
 * one (rename source, link target, xattr name), s2 / s3 the kernel's own path of the
 * directory or file s0 / s1 are relative to (a dfd, the cwd for a failed relative path, or
 * the fd of an f*() call), s4 the kernel's path of the file the call reached (opens), s5
 * per type (exec: real executable). "Kernel path" = the dentry walk of sensor.bpf.c
 * (dpath), which follows mounts up to the task's root the way d_path() does.
 *
 * On stdout the loader writes each record as [u32 length][record].
 * Bump SENSOR_ABI when the layout changes: the loader prints it with --abi and the
 * TypeScript side refuses a binary built for another layout. */
#ifndef WARDEN_SENSOR_H
#define WARDEN_SENSOR_H

#define SENSOR_ABI 3

#define HDR_SIZE 88
#define NSTR 6

/* Caps (documented in docs/events.md and sensor.ts). */
#define PATH_CAP 4096   /* PATH_MAX: every path the kernel accepts arrives whole */
#define ARGV_CAP 16384  /* bytes of the NUL-separated argv area */
#define ENV_CAP 2048    /* bytes of the selected environment variables ("NAME=value\0"...) */
#define ENV_VAR_CAP 512 /* bytes of one of them */
#define ENV_SCAN 256    /* environment variables searched */
#define SOCKADDR_CAP 128
#define PAYLOAD_CAP 1024 /* DNS query / answer bytes */
#define XATTR_NAME_CAP 256
#define ANCESTRY 8      /* signal records: the sender's ancestors */
#define ROOT_NAME 32     /* roots map: agent name, session id, cwd, home */
#define ROOT_SESSION 64
#define ROOT_PATH 256

enum rec_type {
	REC_EXEC = 1,     /* a: ppid, uid, euid, old_tid, gen; s0 filename, s1 argv (NUL-separated),
			     s2 selected environment ("NAME=value\0"...), s3 cwd, s5 real executable */
	REC_FORK = 2,     /* a: ppid */
	REC_EXIT = 3,     /* a: raw exit_code, duration ns, library loads (read-only opens of the dynamic
			     loader's and the C library's start-up files: libdirs, counted, not reported) */
	REC_RENAME = 4,   /* s0 new comm */
	REC_OPEN = 5,     /* a: dfd, flags, mode, ret, dev, ino; s0 path, s2 base dir (failed relative opens),
			     s4 the file opened */
	REC_REPEAT = 6,   /* a: count, ino, dev of the file counted */
	REC_FRENAME = 7,  /* a: newdfd, flags, olddfd, ret; s0 new path, s1 old path, s2/s3 bases */
	REC_UNLINK = 8,   /* a: dfd, flags, ret; s0 path, s2 base */
	REC_SYMLINK = 9,  /* a: newdfd, ret; s0 link path, s1 target, s2 base */
	REC_LINK = 10,    /* a: newdfd, flags, olddfd, ret; s0 new path, s1 old path, s2/s3 bases */
	REC_TRUNCATE = 11,/* a: fd (-100 with a path), length, ret; s0 path (empty for ftruncate), s2 base/fd */
	REC_CHMOD = 12,   /* a: dfd (fd for fchmod), mode, ret; s0 path (empty for fchmod), s2 base/fd */
	REC_CHOWN = 13,   /* a: dfd, uid, gid, ret; s0 path, s2 base/fd */
	REC_SETXATTR = 14,/* a: fd or dfd, ret; s0 path (empty for fsetxattr), s1 xattr name, s2 base/fd */
	REC_MKDIR = 15,   /* a: dfd, mode, ret (EEXIST left out); s0 path, s2 base */
	REC_UTIMES = 16,  /* a: dfd, ret; s0 path (empty: the fd itself), s2 base/fd */
	REC_CHDIR = 17,   /* s0 path as passed, s4 the new cwd */
	REC_FCHDIR = 18,  /* a: fd; s4 the new cwd */
	REC_CONNECT = 19, /* a: fd, socktype, addrlen, ret (at exit only), peer pid (unix), local port;
			     s0 raw sockaddr: the socket's own destination when it has one (the buffer
			     passed can be rewritten while the connect sleeps), else the buffer */
	REC_SEND = 20,    /* a: fd, len, ret; s0 raw sockaddr (from the socket when connected), s1 payload (port 53) */
	REC_DNS_ANSWER = 21, /* a: fd, len; s0 payload, s1 raw source sockaddr */
	REC_BIND = 22,    /* a: fd, socktype; s0 raw sockaddr */
	REC_LISTEN = 23,  /* a: fd, socktype, port, backlog */
	REC_PTRACE = 24,  /* a: request, target pid */
	REC_MEMFD = 25,   /* a: flags; s0 name */
	REC_IO_URING = 26,/* a: entries */
	REC_SETID = 27,   /* a: syscall nr, arg0, arg1, arg2, ret, (uid<<32|euid) after; s0 4 u32: uid,euid,gid,egid before */
	REC_SETNS = 28,   /* a: fd, nstype, ret, namespace inode, fs magic of the fd */
	REC_UNSHARE = 29, /* a: flags, ret, via (0 unshare, 1 clone, 2 clone3) */
	REC_USERFAULTFD = 30, /* a: flags, ret */
	REC_SOCKET = 31,  /* a: family, type, protocol, ret (AF_PACKET, SOCK_RAW, SOCK_PACKET only) */
	REC_LOOKUP = 32,  /* a: syscall nr, dfd, ret; s0 path, s2 base: a failed stat/access/readlink of a
			     watched name */
	REC_BPF = 34,     /* a: cmd (at entry, before the call acts): bpf() by a traced process (an agent
			     can reach the sensor's own maps and links with it) */
	REC_XCALL = 35,   /* a: syscall nr, its first five arguments (at entry, before the call acts);
			     s0..s3 its path or name arguments (mount: source, target, type, options): calls that reach another process's files,
			     memory, or make another view of the file system (open_by_handle_at,
			     pidfd_getfd, process_vm_*, mount family) */
	REC_CLOCK = 36,   /* a: syscall nr, clock id, modes (adjtimex: before | after the call; ~0 unreadable),
			     ret, step of TAI minus monotonic across the call (ns, signed; 0 none), sets
			     (1: the call asks to set the clock or the TAI offset) */
	REC_SIGNAL = 33,  /* a: sig, target pid, target role, sender uid, si_code, seq; s0 sender comm,
			     s1 ancestry: ANCESTRY x {u32 pid, char comm[16]} */

	/* Written by the loader, not the kernel. */
	REC_READY = 100,  /* a: attach us, abi, programs, adopted (1: pinned state taken over), gap ns,
			     backlog records; s0 comma-separated notes */
	REC_LOSS = 101,   /* a: count, total, root pid, record type, why (LOSS_*) */
	REC_CTL = 102,    /* a: 1 track / 2 untrack / 3 server / 4 unserver / 5 protect / 7 fold off, pid
			     (5: the inode; 7: the FOLD_OFF_* bits newly set), result (0 ok, -errno) */
	REC_LOG = 103,    /* s0 message (warnings from the loader); a0 > 0: that many records kept for a dead monitor were sent again */
	REC_STATS = 104,  /* a: compat syscalls skipped, read failures, records, loader records, shed, rate limited */
	REC_ROOT = 105,   /* a: root pid, start ns; s0 agent name, s1 session id, s2 cwd, s3 home: a session the
			     pinned state remembers (sent when an adopting loader starts) */
};

enum rec_flags {
	F_TRUNC0 = 1 << 0,   /* string 0 was longer than its cap */
	F_TRUNC1 = 1 << 1,
	F_TRUNC2 = 1 << 2,
	F_CANDIDATE = 1 << 3,/* exec: provisional (not yet decided an agent) */
	F_UNREAD0 = 1 << 4,  /* string 0 could not be read, even at syscall exit */
	F_UNREAD1 = 1 << 5,
	F_ARGV_MORE = 1 << 6,/* exec: argv area longer than ARGV_CAP */
	F_HANDOFF = 1 << 7,  /* fork/exec: a child of a hand-off server, provisional */
	F_EXIT = 1 << 8,     /* reported at syscall exit: the ret argument is valid */
	F_PROTECTED = 1 << 9,/* open: the file or its directory is on the protected list (by inode) */
	F_WATCHED = 1 << 10, /* failed open / lookup: a component of the path is a watched name */
	F_DETACHED = 1 << 11,/* a kernel path did not reach the task's root (other mount tree) */
	F_DELETED = 1 << 12, /* a kernel path names an unlinked file */
	F_KTRUNC = 1 << 13,  /* a kernel path was longer than PATH_CAP (its start is cut) */
	F_RESUMED = 1 << 14, /* signal: a stop of the monitor or its loader, continued by the kernel program */
	F_REPLACED = 1 << 15,/* open: the file at the returned fd may have been put there by another task (fd_maybe_replaced) */
};

/* why a record was not delivered (REC_LOSS) */
enum loss_why {
	LOSS_DROPPED = 0, /* ring buffer full */
	LOSS_SHED = 1,    /* under pressure, over the process's budget (low-value kinds) */
	LOSS_RATE = 2,    /* the same syscall failing in a loop, over its rate */
};

/* libdirs map values: which read-only opens of regular files directly in the directory are counted */
#define LIBDIR_SO 1   /* a library directory: its shared objects (*.so, *.so.N) */
#define LIBDIR_ETC 2  /* /etc, /usr/share/locale: ld.so.cache and locale.alias only */
#define LIBDIR_DATA 3 /* locale data and gconv directories: any file */

/* names map values (what a 31-byte name means when seen) */
#define NAME_EXEC_COMM 1   /* comm of an exec: candidate (agent names and interpreters) */
#define NAME_AGENT 2       /* argv[0] of an exec, or a task_rename target: candidate */
#define NAME_WATCHED 4     /* a path component whose failed open / lookup is reported */

/* tracked map states */
#define ST_TRACKED 1
#define ST_CANDIDATE 2
#define ST_HANDOFF 3

/* guard roles */
#define ROLE_MONITOR 1
#define ROLE_LOADER 2

/* why library opens are no longer counted (fold_off bits; sticky for the pinned state) */
#define FOLD_OFF_PROTECT 2 /* an inode could not be put on the protected list */
/* the library directories' files recorded when monitoring began (more are not counted) */
#define LIBFILES_MAX 32768

/* per-CPU stats array indexes */
enum stat_idx {
	ST_DROPS = 0,
	ST_COMPAT = 1,
	ST_READ_FAIL = 2,
	ST_RECORDS = 3,
	ST_SHED = 4,
	ST_RATE = 5,
	ST_REREAD = 6,
	ST_MAX = 7,
};

#endif
