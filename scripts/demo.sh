#!/usr/bin/env bash
# The main job on the bundled model: prune one of stories260k's five decoder blocks (Shortened-LLaMA
# PPL criterion, calibrated on TinyStories), then report WikiText-2 perplexity before and after and
# the parameter reduction. Needs nothing outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOPPER_TESTS=OFF -DLOPPER_BENCH=OFF
cmake --build "$BUILD_DIR" -j "$(nproc)" --target lopper_cli
mkdir -p out
"$BUILD_DIR"/lopper prune --model assets/models/stories260k --method block-ppl --remove 1 \
  --calib tinystories --nsamples 32 --seqlen 256 \
  --eval-ppl wikitext2 --out out/stories260k-pruned --json out/stories260k-report.json
