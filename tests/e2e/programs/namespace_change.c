// Makes a namespace change the kernel allows only to a process's only thread, then burns CPU
// in burn_after_change so a profile shows the agent still samples afterwards. Prints each
// call's result ("<call> <rc> <errno>") so a test can compare it with a run without the agent.
//   namespace_change user SECONDS         unshare(CLONE_NEWUSER)
//   namespace_change mnt SECONDS          setns(own mount namespace, CLONE_NEWNS), then
//                                         setns(same, 0)
//   namespace_change user-thread SECONDS  unshare(CLONE_NEWUSER) while a second program
//                                         thread exists (fails with EINVAL either way)
//   namespace_change repeat SECONDS       setns(own mount namespace) 50 times
//   namespace_change every SECONDS        burns SECONDS in burn_after_change while calling
//                                         setns(own mount namespace) every 100 ms
//   namespace_change late SECONDS         burns 30 ms, idles until 130 ms (the agent's first
//                                         tick has just run), unshare(CLONE_NEWUSER), idles
//                                         250 ms, then burns SECONDS
//   namespace_change vfork SECONDS        a vfork child calls unshare(CLONE_NEWUSER), then
//                                         execs /bin/true; the parent prints "vforked" and
//                                         burns SECONDS
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spin_for.h"

void burn_after_change(double seconds) { SPIN_FOR(seconds); }

static void sleep_until(double t) {
  while (spin_now_seconds() < t) {
    struct timespec five_ms = {0, 5 * 1000 * 1000};
    nanosleep(&five_ms, NULL);
  }
}

static void report(const char* call, int rc) {
  printf("%s %d %s\n", call, rc, rc == 0 ? "0" : strerror(errno));
  fflush(stdout);
}

static int pipe_fds[2];

static void* wait_on_pipe(void* arg) {
  (void)arg;
  char c;
  while (read(pipe_fds[0], &c, 1) < 0 && errno == EINTR) {
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const char* mode = argv[1];
  double seconds = atof(argv[2]);
  if (strcmp(mode, "user") == 0) {
    report("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
  } else if (strcmp(mode, "repeat") == 0) {
    int fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 3;
    int failures = 0, last_errno = 0;
    for (int i = 0; i < 50; ++i) {
      if (setns(fd, CLONE_NEWNS) != 0) {
        ++failures;
        last_errno = errno;
      }
    }
    close(fd);
    printf("setns(mnt) x50: %d failed (%s)\n", failures, failures ? strerror(last_errno) : "-");
    fflush(stdout);
  } else if (strcmp(mode, "mnt") == 0) {
    int fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 3;
    report("setns(mnt, CLONE_NEWNS)", setns(fd, CLONE_NEWNS));
    report("setns(mnt, 0)", setns(fd, 0));
    close(fd);
  } else if (strcmp(mode, "every") == 0) {
    int fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 3;
    int failures = 0;
    double end = spin_now_seconds() + seconds;
    while (spin_now_seconds() < end) {
      burn_after_change(0.1);
      if (setns(fd, CLONE_NEWNS) != 0) ++failures;
    }
    close(fd);
    printf("setns(mnt) every 100 ms: %s\n", failures ? "failed" : "all done");
    puts("done");
    return 0;
  } else if (strcmp(mode, "late") == 0) {
    double start = spin_now_seconds();
    burn_after_change(0.03);
    sleep_until(start + 0.13);
    report("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
    sleep_until(spin_now_seconds() + 0.25);
  } else if (strcmp(mode, "vfork") == 0) {
    pid_t pid = vfork();
    if (pid == 0) {
      unshare(CLONE_NEWUSER);
      char* args[] = {"/bin/true", NULL};
      execv(args[0], args);
      _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    puts("vforked");
    fflush(stdout);
  } else if (strcmp(mode, "user-thread") == 0) {
    if (pipe(pipe_fds) != 0) return 3;
    pthread_t t;
    pthread_create(&t, NULL, wait_on_pipe, NULL);
    report("unshare(CLONE_NEWUSER) beside a thread", unshare(CLONE_NEWUSER));
    close(pipe_fds[1]);
    pthread_join(t, NULL);
  } else {
    return 2;
  }
  burn_after_change(seconds);
  puts("done");
  return 0;
}
