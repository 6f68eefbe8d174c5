// The two hashes the hub names files by: sha256 for files kept in Git LFS (weights), git's blob id
// for the small files kept in git itself. Lowercase hex, computed with OpenSSL's EVP API.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

namespace lopper::hub {

std::string sha256_hex(std::string_view data);
std::string sha256_file(const std::filesystem::path& path);

// git hash-object: sha1 of "blob <size>\0" followed by the contents.
std::string git_blob_sha1_hex(std::string_view data);
std::string git_blob_sha1_file(const std::filesystem::path& path);

}  // namespace lopper::hub
