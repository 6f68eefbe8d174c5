#include "lopper/data/text_source.h"

#include <zlib.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "lopper/data/pystr.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

namespace {

bool has_gzip_magic(std::string_view data) {
  return data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0x1f &&
         static_cast<unsigned char>(data[1]) == 0x8b;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; the id means nothing to a user.
std::string json_message(const nlohmann::json::exception& e) {
  std::string msg = e.what();
  if (!msg.empty() && msg[0] == '[') {
    auto close = msg.find("] ");
    if (close != std::string::npos) msg.erase(0, close + 2);
  }
  return msg;
}

// A document from one JSON value: a string, or an object's string "text" field. `where` locates
// the value in errors ("file:LINE" or "file: element N").
std::string document_of(const nlohmann::json& value, const std::string& where, bool allow_string) {
  if (allow_string && value.is_string()) return value.get<std::string>();
  if (!value.is_object()) {
    fail("{}: expected a JSON object with a \"text\" field{}, got {}", where,
         allow_string ? " or a string" : "", value.type_name());
  }
  auto it = value.find("text");
  if (it == value.end()) fail("{}: no \"text\" field", where);
  if (!it->is_string()) fail("{}: \"text\" is a {}, expected a string", where, it->type_name());
  return it->get<std::string>();
}

}  // namespace

std::string gunzip(std::string_view data, const std::string& what) {
  z_stream zs{};
  // 15 + 16: maximum window, gzip wrapper only (a zlib or raw deflate stream is not a .gz file).
  if (inflateInit2(&zs, 15 + 16) != Z_OK) fail("{}: cannot initialise zlib", what);
  struct InflateEnd {
    z_stream* zs;
    ~InflateEnd() { inflateEnd(zs); }
  } guard{&zs};

  // zlib counts in 32-bit uInt, so both buffers are handed over in chunks of at most 1 GiB.
  constexpr size_t kMaxChunk = size_t{1} << 30;
  std::string out(std::max<size_t>(data.size() * 4, 1 << 16), '\0');
  size_t consumed = 0, produced = 0;
  for (;;) {
    if (produced == out.size()) out.resize(out.size() * 2);
    const size_t in_chunk = std::min(data.size() - consumed, kMaxChunk);
    const size_t out_chunk = std::min(out.size() - produced, kMaxChunk);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + consumed));
    zs.avail_in = static_cast<uInt>(in_chunk);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs.avail_out = static_cast<uInt>(out_chunk);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    consumed += in_chunk - zs.avail_in;
    produced += out_chunk - zs.avail_out;
    if (rc == Z_STREAM_END) {
      if (consumed == data.size()) break;
      // Concatenated gzip files are one valid gzip file (RFC 1952 "members").
      if (!has_gzip_magic(data.substr(consumed)))
        fail("{}: unexpected data after the end of the gzip stream (byte {})", what, consumed);
      inflateReset(&zs);
      continue;
    }
    // There is always output space here, so a buffer error means the input ran out mid-stream.
    if (rc == Z_BUF_ERROR) fail("{}: truncated gzip data (stream ends after {} bytes)", what, data.size());
    if (rc != Z_OK) fail("{}: corrupt gzip data ({})", what, zs.msg ? zs.msg : "zlib error");
  }
  out.resize(produced);
  return out;
}

std::string read_maybe_gzip(const std::filesystem::path& path) {
  std::string data = read_file(path);
  if (has_gzip_magic(data)) return gunzip(data, path.string());
  check(!ends_with(path.filename().string(), ".gz"), "{}: not a gzip file (no gzip header)", path.string());
  return data;
}

std::vector<std::string> json_documents(std::string_view content, const std::string& what) {
  std::vector<std::string> docs;
  const auto first = content.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && content[first] == '[') {
    nlohmann::json array;
    try {
      array = nlohmann::json::parse(content);
    } catch (const nlohmann::json::exception& e) {
      fail("{}: not valid JSON ({})", what, json_message(e));
    }
    for (size_t i = 0; i < array.size(); ++i)
      docs.push_back(document_of(array[i], fmt::format("{}: element {}", what, i), true));
    return docs;
  }
  for_each_json_line(content, what, [&](const nlohmann::json& value, const std::string& where) {
    docs.push_back(document_of(value, where, false));
    return true;
  });
  return docs;
}

void for_each_json_line(std::string_view content, const std::string& what,
                        const std::function<bool(const nlohmann::json&, const std::string&)>& fn) {
  int64_t line_no = 0;
  size_t pos = 0;
  while (pos < content.size()) {
    size_t end = content.find('\n', pos);
    if (end == std::string_view::npos) end = content.size();
    std::string_view line = content.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (python_isblank(line)) continue;
    const std::string where = fmt::format("{}:{}", what, line_no);
    nlohmann::json value;
    try {
      value = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail("{}: not valid JSON ({})", where, json_message(e));
    }
    if (!fn(value, where)) return;
  }
}

bool is_json_path(const std::filesystem::path& path) {
  std::string name = path.filename().string();
  if (ends_with(name, ".gz")) name.resize(name.size() - 3);
  return ends_with(name, ".json") || ends_with(name, ".jsonl");
}

std::string read_text_file(const std::filesystem::path& path, std::string_view joiner, int64_t* documents) {
  const std::string what = path.string();
  std::string content = read_maybe_gzip(path);
  std::string text;
  int64_t count = 1;
  if (is_json_path(path)) {
    auto docs = json_documents(content, what);
    check(!docs.empty(), "{}: no documents", what);
    count = static_cast<int64_t>(docs.size());
    text = join(docs, joiner);  // nlohmann has already rejected invalid UTF-8 in the strings
  } else {
    check_utf8(content, what);
    text = std::move(content);
  }
  check(!python_isblank(text), "{}: contains no text (empty or whitespace only)", what);
  if (documents) *documents = count;
  return text;
}

}  // namespace lopper
