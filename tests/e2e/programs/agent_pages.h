// e2e library (agent_pages.c): the windows of libprofagent.so's code and the pages of its data
// present in this process's page table.
#pragma once

#define AGENT_PAGES_API __attribute__((visibility("default")))

// The 64 KiB windows of the agent's code with a page present, or -1.
AGENT_PAGES_API int agent_code_windows(void);
// The pages of the agent's writable segments (relocated data, .data, .bss and the rest of its
// zero-filled memory) present, or -1.
AGENT_PAGES_API int agent_data_pages(void);
// Writes "<what> <count>\n" to stdout with one system call (exit status 2 if it cannot).
AGENT_PAGES_API void agent_pages_report(const char* what, int count);
// Prints "data N" at exit, after the agent's own exit work.
AGENT_PAGES_API void agent_data_pages_at_exit(void);
