#include "lopper/hub/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <memory>
#include <mutex>

#include "lopper/util/error.h"

namespace lopper::hub {

namespace {

constexpr size_t kMaxKeptBody = 64 << 10;

struct Transfer {
  CURL* curl = nullptr;
  HttpResponse res;
  const BodySink* sink = nullptr;
  std::exception_ptr thrown;
};

// Header lines of every response on the way (redirects included) arrive here; a status line starts
// a new response, so only the last one's headers are kept.
size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    t->res.headers.clear();
  } else if (auto colon = line.find(':'); colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    auto value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    value.erase(value.find_last_not_of(" \t\r\n") + 1);
    t->res.headers[name] = value;
  }
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->res.status);
  const size_t len = size * n;
  if (t->sink && *t->sink && t->res.status >= 200 && t->res.status < 300) {
    try {
      (*t->sink)(t->res, data, len);
    } catch (...) {  // no exception may cross libcurl's C frames
      t->thrown = std::current_exception();
      return 0;  // aborts the transfer
    }
  } else if (t->res.body.size() < kMaxKeptBody) {
    t->res.body.append(data, std::min(len, kMaxKeptBody - t->res.body.size()));
  }
  return len;
}

// A broken connection or a stall mid-transfer: resuming with a Range request may finish the job.
bool is_retryable(CURLcode c) {
  return c == CURLE_PARTIAL_FILE || c == CURLE_RECV_ERROR || c == CURLE_SEND_ERROR ||
         c == CURLE_OPERATION_TIMEDOUT || c == CURLE_GOT_NOTHING;
}

}  // namespace

std::string HttpResponse::header(const std::string& lowercase_name) const {
  auto it = headers.find(lowercase_name);
  return it == headers.end() ? "" : it->second;
}

HttpResponse http_get(const HttpGet& req, const BodySink& sink) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });

  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw Error("libcurl: cannot create a transfer handle");
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(nullptr, curl_slist_free_all);
  auto add_header = [&](const std::string& h) { headers.reset(curl_slist_append(headers.release(), h.c_str())); };
  // libcurl sends a custom Authorization header only to the host of the first request, so the token
  // never reaches the CDN a redirect leads to (CURLOPT_UNRESTRICTED_AUTH stays off).
  if (!req.token.empty()) add_header("Authorization: Bearer " + req.token);
  // A plain header rather than CURLOPT_RANGE/RESUME_FROM: a server that ignores it and answers 200 is
  // then the caller's to handle (it restarts the file) instead of a libcurl error.
  if (req.range_from > 0) add_header("Range: bytes=" + std::to_string(req.range_from) + "-");

  Transfer t;
  t.curl = curl.get();
  t.sink = &sink;
  char errbuf[CURL_ERROR_SIZE] = "";
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "lopper/0.1.0");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85: the string forms; the bitmask ones are deprecated there
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(c, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for timeouts: safe beside other threads
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, req.connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, req.stall_timeout_s);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);

  CURLcode rc = curl_easy_perform(c);
  if (t.thrown) std::rethrow_exception(t.thrown);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t.res.status);
  if (rc != CURLE_OK) {
    t.res.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    t.res.retryable = is_retryable(rc);
  }
  return std::move(t.res);
}

}  // namespace lopper::hub
