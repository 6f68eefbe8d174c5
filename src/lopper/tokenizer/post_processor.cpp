#include "lopper/tokenizer/post_processor.h"

#include <map>
#include <string>

#include "lopper/tokenizer/json_node.h"

namespace lopper::tok {

namespace {

// One template piece: the input sequence (empty `special`) or the ids of a special token.
struct TemplatePiece {
  bool sequence = false;
  std::vector<int32_t> special;
};

class TemplateProcessor : public PostProcessor {
 public:
  explicit TemplateProcessor(std::vector<TemplatePiece> pieces) : pieces_(std::move(pieces)) {}
  void process(std::vector<int32_t>& ids, bool add_special_tokens) const override {
    std::vector<int32_t> out;
    out.reserve(ids.size() + 4);
    for (const TemplatePiece& p : pieces_) {
      if (p.sequence) out.insert(out.end(), ids.begin(), ids.end());
      else if (add_special_tokens) out.insert(out.end(), p.special.begin(), p.special.end());
    }
    ids = std::move(out);
  }

 private:
  std::vector<TemplatePiece> pieces_;
};

class NoOpProcessor : public PostProcessor {
 public:
  void process(std::vector<int32_t>&, bool) const override {}
};

class SequenceProcessor : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> parts)
      : parts_(std::move(parts)) {}
  void process(std::vector<int32_t>& ids, bool add_special_tokens) const override {
    for (const auto& p : parts_) p->process(ids, add_special_tokens);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

int32_t token_id(const JsonNode& node) {
  int64_t v = node.integer();
  if (v < 0 || v > INT32_MAX) node.fail("must be a token id");
  return static_cast<int32_t>(v);
}

std::unique_ptr<PostProcessor> parse_template(const JsonNode& node) {
  std::map<std::string, std::vector<int32_t>> specials;
  if (node.has("special_tokens")) {
    JsonNode table = node["special_tokens"];
    if (!table.raw().is_object()) table.fail("must be an object");
    for (const auto& [name, value] : table.raw().items()) {
      JsonNode entry = table[name];
      for (const JsonNode& id : entry["ids"].elements()) specials[name].push_back(token_id(id));
    }
  }
  std::vector<TemplatePiece> pieces;
  for (const JsonNode& piece : node["single"].elements()) {
    if (piece.has("Sequence")) {
      if (piece["Sequence"]["id"].str() != "A")
        piece["Sequence"]["id"].fail("must be \"A\" in the single-sequence template");
      pieces.push_back({true, {}});
    } else if (piece.has("SpecialToken")) {
      JsonNode id = piece["SpecialToken"]["id"];
      auto it = specials.find(id.str());
      if (it == specials.end())
        id.fail("\"" + id.str() + "\" is not listed in special_tokens");
      pieces.push_back({false, it->second});
    } else {
      piece.fail("must be {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
  return std::make_unique<TemplateProcessor>(std::move(pieces));
}

// BertProcessing / RobertaProcessing: "[cls] $A [sep]" with cls and sep given as [token, id].
std::unique_ptr<PostProcessor> parse_cls_sep(const JsonNode& node) {
  auto id_of = [](const JsonNode& pair) {
    auto parts = pair.elements();
    if (parts.size() != 2) pair.fail("must be [token, id]");
    return token_id(parts[1]);
  };
  return std::make_unique<TemplateProcessor>(std::vector<TemplatePiece>{
      {false, {id_of(node["cls"])}}, {true, {}}, {false, {id_of(node["sep"])}}});
}

}  // namespace

std::unique_ptr<PostProcessor> parse_post_processor(const JsonNode& node) {
  const std::string type = node.type();
  if (type == "TemplateProcessing") return parse_template(node);
  if (type == "ByteLevel") return std::make_unique<NoOpProcessor>();
  if (type == "BertProcessing" || type == "RobertaProcessing") return parse_cls_sep(node);
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (const JsonNode& child : node["processors"].elements())
      parts.push_back(parse_post_processor(child));
    return std::make_unique<SequenceProcessor>(std::move(parts));
  }
  node.unsupported_type(
      type, "TemplateProcessing, ByteLevel, Sequence, BertProcessing, RobertaProcessing");
}

std::unique_ptr<PostProcessor> make_bos_eos_processor(std::optional<int32_t> bos,
                                                      std::optional<int32_t> eos) {
  std::vector<TemplatePiece> pieces;
  if (bos) pieces.push_back({false, {*bos}});
  pieces.push_back({true, {}});
  if (eos) pieces.push_back({false, {*eos}});
  return std::make_unique<TemplateProcessor>(std::move(pieces));
}

}  // namespace lopper::tok
