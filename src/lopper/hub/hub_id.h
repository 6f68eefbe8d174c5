// Hugging Face hub ids ("org/name[@revision]") and the names huggingface_hub gives them in its cache,
// so that lopper and transformers share one cache.
#pragma once
#include <optional>
#include <string>

namespace lopper::hub {

struct HubId {
  std::string repo;               // "org/name"
  std::string revision = "main";  // a branch, a tag or a commit hash
};

// Parses "org/name" or "org/name@revision"; nullopt when `spec` is not shaped like one. The repo id
// follows the hub's rules (huggingface_hub's validate_repo_id): two parts of letters, digits, '-', '_'
// and '.', each starting and ending with a letter, digit or '_', no "--" or "..", no ".git" ending,
// at most 96 characters. Single-part ids ("gpt2") are not taken, so that a mistyped local folder
// reads as one. A revision may hold '/' (e.g. "refs/pr/1") but no ".." or empty component.
std::optional<HubId> parse_hub_id(const std::string& spec);

// The repo's folder under the cache root: "models--org--name".
std::string repo_folder_name(const std::string& repo);

// Whether `rev` is a full commit hash (40 lowercase hex digits), as opposed to a branch or tag.
bool is_commit_hash(const std::string& rev);

// Percent-encodes `s` for a URL path; '/' is kept when `keep_slash` (file names), escaped otherwise
// (revisions, as huggingface_hub does with quote(revision, safe="")).
std::string url_quote(const std::string& s, bool keep_slash);

}  // namespace lopper::hub
