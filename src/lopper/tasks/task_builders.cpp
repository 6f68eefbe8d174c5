#include "lopper/tasks/task_builders.h"

#include "lopper/data/pystr.h"
#include "lopper/tasks/text_rules.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

using nlohmann::json;

const json& field(const json& row, const char* key, const std::string& where) {
  check(row.is_object(), "{}: expected a JSON object", where);
  auto it = row.find(key);
  check(it != row.end(), "{}: field \"{}\" is missing", where, key);
  return *it;
}

std::string str(const json& row, const char* key, const std::string& where) {
  const json& v = field(row, key, where);
  check(v.is_string(), "{}: field \"{}\" must be a string", where, key);
  return v.get<std::string>();
}

std::vector<std::string> str_list(const json& row, const char* key, const std::string& where) {
  const json& v = field(row, key, where);
  check(v.is_array() && !v.empty(), "{}: field \"{}\" must be a non-empty list of strings", where, key);
  std::vector<std::string> out;
  for (const auto& x : v) {
    check(x.is_string(), "{}: field \"{}\" must be a non-empty list of strings", where, key);
    out.push_back(x.get<std::string>());
  }
  return out;
}

// An integer, or a string holding one (HellaSwag's label is "3").
int integer(const json& row, const char* key, const std::string& where) {
  const json& v = field(row, key, where);
  if (v.is_number_integer()) return v.get<int>();
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    try {
      size_t used = 0;
      int i = std::stoi(s, &used);
      if (used == s.size()) return i;
    } catch (const std::exception&) {
    }
  }
  fail("{}: field \"{}\" must be an integer", where, key);
}

void check_gold(int gold, size_t n, const std::string& where) {
  check(gold >= 0 && static_cast<size_t>(gold) < n, "{}: gold index {} is outside the {} choices", where, gold, n);
}

}  // namespace

TaskDoc multiple_choice_doc(const std::string& context, const std::vector<std::string>& choices, int gold,
                            const std::string& where) {
  check(choices.size() >= 2, "{}: a multiple-choice document needs at least 2 choices, got {}", where, choices.size());
  check_gold(gold, choices.size(), where);
  TaskDoc doc;
  doc.gold = gold;
  for (const auto& c : choices) {
    check(!c.empty(), "{}: empty choice", where);
    doc.requests.push_back({context, " " + c});
    doc.choice_chars.push_back(count_code_points(c));
  }
  return doc;
}

TaskDoc piqa_doc(const json& row, int label, const std::string& where) {
  return multiple_choice_doc("Question: " + str(row, "goal", where) + "\nAnswer:",
                             {str(row, "sol1", where), str(row, "sol2", where)}, label, where);
}

TaskDoc hellaswag_doc(const json& row, const std::string& where) {
  const std::string ctx = str(row, "ctx_a", where) + " " + python_capitalize(str(row, "ctx_b", where));
  std::vector<std::string> endings;
  for (const auto& e : str_list(row, "endings", where)) endings.push_back(hellaswag_preprocess(e));
  return multiple_choice_doc(hellaswag_preprocess(str(row, "activity_label", where) + ": " + ctx), endings,
                             integer(row, "label", where), where);
}

TaskDoc context_options_doc(const json& row, const std::string& where) {
  auto contexts = str_list(row, "context_options", where);
  check(contexts.size() >= 2, "{}: \"context_options\" needs at least 2 contexts", where);
  const std::string cont = " " + std::string(python_strip(str(row, "continuation", where)));
  TaskDoc doc;
  doc.gold = integer(row, "gold", where);
  check_gold(doc.gold, contexts.size(), where);
  for (const auto& c : contexts) doc.requests.push_back({c, cont});
  return doc;
}

TaskDoc arc_doc(const json& row, const std::string& where) {
  return multiple_choice_doc(str(row, "query", where) + "\nAnswer:", str_list(row, "choices", where),
                             integer(row, "gold", where), where);
}

TaskDoc boolq_doc(const json& row, const std::string& where) {
  std::string q = str(row, "query", where);
  const std::string prefix = "Passage: ", sep = "\nQuestion: ";
  if (q.rfind(prefix, 0) == 0) q.erase(0, prefix.size());
  const size_t at = q.rfind(sep);
  check(at != std::string::npos, "{}: \"query\" has no \"\\nQuestion: \" to split passage and question", where);
  const std::string passage = q.substr(0, at), question = q.substr(at + sep.size());
  return multiple_choice_doc(passage + sep + question + "\nAnswer:", {"no", "yes"}, integer(row, "gold", where),
                             where);
}

TaskDoc query_choices_doc(const json& row, const std::string& where) {
  return multiple_choice_doc(str(row, "query", where), str_list(row, "choices", where), integer(row, "gold", where),
                             where);
}

TaskDoc copa_doc(const json& row, Harness harness, const std::string& where) {
  std::string q = str(row, "query", where);
  std::string context;
  for (const char* connector : {", because", ", therefore"}) {
    const std::string c = connector;
    if (q.size() >= c.size() && q.compare(q.size() - c.size(), c.size(), c) == 0)
      context = q.substr(0, q.size() - c.size()) + " " + c.substr(2);  // drop the comma
  }
  check(!context.empty(), "{}: COPA query must end in \", because\" or \", therefore\"", where);
  std::vector<std::string> choices;
  for (const auto& c : str_list(row, "choices", where))
    choices.push_back((harness == Harness::V04 ? " " : "") + copa_convert_choice(c));
  return multiple_choice_doc(context, choices, integer(row, "gold", where), where);
}

TaskDoc context_continuation_doc(const json& row, const std::string& where) {
  TaskDoc doc;
  const std::string cont = str(row, "continuation", where);
  check(!cont.empty(), "{}: empty \"continuation\"", where);
  doc.requests.push_back({str(row, "context", where), " " + cont});
  return doc;
}

}  // namespace lopper
