// The push thread and its queue (pusher.h). Everything it owns is allocated once and never
// freed: the thread may still be mid-request while the program exits.
#include "agent/output/push/pusher.h"

#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <map>
#include <mutex>

#include "agent/runtime/agent_thread.h"
#include "agent/runtime/private_files.h"
#include "agent/core/contained.h"
#include "agent/core/clock.h"
#include "agent/core/fork_gate.h"
#include "agent/core/log.h"
#include "agent/profile/pprof/profile_builder.h"
#include "agent/output/push/curl_transport.h"
#include "agent/profile/pprof/profile_delta.h"
#include "agent/output/push/ingest_request.h"
#include "agent/core/push_labels.h"
#include "agent/output/push/push_queue.h"
#include "agent/output/push/sample_type_config.h"
#include "collectors/common/self_stats.h"
#include "agent/core/code_layout.h"

namespace profagent {
namespace {

constexpr size_t kMaxQueuedProfiles = 32;
constexpr size_t kMaxQueuedBytes = size_t{16} << 20;
constexpr long kRequestTimeoutMs = 10000;
constexpr long kConnectTimeoutMs = 3000;
constexpr int64_t kExitFlushNanos = 1000000000;
constexpr int64_t kHangingNanos = 250000000;

struct PushState {
  // Set once at start.
  std::string base_url;  // without user and password: safe to log and to show in comments
  std::string user, password;  // only for the request's Authorization header
  std::string name;  // app{k=v,...}

  // Guarded by mutex.
  std::mutex mutex;
  std::condition_variable cv;  // work queued, or an item finished
  PushQueue queue{kMaxQueuedProfiles, kMaxQueuedBytes};
  std::map<std::string, int64_t> last_until;  // per kind: the previous dump's time
  bool thread_started = false;
  bool disabled = false;
  bool in_flight = false;
  int64_t in_flight_since = 0;
  bool last_attempt_failed = false;
  bool warned_drop = false;
  uint64_t sent = 0, failed = 0;

  // Push thread only.
  CurlTransport transport;
  // Per kind: the cumulative profile the backend last accepted (deltas start from it).
  std::map<std::string, ProfileBuilder> baselines;
  uint64_t seed = 0;
  bool failing = false;
};

std::atomic<PushState*> g_push{nullptr};

int64_t floor_seconds(int64_t ns) { return ns / 1000000000; }
int64_t ceil_seconds(int64_t ns) { return (ns + 999999999) / 1000000000; }

void sleep_nanos(int64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

std::string push_comment() {
  PushState* s = g_push.load();
  if (s == nullptr) return "";
  std::lock_guard<std::mutex> lock(s->mutex);
  return "profagent push: sent=" + std::to_string(s->sent) +
         " failed=" + std::to_string(s->failed) +
         " dropped=" + std::to_string(s->queue.dropped()) +
         " queued=" + std::to_string(s->queue.size()) + " to " + s->base_url;
}

// Sends one item (with retries). Returns true if the server accepted it.
void send_item(PushState& s, PushItem& item) {
  RetryPolicy policy;
  std::string gzipped = std::move(item.gzipped);
  int64_t from = item.from_unix_nanos;
  // For a cumulative kind: the baseline to keep once the backend has this profile.
  std::optional<ProfileBuilder> accepted;
  if (item.cumulative) {
    SymbolizedProfile& current = *item.cumulative;
    auto base = s.baselines.find(item.kind->name);
    ProfileBuilder since_start(current.builder.shape());
    since_start.set_time(self_stats_start_unix_nanos());
    std::optional<ProfileBuilder> delta = profile_delta(
        base != s.baselines.end() ? base->second : since_start, current.builder);
    if (!delta) {
      log_debug("push: the {} profile changed its sample types; not pushed", item.kind->name);
      s.baselines.erase(item.kind->name);
      std::lock_guard<std::mutex> lock(s.mutex);
      ++s.failed;
      return;
    }
    // The delta's window: from the accepted baseline, or from the agent's start.
    if (delta->time_nanos() > 0 && delta->duration_nanos() > 0) from = delta->time_nanos();
    accepted = std::move(current.builder);
    current.replace_samples(std::move(*delta));
    gzipped = gzip_compress(current.encode(), 1);
    item.cumulative.reset();
  }
  IngestRequest request = build_ingest_request(
      s.base_url, s.name, floor_seconds(from), ceil_seconds(item.until_unix_nanos), gzipped,
      sample_type_config_json(*item.kind), ++s.seed ^ static_cast<uint64_t>(monotonic_nanos()));
  request.user = s.user;
  request.password = s.password;
  PostResult result;
  for (int attempt = 1;; ++attempt) {
    result = s.transport.post(request, kRequestTimeoutMs, kConnectTimeoutMs);
    bool ok = RetryPolicy::success(result.status);
    {
      std::lock_guard<std::mutex> lock(s.mutex);
      s.last_attempt_failed = !ok;
      if (ok) ++s.sent;
    }
    if (ok) {
      if (accepted) s.baselines.insert_or_assign(item.kind->name, std::move(*accepted));
      if (s.failing) log_info("push to {} works again", s.base_url);
      s.failing = false;
      return;
    }
    if (!RetryPolicy::retryable(result.status)) {
      // The server refuses this profile: later deltas start after it, or they would carry
      // it again and be refused again.
      if (accepted) s.baselines.insert_or_assign(item.kind->name, std::move(*accepted));
      break;
    }
    int64_t wait = policy.backoff_nanos(attempt);
    if (wait == 0) break;
    sleep_nanos(wait);
  }
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    ++s.failed;
  }
  if (!s.failing)
    log().warn("push of the {} profile to {} failed ({}); the files stay on disk; later "
               "profiles will be tried (one warning until it works again)",
               item.kind->name, s.base_url, result.error);
  s.failing = true;
}

void* push_thread_main(void* arg) {
  // libcurl's sockets and the resolver's files in a file table of the thread's own: never a
  // number of the program's, never closed by it (agent/runtime/private_files.h).
  enter_private_file_table();
  PushState& s = *static_cast<PushState*>(arg);
  std::string why;
  bool loaded;
  {
    ForkGateSection gate;  // dlopen of libcurl takes the loader lock (fork_gate.h)
    loaded = s.transport.load(&why);
  }
  if (!loaded) {
    log().warn("PROFAGENT_PUSH_URL: {}; profiles are only written to files", why);
    std::lock_guard<std::mutex> lock(s.mutex);
    s.disabled = true;
    s.queue.clear();
    s.cv.notify_all();
    return nullptr;
  }
  for (;;) {
    std::optional<PushItem> item;
    {
      std::unique_lock<std::mutex> lock(s.mutex);
      s.cv.wait(lock, [&] { return s.queue.size() > 0; });
      item = s.queue.pop();
      s.in_flight = true;
      s.in_flight_since = monotonic_nanos();
    }
    int64_t cpu_start = clock_nanos(CLOCK_THREAD_CPUTIME_ID);
    run_contained("pushing a profile; this push is lost", [&] { send_item(s, *item); });
    self_add_cost(SelfCost::kPush, clock_nanos(CLOCK_THREAD_CPUTIME_ID) - cpu_start);
    std::lock_guard<std::mutex> lock(s.mutex);
    s.in_flight = false;
    s.cv.notify_all();
  }
  return nullptr;
}

PushState* make_state(const Config& config, const std::string& exe) {
  auto* s = new PushState;
  UrlCredentials split = split_url_credentials(config.push_url);
  s->base_url = split.url;
  s->user = split.user;
  s->password = split.password;
  std::string app = config.app_name.empty() ? sanitize_app_name(exe) : config.app_name;
  s->name = ingest_name(app, config.tags);
  return s;
}

// Saved by push_start for a fork child's fresh state.
Config* g_config_copy = nullptr;
std::string* g_exe_copy = nullptr;

}  // namespace

PROFAGENT_START_PATH
void push_start(const Config& config, const std::string& exe) {
  if (config.push_url.empty() || g_push.load() != nullptr) return;
  g_config_copy = new Config(config);
  g_exe_copy = new std::string(exe);
  g_push.store(make_state(config, exe));
  add_self_comment_source(push_comment);
  log_info("pushing profiles to {} as {}", g_push.load()->base_url, g_push.load()->name);
}

bool push_enabled() noexcept { return g_push.load() != nullptr; }

void push_profile(const ProfileKind& kind, std::string gzipped, int64_t until_unix_nanos,
                  SymbolizedProfile profile) {
  PushState* s = g_push.load();
  if (s == nullptr) return;
  std::lock_guard<std::mutex> lock(s->mutex);
  if (s->disabled) return;
  if (!s->thread_started) {
    pthread_t thread;
    if (int rc = create_agent_thread(&thread, push_thread_main, s, "profagent-push")) {
      if (rc == EINVAL)  // after unshare(CLONE_NEWPID): no new thread in this process
        log_info("no push thread after unshare(CLONE_NEWPID); profiles are only written to files");
      else
        log().warn("cannot start the push thread (error {}); profiles are only written to files",
                   rc);
      s->disabled = true;
      return;
    }
    pthread_detach(thread);
    s->thread_started = true;
  }
  PushItem item;
  item.kind = &kind;
  item.gzipped = std::move(gzipped);
  if (profile.builder.shape().has_cumulative())
    item.cumulative = std::make_shared<SymbolizedProfile>(std::move(profile));
  item.until_unix_nanos = until_unix_nanos;
  auto last = s->last_until.find(kind.name);
  item.from_unix_nanos =
      last != s->last_until.end() ? last->second : self_stats_start_unix_nanos();
  s->last_until[kind.name] = until_unix_nanos;
  if (s->queue.push(std::move(item)) > 0 && !s->warned_drop) {
    log().warn("the push to {} is slower than the dumps; dropping the oldest queued profiles "
               "(counted in each profile's comments; the files are on disk)",
               s->base_url);
    s->warned_drop = true;
  }
  s->cv.notify_all();
}

void push_flush_at_exit() {
  PushState* s = g_push.load();
  if (s == nullptr) return;
  std::unique_lock<std::mutex> lock(s->mutex);
  int64_t start = monotonic_nanos();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(kExitFlushNanos);
  while (!s->disabled && s->thread_started && (s->queue.size() > 0 || s->in_flight)) {
    if (s->last_attempt_failed) break;                                   // server failing
    if (s->in_flight && start - s->in_flight_since > kHangingNanos) break;  // server hanging
    if (s->cv.wait_until(lock, deadline) == std::cv_status::timeout) break;
  }
}

PROFAGENT_FORK_PATH void push_after_fork_child() noexcept {
  if (g_push.load() == nullptr || g_config_copy == nullptr) return;
  // The old state (its mutex possibly held by the parent's push thread) is left alone.
  g_push.store(make_state(*g_config_copy, *g_exe_copy));
}

}  // namespace profagent
