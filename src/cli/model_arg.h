// `--model DIR | org/name[@rev]` and `--download` for every subcommand that loads a model: one helper,
// so that each subcommand adds the flag and resolves its --model values in one line each.
#pragma once
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace lopper::cli {

// Help text of --model (subcommands may append their own note).
inline constexpr const char* kModelHelp = "Model directory or hub id org/name[@rev]";

// Adds --download to `sub`: check the hub even when the model is cached, and fetch what is missing.
void add_download_flag(CLI::App* sub, bool* download);

// A local folder as it is; a hub id as its snapshot folder in the Hugging Face cache, downloaded when
// not cached (unless HF_HUB_OFFLINE) or when `download`. Reads the HF_* environment variables.
std::string resolve_model_arg(const std::string& model, bool download);
void resolve_model_args(std::vector<std::string>& models, bool download);

}  // namespace lopper::cli
