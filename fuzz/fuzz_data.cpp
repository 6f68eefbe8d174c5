// Fuzzes the dataset readers (data/text_source.h, data/datasets.h): user files as `--ppl FILE` /
// `--calib FILE` read them (.txt, .jsonl, .json, each maybe gzipped: gzip is detected by its magic
// bytes), and the row constructions of the named datasets. Input: the first byte picks the file name
// (so the format), the rest is the file's content. Accepted text must be valid UTF-8 and not blank.
#include "fuzz_util.h"
#include "lopper/data/datasets.h"
#include "lopper/data/pystr.h"
#include "lopper/data/text_source.h"

namespace {

constexpr const char* kNames[] = {"data.txt", "data.jsonl", "data.json", "data.txt.gz", "data.jsonl.gz",
                                  "data.json.gz"};

void check_text(const std::string& text) {
  lopper::check_utf8(text, "accepted text");  // throws InputError (unexpected here: uncaught)
  FUZZ_CHECK(!lopper::python_isblank(text));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view content = lopper::fuzz::as_text(data + 1, size - 1);
  const auto path = lopper::fuzz::write_scratch(kNames[data[0] % std::size(kNames)], content);
  lopper::DatasetText text;
  if (lopper::fuzz::expect_lopper_errors([&] { text = lopper::load_dataset(path.string(), {}); })) {
    check_text(text.text);
    FUZZ_CHECK(text.rows >= 1);
  }

  // The named datasets' rows (wikitext2, ptb, c4 sample, tinystories) from the same bytes, gunzipped
  // or not, when they are UTF-8 (load_named checks that first).
  std::string decoded;
  if (!lopper::fuzz::expect_lopper_errors([&] { decoded = lopper::read_maybe_gzip(path); })) return 0;
  if (!lopper::fuzz::expect_lopper_errors([&] { lopper::check_utf8(decoded, "rows"); })) return 0;
  for (const auto& rows : {lopper::wikitext2_rows(decoded), lopper::ptb_rows(decoded),
                           lopper::line_documents(decoded), lopper::tinystories_stories(decoded)}) {
    lopper::count_code_points(lopper::join(rows, " "));
    for (const auto& r : rows) lopper::python_rstrip(r);
  }
  lopper::fuzz::expect_lopper_errors([&] { lopper::json_documents(decoded, "docs"); });
  return 0;
}
