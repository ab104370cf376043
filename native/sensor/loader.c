// SPDX-License-Identifier: Apache-2.0
/* warden-sensor: loads sensor.bpf.o (embedded skeleton), fills its config maps, seeds the
 * tracked pids, attaches, then streams ring buffer records to stdout as [u32 len][record]
 * (layout in sensor.h). Never traces itself or the monitor.
 *
 * Two lives:
 *  - Without --pin it is the monitor's child: it dies with it (PR_SET_PDEATHSIG) and the
 *    BPF programs go with it.
 *  - With --pin DIR the kernel side outlives both processes: every map and every program
 *    link is pinned under DIR (bpffs). A loader started later with the same DIR and the
 *    same configuration adopts that state instead of loading anew: the tracked pids, the
 *    records written meanwhile (still in the ring buffers), the signals that killed the
 *    previous monitor or loader (`kills`). If the monitor dies without saying "q", the
 *    loader starts it again (--respawn-arg: its command line) and exits, leaving the
 *    pinned state to the loader the new monitor starts. A clean stop ("q", then EOF)
 *    removes DIR: the programs detach when the last reference goes.
 *
 * Commands on stdin, one per line:
 *   t PID ROOT      track PID as part of the session rooted at ROOT
 *   u PID [GEN]     untrack PID (only while its exec generation is still GEN)
 *   s PID ROOT      PID is a hand-off server: its new children are provisionally ROOT's
 *   S PID           PID is no longer a hand-off server
 *   p DEV INO       a protected file or directory (kernel dev_t, inode)
 *   w NAME          a watched path component (failed opens and lookups reported)
 *   a SEQ           the monitor has recorded signal record SEQ
 *   r ROOT NS NAME SESSION\tCWD\tHOME   a session rooted at ROOT (kept with the pinned state)
 *   R ROOT          that session is over
 *   q               clean stop follows (then EOF): remove the pinned state
 * EOF without "q" is the monitor's death.
 *
 * Usage: warden-sensor [--monitor-pid N] [--fold-ms N] [--failed-opens]
 *          [--exec-name NAME]... [--agent-name NAME]... [--prefix P]... [--track PID]...
 *          [--cgroup DIR]... [--wake-us N] [--batch-us N] [--env-name NAME]... [--watched-name NAME]...
 *          [--pin DIR] [--spool FILE] [--respawn-arg ARG]... [--respawn-log FILE]
 *          [--undo-stops] [--check] [--abi]
 *   --exec-name   comm that makes an untracked exec a candidate (agents, interpreters)
 *   --agent-name  argv[0] of an exec / target of a rename that makes a candidate
 *   --prefix      comm prefix that makes an exec a candidate (python, pypy)
 *   --cgroup      cgroup v2 directory whose every process is tracked (sandboxes)
 *   --env-name    environment variable an exec record carries (security-relevant ones)
 *   --wake-us N   the kernel wakes this reader at most once per N µs (default 10000; see
 *                 wake_ns in sensor.bpf.c); while records flow it polls every 2N µs.
 *   --batch-us N  kernel records are taken from the ring buffers and sent to the monitor at
 *                 most once per N µs while they flow (default 40000; 0: at every wake-up); the
 *                 first after a quiet spell and the loader's own records go at once. Held
 *                 records stay in the (pinned) ring buffers: a killed loader loses none.
 *   --spool FILE  when the monitor dies, the kernel records last sent to it (1 MiB: its pipe
 *                 and buffers died with it) and those that could not be written go there;
 *                 the next loader with the same file sends them first
 *   --registry F  the monitor's registry entry: it removes it before a clean stop, so its
 *                 absence means "stopped", whatever happened to "q"
 *   --undo-stops  a monitor stopped by a signal (SIGSTOP, or SIGTSTP not from its terminal) is
 *                 continued at once (`warden watch`)
 *   --check       load and attach, print "ok" and exit (warden doctor)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpf/btf.h>

#include "sensor.h"

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
#include "sensor.skel.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif
#ifndef BUILD_ID
#define BUILD_ID "dev"
#endif

#define OUT_CAP (1 << 20)

/* What this loader read from the kernel and has not yet written to the monitor (out), and the
 * kernel records it last wrote (hist, below). With a spool both live in a file mapped shared
 * (<spool>.inflight), so that they outlive this process: a loader killed together with its
 * monitor had records read from the ring buffers that neither had handled (an agent that killed
 * both first thing had its own start among them), and the next loader sends them again. */
#define HIST_CAP (1 << 20)
#define INFLIGHT_MAGIC 0x57494e46u /* "WINF" */
struct inflight {
	uint32_t magic, abi;
	int32_t monitor_pid, pad;
	uint64_t olen, hlen;
};
static struct inflight local_state;
static const char *inflight_path;
static struct inflight *S = &local_state;
static unsigned char out_local[OUT_CAP];
static unsigned char *out = out_local;
#define out_len (S->olen)
static volatile sig_atomic_t stop_req;
static int monitor_pid;
static int self_pid;
static struct sensor *skel;
static uint64_t records_out;
static char errbuf[1024];
static size_t errlen;
static const char *spool_path;
static const char *registry_path;
static int monitor_gone;
static int clean_stop;
static int undo_stops;

/* What a killed monitor may not have processed is sent again to the next one: the kernel
 * records last written to it (its pipe and its own buffers die with it; an agent that kills
 * the monitor first thing must still have its start seen), then what could not be written.
 * The next monitor drops the events it finds already in its log. */
static unsigned char hist_local[HIST_CAP];
static unsigned char *hist = hist_local;
#define hist_len (S->hlen)
static unsigned char *pend;
static size_t pend_len, pend_cap;

static uint32_t frame_len(const unsigned char *p)
{
	uint32_t n;
	memcpy(&n, p, 4);
	return n;
}

/* Keeps the kernel records of buf (whole frames) in the history, oldest dropped first. */
static void hist_add(const unsigned char *buf, size_t len)
{
	for (size_t off = 0; off + 4 <= len;) {
		size_t fl = 4 + (size_t)frame_len(buf + off);
		if (off + fl > len || fl > HIST_CAP / 4)
			return;
		uint16_t type;
		memcpy(&type, buf + off + 4, 2);
		if (type < 100) {
			if (hist_len + fl > HIST_CAP) {
				size_t cut = 0;
				while (cut < hist_len && hist_len - cut + fl > HIST_CAP - HIST_CAP / 4)
					cut += 4 + (size_t)frame_len(hist + cut);
				memmove(hist, hist + cut, hist_len - cut);
				hist_len -= cut;
			}
			memcpy(hist + hist_len, buf + off, fl);
			hist_len += fl;
		}
		off += fl;
	}
}

/* The reader is gone: what was not written is kept for the spool (whole frames only: the
 * frame being written when the pipe broke is kept whole). */
static void on_write_failed(size_t from)
{
	monitor_gone = 1;
	size_t b = 0;
	while (b < out_len && b + 4 + (size_t)frame_len(out + b) <= from)
		b += 4 + (size_t)frame_len(out + b);
	hist_add(out, b);
	if (spool_path && out_len > b && pend_len + (out_len - b) <= (8u << 20)) {
		if (pend_len + (out_len - b) > pend_cap) {
			size_t cap = pend_cap ? pend_cap : OUT_CAP;
			while (cap < pend_len + (out_len - b))
				cap *= 2;
			unsigned char *n = realloc(pend, cap);
			if (!n) {
				out_len = 0;
				return;
			}
			pend = n, pend_cap = cap;
		}
		memcpy(pend + pend_len, out + b, out_len - b);
		pend_len += out_len - b;
	}
	out_len = 0;
}

static void write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			return;
		p += w, n -= (size_t)w;
	}
}

/* with_history: the monitor is dead, the next one gets the recent records again */
static void write_spool(int with_history)
{
	if (!spool_path || (!pend_len && !(with_history && hist_len)))
		return;
	int fd = open(spool_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (with_history)
		write_all(fd, hist, hist_len);
	write_all(fd, pend, pend_len);
	close(fd);
	pend_len = 0;
	if (with_history)
		hist_len = 0; /* spooled: the next loader must not send it a second time */
}

/* Appends the whole kernel records of buf to fd (a frame cut by a kill, or a loader record of
 * the loader that died, is not sent again). Returns how many. */
static long append_frames(int fd, const unsigned char *buf, size_t len)
{
	long n = 0;
	for (size_t off = 0; off + 4 + HDR_SIZE <= len;) {
		uint32_t fl = frame_len(buf + off);
		uint16_t type;
		if (fl < HDR_SIZE || fl > (1u << 16) || off + 4 + fl > len)
			break;
		memcpy(&type, buf + off + 4, 2);
		if (type < 100) {
			write_all(fd, buf + off, 4 + (size_t)fl);
			n++;
		}
		off += 4 + (size_t)fl;
	}
	return n;
}

/* Maps <spool>.inflight and puts what the loader before this one left in it into the spool (its
 * unwritten records always; the records it wrote too when they went to another monitor, which
 * may have died with them unread), then takes it over for this loader's own. */
static void take_inflight(void)
{
	if (!spool_path)
		return;
	static char p[1024];
	snprintf(p, sizeof p, "%s.inflight", spool_path);
	inflight_path = p;
	size_t total = sizeof(struct inflight) + OUT_CAP + HIST_CAP;
	int fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1 ||
	    (st.st_mode & 077) || ftruncate(fd, (off_t)total)) {
		if (fd >= 0)
			close(fd);
		return;
	}
	unsigned char *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return;
	struct inflight *f = (struct inflight *)m;
	unsigned char *fout = m + sizeof *f, *fhist = fout + OUT_CAP;
	if (f->magic == INFLIGHT_MAGIC && f->abi == SENSOR_ABI && f->olen <= OUT_CAP && f->hlen <= HIST_CAP &&
	    (f->olen || f->hlen)) {
		int sfd = open(spool_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (sfd >= 0) {
			if (f->monitor_pid != monitor_pid)
				append_frames(sfd, fhist, f->hlen);
			append_frames(sfd, fout, f->olen);
			close(sfd);
		}
	}
	f->olen = 0;
	f->hlen = 0;
	f->monitor_pid = monitor_pid;
	f->abi = SENSOR_ABI;
	f->magic = INFLIGHT_MAGIC;
	S = f;
	out = fout;
	hist = fhist;
}

/* This loader killed a monitor a tracer held (check_monitor_held). */
static int killed_held;

/* The monitor's /proc/PID/stat: its state letter (0: gone), process group and terminal's foreground group. */
static char monitor_stat(int *pgrp, int *tpgid)
{
	char p[64], buf[512];
	snprintf(p, sizeof p, "/proc/%d/stat", monitor_pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *rp = strrchr(buf, ')');
	char st = 0;
	int ppid = 0, sid = 0, tty = 0;
	if (!rp || sscanf(rp + 1, " %c %d %d %d %d %d", &st, &ppid, pgrp, &sid, &tty, tpgid) != 6)
		return 0;
	return st;
}

/* A monitor that does not run cannot read: looked at every second (with undo_stops). Stopped by a
 * signal whose record this loader has not acted on (a kernel without bpf_send_signal_task, or
 * this loader blocked in a write) it is continued, unless it is the terminal's foreground job
 * (Ctrl-Z); held by a tracer (ptrace) for 5 s in a row it is killed, and started again like any
 * killed monitor: a monitor that nobody lets run is blind. Returns -1 when the monitor is gone. */
static int check_monitor_held(void)
{
	static int traced;
	int pgrp = 0, tpgid = 0;
	char st = monitor_stat(&pgrp, &tpgid);
	if (!st || st == 'Z' || st == 'X')
		return -1;
	if (!undo_stops)
		return 0;
	if (st == 'T' && pgrp != tpgid)
		kill(monitor_pid, SIGCONT);
	traced = st == 't' ? traced + 1 : 0;
	if (traced >= 5) {
		traced = 0;
		killed_held = 1;
		kill(monitor_pid, SIGKILL);
		return -1;
	}
	return 0;
}

/* Waits until the monitor takes more (fd 1 is non-blocking); -1 when it is gone. */
static int wait_writable(void)
{
	for (;;) {
		struct pollfd pf = {.fd = 1, .events = POLLOUT};
		int r = poll(&pf, 1, 1000);
		if (r > 0)
			return (pf.revents & POLLOUT) ? 0 : -1;
		if (r < 0 && errno != EINTR)
			return -1;
		if (r == 0 && check_monitor_held())
			return -1;
	}
}

static void flush_out(void)
{
	if (monitor_gone) {
		on_write_failed(0);
		return;
	}
	size_t off = 0;
	while (off < out_len) {
		ssize_t n = write(1, out + off, out_len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_writable() == 0)
				continue;
			/* keep whole frames only: a partial frame was written to the dead pipe */
			on_write_failed(off);
			return;
		}
		off += (size_t)n;
	}
	if (spool_path)
		hist_add(out, out_len);
	out_len = 0;
}

/* Set by a record of the loader's own (replies, loss): sent at once, not with the next batch. */
static int out_urgent;

static void emit(const void *rec, uint32_t size)
{
	if (out_len + 4 + size > OUT_CAP)
		flush_out();
	uint16_t type;
	memcpy(&type, rec, 2);
	if (type >= 100)
		out_urgent = 1;
	if (4 + (size_t)size > OUT_CAP)
		return; /* larger than any record the kernel writes */
	memcpy(out + out_len, &size, 4);
	memcpy(out + out_len + 4, rec, size);
	out_len += 4 + size;
	records_out++;
}

struct hdr {
	uint16_t type;
	uint16_t flags;
	uint32_t pid;
	uint32_t tid;
	uint32_t root;
	uint16_t len[NSTR];
	uint32_t pad0;
	uint64_t ns;
	int64_t a[6];
};
_Static_assert(sizeof(struct hdr) == HDR_SIZE, "header layout");

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* A loader record with up to two strings. */
static void emit_own2(uint16_t type, const int64_t *a, int na, const char *s0, size_t l0, const void *s1, size_t l1)
{
	unsigned char buf[HDR_SIZE + 2048];
	struct hdr h = {0};
	h.type = type;
	h.pid = (uint32_t)self_pid;
	h.tid = (uint32_t)self_pid;
	h.ns = mono_ns();
	for (int i = 0; i < na && i < 6; i++)
		h.a[i] = a[i];
	if (l0 > 1024)
		l0 = 1024;
	if (l1 > 1000)
		l1 = 1000;
	h.len[0] = (uint16_t)l0;
	h.len[1] = (uint16_t)l1;
	memcpy(buf, &h, HDR_SIZE);
	if (l0)
		memcpy(buf + HDR_SIZE, s0, l0);
	if (l1)
		memcpy(buf + HDR_SIZE + l0, s1, l1);
	emit(buf, (uint32_t)(HDR_SIZE + l0 + l1));
}

static void emit_own(uint16_t type, const int64_t *a, int na, const char *s)
{
	emit_own2(type, a, na, s, s ? strlen(s) : 0, NULL, 0);
}


/* Records of one poll, staged so that the two ring buffers come out in time order (a read in
 * the low-value ring and the connect that followed it in the high-value one). */
#define STAGE_CAP (4 << 20)
#define STAGE_MAX 65536
static unsigned char stage[STAGE_CAP];
static size_t stage_len;
static struct staged {
	uint64_t ns;
	uint32_t off, size;
} staged[STAGE_MAX];
static int nstaged;

static void emit_record(const void *data, size_t size);

static int by_ns(const void *a, const void *b)
{
	const struct staged *x = a, *y = b;
	if (x->ns != y->ns)
		return x->ns < y->ns ? -1 : 1;
	return x->off < y->off ? -1 : 1;
}

static void flush_stage(void)
{
	qsort(staged, (size_t)nstaged, sizeof staged[0], by_ns);
	for (int i = 0; i < nstaged; i++)
		emit_record(stage + staged[i].off, staged[i].size);
	nstaged = 0;
	stage_len = 0;
}

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size < HDR_SIZE || size > STAGE_CAP)
		return 0;
	if (stage_len + size > STAGE_CAP || nstaged == STAGE_MAX)
		flush_stage();
	memcpy(stage + stage_len, data, size);
	staged[nstaged].ns = ((const struct hdr *)data)->ns;
	staged[nstaged].off = (uint32_t)stage_len;
	staged[nstaged].size = (uint32_t)size;
	nstaged++;
	stage_len += size;
	return 0;
}

static void emit_record(const void *data, size_t size)
{
	const struct hdr *h = data;
	/* the monitor stopped with SIGSTOP/SIGTSTP (it cannot read, and nothing would say so):
	 * continue it; the record tells the monitor who did it. Not job control: the terminal's
	 * Ctrl-Z (si_code SI_KERNEL, which kill() cannot forge) to a monitor in the foreground, or
	 * a monitor that asked for none (`warden run`: its Ctrl-Z stops the sandbox, its agent
	 * cannot reach it) */
	if (undo_stops && size >= HDR_SIZE && h->type == REC_SIGNAL && h->a[2] == ROLE_MONITOR &&
	    (h->a[0] == SIGSTOP || ((h->a[0] == SIGTSTP || h->a[0] == SIGTTIN || h->a[0] == SIGTTOU) && h->a[4] != SI_KERNEL)))
		kill((pid_t)h->a[1], SIGCONT);
	emit(data, (uint32_t)size);
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	if (getenv("WARDEN_SENSOR_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	char line[512];
	int n = vsnprintf(line, sizeof line, fmt, ap);
	if (n > 0) {
		/* keep the last lines: they say why a load failed */
		size_t l = strlen(line);
		if (errlen + l >= sizeof errbuf)
			errlen = 0;
		memcpy(errbuf + errlen, line, l);
		errlen += l;
		errbuf[errlen] = 0;
	}
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_req = 1;
}

struct tinfo {
	uint32_t root;
	uint16_t gen;
	uint8_t state;
	uint8_t pad;
};

static int track(int pid, int root)
{
	if (pid <= 0 || pid == monitor_pid || pid == self_pid)
		return -EPERM;
	uint32_t k = (uint32_t)pid;
	int fd = bpf_map__fd(skel->maps.tracked);
	struct tinfo v = {.root = (uint32_t)(root > 0 ? root : pid), .gen = 0, .state = ST_TRACKED};
	struct tinfo old;
	if (bpf_map_lookup_elem(fd, &k, &old) == 0)
		v.gen = old.gen;
	return bpf_map_update_elem(fd, &k, &v, BPF_ANY) ? -errno : 0;
}

static int untrack(int pid, long gen)
{
	uint32_t k = (uint32_t)pid;
	int fd = bpf_map__fd(skel->maps.tracked);
	if (gen >= 0) {
		struct tinfo old;
		if (bpf_map_lookup_elem(fd, &k, &old))
			return 0;
		/* it has executed something else since the decision: that image is decided anew */
		if (old.gen != (uint16_t)gen)
			return -ESTALE;
	}
	bpf_map_delete_elem(bpf_map__fd(skel->maps.fold), &k);
	return bpf_map_delete_elem(fd, &k) && errno != ENOENT ? -errno : 0;
}

static int set_server(int pid, int root, int on)
{
	uint32_t k = (uint32_t)pid;
	struct {
		uint32_t root, pad;
		uint64_t until;
	} v = {(uint32_t)root, 0, 0};
	int fd = bpf_map__fd(skel->maps.servers);
	if (!on)
		return bpf_map_delete_elem(fd, &k) && errno != ENOENT ? -errno : 0;
	if (pid <= 1 || pid == monitor_pid || pid == self_pid)
		return -EPERM;
	return bpf_map_update_elem(fd, &k, &v, BPF_ANY) ? -errno : 0;
}

static int add_name(const char *name, uint8_t bit)
{
	struct {
		char s[32];
	} k;
	int fd = bpf_map__fd(skel->maps.names);
	size_t n = strlen(name);
	if (n == 0 || n > 31)
		return -EINVAL;
	/* the full name (argv[0]) and, for exec names, its 15-byte comm form */
	for (int pass = 0; pass < (bit == NAME_WATCHED ? 1 : 2); pass++) {
		memset(&k, 0, sizeof k);
		memcpy(k.s, name, pass == 0 ? n : (n > 15 ? 15 : n));
		uint8_t v = 0;
		bpf_map_lookup_elem(fd, &k, &v);
		v |= bit;
		if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
			return -errno;
	}
	return 0;
}

/* Puts an inode on the kernel's protected list. One that cannot be added (the list is full)
 * turns the library count off for good: a secret not on the list could be counted as a library
 * load rather than reported. */
static int protect_inode(unsigned long long dev, unsigned long long ino)
{
	struct {
		uint64_t dev, ino;
	} k = {dev, ino};
	uint8_t one = 1;
	int r = bpf_map_update_elem(bpf_map__fd(skel->maps.protect), &k, &one, BPF_ANY) ? -errno : 0;
	if (r) {
		__sync_fetch_and_or(&skel->bss->fold_off, FOLD_OFF_PROTECT);
		int64_t a[3] = {5, (int64_t)ino, r};
		emit_own(REC_CTL, a, 3, NULL);
	}
	return r;
}

/* Says once per reason why library opens stopped being counted (the kernel or a failed insert
 * turned it off): the monitor reports it. */
static void report_fold_off(void)
{
	static uint64_t said;
	uint64_t off = skel->bss->fold_off;
	if ((off & ~said) == 0)
		return;
	int64_t a[3] = {7, (int64_t)(off & ~said), 0};
	emit_own(REC_CTL, a, 3, NULL);
	said = off;
}

static void clear_map(int fd, size_t key_size)
{
	unsigned char key[64];
	if (key_size > sizeof key)
		return;
	for (int n = 0; n < 65536 && bpf_map_get_next_key(fd, NULL, key) == 0; n++)
		bpf_map_delete_elem(fd, key);
}

/* A device number as the kernel's s_dev (major << 20 | minor). */
static uint64_t kdev(dev_t d)
{
	return ((uint64_t)major(d) << 20) | minor(d);
}

/* Whether library_load could count a file of this name in a directory of this kind (the same
 * test as the kernel's; only those are recorded). */
static int library_name(const char *n, uint8_t kind, int dir)
{
	size_t len = strlen(n);
	if (kind == LIBDIR_DATA)
		return 1;
	if (dir || len < 4 || len >= 64)
		return 0;
	if (kind == LIBDIR_ETC)
		return !strcmp(n, "ld.so.cache") || !strcmp(n, "locale.alias");
	for (size_t i = 1; i + 3 <= len; i++)
		if (n[i] == '.' && n[i + 1] == 's' && n[i + 2] == 'o' && (i + 3 == len || n[i + 3] == '.'))
			return 1;
	return 0;
}

/* Records the library files (and, in data directories, directories) directly in a library
 * directory: inode, the directory's inode, link count, ctime (library_load counts only these,
 * there, unchanged). Entries are not followed. */
static void snapshot_dir(const char *d, uint8_t kind, uint64_t parent, int *budget)
{
	int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return;
	}
	int mfd = bpf_map__fd(skel->maps.libfiles);
	struct dirent *e;
	while (*budget > 0 && (e = readdir(dir))) {
		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		struct stat st;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) ||
		    !library_name(e->d_name, kind, S_ISDIR(st.st_mode)))
			continue;
		struct {
			uint64_t dev, ino;
		} k = {kdev(st.st_dev), st.st_ino};
		struct {
			int64_t ctime;
			uint64_t parent;
			uint32_t nlink, pad;
		} v = {(int64_t)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec, parent, (uint32_t)st.st_nlink, 0};
		if (bpf_map_update_elem(mfd, &k, &v, BPF_NOEXIST) == 0)
			(*budget)--;
	}
	closedir(dir);
}

static int libfiles_budget = LIBFILES_MAX;

/* The directories the dynamic loader and the C library's start-up read from (shared objects,
 * ld.so.cache, locale data, gconv modules). Only root-owned ones nobody else can write to: a
 * user-writable directory would let anyone put a file where its reads are only counted. By
 * inode, so the kernel side matches the directory itself whatever path reaches it (Debian's
 * /lib is a symlink to usr/lib) and nothing else that is named like it. */
static int add_libdir(const char *d, uint8_t kind)
{
	struct stat st;
	if (stat(d, &st) || !S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022))
		return 0;
	struct {
		uint64_t dev, ino;
	} k = {kdev(st.st_dev), st.st_ino};
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.libdirs), &k, &kind, BPF_NOEXIST))
		return 0;
	snapshot_dir(d, kind, st.st_ino, &libfiles_budget);
	return 1;
}

/* a locale directory and the directories in it (LC_MESSAGES), bounded */
static void add_locale_dirs(const char *base, int depth, int *budget)
{
	if (*budget <= 0 || !add_libdir(base, LIBDIR_DATA) || depth == 0)
		return;
	(*budget)--;
	DIR *d = opendir(base);
	if (!d)
		return;
	struct dirent *e;
	while (*budget > 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.' || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN))
			continue;
		char p[512];
		snprintf(p, sizeof p, "%s/%s", base, e->d_name);
		add_locale_dirs(p, depth - 1, budget);
	}
	closedir(d);
}

static void fill_libdirs(void)
{
	static const char *const so_dirs[] = {"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/lib/x86_64-linux-gnu",
					      "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
					      "/usr/local/lib"};
	static const char *const data_dirs[] = {"/usr/lib/x86_64-linux-gnu/gconv", "/usr/lib/aarch64-linux-gnu/gconv",
						"/usr/lib64/gconv", "/usr/lib/gconv"};
	clear_map(bpf_map__fd(skel->maps.libdirs), 16);
	clear_map(bpf_map__fd(skel->maps.libfiles), 16);
	libfiles_budget = LIBFILES_MAX;
	for (size_t i = 0; i < sizeof so_dirs / sizeof so_dirs[0]; i++)
		add_libdir(so_dirs[i], LIBDIR_SO);
	for (size_t i = 0; i < sizeof data_dirs / sizeof data_dirs[0]; i++)
		add_libdir(data_dirs[i], LIBDIR_DATA);
	add_libdir("/etc", LIBDIR_ETC);
	add_libdir("/usr/share/locale", LIBDIR_ETC);
	int budget = 200;
	add_locale_dirs("/usr/lib/locale", 2, &budget);
}

static uint64_t sum_stat(uint32_t idx)
{
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0 || ncpu > 4096)
		return 0;
	static uint64_t vals[4096];
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.stats), &idx, vals))
		return 0;
	uint64_t s = 0;
	for (int i = 0; i < ncpu; i++)
		s += vals[i];
	return s;
}

struct kill_rec {
	uint64_t seq;
	uint64_t ns;
	uint32_t sig, target, role, sender, sender_tid, uid;
	int32_t code;
	uint32_t root;
	char comm[16];
	struct {
		uint32_t pid;
		char comm[16];
	} anc[ANCESTRY];
};

/* Signal records the monitor has not acknowledged (after an adoption: they may never have
 * reached the monitor that was killed). */
static void emit_unacked_kills(void)
{
	int fd = bpf_map__fd(skel->maps.kills);
	uint64_t acked = skel->bss->kill_acked;
	for (uint32_t i = 0; i < 8; i++) {
		struct kill_rec k;
		if (bpf_map_lookup_elem(fd, &i, &k) || k.seq == 0 || k.seq <= acked)
			continue;
		unsigned char buf[HDR_SIZE + 16 + sizeof k.anc];
		struct hdr h = {0};
		h.type = REC_SIGNAL;
		h.pid = k.sender;
		h.tid = k.sender_tid;
		h.root = k.root;
		h.ns = k.ns;
		h.a[0] = k.sig;
		h.a[1] = k.target;
		h.a[2] = k.role;
		h.a[3] = k.uid;
		h.a[4] = k.code;
		h.a[5] = (int64_t)k.seq;
		size_t cl = strnlen(k.comm, 16);
		h.len[0] = (uint16_t)cl;
		h.len[1] = sizeof k.anc;
		memcpy(buf, &h, HDR_SIZE);
		memcpy(buf + HDR_SIZE, k.comm, cl);
		memcpy(buf + HDR_SIZE + cl, k.anc, sizeof k.anc);
		emit(buf, (uint32_t)(HDR_SIZE + cl + sizeof k.anc));
	}
}

/* Records not delivered, by session root, type and reason: one loss record per key. */
static void report_loss(void)
{
	int fd = bpf_map__fd(skel->maps.lost);
	struct {
		uint32_t root;
		uint16_t type;
		uint8_t why, pad;
	} key, next;
	int first = 1;
	int guard = 0;
	while (guard++ < 4096) {
		if (bpf_map_get_next_key(fd, first ? NULL : &key, &next))
			break;
		first = 0;
		uint64_t n = 0;
		if (bpf_map_lookup_and_delete_elem(fd, &next, &n) == 0 && n) {
			int64_t la[5] = {(int64_t)n, (int64_t)sum_stat(ST_DROPS), next.root, next.type, next.why};
			emit_own(REC_LOSS, la, 5, NULL);
		}
		/* the key is gone: restart the walk from the beginning */
		first = 1;
	}
}

struct root_info {
	uint64_t start_ns;
	char name[ROOT_NAME];
	char session[ROOT_SESSION];
	char cwd[ROOT_PATH];
	char home[ROOT_PATH];
};

/* "r ROOT NS NAME SESSION\tCWD\tHOME" */
static void set_root(char *line)
{
	struct root_info v;
	memset(&v, 0, sizeof v);
	unsigned int root = 0;
	unsigned long long ns = 0;
	char name[ROOT_NAME] = "", session[ROOT_SESSION] = "";
	int used = 0;
	if (sscanf(line, "%u %llu %31s %63[^\t]%n", &root, &ns, name, session, &used) < 4 || !root)
		return;
	v.start_ns = ns;
	memcpy(v.name, name, sizeof name);
	memcpy(v.session, session, sizeof session);
	char *rest = line + used;
	if (*rest == '\t') {
		rest++;
		char *tab = strchr(rest, '\t');
		if (tab)
			*tab = 0;
		snprintf(v.cwd, sizeof v.cwd, "%s", rest);
		if (tab)
			snprintf(v.home, sizeof v.home, "%s", tab + 1);
	}
	uint32_t k = root;
	bpf_map_update_elem(bpf_map__fd(skel->maps.roots), &k, &v, BPF_ANY);
}

/* The sessions the pinned state remembers, for a monitor that starts after its predecessor died. */
static void emit_roots(void)
{
	int fd = bpf_map__fd(skel->maps.roots);
	uint32_t key, next;
	int first = 1;
	for (int n = 0; n < 4096 && bpf_map_get_next_key(fd, first ? NULL : &key, &next) == 0; n++) {
		first = 0;
		key = next;
		struct root_info v;
		if (bpf_map_lookup_elem(fd, &key, &v))
			continue;
		unsigned char buf[HDR_SIZE + sizeof v];
		struct hdr h = {0};
		h.type = REC_ROOT;
		h.pid = key;
		h.tid = key;
		h.root = key;
		h.ns = mono_ns();
		h.a[0] = key;
		h.a[1] = (int64_t)v.start_ns;
		size_t l[4] = {strnlen(v.name, sizeof v.name), strnlen(v.session, sizeof v.session), strnlen(v.cwd, sizeof v.cwd),
			       strnlen(v.home, sizeof v.home)};
		const char *src[4] = {v.name, v.session, v.cwd, v.home};
		size_t off = HDR_SIZE;
		for (int i = 0; i < 4; i++) {
			h.len[i] = (uint16_t)l[i];
			memcpy(buf + off, src[i], l[i]);
			off += l[i];
		}
		memcpy(buf, &h, HDR_SIZE);
		emit(buf, (uint32_t)off);
	}
}

static char cmdbuf[8192];
static size_t cmdlen;

static void command(char *line)
{
	char op = line[0];
	long x = 0, y = -1;
	unsigned long long d = 0, i = 0;
	int r = 0;
	int64_t a[3];
	switch (op) {
	case 't':
		sscanf(line + 1, "%ld %ld", &x, &y);
		r = track((int)x, (int)y);
		a[0] = 1, a[1] = x, a[2] = r;
		emit_own(REC_CTL, a, 3, NULL);
		break;
	case 'u':
		sscanf(line + 1, "%ld %ld", &x, &y);
		r = untrack((int)x, y);
		a[0] = 2, a[1] = x, a[2] = r;
		emit_own(REC_CTL, a, 3, NULL);
		break;
	case 's':
	case 'S':
		sscanf(line + 1, "%ld %ld", &x, &y);
		r = set_server((int)x, (int)y, op == 's');
		a[0] = op == 's' ? 3 : 4, a[1] = x, a[2] = r;
		emit_own(REC_CTL, a, 3, NULL);
		break;
	case 'p':
		if (sscanf(line + 1, "%llu %llu", &d, &i) == 2)
			protect_inode(d, i);
		break;
	case 'w':
		add_name(line + 2, NAME_WATCHED);
		break;
	case 'a':
		if (sscanf(line + 1, "%llu", &d) == 1 && d > skel->bss->kill_acked)
			skel->bss->kill_acked = d;
		break;
	case 'r':
		set_root(line + 1);
		break;
	case 'R':
		if (sscanf(line + 1, "%ld", &x) == 1) {
			uint32_t k = (uint32_t)x;
			bpf_map_delete_elem(bpf_map__fd(skel->maps.roots), &k);
		}
		break;
	case 'q':
		clean_stop = 1;
		break;
	}
}

/* Returns 0 on EOF. */
static int read_commands(void)
{
	ssize_t n = read(0, cmdbuf + cmdlen, sizeof cmdbuf - 1 - cmdlen);
	if (n == 0)
		return 0;
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : 0;
	cmdlen += (size_t)n;
	size_t start = 0;
	for (size_t i = 0; i < cmdlen; i++) {
		if (cmdbuf[i] != '\n')
			continue;
		cmdbuf[i] = 0;
		command(cmdbuf + start);
		start = i + 1;
	}
	memmove(cmdbuf, cmdbuf + start, cmdlen - start);
	cmdlen -= start;
	if (cmdlen >= sizeof cmdbuf - 1)
		cmdlen = 0; /* a line longer than any command: drop it */
	return 1;
}

/* ---- pinned state -------------------------------------------------------------------- */

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char p[1024];
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static int ensure_bpffs(const char *dir)
{
	struct statfs fs;
	if (statfs("/sys/fs/bpf", &fs) == 0 && (unsigned long)fs.f_type == BPF_FS_MAGIC)
		goto mkdirs;
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700")) {
		fprintf(stderr, "warden-sensor: cannot mount bpffs on /sys/fs/bpf: %s\n", strerror(errno));
		return -1;
	}
mkdirs:;
	char p[1024];
	snprintf(p, sizeof p, "%s", dir);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		mkdir(p, 0700);
		*s = '/';
	}
	mkdir(p, 0700);
	snprintf(p, sizeof p, "%s/maps", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof p, "%s/links", dir);
	mkdir(p, 0700);
	return 0;
}

/* Every map of the object, pinned as DIR/maps/NAME (internal maps too: .bss holds the guard
 * counters, .rodata the configuration an adopter must match). */
static void set_pin_paths(const char *dir)
{
	struct bpf_map *m;
	char p[1024];
	bpf_object__for_each_map(m, skel->obj)
	{
		const char *n = bpf_map__name(m);
		const char *dot = strrchr(n, '.');
		snprintf(p, sizeof p, "%s/maps/%s", dir, dot ? dot + 1 : n);
		bpf_map__set_pin_path(m, p);
	}
}

/* Whether the running kernel has function `name` (a kfunc) in its BTF. */
static int kernel_has_func(const char *name)
{
	struct btf *b = btf__load_vmlinux_btf();
	if (!b)
		return 0;
	int id = btf__find_by_name_kind(b, name, BTF_KIND_FUNC);
	btf__free(b);
	return id > 0;
}

/* The signal guard that continues stops in the kernel where it can (bpf_send_signal_task, 6.13),
 * else the one that only reports them (the loader and the monitor undo each other's stops). */
static void select_signal_prog(int resume)
{
	bpf_program__set_autoload(skel->progs.on_signal_resume, resume);
	bpf_program__set_autoload(skel->progs.on_signal, !resume);
}

static int pin_links(const char *dir)
{
	char p[1024];
	for (int i = 0; i < skel->skeleton->prog_cnt; i++) {
		struct bpf_link *l = *skel->skeleton->progs[i].link;
		if (!l)
			continue;
		snprintf(p, sizeof p, "%s/links/%s", dir, skel->skeleton->progs[i].name);
		if (bpf_link__pin(l, p))
			return -errno;
	}
	return 0;
}

/* Whether the monitor still runs (a killed one is gone, or a zombie until its parent reaps it). */
static int monitor_alive(void)
{
	int pgrp = 0, tpgid = 0;
	char st = monitor_stat(&pgrp, &tpgid);
	return st && st != 'Z' && st != 'X';
}

/* The monitor died of a signal another process sent it (the kernel program recorded it; the
 * loader's own kill of a held monitor too), not of its own failure. */
static int monitor_was_killed(void)
{
	if (killed_held)
		return 1;
	int fd = bpf_map__fd(skel->maps.kills);
	for (uint32_t i = 0; i < 8; i++) {
		struct kill_rec k;
		if (bpf_map_lookup_elem(fd, &i, &k) || k.seq == 0)
			continue;
		/* SIGTERM/SIGINT/SIGHUP are the monitor's to handle (it refuses an agent's) */
		if (k.target == (uint32_t)monitor_pid && k.role == ROLE_MONITOR && k.sig != SIGTERM && k.sig != SIGINT &&
		    k.sig != SIGHUP && k.sig != SIGSTOP && k.sig != SIGTSTP && k.sig != SIGTTIN && k.sig != SIGTTOU)
			return 1;
	}
	return 0;
}

static int respawn(char **args, int n, const char *log)
{
	if (n == 0)
		return -1;
	/* At most 5 respawns a minute of a monitor that dies by itself (one that dies at once must
	 * not loop). A monitor killed by someone else is always started again: the limit made an
	 * agent that killed it six times in a minute the end of monitoring. */
	const char *hist = getenv("WARDEN_RESPAWNS");
	long count = 0, first = 0, now = (long)time(NULL);
	if (hist)
		sscanf(hist, "%ld:%ld", &count, &first);
	if (now - first > 60)
		count = 0, first = now;
	int killed = monitor_was_killed();
	killed_held = 0;
	if (count >= 5 && !killed)
		return -1;
	char val[64];
	snprintf(val, sizeof val, "%ld:%ld", killed ? count : count + 1, first);
	/* The new monitor's pid comes back through a pipe and goes in the guard map before the
	 * monitor runs (else the pinned programs would take its exec of node for a possible agent):
	 * pid -> loader, loader -> "recorded" -> intermediate, intermediate -> "go" -> monitor. */
	int up[2], down[2], go[2];
	if (pipe(up) || pipe(down) || pipe(go))
		return -1;
	pid_t p = fork();
	if (p < 0)
		return -1;
	if (p == 0) {
		setsid();
		pid_t gc = fork();
		if (gc != 0) {
			int32_t v = (int32_t)gc;
			char c = 0;
			if (write(up[1], &v, sizeof v) == sizeof v && read(down[0], &c, 1) == 1 && write(go[1], "g", 1) == 1)
				_exit(0);
			_exit(1);
		}
		char c;
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		int nul = open("/dev/null", O_RDWR);
		int lf = log ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0600) : -1;
		dup2(nul, 0);
		dup2(lf >= 0 ? lf : nul, 1);
		dup2(lf >= 0 ? lf : nul, 2);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		setenv("WARDEN_RESPAWNS", val, 1);
		setenv("WARDEN_RESPAWNED", "1", 1);
		args[n] = NULL;
		execv(args[0], args);
		_exit(127);
	}
	int32_t gc = 0;
	if (read(up[0], &gc, sizeof gc) == sizeof gc && gc > 0) {
		uint32_t gk = 0, gv = (uint32_t)gc;
		bpf_map_update_elem(bpf_map__fd(skel->maps.guard), &gk, &gv, BPF_ANY);
	}
	if (write(down[1], "r", 1) != 1)
		gc = 0;
	for (int i = 0; i < 2; i++) {
		close(up[i]);
		close(down[i]);
		close(go[i]);
	}
	waitpid(p, NULL, 0);
	return gc > 0 ? gc : -1;
}

/* Sends again what a previous loader kept for a monitor that died; returns how many records. */
static long replay_spool(void)
{
	if (!spool_path)
		return 0;
	int fd = open(spool_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	static unsigned char buf[1 << 16];
	uint32_t len;
	long n = 0;
	while (read(fd, &len, 4) == 4) {
		if (len < HDR_SIZE || len > sizeof buf)
			break;
		if (read(fd, buf, len) != (ssize_t)len)
			break;
		emit(buf, len);
		n++;
	}
	close(fd);
	unlink(spool_path);
	return n;
}

int main(int argc, char **argv)
{
	uint64_t t0 = mono_ns();
	int fold_ms = 1000, failed = 0, check = 0;
	long wake_us = 10000, batch_us = 40000;
	self_pid = getpid();
	int ppid0 = getppid();

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--abi")) {
			printf("%d\n", SENSOR_ABI);
			return 0;
		}
	}
	struct utsname u;
	if (uname(&u) == 0 && strcmp(u.machine, "x86_64") != 0) {
		fprintf(stderr, "warden-sensor: built for x86_64 syscall numbers, this is %s\n", u.machine);
		return 2;
	}

	libbpf_set_print(libbpf_log);
	skel = sensor__open();
	if (!skel) {
		fprintf(stderr, "warden-sensor: cannot open the BPF object: %s%s\n", strerror(errno), errbuf);
		return 1;
	}
	const char *enames[64], *anames[64], *prefixes[4], *envs[48], *watched[512];
	int ne = 0, na = 0, np = 0, nt = 0, nenv = 0, nw = 0;
	int tracks[4096];
	const char *cgroups[256];
	int ncg = 0;
	const char *pin = NULL, *respawn_log = NULL;
	char *rargs[256];
	int nr = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--failed-opens"))
			failed = 1;
		else if (!strcmp(a, "--check"))
			check = 1;
		else if (v && !strcmp(a, "--monitor-pid"))
			monitor_pid = atoi(v), i++;
		else if (v && !strcmp(a, "--fold-ms"))
			fold_ms = atoi(v), i++;
		else if (v && !strcmp(a, "--wake-us"))
			wake_us = atol(v), i++;
		else if (v && !strcmp(a, "--batch-us"))
			batch_us = atol(v), i++;
		else if (v && !strcmp(a, "--exec-name") && ne < 64)
			enames[ne++] = v, i++;
		else if (v && !strcmp(a, "--agent-name") && na < 64)
			anames[na++] = v, i++;
		else if (v && !strcmp(a, "--prefix") && np < 4)
			prefixes[np++] = v, i++;
		else if (v && !strcmp(a, "--cgroup") && ncg < 256)
			cgroups[ncg++] = v, i++;
		else if (v && !strcmp(a, "--track") && nt < 4096)
			tracks[nt++] = atoi(v), i++;
		else if (v && !strcmp(a, "--env-name") && nenv < 48)
			envs[nenv++] = v, i++;
		else if (v && !strcmp(a, "--watched-name") && nw < 512)
			watched[nw++] = v, i++;
		else if (v && !strcmp(a, "--pin"))
			pin = v, i++;
		else if (!strcmp(a, "--undo-stops"))
			undo_stops = 1;
		else if (v && !strcmp(a, "--spool"))
			spool_path = v, i++;
		else if (v && !strcmp(a, "--respawn-arg") && nr < 254)
			rargs[nr++] = (char *)v, i++;
		else if (v && !strcmp(a, "--respawn-log"))
			respawn_log = v, i++;
		else if (v && !strcmp(a, "--registry"))
			registry_path = v, i++;
		else {
			fprintf(stderr, "warden-sensor: bad argument %s\n", a);
			return 2;
		}
	}
	if (wake_us < 0)
		wake_us = 0;
	if (batch_us < 0)
		batch_us = 0;
	if (check)
		pin = NULL;
	/* Without pinned state the sensor has no reason to outlive the monitor. With it, the
	 * kernel side survives anyway, and this process restarts a monitor that was killed. */
	if (!pin) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != ppid0)
			return 1;
	}

	skel->rodata->fold_ns = (uint64_t)(fold_ms < 0 ? 0 : fold_ms) * 1000000ULL;
	skel->rodata->failed_opens = (uint8_t)failed;
	skel->rodata->wake_ns = (uint64_t)wake_us * 1000ULL;
	skel->rodata->have_cgroups = ncg > 0;
	skel->rodata->undo_stops = (uint8_t)undo_stops;
	snprintf((char *)skel->rodata->build_id, sizeof skel->rodata->build_id, "%s", BUILD_ID);
	for (int i = 0; i < np; i++) {
		size_t l = strlen(prefixes[i]);
		if (l > 15)
			l = 15;
		skel->rodata->prefix_len[i] = (uint8_t)l;
		memcpy((char *)skel->rodata->prefixes[i], prefixes[i], l);
	}
	for (int i = 0; i < nenv; i++) {
		uint32_t head = 0;
		memcpy(&head, envs[i], strlen(envs[i]) < 4 ? strlen(envs[i]) : 4);
		((uint32_t *)skel->rodata->env_heads)[i] = head;
	}
	skel->rodata->n_env_heads = (uint32_t)nenv;

	/* Syscalls this kernel has no tracepoint for (fchmodat2 before 6.6, setxattrat before
	 * 6.13...) are left out and named in the ready record, not a reason to fail. */
	char missing[2048] = "";
	int nprogs = 0;
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, skel->obj)
	{
		const char *sec = bpf_program__section_name(prog);
		if (strncmp(sec, "tracepoint/", 11) != 0) {
			nprogs++;
			continue;
		}
		char path[512];
		snprintf(path, sizeof path, "/sys/kernel/tracing/events/%s", sec + 11);
		if (access(path, F_OK) == 0) {
			nprogs++;
			continue;
		}
		bpf_program__set_autoload(prog, false);
		size_t l = strlen(missing);
		snprintf(missing + l, sizeof missing - l, "%s%s", l ? "," : "", sec + 11);
	}
	int resume = undo_stops && kernel_has_func("bpf_send_signal_task");
	select_signal_prog(resume);
	nprogs--; /* both signal guards were counted */
	int ncpu = libbpf_num_possible_cpus();
	bpf_map__set_max_entries(skel->maps.scratch, ncpu > 0 ? (uint32_t)ncpu : 1);

	/* Adopt a pinned instance left by a loader that died (same configuration and build), or
	 * start afresh (removing a stale or incompatible one). */
	int adopted = 0;
	uint64_t prev_heartbeat = 0;
	static char want_rodata[sizeof(*skel->rodata)];
	memcpy(want_rodata, (const void *)skel->rodata, sizeof want_rodata);
	if (pin) {
		if (ensure_bpffs(pin))
			return 1;
		char probe[1024];
		snprintf(probe, sizeof probe, "%s/maps/rodata", pin);
		if (access(probe, F_OK) == 0) {
			set_pin_paths(pin);
			bpf_object__for_each_program(prog, skel->obj) bpf_program__set_autoload(prog, false);
			if (sensor__load(skel) == 0 && !memcmp(want_rodata, (const void *)skel->rodata, sizeof want_rodata)) {
				adopted = 1;
				prev_heartbeat = skel->bss->heartbeat_ns;
			} else {
				sensor__destroy(skel);
				char p[1024];
				snprintf(p, sizeof p, "%s/links", pin);
				rm_tree(p);
				snprintf(p, sizeof p, "%s/maps", pin);
				rm_tree(p);
				ensure_bpffs(pin);
				/* start afresh: reopen with the same configuration */
				skel = sensor__open();
				if (!skel)
					return 1;
				memcpy((void *)skel->rodata, want_rodata, sizeof want_rodata);
				bpf_map__set_max_entries(skel->maps.scratch, ncpu > 0 ? (uint32_t)ncpu : 1);
				bpf_object__for_each_program(prog, skel->obj)
				{
					const char *sec = bpf_program__section_name(prog);
					char path[512];
					snprintf(path, sizeof path, "/sys/kernel/tracing/events/%s", sec + 11);
					if (!strncmp(sec, "tracepoint/", 11) && access(path, F_OK) != 0)
						bpf_program__set_autoload(prog, false);
				}
				select_signal_prog(resume);
			}
		}
		if (!adopted)
			set_pin_paths(pin);
	}
	if (!adopted && sensor__load(skel)) {
		fprintf(stderr, "warden-sensor: cannot load the BPF programs (%s): %s\n", strerror(errno), errbuf);
		return 1;
	}
	if (adopted) {
		/* the names come from this configuration, not the one that loaded the maps */
		clear_map(bpf_map__fd(skel->maps.names), 32);
		clear_map(bpf_map__fd(skel->maps.envnames), 32);
	}
	for (int i = 0; i < ne; i++)
		add_name(enames[i], NAME_EXEC_COMM);
	for (int i = 0; i < na; i++)
		add_name(anames[i], NAME_AGENT);
	for (int i = 0; i < nw; i++)
		add_name(watched[i], NAME_WATCHED);
	for (int i = 0; i < nenv; i++) {
		struct {
			char s[32];
		} k;
		memset(&k, 0, sizeof k);
		strncpy(k.s, envs[i], 31);
		uint8_t one = 1;
		bpf_map_update_elem(bpf_map__fd(skel->maps.envnames), &k, &one, BPF_ANY);
	}
	/* what the library directories were and held when monitoring began: an adopting loader
	 * keeps them (read again now, a directory or file moved in since would count) */
	if (!adopted)
		fill_libdirs();
	for (int i = 0; i < nt; i++)
		track(tracks[i], tracks[i]);
	for (int i = 0; i < ncg; i++) {
		/* a cgroup v2 id is the inode number of its directory */
		struct stat st;
		if (stat(cgroups[i], &st)) {
			fprintf(stderr, "warden-sensor: cgroup %s: %s\n", cgroups[i], strerror(errno));
			return 2;
		}
		uint64_t id = st.st_ino;
		uint8_t one = 1;
		bpf_map_update_elem(bpf_map__fd(skel->maps.cgroups), &id, &one, BPF_ANY);
	}
	/* the guarded pids: never traced, signals to them recorded */
	uint32_t gk = 0, gv = (uint32_t)monitor_pid;
	bpf_map_update_elem(bpf_map__fd(skel->maps.guard), &gk, &gv, BPF_ANY);
	gk = 1, gv = (uint32_t)self_pid;
	bpf_map_update_elem(bpf_map__fd(skel->maps.guard), &gk, &gv, BPF_ANY);
	if (!adopted) {
		if (sensor__attach(skel)) {
			fprintf(stderr, "warden-sensor: cannot attach (%s): %s\n", strerror(errno), errbuf);
			return 1;
		}
		if (pin && pin_links(pin)) {
			fprintf(stderr, "warden-sensor: cannot pin the program links under %s: %s\n", pin, strerror(errno));
			return 1;
		}
	}
	uint64_t attach_us = (mono_ns() - t0) / 1000;
	if (check && getenv("WARDEN_SENSOR_VERIFIED")) {
		bpf_object__for_each_program(prog, skel->obj)
		{
			struct bpf_prog_info info;
			uint32_t len = sizeof info;
			memset(&info, 0, sizeof info);
			if (bpf_program__fd(prog) < 0 || bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
				continue;
			fprintf(stderr, "%-24s verified %8u insns %6u\n", bpf_program__name(prog), info.verified_insns,
				info.xlated_prog_len / 8);
		}
	}
	if (check) {
		printf("ok: %d programs loaded and attached in %llu us%s%s\n", nprogs, (unsigned long long)attach_us,
		       missing[0] ? "; no tracepoint for " : "", missing);
		sensor__destroy(skel);
		return 0;
	}

	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.rb_hi), on_record, NULL, NULL);
	if (!rb || ring_buffer__add(rb, bpf_map__fd(skel->maps.rb), on_record, NULL)) {
		fprintf(stderr, "warden-sensor: cannot open the ring buffers: %s\n", strerror(errno));
		return 1;
	}
	/* Stopped by its monitor only ("q" and EOF on stdin, or EOF alone when the monitor dies):
	 * a Ctrl-C reaches the whole foreground process group, and a signal from anyone else is
	 * recorded by the guard, not obeyed. Without pinned state it still goes with its parent. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, pin ? SIG_IGN : on_signal);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	/* never blocked in a write to a monitor that does not read: see wait_writable */
	fflush(stdout);
	struct stat so;
	if (fstat(1, &so) == 0 && S_ISSOCK(so.st_mode)) /* the monitor's socket; never a terminal it shares */
		fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);

	if (out_len == 0) /* nothing emitted yet: the buffers can move to the mapped file */
		take_inflight();
	uint64_t now0 = mono_ns();
	int64_t ra[6] = {(int64_t)attach_us, SENSOR_ABI, nprogs, adopted,
			 adopted && prev_heartbeat ? (int64_t)(now0 - prev_heartbeat) : 0, 0};
	emit_own(REC_READY, ra, 6, missing);
	if (adopted)
		emit_roots();
	long replayed = replay_spool();
	if (replayed) {
		int64_t rs[1] = {replayed};
		emit_own(REC_LOG, rs, 1, "records kept for a monitor that died, sent again");
	}
	if (adopted)
		emit_unacked_kills();
	flush_out();
	skel->bss->heartbeat_ns = now0;

	struct pollfd pfd[2] = {{.fd = ring_buffer__epoll_fd(rb), .events = POLLIN}, {.fd = 0, .events = POLLIN}};
	int stdin_open = 1;
	uint64_t drops_seen = sum_stat(ST_DROPS), last_check = mono_ns(), last_held = last_check;
	/* While records flow the kernel wakes us at most once per wake_ns, so we poll every
	 * 2 * wake_ns. A poll that finds nothing means nothing was written for that long: the
	 * next record will wake us, and we can sleep until then (the timeout only paces the
	 * loss check). */
	int short_ms = wake_us ? (int)((2 * wake_us + 999) / 1000) : 250;
	int timeout = 250;
	const uint64_t batch_ns = (uint64_t)batch_us * 1000ULL;
	uint64_t last_out = 0;
	while (!stop_req && !monitor_gone) {
		/* Within batch_ns of the last hand-off the rings are left alone (not even polled: they
		 * would report the unconsumed records at once): what comes meanwhile waits in the
		 * kernel, pinned, where a loader that is killed does not lose it, and goes out in one
		 * piece at the end of the window. Commands are still read. */
		uint64_t t = mono_ns();
		int hold = batch_ns && last_out && t - last_out < batch_ns;
		int wait = timeout;
		if (hold) {
			int left = (int)((last_out + batch_ns - t + 999999) / 1000000);
			if (left < wait)
				wait = left;
		}
		pfd[0].revents = pfd[1].revents = 0;
		int n;
		if (!hold)
			n = poll(pfd, stdin_open ? 2 : 1, wait);
		else if (stdin_open)
			n = poll(&pfd[1], 1, wait);
		else
			n = 0, usleep((useconds_t)wait * 1000);
		if (n < 0 && errno != EINTR)
			break;
		/* commands first: a death (EOF without "q") must be seen before records are consumed
		 * into a pipe nobody reads */
		if (stdin_open && n > 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (!read_commands()) {
				stdin_open = 0;
				if (!clean_stop)
					monitor_gone = 1;
				stop_req = 1;
				break;
			}
		}
		uint64_t now = mono_ns();
		hold = batch_ns && last_out && now - last_out < batch_ns;
		int got = 0;
		if (!hold) {
			got = ring_buffer__consume(rb);
			flush_stage();
			timeout = got > 0 ? short_ms : 250;
		}
		skel->bss->heartbeat_ns = now;
		if (now - last_held >= 1000000000ULL) {
			last_held = now;
			check_monitor_held();
		}
		if (now - last_check >= 250000000ULL) {
			last_check = now;
			uint64_t d = sum_stat(ST_DROPS);
			if (d > drops_seen)
				drops_seen = d;
			report_loss();
			report_fold_off();
		}
		/* the loader's own records (replies, loss) go at once; kernel records once a window */
		if (out_len && (out_urgent || got > 0)) {
			flush_out();
			out_urgent = 0;
			if (got > 0)
				last_out = now;
		}
		if (getppid() != ppid0 && !pin)
			break;
	}
	/* The monitor removes its registry entry before it stops: without it, this was a stop (whose
	 * "q" got lost when the monitor's socket closed), not a death. */
	if (monitor_gone && !clean_stop && registry_path && access(registry_path, F_OK) != 0)
		clean_stop = 1;
	if (monitor_gone && !clean_stop && pin) {
		/* The monitor died: the kernel side stays (pinned), the records stay in the ring
		 * buffers, and a monitor started again adopts them. EOF without "q" from a monitor
		 * that still runs is not its death: it restarts its sensor. */
		for (int i = 0; i < 20 && monitor_alive(); i++)
			usleep(50000);
		int dead = !monitor_alive();
		/* the loader's own records not yet written go to the next monitor (kernel records
		 * not yet taken wait in the pinned rings) */
		if (out_len)
			on_write_failed(0);
		write_spool(dead);
		int next = dead ? respawn(rargs, nr, respawn_log) : -1;
		if (dead && next < 0 && nr)
			fprintf(stderr, "warden-sensor: monitor died; not restarted (respawn limit)\n");
		/* Stay until the next monitor's own sensor runs (the pinned heartbeat moves): a monitor
		 * killed while it starts, before it started a sensor, left none to start it again.
		 * Bounded: 2 minutes. */
		uint64_t hb = skel->bss->heartbeat_ns;
		for (int i = 0; next > 0 && i < 600 && skel->bss->heartbeat_ns == hb; i++) {
			usleep(200000);
			monitor_pid = next;
			if (skel->bss->heartbeat_ns != hb || monitor_alive())
				continue;
			/* the monitor started again stopped cleanly (it removes the registry entry a
			 * killed one leaves): that is the user's stop, not one to undo */
			if (registry_path && access(registry_path, F_OK) != 0)
				break;
			next = respawn(rargs, nr, respawn_log);
		}
		return 0;
	}
	/* drain what the kernel already wrote, then report the final counters */
	ring_buffer__consume(rb);
	flush_stage();
	report_loss();
	int64_t st[6] = {(int64_t)sum_stat(ST_COMPAT), (int64_t)sum_stat(ST_READ_FAIL), (int64_t)sum_stat(ST_RECORDS),
			 (int64_t)records_out, (int64_t)sum_stat(ST_SHED), (int64_t)sum_stat(ST_RATE)};
	emit_own(REC_STATS, st, 6, NULL);
	flush_out();
	write_spool(0);
	if (clean_stop)
		hist_len = 0; /* the monitor read everything: nothing for the next loader to send again */
	if (getenv("WARDEN_SENSOR_PROG_STATS")) {
		/* per-program run counts and time (needs sysctl kernel.bpf_stats_enabled=1) */
		bpf_object__for_each_program(prog, skel->obj)
		{
			struct bpf_prog_info info;
			uint32_t len = sizeof info;
			memset(&info, 0, sizeof info);
			if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
				continue;
			if (!info.run_cnt)
				continue;
			fprintf(stderr, "prog %-20s runs %10llu  ns %12llu  avg %6.0f ns  insns %u\n", bpf_program__name(prog),
				(unsigned long long)info.run_cnt, (unsigned long long)info.run_time_ns,
				(double)info.run_time_ns / (double)info.run_cnt, info.xlated_prog_len / 8);
		}
	}
	ring_buffer__free(rb);
	/* the reader has everything: let it go on while the kernel detaches the programs
	 * (~40 ms per tracepoint here, seconds in all) */
	close(1);
	if (pin && clean_stop) {
		rm_tree(pin);
		if (inflight_path)
			unlink(inflight_path);
	}
	sensor__destroy(skel);
	return 0;
}
