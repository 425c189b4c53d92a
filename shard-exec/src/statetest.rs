//! The external oracle: runs ethereum/tests `GeneralStateTests` through Shardnet's own
//! pipeline — the signed `txbytes` → our decoder → sender recovery → our executor on our
//! store → our state root — and compares with each case's expected post-state `hash` and
//! logs hash (`specs/execution.md` X-9).

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use serde_json::Value;

use crate::evm::{ExecEnv, Fork, execute};
use crate::state_root::{state_root, storage_root};
use crate::store::{AccountRecord, ChangeSet, MemoryStore, StateStore, hash_address, hash_slot};
use crate::tx::RecoveredTx;

/// Name prefixes of the EIP-7610 storage-collision cases that every revm-based runner skips.
pub const SKIPPED_PREFIXES: &[&str] = &[
    "create2collisionStorage",
    "InitCollision",
    "RevertInCreateInInit",
    "dynamicAccountOverwriteEmpty",
];

/// One failing case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// File the case came from.
    pub file: PathBuf,
    /// Test name, fork and post index.
    pub case: String,
    /// What differed.
    pub reason: String,
}

/// Totals of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Cases whose root and logs matched.
    pub passed: u64,
    /// Cases skipped by [`SKIPPED_PREFIXES`].
    pub skipped: u64,
    /// Failing cases.
    pub failures: Vec<Failure>,
}

/// Why a fixture could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The file could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not a state test.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Every `.json` file below `dir`, sorted.
pub fn fixture_files(dir: &Path) -> Result<Vec<PathBuf>, FixtureError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|error| FixtureError::Io {
            path: d.clone(),
            error,
        })?;
        for e in entries {
            let path = e
                .map_err(|error| FixtureError::Io {
                    path: d.clone(),
                    error,
                })?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Runs every case of every file, adding to `summary`.
pub fn run_file(path: &Path, summary: &mut Summary) -> Result<(), FixtureError> {
    let fmt = |reason: String| FixtureError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|error| FixtureError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let json: Value = serde_json::from_str(&text).map_err(|e| fmt(e.to_string()))?;
    let tests = json
        .as_object()
        .ok_or_else(|| fmt("top level is not an object".into()))?;
    for (name, test) in tests {
        if SKIPPED_PREFIXES.iter().any(|p| name.starts_with(p)) {
            let n = test["post"].as_object().map_or(0, |p| {
                p.values()
                    .filter_map(Value::as_array)
                    .map(Vec::len)
                    .sum::<usize>()
            });
            summary.skipped += n as u64;
            continue;
        }
        let pre = pre_state(&test["pre"]).map_err(|e| fmt(format!("{name}: pre: {e}")))?;
        let env = exec_env(&test["env"]).map_err(|e| fmt(format!("{name}: env: {e}")))?;
        let Some(posts) = test["post"].as_object() else {
            return Err(fmt(format!("{name}: no post")));
        };
        for (fork_name, cases) in posts {
            let fork = match fork_name.as_str() {
                "Cancun" => Fork::Cancun,
                "Prague" => Fork::Prague,
                _ => continue,
            };
            for (i, case) in cases.as_array().into_iter().flatten().enumerate() {
                let label = format!("{name} {fork_name}[{i}]");
                match run_case(
                    &pre,
                    &ExecEnv {
                        fork,
                        ..env.clone()
                    },
                    case,
                ) {
                    Ok(()) => summary.passed += 1,
                    Err(reason) => summary.failures.push(Failure {
                        file: path.to_path_buf(),
                        case: label,
                        reason,
                    }),
                }
            }
        }
    }
    Ok(())
}

fn run_case(pre: &MemoryStore, env: &ExecEnv, case: &Value) -> Result<(), String> {
    let expected_root = b256(&case["hash"])?;
    let expected_logs = b256(&case["logs"])?;
    let tx_bytes = bytes(&case["txbytes"])?;
    let hashes = |n: u64| keccak256(n.to_string().as_bytes());
    let (root, logs_hash) = match RecoveredTx::decode(&tx_bytes)
        .and_then(|tx| tx.check_chain(env.chain_id).map(|()| tx))
    {
        Err(_) => (
            state_root(pre).map_err(|e| e.to_string())?,
            keccak256(alloy_rlp::encode(Vec::<alloy_primitives::Log>::new())),
        ),
        Ok(tx) => {
            let out =
                execute(pre, env, &hashes, std::slice::from_ref(&tx)).map_err(|e| e.to_string())?;
            let logs: Vec<_> = out.txs.iter().flat_map(|t| t.logs.clone()).collect();
            (out.state_root, keccak256(alloy_rlp::encode(&logs)))
        }
    };
    if root != expected_root {
        return Err(format!("state root {root} != expected {expected_root}"));
    }
    if logs_hash != expected_logs {
        return Err(format!("logs hash {logs_hash} != expected {expected_logs}"));
    }
    Ok(())
}

fn pre_state(pre: &Value) -> Result<MemoryStore, String> {
    let mut changes = ChangeSet::default();
    for (addr, acc) in pre.as_object().ok_or("not an object")? {
        let address: Address = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
        let hashed = hash_address(&address);
        let code = bytes(&acc["code"])?;
        let code_hash = keccak256(&code);
        if !code.is_empty() {
            changes.code.insert(code_hash, code.clone());
        }
        let mut slots = Vec::new();
        for (k, v) in acc["storage"].as_object().into_iter().flatten() {
            let (k, v) = (u256(&Value::String(k.clone()))?, u256(v)?);
            if !v.is_zero() {
                let hs = hash_slot(&k);
                changes.storage.insert((hashed, hs), v);
                slots.push((hs, v));
            }
        }
        slots.sort();
        changes.accounts.insert(
            hashed,
            Some(AccountRecord {
                address,
                nonce: u256(&acc["nonce"])?.to::<u64>(),
                balance: u256(&acc["balance"])?,
                code_hash: if code.is_empty() {
                    alloy_trie::KECCAK_EMPTY
                } else {
                    code_hash
                },
                storage_root: storage_root(&slots),
            }),
        );
    }
    let mut store = MemoryStore::new();
    store.apply(&changes).map_err(|e| e.to_string())?;
    Ok(store)
}

fn exec_env(env: &Value) -> Result<ExecEnv, String> {
    Ok(ExecEnv {
        fork: Fork::Cancun,
        chain_id: 1,
        number: u256(&env["currentNumber"])?.to::<u64>(),
        timestamp: u256(&env["currentTimestamp"])?.to::<u64>(),
        beneficiary: env["currentCoinbase"]
            .as_str()
            .ok_or("currentCoinbase")?
            .parse()
            .map_err(|e| format!("coinbase: {e}"))?,
        gas_limit: u256(&env["currentGasLimit"])?.saturating_to::<u64>(),
        base_fee: u256(&env["currentBaseFee"])?.to::<u64>(),
        prevrandao: match env.get("currentRandom") {
            Some(v) => b256(v)?,
            None => B256::from(u256(&env["currentDifficulty"])?),
        },
        difficulty: u256(&env["currentDifficulty"])?,
        excess_blob_gas: match env.get("currentExcessBlobGas") {
            Some(v) => u256(v)?.to::<u64>(),
            None => 0,
        },
    })
}

fn u256(v: &Value) -> Result<U256, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("expected a hex string, got {v}"))?;
    let digits = s.strip_prefix("0x").unwrap_or(s);
    if digits.is_empty() {
        return Ok(U256::ZERO);
    }
    U256::from_str_radix(digits, 16).map_err(|e| format!("{s}: {e}"))
}

fn b256(v: &Value) -> Result<B256, String> {
    v.as_str()
        .ok_or("expected a hash")?
        .parse()
        .map_err(|e| format!("{v}: {e}"))
}

fn bytes(v: &Value) -> Result<Bytes, String> {
    let s = v.as_str().ok_or("expected hex bytes")?;
    s.parse().map_err(|e| format!("{s}: {e}"))
}
