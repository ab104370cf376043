/* A call whose sys_exit tracepoint fires though the kernel never ran it (test helper for
 * watch-skipped.test.ts; found by an attacker round against an exit-only open program):
 *   errno0 PATH        seccomp RET_ERRNO|0 on openat: openat(PATH) "returns" 0
 *   trap PATH          seccomp RET_TRAP on openat: the registers are rolled back, it "returns" 257
 *   sysemu PATH REAL   a PTRACE_SYSEMU tracer skips the child's openat(PATH, O_RDWR) and makes it
 *                      "return" an fd of REAL, which the tracer opened for real
 * Each prints what the call returned. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static void filter(unsigned action) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, action),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog p = {.len = 4, .filter = f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p)) {
    perror("seccomp");
    exit(1);
  }
}

static void on_sigsys(int s) { (void)s; }

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *mode = argv[1], *path = argv[2];
  if (!strcmp(mode, "errno0") || !strcmp(mode, "trap")) {
    signal(SIGSYS, on_sigsys);
    filter(!strcmp(mode, "errno0") ? SECCOMP_RET_ERRNO | 0 : SECCOMP_RET_TRAP);
    printf("%s %ld\n", mode, syscall(__NR_openat, AT_FDCWD, path, O_RDONLY));
    return 0;
  }
  if (strcmp(mode, "sysemu") || argc < 4) return 2;
  int real = open(argv[3], O_RDONLY);
  pid_t c = fork();
  if (c == 0) {
    ptrace(PTRACE_TRACEME, 0, 0, 0);
    raise(SIGSTOP);
    long r = syscall(__NR_openat, AT_FDCWD, path, O_RDWR);
    printf("sysemu %ld\n", r);
    fflush(stdout);
    _exit(0);
  }
  int st;
  waitpid(c, &st, 0);
  ptrace(PTRACE_SYSEMU, c, 0, 0);
  waitpid(c, &st, 0); /* stopped at the entry of its next call, which will not run */
  struct user_regs_struct rg;
  ptrace(PTRACE_GETREGS, c, 0, &rg);
  if (rg.orig_rax == __NR_openat) {
    rg.rax = (unsigned long long)real;
    ptrace(PTRACE_SETREGS, c, 0, &rg);
  } else {
    fprintf(stderr, "unexpected call %lld\n", rg.orig_rax);
  }
  ptrace(PTRACE_DETACH, c, 0, 0);
  waitpid(c, &st, 0);
  return 0;
}
