// The demo page's generation request: one model column, a prompt and the sampling settings, parsed
// strictly so that a bad value becomes a message the page can show (HTTP 400), never a crash or a
// silently clamped setting.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "lopper/eval/generate.h"

namespace lopper {

struct DemoLimits {
  size_t num_models = 0;
  int64_t max_new_tokens = 1024;      // the server's cap on one request
  size_t max_prompt_chars = 100000;   // before tokenization; the model's context is checked after
};

struct DemoRequest {
  size_t model = 0;  // index into the server's models
  std::string prompt;
  GenerateOptions gen;
};

// Parses the JSON body {"model", "prompt", "max_new_tokens", "greedy", "temperature", "top_k",
// "top_p", "seed"}. Numbers may come as JSON numbers or as the strings typed in the page's fields.
// Missing settings take GenerateOptions' defaults (max_new_tokens: 64). Throws InputError with a
// message naming the setting as the page labels it.
DemoRequest parse_demo_request(const std::string& body, const DemoLimits& limits);

}  // namespace lopper
