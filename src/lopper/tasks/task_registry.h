// The named zero-shot tasks, where their files are looked for, and loading a task by name, as
// name=FILE (a named task's rules on another file of its schema), or as a user file by path.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "lopper/data/datasets.h"
#include "lopper/tasks/task.h"

namespace lopper {

struct TaskInfo {
  std::string_view name;
  TaskKind kind;
  std::vector<std::string_view> metrics;  // what the task reports, in order
  std::vector<std::string_view> files;    // relative to a data directory (docs/zeroshot.md)
  std::string_view note;                  // set when the bundled-with-../shared file is not lm-eval's exactly
  std::string_view description;
};

const std::vector<TaskInfo>& known_tasks();
const TaskInfo* find_task(std::string_view name);
// "piqa, hellaswag, ..." for error messages.
std::string known_task_names();

// Loads `spec`: a task name (files found as datasets are: --data-dir, $LOPPER_DATA_DIR, bundled),
// "name=FILE" with a known task name, or the path of a JSONL file in one of the schemas of docs/zeroshot.md (detected from
// its first row). `limit` > 0 keeps the first `limit` documents.
TaskData load_task(const std::string& spec, const DataDirs& dirs, Harness harness, int64_t limit = 0);

}  // namespace lopper
