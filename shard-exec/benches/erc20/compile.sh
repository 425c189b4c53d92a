#!/usr/bin/env bash
# Regenerates MiniToken.bin-runtime (the deployed bytecode, hex, no 0x) with solc-js 0.8.28:
#   bash shard-exec/benches/erc20/compile.sh
# Needs node and npm (solc-js is pure WebAssembly; nothing else is downloaded).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm install --silent solc@0.8.28 >/dev/null)
node -e '
const solc = require(process.argv[1] + "/node_modules/solc");
const fs = require("fs");
const input = {
  language: "Solidity",
  sources: { "MiniToken.sol": { content: fs.readFileSync(process.argv[2] + "/MiniToken.sol", "utf8") } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    outputSelection: { "*": { "MiniToken": ["evm.deployedBytecode.object"] } },
  },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
for (const e of out.errors || []) { if (e.severity === "error") { console.error(e.formattedMessage); process.exit(1); } }
fs.writeFileSync(process.argv[2] + "/MiniToken.bin-runtime",
  out.contracts["MiniToken.sol"].MiniToken.evm.deployedBytecode.object + "\n");
' "$tmp" "$here"
echo "wrote $here/MiniToken.bin-runtime"
