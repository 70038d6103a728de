#!/usr/bin/env bash
# End-to-end test of troupe stats -> troupe schema infer -> troupe validate (issue 6).
# usage: validate_cli_test.sh TROUPE_BINARY credit_scoring.csv WORK_DIR
# Makes broken copies of the data set in WORK_DIR (emptied first) and checks what is
# reported and the exit codes: 0 clean, 1 anomalies, 2 usage or unreadable files.
set -uo pipefail
troupe=$(realpath "$1") data=$(realpath "$2") work=$3
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh" "$work"

run 0 stats "$troupe" stats --data "$data" --out clean.json
run 0 infer "$troupe" schema infer --stats clean.json --out schema.yaml
expect infer "schema of 14 features written to schema.yaml"
grep -q 'domain: \["bad", "good"\]' schema.yaml || fail "schema.yaml lacks Status' domain"

# The clean data against its own schema, and against itself as previous span and serving.
run 0 clean "$troupe" validate --stats clean.json --schema schema.yaml --previous clean.json \
  --serving clean.json --out clean_anomalies.json
expect clean "^no anomalies"
grep -q '"anomaly_count": 0' clean_anomalies.json || fail "clean_anomalies.json: count not 0"

# Two halves (rows i % 2 == 0 / 1) as spans: no drift, no skew.
awk 'NR == 1 || NR % 2 == 0' "$data" >even.csv
awk 'NR == 1 || NR % 2 == 1' "$data" >odd.csv
run 0 stats_even "$troupe" stats --data even.csv --out even.json
run 0 stats_odd "$troupe" stats --data odd.csv --out odd.json
run 0 halves "$troupe" validate --stats odd.json --schema schema.yaml --previous even.json \
  --serving even.json --out halves.json
expect halves "^no anomalies"

# A broken copy: a new category in Home, a string in Age, Debt dropped, a new column.
awk -F, '{
    if (NR > 1 && NR % 40 == 0) $3 = "castle"
    if (NR == 77) $5 = "unknown"
    out = ""
    for (i = 1; i <= NF; ++i) if (i != 12) out = out $i ","
    print out (NR == 1 ? "Branch" : "north") }' OFS=, "$data" >broken.csv
run 0 stats_broken "$troupe" stats --data broken.csv --out broken.json
run 1 broken "$troupe" validate --stats broken.json --schema schema.yaml --out broken_anomalies.json
expect broken "^4 anomalies:"
expect broken "Debt  SCHEMA_MISSING_COLUMN"
expect broken "Home  ENUM_TYPE_UNEXPECTED_STRING_VALUES .*example 'castle'"
expect broken "Age  UNEXPECTED_DATA_TYPE .*example 'unknown'"
expect broken "Branch  SCHEMA_NEW_COLUMN"
grep -q '"anomaly_count": 4' broken_anomalies.json || fail "broken_anomalies.json: count not 4"
grep -q '"type": "ENUM_TYPE_UNEXPECTED_STRING_VALUES"' broken_anomalies.json ||
  fail "broken_anomalies.json lacks ENUM_TYPE_UNEXPECTED_STRING_VALUES"

# Drift: Amount tripled in the current span.
awk -F, -v OFS=, 'NR > 1 { $13 = $13 * 3 } { print }' "$data" >shifted.csv
run 0 stats_shifted "$troupe" stats --data shifted.csv --out shifted.json
run 1 drift "$troupe" validate --stats shifted.json --schema schema.yaml --previous clean.json \
  --out drift.json
expect drift "Amount  COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH .*previous span"
run 1 skew "$troupe" validate --stats clean.json --schema schema.yaml --serving shifted.json \
  --out skew.json
expect skew "Amount  COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH .*serving"

# Usage errors and unreadable files: exit 2, naming what is wrong.
run 2 no_schema "$troupe" validate --stats clean.json --out x.json
expect no_schema "troupe validate: no --schema given"
run 2 unknown_opt "$troupe" validate --stats clean.json --schema schema.yaml --out x.json --frob
expect unknown_opt "unknown option '--frob'"
run 2 missing_schema "$troupe" validate --stats clean.json --schema nosuch.yaml --out x.json
expect missing_schema "nosuch.yaml: cannot open the schema file"
run 2 missing_stats "$troupe" validate --stats nosuch.json --schema schema.yaml --out x.json
expect missing_stats "--stats nosuch.json: cannot open the statistics file"
run 2 missing_prev "$troupe" validate --stats clean.json --schema schema.yaml --previous no.json \
  --out x.json
expect missing_prev "--previous no.json: cannot open"
sed 's/    presence:/    presense:/' schema.yaml >typo.yaml
run 2 typo "$troupe" validate --stats clean.json --schema typo.yaml --out x.json
expect typo "typo.yaml:7:5: unknown key 'presense'"
echo 'not json' >garbage.json
run 2 garbage "$troupe" validate --stats garbage.json --schema schema.yaml --out x.json
expect garbage "garbage.json"
run 2 infer_usage "$troupe" schema infer --out s.yaml
expect infer_usage "troupe schema: no --stats given"
run 2 infer_sub "$troupe" schema guess
expect infer_sub "unknown subcommand 'guess'"
run 1 infer_missing "$troupe" schema infer --stats nosuch.json --out s.yaml
expect infer_missing "nosuch.json: cannot open"

if [[ $failures -ne 0 ]]; then
  echo "validate_cli_test: $failures failures"
  exit 1
fi
echo "validate_cli_test: all checks passed"
