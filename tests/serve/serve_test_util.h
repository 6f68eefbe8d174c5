// Helpers of the `lopper serve` tests: ports, the NDJSON stream, a pruned model to serve.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli_run.h"
#include "lopper/eval/generate.h"
#include "lopper/model/model.h"
#include "lopper/tokenizer/tokenizer.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper::test {

// A socket listening on 127.0.0.1 at a port the kernel picked; holding it makes that port busy.
class ListeningSocket {
 public:
  ListeningSocket() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(fd_, 4) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("cannot open a listening socket for the test");
    port_ = ntohs(a.sin_port);
  }
  ~ListeningSocket() { close(fd_); }
  ListeningSocket(const ListeningSocket&) = delete;
  ListeningSocket& operator=(const ListeningSocket&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A port that was free a moment ago (for programs that must be told a port, like chromedriver).
inline int free_port() { return ListeningSocket().port(); }

// The lines of a /api/generate stream.
inline std::vector<nlohmann::json> stream_events(const std::string& body) {
  std::vector<nlohmann::json> out;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

// The bundled model with one decoder block removed (shortgpt), in `dir`/stories260k-pruned.
inline std::filesystem::path pruned_stories(const std::filesystem::path& dir) {
  auto out = dir / "stories260k-pruned";
  auto r = run("prune --model " + bundled_model().string() +
               " --method shortgpt --remove 1 --calib tinystories --nsamples 4 --seqlen 64 --eval-ppl none --out " +
               out.string());
  if (r.code != 0) throw std::runtime_error("lopper prune failed: " + r.out);
  return out;
}

// What `lopper generate` gives for this prompt text: the new ids and their text.
struct Expected {
  std::vector<int64_t> ids;
  std::string text;
};
inline Expected expected_generation(const std::filesystem::path& model_dir, const std::string& prompt,
                                    const GenerateOptions& opts) {
  auto model = Model::load(model_dir);
  auto tok = Tokenizer::from_dir(model_dir);
  std::vector<int64_t> ids;
  for (int32_t id : tok.encode(prompt)) ids.push_back(id);
  const size_t n = ids.size();
  ids = generate(model, ids, opts);
  Expected e;
  e.ids.assign(ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end());
  std::vector<int32_t> ids32(e.ids.begin(), e.ids.end());
  e.text = tok.decode(ids32, true);
  return e;
}

}  // namespace lopper::test
