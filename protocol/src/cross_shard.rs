//! Cross-shard messages and the lanes they travel in (`specs/cross-shard.md`).
//!
//! These are wire types only; the rules that produce and consume them live in `shard-exec`.

use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

use crate::bounded::{BoundedBytes, BoundedVec};
use crate::finality::FinalityProof;
use crate::limits::{
    MAX_CROSS_SHARD_MESSAGE_BYTES, MAX_PULL_MESSAGES, MAX_PULL_SEGMENTS, MAX_REASON_BYTES,
    MAX_SEGMENT_MESSAGES,
};
use crate::merkle::MultiProof;
use crate::types::{Hash32, Height, ShardId};

/// Requests and responses travel in separate lanes so that results and refunds never queue
/// behind requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LaneClass {
    /// Transfers and calls.
    Request,
    /// Responses to calls.
    Response,
}

/// One ordered (source, destination, class) lane. Lanes order the outbox tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LaneId {
    /// Emitting shard.
    pub source: ShardId,
    /// Receiving shard.
    pub destination: ShardId,
    /// Request or response.
    pub class: LaneClass,
}

/// Per lane, the highest sequence number the destination has executed (0: none yet;
/// sequences start at 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Watermark {
    /// The lane.
    pub lane: LaneId,
    /// Highest executed sequence.
    pub executed: u64,
}

/// Where a message comes from, for tracing across shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Origin {
    /// Hash of the Ethereum transaction that started the chain of messages.
    pub tx_hash: B256,
    /// The externally owned account that signed it.
    pub initiator: Address,
    /// How many cross-shard hops from that transaction (0 for its own sends).
    pub depth: u8,
}

/// The outcome of a cross-shard call, reported back to the caller's shard.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// The call returned.
    Ok(BoundedBytes<MAX_CROSS_SHARD_MESSAGE_BYTES>),
    /// The call reverted with this data.
    Revert(BoundedBytes<MAX_CROSS_SHARD_MESSAGE_BYTES>),
    /// The call ran out of its attached gas.
    OutOfGas,
    /// The call was not executed by its deadline.
    TimedOut,
    /// The destination refused the call (no such code, bad value, ...).
    Rejected(BoundedBytes<MAX_REASON_BYTES>),
}

/// Gas prepaid on the source for the caller's callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Callback {
    /// Gas the callback may use on the source.
    pub gas_limit: u64,
}

/// What a message asks the destination to do.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MessageBody {
    /// Credit `value` to `to`.
    Transfer {
        /// Sender on the source shard.
        from: Address,
        /// Recipient on the destination shard.
        to: Address,
        /// Amount in wei.
        value: U256,
    },
    /// Call `to` with `calldata`, `value` and exactly `gas_limit` gas.
    Call {
        /// Identifies the call and its response.
        call_id: Hash32,
        /// The caller (`msg.sender` of the destination call).
        from: Address,
        /// The callee.
        to: Address,
        /// Input data.
        calldata: BoundedBytes<MAX_CROSS_SHARD_MESSAGE_BYTES>,
        /// Value in wei.
        value: U256,
        /// Gas for the destination call, intrinsic cost included (like a transaction's).
        gas_limit: u64,
        /// Price at which `gas_limit` and the callback gas were prepaid on the source
        /// (CS-5): the destination call runs at this price and unspent gas is refunded at it.
        gas_price: U256,
        /// Callback on the source, if the caller wants one.
        callback: Option<Callback>,
        /// Last destination height at which the call may execute.
        deadline: Option<Height>,
    },
    /// The answer to a call.
    Response {
        /// The call answered.
        call_id: Hash32,
        /// The original caller, credited with the refund.
        to: Address,
        /// What happened.
        outcome: Outcome,
        /// Value returned to the caller (bounced value, unspent gas at the call's price).
        refund: U256,
        /// The caller's callback, copied from the call: run on the source with this gas.
        callback: Option<Callback>,
        /// The call's gas price: the callback runs at it (CS-13).
        gas_price: U256,
    },
    /// Deploy `initcode` at `address`, which Ethereum computed on the source as
    /// `create(from, nonce)` (CREATE, `salt` is `None`) or
    /// `create2(from, salt, keccak256(initcode))` (CREATE2) and which is homed on the
    /// destination (`specs/execution.md` X-6). The destination checks `address` against
    /// [`MessageBody::create_address`] before deploying. Answered like a call.
    Create {
        /// Identifies the creation and its response.
        call_id: Hash32,
        /// The deployer (`msg.sender` of the init code).
        from: Address,
        /// Where the contract must land.
        address: Address,
        /// The deployer's nonce when it created: gives `address` for CREATE; for CREATE2 it
        /// is recorded but does not enter the address.
        nonce: u64,
        /// The CREATE2 salt; `None` for CREATE.
        salt: Option<B256>,
        /// Init code.
        initcode: BoundedBytes<MAX_CROSS_SHARD_MESSAGE_BYTES>,
        /// Endowment in wei.
        value: U256,
        /// Gas for the creation, intrinsic cost included.
        gas_limit: u64,
        /// Price at which the gas was prepaid on the source.
        gas_price: U256,
    },
}

impl MessageBody {
    /// What the source escrowed for a request when it was sent (CS-5): its value plus all
    /// prepaid gas (a call's callback gas included). Zero for a response, whose refund never
    /// sat in escrow.
    pub fn escrow(&self) -> U256 {
        let prepaid = |value: &U256, gas: u64, price: &U256| {
            value.saturating_add(U256::from(gas).saturating_mul(*price))
        };
        match self {
            Self::Transfer { value, .. } => *value,
            Self::Call {
                value,
                gas_limit,
                gas_price,
                callback,
                ..
            } => prepaid(
                value,
                gas_limit.saturating_add(callback.map_or(0, |c| c.gas_limit)),
                gas_price,
            ),
            Self::Create {
                value,
                gas_limit,
                gas_price,
                ..
            } => prepaid(value, *gas_limit, gas_price),
            Self::Response { .. } => U256::ZERO,
        }
    }

    /// The value this message carries while in flight (CS-I3): a request's escrow, which
    /// the destination mints, or a response's refund (CS-11).
    pub fn value_in_flight(&self) -> U256 {
        match self {
            Self::Response { refund, .. } => *refund,
            _ => self.escrow(),
        }
    }

    /// For a `Create`, the address Ethereum derives from it: `create(from, nonce)`, or with a
    /// salt `create2(from, salt, keccak256(initcode))`. `None` for other messages.
    pub fn create_address(&self) -> Option<Address> {
        match self {
            Self::Create {
                from,
                nonce,
                salt: None,
                ..
            } => Some(from.create(*nonce)),
            Self::Create {
                from,
                salt: Some(salt),
                initcode,
                ..
            } => Some(from.create2_from_code(*salt, &initcode[..])),
            _ => None,
        }
    }
}

/// One message in a lane.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CrossShardMessage {
    /// The lane.
    pub lane: LaneId,
    /// Position in the lane, from 1.
    pub sequence: u64,
    /// Tracing.
    pub origin: Origin,
    /// The request or response.
    pub body: MessageBody,
}

impl CrossShardMessage {
    /// The message's leaf in its block's outbox tree.
    pub fn leaf_hash(&self) -> Hash32 {
        crate::merkle::leaf_hash(&crate::codec::canonical_bytes(self))
    }
}

/// A run of consecutive messages of one lane emitted by one finalized source block, with
/// what a destination needs to check them offline (`specs/cross-shard.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneSegment {
    /// Finality proof of the source block; its header commits to the outbox root.
    pub proof: FinalityProof,
    /// Position of the first message among the block's outbox leaves.
    pub first_leaf: u64,
    /// The messages, consecutive in one lane.
    pub messages: BoundedVec<CrossShardMessage, MAX_SEGMENT_MESSAGES>,
    /// Multiproof of the messages against the header's outbox root.
    pub outbox_proof: MultiProof,
}

/// A destination validator's request for the messages `first..=last` of `lane`, sent to a
/// validator of the lane's source shard (CS-16, the pull half of the relay).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LanePull {
    /// The lane; its source is the shard asked.
    pub lane: LaneId,
    /// First sequence wanted.
    pub first: u64,
    /// Last sequence wanted (inclusive).
    pub last: u64,
}

impl LanePull {
    /// Whether the range is well formed: `1 ≤ first ≤ last` and at most
    /// [`MAX_PULL_MESSAGES`] sequences (a source refuses any other request).
    pub fn is_valid(&self) -> bool {
        self.first >= 1
            && self.first <= self.last
            && self.last - self.first < MAX_PULL_MESSAGES as u64
    }
}

/// The answer to a [`LanePull`]: segments of the lane overlapping the range, in sequence order,
/// as the source pushed them (each with its finality proof and multiproof). Possibly empty (the
/// source holds nothing there, or the destination already certified it). The requester checks
/// each one like a pushed segment (CS-8): who answered does not matter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanePullResponse {
    /// The segments found.
    pub segments: BoundedVec<LaneSegment, MAX_PULL_SEGMENTS>,
}
