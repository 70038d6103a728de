// CPU kernels of the nn family's fused gradient ops (runtime/ops/nn_ops.cpp): relu_grad,
// sigmoid_grad, tanh_grad and bias_add_grad, the backward half of every dense layer. The
// elementwise ones run in place over g or y when the executor allows it, over flat chunks
// in parallel; bias_add_grad sums columns over fixed row blocks. See Note [Deterministic
// column sums].

#include <algorithm>
#include <vector>

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/kernel_util.hpp"

namespace troupe::cpu {

/// g * (y > 0) with Eigen packets: the comparison gives an all-ones lane where y > 0
/// (never for NaN), and the and keeps g there. (Eigen 3.4's select and comparisons are
/// scalar-only; this vectorizes.)
template <class T>
struct relu_grad_op {
  T operator()(const T& g, const T& y) const { return y > T(0) ? g : T(0); }
  template <class Packet>
  Packet packetOp(const Packet& g, const Packet& y) const {
    return Eigen::internal::pand(Eigen::internal::pcmp_lt(Eigen::internal::pzero(y), y), g);
  }
};

}  // namespace troupe::cpu

namespace Eigen::internal {
template <class T>
struct functor_traits<troupe::cpu::relu_grad_op<T>> {
  enum { Cost = 2 * NumTraits<T>::AddCost, PacketAccess = packet_traits<T>::HasCmp };
};
}  // namespace Eigen::internal

namespace troupe {
namespace {

using cpu::array_map;
using cpu::const_array_map;

// dx = f(g, y) elementwise over flat chunks in parallel, written over g's or y's buffer
// when nothing else reads it (each element is read before it is written, so that is safe).
template <class T, class F>
error map_grad(kernel_context& ctx, int64_t cost_per_element, F f) {
  const tensor& g = ctx.input(0);
  const tensor& y = ctx.input(1);
  TROUPE_REQUIRE(g.shape() == y.shape(), "g and y must have the same shape: g is ",
                 g.shape().to_string(), ", y is ", y.shape().to_string());
  tensor dx = TROUPE_TRY(ctx.forward_or_allocate({0, 1}, 0, g.shape()));
  const T* gp = g.data<T>();
  const T* yp = y.data<T>();
  T* dp = dx.data<T>();
  ctx.parallel_for(g.num_elements(), cost_per_element, [&](int64_t begin, int64_t end) {
    const_array_map<T> gs(gp + begin, end - begin), ys(yp + begin, end - begin);
    array_map<T>(dp + begin, end - begin) = f(gs, ys);
  });
  return {};
}

template <class T>
class relu_grad_kernel {
 public:
  static constexpr bool forwards_inputs = true;  // see forward_or_allocate
  error compute(kernel_context& ctx) const {
    return map_grad<T>(ctx, 1, [](const auto& g, const auto& y) {
      return g.binaryExpr(y, cpu::relu_grad_op<T>());
    });
  }
};

template <class T>
class sigmoid_grad_kernel {
 public:
  static constexpr bool forwards_inputs = true;  // see forward_or_allocate
  error compute(kernel_context& ctx) const {
    return map_grad<T>(ctx, 3,
                       [](const auto& g, const auto& y) { return g * y * (T(1) - y); });
  }
};

template <class T>
class tanh_grad_kernel {
 public:
  static constexpr bool forwards_inputs = true;  // see forward_or_allocate
  error compute(kernel_context& ctx) const {
    return map_grad<T>(ctx, 3,
                       [](const auto& g, const auto& y) { return g * (T(1) - y.square()); });
  }
};

// Note [Deterministic column sums]
// bias_add_grad sums g [R, C] (all leading axes flattened into R) over its rows. Rows wider
// than chunk_cols are cut into equal column chunks, each summed over all rows on its own.
// Narrower rows are cut into blocks of a number of rows chosen from R and C only; each
// block is summed on its own and the block sums are then added in block order. The
// decomposition never depends on the number of threads, so the result is bit-for-bit the
// same for any device; threads only pick which pieces they run. Within a block, narrow
// rows (C < 64) are taken several at a time as one wide row, so the sums still fill
// vector registers (and accumulate in 64 lanes, which also rounds less).

// Rows of at most this many values are summed `wide / cols` at a time.
constexpr int64_t wide = 64;
// Values per row block: about 128 KiB of float32, which stays in L2.
constexpr int64_t block_values = 32768;
// Bounds on the row blocks, so the partial sums take at most min(R / 16, 256) * C values.
constexpr int64_t min_block_rows = 16;
constexpr int64_t max_blocks = 256;
// Rows wider than this are summed in column chunks of at most this many columns.
constexpr int64_t chunk_cols = 16384;

// out[0, cols) = the sum of `rows` rows starting at g, `ld` values apart (summed in a
// fixed order; see the Note).
template <class T>
void sum_rows(const T* g, int64_t rows, int64_t cols, int64_t ld, T* out) {
  array_map<T> o(out, cols);
  const int64_t k = cols == ld ? std::max<int64_t>(1, wide / cols) : 1;
  if (k == 1 || rows < 2 * k) {
    // Four rows per pass over `out`, which then moves through the cache a quarter as often.
    auto row = [&](int64_t r) { return const_array_map<T>(g + r * ld, cols); };
    o = row(0);
    int64_t r = 1;
    for (; r + 4 <= rows; r += 4) o += (row(r) + row(r + 1)) + (row(r + 2) + row(r + 3));
    for (; r < rows; ++r) o += row(r);
    return;
  }
  // Contiguous narrow rows: k rows form one wide row of k * cols <= 64 values.
  const int64_t width = k * cols, groups = rows / k;
  alignas(64) T acc_values[wide];
  array_map<T> acc(acc_values, width);
  acc = const_array_map<T>(g, width);
  for (int64_t q = 1; q < groups; ++q) acc += const_array_map<T>(g + q * width, width);
  o = acc.head(cols);
  for (int64_t j = 1; j < k; ++j) o += acc.segment(j * cols, cols);
  for (int64_t r = groups * k; r < rows; ++r) o += const_array_map<T>(g + r * cols, cols);
}

template <class T>
class bias_add_grad_kernel {
 public:
  error compute(kernel_context& ctx) const {
    const tensor& g = ctx.input(0);
    TROUPE_REQUIRE(g.rank() >= 1,
                   "g must have rank >= 1 (the bias runs along its last axis), got shape ",
                   g.shape().to_string());
    const int64_t cols = g.dim(g.rank() - 1);
    tensor out = TROUPE_TRY(ctx.allocate_output(0, tensor_shape{cols}));
    if (cols == 0) return {};
    const int64_t rows = g.num_elements() / cols;
    T* op = out.data<T>();
    if (rows == 0) {
      out.flat<T>().setZero();
      return {};
    }
    const T* gp = g.data<T>();
    if (cols > chunk_cols) {
      // Wide rows: column chunks, each summing every row straight into the output.
      const int64_t num_chunks = (cols + chunk_cols - 1) / chunk_cols;
      const int64_t width = (cols + num_chunks - 1) / num_chunks;
      ctx.parallel_for(num_chunks, rows * width, [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c) {
          const int64_t first = c * width;
          sum_rows(gp + first, rows, std::min(width, cols - first), cols, op + first);
        }
      });
      return {};
    }
    // Row blocks of about block_values values (at least min_block_rows rows, at most
    // max_blocks blocks), their sums written to `partial`, then added up in block order.
    const int64_t rows_per_block = std::max({min_block_rows, block_values / cols,
                                             (rows + max_blocks - 1) / max_blocks});
    const int64_t num_blocks = (rows + rows_per_block - 1) / rows_per_block;
    if (num_blocks == 1) {
      sum_rows(gp, rows, cols, cols, op);
      return {};
    }
    std::vector<T> partial(size_t(num_blocks * cols));
    ctx.parallel_for(num_blocks, rows_per_block * cols, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const int64_t first_row = b * rows_per_block;
        sum_rows(gp + first_row * cols, std::min(rows_per_block, rows - first_row), cols, cols,
                 partial.data() + b * cols);
      }
    });
    sum_rows(partial.data(), num_blocks, cols, cols, op);
    return {};
  }
};

}  // namespace

void register_nn_grad_kernels(kernel_registry& reg) {
  constexpr auto cpu = device_kind::cpu;
  reg.add_for<relu_grad_kernel, float, double>("relu_grad", cpu);
  reg.add_for<sigmoid_grad_kernel, float, double>("sigmoid_grad", cpu);
  reg.add_for<tanh_grad_kernel, float, double>("tanh_grad", cpu);
  reg.add_for<bias_add_grad_kernel, float, double>("bias_add_grad", cpu);
}

}  // namespace troupe
