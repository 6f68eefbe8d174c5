// lopper command-line entry point: registers subcommands and turns library exceptions into a single
// error line and an exit code (1: error, 2: usage error from option parsing).
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "lopper/util/allocator.h"
#include "lopper/util/error.h"

int main(int argc, char** argv) {
  lopper::tune_allocator();
  CLI::App app{"lopper: structured pruning and evaluation of Llama-family language models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "lopper 0.1.0");
  lopper::cli::register_info(app);
  lopper::cli::register_generate(app);
  lopper::cli::register_tokenize(app);
  lopper::cli::register_eval(app);
  lopper::cli::register_prune(app);
  lopper::cli::register_bench(app);
  lopper::cli::register_compare(app);
  lopper::cli::register_export(app);
  lopper::cli::register_serve(app);
  lopper::cli::register_finetune(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::fprintf(stderr, "lopper: usage error: %s (see lopper --help)\n", e.what());
    return 2;
  } catch (const lopper::Error& e) {
    std::fprintf(stderr, "lopper: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lopper: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
