//! The operator path, through the real binary: `shardnet keygen` four times, `shardnet
//! genesis` from a TOML list of validators, then four `shardnet run --config node.toml`
//! processes on loopback commit blocks together. Bad input gets a clear error, not a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_shardnet");

fn shardnet(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().expect("run shardnet")
}

fn keygen(path: &Path) -> String {
    let out = shardnet(&["keygen", "--out", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("public key "))
        .unwrap()
        .to_string()
}

struct Killer(Vec<Child>);

impl Drop for Killer {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn keygen_genesis_and_four_processes_commit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut entries = String::new();
    for i in 0..4 {
        let key = keygen(&d.join(format!("v{i}.key")));
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        entries.push_str(&format!(
            "[[validators]]\npublic_key = \"{key}\"\nstake = 10\naddress = \"127.0.0.1:{port}\"\nshard = 0\n\n"
        ));
    }
    // A key file is never overwritten.
    let again = shardnet(&["keygen", "--out", d.join("v0.key").to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));

    std::fs::write(d.join("validators.toml"), &entries).unwrap();
    let g = shardnet(&[
        "genesis",
        "--validators",
        d.join("validators.toml").to_str().unwrap(),
        "--out",
        d.join("genesis.toml").to_str().unwrap(),
        "--dev-accounts",
        "2",
    ]);
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));

    let mut children = Killer(Vec::new());
    let (tx, rx) = mpsc::channel::<(usize, u64)>();
    for i in 0..4 {
        let cfg = d.join(format!("node{i}.toml"));
        std::fs::write(
            &cfg,
            format!("key_file = \"v{i}.key\"\ngenesis_file = \"genesis.toml\"\ndata_dir = \"data{i}\"\nblock_interval_ms = 50\n"),
        )
        .unwrap();
        let mut child = Command::new(BIN)
            .args(["run", "--config", cfg.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(h) = line
                    .strip_prefix("height ")
                    .and_then(|r| r.split(' ').next())
                    && let Ok(h) = h.parse()
                {
                    let _ = tx.send((i, h));
                }
            }
        });
        children.0.push(child);
    }
    let mut heights = [0u64; 4];
    let start = Instant::now();
    while heights.iter().any(|h| *h < 3) {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no progress: {heights:?}"
        );
        if let Ok((i, h)) = rx.recv_timeout(Duration::from_secs(1)) {
            heights[i] = heights[i].max(h);
        }
    }
}

#[test]
fn bad_configs_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Unknown field in node.toml.
    std::fs::write(
        d.join("node.toml"),
        "key_file = \"k\"\ngenesis_file = \"g\"\ndata_dir = \"x\"\nlisten = 1\n",
    )
    .unwrap();
    let out = shardnet(&["run", "--config", d.join("node.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("listen") && err.contains("node.toml"), "{err}");
    // A key file that is not hex.
    std::fs::write(d.join("k"), "not a key").unwrap();
    std::fs::write(
        d.join("node.toml"),
        "key_file = \"k\"\ngenesis_file = \"g\"\ndata_dir = \"x\"\n",
    )
    .unwrap();
    let out = shardnet(&["run", "--config", d.join("node.toml").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expected 64 hex digits"), "{err}");
    // A validators list with a bad shard.
    std::fs::write(
        d.join("v.toml"),
        "[[validators]]\npublic_key = \"0x3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29\"\nstake = 1\naddress = \"127.0.0.1:1\"\nshard = 3\n",
    )
    .unwrap();
    let out = shardnet(&[
        "genesis",
        "--validators",
        d.join("v.toml").to_str().unwrap(),
        "--out",
        d.join("g.toml").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("validators[0].shard"), "{err}");
}
