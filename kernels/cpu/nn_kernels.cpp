// CPU kernels of the nn op family (runtime/ops/nn_ops.cpp): matmul (on cpu::gemm),
// bias_add, activations, softmax and the losses. Rows are contiguous in troupe's row-major
// layout, so every kernel works on Eigen Array maps over whole rows or flat chunks
// (vectorized) and splits rows or chunks over the device with parallel_for. The fused
// gradient ops' kernels are in nn_grad_kernels.cpp.

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/gemm.hpp"
#include "kernels/cpu/kernel_util.hpp"

namespace troupe {
namespace {

using cpu::array_map;
using cpu::const_array_map;

// Rough cycles per element of the transcendental functions (vectorized exp, tanh, log1p),
// for parallel_for's cost model.
constexpr int64_t transcendental_cost = 20;

// y = f(x) elementwise, over flat chunks in parallel; f maps an Array map to an expression.
template <class T, class F>
error map_unary(kernel_context& ctx, int64_t cost_per_element, F f) {
  const tensor& x = ctx.input(0);
  tensor y = TROUPE_TRY(ctx.forward_or_allocate({0}, 0, x.shape()));
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  ctx.parallel_for(x.num_elements(), cost_per_element, [&](int64_t begin, int64_t end) {
    const_array_map<T> xs(xp + begin, end - begin);
    array_map<T> ys(yp + begin, end - begin);
    ys = f(xs);
  });
  return {};
}

// The shape of input 1 must equal the shape of input 0 (elementwise losses).
error require_same_shape(const kernel_context& ctx, const char* name0, const char* name1) {
  const tensor& a = ctx.input(0);
  const tensor& b = ctx.input(1);
  TROUPE_REQUIRE(a.shape() == b.shape(), name0, " and ", name1, " must have the same shape: ",
                 name0, " is ", a.shape().to_string(), ", ", name1, " is ",
                 b.shape().to_string());
  return {};
}

// ---- matmul, bias_add -------------------------------------------------------------------

template <class T>
class matmul_kernel {
 public:
  error init(const kernel_construction& c) {
    transpose_a_ = c.attr<bool>("transpose_a");
    transpose_b_ = c.attr<bool>("transpose_b");
    return {};
  }

  error compute(kernel_context& ctx) const {
    const tensor& a = ctx.input(0);
    const tensor& b = ctx.input(1);
    TROUPE_REQUIRE(a.rank() == 2, "a must be a matrix (rank 2), got shape ",
                   a.shape().to_string());
    TROUPE_REQUIRE(b.rank() == 2, "b must be a matrix (rank 2), got shape ",
                   b.shape().to_string());
    const int64_t m = a.dim(transpose_a_ ? 1 : 0), k = a.dim(transpose_a_ ? 0 : 1);
    const int64_t kb = b.dim(transpose_b_ ? 1 : 0), n = b.dim(transpose_b_ ? 0 : 1);
    TROUPE_REQUIRE(k == kb, "inner dimensions differ: a is ", a.shape().to_string(),
                   transpose_a_ ? " (transposed)" : "", ", b is ", b.shape().to_string(),
                   transpose_b_ ? " (transposed)" : "", ": op(a) has ", k,
                   " columns but op(b) has ", kb, " rows");
    tensor c = TROUPE_TRY(ctx.allocate_output(0, tensor_shape{m, n}));
    if (m == 0 || n == 0) return {};
    if (k == 0) {
      c.flat<T>().setZero();
      return {};
    }
    cpu::gemm<T>(ctx.device(), transpose_a_, transpose_b_, m, n, k, a.data<T>(), a.dim(1),
                 b.data<T>(), b.dim(1), c.data<T>(), n);
    return {};
  }

 private:
  bool transpose_a_ = false;
  bool transpose_b_ = false;
};

template <class T>
class bias_add_kernel {
 public:
  static constexpr bool forwards_inputs = true;  // see forward_or_allocate
  error compute(kernel_context& ctx) const {
    const tensor& value = ctx.input(0);
    const tensor& bias = ctx.input(1);
    TROUPE_REQUIRE(value.rank() >= 1, "value must have rank >= 1, got shape ",
                   value.shape().to_string());
    TROUPE_REQUIRE(bias.rank() == 1 && bias.dim(0) == value.dim(value.rank() - 1),
                   "bias length differs from the last dimension of value: value is ",
                   value.shape().to_string(), ", bias is ", bias.shape().to_string());
    tensor out = TROUPE_TRY(ctx.forward_or_allocate({0}, 0, value.shape()));
    const int64_t cols = bias.dim(0);
    if (out.num_elements() == 0) return {};
    const int64_t rows = value.num_elements() / cols;
    const T* vp = value.data<T>();
    T* op = out.data<T>();
    const_array_map<T> b(bias.data<T>(), cols);
    ctx.parallel_for(rows, cols, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        array_map<T>(op + r * cols, cols) = const_array_map<T>(vp + r * cols, cols) + b;
      }
    });
    return {};
  }
};

// ---- activations ------------------------------------------------------------------------

template <class T>
class relu_kernel {
 public:
  static constexpr bool forwards_inputs = true;  // see forward_or_allocate
  error compute(kernel_context& ctx) const {
    return map_unary<T>(ctx, 1, [](const auto& x) { return x.max(T(0)); });
  }
};

template <class T>
class sigmoid_kernel {
 public:
  static constexpr bool forwards_inputs = true;  // see forward_or_allocate
  // 1 / (1 + exp(-x)): exp(-x) overflows to inf for very negative x, giving exactly 0.
  error compute(kernel_context& ctx) const {
    return map_unary<T>(ctx, transcendental_cost,
                        [](const auto& x) { return (T(1) + (-x).exp()).inverse(); });
  }
};

template <class T>
class tanh_kernel {
 public:
  static constexpr bool forwards_inputs = true;  // see forward_or_allocate
  error compute(kernel_context& ctx) const {
    return map_unary<T>(ctx, transcendental_cost, [](const auto& x) { return x.tanh(); });
  }
};

// ---- softmax ----------------------------------------------------------------------------

// Calls fn(r) for every row r in [0, rows) of `cols` elements, rows split over the device;
// not at all when the tensor is empty.
template <class F>
void for_each_row(kernel_context& ctx, int64_t rows, int64_t cols, int64_t cost_per_element,
                  F fn) {
  if (rows == 0 || cols == 0) return;
  ctx.parallel_for(rows, cols * cost_per_element, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) fn(r);
  });
}

error require_rank_at_least_1(const tensor& x) {
  TROUPE_REQUIRE(x.rank() >= 1,
                 "logits must have rank >= 1 (softmax runs over the last axis), got shape ",
                 x.shape().to_string());
  return {};
}

// See Note [Stable softmax].
template <class T, bool log>
class softmax_kernel {
 public:
  error compute(kernel_context& ctx) const {
    const tensor& x = ctx.input(0);
    TROUPE_TRY(require_rank_at_least_1(x));
    tensor y = TROUPE_TRY(ctx.allocate_output(0, x.shape()));
    const int64_t cols = x.dim(x.rank() - 1);
    const int64_t rows = cols == 0 ? 0 : x.num_elements() / cols;
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    for_each_row(ctx, rows, cols, transcendental_cost + 4, [&](int64_t r) {
      const_array_map<T> xr(xp + r * cols, cols);
      array_map<T> yr(yp + r * cols, cols);
      const T max = xr.maxCoeff();
      if constexpr (log) {
        // (x - max) - lse, in that order: x - (max + lse) would round max + lse first.
        const T lse = std::log((xr - max).exp().sum());
        yr = (xr - max) - lse;
      } else {
        yr = (xr - max).exp();
        yr *= T(1) / yr.sum();
      }
    });
    return {};
  }
};
template <class T>
using softmax_plain_kernel = softmax_kernel<T, false>;
template <class T>
using log_softmax_kernel = softmax_kernel<T, true>;

// Note [Stable softmax]
// softmax(x) = exp(x - m) / sum(exp(x - m)) with m the row max: every exponent is <= 0, so
// nothing overflows and the sum is >= 1 (the max term is exp(0)), so nothing divides by 0.
// log_softmax(x) = (x - m) - log(sum(exp(x - m))), never log(softmax), which would be
// -inf where softmax underflows. The cross-entropy losses use the same identities:
// -log softmax(x)_j = lse - (x_j - m) with lse = log(sum(exp(x - m))).

// ---- losses -----------------------------------------------------------------------------

// One row of the softmax cross-entropies: writes softmax(x) to bp, and the row max m and
// lse = log(sum(exp(x - m))) to `max` and `lse`. See Note [Stable softmax].
template <class T>
void softmax_row(const_array_map<T> x, array_map<T> bp, T& max, T& lse) {
  max = x.maxCoeff();
  bp = (x - max).exp();
  const T sum = bp.sum();
  lse = std::log(sum);
  bp *= T(1) / sum;
}

template <class T>
class softmax_xent_kernel {
 public:
  error compute(kernel_context& ctx) const {
    const tensor& logits = ctx.input(0);
    const tensor& labels = ctx.input(1);
    TROUPE_REQUIRE(logits.rank() == 2, "logits must be a matrix [batch, classes], got shape ",
                   logits.shape().to_string());
    TROUPE_TRY(require_same_shape(ctx, "logits", "labels"));
    const int64_t rows = logits.dim(0), cols = logits.dim(1);
    tensor loss = TROUPE_TRY(ctx.allocate_output(0, tensor_shape{rows}));
    tensor backprop = TROUPE_TRY(ctx.allocate_output(1, logits.shape()));
    if (cols == 0) {  // an empty sum: no classes, no loss
      loss.flat<T>().setZero();
      return {};
    }
    const T* xp = logits.data<T>();
    const T* zp = labels.data<T>();
    T* lp = loss.data<T>();
    T* bp = backprop.data<T>();
    for_each_row(ctx, rows, cols, transcendental_cost + 8, [&](int64_t r) {
      const_array_map<T> x(xp + r * cols, cols), z(zp + r * cols, cols);
      array_map<T> b(bp + r * cols, cols);
      T max, lse;
      softmax_row<T>(x, b, max, lse);
      // -sum z * log_softmax(x) = sum z * (lse - (x - max)).
      lp[r] = (z * (lse - (x - max))).sum();
      b -= z;
    });
    return {};
  }
};

template <class T>
class sparse_softmax_xent_kernel {
 public:
  error init(const kernel_construction& c) {
    labels_are_int64_ = c.input_type(1) == dtype::int64;
    return {};
  }

  error compute(kernel_context& ctx) const {
    return labels_are_int64_ ? compute_with<int64_t>(ctx) : compute_with<int32_t>(ctx);
  }

 private:
  template <class L>
  error compute_with(kernel_context& ctx) const {
    const tensor& logits = ctx.input(0);
    const tensor& labels = ctx.input(1);
    TROUPE_REQUIRE(logits.rank() == 2, "logits must be a matrix [batch, classes], got shape ",
                   logits.shape().to_string());
    TROUPE_REQUIRE(labels.rank() == 1 && labels.dim(0) == logits.dim(0),
                   "logits and labels differ in batch size: logits is ",
                   logits.shape().to_string(), ", labels is ", labels.shape().to_string());
    const int64_t rows = logits.dim(0), cols = logits.dim(1);
    const L* lab = labels.data<L>();
    for (int64_t r = 0; r < rows; ++r) {
      TROUPE_REQUIRE(lab[r] >= 0 && lab[r] < cols, "label ", int64_t(lab[r]), " at row ", r,
                     " is out of range: expected 0 <= label < ", cols, " (the number of classes)");
    }
    tensor loss = TROUPE_TRY(ctx.allocate_output(0, tensor_shape{rows}));
    tensor backprop = TROUPE_TRY(ctx.allocate_output(1, logits.shape()));
    const T* xp = logits.data<T>();
    T* lp = loss.data<T>();
    T* bp = backprop.data<T>();
    for_each_row(ctx, rows, cols, transcendental_cost + 4, [&](int64_t r) {
      const_array_map<T> x(xp + r * cols, cols);
      array_map<T> b(bp + r * cols, cols);
      T max, lse;
      softmax_row<T>(x, b, max, lse);
      const int64_t label = int64_t(lab[r]);
      lp[r] = lse - (x[label] - max);
      b[label] -= T(1);
    });
    return {};
  }

  bool labels_are_int64_ = false;
};

template <class T>
class sigmoid_xent_kernel {
 public:
  // max(x, 0) - x z + log(1 + exp(-|x|)): the exponent is <= 0, so nothing overflows, and
  // log1p keeps precision where exp(-|x|) is tiny.
  error compute(kernel_context& ctx) const {
    TROUPE_TRY(require_same_shape(ctx, "logits", "labels"));
    const tensor& logits = ctx.input(0);
    tensor loss = TROUPE_TRY(ctx.allocate_output(0, logits.shape()));
    const T* xp = logits.data<T>();
    const T* zp = ctx.input(1).data<T>();
    T* lp = loss.data<T>();
    ctx.parallel_for(logits.num_elements(), 2 * transcendental_cost, [&](int64_t b, int64_t e) {
      const_array_map<T> x(xp + b, e - b), z(zp + b, e - b);
      array_map<T>(lp + b, e - b) = x.max(T(0)) - x * z + (-x.abs()).exp().log1p();
    });
    return {};
  }
};

template <class T>
class mean_squared_error_kernel {
 public:
  error compute(kernel_context& ctx) const {
    TROUPE_TRY(require_same_shape(ctx, "predictions", "labels"));
    const tensor& p = ctx.input(0);
    const int64_t n = p.num_elements();
    tensor loss = TROUPE_TRY(ctx.allocate_output(0, tensor_shape{}));
    if (n == 0) {
      loss.scalar_value<T>() = std::numeric_limits<T>::quiet_NaN();
      return {};
    }
    const T* pp = p.data<T>();
    const T* lp = ctx.input(1).data<T>();
    // Fixed blocks summed in T (vectorized), their sums added in double: accurate for
    // large float32 inputs, and the same result for any number of threads.
    const int64_t num_blocks = (n + block_size - 1) / block_size;
    auto block_sum = [&](int64_t i) {
      const int64_t begin = i * block_size, len = std::min(block_size, n - begin);
      const_array_map<T> a(pp + begin, len), b(lp + begin, len);
      return double((a - b).square().sum());
    };
    double total = 0;
    if (num_blocks == 1) {
      total = block_sum(0);
    } else {
      std::vector<double> partial(size_t(num_blocks), 0.0);
      ctx.parallel_for(num_blocks, 3 * block_size, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) partial[size_t(i)] = block_sum(i);
      });
      for (double s : partial) total += s;
    }
    loss.scalar_value<T>() = T(total / double(n));
    return {};
  }

 private:
  static constexpr int64_t block_size = 4096;
};

}  // namespace

void register_nn_kernels(kernel_registry& reg) {
  constexpr auto cpu = device_kind::cpu;
  reg.add_for<matmul_kernel, float, double>("matmul", cpu);
  reg.add_for<bias_add_kernel, float, double>("bias_add", cpu);
  reg.add_for<relu_kernel, float, double>("relu", cpu);
  reg.add_for<sigmoid_kernel, float, double>("sigmoid", cpu);
  reg.add_for<tanh_kernel, float, double>("tanh", cpu);
  reg.add_for<softmax_plain_kernel, float, double>("softmax", cpu);
  reg.add_for<log_softmax_kernel, float, double>("log_softmax", cpu);
  reg.add_for<softmax_xent_kernel, float, double>("softmax_cross_entropy_with_logits", cpu);
  reg.add_for<sparse_softmax_xent_kernel, float, double>(
      "sparse_softmax_cross_entropy_with_logits", cpu);
  reg.add_for<sigmoid_xent_kernel, float, double>("sigmoid_cross_entropy_with_logits", cpu);
  reg.add_for<mean_squared_error_kernel, float, double>("mean_squared_error", cpu);
  register_nn_grad_kernels(reg);
}

}  // namespace troupe
