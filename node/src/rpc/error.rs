//! JSON-RPC errors (`specs/rpc.md` R-8): one variant per kind, each mapped to the code Ethereum
//! tools expect (geth's where EIP-1474 and geth differ), the message saying what was wrong.

use alloy_primitives::Bytes;
use jsonrpsee::types::ErrorObjectOwned;

/// -32602: the parameters do not parse or do not make sense.
pub const INVALID_PARAMS: i32 = -32602;
/// -32603: the node failed (storage, a stopped validator).
pub const INTERNAL: i32 = -32603;
/// -32000: the request is well-formed but cannot be served (geth's generic server error):
/// a refused transaction, an unavailable block or state, a call that cannot run.
pub const SERVER: i32 = -32000;
/// 3: execution reverted; `data` holds the revert data (geth, and what viem and ethers decode).
pub const REVERTED: i32 = 3;
/// -32005: a query asks for more than the node's limits allow (EIP-1474 "limit exceeded").
pub const LIMIT_EXCEEDED: i32 = -32005;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// Bad parameters: the message names the parameter and the problem.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// The mempool refused a transaction; its reason, verbatim.
    #[error("{0}")]
    Rejected(String),
    /// The request asks for something this node cannot serve (another node's shard,
    /// historical state, a future block).
    #[error("{0}")]
    Unavailable(String),
    /// A call or estimate cannot run (fee below the base fee, insufficient funds, a halt).
    #[error("{0}")]
    Execution(String),
    /// A call or estimate reverted.
    #[error("execution reverted")]
    Reverted(Bytes),
    /// A query over a limit.
    #[error("{0}")]
    Limit(String),
    /// The node failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl RpcError {
    /// Shorthand for [`RpcError::InvalidParams`].
    pub(crate) fn params(msg: impl Into<String>) -> Self {
        Self::InvalidParams(msg.into())
    }

    /// The JSON-RPC error code.
    pub fn code(&self) -> i32 {
        match self {
            Self::InvalidParams(_) => INVALID_PARAMS,
            Self::Rejected(_) | Self::Unavailable(_) | Self::Execution(_) => SERVER,
            Self::Reverted(_) => REVERTED,
            Self::Limit(_) => LIMIT_EXCEEDED,
            Self::Internal(_) => INTERNAL,
        }
    }
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(e: RpcError) -> Self {
        let code = e.code();
        match &e {
            RpcError::Reverted(data) => {
                let message = if data.is_empty() {
                    e.to_string()
                } else {
                    match revert_reason(data) {
                        Some(reason) => format!("execution reverted: {reason}"),
                        None => e.to_string(),
                    }
                };
                ErrorObjectOwned::owned(code, message, Some(data.to_string()))
            }
            _ => ErrorObjectOwned::owned(code, e.to_string(), None::<()>),
        }
    }
}

/// The string of a Solidity `Error(string)` revert, if `data` is one.
fn revert_reason(data: &[u8]) -> Option<String> {
    const ERROR_SELECTOR: [u8; 4] = [0x08, 0xc3, 0x79, 0xa0];
    let body = data.strip_prefix(&ERROR_SELECTOR)?;
    let len_word = body.get(32..64)?;
    let len = usize::try_from(alloy_primitives::U256::from_be_slice(len_word)).ok()?;
    let bytes = body.get(64..64usize.checked_add(len)?)?;
    String::from_utf8(bytes.to_vec()).ok()
}

impl From<crate::index::IndexError> for RpcError {
    fn from(e: crate::index::IndexError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<shardnet_exec::StoreError> for RpcError {
    fn from(e: shardnet_exec::StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<crate::ledger::LedgerError> for RpcError {
    fn from(e: crate::ledger::LedgerError) -> Self {
        Self::Internal(e.to_string())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn error_strings_are_decoded_from_revert_data() {
        // Error("no") as Solidity encodes it.
        let mut data = vec![0x08, 0xc3, 0x79, 0xa0];
        data.extend_from_slice(&[0u8; 31]);
        data.push(0x20);
        data.extend_from_slice(&[0u8; 31]);
        data.push(2);
        data.extend_from_slice(b"no");
        data.extend_from_slice(&[0u8; 30]);
        assert_eq!(revert_reason(&data).as_deref(), Some("no"));
        assert_eq!(revert_reason(&data[..40]), None, "truncated");
        assert_eq!(revert_reason(&[1, 2, 3]), None);
    }
}
