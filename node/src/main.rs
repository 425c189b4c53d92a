//! The `shardnet` binary.
//!
//! Today: `shardnet devnet` (a local cluster over QUIC on loopback) and `shardnet statetest
//! <dir>` (the ethereum/tests oracle for the executor). The RPC gateway, `run`, bench and sim
//! commands arrive with their issues.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

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
    /// Start a local cluster: every validator its own QUIC endpoint on 127.0.0.1, its own
    /// sled database, prefunded development accounts. Ctrl-C stops it; running again with the
    /// same --data-dir resumes.
    Devnet {
        /// Shards (each an independent chain for now: cross-shard messaging is not wired yet).
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
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Statetest { path, show } => statetest(&path, show),
        Command::Devnet {
            shards,
            validators,
            data_dir,
            chain_id,
            accounts,
            block_interval_ms,
            until_height,
        } => {
            let cfg = shardnet_node::devnet::DevnetConfig {
                shards,
                validators,
                data_dir: data_dir.unwrap_or_else(shardnet_node::devnet::temporary_data_dir),
                chain_id,
                accounts,
                block_interval_ms,
            };
            devnet(&cfg, until_height)
        }
    }
}

fn devnet(
    cfg: &shardnet_node::devnet::DevnetConfig,
    until_height: Option<u64>,
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
    println!("\nJSON-RPC: not yet (issue 8). Ctrl-C to stop.\n");
    let started = std::time::Instant::now();
    let code = rt.block_on(async {
        let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tokio::select! {
                biased;
                _ = tokio::signal::ctrl_c() => break ExitCode::SUCCESS,
                _ = ticker.tick() => {}
            }
            let statuses = net.statuses();
            if let Some(f) = statuses.iter().find_map(|s| s.fatal.clone()) {
                eprintln!("a validator stopped: {f}");
                break ExitCode::FAILURE;
            }
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            let mut line = format!("[{:>6.1}s]", started.elapsed().as_secs_f64());
            for shard in 0..cfg.shards {
                let of: Vec<_> = statuses.iter().filter(|s| s.shard.0 == shard).collect();
                let heights: Vec<String> = of.iter().map(|s| s.height.to_string()).collect();
                let txs = of.iter().map(|s| s.committed_txs).max().unwrap_or(0);
                let agree = of
                    .windows(2)
                    .all(|w| w[0].height != w[1].height || w[0].state_root == w[1].state_root);
                line.push_str(&format!(
                    "  shard {shard}: heights [{}] round {} tx/s {:.1}{}",
                    heights.join(" "),
                    of.iter().map(|s| s.round).max().unwrap_or(0),
                    txs as f64 / secs,
                    if agree { "" } else { " ROOTS DIFFER" }
                ));
            }
            println!("{line}");
            if until_height.is_some_and(|h| statuses.iter().all(|s| s.height >= h)) {
                break ExitCode::SUCCESS;
            }
        }
    });
    rt.block_on(net.shutdown());
    println!(
        "stopped cleanly; resume with --data-dir {}",
        cfg.data_dir.display()
    );
    Ok(code)
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
