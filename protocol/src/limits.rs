//! Every size and count the protocol accepts, in one place (spec: `specs/wire.md` §4).
//!
//! Decoders check these *before* allocating, so a peer cannot make us reserve memory by
//! claiming a large length. Changing one of these is a wire change: bump
//! [`crate::codec::WIRE_VERSION`] and the golden tests.

/// Largest encoded message accepted from the network, in bytes (a whole block with its payload).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Validators in one shard's committee. Signer bitmaps and certificates are sized by it.
pub const MAX_COMMITTEE_SIZE: usize = 1024;

/// Shards in one network.
pub const MAX_SHARDS: usize = 1024;

/// Validators in a whole genesis (all shards).
pub const MAX_VALIDATORS: usize = MAX_COMMITTEE_SIZE * 16;

/// Transactions in one block payload.
pub const MAX_BLOCK_TRANSACTIONS: usize = 20_000;

/// Bytes of one encoded transaction (Ethereum's txpool default is 128 KiB).
pub const MAX_TRANSACTION_BYTES: usize = 128 * 1024;

/// Inbound cross-shard segments in one block payload.
pub const MAX_BLOCK_SEGMENTS: usize = 256;

/// Cross-shard messages carried by one lane segment.
pub const MAX_SEGMENT_MESSAGES: usize = 4096;

/// Sequences one lane pull may ask for (`LanePull`, CS-16).
pub const MAX_PULL_MESSAGES: usize = MAX_SEGMENT_MESSAGES;

/// Segments in one lane pull's answer (`LanePullResponse`, CS-16).
pub const MAX_PULL_SEGMENTS: usize = 64;

/// Bytes of one cross-shard message body (calldata, return data, revert data).
pub const MAX_CROSS_SHARD_MESSAGE_BYTES: usize = 128 * 1024;

/// Inbox watermarks in one header: one per (source shard, class) lane.
pub const MAX_WATERMARKS: usize = 2 * MAX_SHARDS;

/// Hashes in one Merkle proof or multiproof.
pub const MAX_PROOF_HASHES: usize = 64 * 1024;

/// Leaves addressed by one multiproof.
pub const MAX_PROOF_LEAVES: usize = MAX_SEGMENT_MESSAGES;

/// Headers in one finality proof's chain from a committed block to its certified
/// descendant. Long chains arise only when many rounds in a row fail to form 2-chains.
pub const MAX_FINALITY_CHAIN: usize = 1024;

/// Blocks answered by one sync request.
pub const MAX_SYNC_BLOCKS: usize = 64;

/// Bytes of a free-form reason string (rejections, errors sent to peers).
pub const MAX_REASON_BYTES: usize = 256;

/// Bytes of a validator's network address string in the registry.
pub const MAX_NETWORK_ADDRESS_BYTES: usize = 256;

/// Accounts prefunded in a genesis file.
pub const MAX_GENESIS_ACCOUNTS: usize = 1_000_000;
