//! # shardnet-protocol
//!
//! The vocabulary every Shardnet crate shares: identifiers, committees and stake thresholds,
//! domain-separated ed25519 signing, quorum and timeout certificates, finality proofs, block
//! headers and payloads, cross-shard message types, a blake3 Merkle tree with multiproofs,
//! the address-to-shard map, the genesis file, and the one wire codec.
//!
//! Nothing here does I/O, reads a clock or draws randomness: the crate is pure data and
//! checks, so consensus, execution and the transport agree on bytes by construction. The
//! rules are written down, numbered, in `specs/wire.md`.
//!
//! ```
//! use shardnet_protocol::*;
//! use rand_core::SeedableRng;
//!
//! // A four-validator committee for shard 0 (a seeded RNG here; OS randomness in a node).
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
//! let keys: Vec<SecretKey> = (0..4).map(|_| SecretKey::generate(&mut rng)).collect();
//! let members = keys
//!     .iter()
//!     .map(|k| Member { public_key: k.public_key(), stake: Stake(10), network_address: "127.0.0.1:1".into() })
//!     .collect();
//! let committee = Committee::new(ChainId(7), ShardId(0), Epoch(0), members)?;
//!
//! // Three of four sign a vote: 30 of 40 stake is more than two thirds.
//! let data = VoteData { block: BlockHash(Hash32::blake3(b"block")), round: Round(1), height: Height(1) };
//! let votes: Vec<Vote> =
//!     (0..3).map(|i| Vote::sign(&committee, &keys[i], ValidatorIndex(i as u16), data)).collect();
//! let qc = QuorumCert::aggregate(&committee, data, &votes);
//! qc.verify(&committee)?;
//!
//! // Certificates travel in the wire codec.
//! let bytes = encode(&qc);
//! assert_eq!(decode::<QuorumCert>(&bytes)?, qc);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

pub mod bitmap;
pub mod block;
pub mod bounded;
pub mod cert;
pub mod codec;
pub mod committee;
pub mod cross_shard;
pub mod crypto;
pub mod finality;
pub mod genesis;
pub mod limits;
pub mod merkle;
mod serde_bytes;
pub mod shard_map;
pub mod types;

pub use alloy_primitives::{Address, B256, U256};
pub use bitmap::SignerBitmap;
pub use block::{Block, BlockHeader, ExecutionCommitment, Payload, RawTransaction};
pub use bounded::{BoundedBytes, BoundedVec};
pub use cert::{CertError, QuorumCert, Timeout, TimeoutCert, TimeoutData, Vote, VoteData};
pub use codec::{CodecError, WIRE_VERSION, decode, encode};
pub use committee::{Committee, CommitteeError, Committees, Member};
pub use cross_shard::{
    Callback, CrossShardMessage, LaneClass, LaneId, LanePull, LanePullResponse, LaneSegment,
    MessageBody, Origin, Outcome, Watermark,
};
pub use crypto::{Domain, KeyError, PublicKey, SecretKey, Signature, SigningContext};
pub use finality::FinalityProof;
pub use genesis::{Genesis, GenesisAccount, GenesisError, GenesisValidator};
pub use merkle::{MerkleError, MultiProof};
pub use shard_map::{ShardMap, ShardMapScheme};
pub use types::{BlockHash, ChainId, Epoch, Hash32, Height, Round, ShardId, Stake, ValidatorIndex};
