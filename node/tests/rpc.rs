//! The JSON-RPC gateway end to end (`specs/rpc.md`): a two-shard devnet in-process, spoken to
//! over plain HTTP/1.1 as any client would, with transactions signed client-side.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256, keccak256};
use secp256k1::{Message, SECP256K1, SecretKey};
use serde_json::{Value, json};
use shardnet_node::devnet::{DevAccount, Devnet, DevnetConfig};
use shardnet_node::rpc::{self, RpcConfig, RpcServer};

const CHAIN_ID: u64 = 1337;

struct Net {
    rt: tokio::runtime::Runtime,
    devnet: Option<Devnet>,
    server: Option<RpcServer>,
    dir: Option<tempfile::TempDir>,
}

impl Net {
    /// Two shards of one validator each, 50 ms blocks, the gateway on a free port.
    fn start() -> Self {
        Self::start_in(tempfile::tempdir().unwrap())
    }

    /// The same devnet, resumed from `dir`.
    fn start_in(dir: tempfile::TempDir) -> Self {
        let cfg = DevnetConfig {
            shards: 2,
            validators: 1,
            data_dir: dir.path().to_path_buf(),
            chain_id: CHAIN_ID,
            accounts: 8,
            block_interval_ms: 50,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let devnet = Devnet::start(&cfg, rt.handle()).unwrap();
        let rpc_cfg = RpcConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            ..RpcConfig::default()
        };
        let server = rpc::start(devnet.gateway(), &rpc_cfg, rt.handle()).unwrap();
        Self {
            rt,
            devnet: Some(devnet),
            server: Some(server),
            dir: Some(dir),
        }
    }

    /// Stops everything and returns the data directory.
    fn stop(mut self) -> tempfile::TempDir {
        self.shutdown();
        self.dir.take().unwrap()
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.stop());
        }
        if let Some(d) = self.devnet.take() {
            self.rt.block_on(d.shutdown());
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.as_ref().unwrap().local_addr()
    }

    fn accounts(&self) -> &[DevAccount] {
        &self.devnet.as_ref().unwrap().accounts
    }

    /// The full response object of one call at `path`.
    fn raw(&self, path: &str, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let (status, text) = post(self.addr(), path, &body.to_string());
        assert_eq!(status, 200, "{method}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// The result of a call on the gateway (panics on an error).
    fn call(&self, method: &str, params: Value) -> Value {
        self.call_at("/", method, params)
    }

    fn call_at(&self, path: &str, method: &str, params: Value) -> Value {
        let r = self.raw(path, method, params);
        assert!(r.get("error").is_none(), "{method}: {r}");
        r["result"].clone()
    }

    /// The error (code, message, data) of a call that must fail.
    fn error(&self, method: &str, params: Value) -> (i64, String, Value) {
        let r = self.raw("/", method, params);
        let e = &r["error"];
        assert!(e.is_object(), "{method} should fail: {r}");
        (
            e["code"].as_i64().unwrap(),
            e["message"].as_str().unwrap().to_string(),
            e["data"].clone(),
        )
    }

    fn wait_receipt(&self, hash: B256) -> Value {
        let start = Instant::now();
        loop {
            let r = self.call("eth_getTransactionReceipt", json!([hash]));
            if !r.is_null() {
                return r;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no receipt for {hash}: {:?}",
                self.devnet.as_ref().unwrap().statuses()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Signs and sends an EIP-1559 transaction from `from`; returns its hash.
    fn send(&self, from: &DevAccount, to: TxKind, value: U256, input: Bytes, gas: u64) -> B256 {
        let nonce =
            quantity(&self.call("eth_getTransactionCount", json!([from.address, "pending"])));
        let tip = quantity(&self.call("eth_maxPriorityFeePerGas", json!([])));
        let price = quantity(&self.call("eth_gasPrice", json!([])));
        let raw = sign(
            &from.secret,
            TxEip1559 {
                chain_id: CHAIN_ID,
                nonce,
                gas_limit: gas,
                max_fee_per_gas: u128::from(price * 2),
                max_priority_fee_per_gas: u128::from(tip),
                to,
                value,
                access_list: Default::default(),
                input,
            },
        );
        let hash: B256 =
            serde_json::from_value(self.call("eth_sendRawTransaction", json!([raw]))).unwrap();
        assert_eq!(
            hash,
            keccak256(&raw),
            "the returned hash is the transaction's"
        );
        hash
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One HTTP/1.1 POST; returns the status and body. No client library: what any tool sends.
fn post(addr: SocketAddr, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    read_response(s)
}

fn read_response(mut s: TcpStream) -> (u16, String) {
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {text}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

fn sign(secret: &[u8; 32], tx: TxEip1559) -> Bytes {
    let sk = SecretKey::from_byte_array(*secret).unwrap();
    let digest = Message::from_digest(tx.signature_hash().0);
    let (id, rs) = SECP256K1
        .sign_ecdsa_recoverable(digest, &sk)
        .serialize_compact();
    let signature = Signature::from_bytes_and_parity(&rs, i32::from(id) == 1);
    TxEnvelope::from(tx.into_signed(signature))
        .encoded_2718()
        .into()
}

fn quantity(v: &Value) -> u64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a quantity: {v}"));
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

fn u256(v: &Value) -> U256 {
    serde_json::from_value(v.clone()).unwrap()
}

/// The shard `LowBits` puts an address on (two shards: the parity of its last byte).
fn home(a: &Address) -> u64 {
    u64::from(a.0[19] % 2)
}

/// Returns 42 as a 32-byte word and logs it under `TOPIC`.
fn runtime_code() -> Vec<u8> {
    let mut code = vec![0x60, 0x2a, 0x60, 0x00, 0x52, 0x7f]; // MSTORE(0, 42); PUSH32
    code.extend_from_slice(TOPIC.as_slice());
    code.extend_from_slice(&[0x60, 0x20, 0x60, 0x00, 0xa1]); // LOG1(0, 32, TOPIC)
    code.extend_from_slice(&[0x60, 0x20, 0x60, 0x00, 0xf3]); // RETURN(0, 32)
    code
}

const TOPIC: B256 = B256::repeat_byte(0x7a);

/// Init code that deploys [`runtime_code`].
fn init_code() -> Vec<u8> {
    let runtime = runtime_code();
    let len = u8::try_from(runtime.len()).unwrap();
    // CODECOPY(0, 12, len); RETURN(0, len)
    let mut code = vec![
        0x60, len, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, len, 0x60, 0x00, 0xf3,
    ];
    code.extend_from_slice(&runtime);
    code
}

#[test]
fn transfers_contracts_and_logs_through_the_gateway() {
    let net = Net::start();
    assert_eq!(net.call("eth_chainId", json!([])), json!("0x539"));
    assert_eq!(net.call("net_version", json!([])), json!("1337"));
    assert_eq!(net.call("eth_accounts", json!([])), json!([]));
    assert_eq!(net.call("eth_syncing", json!([])), json!(false));

    // A transfer on shard 1, sent to the gateway: routed by the sender's home.
    let sender = net
        .accounts()
        .iter()
        .find(|a| home(&a.address) == 1)
        .unwrap()
        .clone();
    let to = Address::repeat_byte(0x43); // ...4343: shard 1
    assert_eq!(net.call("shardnet_shardOf", json!([to])), json!("0x1"));
    let value = U256::from(10u64).pow(U256::from(15));
    let before = u256(&net.call("eth_getBalance", json!([sender.address, "latest"])));
    let hash = net.send(&sender, TxKind::Call(to), value, Bytes::new(), 21_000);
    let receipt = net.wait_receipt(hash);
    assert_eq!(receipt["status"], json!("0x1"));
    assert_eq!(receipt["gasUsed"], json!("0x5208"));
    assert_eq!(receipt["from"], json!(sender.address));
    assert_eq!(u256(&net.call("eth_getBalance", json!([to]))), value);
    let price = u256(&receipt["effectiveGasPrice"]);
    let after = u256(&net.call("eth_getBalance", json!([sender.address, "latest"])));
    assert_eq!(before - after, value + price * U256::from(21_000));
    // The per-shard endpoint of the other shard does not hold the account.
    assert_eq!(
        u256(&net.call_at("/shard/0", "eth_getBalance", json!([to]))),
        U256::ZERO
    );

    // The block and the transaction, by number on the shard's endpoint and by hash anywhere.
    let number = receipt["blockNumber"].clone();
    let block = net.call_at("/shard/1", "eth_getBlockByNumber", json!([number, false]));
    assert_eq!(block["hash"], receipt["blockHash"]);
    assert!(
        block["transactions"]
            .as_array()
            .unwrap()
            .contains(&json!(hash))
    );
    assert!(quantity(&block["baseFeePerGas"]) > 0);
    let full = net.call("eth_getBlockByHash", json!([receipt["blockHash"], true]));
    assert_eq!(full["number"], number);
    assert_eq!(full["transactions"][0]["hash"], json!(hash));
    let tx = net.call("eth_getTransactionByHash", json!([hash]));
    assert_eq!(tx["from"], json!(sender.address));
    assert_eq!(tx["blockHash"], receipt["blockHash"]);
    assert_eq!(tx["type"], json!("0x2"));
    // The gateway's latest block is final on every shard, and is shard 0's block.
    let latest = net.call("eth_getBlockByNumber", json!(["latest", false]));
    assert!(quantity(&latest["number"]) <= quantity(&net.call("eth_blockNumber", json!([]))));
    assert!(latest["baseFeePerGas"].is_string());

    // A contract: deployed by an account whose CREATE address lives on its own shard (until
    // cross-shard deployment lands, X-6), then called, estimated and transacted with.
    let deployer = net
        .accounts()
        .iter()
        .find(|a| home(&a.address) == home(&a.address.create(0)))
        .unwrap()
        .clone();
    let contract = deployer.address.create(0);
    let hash = net.send(
        &deployer,
        TxKind::Create,
        U256::ZERO,
        init_code().into(),
        200_000,
    );
    let receipt = net.wait_receipt(hash);
    assert_eq!(receipt["status"], json!("0x1"));
    assert_eq!(receipt["contractAddress"], json!(contract));
    assert_eq!(
        net.call("eth_getCode", json!([contract, "latest"])),
        json!(Bytes::from(runtime_code()))
    );
    let out = net.call("eth_call", json!([{"to": contract}, "latest"]));
    assert_eq!(u256(&out), U256::from(42));
    let estimate = quantity(&net.call(
        "eth_estimateGas",
        json!([{"from": deployer.address, "to": contract}]),
    ));
    assert!(estimate > 21_000, "{estimate}");
    let hash = net.send(
        &deployer,
        TxKind::Call(contract),
        U256::ZERO,
        Bytes::new(),
        estimate,
    );
    let receipt = net.wait_receipt(hash);
    assert_eq!(receipt["status"], json!("0x1"), "the estimate was enough");
    assert_eq!(receipt["logs"][0]["topics"], json!([TOPIC]));

    // Logs: by address and range, by topic, by block hash.
    let logs = net.call(
        "eth_getLogs",
        json!([{"address": contract, "fromBlock": "0x0", "toBlock": "latest"}]),
    );
    assert_eq!(logs.as_array().unwrap().len(), 1, "{logs}");
    assert_eq!(logs[0]["transactionHash"], json!(hash));
    assert_eq!(u256(&logs[0]["data"]), U256::from(42));
    let by_topic = net.call(
        "eth_getLogs",
        json!([{"topics": [TOPIC], "fromBlock": "0x0"}]),
    );
    assert_eq!(by_topic, logs);
    let by_block = net.call("eth_getLogs", json!([{"blockHash": receipt["blockHash"]}]));
    assert_eq!(by_block, logs);
    let none = net.call(
        "eth_getLogs",
        json!([{"topics": [B256::repeat_byte(1)], "fromBlock": "0x0"}]),
    );
    assert_eq!(none, json!([]));

    // Fees and finality.
    let history = net.call("eth_feeHistory", json!(["0x4", "latest", [50]]));
    assert_eq!(history["baseFeePerGas"].as_array().unwrap().len(), 5);
    let proof = net.call(
        "shardnet_finalityProof",
        json!([home(&sender.address), number]),
    );
    assert_eq!(proof["blockHash"], block["hash"]);
    assert!(proof["proof"].as_str().unwrap().len() > 2);
    let status = net.call("shardnet_status", json!([]));
    assert_eq!(status["shards"].as_array().unwrap().len(), 2);
}

#[test]
fn errors_and_limits() {
    let net = Net::start();
    let (code, _, _) = net.error("eth_noSuchMethod", json!([]));
    assert_eq!(code, -32601);

    let (code, message, _) = net.error("eth_getBalance", json!(["0x1234"]));
    assert_eq!(code, -32602);
    assert!(message.contains("address"), "{message}");
    let (code, message, _) = net.error("eth_getBalance", json!([Address::ZERO, "soon"]));
    assert_eq!(code, -32602);
    assert!(message.contains("block"), "{message}");
    let (code, message, _) = net.error("eth_chainId", json!([1]));
    assert_eq!(code, -32602);
    assert!(message.contains("at most 0"), "{message}");
    let (code, _, _) = net.error("eth_getBalance", json!({"address": Address::ZERO}));
    assert_eq!(code, -32602, "named parameters are refused");
    let (code, _, _) = net.error("eth_sendRawTransaction", json!(["0x01deadbeef"]));
    assert_eq!(code, -32602);

    // A mempool rejection comes back with the mempool's reason.
    let account = net.accounts()[0].clone();
    let wrong_chain = sign(
        &account.secret,
        TxEip1559 {
            chain_id: 1,
            nonce: 0,
            gas_limit: 21_000,
            max_fee_per_gas: 10_000_000_000,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(Address::ZERO),
            value: U256::ZERO,
            access_list: Default::default(),
            input: Bytes::new(),
        },
    );
    let (code, message, _) = net.error("eth_sendRawTransaction", json!([wrong_chain]));
    assert_eq!(code, -32000);
    assert!(message.contains("chain 1"), "{message}");

    // A reverting call: code 3, the revert data attached (init code that reverts with 7).
    let revert = "0x600760005260206000fd";
    let (code, _, data) = net.error("eth_call", json!([{"input": revert}]));
    assert_eq!(code, 3);
    assert_eq!(u256(&data), U256::from(7));
    let (code, _, _) = net.error("eth_estimateGas", json!([{"input": revert}]));
    assert_eq!(code, 3);

    // Batches: within the limit an array of answers, over it one error.
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"});
    let (status, text) = post(net.addr(), "/", &json!([call, call]).to_string());
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&text)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let batch = Value::Array(vec![call.clone(); 101]);
    let (_, text) = post(net.addr(), "/", &batch.to_string());
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["error"]["code"], json!(-32010), "{answer}");

    // An oversized body is refused before it is read (HTTP 413).
    let mut s = TcpStream::connect(net.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n[",
        64 * 1024 * 1024
    )
    .unwrap();
    assert_eq!(read_response(s).0, 413);

    // Unknown paths and shards.
    assert_eq!(post(net.addr(), "/shard/2", &call.to_string()).0, 404);
    assert_eq!(post(net.addr(), "/v1", &call.to_string()).0, 404);
    // Historical state is not kept; a future block is not there yet.
    let start = Instant::now();
    while quantity(&net.call_at("/shard/0", "eth_blockNumber", json!([]))) == 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "no block");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, message, _) = net.error("eth_getBalance", json!([Address::repeat_byte(2), "0x0"]));
    assert_eq!(code, -32000);
    assert!(message.contains("latest"), "{message}");
    assert_eq!(
        net.call("eth_getBlockByNumber", json!(["0xffffffff", false])),
        Value::Null
    );
}

#[test]
fn the_index_survives_a_restart() {
    let net = Net::start();
    let sender = net.accounts()[0].clone();
    let to = Address::repeat_byte(0x42); // ...4242: shard 0, as account 0
    assert_eq!(home(&sender.address), 0);
    let hash = net.send(
        &sender,
        TxKind::Call(to),
        U256::from(5),
        Bytes::new(),
        21_000,
    );
    let receipt = net.wait_receipt(hash);
    let block = net.call("eth_getBlockByHash", json!([receipt["blockHash"], false]));
    let dir = net.stop();

    let net = Net::start_in(dir);
    assert_eq!(
        net.call("eth_getTransactionReceipt", json!([hash])),
        receipt
    );
    assert_eq!(
        net.call("eth_getBlockByHash", json!([receipt["blockHash"], false])),
        block
    );
    assert_eq!(
        u256(&net.call("eth_getBalance", json!([to]))),
        U256::from(5)
    );
    // Genesis is indexed once, and stays block 0.
    let genesis = net.call_at(
        "/shard/0",
        "eth_getBlockByNumber",
        json!(["earliest", false]),
    );
    assert_eq!(genesis["number"], json!("0x0"));
}

/// CS-6, CS-16 over the real stack: an unmodified wallet transfer (21,000 gas) from an account
/// on shard 0 to one on shard 1, relayed as a certified segment over QUIC, arrives exactly
/// once; the sender paid the value and ordinary gas.
#[test]
fn a_wallet_transfer_crosses_shards_exactly_once() {
    let net = Net::start();
    let sender = net
        .accounts()
        .iter()
        .find(|a| home(&a.address) == 0)
        .unwrap()
        .clone();
    let to = Address::repeat_byte(0x51); // ...5151: shard 1
    assert_eq!(home(&to), 1);
    let value = U256::from(123_456_789u64);
    // Estimates and calls run with the CROSS_SHARD precompile (R-4, CS-5, CS-6): a wallet
    // transfer across shards is 21,000 gas; `transfer(to)` on the precompile costs its 25,000
    // more; a transfer to a local address is refused, as in a block.
    let estimate = |to: Address, input: Vec<u8>| {
        net.call(
            "eth_estimateGas",
            json!([{"from": sender.address, "to": to, "value": value, "input": Bytes::from(input)}]),
        )
    };
    assert_eq!(quantity(&estimate(to, vec![])), 21_000);
    let transfer_to = |a: Address| {
        let mut data = keccak256("transfer(address)")[..4].to_vec();
        data.extend_from_slice(a.into_word().as_slice());
        data
    };
    let cross_shard: Address = "0x000000000000000000000000000000000000C5C5"
        .parse()
        .unwrap();
    assert!(quantity(&estimate(cross_shard, transfer_to(to))) > 21_000 + 25_000);
    let (code, message, _) = net.error(
        "eth_call",
        json!([{"from": sender.address, "to": cross_shard, "value": value,
                "input": Bytes::from(transfer_to(sender.address))}, "latest"]),
    );
    assert_eq!(code, 3, "{message}");
    let before = u256(&net.call("eth_getBalance", json!([sender.address])));
    let hash = net.send(&sender, TxKind::Call(to), value, Bytes::new(), 21_000);
    let receipt = net.wait_receipt(hash);
    assert_eq!(receipt["status"], json!("0x1"));
    let price = u256(&receipt["effectiveGasPrice"]);
    let after = u256(&net.call("eth_getBalance", json!([sender.address])));
    assert_eq!(before - after, value + price * U256::from(21_000));
    let start = Instant::now();
    while u256(&net.call("eth_getBalance", json!([to]))) != value {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the transfer did not arrive: {:?}",
            net.devnet.as_ref().unwrap().statuses()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A few more blocks: still exactly once.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(u256(&net.call("eth_getBalance", json!([to]))), value);
    // shardnet_laneStatus: the request lane 0 -> 1 carried one message and admits more.
    let lanes = net.call("shardnet_laneStatus", json!([]));
    let lane = lanes
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["source"] == json!("0x0") && l["class"] == json!("request"))
        .unwrap()
        .clone();
    assert_eq!(lane["destination"], json!("0x1"));
    assert_eq!(lane["emitted"], json!("0x1"));
    assert_eq!(lane["admitting"], json!(true));
    // Prometheus: every validator's commits, and the lane's backlog gauge.
    let metrics: Vec<_> = net
        .devnet
        .as_ref()
        .unwrap()
        .validators()
        .iter()
        .map(|v| v.metrics())
        .collect();
    let addr =
        shardnet_node::metrics::serve("127.0.0.1:0".parse().unwrap(), metrics, net.rt.handle())
            .unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for shard in 0..2 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("shardnet_commits_total{{shard=\"{shard}\"")))
            .unwrap();
        let commits: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(commits > 0, "{line}");
    }
    assert!(text.contains("shardnet_commit_latency_seconds_count"));
}

/// `shardnet_messageStatus`: a cross-shard call sent from a wallet through `CROSS_SHARD`
/// is found by the call id its `CallSent` event carries, first pending or executed, then
/// completed with its outcome and refund.
#[test]
fn a_cross_shard_call_is_traced_by_its_id() {
    use shardnet_exec::lanes::system::{CROSS_SHARD, SendRequest, call_sent_topic};
    let net = Net::start();
    let sender = net
        .accounts()
        .iter()
        .find(|a| home(&a.address) == 0)
        .unwrap()
        .clone();
    let to = Address::repeat_byte(0x61); // ...6161: shard 1, no code: the call succeeds
    let data = SendRequest::Call {
        to,
        data: Bytes::from_static(b"\x01\x02"),
        gas_limit: 50_000,
        callback_gas: 0,
        deadline: 0,
    }
    .encode();
    let hash = net.send(
        &sender,
        TxKind::Call(CROSS_SHARD),
        U256::from(5),
        data,
        200_000,
    );
    let receipt = net.wait_receipt(hash);
    assert_eq!(receipt["status"], json!("0x1"), "{receipt}");
    let log = receipt["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["topics"][0] == json!(call_sent_topic()))
        .unwrap()
        .clone();
    let call_id = log["topics"][1].clone();
    let start = Instant::now();
    let status = loop {
        let s = net.call("shardnet_messageStatus", json!([call_id]));
        assert!(!s.is_null(), "the call is known once its block is final");
        if s["status"] == json!("completed") {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{s}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status["executed"]["shard"], json!("0x1"));
    assert_eq!(status["executed"]["outcome"], json!("0x0"));
    assert_eq!(status["response"]["shard"], json!("0x0"));
    assert!(
        status["openOn"].is_null(),
        "the escrow was released: {status}"
    );
    assert_eq!(
        u256(&net.call("eth_getBalance", json!([to]))),
        U256::from(5)
    );
    // An unknown id is null.
    assert!(
        net.call("shardnet_messageStatus", json!([B256::ZERO]))
            .is_null()
    );
}
