// Reading user-supplied text for evaluation and calibration (formats in docs/data.md):
//   * plain text (any name not ending in .json/.jsonl): the whole file, unchanged;
//   * .jsonl: one JSON object per line with a string "text" field;
//   * .json: a JSON array of strings or of objects with "text", or JSON lines as in .jsonl (the C4
//     shards are named .json.gz but hold one object per line);
// each optionally gzip-compressed (detected by the 1f 8b magic bytes, whatever the name).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace lopper {

// Inflates gzip data, every member of a multi-member stream (pigz/bgzip output) included.
// `what` names the source in errors (corrupt or truncated data).
std::string gunzip(std::string_view data, const std::string& what);

// The file's bytes, gunzipped when they start with the gzip magic. A name ending in ".gz" whose
// bytes are not gzip is an error (most likely a broken download).
std::string read_maybe_gzip(const std::filesystem::path& path);

// The documents of JSON / JSON-lines content (format chosen by the first non-blank character: '['
// is an array, anything else JSON lines; blank lines are skipped). Errors name `what` and, for
// JSON lines, the 1-based line number as "what:LINE: ...".
std::vector<std::string> json_documents(std::string_view content, const std::string& what);

// Calls fn(value, "what:LINE") for every non-blank line of JSON-lines content until it returns
// false; a line that is not JSON is an InputError "what:LINE: not valid JSON (...)".
void for_each_json_line(std::string_view content, const std::string& what,
                        const std::function<bool(const nlohmann::json&, const std::string&)>& fn);

// True for paths whose name (less a ".gz" suffix) ends in ".json" or ".jsonl".
bool is_json_path(const std::filesystem::path& path);

// Joiner between the documents of a user JSON / JSON-lines file: a blank line, so each document
// starts a new paragraph as it would in a plain-text file.
inline constexpr std::string_view kUserDocumentJoiner = "\n\n";

// The text of a user file: plain text as is, JSON documents joined with `joiner`. The result must
// be valid UTF-8 and contain something besides whitespace. `documents` (optional) receives the
// number of documents (1 for plain text).
std::string read_text_file(const std::filesystem::path& path, std::string_view joiner = kUserDocumentJoiner,
                           int64_t* documents = nullptr);

}  // namespace lopper
