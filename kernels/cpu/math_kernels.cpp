// CPU kernels of the elementwise math ops: arithmetic, comparisons, logic, select, cast.
// Reductions and argmax are in reduce_kernels.cpp.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "kernels/cpu/broadcast.hpp"
#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/cpu/kernel_util.hpp"

namespace troupe {


namespace {

using cpu::array_map;
using cpu::const_array_map;
using cpu::nan_policy;

// Elementwise functions: each maps Eigen array expressions (a contiguous map, or a
// constant for a broadcast value; see Note [Broadcast segments]) to an array expression,
// and states its cost per element in cycles for parallel_for.

template <class T>
inline constexpr bool is_float_v = std::is_floating_point_v<T>;

struct add_fn {
  static constexpr int64_t cost = 1;
  auto operator()(const auto& x, const auto& y) const { return x + y; }
};
struct sub_fn {
  static constexpr int64_t cost = 1;
  auto operator()(const auto& x, const auto& y) const { return x - y; }
};
struct mul_fn {
  static constexpr int64_t cost = 1;
  auto operator()(const auto& x, const auto& y) const { return x * y; }
};

// Division: see div_kernel for integers.
struct div_fn {
  static constexpr int64_t cost = 4;
  auto operator()(const auto& x, const auto& y) const { return x / y; }
};

// C++ integer division truncates toward zero; the one overflowing case, lowest / -1, is
// a hardware trap on x86, so it wraps here as two's complement negation does.
template <class T>
struct int_div_op {
  T operator()(T a, T b) const {
    if (b == T(-1)) return T(std::make_unsigned_t<T>(0) - std::make_unsigned_t<T>(a));
    return a / b;
  }
};
struct int_div_fn {
  static constexpr int64_t cost = 8;
  template <class X, class Y>
  auto operator()(const X& x, const Y& y) const {
    return x.binaryExpr(y, int_div_op<typename X::Scalar>());
  }
};
// int32 division through double, vectorized (several times faster than idiv): exact, since
// for |a| < 2^53 the rounding error of a/b is below the distance 1/|b| from a/b to any
// other integer, and the conversion back truncates. Not for lowest / -1 (out of range).
// Eigen 3.4 does not vectorize int -> double casts (the packet sizes differ), so this is a
// plain loop in blocks of 16 with restrict pointers, which GCC vectorizes even at -O2.
template <bool CA, bool CB>
void int32_div_via_double(const int32_t* __restrict a, const int32_t* __restrict b,
                          int32_t* __restrict out, int64_t len) {
  const double sa = CA ? 0.0 : double(*a), sb = CB ? 0.0 : double(*b);
  int64_t i = 0;
  for (; i + 16 <= len; i += 16)
    for (int j = 0; j < 16; ++j)
      out[i + j] = int32_t((CA ? double(a[i + j]) : sa) / (CB ? double(b[i + j]) : sb));
  for (; i < len; ++i) out[i] = int32_t((CA ? double(a[i]) : sa) / (CB ? double(b[i]) : sb));
}

// maximum / minimum propagate NaN (as NumPy); for integers the fast form is the same.
struct maximum_fn {
  static constexpr int64_t cost = 1;
  template <class X, class Y>
  auto operator()(const X& x, const Y& y) const {
    using T = typename X::Scalar;
    return x.binaryExpr(y, Eigen::internal::scalar_max_op<T, T, nan_policy<T>>());
  }
};
struct minimum_fn {
  static constexpr int64_t cost = 1;
  template <class X, class Y>
  auto operator()(const X& x, const Y& y) const {
    using T = typename X::Scalar;
    return x.binaryExpr(y, Eigen::internal::scalar_min_op<T, T, nan_policy<T>>());
  }
};
struct pow_fn {
  static constexpr int64_t cost = 40;
  auto operator()(const auto& x, const auto& y) const { return x.pow(y); }
};

// Comparisons also accept scalars (the string path of compare_kernel calls them so).
struct equal_fn {
  static constexpr int64_t cost = 1;
  auto operator()(const auto& x, const auto& y) const { return x == y; }
};
struct not_equal_fn {
  static constexpr int64_t cost = 1;
  auto operator()(const auto& x, const auto& y) const { return x != y; }
};
struct less_fn {
  static constexpr int64_t cost = 1;
  auto operator()(const auto& x, const auto& y) const { return x < y; }
};
struct less_equal_fn {
  static constexpr int64_t cost = 1;
  auto operator()(const auto& x, const auto& y) const { return x <= y; }
};
struct greater_fn {
  static constexpr int64_t cost = 1;
  auto operator()(const auto& x, const auto& y) const { return x > y; }
};
struct greater_equal_fn {
  static constexpr int64_t cost = 1;
  auto operator()(const auto& x, const auto& y) const { return x >= y; }
};
struct logical_and_fn {
  static constexpr int64_t cost = 1;
  auto operator()(const auto& x, const auto& y) const { return x && y; }
};
struct logical_or_fn {
  static constexpr int64_t cost = 1;
  auto operator()(const auto& x, const auto& y) const { return x || y; }
};

// z = f(x, y) over a broadcast plan; see cpu::broadcast_binary.
template <class T, class TOut, class Fn>
void compute_binary(kernel_context& ctx, const cpu::broadcast_plan<2>& plan, const tensor& x,
                    const tensor& y, const tensor& z, const Fn& fn) {
  const T* a = x.data<T>();
  const T* b = y.data<T>();
  TOut* out = z.data<TOut>();
  if constexpr (std::is_same_v<T, std::string>) {
    // Eigen cannot hold strings: plain loops over the same segments.
    cpu::broadcast_segments<2>(ctx.device(), plan, 16,
                               [&](int64_t o, const auto& in, const auto& step, int64_t len) {
                                 const T* pa = a + in[0];
                                 const T* pb = b + in[1];
                                 for (int64_t i = 0; i < len; ++i)
                                   out[o + i] = fn(pa[i * step[0]], pb[i * step[1]]);
                               });
  } else {
    cpu::broadcast_binary(ctx.device(), plan, a, b, out, Fn::cost, fn);
  }
}

/// z = f(x, y) with broadcasting; TOut is T for arithmetic, bool for comparisons.
template <class T, class Fn, class TOut = T>
class binary_kernel {
 public:
  static constexpr bool forwards_inputs = true;  // see forward_or_allocate
  error compute(kernel_context& ctx) const {
    const tensor& x = ctx.input(0);
    const tensor& y = ctx.input(1);
    if constexpr (!std::is_same_v<T, std::string>) {
      // Same shapes (the common case, and every scalar op): one flat loop, no plan.
      if (x.shape() == y.shape()) {
        tensor z = TROUPE_TRY(ctx.forward_or_allocate({0, 1}, 0, x.shape()));
        const T* a = x.data<T>();
        const T* b = y.data<T>();
        TOut* out = z.data<TOut>();
        auto run = [&](int64_t begin, int64_t end) {
          using in_map = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
          Eigen::Map<Eigen::Array<TOut, Eigen::Dynamic, 1>>(out + begin, end - begin) =
              Fn{}(in_map(a + begin, end - begin), in_map(b + begin, end - begin));
        };
        const int64_t n = x.num_elements();
        if (n * Fn::cost < 16384) run(0, n);
        else ctx.parallel_for(n, Fn::cost, run);
        return {};
      }
    }
    auto plan = TROUPE_TRY(cpu::broadcast_plan<2>::make({x.shape(), y.shape()}));
    tensor z = TROUPE_TRY(ctx.allocate_output(0, plan.output_shape()));
    if (plan.num_elements() > 0) compute_binary<T, TOut>(ctx, plan, x, y, z, Fn{});
    return {};
  }
};

/// x / y with broadcasting. A zero integer divisor is an error found before any division
/// runs (never SIGFPE); the scan also tells whether the fast int32 path is safe.
template <class T>
class div_kernel {
 public:
  error compute(kernel_context& ctx) const {
    const tensor& x = ctx.input(0);
    const tensor& y = ctx.input(1);
    auto plan = TROUPE_TRY(cpu::broadcast_plan<2>::make({x.shape(), y.shape()}));
    tensor z = TROUPE_TRY(ctx.allocate_output(0, plan.output_shape()));
    if (plan.num_elements() == 0) return {};
    if constexpr (is_float_v<T>) {
      compute_binary<T, T>(ctx, plan, x, y, z, div_fn{});
    } else {
      const T* v = y.data<T>();
      bool minus_one = false;
      for (int64_t i = 0, n = y.num_elements(); i < n; ++i) {
        TROUPE_REQUIRE(v[i] != 0, "integer division by zero: the divisor y (shape ",
                       y.shape().to_string(), ") is 0 at flat index ", i);
        minus_one |= v[i] == T(-1);
      }
      if constexpr (std::is_same_v<T, int32_t>) {
        if (!minus_one) {
          const int32_t* a = x.data<int32_t>();
          const int32_t* b = y.data<int32_t>();
          int32_t* out = z.data<int32_t>();
          cpu::broadcast_segments<2>(
              ctx.device(), plan, 2, [&](int64_t o, const auto& in, const auto& step, int64_t len) {
                const int32_t* pa = a + in[0];
                const int32_t* pb = b + in[1];
                if (step[0] && step[1]) int32_div_via_double<true, true>(pa, pb, out + o, len);
                else if (step[0]) int32_div_via_double<true, false>(pa, pb, out + o, len);
                else if (step[1]) int32_div_via_double<false, true>(pa, pb, out + o, len);
                else int32_div_via_double<false, false>(pa, pb, out + o, len);
              });
          return {};
        }
      }
      compute_binary<T, T>(ctx, plan, x, y, z, int_div_fn{});
    }
    return {};
  }
};

template <class T>
using add_kernel = binary_kernel<T, add_fn>;
template <class T>
using sub_kernel = binary_kernel<T, sub_fn>;
template <class T>
using mul_kernel = binary_kernel<T, mul_fn>;
template <class T>
using maximum_kernel = binary_kernel<T, maximum_fn>;
template <class T>
using minimum_kernel = binary_kernel<T, minimum_fn>;
template <class T>
using pow_kernel = binary_kernel<T, pow_fn>;
template <class T>
using equal_kernel = binary_kernel<T, equal_fn, bool>;
template <class T>
using not_equal_kernel = binary_kernel<T, not_equal_fn, bool>;
template <class T>
using less_kernel = binary_kernel<T, less_fn, bool>;
template <class T>
using less_equal_kernel = binary_kernel<T, less_equal_fn, bool>;
template <class T>
using greater_kernel = binary_kernel<T, greater_fn, bool>;
template <class T>
using greater_equal_kernel = binary_kernel<T, greater_equal_fn, bool>;

struct neg_fn {
  static constexpr int64_t cost = 1;
  auto operator()(const auto& x) const { return -x; }
};
struct abs_fn {
  static constexpr int64_t cost = 1;
  auto operator()(const auto& x) const { return x.abs(); }
};
struct square_fn {
  static constexpr int64_t cost = 1;
  auto operator()(const auto& x) const { return x.square(); }
};
struct sqrt_fn {
  static constexpr int64_t cost = 8;
  auto operator()(const auto& x) const { return x.sqrt(); }
};
struct exp_fn {
  static constexpr int64_t cost = 20;
  auto operator()(const auto& x) const { return x.exp(); }
};
struct log_fn {
  static constexpr int64_t cost = 20;
  auto operator()(const auto& x) const { return x.log(); }
};
struct sin_fn {
  static constexpr int64_t cost = 20;
  auto operator()(const auto& x) const { return x.sin(); }
};
struct cos_fn {
  static constexpr int64_t cost = 20;
  auto operator()(const auto& x) const { return x.cos(); }
};
struct logical_not_fn {
  static constexpr int64_t cost = 1;
  auto operator()(const auto& x) const { return !x; }
};

/// y = f(x): one flat vectorized loop, split across threads.
template <class T, class Fn>
class unary_kernel {
 public:
  static constexpr bool forwards_inputs = true;  // see forward_or_allocate
  error compute(kernel_context& ctx) const {
    const tensor& x = ctx.input(0);
    tensor y = TROUPE_TRY(ctx.forward_or_allocate({0}, 0, x.shape()));
    const T* in = x.data<T>();
    T* out = y.data<T>();
    ctx.parallel_for(x.num_elements(), Fn::cost, [&](int64_t begin, int64_t end) {
      array_map<T>(out + begin, end - begin) = Fn{}(const_array_map<T>(in + begin, end - begin));
    });
    return {};
  }
};

template <class T>
using neg_kernel = unary_kernel<T, neg_fn>;
template <class T>
using abs_kernel = unary_kernel<T, abs_fn>;
template <class T>
using square_kernel = unary_kernel<T, square_fn>;
template <class T>
using sqrt_kernel = unary_kernel<T, sqrt_fn>;
template <class T>
using exp_kernel = unary_kernel<T, exp_fn>;
template <class T>
using log_kernel = unary_kernel<T, log_fn>;
template <class T>
using sin_kernel = unary_kernel<T, sin_fn>;
template <class T>
using cos_kernel = unary_kernel<T, cos_fn>;

/// condition ? x : y, the three broadcast together. Eigen's select does not vectorize on
/// a bool condition either, so this is a plain loop per segment.
template <class T>
class select_kernel {
 public:
  error compute(kernel_context& ctx) const {
    const tensor& c = ctx.input(0);
    const tensor& x = ctx.input(1);
    const tensor& y = ctx.input(2);
    auto plan = TROUPE_TRY(cpu::broadcast_plan<3>::make({c.shape(), x.shape(), y.shape()}));
    tensor z = TROUPE_TRY(ctx.allocate_output(0, plan.output_shape()));
    if (plan.num_elements() == 0) return {};
    const bool* pc = c.data<bool>();
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    T* out = z.data<T>();
    const int64_t cost = std::is_same_v<T, std::string> ? 16 : 2;
    cpu::broadcast_segments<3>(ctx.device(), plan, cost,
                               [&](int64_t o, const auto& in, const auto& step, int64_t len) {
                                 const bool* sc = pc + in[0];
                                 const T* sx = px + in[1];
                                 const T* sy = py + in[2];
                                 for (int64_t i = 0; i < len; ++i)
                                   out[o + i] = sc[i * step[0]] ? sx[i * step[1]] : sy[i * step[2]];
                               });
    return {};
  }
};

// cast: Src is the kernel's dtype key; init picks the routine for DstT.
template <class Src, class Dst>
error cast_impl(kernel_context& ctx) {
  const tensor& x = ctx.input(0);
  if constexpr (std::is_same_v<Src, Dst>) {
    ctx.set_output(0, x);  // no conversion: share the buffer
  } else {
    tensor y = TROUPE_TRY(ctx.allocate_output(0, x.shape()));
    const Src* in = x.data<Src>();
    Dst* out = y.data<Dst>();
    ctx.parallel_for(x.num_elements(), 1, [&](int64_t begin, int64_t end) {
      const_array_map<Src> a(in + begin, end - begin);
      array_map<Dst> b(out + begin, end - begin);
      if constexpr (std::is_same_v<Dst, bool>)
        b = a != Src(0);
      else
        b = a.template cast<Dst>();
    });
  }
  return {};
}

template <class Src>
class cast_kernel {
 public:
  error init(const kernel_construction& c) {
    dtype dst = c.output_type(0);
    visit_dtype(dst, [&]<class Dst>() {
      if constexpr (!std::is_same_v<Dst, std::string>) fn_ = &cast_impl<Src, Dst>;
    });
    if (fn_ == nullptr)
      return make_error(errc::unimplemented, "cast from ", dtype_name(dtype_v<Src>), " to ",
                        dtype_name(dst), " is not implemented");
    return {};
  }
  error compute(kernel_context& ctx) const { return fn_(ctx); }

 private:
  error (*fn_)(kernel_context&) = nullptr;
};

}  // namespace

void register_math_kernels(kernel_registry& reg) {
  constexpr auto cpu = device_kind::cpu;
  reg.add_for<add_kernel, float, double, int32_t, int64_t>("add", cpu);
  reg.add_for<sub_kernel, float, double, int32_t, int64_t>("sub", cpu);
  reg.add_for<mul_kernel, float, double, int32_t, int64_t>("mul", cpu);
  reg.add_for<div_kernel, float, double, int32_t, int64_t>("div", cpu);
  reg.add_for<maximum_kernel, float, double, int32_t, int64_t>("maximum", cpu);
  reg.add_for<minimum_kernel, float, double, int32_t, int64_t>("minimum", cpu);
  reg.add_for<pow_kernel, float, double>("pow", cpu);

  reg.add_for<neg_kernel, float, double, int32_t, int64_t>("neg", cpu);
  reg.add_for<abs_kernel, float, double, int32_t, int64_t>("abs", cpu);
  reg.add_for<square_kernel, float, double, int32_t, int64_t>("square", cpu);
  reg.add_for<sqrt_kernel, float, double>("sqrt", cpu);
  reg.add_for<exp_kernel, float, double>("exp", cpu);
  reg.add_for<log_kernel, float, double>("log", cpu);
  reg.add_for<sin_kernel, float, double>("sin", cpu);
  reg.add_for<cos_kernel, float, double>("cos", cpu);

  reg.add_for<equal_kernel, float, double, int32_t, int64_t, bool, std::string>("equal", cpu);
  reg.add_for<not_equal_kernel, float, double, int32_t, int64_t, bool, std::string>("not_equal",
                                                                                    cpu);
  reg.add_for<less_kernel, float, double, int32_t, int64_t>("less", cpu);
  reg.add_for<less_equal_kernel, float, double, int32_t, int64_t>("less_equal", cpu);
  reg.add_for<greater_kernel, float, double, int32_t, int64_t>("greater", cpu);
  reg.add_for<greater_equal_kernel, float, double, int32_t, int64_t>("greater_equal", cpu);
  reg.add_any<binary_kernel<bool, logical_and_fn, bool>>("logical_and", cpu);
  reg.add_any<binary_kernel<bool, logical_or_fn, bool>>("logical_or", cpu);
  reg.add_any<unary_kernel<bool, logical_not_fn>>("logical_not", cpu);

  reg.add_for<select_kernel, float, double, int32_t, int64_t, bool, std::string>("select", cpu);
  reg.add_for<cast_kernel, float, double, int32_t, int64_t, bool>("cast", cpu);

  register_reduce_kernels(reg);
}

}  // namespace troupe
