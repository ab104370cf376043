/* An openat2 whose flags in user memory are not the flags the kernel used (test helper for
 * watch-openat2.test.ts). openat2 takes its flags in a struct in user memory, which the kernel
 * copies once; a sensor that reads that memory itself can be shown other flags:
 *   race PATH   the kernel copies {O_RDWR}, then waits for the path on a userfaultfd page; meanwhile
 *               another thread makes the struct say O_RDONLY (what a read at the call's exit sees)
 *   cold PATH   the struct {O_RDWR} is on a file page not yet mapped in (a read at the call's entry,
 *               with page faults disabled, fails there and sees nothing: flags 0, O_RDONLY)
 * Either way the file is open read-write. Prints "MODE rdwr" when the kernel opened it so. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/openat2.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct open_how *how;
static char *page;
static long fd_out = -1;

static void *opener(void *arg) {
  (void)arg;
  fd_out = syscall(SYS_openat2, AT_FDCWD, page, how, sizeof *how);
  return NULL;
}

static void report(const char *mode, long fd) {
  if (fd < 0) {
    perror("openat2");
    exit(1);
  }
  printf("%s %s\n", mode, (fcntl((int)fd, F_GETFL) & O_ACCMODE) == O_RDWR ? "rdwr" : "other");
}

static int race(const char *path) {
  long ps = sysconf(_SC_PAGESIZE);
  int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
  struct uffdio_api api = {.api = UFFD_API};
  if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) {
    perror("userfaultfd");
    return 1;
  }
  page = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  struct uffdio_register reg = {.range = {.start = (unsigned long)page, .len = ps}, .mode = UFFDIO_REGISTER_MODE_MISSING};
  if (page == MAP_FAILED || ioctl(uffd, UFFDIO_REGISTER, &reg)) {
    perror("uffd register");
    return 1;
  }
  how = calloc(1, sizeof *how);
  how->flags = O_RDWR;
  pthread_t t;
  pthread_create(&t, NULL, opener, NULL);
  // The kernel has copied the struct and is now reading the path: the fault is ours to serve.
  struct pollfd p = {.fd = uffd, .events = POLLIN};
  struct uffd_msg msg;
  if (poll(&p, 1, 10000) != 1 || read(uffd, &msg, sizeof msg) != sizeof msg || msg.event != UFFD_EVENT_PAGEFAULT) {
    fprintf(stderr, "no fault\n");
    return 1;
  }
  how->flags = O_RDONLY;
  char *src = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  snprintf(src, ps, "%s", path);
  struct uffdio_copy c = {.dst = (unsigned long)page, .src = (unsigned long)src, .len = ps};
  if (ioctl(uffd, UFFDIO_COPY, &c)) {
    perror("uffd copy");
    return 1;
  }
  pthread_join(t, NULL);
  report("race", fd_out);
  return 0;
}

static int cold(const char *path, const char *scratch) {
  // The struct is in a file, mapped but never touched here: no page table entry for it yet.
  int f = open(scratch, O_RDWR | O_CREAT | O_TRUNC, 0600);
  struct open_how h = {.flags = O_RDWR};
  if (f < 0 || write(f, &h, sizeof h) != sizeof h) {
    perror("scratch");
    return 1;
  }
  struct open_how *m = mmap(NULL, sizeof h, PROT_READ, MAP_SHARED, f, 0);
  if (m == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  madvise(m, sizeof h, MADV_DONTNEED);
  report("cold", syscall(SYS_openat2, AT_FDCWD, path, m, sizeof h));
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc >= 3 && !strcmp(argv[1], "race")) return race(argv[2]);
  if (argc >= 4 && !strcmp(argv[1], "cold")) return cold(argv[2], argv[3]);
  fprintf(stderr, "usage: openat2-flags race PATH | cold PATH SCRATCH\n");
  return 2;
}
