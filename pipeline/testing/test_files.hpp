#pragma once

// Files for the pipeline's unit tests: the data sets in the repo, a fresh temporary directory
// per test, and whole-file reads and writes. Header-only, for tests alone (it needs GoogleTest).

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "runtime/core/error.hpp"

namespace troupe::pipeline::testing {

/// The path of `name` in the repo's data/ directory (found from this header's own path, which
/// is two levels below the repo root).
inline std::string data_path(std::string_view name) {
  return (std::filesystem::path(__FILE__).parent_path() / ".." / ".." / "data" / name)
      .lexically_normal()
      .string();
}

/// A fresh, empty directory for the running test: <tmp>/troupe_<tag>_<suite>_<test>.
inline std::filesystem::path temp_dir(std::string_view tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path d =
      std::filesystem::temp_directory_path() /
      str_cat("troupe_", tag, "_", info->test_suite_name(), "_", info->name());
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

/// Writes `bytes` to `path`, replacing what was there.
inline void write_bytes(const std::string& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), std::streamsize(bytes.size()));
}

/// Writes `text` to dir/name and returns that path.
inline std::string write_file(const std::filesystem::path& dir, const std::string& name,
                              std::string_view text) {
  const std::string p = (dir / name).string();
  write_bytes(p, text);
  return p;
}

/// The whole content of `path` ("" when it cannot be read).
inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace troupe::pipeline::testing
