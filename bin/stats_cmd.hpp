#pragma once

namespace troupe::cli {

/// `troupe stats --data PATH [--data PATH ...] --out stats.json [--slice COLUMN]
/// [--threads N]`: statistics of CSV files (PATH may be a glob such as 'data/*.csv') in one
/// parallel pass, written as JSON and printed as a table (docs/data-validation.md).
/// Returns the exit status: 0 done, 1 an error in the data or files, 2 a usage error.
int run_stats(int argc, char** argv);

}  // namespace troupe::cli
