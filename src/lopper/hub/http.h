// HTTP GET over libcurl, as the hub client needs it: redirects followed (to the CDN that serves LFS
// files), the token sent only to the host it was meant for, timeouts on connecting and on stalls so
// that nothing hangs, and the body streamed to a sink so that weights never sit in memory.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace lopper::hub {

struct HttpGet {
  std::string url;
  std::string token;       // "Authorization: Bearer <token>" when not empty
  int64_t range_from = 0;  // > 0: "Range: bytes=<range_from>-" (resuming a partial download)
  long connect_timeout_s = 10;
  long stall_timeout_s = 10;  // abort when no byte arrives for this long
};

struct HttpResponse {
  long status = 0;                             // of the last response, after redirects (0: none came)
  std::map<std::string, std::string> headers;  // its headers, names in lowercase
  std::string body;                            // the body when no sink took it (at most 64 KiB kept)
  std::string error;                           // why the transfer failed; empty when it completed
  bool retryable = false;                      // the failure broke a transfer that may be resumed
  std::string header(const std::string& lowercase_name) const;
};

// Receives each piece of a 2xx body; `head` has the status and headers by then. May throw: the
// transfer is aborted and the exception comes out of http_get.
using BodySink = std::function<void(const HttpResponse& head, const char* data, size_t size)>;

// Performs the GET; HTTP error statuses are not exceptions (the caller words them), and neither are
// transport failures (see `error`).
HttpResponse http_get(const HttpGet& req, const BodySink& sink = {});

}  // namespace lopper::hub
