// Each lopper subcommand registers itself on the CLI11 app. The subcommands are thin: they parse
// options, call the library, and print results; all logic lives in the lopper library.
#pragma once
#include <CLI/CLI.hpp>

namespace lopper::cli {

void register_info(CLI::App& app);
void register_generate(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_eval(CLI::App& app);
void register_prune(CLI::App& app);
void register_bench(CLI::App& app);
void register_compare(CLI::App& app);
void register_export(CLI::App& app);
void register_serve(CLI::App& app);
void register_finetune(CLI::App& app);

}  // namespace lopper::cli
