#include "lopper/hub/hub_options.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace lopper::hub {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// huggingface_hub's _is_true: 1, ON, YES, TRUE in any case.
bool is_true(std::string v) {
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::toupper(c); });
  return v == "1" || v == "ON" || v == "YES" || v == "TRUE";
}

std::string trim(std::string s) {
  auto blank = [](unsigned char c) { return std::isspace(c); };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), blank));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), blank).base(), s.end());
  return s;
}

// "~/x" as Python's os.path.expanduser does it (HF_HOME may be written that way).
std::filesystem::path expand_user(const std::string& p) {
  if (p == "~" || p.rfind("~/", 0) == 0) return env("HOME") + p.substr(1);
  return p;
}

}  // namespace

HubOptions HubOptions::from_env() {
  HubOptions o;
  std::filesystem::path home;
  if (!env("HF_HOME").empty())
    home = expand_user(env("HF_HOME"));
  else if (!env("XDG_CACHE_HOME").empty())
    home = expand_user(env("XDG_CACHE_HOME")) / "huggingface";
  else
    home = expand_user("~/.cache/huggingface");
  if (!env("HF_HUB_CACHE").empty())
    o.cache_dir = expand_user(env("HF_HUB_CACHE"));
  else if (!env("HUGGINGFACE_HUB_CACHE").empty())
    o.cache_dir = expand_user(env("HUGGINGFACE_HUB_CACHE"));
  else
    o.cache_dir = home / "hub";

  if (!env("HF_ENDPOINT").empty()) o.endpoint = env("HF_ENDPOINT");
  while (o.endpoint.size() > 1 && o.endpoint.back() == '/') o.endpoint.pop_back();

  o.token = trim(env("HF_TOKEN"));
  if (o.token.empty()) o.token = trim(env("HUGGING_FACE_HUB_TOKEN"));
  if (o.token.empty()) {
    auto path = env("HF_TOKEN_PATH").empty() ? home / "token" : expand_user(env("HF_TOKEN_PATH"));
    std::ifstream in(path);
    std::stringstream ss;
    if (in) ss << in.rdbuf();
    o.token = trim(ss.str());
  }

  // As huggingface_hub: the first of the two that is set decides (HF_HUB_OFFLINE=0 wins over the other).
  o.offline = is_true(env("HF_HUB_OFFLINE").empty() ? env("TRANSFORMERS_OFFLINE") : env("HF_HUB_OFFLINE"));
  if (auto t = env("HF_HUB_DOWNLOAD_TIMEOUT"); !t.empty()) {
    char* end = nullptr;
    long v = std::strtol(t.c_str(), &end, 10);
    if (end && *end == '\0' && v > 0) o.stall_timeout_s = v;
  }
  return o;
}

}  // namespace lopper::hub
