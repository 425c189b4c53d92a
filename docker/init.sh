#!/bin/sh
# One-shot set-up for compose.yaml: 2 shards x 4 validators. Writes, under $DATA (default
# /data, a volume):
# a key per validator, validators.toml, genesis.toml (with prefunded development accounts) and
# one node.toml per validator. Does nothing if the genesis already exists, so `docker compose
# up` after a stop resumes the same chain.
set -eu
cd "${DATA:-/data}"
if [ -f genesis.toml ]; then
  echo "genesis exists; resuming"
  exit 0
fi
: > validators.toml
i=0
for shard in 0 1; do
  for v in 0 1 2 3; do
    mkdir -p "v$i"
    key=$(shardnet keygen --out "v$i/validator.key" | awk '/^public key/ {print $3}')
    cat >> validators.toml <<TOML
[[validators]]
public_key = "$key"
stake = 10
address = "172.28.0.$((10 + i)):9000"
shard = $shard

TOML
    i=$((i + 1))
  done
done
shardnet genesis --validators validators.toml --shards 2 --out genesis.toml
i=0
while [ $i -lt 8 ]; do
  cat > "v$i/node.toml" <<TOML
key_file = "validator.key"
genesis_file = "../genesis.toml"
data_dir = "data"
rpc_addr = "0.0.0.0:8545"
metrics_addr = "0.0.0.0:9545"
TOML
  i=$((i + 1))
done
echo "wrote keys, genesis.toml and node.toml for 8 validators"
