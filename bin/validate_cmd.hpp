#pragma once

namespace troupe::cli {

/// `troupe validate --stats S --schema F [--previous P] [--serving Q] --out anomalies.json`:
/// checks statistics against a schema, for drift against the previous span's statistics and
/// for skew against serving statistics; writes anomalies.json and prints a summary
/// (docs/data-validation.md).
/// Returns the exit status: 0 no anomalies, 1 anomalies found, 2 a usage error or a file
/// that cannot be read, parsed or written (named in the message).
int run_validate(int argc, char** argv);

}  // namespace troupe::cli
