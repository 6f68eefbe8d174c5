#!/usr/bin/env bash
# Builds lopper and runs every test (the README's test command; CI calls it).
# ../shared (models, data, goldens) is used when present; tests that need it skip otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOPPER_TESTS=ON -DLOPPER_BENCH=ON
cmake --build "$BUILD_DIR" -j "$JOBS"
# One thread per test process and one test per core: libtorch's OpenMP pool and OpenBLAS's threads
# oversubscribe the cores when several multi-threaded tests share them.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" --timeout 1200
