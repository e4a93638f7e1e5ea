// C++ name demangling (abi::__cxa_demangle). Normal (dump-thread) context only: allocates.
#include "agent/profile/symbolize/demangle.h"

#include <cxxabi.h>

#include <cstdlib>
#include <cstring>

namespace profagent::symbolize {

std::string demangle(const char* name) {
  if (name == nullptr) return {};
  if (std::strncmp(name, "_Z", 2) != 0) return name;
  int status = 0;
  char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || out == nullptr) {
    std::free(out);
    return name;
  }
  std::string result(out);
  std::free(out);
  return result;
}

}  // namespace profagent::symbolize
