// C++ name demangling (abi::__cxa_demangle). Normal (dump-thread) context only: allocates.
#pragma once

#include <string>

namespace profagent::symbolize {

// The demangled form of an Itanium-mangled name ("_Z..."); any other name, or one the
// demangler rejects, is returned unchanged.
std::string demangle(const char* name);

}  // namespace profagent::symbolize
