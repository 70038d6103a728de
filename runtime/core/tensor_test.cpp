#include "runtime/core/tensor.hpp"

#include <gtest/gtest.h>

namespace troupe {
namespace {

TEST(tensor, buffers_are_aligned_refcounted_and_shared_by_copies) {
  tensor t(dtype::float32, {3, 5});
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % buffer_alignment, 0u);
  EXPECT_EQ(t.num_elements(), 15);
  EXPECT_EQ(t.byte_size(), 60u);
  EXPECT_TRUE(t.buffer_is_unique());
  for (float v : t.values<float>()) EXPECT_EQ(v, 0.0f);
  tensor u = t;
  EXPECT_FALSE(t.buffer_is_unique());
  EXPECT_EQ(t.buffer_handle()->ref_count(), 2);
  u.data<float>()[4] = 7;
  EXPECT_EQ(t.data<float>()[4], 7);  // shared
  tensor c = t.clone();
  c.data<float>()[4] = 1;
  EXPECT_EQ(t.data<float>()[4], 7);  // deep copy
  u = tensor();
  EXPECT_TRUE(t.buffer_is_unique());
}

TEST(tensor, freed_buffers_are_reused_by_same_sized_allocations) {
  release_cached_buffers();
  for (int64_t n : {int64_t(10), int64_t(3) << 20}) {  // a small and a large (12 MiB) block
    void* first;
    {
      tensor t(dtype::float32, {n});
      t.data<float>()[0] = 5;
      first = t.raw_data();
    }
    tensor again(dtype::float32, {n});
    EXPECT_EQ(again.raw_data(), first) << n;
    for (float v : again.values<float>()) ASSERT_EQ(v, 0.0f);  // still zero-filled
    if (n > 1000) {
      EXPECT_EQ(release_cached_buffers(), 0u);  // the large block is in use again
      again = tensor();
      EXPECT_GT(release_cached_buffers(), size_t(12) << 20);
      EXPECT_EQ(release_cached_buffers(), 0u);
    }
  }
}

TEST(tensor, eigen_views) {
  tensor t = tensor::from_vector<double>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto m = t.matrix<double>();
  EXPECT_EQ(m.rows(), 2);
  EXPECT_EQ(m(1, 0), 4);  // row-major
  EXPECT_EQ(t.flat<double>().sum(), 21);
  auto r = t.reshaped({3, 2});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->matrix<double>()(2, 1), 6);
  EXPECT_EQ(r->raw_data(), t.raw_data());
  auto bad = t.reshaped({4});
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error_value().message().find("cannot view [2,3] (6 elements) as [4] (4 elements)"),
            std::string::npos);
}

TEST(tensor, strings_bools_and_debug_strings) {
  tensor s(dtype::string, {2});
  s.values<std::string>()[1] = "hello";
  tensor s2 = s.clone();
  EXPECT_TRUE(s.identical(s2));
  s2.values<std::string>()[0] = "x";
  EXPECT_FALSE(s.identical(s2));
  EXPECT_EQ(s.debug_string(), "string [2] {\"\", \"hello\"}");
  tensor b = tensor::from_vector<bool>({3}, {true, false, true});
  EXPECT_EQ(b.debug_string(2), "bool [3] {true, false, ...}");
  EXPECT_EQ(tensor::scalar<int64_t>(5).debug_string(), "int64 [] {5}");
}

TEST(tensor, shapes_validate_user_input) {
  std::vector<int64_t> neg{2, -3};
  auto s = tensor_shape::make(neg);
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error_value().message().find("dimension 1 is -3"), std::string::npos);
  std::vector<int64_t> deep(9, 1);
  EXPECT_FALSE(tensor_shape::make(deep).has_value());
  std::vector<int64_t> huge{int64_t(1) << 40, int64_t(1) << 40};
  EXPECT_NE(tensor_shape::make(huge).error_value().message().find("overflows"), std::string::npos);
  auto t = tensor::allocate(dtype::float64, tensor_shape{int64_t(1) << 40, 1 << 20});
  ASSERT_FALSE(t.has_value());  // 8 EiB: out of memory, not a crash
  EXPECT_EQ(t.error_value().code(), errc::resource_exhausted);
  // Element counts whose byte size overflows size_t are refused before allocating.
  for (dtype big : {dtype::string, dtype::float64}) {
    auto huge_t = tensor::allocate(big, tensor_shape{int64_t(1) << 61});
    ASSERT_FALSE(huge_t.has_value()) << dtype_name(big);
    EXPECT_NE(huge_t.error_value().message().find("too large"), std::string::npos);
  }
  partial_shape p{-1, 3};
  EXPECT_TRUE(p.is_compatible_with({7, 3}));
  EXPECT_FALSE(p.is_compatible_with({7, 4}));
  EXPECT_FALSE(p.is_compatible_with({3}));
  EXPECT_TRUE(partial_shape::unknown().is_compatible_with({1, 2, 3}));
  EXPECT_EQ(p.to_string(), "[?,3]");
}

TEST(dtype, names_round_trip) {
  for (dtype t : all_dtypes) EXPECT_EQ(*parse_dtype(dtype_name(t)), t);
  auto bad = parse_dtype("float16");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error_value().message().find("unknown dtype 'float16'"), std::string::npos);
}

}  // namespace
}  // namespace troupe
