#include "lopper/serve/demo_request.h"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "lopper/util/error.h"

namespace lopper {

namespace {

using nlohmann::json;

// The text of a field for messages: strings as typed, anything else as JSON.
std::string shown(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::string trimmed(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

int64_t whole_number(const json& v, const char* label) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
  }
  if (v.is_string()) {
    std::string s = trimmed(v.get<std::string>());
    try {
      size_t used = 0;
      int64_t x = std::stoll(s, &used);
      if (used == s.size()) return x;
    } catch (const std::exception&) {
    }
    if (s.empty()) fail("{}: give a whole number (the field is empty)", label);
  }
  fail("{}: \"{}\" is not a whole number", label, shown(v));
}

double real_number(const json& v, const char* label) {
  double x = std::numeric_limits<double>::quiet_NaN();
  if (v.is_number()) x = v.get<double>();
  if (v.is_string()) {
    std::string s = trimmed(v.get<std::string>());
    if (s.empty()) fail("{}: give a number (the field is empty)", label);
    try {
      size_t used = 0;
      double d = std::stod(s, &used);
      if (used == s.size()) x = d;
    } catch (const std::exception&) {
    }
  }
  if (!std::isfinite(x)) fail("{}: \"{}\" is not a number", label, shown(v));
  return x;
}

bool flag(const json& v, const char* label) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string() && (v == "true" || v == "false")) return v == "true";
  fail("{}: \"{}\" is not true or false", label, shown(v));
}

}  // namespace

DemoRequest parse_demo_request(const std::string& body, const DemoLimits& limits) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) fail("the request body is not a JSON object");
  DemoRequest r;
  r.gen.max_new_tokens = 64;

  if (!j.contains("model")) fail("model: missing (the index of a model column)");
  int64_t m = whole_number(j["model"], "model");
  if (m < 0 || static_cast<size_t>(m) >= limits.num_models)
    fail("model: there is no model {} (this server has {}: 0 to {})", m, limits.num_models,
         static_cast<int64_t>(limits.num_models) - 1);
  r.model = static_cast<size_t>(m);

  if (!j.contains("prompt") || !j["prompt"].is_string()) fail("prompt: missing (give some text)");
  r.prompt = j["prompt"].get<std::string>();
  if (trimmed(r.prompt).empty()) fail("prompt: the prompt is empty; type some text to continue");
  if (r.prompt.size() > limits.max_prompt_chars)
    fail("prompt: {} characters is too long (at most {})", r.prompt.size(), limits.max_prompt_chars);

  if (j.contains("max_new_tokens")) {
    int64_t n = whole_number(j["max_new_tokens"], "max new tokens");
    if (n < 1 || n > limits.max_new_tokens)
      fail("max new tokens: {} is out of range (1 to {})", n, limits.max_new_tokens);
    r.gen.max_new_tokens = n;
  }
  if (j.contains("greedy")) r.gen.greedy = flag(j["greedy"], "greedy");
  if (j.contains("temperature")) {
    double t = real_number(j["temperature"], "temperature");
    if (t < 0 || t > 100) fail("temperature: {} is out of range (0 to 100; 0 means greedy)", t);
    r.gen.temperature = t;
  }
  if (j.contains("top_k")) {
    int64_t k = whole_number(j["top_k"], "top-k");
    if (k < 0 || k > (int64_t{1} << 31)) fail("top-k: {} is out of range (0 means off)", k);
    r.gen.top_k = k;
  }
  if (j.contains("top_p")) {
    double p = real_number(j["top_p"], "top-p");
    if (!(p > 0 && p <= 1)) fail("top-p: {} is outside (0, 1] (1 means off)", p);
    r.gen.top_p = p;
  }
  if (j.contains("seed")) {
    int64_t s = whole_number(j["seed"], "seed");
    if (s < 0) fail("seed: {} is negative", s);
    r.gen.seed = static_cast<uint64_t>(s);
  }
  return r;
}

}  // namespace lopper
