// Fuzzes zero-shot task files (`lopper eval --tasks FILE | NAME=FILE`, tasks/task_registry.h): a user
// JSONL file whose schema is detected from its first row, or a file given to a named task's rules
// (piqa with its labels file, hellaswag, winogrande, arc, boolq, openbookqa, copa, lambada), each
// maybe gzipped. Input: the first byte picks the task (low 7 bits) and the harness (top bit); the rest
// is the file. For piqa, the part after the first NUL byte is the labels file. Accepted documents must
// be scorable: requests present, gold indexing one of them, acc_norm lengths for every choice.
#include "fuzz_util.h"
#include "lopper/tasks/task_registry.h"

namespace {

void check_docs(const lopper::TaskData& t) {
  FUZZ_CHECK(!t.docs.empty());
  for (const auto& d : t.docs) {
    FUZZ_CHECK(!d.requests.empty());
    if (t.kind == lopper::TaskKind::Loglikelihood) {
      FUZZ_CHECK(d.requests.size() == 1);
      continue;
    }
    FUZZ_CHECK(d.gold >= 0 && static_cast<size_t>(d.gold) < d.requests.size());
    if (t.kind == lopper::TaskKind::MultipleChoice) FUZZ_CHECK(d.choice_chars.size() == d.requests.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto& tasks = lopper::known_tasks();
  const size_t pick = (data[0] & 0x7f) % (tasks.size() + 1);  // tasks.size(): a user file
  const auto harness = data[0] & 0x80 ? lopper::Harness::V03 : lopper::Harness::V04;
  std::string_view content = lopper::fuzz::as_text(data + 1, size - 1);
  std::string spec;
  if (pick == tasks.size()) {
    spec = lopper::fuzz::write_scratch("user-task.jsonl", content).string();
  } else {
    const std::string name(tasks[pick].name);
    if (name == "piqa") {
      const size_t nul = content.find('\0');
      lopper::fuzz::write_scratch("piqa-labels.lst", nul == content.npos ? "" : content.substr(nul + 1));
      content = content.substr(0, nul);
    }
    // piqa finds "piqa-labels.lst" next to "piqa.jsonl".
    spec = name + "=" + lopper::fuzz::write_scratch(name + ".jsonl", content).string();
  }
  lopper::TaskData t;
  if (!lopper::fuzz::expect_lopper_errors([&] { t = lopper::load_task(spec, {}, harness, 0); })) return 0;
  check_docs(t);
  return 0;
}
