#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "kernels/platform.hpp"
#include "runtime/exec/session.hpp"
#include "runtime/ops/core_ops.hpp"

/// Helpers shared by the unit tests of the op families (tests/*_ops_test.cpp).
namespace troupe::test {

/// EXPECT_TRUE(contains(text, part)) without gmock.
inline ::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\"\n  does not contain \"" << part
                                       << "\"";
}

/// The builtin ops and kernels, built once per test program.
inline const platform& the_platform() {
  static const platform p;
  return p;
}

template <class T>
tensor vec(const tensor_shape& shape, std::vector<T> values) {
  return tensor::from_vector<T>(shape, values);
}

template <class T>
std::vector<T> values_of(const tensor& t) {
  auto v = t.values<T>();
  return {v.begin(), v.end()};
}

/// A fixture holding a graph over the builtin ops and its root scope, with helpers to
/// build placeholders, read the scope's build error and run the graph in a session.
class ops_test : public ::testing::Test {
 protected:
  graph g{the_platform().ops()};
  scope s = scope::root(g);

  output ph(dtype t, partial_shape shape = partial_shape::unknown()) {
    return ops::placeholder(s, t, shape);
  }
  // The build error recorded in the scope (it must be one).
  std::string build_error() const {
    EXPECT_FALSE(s.ok()) << "expected a graph-build error";
    return s.status().message();
  }
  // The build error recorded in the scope (it must be one, with this code).
  std::string build_error(errc code) const {
    EXPECT_FALSE(s.ok()) << "expected a graph-build error";
    EXPECT_EQ(s.status().code(), code) << s.status().to_string();
    return s.status().message();
  }
  expected<std::vector<tensor>> run(const std::vector<std::pair<output, tensor>>& feeds,
                                    const std::vector<output>& fetches, int threads = 2) {
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    session sess(g, the_platform().kernels(), {.num_threads = threads});
    return sess.run(feeds, fetches);
  }
  std::vector<tensor> run_ok(const std::vector<std::pair<output, tensor>>& feeds,
                             const std::vector<output>& fetches) {
    auto r = run(feeds, fetches);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error_value().to_string());
    return r ? *r : std::vector<tensor>{};
  }
};

}  // namespace troupe::test
