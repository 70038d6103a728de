#pragma once

namespace troupe::cli {

/// `troupe ingest --data PATTERN [--data PATTERN ...] --out DIR [--span N]
/// [--split train=2,eval=1] [--max-error-fraction F] [--rows-per-batch N]`: CSV files (plain
/// or gzip; PATTERN may be a glob such as 'data/*.csv', quoted in the shell) into record
/// shards under DIR/Span-N/Split-<name>/ with DIR/Span-N/manifest.json (docs/ingestion.md).
/// Returns the exit status: 0 done, 1 an error in the data or files (the error budget
/// exceeded, an existing span, unreadable input), 2 a usage error.
int run_ingest(int argc, char** argv);

}  // namespace troupe::cli
