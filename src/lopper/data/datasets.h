// Named evaluation / calibration datasets and the exact text each one produces (docs/data.md).
//
// A name is looked up as <dir>/<relative file> in, in order: --data-dir, $LOPPER_DATA_DIR, the data
// bundled with lopper (assets/data). Anything that is not a known name is a path to a user file
// (text_source.h formats), relative to the working directory.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace lopper {

struct DatasetInfo {
  std::string_view name;
  std::string_view split;        // the upstream split the text comes from
  bool eval_split;               // an evaluation set: calibrating or selecting on it leaks
  std::string_view description;  // one line for --help and logs
};

// The named datasets, in the order --help lists them.
const std::vector<DatasetInfo>& known_datasets();
bool is_known_dataset(std::string_view name);
// True for the named evaluation sets (wikitext2, c4, ptb); false for other names and user files,
// whose split lopper cannot know.
bool is_eval_split(std::string_view name);

// Where named datasets are looked for. An empty path means "not given / not found".
struct DataDirs {
  std::filesystem::path data_dir;     // --data-dir
  std::filesystem::path env_dir;      // $LOPPER_DATA_DIR
  std::filesystem::path bundled_dir;  // default_bundled_data_dir()

  // The given --data-dir (may be empty) plus the environment and the bundled data.
  static DataDirs resolve(const std::filesystem::path& data_dir = {});
};

// The repository's assets/data: the first existing directory of $LOPPER_BUNDLED_DATA,
// <exe dir>/../assets/data, <exe dir>/../../assets/data and, when the including target defines it,
// LOPPER_SOURCE_DIR/assets/data. Empty if none exists.
std::filesystem::path default_bundled_data_dir();

// The first of `relatives` found under the search directories (in order: --data-dir,
// $LOPPER_DATA_DIR, bundled; within each, the relatives in order) and its index in `relatives`.
// Otherwise InputError "<what> not found: looked for ... at <every path tried> ...".
struct DataFile {
  std::filesystem::path path;
  size_t index = 0;
};
DataFile locate_data_file(const std::string& what, const std::vector<std::string_view>& relatives,
                          const DataDirs& dirs);

struct DatasetText {
  std::string name;                // the dataset name, or the user path as given
  std::string text;                // the text to tokenize (valid UTF-8)
  std::filesystem::path source;    // the file it was read from
  int64_t rows = 0;                // rows / documents joined into `text`
  bool eval_split = false;         // see is_eval_split()
  // Windows the published protocol for this source evaluates (0 = all): GPTQ-style C4 validation
  // evaluation keeps only the first 256 windows of its 1,100 documents.
  int64_t default_max_windows = 0;
};

// Loads a named dataset or a user file. Errors (InputError) name the dataset and every path tried.
DatasetText load_dataset(const std::string& name_or_path, const DataDirs& dirs);

// The per-dataset row constructions, on the file's decoded content (exposed for tests and for
// callers that need rows rather than the joined text).
// wikitext2: rows of `for row in f: yield row if row.strip() else ""`, joined with "\n\n".
std::vector<std::string> wikitext2_rows(std::string_view content);
// ptb / ptb-valid: every line .strip()-ed (empty lines kept as ""), joined with " ".
std::vector<std::string> ptb_rows(std::string_view content);
// c4 sample: every line without its line end, joined with " ".
std::vector<std::string> line_documents(std::string_view content);
// tinystories: stories separated by "<|endoftext|>" lines; each story is its non-blank lines
// (without line ends) joined with "\n"; empty stories are dropped; stories joined with "\n\n".
std::vector<std::string> tinystories_stories(std::string_view content);

}  // namespace lopper
