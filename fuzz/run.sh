#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 60), one after the other on one
# core, and prints the executions of each. Exits non-zero if any target crashed (a panic,
# a failed property, a timeout or out-of-memory): its input is in artifacts/<target>/.
#
#   bash fuzz/run.sh 20                      # the CI smoke run
#   bash fuzz/run.sh 600                     # ten minutes per target
#   FUZZ_TARGETS="route config" bash fuzz/run.sh 60
#   FUZZ_SANITIZER=address bash fuzz/run.sh 60        # with AddressSanitizer (3-6x slower)
#
# cargo fuzz passes nightly-only flags to rustc (-Zsanitizer=…); RUSTC_BOOTSTRAP=1 lets the
# stable compiler accept them, so no nightly toolchain is needed.
set -euo pipefail

secs=${1:-60}
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# usher forbids unsafe code and the targets check logic properties, so by default no
# sanitizer: 3-6x the executions, and a faster build.
flags=(-s "${FUZZ_SANITIZER:-none}")
targets=${FUZZ_TARGETS:-$(cargo fuzz list)}

start=$SECONDS
echo "== building the fuzz targets"
cargo fuzz build "${flags[@]}"
echo "== built in $((SECONDS - start)) s"

dict_for() {
  case $1 in
    config) echo "-dict=dict/config.dict" ;;
    cookies | path_normalize | route | page_query) echo "-dict=dict/path.dict" ;;
  esac
}

failed=()
total=0
for t in $targets; do
  mkdir -p "generated/$t"
  log="generated/$t.log"
  dict=$(dict_for "$t")
  # New inputs go to generated/<t> (not tracked); corpus/<t> holds the seeds.
  if cargo fuzz run "${flags[@]}" "$t" "generated/$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -print_final_stats=1 $dict >"$log" 2>&1; then
    status=ok
  else
    status=CRASH
    failed+=("$t")
  fi
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  execs=${execs:-$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -1)}
  execs=${execs:-0}
  total=$((total + execs))
  printf '%-18s %-6s %12s executions in %ss\n' "$t" "$status" "$execs" "$secs"
  if [ "$status" = CRASH ]; then
    grep -m1 -A4 -E "panicked at|ERROR: libFuzzer|SUMMARY" "$log" | sed 's/^/    /' || true
    grep -m1 -E "Test unit written to" "$log" | sed 's/^/    /' || true
    echo "    full log: fuzz/$log"
  fi
done

echo "== $total executions in $((SECONDS - start)) s (build included)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "== crashed: ${failed[*]} (reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s none TARGET artifacts/TARGET/crash-…)"
  exit 1
fi
