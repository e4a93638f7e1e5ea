// libcurl through dlopen (curl_transport.h). Only the declarations of <curl/curl.h> are
// used; the library is found at run time (Debian: libcurl4 / libcurl4-openssl-dev).
#include "agent/output/push/curl_transport.h"

#include <curl/curl.h>
#include <dlfcn.h>

#include <algorithm>

namespace profagent {

struct CurlTransport::Api {
  CURLcode (*global_init)(long);
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_perform)(CURL*);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  void (*easy_reset)(CURL*);
  const char* (*easy_strerror)(CURLcode);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
};

namespace {

template <typename T>
bool resolve(void* lib, const char* name, T* fn) {
  *fn = reinterpret_cast<T>(dlsym(lib, name));
  return *fn != nullptr;
}

// Keeps the start of the server's answer for the log line. Called by libcurl (C frames:
// nothing may be thrown through them, agent/core/contained.h), so out of memory keeps less.
size_t keep_answer(char* data, size_t size, size_t n, void* user) noexcept {
  auto* answer = static_cast<std::string*>(user);
  size_t bytes = size * n;
  try {
    if (answer->size() < 200) answer->append(data, std::min(bytes, 200 - answer->size()));
  } catch (...) {
  }
  return bytes;
}

}  // namespace

bool CurlTransport::load(std::string* why) {
  if (api_ != nullptr) return true;
  void* lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* e = dlerror();
    *why = std::string("cannot load libcurl.so.4 (install libcurl4): ") + (e ? e : "?");
    return false;
  }
  auto* api = new Api{};
  bool ok = resolve(lib, "curl_global_init", &api->global_init) &&
            resolve(lib, "curl_easy_init", &api->easy_init) &&
            resolve(lib, "curl_easy_setopt", &api->easy_setopt) &&
            resolve(lib, "curl_easy_perform", &api->easy_perform) &&
            resolve(lib, "curl_easy_getinfo", &api->easy_getinfo) &&
            resolve(lib, "curl_easy_reset", &api->easy_reset) &&
            resolve(lib, "curl_easy_strerror", &api->easy_strerror) &&
            resolve(lib, "curl_slist_append", &api->slist_append) &&
            resolve(lib, "curl_slist_free_all", &api->slist_free_all);
  if (!ok) {
    *why = "libcurl.so.4 lacks a needed function";
    delete api;
    return false;
  }
  // OpenSSL 3 registers an atexit cleanup on first use unless told not to; with it, a
  // program's exit could free TLS state while this thread is mid-request.
  int (*openssl_init)(uint64_t, const void*) = nullptr;
  if (resolve(lib, "OPENSSL_init_crypto", &openssl_init)) openssl_init(0x00080000L, nullptr);
  if (api->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    *why = "curl_global_init failed";
    delete api;
    return false;
  }
  easy_ = api->easy_init();
  if (easy_ == nullptr) {
    *why = "curl_easy_init failed";
    delete api;
    return false;
  }
  api_ = api;
  return true;
}

PostResult CurlTransport::post(const IngestRequest& request, long timeout_ms,
                               long connect_timeout_ms) {
  PostResult result;
  CURL* easy = static_cast<CURL*>(easy_);
  api_->easy_reset(easy);
  curl_slist* headers = nullptr;
  headers = api_->slist_append(headers, ("Content-Type: " + request.content_type).c_str());
  headers = api_->slist_append(headers, "Expect:");  // no 100-continue round trip
  std::string answer;
  char error[CURL_ERROR_SIZE] = {0};
  api_->easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  api_->easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  api_->easy_setopt(easy, CURLOPT_POST, 1L);
  api_->easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
  api_->easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                    static_cast<curl_off_t>(request.body.size()));
  api_->easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  api_->easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
  api_->easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
  api_->easy_setopt(easy, CURLOPT_USERAGENT, "profagent/0.1");
  api_->easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep_answer);
  api_->easy_setopt(easy, CURLOPT_WRITEDATA, &answer);
  api_->easy_setopt(easy, CURLOPT_ERRORBUFFER, error);
  api_->easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  if (!request.user.empty() || !request.password.empty()) {  // basic auth, kept out of the URL
    api_->easy_setopt(easy, CURLOPT_USERNAME, request.user.c_str());
    api_->easy_setopt(easy, CURLOPT_PASSWORD, request.password.c_str());
  }
  CURLcode rc = api_->easy_perform(easy);
  if (rc != CURLE_OK) {
    result.error = error[0] != '\0' ? error : api_->easy_strerror(rc);
  } else {
    long status = 0;
    api_->easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    result.status = static_cast<int>(status);
    if (status < 200 || status >= 300)
      result.error = "HTTP " + std::to_string(status) + (answer.empty() ? "" : ": " + answer);
  }
  api_->easy_setopt(easy, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));
  api_->easy_setopt(easy, CURLOPT_ERRORBUFFER, static_cast<char*>(nullptr));
  api_->easy_setopt(easy, CURLOPT_WRITEDATA, static_cast<void*>(nullptr));
  api_->slist_free_all(headers);
  return result;
}

}  // namespace profagent
