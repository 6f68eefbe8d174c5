#!/usr/bin/env bash
# Two lopper runs sharing the machine (README "A busy machine"): wall time of one
# `lopper eval --ppl wikitext2` alone, with the thread count following the load (the default) and
# fixed (LOPPER_FIXED_THREADS=1, lopper's behaviour before), alone on one thread, and two runs
# started together in each mode. Within a round the order of the two alone runs alternates, since
# the first of two back-to-back runs tends to be the slower on this VM.
# Usage: bench/contention.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
ROUNDS=${2:-2}
ARGS=(eval --model assets/models/stories260k --ppl wikitext2)
now() { date +%s%N; }
secs() { printf '%d.%02d' $(($1 / 1000000000)) $(($1 % 1000000000 / 10000000)); }
t() { local s; s=$(now); "$@" >/dev/null 2>&1; secs $(($(now) - s)); }
pair() {
  local s d
  d=$(mktemp -d)
  s=$(now)
  ( "$@" >/dev/null 2>&1; now >"$d/1" ) &
  ( "$@" >/dev/null 2>&1; now >"$d/2" ) &
  wait
  echo "$(secs $(($(cat "$d/1") - s))) $(secs $(($(cat "$d/2") - s)))"
  rm -rf "$d"
}
follow=(env -u OMP_NUM_THREADS -u LOPPER_FIXED_THREADS "$B"/lopper "${ARGS[@]}")
fixed=(env -u OMP_NUM_THREADS LOPPER_FIXED_THREADS=1 "$B"/lopper "${ARGS[@]}")
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then
    echo "round $r alone: fixed $(t "${fixed[@]}") s, following the load $(t "${follow[@]}") s"
  else
    echo "round $r alone: following the load $(t "${follow[@]}") s, fixed $(t "${fixed[@]}") s"
  fi
done
echo "alone, 1 thread: $(t env OMP_NUM_THREADS=1 "$B"/lopper "${ARGS[@]}") s"
echo "pair, following the load: $(pair "${follow[@]}") s"
echo "pair, fixed: $(pair "${fixed[@]}") s"
