/* Record format shared by sensor.bpf.c (kernel), loader.c (warden-sensor) and
 * src/sensors/ebpf/decoder.ts. Every record is a fixed 80-byte header followed by up to
 * three byte strings whose lengths are in the header (no NUL terminators, no escaping:
 * a path holding \n or \x1f arrives as it is). All integers are little-endian.
 *
 *   off size field
 *     0    2 type          (REC_*)
 *     2    2 flags         (F_*)
 *     4    4 pid           (thread-group id)
 *     8    4 tid
 *    12    2 len[0]        bytes of string 0
 *    14    2 len[1]
 *    16    2 len[2]
 *    18    6 (zero)
 *    24    8 ns            CLOCK_MONOTONIC nanoseconds
 *    32   48 a[6]          signed 64-bit arguments, meaning per type (see decoder.ts)
 *    80    . string 0, string 1, string 2
 *
 * On stdout the loader writes each record as [u32 length][record].
 * Bump SENSOR_ABI when the layout changes: the loader prints it with --abi and the
 * TypeScript side refuses a binary built for another layout. */
#ifndef WARDEN_SENSOR_H
#define WARDEN_SENSOR_H

#define SENSOR_ABI 1

#define HDR_SIZE 80

/* Caps (documented in docs/events.md and sensor.ts). */
#define PATH_CAP 4096   /* PATH_MAX: every path the kernel accepts arrives whole */
#define ARGV_CAP 16384  /* bytes of the NUL-separated argv area */
#define LDP_CAP 512     /* bytes of the LD_PRELOAD value */
#define ENV_SCAN 256    /* environment variables searched for LD_PRELOAD */
#define SOCKADDR_CAP 128
#define PAYLOAD_CAP 1024 /* DNS query / answer bytes */
#define XATTR_NAME_CAP 256

enum rec_type {
	REC_EXEC = 1,     /* a: ppid, uid, euid, old_tid; s0 filename, s1 argv (NUL-separated), s2 LD_PRELOAD value */
	REC_FORK = 2,     /* a: ppid */
	REC_EXIT = 3,     /* a: raw exit_code, duration ns */
	REC_RENAME = 4,   /* s0 new comm */
	REC_OPEN = 5,     /* a: dfd, flags, mode, ret; s0 path */
	REC_REPEAT = 6,   /* a: count */
	REC_FRENAME = 7,  /* a: newdfd, flags, olddfd; s0 new path, s1 old path */
	REC_UNLINK = 8,   /* a: dfd, flags; s0 path */
	REC_SYMLINK = 9,  /* a: newdfd; s0 link path, s1 target */
	REC_LINK = 10,    /* a: newdfd, flags, olddfd; s0 new path, s1 old path */
	REC_TRUNCATE = 11,/* a: fd (-100 with a path), length; s0 path (empty for ftruncate) */
	REC_CHMOD = 12,   /* a: dfd (fd for fchmod), mode; s0 path (empty for fchmod) */
	REC_CHOWN = 13,   /* a: dfd, uid, gid; s0 path */
	REC_SETXATTR = 14,/* a: fd or dfd; s0 path (empty for fsetxattr), s1 xattr name */
	REC_MKDIR = 15,   /* a: dfd, mode, ret (reported at exit, EEXIST left out); s0 path */
	REC_UTIMES = 16,  /* a: dfd; s0 path (empty: the fd itself) */
	REC_CHDIR = 17,   /* s0 path */
	REC_FCHDIR = 18,  /* a: fd */
	REC_CONNECT = 19, /* a: fd, socktype, addrlen; s0 raw sockaddr */
	REC_SEND = 20,    /* a: fd, len; s0 raw sockaddr (synthesised from the socket when connected), s1 payload (port 53) */
	REC_DNS_ANSWER = 21, /* a: fd, len; s0 payload */
	REC_BIND = 22,    /* a: fd, socktype; s0 raw sockaddr */
	REC_LISTEN = 23,  /* a: fd, socktype, port, backlog */
	REC_PTRACE = 24,  /* a: request, target pid */
	REC_MEMFD = 25,   /* a: flags; s0 name */
	REC_IO_URING = 26,/* a: entries */

	/* Written by the loader, not the kernel. */
	REC_READY = 100,  /* a: attach us, abi, programs; s0 comma-separated notes */
	REC_LOSS = 101,   /* a: records dropped since the last loss record, total */
	REC_CTL = 102,    /* a: 1 track / 2 untrack, pid, result (0 ok, -errno) */
	REC_LOG = 103,    /* s0 message (warnings from the loader) */
	REC_STATS = 104,  /* a: compat syscalls skipped, read failures, records, wakeups */
};

enum rec_flags {
	F_TRUNC0 = 1 << 0,   /* string 0 was longer than its cap */
	F_TRUNC1 = 1 << 1,
	F_TRUNC2 = 1 << 2,
	F_CANDIDATE = 1 << 3,/* exec: not tracked yet, flagged as a possible agent */
	F_UNREAD0 = 1 << 4,  /* string 0 could not be read (page not resident) */
	F_UNREAD1 = 1 << 5,
	F_ARGV_MORE = 1 << 6,/* exec: argv area longer than ARGV_CAP */
	F_LDPRELOAD = 1 << 7,/* exec: LD_PRELOAD is set (string 2 is its value, maybe empty) */
};

/* names map values (what a 31-byte name means when seen) */
#define NAME_EXEC_COMM 1   /* comm of an exec: candidate (agent names and interpreters) */
#define NAME_AGENT 2       /* argv[0] of an exec, or a task_rename target: candidate */

/* per-CPU stats array indexes */
enum stat_idx {
	ST_DROPS = 0,
	ST_COMPAT = 1,
	ST_READ_FAIL = 2,
	ST_RECORDS = 3,
	ST_MAX = 4,
};

#endif
