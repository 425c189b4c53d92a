//! What the gateway serves from, and how it routes (`specs/rpc.md` ): one
//! [`ShardBackend`] per served shard, and the [`Endpoint`] a request arrived on.

use alloy_primitives::{Address, B256, Bytes};
use shardnet_exec::StateView;
use shardnet_exec::evm::ExecEnv;
use shardnet_exec::store::StoreMeta;
use shardnet_protocol::{ShardId, ShardMap};

use super::error::RpcError;
use super::params::BlockTag;
use crate::index::BlockRecord;
use crate::validator::ShardHandle;

/// Which endpoint a request arrived on (set by the HTTP layer from the path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/`: routes each call by address.
    Gateway,
    /// `/shard/N`: everything goes to shard N.
    Shard(ShardId),
}

/// One served shard: the validator the gateway reads from, and every local validator of the
/// shard, which all receive submitted transactions (mempools are not gossiped: a transaction
/// is included when one of the validators that hold it leads a round).
#[derive(Clone, Debug)]
pub struct ShardBackend {
    handles: Vec<ShardHandle>,
}

impl ShardBackend {
    /// A shard served from `handles` (reads from the first). `None` if empty.
    pub fn new(handles: Vec<ShardHandle>) -> Option<Self> {
        (!handles.is_empty()).then_some(Self { handles })
    }

    /// The validator reads go to.
    pub(crate) fn primary(&self) -> &ShardHandle {
        // Non-empty by construction.
        &self.handles[0]
    }

    /// How many of the shard's validators run in this process.
    pub(crate) fn local_validators(&self) -> usize {
        self.handles.len()
    }

    /// The shard's id.
    pub(crate) fn id(&self) -> ShardId {
        self.primary().config().shard
    }

    /// Committed head metadata (height, base fee, recent hashes).
    pub(crate) fn head(&self) -> Result<StoreMeta, RpcError> {
        Ok(self.primary().store().meta()?)
    }

    /// Resolves a block selector to a height of this shard; errors for unknown hashes and
    /// for heights above the committed head.
    pub(crate) fn height(&self, tag: BlockTag) -> Result<u64, RpcError> {
        self.height_under(tag, self.head()?.height)
    }

    /// [`Self::height`] against a head already read: the validator commits concurrently, so
    /// a caller that needs the head and the height to agree reads the head once.
    fn height_under(&self, tag: BlockTag, head: u64) -> Result<u64, RpcError> {
        match tag {
            BlockTag::Latest | BlockTag::Pending => Ok(head),
            BlockTag::Earliest => Ok(0),
            BlockTag::Number(n) if n <= head => Ok(n),
            BlockTag::Number(n) => Err(RpcError::Unavailable(format!(
                "block {n} of shard {} is not committed yet (head {head})",
                self.id().0
            ))),
            BlockTag::Hash(h) => match self.primary().index().block_by_hash(&h)? {
                Some(b) => Ok(b.height),
                None => Err(RpcError::Unavailable(format!(
                    "block {h} is not a block of shard {}",
                    self.id().0
                ))),
            },
        }
    }

    /// Checks that a state query's selector means the current state: the node keeps only the
    /// latest committed state. Returns the head.
    pub(crate) fn state_at(&self, tag: BlockTag) -> Result<StoreMeta, RpcError> {
        let head = self.head()?;
        let height = self.height_under(tag, head.height)?;
        if height != head.height {
            return Err(RpcError::Unavailable(format!(
                "state at block {height} of shard {} is not kept: this node keeps only the \
                 latest state (block {}); query \"latest\"",
                self.id().0,
                head.height
            )));
        }
        Ok(head)
    }

    /// The indexed block at `height`.
    pub(crate) fn block(&self, height: u64) -> Result<Option<BlockRecord>, RpcError> {
        Ok(self.primary().index().block(height)?)
    }

    /// The block environment a call on the committed head runs in (the head's own).
    pub(crate) fn call_env(&self, head: &StoreMeta) -> Result<ExecEnv, RpcError> {
        let cfg = self.primary().config();
        let block = self.block(head.height)?;
        let timestamp = block.as_ref().map_or(0, |b| b.timestamp_ms / 1000);
        let beneficiary = block.as_ref().map_or(Address::ZERO, |b| b.miner);
        let parent = block.as_ref().map_or(B256::ZERO, |b| b.parent);
        Ok(ExecEnv {
            fork: cfg.fork,
            chain_id: cfg.chain_id,
            number: head.height,
            timestamp,
            beneficiary,
            gas_limit: cfg.block_gas_limit,
            base_fee: head.base_fee,
            prevrandao: parent,
            difficulty: alloy_primitives::U256::ZERO,
            excess_blob_gas: 0,
        })
    }

    /// Submits to every validator of the shard this node runs; the first one's verdict is the
    /// answer (they share the committed state, so they agree but for races with a commit).
    pub(crate) fn submit(&self, raw: &Bytes) -> Result<(), RpcError> {
        let mut verdict = None;
        for h in &self.handles {
            let r = h.submit(bytes::Bytes::copy_from_slice(raw));
            verdict.get_or_insert(r);
        }
        match verdict {
            Some(Ok(())) | None => Ok(()),
            Some(Err(e)) if e == "validator stopped" || e == "validator did not answer" => {
                Err(RpcError::Internal(e))
            }
            Some(Err(e)) => Err(RpcError::Rejected(e)),
        }
    }
}

/// Everything the RPC serves: the network's parameters and the shards this node runs.
#[derive(Clone, Debug)]
pub struct Gateway {
    chain_id: u64,
    shard_map: ShardMap,
    /// By shard id; `None` for shards this node does not run.
    shards: Vec<Option<ShardBackend>>,
}

impl Gateway {
    /// A gateway over `backends` (any subset of the network's shards).
    pub fn new(chain_id: u64, shard_map: ShardMap, backends: Vec<ShardBackend>) -> Self {
        let mut shards = vec![None; usize::from(shard_map.shards)];
        for b in backends {
            if let Some(slot) = shards.get_mut(usize::from(b.id().0)) {
                *slot = Some(b);
            }
        }
        Self {
            chain_id,
            shard_map,
            shards,
        }
    }

    /// EIP-155 chain id.
    pub(crate) fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The address-to-shard map.
    pub(crate) fn shard_map(&self) -> &ShardMap {
        &self.shard_map
    }

    /// The shards this node serves, in order.
    pub(crate) fn served(&self) -> impl Iterator<Item = &ShardBackend> {
        self.shards.iter().flatten()
    }

    /// Shard `id`, if the network has it and this node serves it.
    pub(crate) fn shard(&self, id: ShardId) -> Result<&ShardBackend, RpcError> {
        match self.shards.get(usize::from(id.0)) {
            Some(Some(b)) => Ok(b),
            Some(None) => Err(RpcError::Unavailable(format!(
                "shard {} is not served by this node",
                id.0
            ))),
            None => Err(RpcError::params(format!(
                "shard {} does not exist (the network has {} shard(s))",
                id.0, self.shard_map.shards
            ))),
        }
    }

    /// Where a query about `address` goes: its home shard on the gateway (system addresses
    /// exist on every shard: the default one), the endpoint's shard otherwise.
    pub(crate) fn for_address(
        &self,
        ep: Endpoint,
        address: &Address,
    ) -> Result<&ShardBackend, RpcError> {
        match ep {
            Endpoint::Shard(id) => self.shard(id),
            Endpoint::Gateway if ShardMap::is_system(address) => self.default_shard(ep),
            Endpoint::Gateway => {
                let home = self.shard_map.home(address);
                self.shard(home).map_err(|e| match e {
                    RpcError::Unavailable(_) => RpcError::Unavailable(format!(
                        "{address} lives on shard {}, which this node does not serve",
                        home.0
                    )),
                    other => other,
                })
            }
        }
    }

    /// The shard block queries go to: the lowest served shard on the gateway.
    pub(crate) fn default_shard(&self, ep: Endpoint) -> Result<&ShardBackend, RpcError> {
        match ep {
            Endpoint::Shard(id) => self.shard(id),
            Endpoint::Gateway => self
                .served()
                .next()
                .ok_or_else(|| RpcError::Internal("this node serves no shard".into())),
        }
    }

    /// The shards a search (by transaction or block hash, or logs) covers.
    pub(crate) fn searched(&self, ep: Endpoint) -> Result<Vec<&ShardBackend>, RpcError> {
        match ep {
            Endpoint::Shard(id) => Ok(vec![self.shard(id)?]),
            Endpoint::Gateway => Ok(self.served().collect()),
        }
    }

    /// `eth_blockNumber`: the endpoint's shard head, or on the gateway the least head of the
    /// served shards, so that every block number the gateway reports is committed (and final)
    /// on every shard.
    pub(crate) fn block_number(&self, ep: Endpoint) -> Result<u64, RpcError> {
        let mut least = None;
        for s in self.searched(ep)? {
            let h = s.head()?.height;
            least = Some(least.map_or(h, |l: u64| l.min(h)));
        }
        least.ok_or_else(|| RpcError::Internal("this node serves no shard".into()))
    }
}
