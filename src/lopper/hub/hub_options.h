// Where the hub cache is, which hub to ask, with which token: huggingface_hub's environment variables,
// read in one place (HubOptions::from_env) so that tests can pass their own values instead.
#pragma once
#include <chrono>
#include <filesystem>
#include <string>

namespace lopper::hub {

struct HubOptions {
  // The cache root: HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
  // ~/.cache/huggingface/hub (HUGGINGFACE_HUB_CACHE, the legacy name, is honoured too).
  std::filesystem::path cache_dir;
  // HF_ENDPOINT without a trailing '/', else https://huggingface.co.
  std::string endpoint = "https://huggingface.co";
  // HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), else the file HF_TOKEN_PATH, else $HF_HOME/token; may be empty.
  std::string token;
  // HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is 1/ON/YES/TRUE: use the cache only.
  bool offline = false;
  // --download: ask the hub even when the snapshot is cached, and fetch whatever is missing.
  bool download = false;
  // Timeouts, so that nothing hangs: connecting, and a transfer that receives no byte for this long
  // (HF_HUB_DOWNLOAD_TIMEOUT, 10 s as in huggingface_hub); a broken transfer is resumed `retries` times
  // in a row without progress before giving up, `retry_delay` apart.
  long connect_timeout_s = 10;
  long stall_timeout_s = 10;
  int retries = 5;
  std::chrono::milliseconds retry_delay{1000};

  static HubOptions from_env();
};

}  // namespace lopper::hub
