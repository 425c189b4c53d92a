//! Parsing request parameters (`specs/rpc.md` R-2): positional arrays only, every value
//! checked, and every failure an `invalid params` error naming the parameter and the problem.

use alloy_primitives::{Address, B256, Bytes, U256};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use shardnet_exec::query::CallRequest;

use super::error::RpcError;

/// A request's positional parameters.
#[derive(Debug)]
pub(crate) struct Args {
    method: &'static str,
    values: Vec<Value>,
}

impl Args {
    /// Reads `params` (absent, `null` or an array) for `method`, which takes at most `max`.
    pub(crate) fn new(
        method: &'static str,
        params: &jsonrpsee::types::Params<'_>,
        max: usize,
    ) -> Result<Self, RpcError> {
        let values = match params.as_str() {
            None => Vec::new(),
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Array(values)) => values,
                Ok(Value::Null) => Vec::new(),
                Ok(_) => {
                    return Err(RpcError::params(format!(
                        "{method} takes positional parameters (a JSON array)"
                    )));
                }
                Err(e) => return Err(RpcError::params(e.to_string())),
            },
        };
        // Trailing nulls are absent optional parameters (some clients send them).
        let used = values
            .iter()
            .rposition(|v| !v.is_null())
            .map_or(0, |i| i + 1);
        if used > max {
            return Err(RpcError::params(format!(
                "{method} takes at most {max} parameter(s), got {}",
                values.len()
            )));
        }
        Ok(Self { method, values })
    }

    /// Parameter `i` (`name` in messages), which must be present.
    pub(crate) fn req<T: DeserializeOwned>(&self, i: usize, name: &str) -> Result<T, RpcError> {
        self.opt(i, name)?.ok_or_else(|| {
            RpcError::params(format!(
                "{} needs parameter {} ({name})",
                self.method,
                i + 1
            ))
        })
    }

    /// Parameter `i` if present and not null.
    pub(crate) fn opt<T: DeserializeOwned>(
        &self,
        i: usize,
        name: &str,
    ) -> Result<Option<T>, RpcError> {
        match self.values.get(i) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| RpcError::params(format!("parameter {} ({name}): {e}", i + 1))),
        }
    }

    /// Parameter `i` as a block selector, `latest` if absent.
    pub(crate) fn block(&self, i: usize) -> Result<BlockTag, RpcError> {
        match self.values.get(i) {
            None | Some(Value::Null) => Ok(BlockTag::Latest),
            Some(v) => BlockTag::from_json(v)
                .map_err(|e| RpcError::params(format!("parameter {} (block): {e}", i + 1))),
        }
    }
}

/// Which block a request means (a block tag, a number, or an EIP-1898 hash selector).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockTag {
    /// `latest`, `safe`, `finalized`: the committed head (every committed block is final).
    Latest,
    /// `pending`: the committed head, plus the mempool for nonces.
    Pending,
    /// `earliest`: genesis.
    Earliest,
    /// A height.
    Number(u64),
    /// A block hash (EIP-1898 `{"blockHash": ...}`).
    Hash(B256),
}

impl BlockTag {
    fn from_json(v: &Value) -> Result<Self, String> {
        match v {
            Value::String(s) => Self::from_str(s),
            Value::Object(o) => {
                if let Some(h) = o.get("blockHash") {
                    let hash: B256 =
                        serde_json::from_value(h.clone()).map_err(|e| format!("blockHash: {e}"))?;
                    Ok(Self::Hash(hash))
                } else if let Some(Value::String(n)) = o.get("blockNumber") {
                    Self::from_str(n)
                } else {
                    Err("expected {\"blockHash\": ...} or {\"blockNumber\": ...}".into())
                }
            }
            other => Err(format!("expected a block number (hex) or tag, got {other}")),
        }
    }

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "latest" | "safe" | "finalized" => Ok(Self::Latest),
            "pending" => Ok(Self::Pending),
            "earliest" => Ok(Self::Earliest),
            _ => quantity(s).map(Self::Number).map_err(|e| {
                format!(
                    "{e}; a block is a hex number like \"0x1a\" or one of latest, pending, \
                     earliest, safe, finalized"
                )
            }),
        }
    }
}

/// A hex quantity (`0x` followed by 1–16 hex digits).
pub(crate) fn quantity(s: &str) -> Result<u64, String> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .ok_or_else(|| format!("{s:?} is not hex (no 0x prefix)"))?;
    if digits.is_empty() || digits.len() > 16 {
        return Err(format!("{s:?} is not a 64-bit hex quantity"));
    }
    u64::from_str_radix(digits, 16).map_err(|_| format!("{s:?} is not a hex quantity"))
}

/// A hex quantity parameter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Quantity(pub(crate) u64);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match &v {
            Value::String(s) => quantity(s).map(Self).map_err(serde::de::Error::custom),
            // Some clients send small counts (feeHistory's blockCount) as JSON numbers.
            Value::Number(n) => n
                .as_u64()
                .map(Self)
                .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a u64"))),
            other => Err(serde::de::Error::custom(format!(
                "expected a hex quantity, got {other}"
            ))),
        }
    }
}

/// `eth_call` / `eth_estimateGas` transaction object.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CallObject {
    from: Option<Address>,
    to: Option<Address>,
    gas: Option<U256>,
    gas_price: Option<U256>,
    max_fee_per_gas: Option<U256>,
    max_priority_fee_per_gas: Option<U256>,
    value: Option<U256>,
    data: Option<Bytes>,
    input: Option<Bytes>,
    nonce: Option<U256>,
    access_list: Option<Vec<AccessListItem>>,
}

/// One EIP-2930 access list entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccessListItem {
    /// Address.
    pub(crate) address: Address,
    /// Slots.
    pub(crate) storage_keys: Vec<B256>,
}

fn narrow<T: TryFrom<U256>>(v: Option<U256>, field: &str) -> Result<Option<T>, RpcError> {
    v.map(|v| T::try_from(v).map_err(|_| RpcError::params(format!("{field} {v} is too large"))))
        .transpose()
}

impl CallObject {
    /// The executor's request; rejects contradictory fields as geth does.
    pub(crate) fn into_request(self) -> Result<CallRequest, RpcError> {
        let input = match (self.input, self.data) {
            (Some(i), Some(d)) if i != d => {
                return Err(RpcError::params(
                    "both \"data\" and \"input\" are set and differ; use \"input\"",
                ));
            }
            (Some(i), _) => i,
            (None, Some(d)) => d,
            (None, None) => Bytes::new(),
        };
        if self.gas_price.is_some()
            && (self.max_fee_per_gas.is_some() || self.max_priority_fee_per_gas.is_some())
        {
            return Err(RpcError::params(
                "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified",
            ));
        }
        let req = CallRequest {
            from: self.from,
            to: self.to,
            gas: narrow(self.gas, "gas")?,
            gas_price: narrow(self.gas_price, "gasPrice")?,
            max_fee_per_gas: narrow(self.max_fee_per_gas, "maxFeePerGas")?,
            max_priority_fee_per_gas: narrow(
                self.max_priority_fee_per_gas,
                "maxPriorityFeePerGas",
            )?,
            value: self.value.unwrap_or_default(),
            input,
            nonce: narrow(self.nonce, "nonce")?,
            access_list: self
                .access_list
                .unwrap_or_default()
                .into_iter()
                .map(|i| alloy_eips::eip2930::AccessListItem {
                    address: i.address,
                    storage_keys: i.storage_keys,
                })
                .collect::<Vec<_>>()
                .into(),
        };
        if let (Some(max), Some(tip)) = (req.max_fee_per_gas, req.max_priority_fee_per_gas)
            && tip > max
        {
            return Err(RpcError::params(format!(
                "maxPriorityFeePerGas {tip} is above maxFeePerGas {max}"
            )));
        }
        Ok(req)
    }
}

/// One or many values (`address` and topic positions of a log filter).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany<T> {
    /// One.
    One(T),
    /// Any of these.
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub(crate) fn into_vec(self) -> Vec<T> {
        match self {
            Self::One(t) => vec![t],
            Self::Many(v) => v,
        }
    }
}

/// `eth_getLogs` filter object.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FilterObject {
    from_block: Option<Value>,
    to_block: Option<Value>,
    block_hash: Option<B256>,
    address: Option<OneOrMany<Address>>,
    topics: Option<Vec<Option<OneOrMany<B256>>>>,
}

/// A parsed log filter.
#[derive(Clone, Debug)]
pub(crate) struct LogFilter {
    /// Block range (inclusive) or a single block by hash.
    pub(crate) range: FilterRange,
    /// Emitting addresses (empty: any).
    pub(crate) addresses: Vec<Address>,
    /// Per topic position, the accepted values (empty: any).
    pub(crate) topics: Vec<Vec<B256>>,
}

/// Which blocks a log filter scans.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FilterRange {
    /// From–to, inclusive (tags resolved per shard).
    Range(BlockTag, BlockTag),
    /// One block.
    Hash(B256),
}

/// Most topic positions a log can have.
const MAX_TOPICS: usize = 4;

impl FilterObject {
    pub(crate) fn into_filter(self) -> Result<LogFilter, RpcError> {
        let tag = |v: Option<Value>, name: &str| match v {
            None | Some(Value::Null) => Ok(BlockTag::Latest),
            Some(v) => {
                BlockTag::from_json(&v).map_err(|e| RpcError::params(format!("{name}: {e}")))
            }
        };
        let range = match self.block_hash {
            Some(hash) => {
                if self.from_block.is_some() || self.to_block.is_some() {
                    return Err(RpcError::params(
                        "blockHash cannot be combined with fromBlock/toBlock",
                    ));
                }
                FilterRange::Hash(hash)
            }
            None => FilterRange::Range(
                tag(self.from_block, "fromBlock")?,
                tag(self.to_block, "toBlock")?,
            ),
        };
        let topics = self.topics.unwrap_or_default();
        if topics.len() > MAX_TOPICS {
            return Err(RpcError::params(format!(
                "{} topic positions given, a log has at most {MAX_TOPICS}",
                topics.len()
            )));
        }
        Ok(LogFilter {
            range,
            addresses: self.address.map(OneOrMany::into_vec).unwrap_or_default(),
            topics: topics
                .into_iter()
                .map(|t| t.map(OneOrMany::into_vec).unwrap_or_default())
                .collect(),
        })
    }
}

impl LogFilter {
    /// Whether a log of `address` with `topics` matches.
    pub(crate) fn matches(&self, address: &Address, topics: &[B256]) -> bool {
        (self.addresses.is_empty() || self.addresses.contains(address))
            && self.topics.iter().enumerate().all(|(i, accepted)| {
                accepted.is_empty() || topics.get(i).is_some_and(|t| accepted.contains(t))
            })
    }

    /// Whether a block with `bloom` may hold a matching log.
    pub(crate) fn may_match(&self, bloom: &alloy_primitives::Bloom) -> bool {
        use alloy_primitives::BloomInput;
        (self.addresses.is_empty()
            || self
                .addresses
                .iter()
                .any(|a| bloom.contains_input(BloomInput::Raw(a.as_slice()))))
            && self.topics.iter().all(|accepted| {
                accepted.is_empty()
                    || accepted
                        .iter()
                        .any(|t| bloom.contains_input(BloomInput::Raw(t.as_slice())))
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn block_tags_and_numbers() {
        let parse = |s: &str| BlockTag::from_json(&Value::String(s.into()));
        assert_eq!(parse("latest"), Ok(BlockTag::Latest));
        assert_eq!(parse("finalized"), Ok(BlockTag::Latest));
        assert_eq!(parse("0x1a"), Ok(BlockTag::Number(26)));
        assert!(parse("26").unwrap_err().contains("no 0x prefix"));
        assert!(parse("0x").is_err());
        assert!(parse("0x10000000000000000").is_err(), "over 64 bits");
        let hash = serde_json::json!({ "blockHash": B256::repeat_byte(1) });
        assert_eq!(
            BlockTag::from_json(&hash),
            Ok(BlockTag::Hash(B256::repeat_byte(1)))
        );
    }

    #[test]
    fn filters_match_by_address_and_topic_position() {
        let a = Address::repeat_byte(1);
        let (t1, t2) = (B256::repeat_byte(1), B256::repeat_byte(2));
        let filter: FilterObject = serde_json::from_value(serde_json::json!({
            "address": a, "topics": [null, [t1, t2]]
        }))
        .unwrap();
        let f = filter.into_filter().unwrap();
        assert!(f.matches(&a, &[t2, t1]));
        assert!(!f.matches(&a, &[t1, B256::ZERO]));
        assert!(!f.matches(&a, &[t1]), "no second topic");
        assert!(!f.matches(&Address::ZERO, &[t2, t1]));
    }
}
