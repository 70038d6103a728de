#include <gtest/gtest.h>

#ifdef TROUPE_HAVE_CUDA
#include "kernels/cuda/cuda_devices.hpp"

namespace troupe {
namespace {

TEST(cuda, adds_vectors_on_the_device_or_skips) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  std::vector<float> a(1000), b(1000);
  for (int i = 0; i < 1000; ++i) {
    a[size_t(i)] = float(i);
    b[size_t(i)] = 0.5f * float(i);
  }
  auto c = cuda::add_vectors(0, a, b);
  ASSERT_TRUE(c.has_value()) << c.error_value().to_string();
  for (int i = 0; i < 1000; ++i) EXPECT_EQ((*c)[size_t(i)], 1.5f * float(i));
}

TEST(cuda, missing_device_is_an_error_not_a_crash) {
  auto c = cuda::add_vectors(cuda::device_count(), {1.f}, {2.f});
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error_value().code(), errc::unavailable);
}

}  // namespace
}  // namespace troupe
#endif
