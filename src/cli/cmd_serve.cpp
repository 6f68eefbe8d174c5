#include "cli/commands.h"
#include "cli/model_arg.h"
#include "lopper/serve/demo_server.h"

namespace lopper::cli {

void register_serve(CLI::App& app) {
  struct Opts {
    std::vector<std::string> models;
    DemoServerOptions server;
    bool download = false;
  };
  auto o = std::make_shared<Opts>();
  auto* sub = app.add_subcommand(
      "serve", "Web demo: models continue the same prompt side by side, streaming, with tokens/s and memory");
  sub->add_option("--model", o->models,
                  "Model directory or hub id org/name[@rev] (repeat: one column each, e.g. dense then pruned)")
      ->required();
  add_download_flag(sub, &o->download);
  sub->add_option("--port", o->server.port, "TCP port (0: any free port)")->default_val(8080);
  sub->add_option("--host", o->server.host, "Address to listen on (0.0.0.0: every interface)")
      ->default_val("127.0.0.1");
  sub->add_option("--device", o->server.load.device, "cpu | cuda | cuda:N")->default_val("cpu");
  sub->add_option("--dtype", o->server.load.dtype, "auto | f32 | bf16 | f16")->default_val("auto");
  sub->add_option("--max-new-tokens", o->server.max_new_tokens, "Cap on the new tokens of one request")
      ->default_val(1024);
  sub->callback([o] {
    resolve_model_args(o->models, o->download);
    o->server.models.assign(o->models.begin(), o->models.end());
    run_demo_server(o->server);
  });
}

}  // namespace lopper::cli
