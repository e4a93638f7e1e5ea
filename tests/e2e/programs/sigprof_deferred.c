// e2e program: the program's own SIGPROF while the program blocks it. (1) The classic
// race-free wait: block SIGPROF, have another thread send it, then sigsuspend with the old
// mask until the handler ran. (2) Block, send SIGPROF to itself (pending), unblock with
// pthread_sigmask: the handler runs at once, and the mask then reads as unblocked. Prints "suspend ok unblock ok"
// and exits 0; an alarm after 10 s reports a hang (exit 3).
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_handled;

static void on_prof(int sig) {
  (void)sig;
  g_handled++;
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "hang: the program's SIGPROF never reached its handler\n";
  write(2, msg, sizeof msg - 1);
  _exit(3);
}

static pthread_t g_main;

static void* send_later(void* arg) {
  (void)arg;
  usleep(50000);
  pthread_kill(g_main, SIGPROF);
  return NULL;
}

int main(void) {
  signal(SIGALRM, on_alarm);
  alarm(10);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_prof;
  sigaction(SIGPROF, &sa, NULL);
  sigset_t prof, orig;
  sigemptyset(&prof);
  sigaddset(&prof, SIGPROF);

  // (1) sigsuspend with the pre-block mask.
  g_main = pthread_self();
  pthread_sigmask(SIG_BLOCK, &prof, &orig);
  pthread_t sender;
  pthread_create(&sender, NULL, send_later, NULL);
  while (!g_handled) sigsuspend(&orig);
  pthread_join(sender, NULL);
  pthread_sigmask(SIG_SETMASK, &orig, NULL);
  printf("suspend ok ");

  // (2) pending while blocked, then unblocked.
  g_handled = 0;
  pthread_sigmask(SIG_BLOCK, &prof, NULL);
  pthread_kill(pthread_self(), SIGPROF);
  sigset_t pending;
  sigpending(&pending);
  if (!sigismember(&pending, SIGPROF)) {
    printf("not pending while blocked\n");
    return 1;
  }
  if (g_handled) {
    printf("handler ran while blocked\n");
    return 1;
  }
  pthread_sigmask(SIG_UNBLOCK, &prof, NULL);
  if (!g_handled) {
    printf("not delivered at unblock\n");
    return 1;
  }
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, NULL, &now);
  if (sigismember(&now, SIGPROF)) {
    printf("mask still shows SIGPROF blocked\n");
    return 1;
  }
  printf("unblock ok\n");
  return 0;
}
