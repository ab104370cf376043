// warden-launch: the fast path of `warden run` (bin/warden execs it for `run` when built).
// It does not start Node: it asks the resident per-user supervisor (src/sandbox/supervisor.ts)
// over its unix socket for the launch plan of this run (the policy compiled by the TypeScript
// code: bwrap's arguments, environment, seccomp program, cgroups, writable binds to pin), then
// starts bwrap itself (so the terminal, umask, limits and descriptors are the caller's), passes
// terminal signals on, enforces the timeout, and reports the exit back: the supervisor does the
// checks after the run (protected paths, teardown) and says the exit status.
// Whenever it cannot (no supervisor yet, an option the fast path does not serve, a descriptor
// problem), it execs the Node CLI, which does the same run the slow way; with no supervisor it
// also starts one in the background for the next runs.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FRAME (64u << 20)

extern char **environ;

static int g_argc;
static char **g_argv;
static char g_repo[PATH_MAX];

// ------------------------------------------------------------------ fallback: the Node CLI

/** Runs `node <repo>/bin/warden run ...` in place of this process (the slow path). */
static void fallback(void) {
  char entry[PATH_MAX + 32];
  snprintf(entry, sizeof entry, "%s/bin/warden", g_repo);
  // Same as bin/warden's shell part: Node must not parse the CA bundle before the run starts.
  const char *ca = getenv("NODE_EXTRA_CA_CERTS");
  if (ca) {
    setenv("WARDEN_NODE_EXTRA_CA_CERTS", ca, 1);
    unsetenv("NODE_EXTRA_CA_CERTS");
  }
  char **av = calloc((size_t)g_argc + 3, sizeof *av);
  if (!av) _exit(1);
  av[0] = "node";
  av[1] = entry;
  for (int i = 1; i < g_argc; i++) av[i + 1] = g_argv[i];
  execvp("node", av);
  fprintf(stderr, "warden: cannot start node: %s\n", strerror(errno));
  _exit(1);
}

// ------------------------------------------------------------------ the wire format

// A frame: u32 little-endian length, then NUL-terminated strings, alternately a tag and its value.
struct buf {
  char *p;
  size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->cap ? b->cap * 2 : 4096);
    while (cap < b->len + n + 1) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) _exit(1);
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->p[b->len + n] = 0;
  b->len += n + 1;
}

static void field(struct buf *b, const char *tag, const char *val) {
  put(b, tag, strlen(tag));
  put(b, val, strlen(val));
}

static int write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

static int read_all(int fd, void *p, size_t n) {
  char *c = p;
  while (n) {
    ssize_t r = read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    c += r;
    n -= (size_t)r;
  }
  return 0;
}

/** One frame to the supervisor; a supervisor gone is an error here, never a SIGPIPE. */
static int send_frame(int fd, struct buf *b) {
  uint32_t n = (uint32_t)b->len;
  unsigned char h[4] = {n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >> 24) & 0xff};
  struct iovec v[2] = {{h, 4}, {b->p, b->len}};
  struct msghdr m = {.msg_iov = v, .msg_iovlen = 2};
  size_t left = 4 + b->len;
  while (left) {
    ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    left -= (size_t)w;
    while (w > 0 && m.msg_iovlen) { // skip what was sent
      size_t k = (size_t)w < m.msg_iov->iov_len ? (size_t)w : m.msg_iov->iov_len;
      m.msg_iov->iov_base = (char *)m.msg_iov->iov_base + k;
      m.msg_iov->iov_len -= k;
      w -= (ssize_t)k;
      if (!m.msg_iov->iov_len) {
        m.msg_iov++;
        m.msg_iovlen--;
      }
    }
  }
  return 0;
}

struct msg {
  char *data;
  int n; // fields (tag, value pairs)
  char **tag, **val;
};

static int recv_frame(int fd, struct msg *m) {
  unsigned char h[4];
  if (read_all(fd, h, 4)) return -1;
  uint32_t n = h[0] | (h[1] << 8) | (h[2] << 16) | ((uint32_t)h[3] << 24);
  if (n > MAX_FRAME) return -1;
  m->data = malloc(n + 1);
  if (!m->data || read_all(fd, m->data, n)) return -1;
  m->data[n] = 0;
  // As many fields as the frame holds: a fixed cap would cut the tail off a long answer, and
  // the tail is what says how to run (base, drop to the sandbox's uid, timeout).
  size_t fields = 0;
  for (size_t k = 0; k < n; k++) fields += !m->data[k];
  fields = fields / 2 + 1;
  m->tag = calloc(fields, sizeof(char *));
  m->val = calloc(fields, sizeof(char *));
  if (!m->tag || !m->val) return -1;
  m->n = 0;
  size_t i = 0;
  while (i < n && (size_t)m->n < fields) {
    m->tag[m->n] = m->data + i;
    i += strlen(m->data + i) + 1;
    if (i >= n + 1) return -1;
    m->val[m->n] = m->data + i;
    i += strlen(m->data + i) + 1;
    if (i > n) return -1;
    m->n++;
  }
  return 0;
}

static const char *get(struct msg *m, const char *tag) {
  for (int i = 0; i < m->n; i++)
    if (!strcmp(m->tag[i], tag)) return m->val[i];
  return NULL;
}

static int count(struct msg *m, const char *tag) {
  int c = 0;
  for (int i = 0; i < m->n; i++) c += !strcmp(m->tag[i], tag);
  return c;
}

/** The values of every `tag` field, NULL-terminated. */
static char **all(struct msg *m, const char *tag) {
  char **out = calloc((size_t)count(m, tag) + 1, sizeof *out);
  if (!out) _exit(1);
  int k = 0;
  for (int i = 0; i < m->n; i++)
    if (!strcmp(m->tag[i], tag)) out[k++] = m->val[i];
  return out;
}

static void print_logs(struct msg *m) {
  for (int i = 0; i < m->n; i++)
    if (!strcmp(m->tag[i], "log")) dprintf(2, "warden: %s\n", m->val[i]);
}

// ------------------------------------------------------------------ the supervisor

/** Warden's runtime directory, as src/util/xdg.ts runtimeDir() computes it. */
static void runtime_dir(char *out, size_t n) {
  // A relative path is no runtime directory (XDG base directory spec): it would be the caller's
  // current directory, a workspace the sandbox writes.
  const char *x = getenv("XDG_RUNTIME_DIR");
  if (x && *x == '/') snprintf(out, n, "%s/warden", x);
  else if (getuid() == 0) snprintf(out, n, "/run/warden");
  else {
    const char *t = getenv("TMPDIR");
    // tmpDir(): TMPDIR when absolute, without its trailing slash, else /tmp
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", t && *t == '/' ? t : "/tmp");
    size_t l = strlen(tmp);
    if (l > 1 && tmp[l - 1] == '/') tmp[l - 1] = 0;
    snprintf(out, n, "%s/warden-%u", tmp, (unsigned)getuid());
  }
}

/**
 * The runtime directory is this user's own: a directory (not a symlink), owned by the user,
 * writable by nobody else (as state.ts ensureOwnDir demands). Otherwise whoever planted it (a
 * symlink in /tmp to a directory a sandbox writes) chooses which socket answers.
 */
static int own_dir(const char *dir) {
  struct stat st;
  return !lstat(dir, &st) && S_ISDIR(st.st_mode) && st.st_uid == getuid() && !(st.st_mode & 022);
}

/** Connects to the supervisor's socket, checking it is this user's; -1 when there is none. */
static int connect_supervisor(const char *dir, const char *sock) {
  struct stat st;
  if (!own_dir(dir) || lstat(sock, &st) || !S_ISSOCK(st.st_mode) || st.st_uid != getuid()) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(sock) >= sizeof a.sun_path) goto fail;
  strcpy(a.sun_path, sock);
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) goto fail;
  struct ucred cred;
  socklen_t cl = sizeof cred;
  // The socket file is ours; the process behind it must be too.
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) || cred.uid != getuid()) goto fail;
  return fd;
fail:
  close(fd);
  return -1;
}

// ------------------------------------------------------------------ starting bwrap

/** Descriptors inherited without O_CLOEXEC, not to be passed: closed so the sandbox cannot inherit them. */
static void close_inherited(char **pass, int keep) {
  for (int fd = 3; fd < 1024; fd++) {
    if (fd == keep) continue;
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || (fl & FD_CLOEXEC)) continue;
    int passed = 0;
    for (char **p = pass; *p; p++) passed |= atoi(*p) == fd;
    if (!passed) close(fd);
  }
}

/** Opens a writable bind's source without following a last symlink and checks it is the path planned. */
static int open_pin(const char *path) {
  int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  char link[64], actual[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, actual, sizeof actual - 1);
  if (n < 0 || (actual[n] = 0, strcmp(actual, path))) {
    if (n >= 0) dprintf(2, "warden: writable path %s resolves to %s (changed while the sandbox was being set up); refusing to bind it\n", path, actual);
    close(fd);
    errno = EXDEV;
    return -1;
  }
  return fd;
}

static int memfd_with(const void *p, size_t n) {
  int fd = memfd_create("warden", MFD_CLOEXEC);
  if (fd < 0 || write_all(fd, p, n) || lseek(fd, 0, SEEK_SET)) return -1;
  return fd;
}

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

struct plan {
  const char *bwrap;
  char **opts, **cmd, **env, **pins, **cgroups, **pass, **ns;
  const char *nsholder;
  int base;
  int drop, uid, gid;
  long timeout_ms, grace_ms;
  unsigned char *seccomp;
  size_t seccomp_len;
};

static int read_plan(struct msg *m, struct plan *p) {
  p->bwrap = get(m, "bwrap");
  p->opts = all(m, "o");
  p->cmd = all(m, "c");
  p->env = all(m, "env");
  p->pins = all(m, "pin");
  p->cgroups = all(m, "cg");
  p->pass = all(m, "pass");
  p->ns = all(m, "ns");
  p->nsholder = get(m, "nsholder");
  const char *base = get(m, "base"), *drop = get(m, "drop"), *to = get(m, "timeout"), *gr = get(m, "grace"), *sc = get(m, "seccomp");
  if (!p->bwrap || !base || !sc) return -1;
  p->base = atoi(base);
  p->drop = drop && sscanf(drop, "%d %d", &p->uid, &p->gid) == 2;
  p->timeout_ms = to ? atol(to) : -1;
  p->grace_ms = gr ? atol(gr) : 5000;
  size_t hl = strlen(sc);
  p->seccomp_len = hl / 2;
  p->seccomp = malloc(p->seccomp_len + 1);
  if (!p->seccomp) return -1;
  for (size_t i = 0; i < p->seccomp_len; i++) {
    int hi = hexval(sc[2 * i]), lo = hexval(sc[2 * i + 1]);
    if (hi < 0 || lo < 0) return -1;
    p->seccomp[i] = (unsigned char)(hi << 4 | lo);
  }
  return 0;
}

/** The fields of /proc/PID/stat after the command (from the state on), in `b`; NULL when the process is gone. */
static const char *stat_fields(pid_t pid, char *b, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  ssize_t n = read(fd, b, size - 1);
  close(fd);
  if (n <= 0) return NULL;
  b[n] = 0;
  // the command (field 2) may hold spaces and parentheses: the fields after it follow the last ')'
  char *e = strrchr(b, ')');
  return e && e[1] == ' ' ? e + 2 : NULL;
}

/** A process's start time (clock ticks after boot, field 22 of /proc/PID/stat), 0 when it is gone. */
static unsigned long long proc_start(pid_t pid) {
  char b[1024];
  const char *f = stat_fields(pid, b, sizeof b);
  unsigned long long start = 0;
  // state, then fields 4..21, then starttime (22)
  if (!f || sscanf(f, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &start) != 1) return 0;
  return start;
}

/** In the child: join the cgroups, drop identity, lay the descriptors on their slots, exec bwrap. */
static void exec_bwrap(struct plan *p, int status_w, int seccomp_fd, int args_fd, int *pins, int npins) {
  setsid();
  char pid[32];
  int pl = snprintf(pid, sizeof pid, "%d\n", getpid());
  for (char **c = p->cgroups; *c; c++) {
    int fd = open(*c, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, pid, (size_t)pl) != pl) _exit(125);
    close(fd);
  }
  // The network provider's namespaces (an allowlist run's), entered before the identity drops:
  // as `ip netns exec` / `nsenter -U -n` do on the Node path.
  // Each is "INODE PATH": the namespace must still be the one the supervisor made. All are opened
  // first; a holder process named by `nsholder` ("PID START") must then still be the same process
  // (its start time): an inode number can be had again by a new namespace once the old one is freed.
  int nns = 0;
  while (p->ns[nns]) nns++;
  int nsfd[nns + 1];
  for (int i = 0; i < nns; i++) {
    char *path = strchr(p->ns[i], ' ');
    unsigned long long ino = strtoull(p->ns[i], NULL, 10);
    struct stat st;
    nsfd[i] = path ? open(path + 1, O_RDONLY | O_CLOEXEC) : -1;
    if (nsfd[i] < 0) {
      dprintf(2, "warden: cannot open the sandbox's network namespace %s: %s\n", path ? path + 1 : p->ns[i], strerror(errno));
      _exit(125);
    }
    if (fstat(nsfd[i], &st) || (unsigned long long)st.st_ino != ino) {
      dprintf(2, "warden: the sandbox's network namespace %s is no longer the one prepared for it\n", path + 1);
      _exit(125);
    }
  }
  if (p->nsholder) {
    int hp = 0;
    unsigned long long want = 0;
    if (sscanf(p->nsholder, "%d %llu", &hp, &want) != 2 || proc_start(hp) != want) {
      dprintf(2, "warden: the process holding the sandbox's network namespace is gone\n");
      _exit(125);
    }
  }
  for (int i = 0; i < nns; i++) {
    if (setns(nsfd[i], 0)) {
      dprintf(2, "warden: cannot enter the sandbox's network namespace: %s\n", strerror(errno));
      _exit(125);
    }
    close(nsfd[i]);
  }
  if (p->drop && (setgroups(0, NULL) || setresgid(p->gid, p->gid, p->gid) || setresuid(p->uid, p->uid, p->uid))) _exit(125);
  // Every source to a number above every slot first: a source may sit on another's slot, and
  // one already on its own slot would keep O_CLOEXEC through dup2. Not a fixed 1024: with the
  // common soft limit of 1024 descriptors (a user's login shell) that number cannot be had.
  int nsrc = 3 + npins;
  int src[nsrc];
  int raw[] = {status_w, seccomp_fd, args_fd};
  int high = p->base + nsrc;
  for (int i = 0; i < nsrc; i++) {
    src[i] = fcntl(i < 3 ? raw[i] : pins[i - 3], F_DUPFD_CLOEXEC, high);
    if (src[i] < 0) _exit(125);
  }
  for (int fd = 3; fd < p->base; fd++) {
    int passed = 0;
    for (char **q = p->pass; *q; q++) passed |= atoi(*q) == fd;
    if (!passed) close(fd);
  }
  for (int i = 0; i < nsrc; i++)
    if (dup2(src[i], p->base + i) < 0) _exit(125);
  close_range((unsigned)(p->base + nsrc), ~0U, 0);
  // As Node's spawn does: default dispositions and no blocked signals (an ignored SIGINT would
  // otherwise be inherited by the command through exec, and Ctrl-C would not reach it).
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  int nc = 0;
  while (p->cmd[nc]) nc++;
  char **av = calloc((size_t)nc + 4, sizeof *av);
  char slot[16];
  snprintf(slot, sizeof slot, "%d", p->base + 2);
  av[0] = (char *)p->bwrap;
  av[1] = "--args";
  av[2] = slot;
  for (int i = 0; i < nc; i++) av[3 + i] = p->cmd[i];
  execve(p->bwrap, av, p->env);
  dprintf(2, "warden: cannot start %s: %s\n", p->bwrap, strerror(errno));
  _exit(127);
}

// ------------------------------------------------------------------ while it runs

static int sigpipe_w = -1;
static void on_signal(int sig) {
  int e = errno;
  unsigned char s = (unsigned char)sig;
  if (write(sigpipe_w, &s, 1) < 0) { /* full: dropped */ }
  errno = e;
}

/** The first child of bwrap's init inside the sandbox (the command), or 0. */
static pid_t command_pid(pid_t init) {
  if (init <= 0) return 0;
  char path[64], b[64];
  snprintf(path, sizeof path, "/proc/%d/task/%d/children", init, init);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, b, sizeof b - 1);
  close(fd);
  if (n <= 0) return 0;
  b[n] = 0;
  return (pid_t)atoi(b);
}

static pid_t pgrp_of(pid_t pid) {
  char b[512];
  const char *f = stat_fields(pid, b, sizeof b);
  int pg = 0;
  if (!f || sscanf(f, "%*c %*d %d", &pg) != 1) return 0;
  return pg > 1 ? pg : 0;
}

struct run {
  pid_t child, init, cmd;
  int exit_code; // from bwrap's status descriptor, -1 until known
};

/** Passes a signal to the command's process group (as supervise.ts does). */
static void forward(struct run *r, int sig) {
  // bwrap may not have written its status yet (the command can already be running): its
  // namespace init is then found as bwrap's own child.
  if (!r->init) r->init = command_pid(r->child);
  if (!r->cmd) r->cmd = command_pid(r->init);
  if (r->cmd) {
    pid_t g = pgrp_of(r->cmd);
    if (kill(g ? -g : r->cmd, sig) && g) kill(r->cmd, sig);
  } else if (sig != SIGWINCH)
    kill(-r->child, sig);
}

/** bwrap --json-status-fd: {"child-pid": N} once the namespaces exist, {"exit-code": N} at the end. */
static void parse_status(struct run *r, const char *s) {
  const char *k;
  if ((k = strstr(s, "\"child-pid\""))) r->init = (pid_t)atoi(strchr(k, ':') + 1);
  if ((k = strstr(s, "\"exit-code\""))) r->exit_code = atoi(strchr(k, ':') + 1);
}

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static const int FORWARDED[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGALRM, SIGTSTP, SIGCONT};

/**
 * A frame from the supervisor while the run goes on: its messages (a denied connection) printed
 * as they come. Returns -1 when the supervisor is gone.
 */
static int live_frame(int sup) {
  struct msg m;
  if (recv_frame(sup, &m)) return -1;
  const char *r = get(&m, "r");
  if (r && !strcmp(r, "log")) print_logs(&m);
  return 0;
}

/** Waits for bwrap, passing signals on, printing the supervisor's messages, and stopping it at the timeout. Returns its wait status. */
static int supervise(struct run *r, int status_r, int sup, struct plan *p, int *timed_out, int *orphaned, long *duration) {
  int sp[2];
  if (pipe2(sp, O_CLOEXEC | O_NONBLOCK)) return -1;
  sigpipe_w = sp[1];
  struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof FORWARDED / sizeof *FORWARDED; i++) sigaction(FORWARDED[i], &sa, NULL);
  sigaction(SIGCHLD, &sa, NULL);
  long start = now_ms(), kill_at = -1;
  char sbuf[4096];
  size_t slen = 0;
  int wstatus = 0, exited = 0, status_open = 1;
  while (!exited || status_open) {
    long wait = -1, t = now_ms();
    if (p->timeout_ms >= 0 && !*timed_out) wait = start + p->timeout_ms - t;
    if (kill_at >= 0) wait = kill_at - t;
    if (wait < 0 && wait != -1) wait = 0;
    if (exited) wait = 2000; // bwrap is gone: its status descriptor closes with its last holder
    struct pollfd f[3] = {{.fd = sp[0], .events = POLLIN}, {.fd = status_open ? status_r : -1, .events = POLLIN}, {.fd = sup, .events = POLLIN}};
    int n = poll(f, 3, (int)wait);
    if (n > 0 && f[2].revents && live_frame(sup)) {
      // The supervisor died: the sandbox's proxy (allowlist) and the checks after the run went
      // with it. Like the Node path's sandbox when Warden dies (--die-with-parent), it stops.
      sup = -1;
      *orphaned = 1;
      if (!exited) {
        kill(-r->child, SIGKILL);
        kill(r->child, SIGKILL);
      }
    }
    if (n == 0 && exited) break;
    if (f[1].revents) {
      ssize_t k = read(status_r, sbuf + slen, sizeof sbuf - 1 - slen);
      if (k <= 0) status_open = 0;
      else {
        slen += (size_t)k;
        sbuf[slen] = 0;
        parse_status(r, sbuf);
        if (slen > sizeof sbuf / 2) { // keep the tail: a record may be split
          memmove(sbuf, sbuf + slen - 256, 256);
          slen = 256;
          sbuf[slen] = 0;
        }
      }
    }
    if (f[0].revents) {
      unsigned char s;
      while (read(sp[0], &s, 1) == 1) {
        if (s == SIGCHLD) continue;
        if (s == SIGTSTP) {
          // The sandbox's group is orphaned: SIGTSTP would be discarded there; SIGSTOP is not.
          forward(r, SIGSTOP);
          raise(SIGSTOP);
        } else forward(r, s);
      }
    }
    if (!exited && waitpid(r->child, &wstatus, WNOHANG) == r->child) exited = 1;
    t = now_ms();
    if (!exited && p->timeout_ms >= 0 && !*timed_out && t - start >= p->timeout_ms) {
      *timed_out = 1;
      dprintf(2, "warden: timeout after %ld ms: stopping the sandbox\n", p->timeout_ms);
      forward(r, SIGTERM);
      kill_at = t + p->grace_ms;
    }
    if (!exited && kill_at >= 0 && t >= kill_at) {
      kill(-r->child, SIGKILL);
      kill(r->child, SIGKILL);
      kill_at = -1;
    }
  }
  *duration = now_ms() - start;
  return wstatus;
}

// ------------------------------------------------------------------ main

static const char *signame(int s) {
  static char b[16];
  const char *n = sigabbrev_np(s);
  if (!n) return "SIGKILL";
  snprintf(b, sizeof b, "SIG%s", n);
  return b;
}

int main(int argc, char **argv) {
  g_argc = argc;
  g_argv = argv;
  // The repository: this binary is <repo>/native/build/warden-launch.
  ssize_t n = readlink("/proc/self/exe", g_repo, sizeof g_repo - 1);
  if (n <= 0) return 1;
  g_repo[n] = 0;
  for (int up = 0; up < 3; up++) {
    char *s = strrchr(g_repo, '/');
    if (s) *s = 0;
  }
  const char *fast = getenv("WARDEN_FAST");
  if (argc < 2 || strcmp(argv[1], "run") || (fast && !strcmp(fast, "0"))) fallback();

  char rdir[PATH_MAX], sock[PATH_MAX + 32];
  runtime_dir(rdir, sizeof rdir);
  // One supervisor per user and per installation: another checkout's may be of another version.
  uint32_t h = 2166136261u;
  for (const char *c = g_repo; *c; c++) h = (h ^ (unsigned char)*c) * 16777619u;
  snprintf(sock, sizeof sock, "%s/supervisor-%08x.sock", rdir, h);
  int fd = connect_supervisor(rdir, sock);
  if (fd < 0) {
    // The Node path starts one for the next runs once this run's sandbox was created (a
    // supervisor started for a run that cannot be sandboxed at all would only linger).
    setenv("WARDEN_SUPERVISOR_SOCKET", sock, 1);
    fallback();
  }

  // The request: where, what, with which environment.
  struct buf req = {0};
  // 2: enters the namespaces of `ns` fields (an older launcher would ignore them: the supervisor
  // serves it no allowlist run).
  field(&req, "v", "2");
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) fallback();
  field(&req, "cwd", cwd);
  for (int i = 2; i < argc; i++) field(&req, "a", argv[i]);
  const char *ca = getenv("NODE_EXTRA_CA_CERTS");
  for (char **e = environ; *e; e++) {
    if (!strncmp(*e, "NODE_EXTRA_CA_CERTS=", 20) || !strncmp(*e, "WARDEN_NODE_EXTRA_CA_CERTS=", 27)) continue;
    field(&req, "env", *e);
  }
  if (ca) {
    char *v = malloc(strlen(ca) + 40);
    sprintf(v, "WARDEN_NODE_EXTRA_CA_CERTS=%s", ca);
    field(&req, "env", v);
  }
  field(&req, "tty", isatty(2) && isatty(0) ? "1" : "0");
  char pidb[16];
  snprintf(pidb, sizeof pidb, "%d", getpid());
  field(&req, "pid", pidb);
  gid_t groups[NGROUPS_MAX + 1];
  int ng = getgroups(NGROUPS_MAX, groups), has_egid = 0;
  if (ng < 0) ng = 0;
  for (int i = 0; i < ng; i++) has_egid |= groups[i] == getegid();
  if (!has_egid) groups[ng++] = getegid(); // as Node's process.getgroups() counts them
  char gl[16];
  for (int i = 0; i < ng; i++) {
    snprintf(gl, sizeof gl, "%u", (unsigned)groups[i]);
    field(&req, "group", gl);
  }
  struct msg rep;
  if (send_frame(fd, &req) || recv_frame(fd, &rep)) fallback();
  const char *what = get(&rep, "r");
  if (!what || !strcmp(what, "fallback")) {
    // WARDEN_TIMING=1 (the Node path's start-up report) says why the fast path was not taken.
    if (getenv("WARDEN_TIMING")) dprintf(2, "warden: fast path not taken: %s\n", get(&rep, "why") ? get(&rep, "why") : "?");
    fallback();
  }
  print_logs(&rep);
  if (!strcmp(what, "exit")) {
    const char *c = get(&rep, "code");
    return c ? atoi(c) : 1;
  }
  struct plan p;
  if (strcmp(what, "launch") || read_plan(&rep, &p)) {
    dprintf(2, "warden: the supervisor's answer is malformed\n");
    return 1;
  }
  // A descriptor to pass that is not open: the slow path says so properly.
  for (char **q = p.pass; *q; q++)
    if (fcntl(atoi(*q), F_GETFD) < 0) {
      struct buf ab = {0};
      field(&ab, "r", "abort");
      send_frame(fd, &ab);
      fallback();
    }
  close_inherited(p.pass, fd);

  int npins = 0;
  while (p.pins[npins]) npins++;
  int pins[npins + 1];
  const char *failed = NULL;
  for (int i = 0; i < npins; i++)
    if ((pins[i] = open_pin(p.pins[i])) < 0) failed = p.pins[i];
  size_t olen = 0;
  for (char **o = p.opts; *o; o++) olen += strlen(*o) + 1;
  char *ob = malloc(olen + 1), *w = ob;
  for (char **o = p.opts; *o; o++) w = stpcpy(w, *o) + 1;
  int seccomp_fd = memfd_with(p.seccomp, p.seccomp_len), args_fd = memfd_with(ob, olen);
  int st[2];
  struct run r = {.exit_code = -1};
  int timed_out = 0, orphaned = 0, wstatus = 0;
  long duration = 0;
  struct buf end = {0};
  field(&end, "r", "exit");
  if (failed || seccomp_fd < 0 || args_fd < 0 || pipe2(st, O_CLOEXEC)) {
    field(&end, "error", failed ? failed : "cannot prepare the descriptors");
  } else {
    r.child = fork();
    if (r.child == 0) exec_bwrap(&p, st[1], seccomp_fd, args_fd, pins, npins);
    close(st[1]);
    if (r.child < 0) field(&end, "error", strerror(errno));
    else {
      char pidb[16];
      snprintf(pidb, sizeof pidb, "%d", r.child);
      struct buf started = {0};
      field(&started, "r", "started");
      field(&started, "pid", pidb);
      send_frame(fd, &started);
      wstatus = supervise(&r, st[0], fd, &p, &timed_out, &orphaned, &duration);
    }
  }
  char b[32];
  if (WIFEXITED(wstatus)) {
    snprintf(b, sizeof b, "%d", WEXITSTATUS(wstatus));
    field(&end, "code", b);
  } else if (WIFSIGNALED(wstatus)) field(&end, "signal", signame(WTERMSIG(wstatus)));
  if (r.init > 0) {
    snprintf(b, sizeof b, "%d", r.init);
    field(&end, "childpid", b);
  }
  if (r.exit_code >= 0) {
    snprintf(b, sizeof b, "%d", r.exit_code);
    field(&end, "exitcode", b);
  }
  field(&end, "timedout", timed_out ? "1" : "0");
  snprintf(b, sizeof b, "%ld", duration);
  field(&end, "ms", b);
  if (orphaned) {
    dprintf(2, "warden: the supervisor went away during the run: the sandbox was stopped; the checks after the run are left to the next warden run\n");
    return 125;
  }
  struct msg fin;
  int lost = send_frame(fd, &end);
  const char *kind;
  // Messages sent while the run ended come before the answer.
  while (!lost && !(lost = recv_frame(fd, &fin)) && (kind = get(&fin, "r")) && !strcmp(kind, "log")) print_logs(&fin);
  if (lost) {
    // The supervisor died: its crash record makes the next run do the checks it could not.
    dprintf(2, "warden: the supervisor went away; the checks after the run are left to the next warden run\n");
    if (timed_out) return 124;
    if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
    return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 1;
  }
  print_logs(&fin);
  const char *c = get(&fin, "code");
  return c ? atoi(c) : 1;
}
