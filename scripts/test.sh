#!/usr/bin/env bash
# The test command (README): formatting, lints, the whole test suite and the doc tests.
# Needs only Rust (with cargo-nextest, which `.ci/run` installs if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${NEXTEST_PROFILE:-default}"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (-D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo nextest (profile $profile)"
cargo nextest run --workspace --locked --profile "$profile"

echo "== doc tests"
cargo test --workspace --doc --locked
