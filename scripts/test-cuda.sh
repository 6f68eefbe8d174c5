#!/usr/bin/env bash
# Builds lopper against a CUDA libtorch and runs every test, the CUDA ones included (they skip in
# CPU-only builds). The libtorch is the one inside the local PyTorch install unless
# LOPPER_TORCH_PREFIX points at another (e.g. an unpacked libtorch archive). The other dependencies
# are the same Debian packages as the CPU build (scripts/install-deps.sh); CMAKE_PREFIX_PATH in the
# environment is searched too.
#   scripts/test-cuda.sh [BUILD_DIR]        LOPPER_SKIP_TESTS=1: build only
#   LOPPER_CMAKE_ARGS="-DLOPPER_SHARED_DIR=/path/to/shared" scripts/test-cuda.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build-cuda}
TORCH_PREFIX=${LOPPER_TORCH_PREFIX:-$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')}
# shellcheck disable=SC2086  # LOPPER_CMAKE_ARGS is a list of arguments
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOPPER_CUDA=ON -DLOPPER_TESTS=ON \
  -DLOPPER_SANITIZE=OFF -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" ${LOPPER_CMAKE_ARGS:-}
cmake --build "$BUILD_DIR"
[ -n "${LOPPER_SKIP_TESTS:-}" ] && exit 0
JOBS=$(( $(nproc) / 2 > 1 ? $(nproc) / 2 : 1 ))
OMP_NUM_THREADS=2 ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" --timeout 1200
