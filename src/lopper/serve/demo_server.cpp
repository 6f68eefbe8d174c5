#include "lopper/serve/demo_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "lopper/eval/generate.h"
#include "lopper/model/device.h"
#include "lopper/model/weights.h"
#include "lopper/serve/demo_page.h"
#include "lopper/serve/demo_request.h"
#include "lopper/serve/listen_check.h"
#include "lopper/serve/text_stream.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Text that reaches a client is always valid UTF-8 (bad bytes in a message become U+FFFD).
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void reply_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(dump({{"error", message}}) + "\n", "application/json; charset=utf-8");
}

struct ServedModel {
  Model model;
  Tokenizer tok;
  json info;  // what /api/models lists
};

int64_t weight_bytes(const Model& m) {
  int64_t total = 0;
  for_each_tensor(m.config, [&](const TensorSpec& spec) {
    const at::Tensor& t = tensor_slot(m.weights, spec);
    if (t.defined()) total += static_cast<int64_t>(t.nbytes());
  });
  return total;
}

std::unique_ptr<ServedModel> load_served(const fs::path& dir, const LoadOptions& load, size_t index) {
  Model model = Model::load(dir, load);
  check(fs::exists(dir / "tokenizer.json"), "{}: `lopper serve` needs the model's tokenizer.json", dir.string());
  Tokenizer tok = Tokenizer::from_dir(dir);
  fs::path p = dir.lexically_normal();
  if (p.filename().empty()) p = p.parent_path();  // "models/pruned/" names "pruned"
  json info = {{"index", index},
               {"name", p.filename().string()},
               {"dir", dir.string()},
               {"params", count_params(model.config).total},
               {"weight_bytes", weight_bytes(model)},
               {"context", model.config.max_position_embeddings},
               {"device", model.device.str()},
               {"dtype", dtype_name(model.dtype)}};
  return std::make_unique<ServedModel>(ServedModel{std::move(model), std::move(tok), std::move(info)});
}

}  // namespace

struct DemoServer::Impl {
  DemoServerOptions opts;
  std::vector<std::unique_ptr<ServedModel>> models;
  httplib::Server http;
  int port = 0;
  std::mutex turn;                 // one generation at a time (honest tokens/s)
  std::atomic<bool> stopping{false};
  std::atomic<bool> listened{false};  // start() or serve() ran (httplib closes the socket at stop())
  std::atomic<bool> finished{false};  // ... and has returned
  std::thread thread;

  void listen() {
    http.listen_after_bind();
    finished = true;
  }

  DemoLimits limits() const { return {models.size(), opts.max_new_tokens, 100000}; }
  void routes();
  void generate_route(const httplib::Request& req, httplib::Response& res);
  bool stream(const DemoRequest& r, const std::vector<int64_t>& prompt, httplib::DataSink& sink);
};

void DemoServer::Impl::routes() {
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(demo_page_html()), "text/html; charset=utf-8");
  });
  http.Get("/api/models", [this](const httplib::Request&, httplib::Response& res) {
    json list = json::array();
    for (const auto& m : models) list.push_back(m->info);
    res.set_content(dump({{"models", list}, {"max_new_tokens", opts.max_new_tokens}}), "application/json");
  });
  http.Post("/api/generate", [this](const httplib::Request& req, httplib::Response& res) {
    try {
      generate_route(req, res);
    } catch (const std::exception& e) {
      reply_error(res, 500, e.what());
    } catch (...) {
      reply_error(res, 500, "internal error");
    }
  });
  // Unknown paths and requests httplib rejects get a message too (unless a handler set one).
  using Handled = httplib::Server::HandlerResponse;
  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.content_provider_) return Handled::Unhandled;
    std::string msg = res.status == 404 ? "no such page: " + req.path : "HTTP " + std::to_string(res.status);
    reply_error(res, res.status, msg);
    return Handled::Handled;
  }));
  // The last resort: httplib calls this for an exception escaping a handler.
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string msg = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      msg = e.what();
    } catch (...) {
    }
    reply_error(res, 500, msg);
  });
}

void DemoServer::Impl::generate_route(const httplib::Request& req, httplib::Response& res) {
  DemoRequest r;
  std::vector<int64_t> prompt;
  try {
    r = parse_demo_request(req.body, limits());
    const ServedModel& m = *models[r.model];
    for (int32_t id : m.tok.encode(r.prompt)) prompt.push_back(id);
    const int64_t context = m.model.config.max_position_embeddings;
    if (static_cast<int64_t>(prompt.size()) + r.gen.max_new_tokens > context)
      fail("prompt: {} tokens plus {} new tokens exceed {}'s context of {} tokens (shorten the prompt or lower "
           "max new tokens)", prompt.size(), r.gen.max_new_tokens, m.info["name"].get<std::string>(), context);
  } catch (const InputError& e) {
    reply_error(res, 400, e.what());
    return;
  }
  res.set_header("Cache-Control", "no-store");
  res.set_chunked_content_provider("application/x-ndjson; charset=utf-8",
                                   [this, r, prompt](size_t, httplib::DataSink& sink) {
                                     return stream(r, prompt, sink);
                                   });
}

// Runs the whole generation inside httplib's first call of the content provider. Returns false
// (httplib then drops the connection) when the client has gone away.
bool DemoServer::Impl::stream(const DemoRequest& r, const std::vector<int64_t>& prompt, httplib::DataSink& sink) {
  auto send = [&](const json& j) {
    std::string line = dump(j) + "\n";
    return sink.write(line.data(), line.size());
  };
  try {
    if (!send({{"type", "queued"}})) return false;
    std::lock_guard<std::mutex> my_turn(turn);
    if (stopping) {
      send({{"type", "error"}, {"error", "the server is shutting down"}});
      sink.done();
      return true;
    }
    if (!send({{"type", "start"}, {"prompt_tokens", prompt.size()}})) return false;
    const ServedModel& m = *models[r.model];
    TextStream text(m.tok);
    bool client_gone = false;
    double first_token_s = 0;
    GenerateOptions gen = r.gen;
    const auto t0 = Clock::now();
    gen.on_token = [&](int64_t id) {
      if (text.ids().empty()) first_token_s = std::chrono::duration<double>(Clock::now() - t0).count();
      std::string piece = text.push(id);
      if (!send({{"type", "token"}, {"id", id}, {"text", piece}})) {
        client_gone = true;
        return false;
      }
      return !stopping.load();
    };
    std::vector<int64_t> ids = generate(m.model, prompt, gen);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (client_gone) return false;
    text.finish();
    const size_t n = ids.size() - prompt.size();
    send({{"type", "done"},
          {"ids", std::vector<int64_t>(ids.begin() + static_cast<std::ptrdiff_t>(prompt.size()), ids.end())},
          {"text", text.text()},
          {"new_tokens", n},
          {"seconds", seconds},
          {"first_token_s", first_token_s},
          {"tokens_per_s", seconds > 0 ? static_cast<double>(n) / seconds : 0.0},
          {"peak_rss_bytes", peak_memory_bytes(c10::Device(c10::kCPU))},
          {"stopped", stopping.load()}});
    sink.done();
    return true;
  } catch (const std::exception& e) {
    send({{"type", "error"}, {"error", e.what()}});
  } catch (...) {
    send({{"type", "error"}, {"error", "internal error"}});
  }
  sink.done();
  return true;
}

DemoServer::DemoServer(const DemoServerOptions& opts) : impl_(std::make_unique<Impl>()) {
  check(!opts.models.empty(), "serve: give at least one --model");
  check(opts.port >= 0 && opts.port <= 65535, "port {} is not a TCP port (0 to 65535; --port)", opts.port);
  check(opts.max_new_tokens >= 1, "serve: the cap on new tokens must be at least 1");
  impl_->opts = opts;
  if (opts.port != 0) check_can_listen(opts.host, opts.port);
  for (size_t i = 0; i < opts.models.size(); ++i)
    impl_->models.push_back(load_served(opts.models[i], opts.load, i));
  auto& http = impl_->http;
  // httplib's default sets SO_REUSEPORT, with which a second server could share a busy port
  // silently; SO_REUSEADDR alone only allows reuse of a port in TIME_WAIT.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http.set_payload_max_length(1 << 20);
  http.set_keep_alive_timeout(1);  // stop() waits for idle keep-alive connections this long
  impl_->routes();
  impl_->port = opts.port == 0                           ? http.bind_to_any_port(opts.host)
                 : http.bind_to_port(opts.host, opts.port) ? opts.port
                                                           : -1;
  if (impl_->port < 0) {
    check_can_listen(opts.host, opts.port);  // the reason, if it is still there
    fail("cannot listen on {}:{} (--host / --port)", opts.host, opts.port);
  }
}

DemoServer::~DemoServer() { stop(); }

int DemoServer::port() const { return impl_->port; }

std::string DemoServer::url() const {
  const std::string& h = impl_->opts.host;
  std::string shown = h == "0.0.0.0" || h.empty() ? "127.0.0.1" : h.find(':') != std::string::npos ? "[" + h + "]" : h;
  return "http://" + shown + ":" + std::to_string(impl_->port) + "/";
}

void DemoServer::start() {
  check(!impl_->listened.exchange(true), "serve: the server was already started");
  impl_->thread = std::thread([this] { impl_->listen(); });
  // httplib's stop() only acts once the accept loop runs.
  while (!impl_->http.is_running() && !impl_->finished)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void DemoServer::serve() {
  check(!impl_->listened.exchange(true), "serve: the server was already started");
  impl_->listen();
}

void DemoServer::stop() {
  if (impl_->stopping.exchange(true)) {
    if (impl_->thread.joinable()) impl_->thread.join();
    return;
  }
  // A bound server that never served still holds its socket, and httplib closes it only from a
  // running accept loop: run one briefly.
  if (!impl_->listened) start();
  while (!impl_->http.is_running() && !impl_->finished) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // Once only: httplib asserts that its socket is still open.
  if (!impl_->finished) impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void run_demo_server(const DemoServerOptions& opts) {
  DemoServer server(opts);
  std::fprintf(stderr, "lopper serve: %zu model%s loaded; open %s (Ctrl-C to stop)\n", opts.models.size(),
               opts.models.size() == 1 ? "" : "s", server.url().c_str());
  std::fflush(stderr);
  server.serve();
}

}  // namespace lopper
