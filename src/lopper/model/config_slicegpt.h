// "lopper_slicegpt" in config.json <-> SliceGptSpec (config.h), the description of a SliceGPT-rotated
// model's residual widths; docs/format.md has the format.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "lopper/model/config.h"

namespace lopper {

// Parses and checks the field against the rest of `c` (layers parsed already): widths in
// [1, norm_dim], each layer's input the previous output, widths unchanged across a missing sublayer,
// untied embeddings. InputError naming `source` and the field.
SliceGptSpec slicegpt_from_json(const nlohmann::json& j, const ModelConfig& c, const std::string& source);
nlohmann::json slicegpt_to_json(const SliceGptSpec& s);

}  // namespace lopper
