#include "lopper/tasks/task_registry.h"

#include "lopper/data/pystr.h"
#include "lopper/data/text_source.h"
#include "lopper/tasks/task_builders.h"
#include "lopper/util/error.h"

namespace lopper {

namespace fs = std::filesystem;
using nlohmann::json;

const char* kind_name(TaskKind k) {
  switch (k) {
    case TaskKind::MultipleChoice: return "multiple_choice";
    case TaskKind::ContextChoice: return "context_choice";
    case TaskKind::Loglikelihood: return "loglikelihood";
  }
  return "?";
}

const char* harness_name(Harness h) { return h == Harness::V03 ? "v0.3" : "v0.4"; }

const std::vector<TaskInfo>& known_tasks() {
  static const std::vector<TaskInfo> tasks = {
      {"piqa", TaskKind::MultipleChoice, {"acc", "acc_norm"},
       {"zeroshot/piqa/valid.jsonl", "zeroshot/piqa/valid-labels.lst"}, "", "PIQA validation, 1,838 documents"},
      {"hellaswag", TaskKind::MultipleChoice, {"acc", "acc_norm"},
       {"zeroshot/hellaswag/hellaswag_val_subset1000.jsonl"},
       "1,000-document random subset of the 10,042 validation documents lm-eval scores (give the full file as "
       "hellaswag=FILE)",
       "HellaSwag validation"},
      {"winogrande", TaskKind::ContextChoice, {"acc"}, {"zeroshot/llm-foundry/winogrande.jsonl"}, "",
       "WinoGrande (xl) validation, 1,267 documents"},
      {"arc_easy", TaskKind::MultipleChoice, {"acc", "acc_norm"}, {"zeroshot/llm-foundry/arc_easy.jsonl"},
       "llm-foundry copy: 3-choice items padded with a repeated wrong choice (no effect on the metrics)",
       "ARC-Easy test, 2,376 documents"},
      {"arc_challenge", TaskKind::MultipleChoice, {"acc", "acc_norm"}, {"zeroshot/llm-foundry/arc_challenge.jsonl"},
       "llm-foundry copy: 3-choice items padded with a repeated wrong choice, a few 5-choice items lost a choice",
       "ARC-Challenge test, 1,172 documents"},
      {"boolq", TaskKind::MultipleChoice, {"acc"}, {"zeroshot/llm-foundry/boolq.jsonl"},
       "llm-foundry copy: passages lack the \"Title -- \" prefix of lm-eval's super_glue passages",
       "BoolQ validation, 3,270 documents"},
      {"openbookqa", TaskKind::MultipleChoice, {"acc", "acc_norm"}, {"zeroshot/llm-foundry/openbook_qa.jsonl"}, "",
       "OpenBookQA test, 500 documents"},
      {"copa", TaskKind::MultipleChoice, {"acc"}, {"zeroshot/llm-foundry/copa.jsonl"}, "",
       "COPA validation, 100 documents"},
      {"lambada_openai", TaskKind::Loglikelihood, {"acc", "perplexity"}, {"zeroshot/llm-foundry/lambada_openai.jsonl"},
       "", "LAMBADA (OpenAI) test, 5,153 documents"},
  };
  return tasks;
}

const TaskInfo* find_task(std::string_view name) {
  for (const auto& t : known_tasks())
    if (t.name == name) return &t;
  return nullptr;
}

std::string known_task_names() {
  std::string out;
  for (const auto& t : known_tasks()) out += (out.empty() ? "" : ", ") + std::string(t.name);
  return out;
}

namespace {

using RowFn = TaskDoc (*)(const json&, const std::string&);

using DocFn = TaskDoc (*)(const json&, Harness, const std::string&);

std::vector<TaskDoc> parse_rows(const std::string& content, const fs::path& path, int64_t limit, Harness harness,
                                DocFn fn) {
  std::vector<TaskDoc> docs;
  for_each_json_line(content, path.string(), [&](const json& row, const std::string& where) {
    docs.push_back(fn(row, harness, where));
    return limit <= 0 || static_cast<int64_t>(docs.size()) < limit;
  });
  check(!docs.empty(), "{}: no documents", path.string());
  return docs;
}

std::vector<TaskDoc> read_rows(const fs::path& path, int64_t limit, Harness harness, DocFn fn) {
  return parse_rows(read_maybe_gzip(path), path, limit, harness, fn);
}

template <RowFn F>
TaskDoc ignore_harness(const json& row, Harness, const std::string& where) {
  return F(row, where);
}

std::vector<int> read_labels(const fs::path& path) {
  std::vector<int> labels;
  const std::string content = read_maybe_gzip(path);
  int64_t line = 0;
  for (const auto& row : python_lines(content)) {
    ++line;
    auto s = python_strip(row);
    if (s.empty()) continue;
    check(s == "0" || s == "1", "{}:{}: label must be 0 or 1, got \"{:.20}\"", path.string(), line, s);
    labels.push_back(s == "1");
  }
  return labels;
}

// PIQA: X.jsonl with its labels in X-labels.lst (the layout of the PIQA release).
std::vector<TaskDoc> load_piqa(const fs::path& data, const fs::path& labels_path, int64_t limit) {
  auto labels = read_labels(labels_path);
  const std::string content = read_maybe_gzip(data);
  std::vector<TaskDoc> docs;
  size_t i = 0;
  for_each_json_line(content, data.string(), [&](const json& row, const std::string& where) {
    check(i < labels.size(), "{}: more documents than labels in {} ({})", where, labels_path.string(), labels.size());
    if (limit <= 0 || static_cast<int64_t>(docs.size()) < limit) docs.push_back(piqa_doc(row, labels[i], where));
    ++i;
    return true;
  });
  check(i == labels.size(), "{}: {} documents but {} labels in {}", data.string(), i, labels.size(),
        labels_path.string());
  check(!docs.empty(), "{}: no documents", data.string());
  return docs;
}

fs::path piqa_labels_for(const fs::path& data) {
  std::string stem = data.filename().string();
  if (auto dot = stem.rfind(".jsonl"); dot != std::string::npos) stem.resize(dot);
  return data.parent_path() / (stem + "-labels.lst");
}

void load_named(TaskData& out, const TaskInfo& info, std::vector<fs::path> files, Harness harness, int64_t limit) {
  out.kind = info.kind;
  out.metrics.assign(info.metrics.begin(), info.metrics.end());
  for (const auto& f : files) out.sources.push_back(f.string());
  const std::string_view n = info.name;
  if (n == "piqa") {
    out.docs = load_piqa(files[0], files.size() > 1 ? files[1] : piqa_labels_for(files[0]), limit);
  } else if (n == "hellaswag") {
    out.docs = read_rows(files[0], limit, harness, ignore_harness<hellaswag_doc>);
  } else if (n == "winogrande") {
    out.docs = read_rows(files[0], limit, harness, ignore_harness<context_options_doc>);
  } else if (n == "arc_easy" || n == "arc_challenge") {
    out.docs = read_rows(files[0], limit, harness, ignore_harness<arc_doc>);
  } else if (n == "boolq") {
    out.docs = read_rows(files[0], limit, harness, ignore_harness<boolq_doc>);
  } else if (n == "openbookqa") {
    out.docs = read_rows(files[0], limit, harness, ignore_harness<query_choices_doc>);
  } else if (n == "copa") {
    out.docs = read_rows(files[0], limit, harness, copa_doc);
  } else {
    out.docs = read_rows(files[0], limit, harness, ignore_harness<context_continuation_doc>);
  }
}

// A user file: the schema is chosen by the first row's fields.
void load_user_file(TaskData& out, const fs::path& path, Harness harness, int64_t limit) {
  std::error_code ec;
  check(fs::is_regular_file(path, ec), "task {}: not a known task or preset ({}) and no such file", path.string(),
        known_task_names());
  const std::string content = read_maybe_gzip(path);
  json first;
  for_each_json_line(content, path.string(), [&](const json& row, const std::string&) {
    first = row;
    return false;
  });
  check(first.is_object(), "{}: no documents (expected JSON lines)", path.string());
  out.sources.push_back(path.string());
  DocFn fn = nullptr;
  if (first.contains("context_options")) {
    out.kind = TaskKind::ContextChoice;
    out.metrics = {"acc"};
    fn = ignore_harness<context_options_doc>;
  } else if (first.contains("choices")) {
    out.kind = TaskKind::MultipleChoice;
    out.metrics = {"acc", "acc_norm"};
    fn = ignore_harness<query_choices_doc>;
  } else if (first.contains("context") && first.contains("continuation")) {
    out.kind = TaskKind::Loglikelihood;
    out.metrics = {"acc", "perplexity"};
    fn = ignore_harness<context_continuation_doc>;
  } else {
    fail("{}:1: unknown task schema: expected {{query, choices, gold}}, {{context_options, continuation, gold}} or "
         "{{context, continuation}}", path.string());
  }
  out.docs = parse_rows(content, path, limit, harness, fn);  // the content read above, not a second read
}

}  // namespace

TaskData load_task(const std::string& spec, const DataDirs& dirs, Harness harness, int64_t limit) {
  TaskData out;
  out.name = spec;
  // NAME=FILE when NAME is a task; anything else with an '=' is a path like any other.
  const auto eq = spec.find('=');
  if (eq != std::string::npos && find_task(spec.substr(0, eq))) {
    out.name = spec.substr(0, eq);
    const fs::path file = spec.substr(eq + 1);
    std::error_code ec;
    check(fs::is_regular_file(file, ec), "--tasks {}: no such file {}", spec, file.string());
    load_named(out, *find_task(out.name), {file}, harness, limit);
    return out;
  }
  if (const TaskInfo* info = find_task(spec)) {
    std::vector<fs::path> files;
    for (const auto& rel : info->files)
      files.push_back(locate_data_file("task " + std::string(info->name) + " file", {rel}, dirs).path);
    out.note = std::string(info->note);
    load_named(out, *info, files, harness, limit);
    return out;
  }
  load_user_file(out, spec, harness, limit);
  return out;
}

}  // namespace lopper
