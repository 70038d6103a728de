#!/usr/bin/env bash
# make bench: every benchmark, figures printed; docs/benchmarks.md records them.
# Usage: bench/run_all.sh [build-dir]
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
echo "== executor overhead per op (Google Benchmark, wall time) =="
"$build/bench/executor_bench" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_min_time=0.2
echo
echo "== executor instructions per op (callgrind) =="
bench/callgrind_executor.sh
echo
echo "== matmul vs numpy/OpenBLAS =="
/usr/bin/python3 bench/matmul_vs_numpy.py --build-dir "$build"
echo
echo "== training throughput vs PyTorch and TensorFlow =="
/usr/bin/python3 bench/train_vs_peers.py --build-dir "$build"
