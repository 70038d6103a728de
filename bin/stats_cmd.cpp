#include "bin/stats_cmd.hpp"

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "bin/cli_util.hpp"
#include "pipeline/stats/record_stats.hpp"
#include "pipeline/stats/statistics.hpp"

namespace troupe::cli {
namespace {

constexpr std::string_view k_usage =
    "usage: troupe stats --data PATH [--data PATH ...] --out stats.json [--slice COLUMN] "
    "[--threads N]";

int usage_error(const std::string& message) {
  return cli::usage_error("stats", k_usage, message);
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
      for (std::string& p : expand_glob(v)) paths.push_back(std::move(p));
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
      if (!parse_number(v, opts.threads) || opts.threads < 0)
        return usage_error(str_cat("--threads must be a number >= 0 (0: one per core), got '",
                                   v ? v : "", "'"));
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
  if (!write_whole_file(out_path, pipeline::to_json(*stats))) {
    std::fprintf(stderr, "troupe stats: cannot write '%s'\n", out_path.c_str());
    return 1;
  }
  std::fputs(pipeline::to_text(*stats).c_str(), stdout);
  std::printf("statistics written to %s\n", out_path.c_str());
  return 0;
}

}  // namespace troupe::cli
