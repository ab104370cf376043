/* Standard monitor workload (issue #2): N short-lived processes, M file opens, K loopback
 * TCP connects. Written in C so the syscall rate is the highest a real program reaches:
 * the monitor's overhead is measured at its worst, not hidden behind an interpreter. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: workload NPROC NOPEN NCONN PORT FILE\n");
    return 2;
  }
  long nproc = atol(argv[1]), nopen = atol(argv[2]), nconn = atol(argv[3]);
  int port = atoi(argv[4]);
  const char *file = argv[5];
  long pace_us = argc > 6 ? atol(argv[6]) : 0; /* optional gap between operations */
  for (long i = 0; i < nproc; i++) {
    pid_t p = fork();
    if (p == 0) {
      execl("/bin/true", "true", (char *)0);
      _exit(127);
    }
    if (p < 0) return 1;
    int st;
    waitpid(p, &st, 0);
  }
  for (long i = 0; i < nopen; i++) {
    int fd = open(file, O_RDONLY);
    if (fd < 0) return 1;
    close(fd);
    if (pace_us) usleep(pace_us);
  }
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(0x7f000001);
  for (long i = 0; i < nconn; i++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return 1;
    if (connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) return 1;
    close(s);
  }
  /* CPU time of the workload and its children (in-kernel probe cost lands here), which
   * a busy shared machine disturbs less than wall time */
  struct rusage self, kids;
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &kids);
  long long us = 0;
  struct timeval tv[4] = {self.ru_utime, self.ru_stime, kids.ru_utime, kids.ru_stime};
  for (int i = 0; i < 4; i++) us += (long long)tv[i].tv_sec * 1000000LL + tv[i].tv_usec;
  printf("cpu_us %lld\n", us);
  return 0;
}
