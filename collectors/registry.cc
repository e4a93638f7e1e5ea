// The list of every profile kind the agent knows, in file-kind order. Normal context.
#include "collectors/registry.h"

#include "collectors/cpu_collector.h"
#include "collectors/heap_collector.h"
#include "collectors/lock_collectors.h"
#include "collectors/threads_collector.h"
#include "collectors/wall_collector.h"

namespace profagent {

std::vector<std::unique_ptr<Collector>> make_all_collectors() {
  std::vector<std::unique_ptr<Collector>> all;
  all.push_back(std::make_unique<CpuCollector>());
  all.push_back(std::make_unique<HeapCollector>());
  all.push_back(std::make_unique<MutexCollector>());
  all.push_back(std::make_unique<BlockCollector>());
  all.push_back(std::make_unique<ThreadsCollector>());
  all.push_back(std::make_unique<WallCollector>());
  return all;
}

}  // namespace profagent
