//! Crash-restart at every persistence point (S-4, I-3), and the `SafetyStore` contract.
//!
//! Validator 0 of a four-validator cluster "crashes" at its k-th `Output::Persist`, either
//! before the store makes the data durable (it is lost, with every output the core still
//! held) or after (durable, but `Input::Persisted` never arrives). It restarts from its store
//! and its application's committed blocks. Across the crash it must never release two
//! different votes for one round, nor a vote in a round it already timed out; and the cluster
//! must agree and keep committing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use common::*;
use shardnet_consensus::{Evidence, SafetyData, SafetyStore, StoreError};
use shardnet_protocol::{Block, BlockHash, Epoch, Height, Round, ValidatorIndex, VoteData};

fn key_of(d: &VoteData) -> (BlockHash, Height) {
    (d.block, d.height)
}

/// Persist points tried.
const N: u64 = 30;

/// I-3 for validator `v`, from everything that went over the network: votes it sent, votes
/// of its carried in QCs (when it is the next leader its vote never travels alone), and its
/// timeouts.
fn assert_no_conflicting_signatures(c: &Cluster, v: ValidatorIndex) {
    let mut votes: BTreeMap<Round, BTreeSet<(BlockHash, Height)>> = BTreeMap::new();
    for (_, _, vote) in c.log.votes.iter().filter(|(_, _, x)| x.signer == v) {
        votes
            .entry(vote.data.round)
            .or_default()
            .insert(key_of(&vote.data));
    }
    let qcs = c
        .log
        .proposals
        .iter()
        .map(|(_, _, p)| &p.block.justify)
        .chain(c.log.timeouts.iter().map(|(_, _, t)| &t.high_qc));
    for qc in qcs.filter(|q| q.signers.contains(v)) {
        votes
            .entry(qc.data.round)
            .or_default()
            .insert(key_of(&qc.data));
    }
    for (round, datas) in &votes {
        assert_eq!(
            datas.len(),
            1,
            "{v} signed {} votes in {round}: {datas:?}",
            datas.len()
        );
    }
    // No vote released after a timeout of the same round.
    let mut first_timeout: BTreeMap<Round, u64> = BTreeMap::new();
    for (seq, _, t) in c.log.timeouts.iter().filter(|(_, _, t)| t.signer == v) {
        first_timeout.entry(t.round).or_insert(*seq);
    }
    for (seq, _, vote) in c.log.votes.iter().filter(|(_, _, x)| x.signer == v) {
        if let Some(t) = first_timeout.get(&vote.data.round) {
            assert!(
                seq < t,
                "{v} voted in {} after timing it out",
                vote.data.round
            );
        }
    }
    // Nobody convicted it of a double vote.
    for (_, _, e) in &c.log.evidence {
        assert!(
            !matches!(e, Evidence::DoubleVote(a, _) if a.signer == v),
            "double vote evidence against {v}: {e:?}"
        );
    }
}

/// Double proposals by `v` (E-1 evidence the others reported).
fn double_proposals(c: &Cluster, v: ValidatorIndex) -> usize {
    c.log
        .evidence
        .iter()
        .filter(|(_, _, e)| matches!(e, Evidence::DoubleProposal(a, _) if a.proposer == v))
        .count()
}

struct Outcome {
    /// Double proposals other validators convicted validator 0 of.
    double_proposals: usize,
}

/// Runs the cluster, crashes validator 0 at its `k`-th persist, restarts it after `down_ms`
/// and checks the invariants once everyone committed ten more blocks.
fn crash_once(k: u64, point: CrashPoint, down_ms: u64) -> Outcome {
    // Plain stake-weighted leaders: the check below wants no fault at all, and under
    // reputation a validator still catching up after its restart may judge a leader by its
    // older view and report `NotLeader` (a liveness-only disagreement; C-5).
    let cfg = shardnet_consensus::Config {
        leader_policy: shardnet_consensus::LeaderPolicy::StakeWeighted,
        ..test_config()
    };
    let mut c = Cluster::new(&[1, 1, 1, 1], cfg);
    c.nodes[0].store.crash_at = Some((k, point));
    c.start_all();
    assert!(
        c.run_until_cond(120_000, |c| !c.is_up(0)),
        "k={k}: validator 0 never reached persist {k}"
    );
    let durable = c.nodes[0].store.load().unwrap();
    if point == CrashPoint::BeforePersist && k == 1 {
        assert_eq!(durable, None);
    }
    c.run_for(down_ms);
    c.start(0);
    let all = [0, 1, 2, 3];
    let target = c.min_height(&[1, 2, 3]) + 10;
    assert!(
        c.run_until_cond(c.now + 120_000, |c| c.min_height(&all) >= target),
        "k={k} {point:?}: stuck at {:?} of {target}",
        all.map(|i| c.committed_height(i))
    );
    assert_eq!(c.nodes[0].crashes, 1);
    let votes_of_0 = c
        .log
        .votes
        .iter()
        .filter(|(_, _, v)| v.signer == vi(0))
        .count();
    assert!(
        votes_of_0 >= 5,
        "the check is not vacuous: {votes_of_0} votes"
    );
    assert_no_conflicting_signatures(&c, vi(0));
    c.assert_agreement();
    // Nothing else went wrong: no faults, and no evidence against an honest validator.
    assert!(
        c.log.faults.is_empty(),
        "k={k} {point:?}: {:?}",
        c.log.faults
    );
    for (_, _, e) in &c.log.evidence {
        assert_eq!(e.offender(), vi(0), "k={k}: evidence against {e:?}");
    }
    Outcome {
        double_proposals: double_proposals(&c, vi(0)),
    }
}

fn sweep(point: CrashPoint, ks: std::ops::RangeInclusive<u64>) -> usize {
    ks.map(|k| crash_once(k, point, 300).double_proposals).sum()
}

#[test]
fn crash_before_persist_1_to_15() {
    let dp = sweep(CrashPoint::BeforePersist, 1..=N / 2);
    assert_eq!(dp, 0, "double proposals");
}

#[test]
fn crash_before_persist_16_to_30() {
    let dp = sweep(CrashPoint::BeforePersist, N / 2 + 1..=N);
    assert_eq!(dp, 0, "double proposals");
}

#[test]
fn crash_after_persist_1_to_15() {
    let dp = sweep(CrashPoint::AfterPersist, 1..=N / 2);
    assert_eq!(dp, 0, "double proposals");
}

#[test]
fn crash_after_persist_16_to_30() {
    let dp = sweep(CrashPoint::AfterPersist, N / 2 + 1..=N);
    assert_eq!(dp, 0, "double proposals");
}

/// Restarting at once (no downtime) and after a long one (the others moved far ahead).
#[test]
fn crash_with_no_downtime_and_with_long_downtime() {
    for k in [3, 8, 13] {
        for point in [CrashPoint::BeforePersist, CrashPoint::AfterPersist] {
            assert_eq!(crash_once(k, point, 0).double_proposals, 0);
            assert_eq!(crash_once(k, point, 20_000).double_proposals, 0);
        }
    }
}

/// Two crashes in a row, the second soon after the restart (while it is still catching up).
#[test]
fn crash_twice() {
    for (k1, k2) in [(5, 2), (10, 1), (12, 4)] {
        for point in [CrashPoint::BeforePersist, CrashPoint::AfterPersist] {
            let mut c = Cluster::new(&[1, 1, 1, 1], test_config());
            c.nodes[0].store.crash_at = Some((k1, point));
            c.start_all();
            assert!(c.run_until_cond(120_000, |c| !c.is_up(0)));
            c.run_for(200);
            let persists = c.nodes[0].store.persists;
            c.nodes[0].store.crash_at = Some((persists + k2, point));
            c.start(0);
            assert!(c.run_until_cond(c.now + 120_000, |c| !c.is_up(0)));
            c.run_for(200);
            c.start(0);
            let all = [0, 1, 2, 3];
            let target = c.min_height(&[1, 2, 3]) + 10;
            assert!(c.run_until_cond(c.now + 120_000, |c| c.min_height(&all) >= target));
            assert_eq!(c.nodes[0].crashes, 2);
            assert_no_conflicting_signatures(&c, vi(0));
            c.assert_agreement();
            assert!(c.log.faults.is_empty(), "{:?}", c.log.faults);
        }
    }
}

/// Every validator crashes (one after the other, overlapping) and comes back: the voted blocks
/// they persisted let the cluster resume.
#[test]
fn whole_cluster_restarts() {
    let mut c = Cluster::new(&[1, 1, 1, 1], test_config());
    c.start_all();
    let all = [0, 1, 2, 3];
    assert!(c.run_until_cond(20_000, |c| c.min_height(&all) >= 10));
    for i in all {
        c.crash(i);
    }
    c.run_for(5_000);
    for i in all {
        c.start(i);
    }
    let target = c.min_height(&all) + 10;
    assert!(
        c.run_until_cond(c.now + 300_000, |c| c.min_height(&all) >= target),
        "stuck at {:?}",
        all.map(|i| c.committed_height(i))
    );
    for i in all {
        assert_no_conflicting_signatures(&c, vi(i));
    }
    c.assert_agreement();
}

// ---------------------------------------------------------------------------------------------
// The SafetyStore contract, for every implementation.

fn sample_blocks() -> Vec<Arc<Block>> {
    let c = committee(&[1, 1, 1, 1]);
    let g = Block::clone(&genesis(&c));
    chain(&c, &g, &[1, 2, 4])
        .into_iter()
        .map(Arc::new)
        .collect()
}

fn sample_data(round: u64) -> SafetyData {
    let c = committee(&[1, 1, 1, 1]);
    let b = &sample_blocks()[1];
    SafetyData {
        last_voted_round: Round(round),
        one_chain_round: Round(1),
        last_vote: Some(sign_vote(&c, 2, vote_data(b))),
        ..SafetyData::new(Epoch(0))
    }
}

/// Runs the contract on a fresh store; `reopen` gives a new handle on the same durable state
/// (as after a process restart).
fn contract<S: SafetyStore>(mut store: S, reopen: impl Fn(S) -> S) {
    assert_eq!(store.load().unwrap(), None);
    assert!(store.load_blocks().unwrap().is_empty());

    store.persist(&sample_data(1)).unwrap();
    assert_eq!(store.load().unwrap(), Some(sample_data(1)));

    // Blocks become durable with the next persist; they come back ascending by height.
    let blocks = sample_blocks();
    store
        .persist_blocks(&[Arc::clone(&blocks[2]), Arc::clone(&blocks[0])])
        .unwrap();
    store.persist_blocks(&[Arc::clone(&blocks[1])]).unwrap();
    store.persist(&sample_data(4)).unwrap();
    let store = reopen(store);
    assert_eq!(store.load().unwrap(), Some(sample_data(4)));
    let loaded = store.load_blocks().unwrap();
    assert_eq!(loaded, blocks, "every block, ascending by height");

    // Persisting a block twice keeps one copy.
    let mut store = store;
    store.persist_blocks(&[Arc::clone(&blocks[1])]).unwrap();
    store.persist(&sample_data(5)).unwrap();
    assert_eq!(store.load_blocks().unwrap().len(), 3);

    // Pruning forgets blocks at or below the committed height.
    store.prune_blocks(Height(2)).unwrap();
    let store = reopen(store);
    let left = store.load_blocks().unwrap();
    assert_eq!(left, [Arc::clone(&blocks[2])]);
    assert_eq!(
        store.load().unwrap(),
        Some(sample_data(5)),
        "pruning keeps safety data"
    );
}

#[test]
fn memory_store_contract() {
    // A clone shares the durable cell, as a disk outlives the process.
    contract(shardnet_consensus::MemorySafetyStore::new(), |s| {
        let again = s.clone();
        drop(s);
        again
    });
}

/// Opens a sled database that was just dropped. sled's background flusher keeps the database
/// (and its file lock) for a moment after the last handle is gone: wait for it, as a
/// restarting process waits for the old one to exit.
#[cfg(feature = "sled-store")]
fn reopen_sled(path: &std::path::Path) -> sled::Db {
    for _ in 0..500 {
        if let Ok(db) = sled::open(path) {
            return db;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the database at {} stayed locked for 5 s", path.display());
}

#[cfg(feature = "sled-store")]
#[test]
fn sled_store_contract_and_reopen() {
    use shardnet_consensus::SledSafetyStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let open = |p: &std::path::Path| SledSafetyStore::open(&reopen_sled(p)).unwrap();
    contract(open(&path), |s| {
        drop(s);
        open(&path)
    });
}

#[cfg(feature = "sled-store")]
#[test]
fn sled_store_reports_corruption() {
    use shardnet_consensus::SledSafetyStore;
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        let mut store = SledSafetyStore::open(&db).unwrap();
        store.persist(&sample_data(3)).unwrap();
        store.persist_blocks(&sample_blocks()[..1]).unwrap();
        store.persist(&sample_data(3)).unwrap();
        // Garbage over the safety data, and a truncated block.
        db.open_tree("consensus-safety")
            .unwrap()
            .insert(b"safety-data", &[0xff, 0x01, 0x02][..])
            .unwrap();
        let blocks = db.open_tree("consensus-blocks").unwrap();
        let (k, v) = blocks.iter().next().unwrap().unwrap();
        blocks.insert(k, &v[..v.len() / 2]).unwrap();
        db.flush().unwrap();
    }
    let db = reopen_sled(dir.path());
    let store = SledSafetyStore::open(&db).unwrap();
    assert!(
        matches!(store.load(), Err(StoreError::Corrupt(_))),
        "{:?}",
        store.load()
    );
    assert!(matches!(store.load_blocks(), Err(StoreError::Corrupt(_))));
}

#[test]
#[should_panic(expected = "safety data only grows")]
fn memory_store_refuses_to_go_backwards() {
    let mut s = shardnet_consensus::MemorySafetyStore::new();
    s.persist(&sample_data(5)).unwrap();
    s.persist(&sample_data(4)).unwrap();
}
