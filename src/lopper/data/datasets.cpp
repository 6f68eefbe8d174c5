#include "lopper/data/datasets.h"

#include <cstdlib>
#include <system_error>
#include <utility>

#include "lopper/data/pystr.h"
#include "lopper/data/text_source.h"
#include "lopper/util/error.h"

namespace lopper {

namespace fs = std::filesystem;

namespace {

// GPTQ's C4 evaluation: ' '.join(valdata[:1100]['text']), then only the first 256 * seqlen tokens.
constexpr int64_t kC4ValidationDocuments = 1100;
constexpr int64_t kC4ValidationWindows = 256;

using RowsFn = std::vector<std::string> (*)(std::string_view content, const std::string& what);

// One file a dataset can be read from, relative to a data directory.
struct Source {
  std::string_view relative;
  RowsFn rows;
  std::string_view joiner;
  int64_t max_windows;
};

struct Dataset {
  DatasetInfo info;
  std::vector<Source> sources;  // tried in order within each data directory
};

// Rows of a plain-text dataset file, after checking it is UTF-8 (the references decode it as such).
template <std::vector<std::string> (*Rows)(std::string_view)>
std::vector<std::string> text_rows(std::string_view content, const std::string& what) {
  check_utf8(content, what);
  return Rows(content);
}

std::vector<std::string> c4_validation_docs(std::string_view content, const std::string& what) {
  auto docs = json_documents(content, what);
  if (static_cast<int64_t>(docs.size()) > kC4ValidationDocuments) docs.resize(kC4ValidationDocuments);
  return docs;
}

const std::vector<Dataset>& registry() {
  static const std::vector<Dataset> sets = {
      {{"wikitext2", "test", true, "WikiText-2 raw test split (HF wikitext-2-raw-v1 rows)"},
       {{"wikitext2/wiki.test.raw", text_rows<wikitext2_rows>, "\n\n", 0}}},
      {{"c4", "validation", true,
        "C4 validation documents (shard 00000-of-00008 if present, else the 118-document sample)"},
       {{"c4/c4-validation.00000-of-00008.json.gz", c4_validation_docs, " ", kC4ValidationWindows},
        {"c4/c4-validation.00000-of-00008.json", c4_validation_docs, " ", kC4ValidationWindows},
        {"c4/c4-sample.txt", text_rows<line_documents>, " ", 0}}},
      {{"ptb", "test", true, "Penn Treebank (Mikolov LM version) test split"},
       {{"ptb/ptb.test.txt", text_rows<ptb_rows>, " ", 0}}},
      {{"ptb-valid", "validation", false, "Penn Treebank validation split (calibration without test leakage)"},
       {{"ptb/ptb.valid.txt", text_rows<ptb_rows>, " ", 0}}},
      {{"tinystories", "train", false, "TinyStories train-split sample (in-domain calibration for story models)"},
       {{"tinystories/tinystories-sample.txt", text_rows<tinystories_stories>, "\n\n", 0}}},
  };
  return sets;
}

const Dataset* find_dataset(std::string_view name) {
  for (const auto& d : registry())
    if (d.info.name == name) return &d;
  return nullptr;
}

std::string known_names() {
  std::string out;
  for (const auto& d : registry()) out += (out.empty() ? "" : ", ") + std::string(d.info.name);
  return out;
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

struct Place {
  fs::path dir;
  std::string_view label;
};

// The directories to search, in order. An explicitly given directory that does not exist is an
// error rather than skipped: silently falling back to the bundled copy would hide the typo.
std::vector<Place> search_places(const DataDirs& dirs, std::vector<std::string>& unset) {
  std::vector<Place> places;
  if (dirs.data_dir.empty()) {
    unset.push_back("no --data-dir given");
  } else {
    check(is_dir(dirs.data_dir), "--data-dir {}: not a directory", dirs.data_dir.string());
    places.push_back({dirs.data_dir, "--data-dir"});
  }
  if (dirs.env_dir.empty()) {
    unset.push_back("LOPPER_DATA_DIR not set");
  } else {
    check(is_dir(dirs.env_dir), "LOPPER_DATA_DIR={}: not a directory", dirs.env_dir.string());
    places.push_back({dirs.env_dir, "LOPPER_DATA_DIR"});
  }
  if (is_dir(dirs.bundled_dir))
    places.push_back({dirs.bundled_dir, "bundled data"});
  else
    unset.push_back("no bundled assets/data found");
  return places;
}

DatasetText load_named(const Dataset& set, const DataDirs& dirs) {
  std::vector<std::string_view> relatives;
  for (const auto& src : set.sources) relatives.push_back(src.relative);
  auto [path, index] = locate_data_file("dataset " + std::string(set.info.name), relatives, dirs);
  const Source& src = set.sources[index];
  DatasetText out;
  out.name = std::string(set.info.name);
  out.source = path;
  auto rows = src.rows(read_maybe_gzip(path), path.string());
  out.rows = static_cast<int64_t>(rows.size());
  out.text = join(rows, src.joiner);
  check(!python_isblank(out.text), "dataset {}: {} contains no text", set.info.name, path.string());
  out.eval_split = set.info.eval_split;
  out.default_max_windows = src.max_windows;
  return out;
}

}  // namespace

DataFile locate_data_file(const std::string& what, const std::vector<std::string_view>& relatives,
                          const DataDirs& dirs) {
  std::vector<std::string> unset;
  std::string tried;
  for (const auto& place : search_places(dirs, unset)) {
    for (size_t i = 0; i < relatives.size(); ++i) {
      fs::path path = place.dir / relatives[i];
      std::error_code ec;
      if (fs::is_regular_file(path, ec)) return {path, i};
      tried += fmt::format("{}{} ({})", tried.empty() ? "" : ", ", path.string(), place.label);
    }
  }
  std::string wanted;
  for (const auto& r : relatives) wanted += (wanted.empty() ? "" : " or ") + std::string(r);
  std::string notes;
  for (const auto& u : unset) notes += (notes.empty() ? "" : ", ") + u;
  const std::string hint = "point --data-dir or LOPPER_DATA_DIR at a folder holding it";
  if (tried.empty()) fail("{} not found: no data directory to look for {} in ({}); {}", what, wanted, notes, hint);
  fail("{} not found: looked for {} at {}{}; {}", what, wanted, tried, notes.empty() ? "" : " (" + notes + ")", hint);
}

const std::vector<DatasetInfo>& known_datasets() {
  static const std::vector<DatasetInfo> infos = [] {
    std::vector<DatasetInfo> v;
    for (const auto& d : registry()) v.push_back(d.info);
    return v;
  }();
  return infos;
}

bool is_known_dataset(std::string_view name) { return find_dataset(name) != nullptr; }

bool is_eval_split(std::string_view name) {
  const Dataset* d = find_dataset(name);
  return d && d->info.eval_split;
}

DataDirs DataDirs::resolve(const fs::path& data_dir) {
  DataDirs dirs;
  dirs.data_dir = data_dir;
  if (const char* env = std::getenv("LOPPER_DATA_DIR"); env && *env) dirs.env_dir = env;
  dirs.bundled_dir = default_bundled_data_dir();
  return dirs;
}

fs::path default_bundled_data_dir() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("LOPPER_BUNDLED_DATA"); env && *env) candidates.emplace_back(env);
  // The binary lives in build/ (the CLI) or build/tests/ (test programs) of a source checkout.
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path() / ".." / "assets" / "data");
    candidates.push_back(exe.parent_path() / ".." / ".." / "assets" / "data");
  }
#ifdef LOPPER_SOURCE_DIR
  candidates.push_back(fs::path(LOPPER_SOURCE_DIR) / "assets" / "data");
#endif
  for (const auto& c : candidates)
    if (is_dir(c)) return c.lexically_normal();
  return {};
}

DatasetText load_dataset(const std::string& name_or_path, const DataDirs& dirs) {
  if (const Dataset* set = find_dataset(name_or_path)) return load_named(*set, dirs);
  std::error_code ec;
  check(fs::exists(name_or_path, ec), "dataset {}: not a known dataset ({}) and no such file", name_or_path,
        known_names());
  DatasetText out;
  out.name = name_or_path;
  out.source = name_or_path;
  out.text = read_text_file(name_or_path, kUserDocumentJoiner, &out.rows);
  return out;
}

std::vector<std::string> wikitext2_rows(std::string_view content) {
  auto rows = python_lines(content);
  for (auto& row : rows)
    if (python_isblank(row)) row.clear();
  return rows;
}

std::vector<std::string> ptb_rows(std::string_view content) {
  auto rows = python_lines(content);
  for (auto& row : rows) row = std::string(python_strip(row));
  return rows;
}

std::vector<std::string> line_documents(std::string_view content) {
  auto rows = python_lines(content);
  for (auto& row : rows)
    if (!row.empty() && row.back() == '\n') row.pop_back();
  return rows;
}

std::vector<std::string> tinystories_stories(std::string_view content) {
  std::vector<std::string> stories;
  std::string story;
  auto finish = [&] {
    if (!story.empty()) stories.push_back(std::exchange(story, {}));
  };
  for (auto& line : line_documents(content)) {
    if (python_strip(line) == "<|endoftext|>") {
      finish();
    } else if (!python_isblank(line)) {
      story += (story.empty() ? "" : "\n") + line;
    }
  }
  finish();
  return stories;
}

}  // namespace lopper
