#!/usr/bin/env bash
# Recompiles contracts/src into contracts/build (committed, so Rust tests need no Node):
#   cd contracts && npm ci && ./build.sh
set -euo pipefail
cd "$(dirname "$0")"
rm -rf build && mkdir -p build
npx --no-install solcjs --bin --abi --optimize --base-path src --output-dir build src/Examples.sol
# solcjs names outputs after the source path; keep the contract names only.
for f in build/*; do
  mv "$f" "build/$(basename "$f" | sed -E 's/^.*_sol_//')"
done
ls build
