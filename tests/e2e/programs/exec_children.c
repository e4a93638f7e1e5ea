// e2e program: prints its own view of its environment (environ, getenv, /proc/self/environ),
// then runs `env` once by each way a program starts another: system, popen, posix_spawnp,
// fork+execve, fork+execv, vfork+execlp, fork+execvp, fork+execle with an explicit copy of
// the environment, so each child's environment can be compared with the host's.
// Output: "HOST-ENVIRON <entry>", "HOST-PROC <entry>", "HOST-GETENV <name>=<value>", then
// "== <way>" before each child's lines, and "done".
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

static void wait_child(pid_t pid) {
  int status;
  if (pid > 0) waitpid(pid, &status, 0);
}

static void section(const char* way) {
  printf("== %s\n", way);
  fflush(stdout);
}

int main(void) {
  for (char** e = environ; *e != NULL; ++e) printf("HOST-ENVIRON %s\n", *e);
  int fd = open("/proc/self/environ", O_RDONLY);
  static char buf[1 << 20];
  ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1) printf("HOST-PROC %s\n", buf + i);
  const char* names[] = {"LD_PRELOAD", "PROFAGENT_CHILDREN", "PROFAGENT_DIR", "HOME"};
  for (int i = 0; i < 4; ++i) {
    const char* v = getenv(names[i]);
    printf("HOST-GETENV %s=%s\n", names[i], v ? v : "(unset)");
  }
  char* argv[] = {"env", NULL};

  section("system");
  if (system("env") != 0) return 20;

  section("popen");
  FILE* p = popen("env", "r");
  if (p == NULL) return 21;
  char line[65536];
  while (fgets(line, sizeof line, p) != NULL) fputs(line, stdout);
  if (pclose(p) != 0) return 22;

  section("posix_spawnp");
  pid_t pid;
  if (posix_spawnp(&pid, "env", NULL, NULL, argv, environ) != 0) return 23;
  wait_child(pid);

  section("execve");
  if ((pid = fork()) == 0) {
    execve("/usr/bin/env", argv, environ);
    _exit(127);
  }
  wait_child(pid);

  section("execv");
  if ((pid = fork()) == 0) {
    execv("/usr/bin/env", argv);
    _exit(127);
  }
  wait_child(pid);

  section("vfork+execlp");
  if ((pid = vfork()) == 0) {
    execlp("env", "env", (char*)NULL);
    _exit(127);
  }
  wait_child(pid);

  section("execvp");
  if ((pid = fork()) == 0) {
    execvp("env", argv);
    _exit(127);
  }
  wait_child(pid);

  section("execle-copy");
  size_t count = 0;
  while (environ[count] != NULL) ++count;
  char** copy = calloc(count + 1, sizeof *copy);
  for (size_t i = 0; i < count; ++i) copy[i] = strdup(environ[i]);
  if ((pid = fork()) == 0) {
    execle("/usr/bin/env", "env", (char*)NULL, copy);
    _exit(127);
  }
  wait_child(pid);

  printf("done\n");
  return 0;
}
