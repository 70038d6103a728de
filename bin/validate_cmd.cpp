#include "bin/validate_cmd.hpp"

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "bin/cli_util.hpp"
#include "pipeline/schema/schema.hpp"
#include "pipeline/stats/statistics.hpp"
#include "pipeline/validate/validate.hpp"

namespace troupe::cli {
namespace {

constexpr std::string_view k_usage =
    "usage: troupe validate --stats stats.json --schema schema.yaml [--previous stats.json] "
    "[--serving stats.json] --out anomalies.json";

int usage_error(const std::string& message) {
  return cli::usage_error("validate", k_usage, message);
}

// Statistics from a file `troupe stats` wrote; on failure prints why (naming `option` and
// the file) and returns nothing.
std::optional<pipeline::dataset_stats> read_stats(const std::string& path, const char* option) {
  const std::optional<std::string> text = read_whole_file(path);
  if (!text) {
    std::fprintf(stderr, "troupe validate: %s %s: cannot open the statistics file\n", option,
                 path.c_str());
    return std::nullopt;
  }
  auto stats = pipeline::stats_from_json(*text);
  if (!stats) {
    std::fprintf(stderr, "troupe validate: %s %s: %s\n", option, path.c_str(),
                 stats.error_value().to_string().c_str());
    return std::nullopt;
  }
  return std::move(*stats);
}

}  // namespace

int run_validate(int argc, char** argv) {
  std::string stats_path, schema_path, previous_path, serving_path, out_path;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    std::string* target = a == "--stats"      ? &stats_path
                          : a == "--schema"   ? &schema_path
                          : a == "--previous" ? &previous_path
                          : a == "--serving"  ? &serving_path
                          : a == "--out"      ? &out_path
                                              : nullptr;
    if (!target) return usage_error("unknown option '" + a + "'");
    const char* v = value();
    if (!v || !*v) return usage_error(a + " needs a path");
    *target = v;
  }
  if (stats_path.empty()) return usage_error("no --stats given");
  if (schema_path.empty()) return usage_error("no --schema given");
  if (out_path.empty()) return usage_error("no --out given");

  auto stats = read_stats(stats_path, "--stats");
  if (!stats) return 2;
  auto schema = pipeline::read_schema_file(schema_path);
  if (!schema) {
    std::fprintf(stderr, "troupe validate: --schema: %s\n",
                 schema.error_value().message().c_str());
    return 2;
  }
  std::optional<pipeline::dataset_stats> previous, serving;
  if (!previous_path.empty() && !(previous = read_stats(previous_path, "--previous"))) return 2;
  if (!serving_path.empty() && !(serving = read_stats(serving_path, "--serving"))) return 2;

  const pipeline::anomalies found =
      pipeline::validate(*stats, *schema, previous ? &*previous : nullptr,
                         serving ? &*serving : nullptr);
  if (!write_whole_file(out_path, pipeline::to_json(found))) {
    std::fprintf(stderr, "troupe validate: --out %s: cannot write the file\n", out_path.c_str());
    return 2;
  }
  std::fputs(pipeline::to_text(found).c_str(), stdout);
  std::printf("anomalies written to %s\n", out_path.c_str());
  return found.empty() ? 0 : 1;
}

}  // namespace troupe::cli
