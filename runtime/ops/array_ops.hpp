#pragma once

#include <cstdint>
#include <vector>

#include "runtime/graph/scope.hpp"

/// Array ops: reshaping and data movement (reshape, transpose, concat, split, slice,
/// gather), the embedding-lookup reductions (sparse_segment_sum / _mean), one_hot, and
/// the seeded random initializers. Axes, shapes and permutations are attributes, never
/// tensor inputs. Negative axes count from the end, as in NumPy.
namespace troupe::ops {

/// The same elements seen with another shape (no copy). At most one entry of `shape` may
/// be -1: that dimension is inferred from the number of elements.
output reshape(const scope& s, output tensor, std::vector<int64_t> shape);

/// Permutes the dimensions: output dimension i is input dimension perm[i]. `perm` must be
/// a permutation of 0..rank-1.
output transpose(const scope& s, output x, std::vector<int64_t> perm);

/// Joins the inputs along `axis`; every other dimension must agree. All inputs have the
/// same dtype.
output concat(const scope& s, const std::vector<output>& values, int64_t axis = 0);

/// Cuts `value` into `num_split` equal pieces along `axis` (whose size must be divisible
/// by num_split). Returns num_split outputs (invalid ones if adding the op failed).
std::vector<output> split(const scope& s, output value, int64_t num_split, int64_t axis = 0);

/// input[begin[0] : begin[0]+size[0], ...]; a size of -1 means "to the end of that
/// dimension". begin and size have one entry per dimension of the input.
output slice(const scope& s, output input, std::vector<int64_t> begin, std::vector<int64_t> size);

/// Rows of `params` along `axis` picked by `indices` (int32 or int64): the output shape
/// is params.shape[:axis] + indices.shape + params.shape[axis+1:]. An index outside
/// [0, params.shape[axis]) is a run-time invalid_argument error naming it.
output gather(const scope& s, output params, output indices, int64_t axis = 0);

/// output[k] = sum of data[indices[i]] over the i with segment_ids[i] == k. data is
/// [V, ...] (float32 or float64); indices and segment_ids are vectors of one length
/// (int32 or int64); segment_ids sorted ascending. The output has num_segments rows
/// (-1: the last segment id + 1); segments without rows are zeros.
output sparse_segment_sum(const scope& s, output data, output indices, output segment_ids,
                          int64_t num_segments = -1);
/// As sparse_segment_sum, divided by the number of rows in each segment.
output sparse_segment_mean(const scope& s, output data, output indices, output segment_ids,
                           int64_t num_segments = -1);

/// A one-hot encoding of int32/int64 indices: a new dimension of size `depth` at `axis`
/// (-1: last) holding on_value where the index matches and off_value elsewhere; an index
/// outside [0, depth) gives a row of off_value. `t` is the output dtype (numeric).
output one_hot(const scope& s, output indices, int64_t depth, double on_value = 1.0,
               double off_value = 0.0, int64_t axis = -1, dtype t = dtype::float32);

/// Uniform values in [minval, maxval) of dtype t (float32 or float64). See Note [Random
/// seeds] (runtime/ops/array_ops.cpp) for what `seed` guarantees.
output random_uniform(const scope& s, partial_shape shape, dtype t = dtype::float32,
                      int64_t seed = 0, double minval = 0.0, double maxval = 1.0);
/// Normal values with this mean and standard deviation.
output random_normal(const scope& s, partial_shape shape, dtype t = dtype::float32,
                     int64_t seed = 0, double mean = 0.0, double stddev = 1.0);
/// Normal values with this mean and standard deviation, re-drawn when more than two
/// standard deviations from the mean.
output truncated_normal(const scope& s, partial_shape shape, dtype t = dtype::float32,
                        int64_t seed = 0, double mean = 0.0, double stddev = 1.0);

}  // namespace troupe::ops

namespace troupe {
void register_array_ops(op_registry& reg);
}
