#include "bin/stats_cmd.hpp"

#include <glob.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "pipeline/stats/record_stats.hpp"
#include "pipeline/stats/statistics.hpp"

namespace troupe::cli {
namespace {

int usage_error(const std::string& message) {
  std::fprintf(stderr,
               "troupe stats: %s\n"
               "usage: troupe stats --data PATH [--data PATH ...] --out stats.json "
               "[--slice COLUMN] [--threads N]\n",
               message.c_str());
  return 2;
}

// The files a --data argument names: a glob's matches (sorted), or the path itself.
std::vector<std::string> expand(const std::string& pattern) {
  glob_t g{};
  std::vector<std::string> out;
  if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  ::globfree(&g);
  if (out.empty()) out.push_back(pattern);  // reading it reports the missing file
  return out;
}

}  // namespace

int run_stats(int argc, char** argv) {
  std::vector<std::string> paths;
  std::string out_path;
  pipeline::stats_options opts;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--data") {
      const char* v = value();
      if (!v) return usage_error("--data needs a path");
      for (std::string& p : expand(v)) paths.push_back(std::move(p));
    } else if (a == "--out") {
      const char* v = value();
      if (!v) return usage_error("--out needs a path");
      out_path = v;
    } else if (a == "--slice") {
      const char* v = value();
      if (!v) return usage_error("--slice needs a column name");
      opts.slice_column = v;
    } else if (a == "--threads") {
      const char* v = value();
      std::string s = v ? v : "";
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), opts.threads);
      if (s.empty() || ec != std::errc() || end != s.data() + s.size() || opts.threads < 0)
        return usage_error("--threads must be a number >= 0 (0: one per core), got '" + s + "'");
    } else {
      return usage_error("unknown option '" + a + "'");
    }
  }
  if (paths.empty()) return usage_error("no --data given");
  if (out_path.empty()) return usage_error("no --out given");

  // Record shards (an ingested span or split directory, or shard files; docs/ingestion.md).
  size_t record_paths = 0;
  for (const std::string& p : paths) record_paths += pipeline::is_record_path(p) ? 1 : 0;
  if (record_paths != 0 && record_paths != paths.size())
    return usage_error("--data mixes record shards and CSV files: give one kind");
  auto stats = record_paths != 0 ? pipeline::compute_record_stats(paths, opts)
                                 : pipeline::compute_stats(paths, opts);
  if (!stats) {
    std::fprintf(stderr, "troupe stats: %s\n", stats.error_value().to_string().c_str());
    return 1;
  }
  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  out << pipeline::to_json(*stats);
  out.close();
  if (!out) {
    std::fprintf(stderr, "troupe stats: cannot write '%s'\n", out_path.c_str());
    return 1;
  }
  std::fputs(pipeline::to_text(*stats).c_str(), stdout);
  std::printf("statistics written to %s\n", out_path.c_str());
  return 0;
}

}  // namespace troupe::cli
