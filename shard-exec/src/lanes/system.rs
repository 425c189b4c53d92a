//! The `CROSS_SHARD` system contract's interface and state layout (CS-5, CS-2), without the
//! EVM: its ABI (calls, events, the callback), the storage slots that hold lane state, and
//! turning its events back into outbound messages. The precompile itself lives in the `evm`
//! module, the only one that touches revm.
//!
//! The Solidity side is `contracts/ICrossShard.sol`; the selectors and event topics here are
//! checked against it by the tests.

use alloy_primitives::{Address, B256, Bytes, Log, U256, address, keccak256};
use shardnet_protocol::limits::MAX_CROSS_SHARD_MESSAGE_BYTES;
use shardnet_protocol::{
    BoundedBytes, Callback, Hash32, Height, LaneClass, LaneId, MessageBody, Origin, Outcome,
    ShardId, ShardMap,
};

use super::outbox::Emission;

/// CS-5: the system contract, a system address present on every shard.
pub const CROSS_SHARD: Address = address!("000000000000000000000000000000000000c5c5");

/// Gas the precompile charges for a send, on top of 8 gas per calldata byte carried.
pub const SEND_GAS: u64 = 25_000;

/// `transfer(address)`.
pub const TRANSFER_SELECTOR: [u8; 4] = [0x1a, 0x69, 0x52, 0x30];
/// `call(address,bytes,uint64,uint64,uint64)`.
pub const CALL_SELECTOR: [u8; 4] = [0xd8, 0x75, 0xc2, 0xf7];
/// `onResponse(bytes32,uint8,bytes)` of `ICrossShardCallback`.
pub const ON_RESPONSE_SELECTOR: [u8; 4] = [0xc7, 0x3e, 0x0d, 0x17];

/// `keccak256("TransferSent(address,address,uint256)")`.
pub fn transfer_sent_topic() -> B256 {
    keccak256("TransferSent(address,address,uint256)")
}

/// `keccak256("CallSent(bytes32,address,address,uint256,uint64,uint64,uint64,uint256,bytes)")`.
pub fn call_sent_topic() -> B256 {
    keccak256("CallSent(bytes32,address,address,uint256,uint64,uint64,uint64,uint256,bytes)")
}

/// `keccak256("CreateSent(bytes32,address,address,uint256,uint64,uint64,uint256,bytes)")`.
pub fn create_sent_topic() -> B256 {
    keccak256("CreateSent(bytes32,address,address,uint256,uint64,uint64,uint256,bytes)")
}

/// `keccak256("Create2Sent(bytes32,address,address,uint256,uint64,uint64,uint256,bytes32,bytes)")`:
/// `CreateSent` of a CREATE2, with its salt.
pub fn create2_sent_topic() -> B256 {
    keccak256("Create2Sent(bytes32,address,address,uint256,uint64,uint64,uint256,bytes32,bytes)")
}

/// The 4-byte selector of a Solidity function signature.
pub fn selector(signature: &str) -> [u8; 4] {
    let h = keccak256(signature);
    [h[0], h[1], h[2], h[3]]
}

/// Why the precompile refused a send: the sending frame reverts with `Error(string)`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Not a known function or malformed arguments.
    #[error("CROSS_SHARD: malformed call: {0}")]
    Malformed(&'static str),
    /// DELEGATECALL, CALLCODE or STATICCALL.
    #[error("CROSS_SHARD: must be called with CALL")]
    NotCall,
    /// The destination is this shard (or a system address).
    #[error("CROSS_SHARD: {0} is not on another shard")]
    Local(Address),
    /// A transfer of nothing.
    #[error("CROSS_SHARD: transfer of zero value")]
    ZeroValue,
    /// More gas than a destination block can ever give a request (CS-9).
    #[error("CROSS_SHARD: gas limit {0} exceeds the destination's request budget {1}")]
    GasTooHigh(u64, u64),
    /// Less gas than a call's intrinsic cost.
    #[error("CROSS_SHARD: gas limit {0} is below 21000")]
    GasTooLow(u64),
    /// The sender cannot prepay the gas.
    #[error("CROSS_SHARD: insufficient balance to prepay {0} wei of gas")]
    Prepay(U256),
    /// Calldata longer than a message may carry.
    #[error("CROSS_SHARD: calldata of {0} bytes exceeds the limit")]
    TooLong(usize),
    /// A synchronous call into another shard's state (CS-6 inside the EVM).
    #[error(
        "cross-shard: {0} lives on shard {1}; calls to it are asynchronous (use CROSS_SHARD.call)"
    )]
    Synchronous(Address, u16),
    /// The lane has used its credits (CS-15).
    #[error("CROSS_SHARD: lane to shard {0} is full ({1} messages not yet certified delivered)")]
    LaneFull(u16, u64),
}

impl SendError {
    /// ABI-encoded `Error(string)` revert data, which every Ethereum tool decodes.
    pub fn revert_data(&self) -> Bytes {
        error_string(&self.to_string())
    }
}

/// `Error(string)` revert data.
pub fn error_string(message: &str) -> Bytes {
    let mut out = vec![0x08, 0xc3, 0x79, 0xa0];
    out.extend_from_slice(&word_u64(32));
    out.extend_from_slice(&encode_bytes(message.as_bytes()));
    out.into()
}

/// A decoded call of the precompile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendRequest {
    /// `transfer(to)`: `msg.value` to `to`.
    Transfer {
        /// Recipient on another shard.
        to: Address,
    },
    /// `call(to, data, gasLimit, callbackGas, deadline)`.
    Call {
        /// Callee on another shard.
        to: Address,
        /// Its input.
        data: Bytes,
        /// Gas for the destination call (intrinsic included).
        gas_limit: u64,
        /// Gas for the callback on this shard, 0 for none.
        callback_gas: u64,
        /// Last destination height at which the call may run, 0 for none.
        deadline: u64,
    },
}

fn word(input: &[u8], i: usize) -> Result<&[u8], SendError> {
    input
        .get(i * 32..i * 32 + 32)
        .ok_or(SendError::Malformed("arguments too short"))
}

fn word_address(input: &[u8], i: usize) -> Result<Address, SendError> {
    let w = word(input, i)?;
    if w[..12].iter().any(|b| *b != 0) {
        return Err(SendError::Malformed("address has high bits set"));
    }
    Ok(Address::from_slice(&w[12..]))
}

fn word_u64_at(input: &[u8], i: usize) -> Result<u64, SendError> {
    let w = word(input, i)?;
    if w[..24].iter().any(|b| *b != 0) {
        return Err(SendError::Malformed("uint64 out of range"));
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&w[24..]);
    Ok(u64::from_be_bytes(b))
}

/// Reads the dynamic `bytes` whose head is word `i` of `args`.
fn word_bytes(args: &[u8], i: usize) -> Result<Bytes, SendError> {
    let offset =
        usize::try_from(word_u64_at(args, i)?).map_err(|_| SendError::Malformed("bytes offset"))?;
    let tail = args
        .get(offset..)
        .ok_or(SendError::Malformed("bytes offset out of range"))?;
    let len =
        usize::try_from(word_u64_at(tail, 0)?).map_err(|_| SendError::Malformed("bytes length"))?;
    if len > MAX_CROSS_SHARD_MESSAGE_BYTES {
        return Err(SendError::TooLong(len));
    }
    let data = tail
        .get(32..32 + len)
        .ok_or(SendError::Malformed("bytes shorter than their length"))?;
    Ok(Bytes::copy_from_slice(data))
}

impl SendRequest {
    /// Decodes the precompile's input.
    pub fn decode(input: &[u8]) -> Result<Self, SendError> {
        let (sel, args) = input
            .split_at_checked(4)
            .ok_or(SendError::Malformed("no selector"))?;
        match <[u8; 4]>::try_from(sel) {
            Ok(TRANSFER_SELECTOR) => Ok(Self::Transfer {
                to: word_address(args, 0)?,
            }),
            Ok(CALL_SELECTOR) => Ok(Self::Call {
                to: word_address(args, 0)?,
                data: word_bytes(args, 1)?,
                gas_limit: word_u64_at(args, 2)?,
                callback_gas: word_u64_at(args, 3)?,
                deadline: word_u64_at(args, 4)?,
            }),
            _ => Err(SendError::Malformed("unknown function")),
        }
    }

    /// ABI-encodes the call (what a contract's `CROSS_SHARD.call(...)` sends).
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::new();
        match self {
            Self::Transfer { to } => {
                out.extend_from_slice(&TRANSFER_SELECTOR);
                out.extend_from_slice(&word_addr(to));
            }
            Self::Call {
                to,
                data,
                gas_limit,
                callback_gas,
                deadline,
            } => {
                out.extend_from_slice(&CALL_SELECTOR);
                out.extend_from_slice(&word_addr(to));
                out.extend_from_slice(&word_u64(5 * 32));
                out.extend_from_slice(&word_u64(*gas_limit));
                out.extend_from_slice(&word_u64(*callback_gas));
                out.extend_from_slice(&word_u64(*deadline));
                out.extend_from_slice(&encode_bytes(data));
            }
        }
        out.into()
    }
}

fn word_u64(v: u64) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[24..].copy_from_slice(&v.to_be_bytes());
    w
}

fn word_addr(a: &Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a.as_slice());
    w
}

/// Length word, then the bytes padded to a multiple of 32.
fn encode_bytes(data: &[u8]) -> Vec<u8> {
    let mut out = word_u64(data.len() as u64).to_vec();
    out.extend_from_slice(data);
    out.resize(32 + data.len().div_ceil(32) * 32, 0);
    out
}

/// A call the precompile accepted, as its `CallSent` event records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallSent {
    /// CS-4.
    pub call_id: B256,
    /// `msg.sender` of the send.
    pub from: Address,
    /// Callee.
    pub to: Address,
    /// Value delivered to the callee.
    pub value: U256,
    /// Destination gas.
    pub gas_limit: u64,
    /// Callback gas, 0 for none.
    pub callback_gas: u64,
    /// Deadline height, 0 for none.
    pub deadline: u64,
    /// Prepaid gas price.
    pub gas_price: U256,
    /// Input.
    pub data: Bytes,
}

/// A deployment to an address homed on another shard, as `CreateSent` (CREATE) or
/// `Create2Sent` (CREATE2) records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateSent {
    /// CS-4.
    pub call_id: B256,
    /// The deployer.
    pub from: Address,
    /// `create(from, nonce)`, or `create2(from, salt, keccak256(initcode))`.
    pub address: Address,
    /// Endowment.
    pub value: U256,
    /// Destination gas.
    pub gas_limit: u64,
    /// The deployer's nonce when it created (gives `address` for CREATE).
    pub nonce: u64,
    /// Prepaid gas price.
    pub gas_price: U256,
    /// The CREATE2 salt, `None` for CREATE.
    pub salt: Option<B256>,
    /// Init code.
    pub initcode: Bytes,
}

/// The `CreateSent` event log, or `Create2Sent` (the salt before the init code) for CREATE2.
pub fn create_sent_log(c: &CreateSent) -> Log {
    let mut data = Vec::with_capacity(7 * 32 + 32 + c.initcode.len());
    data.extend_from_slice(&c.value.to_be_bytes::<32>());
    data.extend_from_slice(&word_u64(c.gas_limit));
    data.extend_from_slice(&word_u64(c.nonce));
    data.extend_from_slice(&c.gas_price.to_be_bytes::<32>());
    let topic = match c.salt {
        None => {
            data.extend_from_slice(&word_u64(5 * 32));
            create_sent_topic()
        }
        Some(salt) => {
            data.extend_from_slice(salt.as_slice());
            data.extend_from_slice(&word_u64(6 * 32));
            create2_sent_topic()
        }
    };
    data.extend_from_slice(&encode_bytes(&c.initcode));
    Log::new_unchecked(
        CROSS_SHARD,
        vec![topic, c.call_id, c.from.into_word(), c.address.into_word()],
        data.into(),
    )
}

fn decode_create_sent(topics: &[B256], data: &[u8]) -> Option<CreateSent> {
    let salted = topics[0] == create2_sent_topic();
    let salt = if salted {
        Some(B256::from_slice(word(data, 4).ok()?))
    } else {
        None
    };
    Some(CreateSent {
        call_id: topics[1],
        from: Address::from_word(topics[2]),
        address: Address::from_word(topics[3]),
        value: U256::from_be_slice(word(data, 0).ok()?),
        gas_limit: word_u64_at(data, 1).ok()?,
        nonce: word_u64_at(data, 2).ok()?,
        gas_price: U256::from_be_slice(word(data, 3).ok()?),
        salt,
        initcode: word_bytes(data, if salted { 5 } else { 4 }).ok()?,
    })
}

/// The `TransferSent` event log.
pub fn transfer_sent_log(from: Address, to: Address, value: U256) -> Log {
    Log::new_unchecked(
        CROSS_SHARD,
        vec![transfer_sent_topic(), from.into_word(), to.into_word()],
        value.to_be_bytes::<32>().to_vec().into(),
    )
}

/// The `CallSent` event log.
pub fn call_sent_log(c: &CallSent) -> Log {
    let mut data = Vec::with_capacity(7 * 32 + 32 + c.data.len());
    data.extend_from_slice(&c.value.to_be_bytes::<32>());
    data.extend_from_slice(&word_u64(c.gas_limit));
    data.extend_from_slice(&word_u64(c.callback_gas));
    data.extend_from_slice(&word_u64(c.deadline));
    data.extend_from_slice(&c.gas_price.to_be_bytes::<32>());
    data.extend_from_slice(&word_u64(6 * 32));
    data.extend_from_slice(&encode_bytes(&c.data));
    Log::new_unchecked(
        CROSS_SHARD,
        vec![
            call_sent_topic(),
            c.call_id,
            c.from.into_word(),
            c.to.into_word(),
        ],
        data.into(),
    )
}

/// CS-5: turns the `CROSS_SHARD` events among `logs` (those of a successful execution) into
/// the messages they send, in order. Logs of other contracts are ignored; a malformed event
/// cannot occur (only the precompile emits from `CROSS_SHARD`) and is skipped.
pub fn emissions(logs: &[Log], shard_map: &ShardMap, origin: Origin) -> Vec<Emission> {
    let mut out = Vec::new();
    for log in logs.iter().filter(|l| l.address == CROSS_SHARD) {
        let topics = log.topics();
        let data = &log.data.data;
        let addr = |t: &B256| Address::from_word(*t);
        if topics.len() == 3 && topics[0] == transfer_sent_topic() && data.len() == 32 {
            let to = addr(&topics[2]);
            out.push(Emission {
                destination: shard_map.home(&to),
                origin,
                body: MessageBody::Transfer {
                    from: addr(&topics[1]),
                    to,
                    value: U256::from_be_slice(data),
                },
            });
        } else if topics.len() == 4
            && (topics[0] == create_sent_topic() || topics[0] == create2_sent_topic())
        {
            let Some(c) = decode_create_sent(topics, data) else {
                continue;
            };
            let Ok(initcode) = BoundedBytes::try_from_vec(c.initcode.to_vec()) else {
                continue;
            };
            out.push(Emission {
                destination: shard_map.home(&c.address),
                origin,
                body: MessageBody::Create {
                    call_id: Hash32(c.call_id.0),
                    from: c.from,
                    address: c.address,
                    nonce: c.nonce,
                    salt: c.salt,
                    initcode,
                    value: c.value,
                    gas_limit: c.gas_limit,
                    gas_price: c.gas_price,
                },
            });
        } else if topics.len() == 4 && topics[0] == call_sent_topic() {
            let Some(c) = decode_call_sent(topics, data) else {
                continue;
            };
            let Ok(calldata) = BoundedBytes::try_from_vec(c.data.to_vec()) else {
                continue;
            };
            out.push(Emission {
                destination: shard_map.home(&c.to),
                origin,
                body: MessageBody::Call {
                    call_id: Hash32(c.call_id.0),
                    from: c.from,
                    to: c.to,
                    calldata,
                    value: c.value,
                    gas_limit: c.gas_limit,
                    gas_price: c.gas_price,
                    callback: (c.callback_gas > 0).then_some(Callback {
                        gas_limit: c.callback_gas,
                    }),
                    deadline: (c.deadline > 0).then_some(Height(c.deadline)),
                },
            });
        }
    }
    out
}

fn decode_call_sent(topics: &[B256], data: &[u8]) -> Option<CallSent> {
    let u = |i| word_u64_at(data, i).ok();
    Some(CallSent {
        call_id: topics[1],
        from: Address::from_word(topics[2]),
        to: Address::from_word(topics[3]),
        value: U256::from_be_slice(word(data, 0).ok()?),
        gas_limit: u(1)?,
        callback_gas: u(2)?,
        deadline: u(3)?,
        gas_price: U256::from_be_slice(word(data, 4).ok()?),
        data: word_bytes(data, 5).ok()?,
    })
}

/// CS-4: `call_id = keccak(source shard ‖ call counter)`; the counter lives in
/// `CROSS_SHARD`'s storage, so ids never repeat on a shard.
pub fn call_id(shard: ShardId, counter: u64) -> B256 {
    let mut b = [0u8; 10];
    b[..2].copy_from_slice(&shard.0.to_be_bytes());
    b[2..].copy_from_slice(&counter.to_be_bytes());
    keccak256(b)
}

/// The outcome code passed to `onResponse`: 0 ok, 1 revert, 2 out of gas, 3 timed out,
/// 4 rejected.
pub fn outcome_code(o: &Outcome) -> u8 {
    match o {
        Outcome::Ok(_) => 0,
        Outcome::Revert(_) => 1,
        Outcome::OutOfGas => 2,
        Outcome::TimedOut => 3,
        Outcome::Rejected(_) => 4,
    }
}

/// `onResponse(callId, outcome, data)` calldata for a callback (CS-13).
pub fn on_response_calldata(call_id: &Hash32, outcome: &Outcome) -> Bytes {
    let data: &[u8] = match outcome {
        Outcome::Ok(d) | Outcome::Revert(d) => d,
        Outcome::Rejected(r) => r,
        Outcome::OutOfGas | Outcome::TimedOut => &[],
    };
    let mut out = ON_RESPONSE_SELECTOR.to_vec();
    out.extend_from_slice(&call_id.0);
    out.extend_from_slice(&word_u64(u64::from(outcome_code(outcome))));
    out.extend_from_slice(&word_u64(3 * 32));
    out.extend_from_slice(&encode_bytes(data));
    out.into()
}

/// Storage slots of `CROSS_SHARD` (CS-2): lane state, the call counter, open calls and the
/// running total of burnt fees. Each slot is a keccak of a tag and its key, so they cannot
/// collide.
pub mod slots {
    use super::*;

    fn lane_bytes(lane: &LaneId) -> [u8; 5] {
        let s = lane.source.0.to_be_bytes();
        let d = lane.destination.0.to_be_bytes();
        let c = match lane.class {
            LaneClass::Request => 0,
            LaneClass::Response => 1,
        };
        [s[0], s[1], d[0], d[1], c]
    }

    fn tagged(tag: &[u8], key: &[u8]) -> U256 {
        let mut b = tag.to_vec();
        b.extend_from_slice(key);
        U256::from_be_bytes(keccak256(&b).0)
    }

    /// Outbound lane: the last sequence emitted.
    pub fn outbound(lane: &LaneId) -> U256 {
        tagged(b"shardnet.lane.out", &lane_bytes(lane))
    }

    /// Inbound lane: the highest sequence executed.
    pub fn inbound(lane: &LaneId) -> U256 {
        tagged(b"shardnet.lane.in", &lane_bytes(lane))
    }

    /// Outbound lane: the destination's highest certified watermark for it (CS-14, CS-15),
    /// learned from finality-proven destination headers carried in payloads.
    pub fn certified(lane: &LaneId) -> U256 {
        tagged(b"shardnet.lane.certified", &lane_bytes(lane))
    }

    /// Outbound lane: sends made so far in the current block (zero between blocks), so the
    /// precompile can count credits before the block assigns sequences (CS-15).
    pub fn pending(lane: &LaneId) -> U256 {
        tagged(b"shardnet.lane.pending", &lane_bytes(lane))
    }

    /// The call counter (CS-4).
    pub fn call_counter() -> U256 {
        tagged(b"shardnet.calls", &[])
    }

    /// An open call awaiting its response (CS-I2): 1 while open.
    pub fn open_call(call_id: &Hash32) -> U256 {
        tagged(b"shardnet.open", &call_id.0)
    }

    /// Total fees burnt on this shard since genesis (CS-I3).
    pub fn burnt() -> U256 {
        tagged(b"shardnet.burnt", &[])
    }
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn selectors_match_the_solidity_signatures() {
        assert_eq!(TRANSFER_SELECTOR, selector("transfer(address)"));
        assert_eq!(
            CALL_SELECTOR,
            selector("call(address,bytes,uint64,uint64,uint64)")
        );
        assert_eq!(
            ON_RESPONSE_SELECTOR,
            selector("onResponse(bytes32,uint8,bytes)")
        );
    }

    #[test]
    fn requests_round_trip_and_garbage_is_refused() {
        let reqs = [
            SendRequest::Transfer {
                to: Address::repeat_byte(7),
            },
            SendRequest::Call {
                to: Address::repeat_byte(9),
                data: Bytes::from(vec![
                    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                    23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33,
                ]),
                gas_limit: 100_000,
                callback_gas: 50_000,
                deadline: 12,
            },
        ];
        for r in reqs {
            assert_eq!(SendRequest::decode(&r.encode()), Ok(r.clone()));
            let enc = r.encode();
            for cut in 0..enc.len() {
                // Every truncation is an error, never a panic.
                let _ = SendRequest::decode(&enc[..cut]);
            }
        }
        assert!(SendRequest::decode(&[0xde, 0xad, 0xbe, 0xef]).is_err());
    }

    #[test]
    fn events_decode_to_messages() {
        let map = ShardMap::new(2, shardnet_protocol::ShardMapScheme::LowBits);
        let to = Address::with_last_byte(1); // shard 1
        let origin = Origin {
            tx_hash: B256::repeat_byte(1),
            initiator: Address::repeat_byte(2),
            depth: 0,
        };
        let c = CallSent {
            call_id: call_id(ShardId(0), 1),
            from: Address::repeat_byte(2),
            to,
            value: U256::from(5),
            gas_limit: 60_000,
            callback_gas: 0,
            deadline: 9,
            gas_price: U256::from(7),
            data: Bytes::from_static(b"hello"),
        };
        let logs = [
            transfer_sent_log(Address::repeat_byte(2), to, U256::from(3)),
            call_sent_log(&c),
        ];
        let e = emissions(&logs, &map, origin);
        assert_eq!(e.len(), 2);
        assert!(e.iter().all(|e| e.destination == ShardId(1)));
        match &e[1].body {
            MessageBody::Call {
                gas_limit,
                callback,
                deadline,
                calldata,
                ..
            } => {
                assert_eq!(*gas_limit, 60_000);
                assert_eq!(*callback, None);
                assert_eq!(*deadline, Some(Height(9)));
                assert_eq!(&calldata[..], b"hello");
            }
            other => panic!("{other:?}"),
        }
    }
}
