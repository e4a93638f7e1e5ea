// A small shared library the dlopen storm loads and unloads over and over.
__attribute__((noinline, visibility("default"))) unsigned long plugin_work(unsigned long n) {
  unsigned long x = 0;
  for (unsigned long i = 0; i < n; ++i) x += i * 2654435761UL;
  return x;
}
