#include "bin/ingest_cmd.hpp"

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "bin/cli_util.hpp"
#include "pipeline/data/ingest.hpp"

namespace troupe::cli {
namespace {

constexpr std::string_view k_usage =
    "usage: troupe ingest --data PATTERN [--data PATTERN ...] --out DIR [--span N]\n"
    "       [--split NAME=BUCKETS,...] [--max-error-fraction F] [--rows-per-batch N]";

int usage_error(const std::string& message) {
  return cli::usage_error("ingest", k_usage, message);
}

}  // namespace

int run_ingest(int argc, char** argv) {
  pipeline::ingest_options opts;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--data") {
      const char* v = value();
      if (!v) return usage_error("--data needs a path or glob pattern");
      for (std::string& p : expand_glob(v)) opts.inputs.push_back(std::move(p));
    } else if (a == "--out") {
      const char* v = value();
      if (!v) return usage_error("--out needs a directory");
      opts.out_dir = v;
    } else if (a == "--span") {
      const char* v = value();
      if (!parse_number(v, opts.span) || opts.span < 0)
        return usage_error(std::string("--span must be a number >= 0, got '") + (v ? v : "") + "'");
    } else if (a == "--split") {
      const char* v = value();
      if (!v) return usage_error("--split needs NAME=BUCKETS,...");
      auto splits = pipeline::parse_splits(v);
      if (!splits) return usage_error(splits.error_value().message());
      opts.splits = std::move(*splits);
    } else if (a == "--max-error-fraction") {
      const char* v = value();
      if (!parse_number(v, opts.max_error_fraction) || !(opts.max_error_fraction >= 0) ||
          opts.max_error_fraction > 1)
        return usage_error(std::string("--max-error-fraction must be a number in [0, 1], got '") +
                           (v ? v : "") + "'");
    } else if (a == "--rows-per-batch") {
      const char* v = value();
      if (!parse_number(v, opts.rows_per_batch) || opts.rows_per_batch < 1 ||
          opts.rows_per_batch > pipeline::max_rows_per_batch)
        return usage_error(std::string("--rows-per-batch must be a number from 1 to ") +
                           std::to_string(pipeline::max_rows_per_batch) + ", got '" + (v ? v : "") +
                           "'");
    } else {
      return usage_error("unknown option '" + a + "'");
    }
  }
  if (opts.inputs.empty()) return usage_error("no --data given");
  if (opts.out_dir.empty()) return usage_error("no --out given");

  const auto start = std::chrono::steady_clock::now();
  auto r = pipeline::ingest_csv(opts);
  if (!r) {
    std::fprintf(stderr, "troupe ingest: %s\n", r.error_value().to_string().c_str());
    return 1;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("span %lld: %lld rows in %.3f s (%.0f rows/s), %lld malformed\n",
              static_cast<long long>(r->span), static_cast<long long>(r->rows), secs,
              secs > 0 ? double(r->rows) / secs : 0.0, static_cast<long long>(r->malformed_rows));
  std::printf("columns:");
  for (const auto& c : r->columns)
    std::printf(" %s:%s", c.name.c_str(), std::string(pipeline::column_type_name(c.type)).c_str());
  std::printf("\n");
  for (size_t s = 0; s < opts.splits.size(); ++s)
    std::printf("split %s: %lld rows\n", opts.splits[s].name.c_str(),
                static_cast<long long>(r->split_rows[s]));
  for (const auto& p : r->problems)
    std::printf("malformed: %s:%lld: %s\n", p.file.c_str(), static_cast<long long>(p.line),
                p.message.c_str());
  std::printf("written to %s (manifest.json)\n", r->span_dir.c_str());
  return 0;
}

}  // namespace troupe::cli
