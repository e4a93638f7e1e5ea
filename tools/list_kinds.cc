// profagent-kinds: prints every profile kind the agent is built with, one line each, from
// the descriptors (agent/core/profile_kind.h), so scripts read the kinds instead of naming them:
//   <name> <window> <wrapper option> <environment variable> <enable hint>
// window is since-last-dump, since-start or snapshot. Built next to libprofagent.so.
#include <cstdio>

#include "collectors/registry.h"

int main() {
  using profagent::ProfileWindow;
  for (const profagent::ProfileKind* k : profagent::all_kinds()) {
    const char* window = k->window == ProfileWindow::kSinceLastDump ? "since-last-dump"
                         : k->window == ProfileWindow::kSinceStart  ? "since-start"
                                                                    : "snapshot";
    std::printf("%s %s %s %s %s\n", k->name, window, k->wrapper_option, k->setting.env,
                k->enable_hint);
  }
  return 0;
}
