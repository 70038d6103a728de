// Benchmarks of troupe's CPU GEMM (kernels/cpu/gemm.hpp), the kernel behind matmul.
//
//   build/bench/matmul_bench --benchmark_filter='f32/1024/'
//
// BM_gemm_f32/<n>/<threads> multiplies two n x n float32 matrices on a cpu_device of
// <threads> threads; the GFLOPS counter is 2 n^3 / wall time, in units of 1e9 FLOP/s.
// bench/matmul_vs_numpy.py runs these side by side with numpy (OpenBLAS) and prints
// the ratio; see docs/benchmarks.md.

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <random>

#include "kernels/cpu/gemm.hpp"

namespace {

/// Matrix storage aligned like troupe's tensor buffers (64 bytes, runtime/core/buffer.hpp).
template <class T>
struct aligned_matrix {
  struct aligned_delete {
    void operator()(T* p) const { ::operator delete[](p, std::align_val_t(64)); }
  };
  std::unique_ptr<T[], aligned_delete> data;

  aligned_matrix(int64_t rows, int64_t cols, uint32_t seed)
      : data(new (std::align_val_t(64)) T[size_t(rows * cols)]) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<T> dist(T(-1), T(1));
    for (int64_t i = 0; i < rows * cols; ++i) data[size_t(i)] = dist(gen);
  }
  T* get() const { return data.get(); }
};

/// Square product C = op(A) * op(B) of size n on `threads` threads.
template <class T>
void run_gemm(benchmark::State& state, bool transpose_a, bool transpose_b) {
  const int64_t n = state.range(0);
  const int threads = int(state.range(1));
  troupe::cpu_device dev(threads);
  aligned_matrix<T> a(n, n, 1), b(n, n, 2), c(n, n, 3);
  // One untimed call: first-touch page faults, per-thread packing buffers, pool start-up.
  troupe::cpu::gemm<T>(dev, transpose_a, transpose_b, n, n, n, a.get(), n, b.get(), n, c.get(),
                       n);
  for (auto _ : state) {
    troupe::cpu::gemm<T>(dev, transpose_a, transpose_b, n, n, n, a.get(), n, b.get(), n,
                         c.get(), n);
    benchmark::DoNotOptimize(c.get());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * double(n) * double(n) * double(n);
  state.counters["GFLOPS"] = benchmark::Counter(
      flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_gemm_f32(benchmark::State& state) { run_gemm<float>(state, false, false); }
void BM_gemm_f32_tn(benchmark::State& state) { run_gemm<float>(state, true, false); }
void BM_gemm_f32_nt(benchmark::State& state) { run_gemm<float>(state, false, true); }
void BM_gemm_f64(benchmark::State& state) { run_gemm<double>(state, false, false); }

// {n, threads}: the sizes of the issue (256, 1024, 2048), 1 thread and 2 (this
// machine's cores).
void square_sizes(benchmark::internal::Benchmark* b) {
  for (int64_t n : {256, 1024, 2048}) {
    for (int64_t threads : {1, 2}) b->Args({n, threads});
  }
}

void transposed_sizes(benchmark::internal::Benchmark* b) {
  for (int64_t threads : {1, 2}) b->Args({1024, threads});
}

BENCHMARK(BM_gemm_f32)->Apply(square_sizes)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gemm_f32_tn)->Apply(transposed_sizes)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gemm_f32_nt)->Apply(transposed_sizes)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gemm_f64)->Apply(transposed_sizes)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
