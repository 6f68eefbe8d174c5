// `lopper serve`: a local web page on which several models (a dense one and pruned ones) continue
// the same prompt side by side, one column each, streaming their tokens as they come, with each
// model's parameter count, weight memory and measured tokens/s.
//
// HTTP API (what the page uses; tests call it directly):
//   GET  /              the page (self-contained HTML, no external assets)
//   GET  /api/models    {"models": [{index, name, dir, params, weight_bytes, context, device,
//                       dtype}], "max_new_tokens": cap}
//   POST /api/generate  JSON body as parse_demo_request() reads it. Bad settings: 400 with
//                       {"error": message}. Otherwise a chunked stream of JSON lines (NDJSON):
//                         {"type":"queued"}                  waiting for the other models' turn
//                         {"type":"start","prompt_tokens":N}
//                         {"type":"token","id":ID,"text":T}  T: text to append (may be empty)
//                         {"type":"done","ids":[new ids],"text":whole new text,"new_tokens":N,
//                          "seconds":S,"first_token_s":F,"tokens_per_s":R,"peak_rss_bytes":B}
//                         {"type":"error","error":message}   instead of "done" if generation failed
//                       The "text" pieces concatenated equal "text" of "done" (TextStream).
// Models take turns (one generation at a time): each one's tokens/s is then measured without the
// others competing for the same cores.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lopper/model/model.h"

namespace lopper {

struct DemoServerOptions {
  std::vector<std::filesystem::path> models;  // model folders, one column each
  LoadOptions load;
  std::string host = "127.0.0.1";
  int port = 8080;                 // 0: any free port (see DemoServer::port())
  int64_t max_new_tokens = 1024;   // cap on one request
};

class DemoServer {
 public:
  // Checks that host:port is free (InputError "port N is in use (--port)" and the like, before
  // any loading), loads every model and its tokenizer (the loader's errors), then binds. Does not
  // serve yet: connections wait in the listen queue until start() or serve().
  explicit DemoServer(const DemoServerOptions& opts);
  ~DemoServer();  // stop()
  DemoServer(const DemoServer&) = delete;
  DemoServer& operator=(const DemoServer&) = delete;

  int port() const;
  std::string url() const;  // http://host:port/

  // Serves on a background thread; returns once connections are being accepted.
  void start();
  // Serves on the calling thread until stop() (from another thread or a signal handler's thread).
  void serve();
  // Stops accepting, ends generations in progress at their next token, and waits for them.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The CLI's whole job: bind, load, print the URL to stderr, serve until the process is ended.
void run_demo_server(const DemoServerOptions& opts);

}  // namespace lopper
