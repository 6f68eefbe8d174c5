// `lopper serve` in process on a free port: the page, the model list, streamed generation equal to
// lopper::generate() token for token, 400s with messages for bad settings, and a server that keeps
// serving after bad, malformed and abandoned requests.
#include <gtest/gtest.h>
#include <httplib.h>

#include "lopper/model/weights.h"
#include "lopper/serve/demo_server.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"
#include "serve/serve_test_util.h"

namespace lopper {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// One server (the bundled model and a pruned copy) for the whole suite: loading is the slow part.
class DemoServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(test::temp_dir("serve"));
    pruned_ = new fs::path(test::pruned_stories(*dir_));
    DemoServerOptions o;
    o.models = {test::bundled_model(), *pruned_};
    o.port = 0;
    o.max_new_tokens = 256;
    server_ = new DemoServer(o);
    server_->start();
  }
  static void TearDownTestSuite() {
    delete server_;
    remove_tree(*dir_);
    delete pruned_;
    delete dir_;
  }
  static httplib::Client client() {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(60, 0);
    return c;
  }
  static httplib::Result post(const json& body) {
    return client().Post("/api/generate", body.dump(), "application/json");
  }
  static fs::path* dir_;
  static fs::path* pruned_;
  static DemoServer* server_;
};
fs::path* DemoServerTest::dir_ = nullptr;
fs::path* DemoServerTest::pruned_ = nullptr;
DemoServer* DemoServerTest::server_ = nullptr;

TEST_F(DemoServerTest, ServesThePageAndTheModels) {
  auto page = client().Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("<textarea id=\"prompt\""), std::string::npos);
  EXPECT_EQ(page->body.find("http"), std::string::npos) << "the page must not load anything from elsewhere";
  auto list = client().Get("/api/models");
  ASSERT_TRUE(list);
  auto j = json::parse(list->body);
  ASSERT_EQ(j["models"].size(), 2u);
  EXPECT_EQ(j["models"][0]["name"], "stories260k");
  EXPECT_EQ(j["models"][1]["name"], "stories260k-pruned");
  EXPECT_EQ(j["max_new_tokens"], 256);
  auto dense = Model::load(test::bundled_model());
  EXPECT_EQ(j["models"][0]["params"], count_params(dense.config).total);
  EXPECT_EQ(j["models"][0]["weight_bytes"], 4 * count_params(dense.config).total);  // f32
  EXPECT_LT(j["models"][1]["params"], j["models"][0]["params"]);
  EXPECT_EQ(j["models"][0]["dtype"], "f32");
  EXPECT_EQ(j["models"][0]["context"], 512);
}

// Checks one stream's events and returns them.
std::vector<json> check_stream(const httplib::Result& res) {
  EXPECT_TRUE(res);
  if (!res) return {};
  EXPECT_EQ(res->status, 200) << res->body;
  auto ev = test::stream_events(res->body);
  EXPECT_GE(ev.size(), 3u);
  if (ev.size() < 3) return ev;
  EXPECT_EQ(ev.front()["type"], "queued");
  EXPECT_EQ(ev[1]["type"], "start");
  EXPECT_EQ(ev.back()["type"], "done") << ev.back().dump();
  return ev;
}

TEST_F(DemoServerTest, StreamsWhatGenerateGives) {
  const std::string prompt = "Once upon a time, there was a little";
  GenerateOptions greedy;
  greedy.max_new_tokens = 40;
  greedy.greedy = true;
  GenerateOptions sampled;
  sampled.max_new_tokens = 40;
  sampled.temperature = 0.8;
  sampled.top_k = 40;
  sampled.top_p = 0.9;
  sampled.seed = 7;
  for (int m = 0; m < 2; ++m) {
    const fs::path dir = m == 0 ? test::bundled_model() : *pruned_;
    for (const auto* o : {&greedy, &sampled}) {
      SCOPED_TRACE(dir.string() + (o->greedy ? " greedy" : " sampled"));
      auto want = test::expected_generation(dir, prompt, *o);
      auto ev = check_stream(post({{"model", m}, {"prompt", prompt}, {"max_new_tokens", o->max_new_tokens},
                                   {"greedy", o->greedy}, {"temperature", std::to_string(o->temperature)},
                                   {"top_k", o->top_k}, {"top_p", std::to_string(o->top_p)},
                                   {"seed", std::to_string(o->seed)}}));
      if (ev.size() < 3) continue;
      std::vector<int64_t> ids;
      std::string text;
      for (size_t i = 2; i + 1 < ev.size(); ++i) {
        EXPECT_EQ(ev[i]["type"], "token");
        ids.push_back(ev[i]["id"].get<int64_t>());
        text += ev[i]["text"].get<std::string>();
      }
      const json& done = ev.back();
      EXPECT_EQ(ids, want.ids);
      EXPECT_EQ(done["ids"].get<std::vector<int64_t>>(), want.ids);
      EXPECT_EQ(done["text"], want.text);
      EXPECT_EQ(text, want.text) << "the streamed pieces must add up to the decode of all new ids";
      EXPECT_EQ(done["new_tokens"], want.ids.size());
      EXPECT_GT(done["tokens_per_s"].get<double>(), 0);
      EXPECT_GT(done["peak_rss_bytes"].get<int64_t>(), 0);
      EXPECT_FALSE(done["text"].get<std::string>().empty());
    }
  }
}

TEST_F(DemoServerTest, BadSettingsAre400WithAMessage) {
  const json ok = {{"model", 0}, {"prompt", "Once"}, {"max_new_tokens", "8"}, {"greedy", true}};
  auto with = [&](const char* key, json value) {
    json j = ok;
    j[key] = value;
    return j.dump();
  };
  std::string long_prompt;
  for (int i = 0; i < 300; ++i) long_prompt += "Once upon a time. ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {with("max_new_tokens", -5), "max new tokens: -5 is out of range (1 to 256)"},
      {with("max_new_tokens", "100000"), "max new tokens: 100000 is out of range"},
      {with("max_new_tokens", "ten"), "max new tokens: \"ten\" is not a whole number"},
      {with("temperature", "-1"), "temperature: -1 is out of range"},
      {with("top_p", "0"), "top-p: 0 is outside (0, 1]"},
      {with("top_p", "1.01"), "top-p: 1.01 is outside (0, 1]"},
      {with("top_k", "x"), "top-k: \"x\" is not a whole number"},
      {with("prompt", ""), "prompt: the prompt is empty"},
      {with("model", 2), "model: there is no model 2"},
      {with("prompt", long_prompt), "exceed stories260k's context of 512 tokens"},
      {"{not json", "not a JSON object"},
  };
  for (const auto& [body, message] : cases) {
    auto res = client().Post("/api/generate", body, "application/json");
    ASSERT_TRUE(res) << body;
    EXPECT_EQ(res->status, 400) << body;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json; charset=utf-8");
    auto j = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << res->body;
    EXPECT_NE(j["error"].get<std::string>().find(message), std::string::npos) << j["error"] << " vs " << message;
  }
  check_stream(post(ok));  // still serving
}

TEST_F(DemoServerTest, SurvivesMalformedUnknownAndAbandonedRequests) {
  auto missing = client().Get("/no/such/page");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("no such page: /no/such/page"), std::string::npos) << missing->body;
  auto wrong_method = client().Get("/api/generate");
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 404);

  // Raw bytes: a broken request line, a request cut short, and a stream the client leaves after
  // its first line (the generation must stop and let the next request have its turn).
  auto raw = [&](const std::string& bytes, bool read_one = false) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(server_->port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
    char buf[256];
    if (read_one) EXPECT_GT(recv(fd, buf, sizeof(buf), 0), 0);
    close(fd);
  };
  raw("\x01\x02 garbage \xff\r\n\r\n");
  raw("POST /api/generate HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{\"model\":");
  const std::string body = R"({"model":0,"prompt":"Once upon a time","max_new_tokens":250,"greedy":true})";
  raw("POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body,
      true);
  check_stream(post({{"model", 1}, {"prompt", "Once"}, {"max_new_tokens", 4}}));
  auto page = client().Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
}

TEST(DemoServer, BusyPortIsOneLineBeforeLoading) {
  test::ListeningSocket busy;
  DemoServerOptions o;
  o.models = {"/nonexistent/model/folder"};  // not loaded: the port is checked first
  o.port = busy.port();
  try {
    DemoServer s(o);
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "port " + std::to_string(busy.port()) + " is in use (--port)");
  }
}

TEST(DemoServer, StopsWithoutEverServing) {
  DemoServerOptions o;
  o.models = {test::bundled_model()};
  o.port = 0;
  int port = 0;
  {
    DemoServer s(o);
    port = s.port();
    EXPECT_GT(port, 0);
  }
  // The socket is closed: the port can be listened on again.
  o.port = port;
  DemoServer again(o);
  again.start();
  auto res = httplib::Client("127.0.0.1", port).Get("/api/models");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

}  // namespace
}  // namespace lopper
