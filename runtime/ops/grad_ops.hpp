#pragma once

#include <cstdint>
#include <vector>

#include "runtime/graph/scope.hpp"

/// Ops that gradient functions are built from: they take the shape they need from a
/// "like" input at run time, so gradients work when dimensions are only known then
/// (a batch of unknown size). A like input may have any dtype: only its shape is read.
/// Shape functions check what is known at graph-build time and give like's shape.
/// CPU kernels (kernels/cpu/grad_kernels.cpp) for float32, float64, int32 and int64
/// (zeros_like: every dtype; sparse_segment_mean_grad: float types). When nothing needs
/// computing (equal element counts), sum_to_like, broadcast_like, reduction_grad,
/// reshape_like, slice_grad and split_like return views of their input, no copy.
/// None of them has a gradient function (no second derivatives yet).
namespace troupe::ops {
/// Zeros of x's shape and dtype (any dtype; "" for strings, false for bool).
output zeros_like(const scope& s, output x);
/// Ones of x's shape and dtype (numeric types).
output ones_like(const scope& s, output x);
/// x (numeric) summed over the dimensions NumPy broadcasting added or stretched, so the
/// result has like's shape: the gradient of a broadcasting binary op for an input
/// shaped like `like`. x's shape must be a broadcast of like's.
output sum_to_like(const scope& s, output x, output like);
/// x broadcast to like's shape (x's shape must broadcast to it).
output broadcast_like(const scope& s, output x, output like);
/// g, the result of a reduction of `like` over `axes` (with keep_dims as given; empty
/// axes = all), put back into like's shape: each reduced element gets its group's g
/// (divided by the group's size when `mean`; integers truncate). The gradient of sum and
/// mean.
output reduction_grad(const scope& s, output g, output like, std::vector<int64_t> axes,
                      bool keep_dims, bool mean);
/// x's elements with like's shape (same number of elements).
output reshape_like(const scope& s, output x, output like);
/// Zeros of like's shape with g written at `begin` (g has shape `size`, -1 = to the end):
/// the gradient of slice.
output slice_grad(const scope& s, output g, output like, std::vector<int64_t> begin,
                  std::vector<int64_t> size);
/// g cut along `axis` into pieces as long as each of `likes` is along it (their other
/// dimensions must equal g's; the lengths must add up to g's): the gradient of concat.
std::vector<output> split_like(const scope& s, output g, const std::vector<output>& likes,
                               int64_t axis);
/// Zeros of like's shape, then updates added along `axis` at `indices` (int32/int64, any
/// shape; updates has shape like.shape[:axis] + indices.shape + like.shape[axis+1:]),
/// repeated indices adding up; an index out of range is an invalid_argument error. The
/// dense gradient of gather, and the dense form of a sparse gradient.
output scatter_add_like(const scope& s, output updates, output indices, output like,
                        int64_t axis = 0);
/// values[i] = g[segment_ids[i]] / (number of i with that segment id): the rows of the
/// sparse gradient of sparse_segment_mean. g is [num_segments, ...] (float types),
/// segment_ids an int32/int64 vector of ids in [0, num_segments); values is
/// [len(segment_ids), ...].
output sparse_segment_mean_grad(const scope& s, output g, output segment_ids);
}  // namespace troupe::ops

namespace troupe {
void register_grad_ops(op_registry& reg);
}
