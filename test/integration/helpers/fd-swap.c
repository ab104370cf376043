/* The descriptor an open returns, replaced by another thread before the call returns (test
 * helper for watch-fdswap.test.ts; the race of attacker round 7). Thread A opens TARGET, which
 * the kernel installs at fd N; thread B spins on N (fcntl fails with EBADF until the kernel
 * installs the file) and then dup2()s DECOY onto N, so a sensor that reads the file at N in
 * the call's exit tracepoint may see DECOY: its path, inode and flags.
 *   fd-swap r|w|c TARGET DECOY ITERS [PAD DELAY]
 * c: read TARGET, and B closes N instead of filling it (the sensor then finds no file at N).
 * PAD "./" components before TARGET's last name make the kernel's walk longer; with DELAY, B
 * waits that many spins and then retries dup2() onto N, which fails with EBUSY while the slot
 * is reserved and lands the moment the file is installed (the attacker's way to win often).
 * Before each raced open it opens DECOY once itself (the decoy's own, real open). Prints the
 * counts: iterations, how many ended with DECOY at N. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define N 64
static int D, delay, ncpu = 1, closing;
static atomic_int seq, adone, back;

static void pin(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu % ncpu, &s); // ncpu read once, before the threads: sysconf opens a file
  sched_setaffinity(0, sizeof s, &s);
}

static void *swapper(void *x) {
  (void)x;
  pin(1);
  int last = 0;
  for (;;) {
    int s;
    while ((s = atomic_load(&seq)) == last)
      ;
    if (s < 0) return NULL;
    last = s;
    for (volatile int d = 0; d < delay; d++)
      ;
    for (;;) {
      if (closing) {
        if (close(N) == 0) break;
      } else if (delay) {
        if (dup2(D, N) == N) break;
      } else if (fcntl(N, F_GETFD) >= 0) {
        dup2(D, N);
        break;
      }
      if (atomic_load(&adone) == s) break;
    }
    atomic_store(&back, s);
  }
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: fd-swap r|w TARGET DECOY ITERS\n");
    return 2;
  }
  int flags = argv[1][0] == 'w' ? O_RDWR : O_RDONLY;
  closing = argv[1][0] == 'c';
  const char *target = argv[2], *decoy = argv[3];
  int iters = atoi(argv[4]), pad = argc > 5 ? atoi(argv[5]) : 0;
  delay = argc > 6 ? atoi(argv[6]) : 0;
  const char *slash = strrchr(target, '/');
  char *p = malloc(4096);
  size_t o = slash ? (size_t)(slash - target + 1) : 0;
  memcpy(p, target, o);
  for (int i = 0; i < pad && o + 3 + strlen(target) < 4000; i++) p[o++] = '.', p[o++] = '/';
  strcpy(p + o, slash ? slash + 1 : target);
  struct stat ds;
  if (stat(decoy, &ds)) {
    perror("decoy");
    return 1;
  }
  ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (ncpu < 1) ncpu = 1;
  pin(0);
  D = open(decoy, O_RDONLY);
  if (D < 0) return 1;
  for (int i = 0; i < N; i++) // every slot below N taken: the raced open gets N
    if (fcntl(i, F_GETFD) < 0) dup2(D, i);
  pthread_t t;
  pthread_create(&t, NULL, swapper, NULL);
  int swapped = 0, opened = 0;
  for (int i = 1; i <= iters; i++) {
    close(N);
    close(open(decoy, O_RDONLY));
    atomic_store(&seq, i);
    long r = syscall(SYS_openat, AT_FDCWD, p, flags);
    atomic_store(&adone, i);
    while (atomic_load(&back) != i)
      ;
    if (r >= 0) opened++;
    if (r >= 0 && r != N) close((int)r);
    struct stat st;
    if (fstat(N, &st) == 0 && st.st_ino == ds.st_ino) swapped++;
  }
  atomic_store(&seq, -1);
  pthread_join(t, NULL);
  printf("iters=%d opened=%d swapped=%d\n", iters, opened, swapped);
  return 0;
}
