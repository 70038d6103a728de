#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cstdint>

#include "runtime/core/shape.hpp"
#include "runtime/exec/cpu_device.hpp"

/// NumPy broadcasting for CPU kernels of elementwise ops (math, select, bias_add, ...).
namespace troupe::cpu {

// Note [Broadcast segments]
// An elementwise op over broadcast inputs never computes a multi-index per element.
// broadcast_plan aligns the input shapes on the right, drops the output's dimensions of
// size 1, and merges adjacent dimensions in which every input is alike (full-size in
// both, or broadcast in both). What is left is a short list of dimensions in which each
// input has a stride that is either its row-major stride or 0. The output is then walked
// as contiguous segments along the last merged dimension: within a segment each input is
// either contiguous (stride 1) or one repeated value (stride 0), which is what lets a
// kernel run one vectorized Eigen expression per segment. The common cases collapse:
//   same shapes         -> 1 dimension, every input contiguous: one flat loop
//   one side a scalar   -> 1 dimension, that input stride 0: a scalar-vs-vector loop
//   [N,C] + [C]         -> 2 dimensions, the row repeated for each of N segments
//   [N,C] + [N,1]       -> 2 dimensions, one value per segment
// Between segments an odometer over the outer dimensions advances the input offsets by
// additions only. A range [begin, end) of output elements starts anywhere (one division
// per range), so parallel_for can split the output evenly even when there are few rows.

/// How N inputs map onto their broadcast output; see Note [Broadcast segments].
/// A value type (no heap); immutable after make(), so it may be shared between threads.
template <int N>
class broadcast_plan {
 public:
  /// The plan for inputs of these shapes; an invalid_argument error names all the shapes
  /// and the first dimension in which they differ.
  static expected<broadcast_plan> make(const std::array<tensor_shape, N>& in);

  const tensor_shape& output_shape() const { return out_; }
  int64_t num_elements() const { return num_elements_; }
  /// Dimensions left after merging (>= 1).
  int rank() const { return rank_; }
  /// True if input k is contiguous within segments (stride 1), false if it repeats one
  /// value per segment (stride 0). The same for every segment of the plan.
  bool inner_contiguous(int k) const { return strides_[size_t(k)][size_t(rank_ - 1)] != 0; }
  /// Length of a full segment (the last merged dimension).
  int64_t segment_length() const { return dims_[size_t(rank_ - 1)]; }

  /// Calls fn(out_offset, in_offsets, len) for consecutive segments covering the output
  /// elements [begin, end): output elements out_offset .. out_offset+len-1 read input k
  /// at in_offsets[k] + i * (inner_contiguous(k) ? 1 : 0).
  template <class F>
  void for_each_segment(int64_t begin, int64_t end, F&& fn) const;

 private:
  tensor_shape out_;
  int64_t num_elements_ = 0;
  int rank_ = 1;
  std::array<int64_t, max_rank> dims_{};
  std::array<std::array<int64_t, max_rank>, N> strides_{};
};

template <int N>
expected<broadcast_plan<N>> broadcast_plan<N>::make(const std::array<tensor_shape, N>& in) {
  int rank = 0;
  for (const tensor_shape& s : in) rank = std::max(rank, s.rank());
  auto dim_of = [&](int k, int d) {  // input k's size in output dimension d (1 if absent)
    int i = d - (rank - in[size_t(k)].rank());
    return i >= 0 ? in[size_t(k)].dim(i) : int64_t{1};
  };

  broadcast_plan p;
  std::array<int64_t, max_rank> out_dims{};
  for (int d = 0; d < rank; ++d) {
    int64_t od = 1;
    for (int k = 0; k < N; ++k) {
      int64_t id = dim_of(k, d);
      if (id == 1 || id == od) continue;
      if (od == 1) {
        od = id;
        continue;
      }
      std::string shapes;
      for (int j = 0; j < N; ++j)
        shapes += str_cat(j == 0 ? "" : (j == N - 1 ? " and " : ", "), in[size_t(j)].to_string());
      return make_error(errc::invalid_argument, "shapes ", shapes,
                        " cannot be broadcast: dimension ", d, " (aligned on the right) is ",
                        od, " vs ", id);
    }
    out_dims[size_t(d)] = od;
  }
  p.out_ = tensor_shape(std::span<const int64_t>(out_dims.data(), size_t(rank)));
  p.num_elements_ = p.out_.num_elements();

  // Merge dimensions: masks[g] has bit k set when input k is full-size in group g.
  std::array<uint32_t, max_rank> masks{};
  int groups = 0;
  for (int d = 0; d < rank; ++d) {
    int64_t od = out_dims[size_t(d)];
    if (od == 1) continue;
    uint32_t mask = 0;
    for (int k = 0; k < N; ++k)
      if (dim_of(k, d) == od) mask |= 1u << k;
    if (groups > 0 && masks[size_t(groups - 1)] == mask) {
      p.dims_[size_t(groups - 1)] *= od;
    } else {
      masks[size_t(groups)] = mask;
      p.dims_[size_t(groups)] = od;
      ++groups;
    }
  }
  if (groups == 0) {  // every input holds one element
    p.rank_ = 1;
    p.dims_[0] = 1;
    for (auto& s : p.strides_) s[0] = 1;
    return p;
  }
  p.rank_ = groups;
  for (int k = 0; k < N; ++k) {
    int64_t stride = 1;
    for (int g = groups - 1; g >= 0; --g) {
      bool full = (masks[size_t(g)] >> k) & 1u;
      p.strides_[size_t(k)][size_t(g)] = full ? stride : 0;
      if (full) stride *= p.dims_[size_t(g)];
    }
  }
  return p;
}

template <int N>
template <class F>
void broadcast_plan<N>::for_each_segment(int64_t begin, int64_t end, F&& fn) const {
  if (begin >= end) return;
  const int outer_rank = rank_ - 1;
  const int64_t inner = dims_[size_t(outer_rank)];
  std::array<int64_t, max_rank> idx{};
  std::array<int64_t, N> base{};
  // Decompose the first row index (the only divisions of the walk).
  int64_t row = begin / inner;
  int64_t col = begin - row * inner;
  for (int d = outer_rank - 1; d >= 0; --d) {
    int64_t n = dims_[size_t(d)];
    idx[size_t(d)] = row % n;
    row /= n;
    for (int k = 0; k < N; ++k) base[size_t(k)] += idx[size_t(d)] * strides_[size_t(k)][size_t(d)];
  }
  std::array<int64_t, N> inner_stride{};
  for (int k = 0; k < N; ++k) inner_stride[size_t(k)] = strides_[size_t(k)][size_t(outer_rank)];

  int64_t pos = begin;
  std::array<int64_t, N> offs{};
  while (true) {
    int64_t len = std::min(inner - col, end - pos);
    for (int k = 0; k < N; ++k) offs[size_t(k)] = base[size_t(k)] + col * inner_stride[size_t(k)];
    fn(pos, offs, len);
    pos += len;
    if (pos >= end) return;
    col = 0;
    for (int d = outer_rank - 1; d >= 0; --d) {  // advance the odometer by one row
      for (int k = 0; k < N; ++k) base[size_t(k)] += strides_[size_t(k)][size_t(d)];
      if (++idx[size_t(d)] < dims_[size_t(d)]) break;
      for (int k = 0; k < N; ++k)
        base[size_t(k)] -= strides_[size_t(k)][size_t(d)] * dims_[size_t(d)];
      idx[size_t(d)] = 0;
    }
  }
}

namespace detail {

template <class T>
using const_array_map = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// A segment of an input as an Eigen array expression: a map of a contiguous run, or one
// value repeated (a nullary expression: packets are broadcasts, no memory is read).
template <bool Contiguous, class T>
auto segment_operand(const T* p, int64_t len) {
  if constexpr (Contiguous)
    return const_array_map<T>(p, len);
  else
    return Eigen::Array<T, Eigen::Dynamic, 1>::Constant(len, *p);
}

template <bool CA, bool CB, class TA, class TB, class TO, class F>
void run_binary(cpu_device& dev, const broadcast_plan<2>& plan, const TA* a, const TB* b, TO* out,
                int64_t cost_per_element, const F& f) {
  auto segment = [&](int64_t o, const std::array<int64_t, 2>& in, int64_t len) {
    Eigen::Map<Eigen::Array<TO, Eigen::Dynamic, 1>> y(out + o, len);
    y = f(segment_operand<CA>(a + in[0], len), segment_operand<CB>(b + in[1], len));
  };
  dev.parallel_for(plan.num_elements(), cost_per_element, [&](int64_t begin, int64_t end) {
    plan.for_each_segment(begin, end, segment);
  });
}

}  // namespace detail

/// out = f(a, b) elementwise over a plan's output (out holds plan.num_elements()).
/// `f` maps two Eigen array expressions of equal length (a contiguous map, or a constant
/// for a broadcast value) to an array expression of TO, e.g.
///   [](const auto& x, const auto& y) { return x + y; }
/// and is instantiated for the four contiguous/repeated combinations, so each segment is
/// one vectorized Eigen loop. `cost_per_element` is in CPU cycles (for parallel_for).
template <class TA, class TB, class TO, class F>
void broadcast_binary(cpu_device& dev, const broadcast_plan<2>& plan, const TA* a, const TB* b,
                      TO* out, int64_t cost_per_element, const F& f) {
  const bool ca = plan.inner_contiguous(0), cb = plan.inner_contiguous(1);
  if (ca && cb)
    detail::run_binary<true, true>(dev, plan, a, b, out, cost_per_element, f);
  else if (ca)
    detail::run_binary<true, false>(dev, plan, a, b, out, cost_per_element, f);
  else if (cb)
    detail::run_binary<false, true>(dev, plan, a, b, out, cost_per_element, f);
  else
    detail::run_binary<false, false>(dev, plan, a, b, out, cost_per_element, f);
}

/// Calls fn(out_offset, in_offsets, in_steps, len) over all segments, in parallel, where
/// in_steps[k] is 1 or 0 (see for_each_segment): for element types Eigen cannot hold
/// (strings) or ops written as plain loops (select).
template <int N, class F>
void broadcast_segments(cpu_device& dev, const broadcast_plan<N>& plan, int64_t cost_per_element,
                        const F& fn) {
  std::array<int64_t, N> steps{};
  for (int k = 0; k < N; ++k) steps[size_t(k)] = plan.inner_contiguous(k) ? 1 : 0;
  dev.parallel_for(plan.num_elements(), cost_per_element, [&](int64_t begin, int64_t end) {
    plan.for_each_segment(begin, end,
                          [&](int64_t o, const std::array<int64_t, N>& in, int64_t len) {
                            fn(o, in, steps, len);
                          });
  });
}

}  // namespace troupe::cpu
