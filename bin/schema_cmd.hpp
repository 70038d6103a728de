#pragma once

namespace troupe::cli {

/// `troupe schema infer --stats stats.json --out schema.yaml [--ranges]`: infers a schema
/// from statistics (those `troupe stats` writes) and writes it as YAML
/// (docs/formats/schema.md). --ranges also records each numeric column's seen min and max.
/// Returns the exit status: 0 done, 1 an input file unreadable or malformed or the output
/// unwritable, 2 a usage error.
int run_schema(int argc, char** argv);

}  // namespace troupe::cli
