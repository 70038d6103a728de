#!/usr/bin/env bash
# End-to-end test of troupe ingest (issue 6) and troupe stats over the shards it writes.
# usage: ingest_cli_test.sh TROUPE_BINARY DATA_DIR WORK_DIR
# WORK_DIR is emptied first. Checks the files made and the exit codes: 0 done, 1 an error in
# the data or files (error budget, existing span, missing input), 2 usage errors.
set -uo pipefail
troupe=$1 data=$2 work=$3
source "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh" "$work"

# A glob expanded by the command; the default splits train=2,eval=1; the next free span.
run 0 first "$troupe" ingest --data "$data/letter*.csv" --out out
expect first "span 0: 20000 rows"
expect first "lettr:string x_box:int"
exists out/Span-0/manifest.json
exists out/Span-0/Split-train/data-00000-of-00001.trec
exists out/Span-0/Split-eval/data-00000-of-00001.trec
grep -q '"rows": 20000' out/Span-0/manifest.json || fail "manifest lacks the row count"
grep -q '"name": "lettr", "type": "string"' out/Span-0/manifest.json || fail "manifest lacks lettr's type"

# gzip input, a second span; the same rows give byte-identical shards.
gzip -c "$data/letter_recognition.csv" >letters.csv.gz
run 0 gzip "$troupe" ingest --data letters.csv.gz --out out
expect gzip "span 1: 20000 rows"
cmp -s out/Span-0/Split-eval/data-00000-of-00001.trec out/Span-1/Split-eval/data-00000-of-00001.trec ||
  fail "re-ingesting the same rows gave different shards"

# An existing span is never overwritten.
before=$(md5sum out/Span-0/manifest.json)
run 1 overwrite "$troupe" ingest --data "$data/credit_scoring.csv" --out out --span 0
expect overwrite "Span-0 already exists"
[[ "$(md5sum out/Span-0/manifest.json)" == "$before" ]] || fail "Span-0 was modified"

# Splits, batches, explicit span.
run 0 split "$troupe" ingest --data "$data/credit_scoring.csv" --out credit --span 5 \
  --split train=8,eval=1,test=1 --rows-per-batch 100
exists credit/Span-5/Split-test/data-00000-of-00001.trec
expect split "split train: [0-9]+ rows"

# The error budget: 2 malformed rows of 10.
printf 'a,b\n1,2\n3\n4,5\n"x"y,6\n7,8\n9,10\n11,12\n13,14\n15,16\n17,18\n' >bad.csv
run 1 budget "$troupe" ingest --data bad.csv --out bad
expect budget "2 malformed rows of 10 .*--max-error-fraction 0.*bad.csv:3: wrong number of fields"
[[ -z "$(ls -A bad 2>/dev/null)" ]] || fail "a failed ingest left files: $(ls -A bad)"
run 0 within "$troupe" ingest --data bad.csv --out bad --max-error-fraction 0.2
expect within "span 0: 8 rows .* 2 malformed"
expect within "malformed: bad.csv:5: bad quoting"

# Data errors: exit 1.
run 1 missing "$troupe" ingest --data no/such.csv --out x
expect missing "no/such.csv"

# Usage errors: exit 2.
run 2 no_out "$troupe" ingest --data bad.csv
expect no_out "no --out given"
run 2 no_data "$troupe" ingest --out x
run 2 bad_split "$troupe" ingest --data bad.csv --out x --split train=0
expect bad_split "--split"
run 2 bad_budget "$troupe" ingest --data bad.csv --out x --max-error-fraction 2
run 2 bad_batch "$troupe" ingest --data bad.csv --out x --rows-per-batch 0
run 2 bad_span "$troupe" ingest --data bad.csv --out x --span -1
run 2 unknown "$troupe" ingest --data bad.csv --out x --frobnicate

# troupe stats over a span, a split, a shard file.
run 0 stats_span "$troupe" stats --data out/Span-0 --out span.json --threads 2
expect stats_span "x_box.*int.*20000.*"
expect stats_span "statistics written to span.json"
run 0 stats_split "$troupe" stats --data out/Span-0/Split-eval --out eval.json
run 0 stats_file "$troupe" stats --data out/Span-0/Split-train/data-00000-of-00001.trec --out train.json
run 0 stats_slice "$troupe" stats --data credit/Span-5 --out credit.json --slice Status
run 2 stats_mixed "$troupe" stats --data out/Span-0 --data "$data/credit_scoring.csv" --out m.json
expect stats_mixed "mixes record shards and CSV"

if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "ingest CLI: all checks passed"
