#include "lopper/tokenizer/tokenize_command.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

nlohmann::json run_tokenize(const TokenizeOptions& options) {
  check(options.text.has_value() != options.file.has_value(),
        "tokenize: give exactly one of --text or --file");
  const Tokenizer tokenizer = Tokenizer::from_dir(options.model_dir);
  const std::string text = options.text ? *options.text : read_file(*options.file);
  const std::vector<int32_t> ids = tokenizer.encode(text, options.add_special_tokens);
  nlohmann::json tokens = nlohmann::json::array();
  for (int32_t id : ids) tokens.push_back(tokenizer.id_to_token(id));
  nlohmann::json result = {{"model", options.model_dir.string()},
                           {"add_special_tokens", options.add_special_tokens},
                           {"count", ids.size()},
                           {"ids", ids},
                           {"tokens", std::move(tokens)},
                           {"decoded", tokenizer.decode(ids, true)}};
  if (options.json_out) write_file_atomic(*options.json_out, result.dump(2) + "\n");
  return result;
}

std::string format_tokenize_report(const nlohmann::json& result) {
  return fmt::format("ids ({}): [{}]\ndecoded: {}\n", result.at("count").get<size_t>(),
                     fmt::join(result.at("ids").get<std::vector<int32_t>>(), ", "),
                     result.at("decoded").get<std::string>());
}

}  // namespace lopper
