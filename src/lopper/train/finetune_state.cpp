#include "lopper/train/finetune_state.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "lopper/io/safetensors.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

void save_finetune_state(const std::filesystem::path& dir, const LoraAdapters& lora, AdamW& opt, int64_t step,
                         const nlohmann::json& fingerprint, const nlohmann::json& log) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : lora.pairs()) {
    tensors.emplace_back("lora." + LoraAdapters::peft_name(p.layer, p.role, false), p.a.detach().cpu().contiguous());
    tensors.emplace_back("lora." + LoraAdapters::peft_name(p.layer, p.role, true), p.b.detach().cpu().contiguous());
  }
  for (size_t i = 0; i < opt.exp_avg().size(); ++i) {
    tensors.emplace_back(fmt::format("adam.exp_avg.{}", i), opt.exp_avg()[i].cpu().contiguous());
    tensors.emplace_back(fmt::format("adam.exp_avg_sq.{}", i), opt.exp_avg_sq()[i].cpu().contiguous());
  }
  const nlohmann::json state = {{"step", step}, {"optimizer_steps", opt.steps()}, {"fingerprint", fingerprint},
                                {"log", log}};
  DirWritePolicy policy;
  policy.force = true;
  policy.owned = [](const std::string&) { return true; };
  write_dir_atomic(
      dir,
      [&](const std::filesystem::path& tmp) {
        write_safetensors(tmp / "state.safetensors", tensors);
        write_file_atomic(tmp / "state.json", state.dump(1) + "\n");
      },
      policy);
}

std::pair<int64_t, nlohmann::json> load_finetune_state(const std::filesystem::path& dir, LoraAdapters& lora,
                                                       AdamW& opt, const nlohmann::json& fingerprint) {
  const auto json_path = dir / "state.json";
  std::error_code ec;
  check(std::filesystem::exists(json_path, ec), "--resume: no saved state in {} (missing state.json)", dir.string());
  nlohmann::json state;
  try {
    state = nlohmann::json::parse(read_file(json_path));
    for (const char* key : {"step", "optimizer_steps", "fingerprint", "log"})
      check(state.contains(key), "missing \"{}\"", key);
  } catch (const std::exception& e) {
    fail("--resume: {} is corrupt ({})", json_path.string(), e.what());
  }
  for (const auto& [key, value] : fingerprint.items()) {
    const auto it = state["fingerprint"].find(key);
    check(it != state["fingerprint"].end() && *it == value,
          "--resume: the state in {} was made with {} = {}, this run has {} (resume with the same options)",
          dir.string(), key, it == state["fingerprint"].end() ? "nothing" : it->dump(), value.dump());
  }
  const auto st_path = dir / "state.safetensors";
  lora.load_peft_weights(st_path, "lora.");
  auto st = SafetensorsFile::open(st_path);
  c10::NoGradGuard no_grad;
  auto restore = [&](const std::string& name, at::Tensor& dst) {
    check(st->find(name) != nullptr, "{}: tensor {} is missing", st_path.string(), name);
    at::Tensor src = st->tensor(name);
    check(src.sizes() == dst.sizes(), "{}: tensor {} has the wrong shape", st_path.string(), name);
    dst.copy_(src);
  };
  for (size_t i = 0; i < opt.exp_avg().size(); ++i) {
    restore(fmt::format("adam.exp_avg.{}", i), opt.exp_avg()[i]);
    restore(fmt::format("adam.exp_avg_sq.{}", i), opt.exp_avg_sq()[i]);
  }
  opt.set_steps(state["optimizer_steps"].get<int64_t>());
  return {state["step"].get<int64_t>(), state["log"]};
}

}  // namespace lopper
