// Tells whether the C library's allocator was started before main: exits 0 when the program
// break is still where the kernel put it (/proc/self/stat's start_brk, field 47), 1 when the
// heap has grown, 2 when it cannot tell. With the argument "malloc" it allocates first (the
// control: a started allocator is seen). No stdio: its buffers come from malloc.
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "malloc") == 0) {
    void* volatile p = malloc(64);
    (void)p;
  }
  char stat[4096];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 2;
  ssize_t n = read(fd, stat, sizeof stat - 1);
  close(fd);
  if (n <= 0) return 2;
  stat[n] = '\0';
  const char* p = strrchr(stat, ')');  // the command name may hold spaces
  if (p == NULL) return 2;
  int field = 2;
  for (; *p != '\0' && field < 47; ++p)
    if (*p == ' ') ++field;
  if (field != 47) return 2;
  uintptr_t start_brk = 0;
  for (; *p >= '0' && *p <= '9'; ++p) start_brk = start_brk * 10 + (uintptr_t)(*p - '0');
  if (start_brk == 0) return 2;
  return (uintptr_t)sbrk(0) == start_brk ? 0 : 1;
}
