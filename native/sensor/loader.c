// SPDX-License-Identifier: Apache-2.0
/* warden-sensor: loads sensor.bpf.o (embedded skeleton), fills its config maps, seeds the
 * tracked pids, attaches, then streams ring buffer records to stdout as [u32 len][record]
 * (layout in sensor.h). Commands on stdin, one per line: "t PID" tracks, "u PID" untracks.
 * Exits cleanly (after draining the ring buffer) on SIGINT, SIGTERM or stdin EOF, and dies
 * with its parent (PR_SET_PDEATHSIG). Never traces itself or the monitor.
 *
 * Usage: warden-sensor [--monitor-pid N] [--fold-ms N] [--failed-opens]
 *          [--exec-name NAME]... [--agent-name NAME]... [--prefix P]... [--track PID]...
 *          [--cgroup DIR]... [--wake-us N] [--check] [--abi]
 *   --exec-name   comm that makes an untracked exec a candidate (agents, interpreters)
 *   --agent-name  argv[0] of an exec / target of a rename that makes a candidate
 *   --prefix      comm prefix that makes an exec a candidate (python, pypy)
 *   --cgroup      cgroup v2 directory whose every process is tracked (sandboxes)
 *   --wake-us N   the kernel wakes this reader at most once per N µs (default 10000; see
 *                 wake_ns in sensor.bpf.c); while records flow it polls every 2N µs.
 *                 0 = a wakeup per record (lowest latency, ~10 µs per record in a VM)
 *                 Every wakeup is also a write to the monitor and a wakeup of node, whose
 *                 cost per wakeup dwarfs its cost per record: at 1 ms, node and this loader
 *                 woke ~800 times a second under a busy agent and used ~3x the CPU.
 *   --check       load and attach, print "ok" and exit (warden doctor)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sensor.h"

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
#include "sensor.skel.h"

#define OUT_CAP (1 << 20)

static unsigned char out[OUT_CAP];
static size_t out_len;
static volatile sig_atomic_t stop_req;
static int monitor_pid;
static int self_pid;
static struct sensor *skel;
static uint64_t records_out;
static char errbuf[1024];
static size_t errlen;

static void die_write(void)
{
	/* the reader is gone: nothing sensible left to do */
	_exit(3);
}

static void flush_out(void)
{
	size_t off = 0;
	while (off < out_len) {
		ssize_t n = write(1, out + off, out_len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die_write();
		}
		off += (size_t)n;
	}
	out_len = 0;
}

static void emit(const void *rec, uint32_t size)
{
	if (out_len + 4 + size > OUT_CAP)
		flush_out();
	if (4 + (size_t)size > OUT_CAP) {
		uint32_t sz = size;
		if (write(1, &sz, 4) != 4 || write(1, rec, size) != (ssize_t)size)
			die_write();
		return;
	}
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
	uint16_t len[3];
	uint16_t pad0;
	uint32_t pad1;
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

/* A loader record with up to one string. */
static void emit_own(uint16_t type, const int64_t *a, int na, const char *s)
{
	unsigned char buf[HDR_SIZE + 1024];
	struct hdr h = {0};
	h.type = type;
	h.pid = (uint32_t)self_pid;
	h.tid = (uint32_t)self_pid;
	h.ns = mono_ns();
	for (int i = 0; i < na && i < 6; i++)
		h.a[i] = a[i];
	size_t sl = s ? strlen(s) : 0;
	if (sl > 1024)
		sl = 1024;
	h.len[0] = (uint16_t)sl;
	memcpy(buf, &h, HDR_SIZE);
	if (sl)
		memcpy(buf + HDR_SIZE, s, sl);
	emit(buf, (uint32_t)(HDR_SIZE + sl));
}

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	emit(data, (uint32_t)size);
	return 0;
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
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

static int track(int pid, int on)
{
	if (pid <= 0 || pid == monitor_pid || pid == self_pid)
		return -EPERM;
	uint32_t k = (uint32_t)pid;
	int fd = bpf_map__fd(skel->maps.tracked);
	if (on) {
		uint8_t v = 1;
		return bpf_map_update_elem(fd, &k, &v, BPF_ANY) ? -errno : 0;
	}
	bpf_map_delete_elem(bpf_map__fd(skel->maps.fold), &k);
	return bpf_map_delete_elem(fd, &k) && errno != ENOENT ? -errno : 0;
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
	/* the full name (argv[0]) and its 15-byte comm form */
	for (int pass = 0; pass < 2; pass++) {
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

static uint64_t sum_stat(uint32_t idx)
{
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0 || ncpu > 4096)
		return 0;
	uint64_t vals[4096];
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.stats), &idx, vals))
		return 0;
	uint64_t s = 0;
	for (int i = 0; i < ncpu; i++)
		s += vals[i];
	return s;
}

static char cmdbuf[4096];
static size_t cmdlen;

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
		char *line = cmdbuf + start;
		start = i + 1;
		char op = line[0];
		int pid = atoi(line + 1);
		if (op == 't' || op == 'u') {
			int r = track(pid, op == 't');
			int64_t a[3] = {op == 't' ? 1 : 2, pid, r};
			emit_own(REC_CTL, a, 3, NULL);
		}
	}
	memmove(cmdbuf, cmdbuf + start, cmdlen - start);
	cmdlen -= start;
	if (cmdlen >= sizeof cmdbuf - 1)
		cmdlen = 0; /* a line longer than any command: drop it */
	return 1;
}

int main(int argc, char **argv)
{
	uint64_t t0 = mono_ns();
	int fold_ms = 1000, failed = 0, check = 0;
	long wake_us = 10000;
	self_pid = getpid();
	int ppid0 = getppid();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != ppid0)
		return 1;

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
	const char *enames[64], *anames[64], *prefixes[4];
	int ne = 0, na = 0, np = 0, nt = 0;
	int tracks[4096];
	const char *cgroups[256];
	int ncg = 0;
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
		else {
			fprintf(stderr, "warden-sensor: bad argument %s\n", a);
			return 2;
		}
	}
	if (wake_us < 0)
		wake_us = 0;

	skel->rodata->monitor_pid = (uint32_t)monitor_pid;
	skel->rodata->loader_pid = (uint32_t)self_pid;
	skel->rodata->fold_ns = (uint64_t)(fold_ms < 0 ? 0 : fold_ms) * 1000000ULL;
	skel->rodata->failed_opens = (uint8_t)failed;
	skel->rodata->wake_ns = (uint64_t)wake_us * 1000ULL;
	skel->rodata->have_cgroups = ncg > 0;
	for (int i = 0; i < np; i++) {
		size_t l = strlen(prefixes[i]);
		if (l > 15)
			l = 15;
		skel->rodata->prefix_len[i] = (uint8_t)l;
		memcpy((char *)skel->rodata->prefixes[i], prefixes[i], l);
	}

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
	int ncpu = libbpf_num_possible_cpus();
	bpf_map__set_max_entries(skel->maps.scratch, ncpu > 0 ? (uint32_t)ncpu : 1);
	if (sensor__load(skel)) {
		fprintf(stderr, "warden-sensor: cannot load the BPF programs (%s): %s\n", strerror(errno), errbuf);
		return 1;
	}
	for (int i = 0; i < ne; i++)
		add_name(enames[i], NAME_EXEC_COMM);
	for (int i = 0; i < na; i++)
		add_name(anames[i], NAME_AGENT);
	for (int i = 0; i < nt; i++)
		track(tracks[i], 1);
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
	if (sensor__attach(skel)) {
		fprintf(stderr, "warden-sensor: cannot attach (%s): %s\n", strerror(errno), errbuf);
		return 1;
	}
	uint64_t attach_us = (mono_ns() - t0) / 1000;
	if (check) {
		printf("ok: %d programs loaded and attached in %llu us%s%s\n", nprogs, (unsigned long long)attach_us,
		       missing[0] ? "; no tracepoint for " : "", missing);
		sensor__destroy(skel);
		return 0;
	}

	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.rb), on_record, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "warden-sensor: cannot open the ring buffer: %s\n", strerror(errno));
		return 1;
	}
	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);

	int64_t ra[3] = {(int64_t)attach_us, SENSOR_ABI, nprogs};
	emit_own(REC_READY, ra, 3, missing);
	flush_out();

	struct pollfd pfd[2] = {{.fd = ring_buffer__epoll_fd(rb), .events = POLLIN}, {.fd = 0, .events = POLLIN}};
	int stdin_open = 1;
	uint64_t drops_seen = 0, last_check = mono_ns();
	/* While records flow the kernel wakes us at most once per wake_ns, so we poll every
	 * 2 * wake_ns. A poll that finds nothing means nothing was written for that long: the
	 * next record will wake us, and we can sleep until then (the timeout only paces the
	 * loss check). */
	int short_ms = wake_us ? (int)((2 * wake_us + 999) / 1000) : 250;
	int timeout = 250;
	while (!stop_req) {
		int n = poll(pfd, stdin_open ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR)
			break;
		int got = ring_buffer__consume(rb);
		timeout = got > 0 ? short_ms : 250;
		if (stdin_open && n > 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (!read_commands()) {
				stdin_open = 0;
				stop_req = 1;
			}
		}
		uint64_t now = mono_ns();
		if (now - last_check >= 250000000ULL) {
			last_check = now;
			uint64_t d = sum_stat(ST_DROPS);
			if (d > drops_seen) {
				int64_t la[2] = {(int64_t)(d - drops_seen), (int64_t)d};
				emit_own(REC_LOSS, la, 2, NULL);
				drops_seen = d;
			}
		}
		flush_out();
	}
	/* drain what the kernel already wrote, then report the final counters */
	ring_buffer__consume(rb);
	uint64_t d = sum_stat(ST_DROPS);
	if (d > drops_seen) {
		int64_t la[2] = {(int64_t)(d - drops_seen), (int64_t)d};
		emit_own(REC_LOSS, la, 2, NULL);
	}
	int64_t st[4] = {(int64_t)sum_stat(ST_COMPAT), (int64_t)sum_stat(ST_READ_FAIL), (int64_t)sum_stat(ST_RECORDS),
			 (int64_t)records_out};
	emit_own(REC_STATS, st, 4, NULL);
	flush_out();
	if (getenv("WARDEN_SENSOR_PROG_STATS")) {
		/* per-program run counts and time (needs sysctl kernel.bpf_stats_enabled=1) */
		struct bpf_program *prog;
		bpf_object__for_each_program(prog, skel->obj)
		{
			struct bpf_prog_info info;
			uint32_t len = sizeof info;
			memset(&info, 0, sizeof info);
			if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
				continue;
			fprintf(stderr, "prog %-12s runs %10llu  ns %12llu  avg %6.0f ns  insns %u\n", bpf_program__name(prog),
				(unsigned long long)info.run_cnt, (unsigned long long)info.run_time_ns,
				info.run_cnt ? (double)info.run_time_ns / (double)info.run_cnt : 0.0, info.xlated_prog_len / 8);
		}
	}
	ring_buffer__free(rb);
	sensor__destroy(skel);
	return 0;
}
