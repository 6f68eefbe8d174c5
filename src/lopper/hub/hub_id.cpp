#include "lopper/hub/hub_id.h"

#include <fmt/format.h>

#include <algorithm>

namespace lopper::hub {

namespace {

bool is_word(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// One part of a repo id: the hub's regex \b[\w\-.]+\b, ASCII only.
bool valid_part(const std::string& s) {
  if (s.empty() || !is_word(s.front()) || !is_word(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_word(c) || c == '-' || c == '.'; });
}

bool valid_repo(const std::string& repo) {
  auto slash = repo.find('/');
  if (slash == std::string::npos || repo.size() > 96) return false;
  if (repo.find("--") != std::string::npos || repo.find("..") != std::string::npos) return false;
  if (repo.size() >= 4 && repo.compare(repo.size() - 4, 4, ".git") == 0) return false;
  return valid_part(repo.substr(0, slash)) && valid_part(repo.substr(slash + 1));
}

// A revision becomes a path under refs/ (refs/<branch>), so no component may climb out of it.
bool valid_revision(const std::string& rev) {
  if (rev.empty() || rev.size() > 256 || rev.front() == '/' || rev.back() == '/') return false;
  if (rev.find("//") != std::string::npos) return false;
  size_t start = 0;
  while (start <= rev.size()) {
    auto end = rev.find('/', start);
    if (end == std::string::npos) end = rev.size();
    auto part = rev.substr(start, end - start);
    if (part == "." || part == "..") return false;
    start = end + 1;
  }
  return std::all_of(rev.begin(), rev.end(),
                     [](char c) { return is_word(c) || c == '-' || c == '.' || c == '/' || c == '+'; });
}

}  // namespace

std::optional<HubId> parse_hub_id(const std::string& spec) {
  HubId id;
  auto at = spec.find('@');
  id.repo = spec.substr(0, at);
  if (at != std::string::npos) id.revision = spec.substr(at + 1);
  if (!valid_repo(id.repo) || !valid_revision(id.revision)) return std::nullopt;
  return id;
}

std::string repo_folder_name(const std::string& repo) {
  auto slash = repo.find('/');
  return "models--" + repo.substr(0, slash) + "--" + repo.substr(slash + 1);
}

bool is_commit_hash(const std::string& rev) {
  return rev.size() == 40 &&
         std::all_of(rev.begin(), rev.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string url_quote(const std::string& s, bool keep_slash) {
  std::string out;
  for (unsigned char c : s) {
    if (is_word(static_cast<char>(c)) || c == '-' || c == '.' || c == '~' || (keep_slash && c == '/'))
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

}  // namespace lopper::hub
