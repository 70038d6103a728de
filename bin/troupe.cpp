// The troupe command line: one binary, subcommands.

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>

#include "bin/demo.hpp"
#include "bin/ingest_cmd.hpp"
#include "bin/stats_cmd.hpp"
#include "bin/schema_cmd.hpp"
#include "bin/validate_cmd.hpp"
#include "kernels/platform.hpp"

namespace {

int usage(FILE* out) {
  std::fprintf(out,
               "usage: troupe <command> [options]\n"
               "commands:\n"
               "  demo [--data FILE] [--threads N]   nearest-neighbour letter recognition\n"
               "  ops                                list the registered ops and signatures\n"
               "  ingest --data GLOB --out DIR       CSV into record shards, spans and splits (docs/ingestion.md)\n"
               "  stats --data PATH --out FILE       statistics of CSV files or record shards\n"
               "  schema infer --stats S --out F     infer a schema (YAML) from statistics\n"
               "  validate --stats S --schema F --out A [--previous P] [--serving Q]\n"
               "                                     anomalies, drift and skew (exit 1: found)\n"
               "  help                               this text\n");
  return out == stderr ? 2 : 0;
}

int list_ops() {
  troupe::platform plat;
  for (const std::string& name : plat.ops().names()) {
    const troupe::op_def* d = plat.ops().find(name);
    std::printf("%s\n", d->spec().signature.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage(stderr);
  std::string cmd = argv[1];
  if (cmd == "help" || cmd == "--help" || cmd == "-h") return usage(stdout);
  if (cmd == "ops") return list_ops();
  if (cmd == "stats") return troupe::cli::run_stats(argc, argv);
  if (cmd == "ingest") return troupe::cli::run_ingest(argc, argv);
  if (cmd == "schema") return troupe::cli::run_schema(argc, argv);
  if (cmd == "validate") return troupe::cli::run_validate(argc, argv);
  if (cmd == "demo") {
    troupe::cli::demo_options opts;
    for (int i = 2; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--data" && i + 1 < argc) opts.data = argv[++i];
      else if (a == "--threads" && i + 1 < argc) {
        std::string v = argv[++i];
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), opts.threads);
        if (ec != std::errc() || end != v.data() + v.size() || opts.threads < 0) {
          std::fprintf(stderr, "troupe demo: --threads must be a number >= 0 (0: one per core), got '%s'\n",
                       v.c_str());
          return 2;
        }
      }
      else {
        std::fprintf(stderr, "troupe demo: unknown option '%s'\n", a.c_str());
        return usage(stderr);
      }
    }
    if (troupe::error e = troupe::cli::run_demo(opts)) {
      std::fprintf(stderr, "troupe demo: %s\n", e.to_string().c_str());
      return 1;
    }
    return 0;
  }
  std::fprintf(stderr, "troupe: unknown command '%s'\n", cmd.c_str());
  return usage(stderr);
}
