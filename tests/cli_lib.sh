# Shared by the end-to-end CLI tests (tests/*_cli_test.sh); sourced, not run.
# usage: source cli_lib.sh WORK_DIR
# Empties WORK_DIR and enters it, and defines the checks below; they count failures in
# $failures, which the test reports at its end.
rm -rf "$1" && mkdir -p "$1" || exit 1
cd "$1" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# run EXPECTED_STATUS NAME COMMAND...: runs it, output to NAME.out, checks the exit status.
run() {
  local want=$1 name=$2
  shift 2
  "$@" >"$name.out" 2>&1
  local got=$?
  if [[ $got -ne $want ]]; then
    fail "$name: exit status $got, expected $want"
    sed 's/^/    /' "$name.out"
  fi
}
# expect NAME REGEX: the output of NAME matches the (extended) regex.
expect() { grep -Eq -- "$2" "$1.out" || { fail "$1: output lacks /$2/"; sed 's/^/    /' "$1.out"; }; }
# exists PATH: the file or directory was made.
exists() { [[ -e "$1" ]] || fail "$1 was not made"; }
