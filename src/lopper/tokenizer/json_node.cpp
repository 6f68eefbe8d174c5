#include "lopper/tokenizer/json_node.h"

#include "lopper/tokenizer/unicode.h"
#include "lopper/util/error.h"

namespace lopper::tok {

namespace {

const char* kind(const nlohmann::json& j) {
  return j.is_null() ? "null" : j.type_name();
}

}  // namespace

JsonNode::JsonNode(const nlohmann::json& value, std::shared_ptr<const std::string> file,
                   std::string path)
    : value_(&value), file_(std::move(file)), path_(std::move(path)) {}

std::string JsonNode::where() const {
  return path_.empty() ? *file_ + ":" : *file_ + ": " + path_;
}

void JsonNode::fail(const std::string& msg) const {
  throw InputError(where() + " " + msg);
}

void JsonNode::fail_at(const std::string& suffix, const std::string& msg) const {
  throw InputError(fmt::format("{}: {}{} {}", *file_, path_, suffix, msg));
}

void JsonNode::unsupported_type(const std::string& type, std::string_view supported) const {
  throw UnsupportedError(fmt::format("{}: {}type \"{}\" is not supported (supported: {})", *file_,
                                     path_.empty() ? "" : path_ + ".", type, supported));
}

bool JsonNode::has(std::string_view key) const {
  if (!value_->is_object()) return false;
  auto it = value_->find(key);
  return it != value_->end() && !it->is_null();
}

JsonNode JsonNode::operator[](std::string_view key) const {
  std::string child = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  if (!value_->is_object()) fail(fmt::format("must be an object, got {}", kind(*value_)));
  auto it = value_->find(key);
  if (it == value_->end() || it->is_null())
    throw InputError(fmt::format("{}: {} is missing", *file_, child));
  return JsonNode(*it, file_, std::move(child));
}

std::vector<JsonNode> JsonNode::elements() const {
  if (!value_->is_array()) fail(fmt::format("must be an array, got {}", kind(*value_)));
  std::vector<JsonNode> out;
  out.reserve(value_->size());
  for (size_t i = 0; i < value_->size(); ++i)
    out.emplace_back((*value_)[i], file_, fmt::format("{}[{}]", path_, i));
  return out;
}

std::string JsonNode::str() const {
  if (!value_->is_string()) fail(fmt::format("must be a string, got {}", kind(*value_)));
  return value_->get<std::string>();
}

bool JsonNode::boolean() const {
  if (!value_->is_boolean()) fail(fmt::format("must be true or false, got {}", kind(*value_)));
  return value_->get<bool>();
}

int64_t JsonNode::integer() const {
  if (!value_->is_number_integer())
    fail(fmt::format("must be an integer, got {}", value_->dump()));
  return value_->get<int64_t>();
}

char32_t JsonNode::single_char() const {
  std::string s = str();
  size_t i = 0;
  char32_t c = s.empty() ? 0 : next_char(s, i);
  if (s.empty() || i != s.size()) fail(fmt::format("must be a single character, got \"{}\"", s));
  return c;
}

std::string JsonNode::str_or(std::string_view key, const std::string& fallback) const {
  return has(key) ? (*this)[key].str() : fallback;
}

bool JsonNode::bool_or(std::string_view key, bool fallback) const {
  return has(key) ? (*this)[key].boolean() : fallback;
}

}  // namespace lopper::tok
