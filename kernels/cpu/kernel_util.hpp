#pragma once

#include <Eigen/Core>
#include <type_traits>

#include "runtime/core/tensor.hpp"

/// Small helpers shared by the CPU kernel files (kernels/cpu/*_kernels.cpp).
namespace troupe::cpu {

/// n contiguous values of T as an Eigen Array column, for vectorized expressions over a
/// chunk or a row of a tensor (the types of tensor::flat<T>()).
template <class T>
using array_map = tensor::flat_map<T>;
template <class T>
using const_array_map = tensor::const_flat_map<T>;

/// The NaN propagation of Eigen's max/min for T: NaN wins for floating point (as in
/// NumPy); integers have no NaN, so they take the fast form, which is the same for them.
template <class T>
inline constexpr int nan_policy =
    std::is_floating_point_v<T> ? Eigen::PropagateNaN : Eigen::PropagateFast;

}  // namespace troupe::cpu
