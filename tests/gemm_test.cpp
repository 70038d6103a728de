// Tests of troupe::cpu::gemm (kernels/cpu/gemm.cpp) against a naive triple loop in double,
// over shapes that hit every edge of the packed AVX-512 kernel (partial register tiles,
// several cache blocks along m, n and k), the Eigen paths, all four transpose
// combinations, padded leading dimensions, and 1 to 3 threads.

#include "kernels/cpu/gemm.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace troupe::cpu {
namespace {

struct gemm_shape {
  int64_t m, n, k;
};

std::string shape_name(const gemm_shape& s) {
  return std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
}

/// A row-major matrix stored with `ld` >= cols elements per row; the gap is filled with
/// NaN, so a gemm that reads it produces NaN.
template <class T>
struct stored_matrix {
  int64_t rows, cols, ld;
  std::vector<T> data;

  stored_matrix(int64_t rows_, int64_t cols_, int64_t pad)
      : rows(rows_), cols(cols_), ld(cols_ + pad),
        data(size_t(std::max<int64_t>(rows_ * (cols_ + pad), 1)),
             std::numeric_limits<T>::quiet_NaN()) {}
  T& at(int64_t r, int64_t c) { return data[size_t(r * ld + c)]; }
  T at(int64_t r, int64_t c) const { return data[size_t(r * ld + c)]; }
};

/// What a call computes from: op(A) is m x k, op(B) is k x n.
struct operands {
  bool ta, tb;
  int64_t pad;  // added to every leading dimension
  int threads;
};

std::string operands_name(const operands& o) {
  return std::string(o.ta ? "T" : "N") + (o.tb ? "T" : "N") + " pad=" + std::to_string(o.pad) +
         " threads=" + std::to_string(o.threads);
}

/// Values are small integers by default, so that every partial sum is exact in float
/// (|sum| < 2^24) and any correct summation order gives the exact reference.
enum class values { integers, reals };

template <class T>
void fill(stored_matrix<T>& x, std::mt19937& gen, values v) {
  std::uniform_int_distribution<int> small(-4, 4);
  std::uniform_real_distribution<double> real(-1.0, 1.0);
  for (int64_t r = 0; r < x.rows; ++r) {
    for (int64_t c = 0; c < x.cols; ++c) {
      x.at(r, c) = v == values::integers ? T(small(gen)) : T(real(gen));
    }
  }
}

/// Runs gemm<T> for one shape and operand layout and compares with the double reference:
/// exactly for integer values, within a rounding bound for real values. Also checks that
/// C's padding is untouched and that C's prior contents (NaN) do not leak into the result.
template <class T>
void check_gemm(const gemm_shape& s, const operands& o, values v, uint32_t seed) {
  SCOPED_TRACE(shape_name(s) + " " + operands_name(o));
  std::mt19937 gen(seed);
  // Stored A is m x k, or k x m when transposed; likewise B.
  stored_matrix<T> a = o.ta ? stored_matrix<T>(s.k, s.m, o.pad) : stored_matrix<T>(s.m, s.k, o.pad);
  stored_matrix<T> b = o.tb ? stored_matrix<T>(s.n, s.k, o.pad) : stored_matrix<T>(s.k, s.n, o.pad);
  fill(a, gen, v);
  fill(b, gen, v);
  auto op_a = [&](int64_t i, int64_t p) { return double(o.ta ? a.at(p, i) : a.at(i, p)); };
  auto op_b = [&](int64_t p, int64_t j) { return double(o.tb ? b.at(j, p) : b.at(p, j)); };

  constexpr T sentinel = T(7777);
  stored_matrix<T> c(s.m, s.n, o.pad);
  for (T& x : c.data) x = sentinel;
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) c.at(i, j) = std::numeric_limits<T>::quiet_NaN();
  }

  cpu_device dev(o.threads);
  gemm<T>(dev, o.ta, o.tb, s.m, s.n, s.k, a.data.data(), a.ld, b.data.data(), b.ld,
          c.data.data(), c.ld);

  const double eps = std::numeric_limits<T>::epsilon();
  int64_t failures = 0;
  for (int64_t i = 0; i < s.m && failures < 10; ++i) {
    for (int64_t j = 0; j < s.n && failures < 10; ++j) {
      double ref = 0, magnitude = 0;
      for (int64_t p = 0; p < s.k; ++p) {
        ref += op_a(i, p) * op_b(p, j);
        magnitude += std::abs(op_a(i, p) * op_b(p, j));
      }
      const double got = double(c.at(i, j));
      if (v == values::integers) {
        if (got != ref) {
          ++failures;
          ADD_FAILURE() << "C[" << i << "," << j << "] = " << got << ", expected " << ref;
        }
      } else {
        // Worst-case bound of a k-term dot product in T (plus the final rounding).
        const double tol = double(s.k + 1) * eps * magnitude + 1e-30;
        if (!(std::abs(got - ref) <= tol)) {
          ++failures;
          ADD_FAILURE() << "C[" << i << "," << j << "] = " << got << ", expected " << ref
                        << " (tolerance " << tol << ")";
        }
      }
    }
    for (int64_t j = s.n; j < c.ld && failures < 10; ++j) {
      if (c.at(i, j) != sentinel) {
        ++failures;
        ADD_FAILURE() << "padding C[" << i << "," << j << "] was overwritten with "
                      << c.at(i, j);
      }
    }
  }
}

// Shapes around the packed kernel's blocks (14 x 32 register tiles; k blocks of 256;
// 4032 rows and 512 columns per cache block) and the Eigen fallback (m < 8, n < 24,
// k < 8).
const gemm_shape shapes[] = {
    {1, 1, 1},        {1, 1, 7},       {7, 1, 1},      {1, 9, 1},     {2, 3, 4},
    {5, 7, 0},        {0, 4, 3},       {4, 0, 3},      {8, 24, 8},    {7, 23, 7},
    {14, 32, 256},    {15, 33, 257},   {13, 31, 255},  {28, 64, 512}, {129, 67, 131},
    {1000, 3, 5},     {3, 1000, 5},    {2, 2, 1000},   {1000, 40, 9}, {64, 64, 64},
    {300, 40, 600},   {1100, 50, 20},  {40, 1100, 30}, {17, 530, 270}, {100, 100, 1},
    {129, 67, 400},   {4100, 33, 9},
};

// Readable parameter names in test logs (instead of gtest's byte dump).
void PrintTo(const gemm_shape& g, std::ostream* os) {
  *os << "m=" << g.m << " n=" << g.n << " k=" << g.k;
}

class gemm_test : public ::testing::TestWithParam<gemm_shape> {};

TEST_P(gemm_test, float_integers_all_layouts) {
  uint32_t seed = 1;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (int64_t pad : {0, 3}) {
        for (int threads : {1, 2, 3}) {
          check_gemm<float>(GetParam(), {ta, tb, pad, threads}, values::integers, seed++);
        }
      }
    }
  }
}

TEST_P(gemm_test, double_integers_all_layouts) {
  uint32_t seed = 100;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (int threads : {1, 2}) {
        check_gemm<double>(GetParam(), {ta, tb, 5, threads}, values::integers, seed++);
      }
    }
  }
}

TEST_P(gemm_test, float_reals) {
  uint32_t seed = 200;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      check_gemm<float>(GetParam(), {ta, tb, 1, 2}, values::reals, seed++);
    }
  }
}

TEST_P(gemm_test, double_reals) {
  check_gemm<double>(GetParam(), {false, false, 0, 2}, values::reals, 300);
  check_gemm<double>(GetParam(), {true, true, 2, 1}, values::reals, 301);
}

INSTANTIATE_TEST_SUITE_P(shapes, gemm_test, ::testing::ValuesIn(shapes),
                         [](const ::testing::TestParamInfo<gemm_shape>& info) {
                           return "m" + std::to_string(info.param.m) + "_n" +
                                  std::to_string(info.param.n) + "_k" +
                                  std::to_string(info.param.k);
                         });

// Big enough to be split over every thread, in all four layouts.
TEST(gemm, large_products_on_several_threads) {
  uint32_t seed = 400;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      check_gemm<float>({513, 301, 700}, {ta, tb, 4, 4}, values::integers, seed++);
      check_gemm<float>({257, 1030, 129}, {ta, tb, 0, 2}, values::reals, seed++);
    }
  }
}

// k = 0 is an empty sum: C becomes zero whatever it held.
TEST(gemm, empty_inner_dimension_zeroes_c) {
  cpu_device dev(2);
  std::vector<float> c(6 * 4, 5.0f);
  gemm<float>(dev, false, false, 6, 3, 0, nullptr, 1, nullptr, 3, c.data(), 4);
  for (int64_t i = 0; i < 6; ++i) {
    for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(c[size_t(i * 4 + j)], 0.0f) << i << "," << j;
    EXPECT_EQ(c[size_t(i * 4 + 3)], 5.0f) << "padding of row " << i;
  }
}

// Kernels run on the device's pool threads and call gemm on the same device from there;
// concurrent calls must not share packing buffers or deadlock.
TEST(gemm, concurrent_calls_from_pool_threads) {
  cpu_device dev(3);
  constexpr int64_t n = 200, calls = 6;
  std::vector<std::vector<float>> a(calls), c(calls);
  std::vector<float> b(size_t(n * n));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) b[size_t(i * n + j)] = i == j ? 1.0f : 0.0f;
  }
  for (int64_t t = 0; t < calls; ++t) {
    a[size_t(t)].resize(size_t(n * n));
    for (int64_t i = 0; i < n * n; ++i) a[size_t(t)][size_t(i)] = float((i * 7 + t) % 13);
    c[size_t(t)].assign(size_t(n * n), -1.0f);
  }
  dev.parallel_for(calls, 1 << 24, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      gemm<float>(dev, false, false, n, n, n, a[size_t(t)].data(), n, b.data(), n,
                  c[size_t(t)].data(), n);
    }
  });
  for (int64_t t = 0; t < calls; ++t) EXPECT_EQ(c[size_t(t)], a[size_t(t)]) << "call " << t;
}

}  // namespace
}  // namespace troupe::cpu
