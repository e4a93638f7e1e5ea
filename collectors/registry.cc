// The list of every profile kind the agent knows, in file-kind order: a new kind is one line
// here. Normal context.
#include "collectors/registry.h"

#include <array>

#include "collectors/locks/contention_collector.h"
#include "collectors/locks/contention_kinds.h"
#include "collectors/cpu/cpu_collector.h"
#include "collectors/cpu/cpu_kind.h"
#include "collectors/heap/heap_collector.h"
#include "collectors/heap/heap_kind.h"
#include "collectors/threads/threads_collector.h"
#include "collectors/threads/threads_kind.h"
#include "collectors/wall/wall_collector.h"
#include "collectors/wall/wall_kind.h"
#include "agent/core/code_layout.h"

namespace profagent {
namespace {

struct Entry {
  const ProfileKind* kind;
  std::unique_ptr<Collector> (*make)();
};

template <typename T>
std::unique_ptr<Collector> make() {
  return std::make_unique<T>();
}

constexpr Entry kRegistry[] = {
    {&kCpuKind, make<CpuCollector>},
    {&kHeapKind, make<HeapCollector>},
    {&kMutexKind, [] { return make_contention_collector(ContentionSide::kMutex); }},
    {&kBlockKind, [] { return make_contention_collector(ContentionSide::kBlock); }},
    {&kThreadsKind, make<ThreadsCollector>},
    {&kWallKind, make<WallCollector>},
};

constexpr size_t kKinds = sizeof kRegistry / sizeof kRegistry[0];

// Made by the compiler (no guard, nothing written at start: a guard's first read and its
// write were two page faults of every start, on a page of .bss a start touches anyway).
constexpr std::array<const ProfileKind*, kKinds> kind_list() {
  std::array<const ProfileKind*, kKinds> kinds{};
  for (size_t i = 0; i < kKinds; ++i) kinds[i] = kRegistry[i].kind;
  return kinds;
}
constinit const std::array<const ProfileKind*, kKinds> kKindList = kind_list();

}  // namespace

PROFAGENT_START_PATH
std::span<const ProfileKind* const> all_kinds() {
  return {kKindList.data(), kKinds};
}

const ProfileKind* find_kind(std::string_view name) {
  for (const ProfileKind* k : all_kinds())
    if (name == k->name) return k;
  return nullptr;
}

PROFAGENT_START_PATH
std::vector<std::unique_ptr<Collector>> make_all_collectors() {
  std::vector<std::unique_ptr<Collector>> all;
  for (const Entry& e : kRegistry) all.push_back(e.make());
  return all;
}

}  // namespace profagent
