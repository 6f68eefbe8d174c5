#include "lopper/calib/calibration.h"

#include <ATen/ATen.h>

#include <cstdio>

#include "lopper/data/datasets.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"

namespace lopper {

nlohmann::json CalibOptions::to_json() const {
  return {{"dataset", dataset}, {"nsamples", nsamples}, {"seqlen", seqlen},
          {"seed", seed},       {"sampler", std::string(sampler_name(sampler))}};
}

CalibData load_calibration(const Tokenizer& tok, CalibOptions o, int64_t model_context) {
  check(!o.dataset.empty(), "--calib is required: name a dataset or a text file to calibrate on "
                            "(e.g. a training-split file; see docs/data.md)");
  check(o.nsamples >= 1, "--nsamples must be at least 1 (got {})", o.nsamples);
  if (o.seqlen == 0) o.seqlen = std::min<int64_t>(model_context, 2048);
  check(o.seqlen >= 2, "--seqlen must be at least 2 (got {})", o.seqlen);
  auto text = load_dataset(o.dataset, DataDirs::resolve(o.data_dir));
  CalibData d;
  d.eval_split = text.eval_split;
  if (text.eval_split)
    std::fprintf(stderr,
                 "lopper: warning: calibrating on %s, an evaluation split: choices made on the test set "
                 "inflate results measured on it\n",
                 o.dataset.c_str());
  auto ids = tok.encode(text.text);
  d.text_tokens = static_cast<int64_t>(ids.size());
  d.starts = calibration_starts(d.text_tokens, {o.sampler, o.nsamples, o.seqlen, o.seed});
  auto flat = gather_windows(ids, d.starts, o.seqlen);
  d.ids = at::from_blob(flat.data(), {o.nsamples, o.seqlen}, at::kInt).to(at::kLong);  // copies
  return d;
}

nlohmann::json report_calibration(const CalibOptions& o, const CalibData& d) {
  std::printf("-- calibration: %s, %ld samples x %ld tokens (%s, seed %lu), %ld tokens in text\n", o.dataset.c_str(),
              static_cast<long>(d.ids.size(0)), static_cast<long>(d.ids.size(1)),
              std::string(sampler_name(o.sampler)).c_str(), static_cast<unsigned long>(o.seed),
              static_cast<long>(d.text_tokens));
  auto j = o.to_json();
  j["seqlen"] = d.ids.size(1);
  j["text_tokens"] = d.text_tokens;
  j["eval_split_warning"] = d.eval_split;
  return j;
}

}  // namespace lopper
