#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (ASan + UBSan, build dir build-fuzz) and runs each
# for RUNS executions (default 1,000,000), one after the other, then prints per target the executions
# done, the time and the result. Not part of CI's default run (it takes a while); CI replays the
# committed corpus instead (CTest label "fuzz-regression").
#
#   scripts/fuzz.sh                    # every target
#   scripts/fuzz.sh config tokenizer   # some of them
#   RUNS=100000 scripts/fuzz.sh        # a shorter run
#   MERGE=1 scripts/fuzz.sh data       # afterwards, add the new inputs (up to 1 KB) that reach new
#                                      # code to fuzz/corpus/data (review the size before committing)
#
# New inputs go to build-fuzz/corpus/<target>/ (fuzz/corpus/<target>/ is only read, unless MERGE=1);
# a crashing, leaking or hanging input is saved as build-fuzz/artifacts/<target>/crash-* (leak-*,
# timeout-*, oom-*) and the log is build-fuzz/logs/<target>.log. After fixing the bug, copy the input
# to fuzz/corpus/<target>/crash-<what> so that the regression tests keep covering it.
# Installs clang, its sanitizer/libFuzzer runtimes and libomp (CMake's OpenMP check under clang) when
# missing, as scripts/install-deps.sh does: apt-get as root, else through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-fuzz}
RUNS=${RUNS:-1000000}
TIMEOUT=${TIMEOUT:-10}       # seconds one input may take before it counts as a hang
RSS_LIMIT=${RSS_LIMIT:-2048} # MB; also the limit of a single allocation
JOBS=${JOBS:-$(nproc)}
ALL_TARGETS=(safetensors config tokenizer plan data tasks finetune gguf)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

missing=()
for p in clang libclang-rt-14-dev libomp-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "fuzz: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLOPPER_FUZZ=ON -DLOPPER_TESTS=OFF -DLOPPER_BENCH=OFF -DLOPPER_SANITIZE=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${TARGETS[@]/#/fuzz_}"

# Largest input each target generates: small enough to stay fast, large enough for its seeds.
max_len() {
  case "$1" in
    tokenizer) echo 8192 ;;
    safetensors|data|tasks|finetune|gguf) echo 4096 ;;
    *) echo 2048 ;;
  esac
}

# libtorch and OpenMP start threads; one thread keeps a fuzzer on one core.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_odr_violation=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

summary=()
failed=0
for t in "${TARGETS[@]}"; do
  work="$BUILD_DIR/corpus/$t" artifacts="$BUILD_DIR/artifacts/$t" log="$BUILD_DIR/logs/$t.log"
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  touch "$log.start"  # artifacts newer than this are this run's
  echo "fuzz: $t: $RUNS runs (log $log)"
  start=$SECONDS
  rc=0
  dict=()
  [ "$t" != gguf ] && dict=(-dict=fuzz/json.dict)  # every other format is JSON or holds JSON
  "$BUILD_DIR/fuzz/fuzz_$t" -runs="$RUNS" -timeout="$TIMEOUT" -rss_limit_mb="$RSS_LIMIT" -max_len="$(max_len "$t")" \
    "${dict[@]}" -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    result="ok: no crash, leak or hang"
  else
    failed=1
    # The most telling line: an exception's what(), a sanitizer's report, a failed invariant, ...
    why=$(grep -m1 -E 'what\(\)|runtime error|FUZZ_CHECK|ERROR: (Address|Leak)Sanitizer|ERROR: libFuzzer' "$log" ||
      echo 'see log')
    result="FAILED (exit $rc): $why"
    result+="; inputs: $(find "$artifacts" -type f -newer "$log.start" | tr '\n' ' ')"
  fi
  summary+=("$(printf '%-12s %10s execs %6ss  %s' "$t" "${execs:-?}" "$((SECONDS - start))" "$result")")
  if [ "${MERGE:-0}" = 1 ] && [ "$rc" -eq 0 ]; then
    # Edge coverage only (no hit counts) and inputs up to 1 KB: keeps the committed corpus small.
    "$BUILD_DIR/fuzz/fuzz_$t" -merge=1 -use_counters=0 -max_len=1024 "fuzz/corpus/$t" "$work" >>"$log" 2>&1
  fi
done
echo
printf '%s\n' "${summary[@]}"
exit $failed
