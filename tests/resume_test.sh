#!/usr/bin/env bash
# A training run interrupted and resumed from its checkpoint ends bit-identical to an
# uninterrupted one (deterministic single-thread mode).
# Usage: tests/resume_test.sh path/to/train_letters path/to/letter_recognition.csv
set -euo pipefail
bin=$1
data=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
common=(--data "$data" --epochs 2 --threads 1 --checkpoint-every 100 --digest)

"$bin" "${common[@]}" --checkpoint-dir "$work/straight" > "$work/straight.log"
"$bin" "${common[@]}" --checkpoint-dir "$work/resumed" --stop-after 250 > "$work/first.log"
grep -q "stopped at step 250" "$work/first.log" || { echo "the first half did not stop at 250"; cat "$work/first.log"; exit 1; }
"$bin" "${common[@]}" --checkpoint-dir "$work/resumed" > "$work/second.log"
grep -q "restored checkpoint of step 250" "$work/second.log" || { echo "the second half did not restore step 250"; cat "$work/second.log"; exit 1; }

a=$(grep -E "^(digest|test accuracy)" "$work/straight.log")
b=$(grep -E "^(digest|test accuracy)" "$work/second.log")
echo "uninterrupted: $a"
echo "resumed:       $b"
if [[ -z "$a" || "$a" != "$b" ]]; then
  echo "FAIL: the resumed run differs from the uninterrupted one"
  exit 1
fi
echo "PASS: bit-identical after resuming from the checkpoint of step 250"
