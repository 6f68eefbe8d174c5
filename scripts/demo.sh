#!/usr/bin/env bash
# The main job on the bundled model: prune one of stories260k's five decoder blocks (Shortened-LLaMA
# PPL criterion, calibrated on TinyStories), report WikiText-2 perplexity before and after and the
# parameter reduction, then compare the dense and the pruned model side by side (parameters,
# perplexity, COPA zero-shot accuracy, generation speed and memory). Needs nothing outside the
# repository; re-running replaces out/.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOPPER_TESTS=OFF -DLOPPER_BENCH=OFF
cmake --build "$BUILD_DIR" -j "$(nproc)" --target lopper_cli
mkdir -p out
"$BUILD_DIR"/lopper prune --model assets/models/stories260k --method block-ppl --remove 1 \
  --calib tinystories --nsamples 32 --seqlen 256 \
  --eval-ppl wikitext2 --out out/stories260k-pruned --force --json out/stories260k-report.json
"$BUILD_DIR"/lopper compare --model assets/models/stories260k --model out/stories260k-pruned \
  --ppl wikitext2 --tasks copa --bench --prompt-len 64 --gen-len 64 --batch 1,8 \
  --json out/stories260k-compare.json
