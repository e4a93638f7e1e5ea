// A daemon's start: (after argv[2] ms, if given) closes descriptors 3..1023, reopens its
// log (argv[1]), writes one line,
// sleeps 1 s and reports the process CPU time spent meanwhile ("idle_cpu_us N"), then says
// "ready" and sleeps 1.5 s more (the test sends the dump signal then), and writes a last
// line to its log.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static long long cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec +
         ru.ru_stime.tv_usec;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

int main(int argc, char** argv) {
  if (argc > 2) sleep_ms(atoi(argv[2]));  // let the agent's threads settle first
  for (int fd = 3; fd < 1024; ++fd) close(fd);
  int log = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  const char first[] = "daemon started\n";
  write(log, first, strlen(first));
  long long before = cpu_us();
  sleep_ms(1000);
  printf("idle_cpu_us %lld\nready\n", cpu_us() - before);
  fflush(stdout);
  sleep_ms(1500);
  const char last[] = "daemon stopping\n";
  write(log, last, strlen(last));
  return 0;
}
