#!/usr/bin/env bash
# The end-to-end test with a real client (e2e/): builds `shardnet`, installs the pinned Node
# packages (viem, solc) with `npm ci`, then starts a two-shard devnet and drives it with viem.
# Needs Rust, Node >= 20 and npm (registry access for the first `npm ci`).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "error: the e2e test needs Node >= 20 and npm on PATH" >&2
  exit 2
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
  echo "error: the e2e test needs Node >= 20 (found $(node --version))" >&2
  exit 2
fi

target="${CARGO_TARGET_DIR:-target}"
echo "== cargo build -p shardnet"
cargo build -p shardnet --locked
SHARDNET_BIN="$(cd "$target/debug" && pwd)/shardnet"
export SHARDNET_BIN

echo "== npm ci (e2e/)"
(cd e2e && npm ci --no-audit --no-fund)

echo "== e2e test (viem + solc against a 2-shard devnet)"
cd e2e
exec npm test
