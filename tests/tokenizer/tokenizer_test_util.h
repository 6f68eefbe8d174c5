// Helpers for the tokenizer tests: tiny hand-made tokenizer.json documents.
#pragma once
#include <nlohmann/json.hpp>

#include "lopper/tokenizer/tokenizer.h"

namespace lopper::test {

// A BPE tokenizer.json with the given vocabulary (token -> id) and merges, no pipeline components;
// callers add normalizer / pre_tokenizer / decoder / added_tokens as needed.
inline nlohmann::json tiny_bpe_json(const nlohmann::json& vocab, const nlohmann::json& merges) {
  return {{"version", "1.0"},
          {"added_tokens", nlohmann::json::array()},
          {"normalizer", nullptr},
          {"pre_tokenizer", nullptr},
          {"post_processor", nullptr},
          {"decoder", nullptr},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"vocab", vocab},
            {"merges", merges}}}};
}

inline Tokenizer tokenizer_from(const nlohmann::json& j) { return Tokenizer::from_json(j.dump()); }

}  // namespace lopper::test
