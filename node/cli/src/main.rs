//! The `shardnet` binary.
//!
//! `shardnet devnet` (a local cluster over QUIC on loopback, with the JSON-RPC gateway and
//! metrics), `shardnet run` (one validator, optionally serving JSON-RPC and metrics), `keygen`,
//! `genesis`, `statetest <dir>` (the ethereum/tests oracle for the executor), `sim` (the
//! seeded consensus simulator, delegating to `shardnet_sim::cli`) and `bench` (a whole
//! in-process cluster under load, `shardnet_node::bench`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

mod sim;

/// revm and the state trie allocate per transaction and per trie node; mimalloc keeps that
/// off the execution path (glibc malloc was 10-15 % of block execution, BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "shardnet",
    version,
    about = "Sharded proof-of-stake chains on HotStuff, revm and QUIC"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a new validator key file (hex ed25519 seed, mode 0600) and print its public key.
    Keygen {
        /// Where to write the key.
        #[arg(long, default_value = "validator.key")]
        out: PathBuf,
    },
    /// Build a genesis file from a TOML list of validators (`[[validators]]` with public_key,
    /// stake, address, shard), with prefunded development accounts.
    Genesis {
        /// The validators file.
        #[arg(long)]
        validators: PathBuf,
        /// Number of shards.
        #[arg(long, default_value_t = 1)]
        shards: u16,
        /// EIP-155 chain id.
        #[arg(long, default_value_t = 1337)]
        chain_id: u64,
        /// Development accounts to prefund (10,000 ETH each); 0 for none.
        #[arg(long, default_value_t = 10)]
        dev_accounts: usize,
        /// Where to write the genesis.
        #[arg(long, default_value = "genesis.toml")]
        out: PathBuf,
    },
    /// Run one validator from a config file (see `node.toml` in the README).
    Run {
        /// The node config.
        #[arg(long, default_value = "node.toml")]
        config: PathBuf,
    },
    /// Start a local cluster: every validator its own QUIC endpoint on 127.0.0.1, its own
    /// sled database, prefunded development accounts. Ctrl-C stops it; running again with the
    /// same --data-dir resumes.
    Devnet {
        /// Shards; transactions to an address on another shard cross over as certified messages.
        #[arg(long, default_value_t = 1)]
        shards: u16,
        /// Validators per shard.
        #[arg(long, default_value_t = 4)]
        validators: u16,
        /// Data directory (default: a new temporary directory).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// EIP-155 chain id.
        #[arg(long, default_value_t = 1337)]
        chain_id: u64,
        /// Prefunded development accounts.
        #[arg(long, default_value_t = 10)]
        accounts: usize,
        /// Least milliseconds between blocks.
        #[arg(long, default_value_t = 500)]
        block_interval_ms: u64,
        /// Stop once every validator has committed this height (for scripted runs).
        #[arg(long)]
        until_height: Option<u64>,
        /// Port of the JSON-RPC gateway on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = shardnet_node::rpc::DEFAULT_RPC_PORT)]
        rpc_port: u16,
        /// Once the RPC serves, write a JSON file here (written to a temporary name, then
        /// renamed, so a script that sees it reads it whole): `rpcUrl`, `chainId`, `shards`,
        /// `validators`, `dataDir`, `pid` and `accounts` (`address`, `privateKey`, `shard`).
        #[arg(long)]
        ready_file: Option<PathBuf>,
        /// Port of the Prometheus `/metrics` endpoint on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 9545)]
        metrics_port: u16,
    },
    /// Run seeded simulations over a seed range: full-stack scenarios (real validators over
    /// QUIC on turmoil) or, with --consensus, the in-process consensus simulator. Exit codes:
    /// 0 pass, 1 safety violation, 2 liveness failure (or a fault that never fired), 3
    /// nondeterminism, 64 bad arguments or scenario.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["scenario", "scenario_file"])))]
    Sim {
        /// A named scenario (embedded; `all` for every one). Full stack: partition-heal,
        /// leader-crash, crash-restart-storm, byzantine-equivocation, segment-forger,
        /// cross-shard-partition, congestion, clock-skew, lossy-network, twins, twins-kept. Consensus simulator
        /// (also every name with --consensus): happy, uneven-stake, lossy-network,
        /// partition-heal, crash-restart, leader-crash, crash-restart-storm,
        /// equivocating-leader, byzantine-equivocation, double-voter, twins,
        /// withhold-and-spam, clock-skew, chaos, validator-down, heavy-validator-down.
        #[arg(long)]
        scenario: Option<String>,
        /// Take --scenario from the consensus simulator's library, even where the full-stack
        /// library has the same name.
        #[arg(long)]
        consensus: bool,
        /// A scenario TOML file: full stack if it says `stack = "full"`
        /// (sim-tests/fullstack/scenarios/README.md), else the consensus simulator's
        /// (sim-tests/scenarios/README.md).
        #[arg(long)]
        scenario_file: Option<PathBuf>,
        /// Seeds A..B (B exclusive).
        #[arg(long, default_value = "0..100", value_parser = shardnet_sim::cli::parse_seeds)]
        seeds: std::ops::Range<u64>,
        /// Worker threads, each running whole seeds.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Write the event log of the only seed (or the first failing one) to this file.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Run every seed twice and compare the trace hashes.
        #[arg(long)]
        check_determinism: bool,
    },
    /// Load a whole in-process cluster and report finalized tx/s, submit-to-final and
    /// cross-shard completion latency, and CPU per transaction; optionally plot it as SVG.
    Bench {
        /// Shards.
        #[arg(long, default_value_t = 2)]
        shards: u16,
        /// Validators per shard.
        #[arg(long, default_value_t = 4)]
        validators: u16,
        /// Least milliseconds between blocks.
        #[arg(long, default_value_t = 100)]
        block_interval_ms: u64,
        /// Seconds of submission.
        #[arg(long, default_value_t = 20)]
        duration_s: u64,
        /// Offered transactions per second, over all shards.
        #[arg(long, default_value_t = 200)]
        rate: u64,
        /// Percentage of transactions whose target is on another shard.
        #[arg(long, default_value_t = 0)]
        cross_percent: u8,
        /// What the transactions do.
        #[arg(long, value_enum, default_value_t = shardnet_node::bench::Workload::Transfer)]
        workload: shardnet_node::bench::Workload,
        /// Sending accounts (prefunded development accounts).
        #[arg(long, default_value_t = 256)]
        senders: usize,
        /// Stop the last validator of every shard this many seconds in (needs >= 4 per shard).
        #[arg(long)]
        kill_after_s: Option<u64>,
        /// Write a plot of throughput and latency over time here.
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Data directory (default: a new temporary directory, removed afterwards).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Run ethereum/tests GeneralStateTests JSON through Shardnet's decoder, executor, store
    /// and state root, and print pass/fail counts and the failing cases.
    Statetest {
        /// A fixture file or a directory searched recursively for `*.json`.
        path: PathBuf,
        /// Print at most this many failing cases.
        #[arg(long, default_value_t = 100)]
        show: usize,
    },
}

fn main() -> ExitCode {
    // `RUST_LOG=info` (or `shardnet_transport=debug`, ...) to see what the node does; quiet
    // (warnings only) by default so the devnet's own output stays readable.
    // Simulations inject faults on purpose: their validators' warnings are noise unless asked
    // for (the outcome and `--trace` say what happened).
    let quiet = std::env::args().nth(1).is_some_and(|a| a == "sim");
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(if quiet { "off" } else { "warn" })
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    // Usage errors exit 64 (EX_USAGE), not clap's 2, which `shardnet sim` uses for liveness.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 64 } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // A deliberately broken consensus build exists only for the simulator (BENCHMARKS.md).
    if let Some(why) = shardnet_consensus::BROKEN_BUILD
        && !matches!(cli.command, Command::Sim { .. })
    {
        anyhow::bail!(
            "this binary was built with a deliberately broken consensus core ({why}); it only runs `shardnet sim`"
        );
    }
    match cli.command {
        Command::Sim {
            scenario,
            consensus,
            scenario_file,
            seeds,
            jobs,
            trace,
            check_determinism,
        } => {
            use shardnet_sim::cli::{Options, Source};
            let source = match (scenario, scenario_file) {
                (_, Some(path)) => Source::File(path),
                (Some(name), None) => Source::Named(name),
                (None, None) => anyhow::bail!("give --scenario NAME or --scenario-file PATH"),
            };
            let opts = Options {
                source,
                seeds,
                jobs,
                trace,
                check_determinism,
                replay_prefix: "cargo run --profile sim -p shardnet -- sim".into(),
            };
            let loader = move |source: &Source| sim::load(source, consensus);
            Ok(ExitCode::from(shardnet_sim::cli::main_with(&opts, &loader)))
        }
        Command::Statetest { path, show } => statetest(&path, show),
        Command::Keygen { out } => keygen(&out),
        Command::Genesis {
            validators,
            shards,
            chain_id,
            dev_accounts,
            out,
        } => genesis(&validators, shards, chain_id, dev_accounts, &out),
        Command::Run { config } => run_validator(&config),
        Command::Bench {
            shards,
            validators,
            block_interval_ms,
            duration_s,
            rate,
            cross_percent,
            workload,
            senders,
            kill_after_s,
            svg,
            data_dir,
        } => {
            let temporary = data_dir.is_none();
            let cfg = shardnet_node::bench::BenchConfig {
                shards,
                validators,
                block_interval_ms,
                duration: std::time::Duration::from_secs(duration_s),
                rate_tps: rate,
                cross_percent,
                workload,
                senders,
                kill_after: kill_after_s.map(std::time::Duration::from_secs),
                data_dir: data_dir.unwrap_or_else(|| {
                    std::env::temp_dir().join(format!("shardnet-bench-{}", std::process::id()))
                }),
            };
            bench(&cfg, svg.as_deref(), temporary)
        }
        Command::Devnet {
            shards,
            validators,
            data_dir,
            chain_id,
            accounts,
            block_interval_ms,
            until_height,
            rpc_port,
            metrics_port,
            ready_file,
        } => {
            let cfg = shardnet_node::devnet::DevnetConfig {
                shards,
                validators,
                data_dir: data_dir.unwrap_or_else(shardnet_node::devnet::temporary_data_dir),
                chain_id,
                accounts,
                block_interval_ms,
            };
            devnet(
                &cfg,
                until_height,
                rpc_port,
                metrics_port,
                ready_file.as_deref(),
            )
        }
    }
}

fn devnet(
    cfg: &shardnet_node::devnet::DevnetConfig,
    until_height: Option<u64>,
    rpc_port: u16,
    metrics_port: u16,
    ready_file: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        cfg.shards >= 1 && cfg.validators >= 1,
        "need at least one shard and one validator"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let resumed = shardnet_node::devnet::is_devnet(&cfg.data_dir);
    let net = shardnet_node::devnet::Devnet::start(cfg, rt.handle())?;
    let rpc_cfg = shardnet_node::rpc::RpcConfig {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], rpc_port)),
        ..shardnet_node::rpc::RpcConfig::default()
    };
    let rpc = match shardnet_node::rpc::start(net.gateway(), &rpc_cfg, rt.handle()) {
        Ok(rpc) => rpc,
        Err(e) => {
            rt.block_on(net.shutdown());
            return Err(anyhow::anyhow!("{e} (choose another port with --rpc-port)"));
        }
    };
    println!(
        "shardnet devnet: chain id {}, {} shard(s) x {} validators over QUIC on 127.0.0.1 ({})",
        cfg.chain_id,
        cfg.shards,
        cfg.validators,
        if resumed { "resumed" } else { "new" }
    );
    println!("data directory: {}", cfg.data_dir.display());
    println!("\nAvailable accounts (10,000 ETH each; development keys, never use them for value)");
    for (i, a) in net.accounts.iter().enumerate() {
        let shard = net.genesis.shard_map.home(&a.address);
        println!(
            "({i}) {} (shard {})  private key 0x{}",
            a.address,
            shard.0,
            hex_encode(&a.secret)
        );
    }
    println!(
        "\nJSON-RPC: {} (routes each call to the address's home shard; {}/shard/N for one shard)",
        rpc.url(),
        rpc.url()
    );
    let metrics: Vec<_> = net.validators().iter().map(|v| v.metrics()).collect();
    match shardnet_node::metrics::serve(
        std::net::SocketAddr::from(([127, 0, 0, 1], metrics_port)),
        metrics,
        rt.handle(),
    ) {
        Ok(addr) => println!("Prometheus metrics: http://{addr}/metrics"),
        // Metrics are not worth refusing to start over: say so and go on.
        Err(e) => eprintln!("metrics not served on port {metrics_port}: {e} (--metrics-port)"),
    }
    println!("Ctrl-C to stop.\n");
    if let Some(path) = ready_file
        && let Err(e) = write_ready_file(path, cfg, &net, &rpc.url())
    {
        rt.block_on(rpc.stop());
        rt.block_on(net.shutdown());
        return Err(e);
    }
    let started = std::time::Instant::now();
    let mut last_latency = std::collections::BTreeMap::new();
    let code = every_second_until_ctrl_c(&rt, || {
        let statuses = net.statuses();
        if let Some(f) = statuses.iter().find_map(|s| s.fatal.clone()) {
            eprintln!("a validator stopped: {f}");
            return Some(ExitCode::FAILURE);
        }
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        let mut line = format!("[{:>6.1}s]", started.elapsed().as_secs_f64());
        for shard in 0..cfg.shards {
            let of: Vec<_> = statuses.iter().filter(|s| s.shard.0 == shard).collect();
            // Finality latency over the last second and cross-shard messages in flight, from
            // the shard's first validator's metrics.
            let m = net
                .validators()
                .iter()
                .find(|v| v.status().shard.0 == shard)
                .map(|v| v.metrics());
            let (latency, in_flight) = m.map_or((String::from("-"), 0), |m| {
                let (count, sum) = m.latency_totals();
                let prev = last_latency.insert(shard, (count, sum)).unwrap_or((0, 0));
                let n = count.saturating_sub(prev.0);
                let latency = sum
                    .saturating_sub(prev.1)
                    .checked_div(n)
                    .map_or_else(|| "-".to_string(), |ms| format!("{ms}ms"));
                (latency, m.backlog())
            });
            let heights: Vec<String> = of.iter().map(|s| s.height.to_string()).collect();
            let txs = of.iter().map(|s| s.committed_txs).max().unwrap_or(0);
            let agree = of
                .windows(2)
                .all(|w| w[0].height != w[1].height || w[0].state_root == w[1].state_root);
            line.push_str(&format!(
                "  shard {shard}: heights [{}] round {} tx/s {:.1} finality {latency} \
                 xs-in-flight {in_flight}{}",
                heights.join(" "),
                of.iter().map(|s| s.round).max().unwrap_or(0),
                txs as f64 / secs,
                if agree { "" } else { " ROOTS DIFFER" }
            ));
        }
        println!("{line}");
        if until_height.is_some_and(|h| statuses.iter().all(|s| s.height >= h)) {
            return Some(ExitCode::SUCCESS);
        }
        None
    });
    rt.block_on(rpc.stop());
    rt.block_on(net.shutdown());
    println!(
        "stopped cleanly; resume with --data-dir {}",
        cfg.data_dir.display()
    );
    Ok(code)
}

/// The devnet's `--ready-file`: what a script needs to drive it, as JSON.
fn write_ready_file(
    path: &std::path::Path,
    cfg: &shardnet_node::devnet::DevnetConfig,
    net: &shardnet_node::devnet::Devnet,
    url: &str,
) -> anyhow::Result<()> {
    let accounts: Vec<serde_json::Value> = net
        .accounts
        .iter()
        .map(|a| {
            serde_json::json!({
                "address": a.address.to_checksum(None),
                "privateKey": format!("0x{}", hex_encode(&a.secret)),
                "shard": net.genesis.shard_map.home(&a.address).0,
            })
        })
        .collect();
    let ready = serde_json::json!({
        "rpcUrl": url,
        "chainId": cfg.chain_id,
        "shards": cfg.shards,
        "validators": cfg.validators,
        "dataDir": cfg.data_dir.display().to_string(),
        "pid": std::process::id(),
        "accounts": accounts,
    });
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, serde_json::to_vec_pretty(&ready)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn bench(
    cfg: &shardnet_node::bench::BenchConfig,
    svg: Option<&std::path::Path>,
    temporary: bool,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        temporary || !shardnet_node::devnet::is_devnet(&cfg.data_dir),
        "{} holds a devnet already; the bench needs a fresh one",
        cfg.data_dir.display()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = shardnet_node::bench::run(cfg, &rt);
    if temporary {
        let _ = std::fs::remove_dir_all(&cfg.data_dir);
    }
    let report = report?;
    println!("\n{}", report.table());
    println!("markdown: {}", report.markdown_row());
    if let Some(path) = svg {
        std::fs::write(path, report.svg())
            .with_context(|| format!("writing {}", path.display()))?;
        println!("plot written to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn keygen(out: &std::path::Path) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        !out.exists(),
        "{} exists; refusing to overwrite a key",
        out.display()
    );
    let key = shardnet_protocol::SecretKey::generate(&mut rand_core::OsRng);
    write_secret(out, &format!("0x{}\n", hex_encode(&key.to_bytes())))?;
    println!("public key {}", key.public_key());
    println!("key written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

fn write_secret(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

fn genesis(
    validators: &std::path::Path,
    shards: u16,
    chain_id: u64,
    dev_accounts: usize,
    out: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Validators {
        validators: Vec<shardnet_protocol::GenesisValidator>,
    }
    let text = std::fs::read_to_string(validators)
        .with_context(|| format!("reading {}", validators.display()))?;
    let list: Validators =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", validators.display()))?;
    let balance = alloy_primitives::U256::from(10_000u64)
        * alloy_primitives::U256::from(10u64).pow(alloy_primitives::U256::from(18));
    let genesis = shardnet_protocol::Genesis {
        chain_id: shardnet_protocol::ChainId(chain_id),
        timestamp_ms: 0,
        shard_map: shardnet_protocol::ShardMap::new(
            shards,
            shardnet_protocol::ShardMapScheme::LowBits,
        ),
        validators: list.validators,
        accounts: (0..dev_accounts as u64)
            .map(|i| shardnet_protocol::GenesisAccount {
                address: shardnet_node::devnet::dev_account(i).address,
                balance,
            })
            .collect(),
    };
    genesis
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", validators.display()))?;
    std::fs::write(out, genesis.to_toml()).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "genesis for {} validators in {shards} shard(s) written to {}",
        genesis.validators.len(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn run_validator(config: &std::path::Path) -> anyhow::Result<ExitCode> {
    let loaded = shardnet_node::config::load(config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let consensus = shardnet_consensus::Config {
        min_block_interval_ms: loaded.config.block_interval_ms,
        ..shardnet_consensus::Config::default()
    };
    let genesis_chain_id = loaded.genesis.chain_id.0;
    let genesis_shard_map = loaded.genesis.shard_map;
    let validator = shardnet_node::validator::Validator::start(
        shardnet_node::validator::ValidatorConfig {
            key: loaded.key,
            genesis: loaded.genesis,
            data_dir: loaded.config.data_dir.clone(),
            socket: None,
            consensus,
        },
        rt.handle(),
    )?;
    let s = validator.status();
    println!(
        "validator {} of shard {} running; data in {}",
        s.index.0,
        s.shard.0,
        loaded.config.data_dir.display()
    );
    if let Some(addr) = loaded.config.metrics_addr {
        match shardnet_node::metrics::serve(addr, vec![validator.metrics()], rt.handle()) {
            Ok(bound) => println!("Prometheus metrics: http://{bound}/metrics"),
            Err(e) => {
                rt.block_on(validator.shutdown());
                return Err(anyhow::anyhow!("serving metrics on {addr}: {e}"));
            }
        }
    }
    let rpc = match loaded.config.rpc_addr {
        None => None,
        Some(addr) => {
            let backend = shardnet_node::rpc::ShardBackend::new(vec![validator.handle()])
                .context("no validator to serve")?;
            let gateway = shardnet_node::rpc::Gateway::new(
                genesis_chain_id,
                genesis_shard_map,
                vec![backend],
            );
            let cfg = shardnet_node::rpc::RpcConfig {
                addr,
                ..shardnet_node::rpc::RpcConfig::default()
            };
            match shardnet_node::rpc::start(gateway, &cfg, rt.handle()) {
                Ok(rpc) => {
                    println!("JSON-RPC for shard {}: {}", s.shard.0, rpc.url());
                    Some(rpc)
                }
                Err(e) => {
                    rt.block_on(validator.shutdown());
                    return Err(e.into());
                }
            }
        }
    };
    let code = every_second_until_ctrl_c(&rt, || {
        let s = validator.status();
        if let Some(f) = s.fatal {
            eprintln!("stopped: {f}");
            return Some(ExitCode::FAILURE);
        }
        println!(
            "height {} round {} head {} root {}",
            s.height, s.round, s.head, s.state_root
        );
        None
    });
    if let Some(rpc) = rpc {
        rt.block_on(rpc.stop());
    }
    rt.block_on(validator.shutdown());
    Ok(code)
}

/// Calls `tick` once a second until it returns an exit code or Ctrl-C (or, on Unix, SIGTERM,
/// what scripts and process managers send) arrives (success).
fn every_second_until_ctrl_c(
    rt: &tokio::runtime::Runtime,
    mut tick: impl FnMut() -> Option<ExitCode>,
) -> ExitCode {
    rt.block_on(async {
        let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
        let terminate = terminated();
        tokio::pin!(terminate);
        loop {
            tokio::select! {
                biased;
                _ = tokio::signal::ctrl_c() => return ExitCode::SUCCESS,
                () = &mut terminate => return ExitCode::SUCCESS,
                _ = ticker.tick() => {}
            }
            if let Some(code) = tick() {
                return code;
            }
        }
    })
}

/// Resolves when the process receives SIGTERM (never elsewhere, or if it cannot listen).
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            term.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await;
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn statetest(path: &std::path::Path, show: usize) -> anyhow::Result<ExitCode> {
    use shardnet_exec::statetest::{Summary, fixture_files, run_file};
    let files = if path.is_dir() {
        fixture_files(path).with_context(|| format!("listing {}", path.display()))?
    } else {
        vec![path.to_path_buf()]
    };
    anyhow::ensure!(
        !files.is_empty(),
        "no .json fixtures under {}",
        path.display()
    );
    let mut summary = Summary::default();
    let mut unreadable = 0usize;
    for f in &files {
        if let Err(e) = run_file(f, &mut summary) {
            unreadable += 1;
            println!("ERROR {e}");
        }
    }
    for f in summary.failures.iter().take(show) {
        println!("FAIL {} {}: {}", f.file.display(), f.case, f.reason);
    }
    println!(
        "statetest: {} passed, {} failed, {} skipped (EIP-7610), {} files, {} unreadable",
        summary.passed,
        summary.failures.len(),
        summary.skipped,
        files.len(),
        unreadable
    );
    Ok(if summary.failures.is_empty() && unreadable == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
