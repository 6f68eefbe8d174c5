#include "lopper/tokenizer/tokenizer.h"

#include <algorithm>
#include <climits>

#include "lopper/tokenizer/added_vocab.h"
#include "lopper/tokenizer/bpe.h"
#include "lopper/tokenizer/decoder.h"
#include "lopper/tokenizer/json_node.h"
#include "lopper/tokenizer/normalizer.h"
#include "lopper/tokenizer/post_processor.h"
#include "lopper/tokenizer/pre_tokenizer.h"
#include "lopper/tokenizer/unicode.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

using tok::JsonNode;

namespace {

// A parsed JSON file and its path (for error messages).
struct JsonFile {
  nlohmann::json json;
  std::string path;
};

}  // namespace

struct Tokenizer::Impl {
  std::unique_ptr<tok::Normalizer> normalizer;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer;
  std::unique_ptr<tok::BpeModel> model;
  std::unique_ptr<tok::AddedVocabulary> added;
  std::unique_ptr<tok::PostProcessor> post_processor;
  std::unique_ptr<tok::Decoder> decoder;
  std::optional<int32_t> bos, eos, unk;

  // Builds the pipeline from tokenizer.json and the optional tokenizer_config.json and
  // special_tokens_map.json (nullptr when absent).
  void load(const JsonFile& tokenizer, const JsonFile* config, const JsonFile* special_map);
};

namespace {

JsonFile parse_json(std::string_view text, const std::string& path) {
  try {
    return {nlohmann::json::parse(text), path};
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e400
    throw InputError(fmt::format("{}: malformed JSON: {}", path, e.what()));
  }
}

// The top-level object of a JSON file.
JsonNode root_of(const JsonFile& file) {
  JsonNode root(file.json, std::make_shared<const std::string>(file.path), "");
  if (!file.json.is_object()) root.fail("must contain a JSON object");
  return root;
}

std::unique_ptr<tok::BpeModel> parse_model(const JsonNode& model) {
  if (model.has("type")) {
    std::string type = model.type();
    if (type != "BPE") model.unsupported_type(type, "BPE");
  } else if (!model.has("merges")) {
    // Files from before "type" was written: only BPE has merges.
    model.fail("has no \"type\" and no \"merges\"; only BPE models are supported");
  }
  return std::make_unique<tok::BpeModel>(model);
}

std::vector<tok::AddedToken> parse_added_tokens(const JsonNode& root) {
  std::vector<tok::AddedToken> tokens;
  if (!root.has("added_tokens")) return tokens;
  for (const JsonNode& t : root["added_tokens"].elements()) {
    tok::AddedToken a;
    a.content = t["content"].str();
    a.special = t.bool_or("special", false);
    a.single_word = t.bool_or("single_word", false);
    a.lstrip = t.bool_or("lstrip", false);
    a.rstrip = t.bool_or("rstrip", false);
    a.normalized = t.bool_or("normalized", !a.special);
    tokens.push_back(std::move(a));
  }
  return tokens;
}

// bos_token / eos_token in tokenizer_config.json or special_tokens_map.json: a string, an
// AddedToken-style object {"content": ...}, or null.
std::optional<std::string> special_token_name(const JsonNode& config, std::string_view key) {
  if (!config.has(key)) return std::nullopt;
  JsonNode v = config[key];
  if (v.raw().is_object()) return v["content"].str();
  return v.str();
}

// The ids a post-processor puts before and after the sequence, found by processing a sentinel.
std::pair<std::vector<int32_t>, std::vector<int32_t>> template_sides(const tok::PostProcessor& pp) {
  std::vector<int32_t> ids{INT32_MIN};
  pp.process(ids, true);
  auto first = std::find(ids.begin(), ids.end(), INT32_MIN);
  if (first == ids.end()) return {};
  // After the last copy: a template may repeat the sequence ("$A $A"), and the sentinel itself must
  // never pass for an EOS id (fuzz/corpus/tokenizer/crash-repeated-sequence-eos).
  auto last = std::find(ids.rbegin(), ids.rend(), INT32_MIN).base();
  return {{ids.begin(), first}, {last, ids.end()}};
}

}  // namespace

void Tokenizer::Impl::load(const JsonFile& tokenizer, const JsonFile* config,
                           const JsonFile* special_map) {
  const JsonNode root = root_of(tokenizer);
  if (root.has("version") && root["version"].str() != "1.0")
    throw UnsupportedError(fmt::format("{}: version \"{}\" is not supported (supported: 1.0)",
                                       tokenizer.path, root["version"].str()));

  if (root.has("normalizer")) normalizer = tok::parse_normalizer(root["normalizer"]);
  if (root.has("pre_tokenizer")) pre_tokenizer = tok::parse_pre_tokenizer(root["pre_tokenizer"]);
  model = parse_model(root["model"]);
  added = std::make_unique<tok::AddedVocabulary>(parse_added_tokens(root), *model,
                                                 normalizer.get());
  if (root.has("post_processor")) post_processor = tok::parse_post_processor(root["post_processor"]);
  if (root.has("decoder")) decoder = tok::parse_decoder(root["decoder"]);

  auto id_of = [&](const std::optional<std::string>& name) -> std::optional<int32_t> {
    if (!name) return std::nullopt;
    if (auto id = added->token_to_id(*name)) return id;
    return model->token_to_id(*name);
  };
  unk = id_of(model->unk_token());

  // bos/eos names: tokenizer_config.json, then special_tokens_map.json; without either, the single
  // token the post-processor puts before / after the text.
  std::optional<std::string> bos_name, eos_name;
  for (const JsonFile* file : {config, special_map}) {
    if (file == nullptr) continue;
    const JsonNode node = root_of(*file);
    if (!bos_name) bos_name = special_token_name(node, "bos_token");
    if (!eos_name) eos_name = special_token_name(node, "eos_token");
  }
  bos = id_of(bos_name);
  eos = id_of(eos_name);
  if (post_processor) {
    auto [before, after] = template_sides(*post_processor);
    if (!bos_name && before.size() == 1) bos = before[0];
    if (!eos_name && after.size() == 1) eos = after[0];
  }

  // transformers replaces the post-processor when the config states either flag (a missing one
  // counts as false).
  if (config != nullptr &&
      (config->json.contains("add_bos_token") || config->json.contains("add_eos_token"))) {
    const JsonNode node = root_of(*config);
    bool add_bos = node.bool_or("add_bos_token", false);
    bool add_eos = node.bool_or("add_eos_token", false);
    post_processor = tok::make_bos_eos_processor(add_bos ? bos : std::nullopt,
                                                 add_eos ? eos : std::nullopt);
  }
}

Tokenizer Tokenizer::from_json(std::string_view tokenizer_json,
                               std::optional<std::string_view> tokenizer_config_json,
                               const std::string& source) {
  auto impl = std::make_shared<Impl>();
  const JsonFile tokenizer = parse_json(tokenizer_json, source);
  std::optional<JsonFile> config;
  if (tokenizer_config_json) {
    auto path = std::filesystem::path(source).parent_path() / "tokenizer_config.json";
    config = parse_json(*tokenizer_config_json, path.string());
  }
  impl->load(tokenizer, config ? &*config : nullptr, nullptr);
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw InputError(fmt::format("{}: not a directory (expected a model or tokenizer directory)",
                                 dir.string()));
  const auto path = dir / "tokenizer.json";
  if (!std::filesystem::exists(path, ec))
    throw InputError(fmt::format(
        "{}: not found (lopper reads Hugging Face tokenizer.json files; a tokenizer.model alone "
        "is not supported)",
        path.string()));
  auto read_optional = [&](const char* name) -> std::optional<JsonFile> {
    const auto p = dir / name;
    if (!std::filesystem::exists(p, ec)) return std::nullopt;
    return parse_json(read_file(p), p.string());
  };
  auto impl = std::make_shared<Impl>();
  const JsonFile tokenizer = parse_json(read_file(path), path.string());
  const auto config = read_optional("tokenizer_config.json");
  const auto special_map = read_optional("special_tokens_map.json");
  impl->load(tokenizer, config ? &*config : nullptr, special_map ? &*special_map : nullptr);
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const Impl& t = *impl_;
  std::string repaired;
  if (!tok::is_valid_utf8(text)) {
    repaired = tok::to_valid_utf8(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 8);
  auto tokenize_piece = [&](tok::Piece&& p) { t.model->tokenize(p.text, ids); };
  for (tok::Segment& seg : t.added->split(text, t.normalizer.get())) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
    } else if (t.pre_tokenizer) {
      t.pre_tokenizer->pre_tokenize({std::move(seg.text), seg.at_start}, tokenize_piece);
    } else {
      t.model->tokenize(seg.text, ids);
    }
  }
  if (t.post_processor) t.post_processor->process(ids, add_special_tokens);
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  const Impl& t = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    const std::string* token = t.added->id_to_token(id);
    if (token == nullptr) token = t.model->id_to_token(id);
    if (token == nullptr) continue;
    if (skip_special_tokens && t.added->is_special(*token)) continue;
    tokens.push_back(*token);
  }
  if (!t.decoder) {
    // tokenizers joins raw tokens with spaces when there is no decoder.
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
    return out;
  }
  t.decoder->decode_chain(tokens);
  std::string out;
  for (const std::string& s : tokens) out += s;
  return out;
}

int32_t Tokenizer::vocab_size() const {
  return std::max(impl_->model->max_id(), impl_->added->max_id()) + 1;
}

std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos; }
std::optional<int32_t> Tokenizer::unk_id() const { return impl_->unk; }

std::string Tokenizer::id_to_token(int32_t id) const {
  const std::string* token = impl_->added->id_to_token(id);
  if (token == nullptr) token = impl_->model->id_to_token(id);
  if (token == nullptr)
    throw InputError(fmt::format("token id {} is not in the tokenizer's vocabulary (size {})", id,
                                 vocab_size()));
  return *token;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto id = impl_->added->token_to_id(token)) return id;
  return impl_->model->token_to_id(token);
}

}  // namespace lopper
