#include "tests/conformance/harness.hpp"
#include "runtime/ops/core_ops.hpp"
#include "runtime/ops/variable_ops.hpp"

namespace troupe::conformance {

void add_core_cases(std::vector<op_case>& cases) {
  auto same = [](const std::vector<ref_tensor>& in, dtype) { return std::vector<ref_tensor>{in[0]}; };
  cases.push_back({
      .op = "identity",
      .name = "identity_matrix",
      .dtypes = all_types,
      .inputs = {{.shape = {3, 4}, .lo = -50, .hi = 50}},
      .build = [](const scope& s, const std::vector<output>& in, dtype) {
        return std::vector<output>{ops::identity(s, in[0])};
      },
      .reference = same,
  });
  // A constant of each dtype, passed through identity so it is not folded away entirely.
  cases.push_back({
      .op = "const",
      .name = "const_vector",
      .dtypes = all_types,
      .inputs = {},
      .build = [](const scope& s, const std::vector<output>&, dtype t) {
        ref_tensor r{{4}, {3, -1, 0, 7}};
        tensor v(t, tensor_shape{4});
        visit_dtype(t, [&]<class T>() {
          for (int i = 0; i < 4; ++i) {
            if constexpr (std::is_same_v<T, std::string>) v.values<T>()[size_t(i)] = std::to_string(int(r.values[size_t(i)]));
            else v.values<T>()[size_t(i)] = T(r.values[size_t(i)]);
          }
        });
        return std::vector<output>{ops::constant(s, v)};
      },
      .reference = [](const std::vector<ref_tensor>&, dtype t) {
        ref_tensor r{{4}, {3, -1, 0, 7}};
        if (t == dtype::boolean) r.values = {1, 1, 0, 1};
        return std::vector<ref_tensor>{r};
      },
  });
  // fill (runtime/ops/variable_ops.hpp): passed through identity so it is not folded away.
  cases.push_back({
      .op = "fill",
      .name = "fill_matrix",
      .dtypes = numeric_types,
      .inputs = {},
      .build = [](const scope& s, const std::vector<output>&, dtype t) {
        return std::vector<output>{ops::identity(s, ops::fill(s, t, tensor_shape{2, 3}, 7.0))};
      },
      .reference = [](const std::vector<ref_tensor>&, dtype) {
        return std::vector<ref_tensor>{ref_tensor{{2, 3}, {7, 7, 7, 7, 7, 7}}};
      },
  });
  cases.push_back({
      .op = "placeholder",
      .name = "placeholder_fed",
      .dtypes = all_types,
      .inputs = {{.shape = {2, 3}, .lo = -9, .hi = 9}},
      .build = [](const scope&, const std::vector<output>& in, dtype) {
        return std::vector<output>{in[0]};
      },
      .reference = same,
  });
  cases.push_back({
      .op = "no_op",
      .name = "no_op_as_control_dependency",
      .dtypes = {dtype::float32},
      .inputs = {{.shape = {2}}},
      .build = [](const scope& s, const std::vector<output>& in, dtype) {
        operation done = ops::no_op(s);
        return std::vector<output>{ops::identity(s.with_control_deps({done}), in[0])};
      },
      .reference = same,
  });
}

}  // namespace troupe::conformance
