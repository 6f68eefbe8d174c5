// Read access to a parsed tokenizer.json that remembers where each value came from, so that every
// error can name the file and the offending field in one line, e.g.
//   /m/tokenizer.json: model.type "Unigram" is not supported (supported: BPE)
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace lopper::tok {

class JsonNode {
 public:
  JsonNode(const nlohmann::json& value, std::shared_ptr<const std::string> file, std::string path);

  const nlohmann::json& raw() const { return *value_; }
  const std::string& path() const { return path_; }
  const std::string& file() const { return *file_; }

  bool is_null() const { return value_->is_null(); }
  // True when this is an object that has `key` with a non-null value.
  bool has(std::string_view key) const;
  // The member `key`; missing or null is an error.
  JsonNode operator[](std::string_view key) const;
  // The elements of an array; anything else is an error.
  std::vector<JsonNode> elements() const;

  std::string str() const;
  bool boolean() const;
  int64_t integer() const;
  // A one-character string (Metaspace replacement, Strip content).
  char32_t single_char() const;

  // Optional members: the default when absent or null.
  std::string str_or(std::string_view key, const std::string& fallback) const;
  bool bool_or(std::string_view key, bool fallback) const;

  // The "type" member of a component (required).
  std::string type() const { return (*this)["type"].str(); }

  // InputError "<file>: <path> <msg>".
  [[noreturn]] void fail(const std::string& msg) const;
  // InputError "<file>: <path><suffix> <msg>", for an element not wrapped in a JsonNode
  // (large vocab and merges lists are read directly).
  [[noreturn]] void fail_at(const std::string& suffix, const std::string& msg) const;
  // UnsupportedError "<file>: <path>.type "<T>" is not supported (supported: <list>)".
  [[noreturn]] void unsupported_type(const std::string& type, std::string_view supported) const;

 private:
  std::string where() const;

  const nlohmann::json* value_;
  std::shared_ptr<const std::string> file_;
  std::string path_;
};

}  // namespace lopper::tok
