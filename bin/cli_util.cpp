#include "bin/cli_util.hpp"

#include <glob.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace troupe::cli {

int usage_error(std::string_view command, std::string_view usage, std::string_view message) {
  std::fprintf(stderr, "troupe %.*s: %.*s\n%.*s\n", int(command.size()), command.data(),
               int(message.size()), message.data(), int(usage.size()), usage.data());
  return 2;
}

std::vector<std::string> expand_glob(const std::string& pattern) {
  glob_t g{};
  std::vector<std::string> out;
  if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  ::globfree(&g);
  if (out.empty()) out.push_back(pattern);
  return out;
}

std::optional<std::string> read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

bool write_whole_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  out.close();
  return bool(out);
}

}  // namespace troupe::cli
