#!/usr/bin/env bash
# Instructions per executed op (callgrind), for each executor graph.
# Usage: bench/callgrind_executor.sh [build-dir]
# valgrind 3.19 cannot run AVX-512 code, so this uses its own build without -march=native.
set -euo pipefail
build=${1:-build-callgrind}
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTROUPE_NATIVE=OFF -DTROUPE_ENABLE_CUDA=OFF >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target executor_instructions >/dev/null
bin=$build/bench/executor_instructions
out=$(mktemp -d)
printf '%-16s %14s %12s\n' graph instructions per_op
for kind in chain chain_identity fan_out; do
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/$kind.out" "$bin" "$kind" >/dev/null 2>"$out/$kind.log"
  total=$(grep -E "^totals:" "$out/$kind.out" | awk "{print \$2}")
  printf '%-16s %14s %12.0f\n' "$kind" "$total" "$(awk -v t="$total" 'BEGIN { print t / 10000 }')"
done
rm -rf "$out"
