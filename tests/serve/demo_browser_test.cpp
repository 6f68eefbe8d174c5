// The demo page in a real browser (headless Chromium driven by chromedriver over WebDriver): two
// columns, the bundled model and a pruned copy, generate greedily side by side; each column's text
// must equal lopper::generate()'s for the same settings, its status must report tokens/s, and a bad
// setting must show the server's message. Screenshots go to <build>/test-artifacts/. Skips when
// Chromium or chromedriver is not installed (scripts/install-deps.sh installs both).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "lopper/serve/demo_server.h"
#include "lopper/util/fs.h"
#include "serve/serve_test_util.h"
#include "serve/webdriver.h"

namespace lopper {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kChromium = "/usr/bin/chromium";
constexpr const char* kChromeDriver = "/usr/bin/chromedriver";

fs::path artifacts_dir() {
  // Next to the lopper binary, i.e. in the build directory.
  auto d = fs::path(LOPPER_CLI_PATH).parent_path() / "test-artifacts";
  fs::create_directories(d);
  return d;
}

void save_screenshot(test::WebDriverSession& wd, const std::string& name) {
  auto path = artifacts_dir() / name;
  std::string png = wd.screenshot_png();
  EXPECT_EQ(png.compare(0, 8, "\x89PNG\r\n\x1a\n"), 0) << "not a PNG";
  std::ofstream(path, std::ios::binary) << png;
  std::printf("screenshot: %s\n", path.c_str());
}

// Polls until no column is queued or running; returns the columns' states.
std::vector<std::string> wait_for_columns(test::WebDriverSession& wd, size_t n, Clock::time_point deadline) {
  for (;;) {
    std::vector<std::string> states;
    for (size_t i = 0; i < n; ++i)
      states.push_back(wd.attribute(wd.find("#col-" + std::to_string(i) + " .status"), "data-state"));
    bool settled = true;
    for (const auto& s : states) settled = settled && (s == "done" || s == "error");
    if (settled) return states;
    if (Clock::now() > deadline) throw std::runtime_error("the columns did not finish in time");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

TEST(DemoBrowser, ColumnsShowWhatGenerateGives) {
  if (!fs::exists(kChromium) || !fs::exists(kChromeDriver))
    GTEST_SKIP() << kChromium << " or " << kChromeDriver << " not installed (scripts/install-deps.sh)";
  const auto deadline = Clock::now() + std::chrono::seconds(120);  // the whole test, browser start included
  auto dir = test::temp_dir("serve-browser");
  struct Cleanup {
    fs::path d;
    ~Cleanup() { remove_tree(d); }
  } cleanup{dir};

  const fs::path pruned = test::pruned_stories(dir);
  DemoServerOptions o;
  o.models = {test::bundled_model(), pruned};
  o.port = 0;
  DemoServer server(o);
  server.start();

  const int driver_port = test::free_port();
  test::ChromeDriverProcess driver(kChromeDriver, driver_port, artifacts_dir() / "chromedriver.log");
  const json caps = {{"alwaysMatch",
                      {{"goog:chromeOptions",
                        {{"binary", kChromium},
                         {"args", {"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                   "--window-size=1280,900"}}}}}}};
  test::WebDriverSession wd(driver_port, caps, deadline);

  wd.go(server.url());
  while (wd.count(".column") < 2) {
    ASSERT_LT(Clock::now(), deadline) << "the page did not list the models";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(wd.text(wd.find("#col-0 .name")), "stories260k");
  EXPECT_EQ(wd.text(wd.find("#col-1 .name")), "stories260k-pruned");
  EXPECT_NE(wd.text(wd.find("#col-1 .meta")).find("parameters ("), std::string::npos);

  const std::string prompt = "Once upon a time, there was a little girl named";
  wd.set_text(wd.find("#prompt"), prompt);
  wd.set_text(wd.find("#max-new-tokens"), "24");
  auto greedy = wd.find("#greedy");
  if (!wd.selected(greedy)) wd.click(greedy);
  wd.click(wd.find("#generate"));
  auto states = wait_for_columns(wd, 2, deadline);

  GenerateOptions g;
  g.max_new_tokens = 24;
  g.greedy = true;
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE("column " + std::to_string(i));
    EXPECT_EQ(states[i], "done") << wd.text(wd.find("#col-" + std::to_string(i) + " .status"));
    auto want = test::expected_generation(i == 0 ? test::bundled_model() : pruned, prompt, g);
    const std::string col = "'#col-" + std::to_string(i);
    // textContent: the exact text (WebDriver's element text is the rendered, trimmed one).
    EXPECT_EQ(wd.script("return document.querySelector(" + col + " .gen').textContent;").get<std::string>(), want.text);
    EXPECT_EQ(wd.script("return document.querySelector(" + col + " .prompt').textContent;").get<std::string>(), prompt);
    const std::string status = wd.text(wd.find("#col-" + std::to_string(i) + " .status"));
    EXPECT_NE(status.find(std::to_string(want.ids.size()) + " tokens in "), std::string::npos) << status;
    EXPECT_NE(status.find(" tokens/s"), std::string::npos) << status;
    EXPECT_NE(status.find("peak RSS"), std::string::npos) << status;
  }
  save_screenshot(wd, "serve_demo.png");

  // A bad setting: the server's message on the page, in every column and above them.
  wd.set_text(wd.find("#max-new-tokens"), "-4");
  wd.click(wd.find("#generate"));
  states = wait_for_columns(wd, 2, deadline);
  EXPECT_EQ(states, (std::vector<std::string>{"error", "error"}));
  EXPECT_NE(wd.text(wd.find("#message")).find("max new tokens: -4 is out of range (1 to 1024)"), std::string::npos)
      << wd.text(wd.find("#message"));
  EXPECT_NE(wd.text(wd.find("#col-1 .status")).find("max new tokens"), std::string::npos);
  save_screenshot(wd, "serve_demo_error.png");
}

}  // namespace
}  // namespace lopper
