// e2e program: what system(), popen()/pclose() and the exec family return, and what they
// leave behind (signal dispositions, the signal mask, errno, descriptors), printed one fact
// per line, so a run under the agent with PROFAGENT_CHILDREN=0 (which performs system and
// popen itself) can be compared with a run without the agent.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_int(int sig) { (void)sig; }

static void show_status(const char* what, int status) {
  if (status == -1) printf("%s: -1 errno=%s\n", what, strerror(errno));
  else if (WIFEXITED(status)) printf("%s: exit %d\n", what, WEXITSTATUS(status));
  else if (WIFSIGNALED(status)) printf("%s: signal %d\n", what, WTERMSIG(status));
  else printf("%s: status %d\n", what, status);
  fflush(stdout);
}

int main(void) {
  signal(SIGINT, on_int);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigprocmask(SIG_BLOCK, &block, NULL);

  show_status("system exit 3", system("exit 3"));
  printf("system NULL: %d\n", system(NULL));
  show_status("system kill TERM", system("kill -TERM $$"));
  // Dispositions and mask a child of system() starts with (ignored signals stay ignored
  // across exec, so grep shows what the shell got).
  show_status("system child signals", system("grep -E '^Sig(Blk|Ign)' /proc/self/status"));
  struct sigaction now;
  sigaction(SIGINT, NULL, &now);
  printf("SIGINT handler after system: %s\n", now.sa_handler == on_int ? "ours" : "changed");
  sigaction(SIGQUIT, NULL, &now);
  printf("SIGQUIT after system: %s\n", now.sa_handler == SIG_DFL ? "default" : "changed");
  sigset_t mask;
  sigprocmask(SIG_SETMASK, NULL, &mask);
  printf("mask after system: USR1=%d CHLD=%d\n", sigismember(&mask, SIGUSR1),
         sigismember(&mask, SIGCHLD));

  FILE* r = popen("echo from-child; exit 5", "r");
  char line[256] = "";
  if (fgets(line, sizeof line, r) == NULL) strcpy(line, "(nothing)\n");
  printf("popen r read: %s", line);
  printf("popen r fd cloexec: %d\n", (fcntl(fileno(r), F_GETFD) & FD_CLOEXEC) != 0);
  show_status("pclose r", pclose(r));

  FILE* w = popen("tr a-z A-Z", "w");
  fputs("written to child\n", w);
  fflush(w);
  show_status("pclose w", pclose(w));

  FILE* e = popen("true", "re");
  printf("popen re fd cloexec: %d\n", (fcntl(fileno(e), F_GETFD) & FD_CLOEXEC) != 0);
  show_status("pclose re", pclose(e));

  FILE* a = popen("sleep 0.2", "r");
  FILE* b = popen("ls -l /proc/self/fd | grep -c pipe", "r");  // a's pipe is not inherited
  if (fgets(line, sizeof line, b) == NULL) strcpy(line, "(nothing)\n");
  printf("pipes seen by the second popen child: %s", line);
  show_status("pclose b", pclose(b));
  show_status("pclose a", pclose(a));

  // fclose() of a popen() stream is pclose() in glibc: the child is reaped, its status returned.
  FILE* f = popen("exit 3", "r");
  show_status("fclose of popen", fclose(f));
  int left = waitpid(-1, NULL, WNOHANG);
  printf("children left after fclose: %s\n", left > 0 ? "a zombie" : "none");

  errno = 0;
  FILE* bad = popen("true", "rw");
  printf("popen rw: %s errno=%s\n", bad == NULL ? "NULL" : "stream", strerror(errno));
  errno = 0;
  bad = popen("true", "x");
  printf("popen x: %s errno=%s\n", bad == NULL ? "NULL" : "stream", strerror(errno));

  errno = 0;
  int rc = execl("/nonexistent/prog", "prog", (char*)NULL);
  printf("execl missing: %d errno=%s\n", rc, strerror(errno));
  errno = 0;
  char* argv[] = {"no-such-program-anywhere", NULL};
  rc = execvp(argv[0], argv);
  printf("execvp missing: %d errno=%s\n", rc, strerror(errno));
  errno = 0;
  rc = execle("/nonexistent", "x", (char*)NULL, (char*[]){"A=1", NULL});
  printf("execle missing: %d errno=%s\n", rc, strerror(errno));
  printf("done\n");
  return 0;
}
