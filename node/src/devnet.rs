//! A local cluster on loopback: `shards × validators` validators in one process (each with
//! its own thread, transport endpoint and database; one process keeps start-up and Ctrl-C
//! simple, and the validators still talk only over real QUIC), a genesis with prefunded
//! development accounts, resumable from its data directory.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};

use alloy_primitives::{Address, U256, keccak256};
use anyhow::{Context, anyhow};
use shardnet_protocol::{
    ChainId, Genesis, GenesisAccount, GenesisValidator, SecretKey, ShardId, ShardMap,
    ShardMapScheme, Stake,
};

use crate::validator::{Status, Validator, ValidatorConfig};

/// Devnet parameters.
#[derive(Clone, Debug)]
pub struct DevnetConfig {
    /// Number of shards.
    pub shards: u16,
    /// Validators per shard.
    pub validators: u16,
    /// Where the genesis and every validator's database live.
    pub data_dir: PathBuf,
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Prefunded development accounts.
    pub accounts: usize,
    /// Least time between blocks, so an idle devnet does not spin.
    pub block_interval_ms: u64,
}

/// A development account: address and private key (as anvil prints them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevAccount {
    /// Address.
    pub address: Address,
    /// secp256k1 private key.
    pub secret: [u8; 32],
}

/// Development account `i`: the key is `keccak("shardnet-dev-account" ‖ i)`, the same in
/// every devnet, so scripts can hard-code it. Never use these keys for anything of value.
pub fn dev_account(i: u64) -> DevAccount {
    let mut seed = keccak256([b"shardnet-dev-account".as_slice(), &i.to_be_bytes()].concat()).0;
    loop {
        if let Ok(sk) = secp256k1::SecretKey::from_byte_array(seed) {
            let pk = secp256k1::PublicKey::from_secret_key_global(&sk).serialize_uncompressed();
            let address = Address::from_slice(&keccak256(&pk[1..])[12..]);
            return DevAccount {
                address,
                secret: seed,
            };
        }
        seed = keccak256(seed).0;
    }
}

/// Validator `index` of `shard`'s key: deterministic, so a devnet resumes with the same keys.
pub fn validator_key(shard: u16, index: u16) -> SecretKey {
    let seed = keccak256(
        [
            b"shardnet-devnet-validator".as_slice(),
            &shard.to_be_bytes(),
            &index.to_be_bytes(),
        ]
        .concat(),
    );
    SecretKey::from_bytes(&seed.0)
}

/// A running devnet.
#[derive(Debug)]
pub struct Devnet {
    /// The genesis it runs.
    pub genesis: Genesis,
    /// Its development accounts.
    pub accounts: Vec<DevAccount>,
    validators: Vec<Validator>,
}

impl Devnet {
    /// Starts the devnet, resuming from `data_dir/genesis.toml` if it exists.
    pub fn start(cfg: &DevnetConfig, rt: &tokio::runtime::Handle) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
        let accounts: Vec<DevAccount> = (0..cfg.accounts as u64).map(dev_account).collect();
        let genesis_path = cfg.data_dir.join("genesis.toml");
        let (genesis, mut sockets) = if genesis_path.exists() {
            let text = std::fs::read_to_string(&genesis_path)?;
            let genesis = Genesis::from_toml(&text)
                .with_context(|| format!("reading {}", genesis_path.display()))?;
            let sockets = genesis
                .validators
                .iter()
                .map(|v| {
                    let addr: SocketAddr = v
                        .address
                        .parse()
                        .with_context(|| format!("address {}", v.address))?;
                    bind_again(addr)
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            (genesis, sockets)
        } else {
            let mut validators = Vec::new();
            let mut sockets = Vec::new();
            for shard in 0..cfg.shards {
                for index in 0..cfg.validators {
                    let socket = UdpSocket::bind("127.0.0.1:0")?;
                    validators.push(GenesisValidator {
                        public_key: validator_key(shard, index).public_key(),
                        stake: Stake(100),
                        address: socket.local_addr()?.to_string(),
                        shard: ShardId(shard),
                    });
                    sockets.push(socket);
                }
            }
            let balance = U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18));
            let genesis = Genesis {
                chain_id: ChainId(cfg.chain_id),
                timestamp_ms: 0,
                shard_map: ShardMap::new(cfg.shards, ShardMapScheme::LowBits),
                validators,
                accounts: accounts
                    .iter()
                    .map(|a| GenesisAccount {
                        address: a.address,
                        balance,
                    })
                    .collect(),
            };
            genesis.validate()?;
            std::fs::write(&genesis_path, genesis.to_toml())?;
            (genesis, sockets)
        };
        let mut validators = Vec::new();
        for (i, v) in genesis.validators.iter().enumerate() {
            let index = genesis.validators[..i]
                .iter()
                .filter(|w| w.shard == v.shard)
                .count() as u16;
            let key = validator_key(v.shard.0, index);
            if key.public_key() != v.public_key {
                return Err(anyhow!(
                    "{} was not written by this devnet (validator keys differ)",
                    genesis_path.display()
                ));
            }
            let socket = sockets.get_mut(i).map(|s| s.try_clone()).transpose()?;
            let consensus = shardnet_consensus::Config {
                min_block_interval_ms: cfg.block_interval_ms,
                ..shardnet_consensus::Config::default()
            };
            let data_dir = cfg
                .data_dir
                .join(format!("shard-{}-validator-{index}", v.shard.0));
            validators.push(Validator::start(
                ValidatorConfig {
                    key,
                    genesis: genesis.clone(),
                    data_dir,
                    socket,
                    consensus,
                },
                rt,
            )?);
        }
        drop(sockets);
        Ok(Self {
            genesis,
            accounts,
            validators,
        })
    }

    /// Every validator's status, by shard then index.
    pub fn statuses(&self) -> Vec<Status> {
        self.validators.iter().map(Validator::status).collect()
    }

    /// The RPC gateway over every shard: reads from each shard's validator 0, submits to all
    /// of a shard's validators.
    pub fn gateway(&self) -> crate::rpc::Gateway {
        let backends = self
            .genesis
            .shard_map
            .shard_ids()
            .filter_map(|shard| {
                crate::rpc::ShardBackend::new(
                    self.validators
                        .iter()
                        .filter(|v| v.status().shard == shard)
                        .map(Validator::handle)
                        .collect(),
                )
            })
            .collect();
        crate::rpc::Gateway::new(self.genesis.chain_id.0, self.genesis.shard_map, backends)
    }

    /// The validators.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// Removes validator `index` of `shard` from the devnet and returns it, for the caller to
    /// shut down (a crash as the rest of the shard sees it: its peers stop hearing from it).
    /// Handles already taken from it ([`Self::gateway`]) answer "validator stopped" once it is.
    pub fn take_validator(&mut self, shard: ShardId, index: u16) -> Option<Validator> {
        let at = self.validators.iter().position(|v| {
            let s = v.status();
            s.shard == shard && s.index.0 == index
        })?;
        Some(self.validators.remove(at))
    }

    /// Stops every validator cleanly.
    pub async fn shutdown(self) {
        for v in self.validators {
            v.shutdown().await;
        }
    }
}

/// Binds a port this devnet used before. A just-stopped endpoint releases its socket when its
/// last background task ends, a moment after shutdown: retry for a few seconds.
fn bind_again(addr: SocketAddr) -> anyhow::Result<UdpSocket> {
    let mut attempts = 0;
    loop {
        match UdpSocket::bind(addr) {
            Ok(s) => return Ok(s),
            Err(e) if attempts < 50 => {
                attempts += 1;
                let _ = e;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("binding {addr} (is the devnet already running?)"));
            }
        }
    }
}

/// The default data directory: a fresh temporary one.
pub fn temporary_data_dir() -> PathBuf {
    std::env::temp_dir().join(format!("shardnet-devnet-{}", std::process::id()))
}

/// Whether `dir` holds a devnet already.
pub fn is_devnet(dir: &Path) -> bool {
    dir.join("genesis.toml").exists()
}
