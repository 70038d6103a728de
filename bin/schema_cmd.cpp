#include "bin/schema_cmd.hpp"

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "bin/cli_util.hpp"
#include "pipeline/schema/schema.hpp"
#include "pipeline/stats/statistics.hpp"

namespace troupe::cli {
namespace {

constexpr std::string_view k_usage =
    "usage: troupe schema infer --stats stats.json --out schema.yaml [--ranges]";

int usage_error(const std::string& message) {
  return cli::usage_error("schema", k_usage, message);
}

}  // namespace

int run_schema(int argc, char** argv) {
  if (argc < 3) return usage_error("no subcommand given (expected 'infer')");
  if (std::string(argv[2]) != "infer")
    return usage_error(str_cat("unknown subcommand '", argv[2], "' (expected 'infer')"));
  std::string stats_path, out_path;
  pipeline::infer_options opts;
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--stats") {
      const char* v = value();
      if (!v) return usage_error("--stats needs a path");
      stats_path = v;
    } else if (a == "--out") {
      const char* v = value();
      if (!v) return usage_error("--out needs a path");
      out_path = v;
    } else if (a == "--ranges") {
      opts.numeric_ranges = true;
    } else {
      return usage_error("unknown option '" + a + "'");
    }
  }
  if (stats_path.empty()) return usage_error("no --stats given");
  if (out_path.empty()) return usage_error("no --out given");

  const std::optional<std::string> text = read_whole_file(stats_path);
  if (!text) {
    std::fprintf(stderr, "troupe schema: %s: cannot open the statistics file\n",
                 stats_path.c_str());
    return 1;
  }
  auto stats = pipeline::stats_from_json(*text);
  if (!stats) {
    std::fprintf(stderr, "troupe schema: %s: %s\n", stats_path.c_str(),
                 stats.error_value().to_string().c_str());
    return 1;
  }
  const pipeline::schema s = pipeline::infer_schema(*stats, opts);
  if (!write_whole_file(out_path, pipeline::to_yaml(s))) {
    std::fprintf(stderr, "troupe schema: cannot write '%s'\n", out_path.c_str());
    return 1;
  }
  std::printf("schema of %zu features written to %s\n", s.features.size(), out_path.c_str());
  return 0;
}

}  // namespace troupe::cli
