#!/usr/bin/env bash
# Runs every fuzz target for RUNS executions (default 1,000,000) and prints one summary line
# per target: executions done, wall-clock seconds, exec/s, crashes, and the crash artifact if any.
#
#   fuzz/run-all.sh [RUNS]                      # AddressSanitizer (default)
#   SANITIZER=none fuzz/run-all.sh [RUNS]       # no sanitizer: faster, catches panics only
#
# The toolchain is stable (rust-toolchain.toml); cargo-fuzz needs nightly flags
# (-Zsanitizer, -Cpasses=sancov-module ...), so RUSTC_BOOTSTRAP=1 is exported here.
# Full logs: fuzz/target/run-all-logs/<target>.log. Exit status 1 if any target crashed.
set -uo pipefail

RUNS="${1:-1000000}"
SANITIZER="${SANITIZER:-address}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export RUSTC_BOOTSTRAP=1
LOGS="fuzz/target/run-all-logs"
mkdir -p "$LOGS"

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: cargo install cargo-fuzz --locked" >&2; exit 2; }

if [ ! -d fuzz/corpus ]; then
    echo "seeding fuzz/corpus ..."
    cargo run --quiet --release --manifest-path fuzz/Cargo.toml --example seed_corpus || exit 2
fi

FLAGS=(-O -a --sanitizer "$SANITIZER")
cargo fuzz build "${FLAGS[@]}" || exit 2

failed=0
summary=()
for target in $(cargo fuzz list); do
    log="$LOGS/$target.log"
    start=$(date +%s.%N)
    cargo fuzz run "${FLAGS[@]}" "$target" -- \
        -runs="$RUNS" -timeout=10 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    end=$(date +%s.%N)
    execs=$(grep -oP 'stat::number_of_executed_units:\s*\K[0-9]+' "$log" | tail -1)
    # Wall-clock seconds of `cargo fuzz run` (includes its no-op build check, ~0.3 s).
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    rate=$(awk -v n="${execs:-0}" -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "?" }')
    crashes=0
    artifact=""
    if [ "$rc" -ne 0 ]; then
        crashes=1
        failed=1
        artifact=$(grep -oP 'Test unit written to \K\S+' "$log" | tail -1)
        artifact="artifact=${artifact:-none} (see $log)"
    fi
    line=$(printf '%-28s execs=%-9s secs=%-5s exec/s=%-7s crashes=%s %s' \
        "$target" "${execs:-?}" "${secs:-?}" "${rate:-?}" "$crashes" "$artifact")
    echo "$line"
    summary+=("$line")
done

echo
echo "== fuzz summary: RUNS=$RUNS sanitizer=$SANITIZER $(date -u +%Y-%m-%dT%H:%MZ) =="
printf '%s\n' "${summary[@]}"
exit "$failed"
