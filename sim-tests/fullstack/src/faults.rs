//! The seeded fault schedule: partitions within a shard (one validator cut off from the rest
//! of its committee, both ways or only what it sends), partitions between shards (every validator of one shard from every
//! validator of another), crash and restart of hosts (at most one host of a shard down at a
//! time), all inside the fault window; datagram loss and duplication below QUIC throughout.
//! Everything is healed at the end of the window. With twins (`crate::twins`), twin splits:
//! the honest validators of a twinned validator's shard drawn into two groups, each with its
//! own twin, cut from each other for a while.

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::storage::TornPoint;
use crate::workload::below;

/// A host, by shard and committee index.
pub type HostId = (u16, u16);

/// One scheduled fault action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Cut every link between the two groups.
    Partition(Vec<HostId>, Vec<HostId>),
    /// Restore every link between the two groups.
    Repair(Vec<HostId>, Vec<HostId>),
    /// Cut only what the first group sends to the second.
    PartitionOneWay(Vec<HostId>, Vec<HostId>),
    /// Restore what the first group sends to the second.
    RepairOneWay(Vec<HostId>, Vec<HostId>),
    /// Kill a host: its tasks and unflushed writes are gone.
    Crash(HostId),
    /// Start a crashed host again from its disk.
    Restart(HostId),
    /// Kill whoever leads the shard's current round (as its live validators see it).
    CrashLeader(u16),
    /// The host dies at that point of its next commit.
    ArmTornCrash(HostId, TornPoint),
    /// Start the validator the last `CrashLeader` of the shard killed.
    RestartLeader(u16),
    /// Twinned validator `.0`: the honest validators of its shard in `.1` now reach only
    /// twin A, those in `.2` only twin B, and the two groups are cut from each other.
    TwinSplit(HostId, Vec<HostId>, Vec<HostId>),
    /// The two groups of a twin split reach each other again (each keeps its twin).
    TwinJoin(HostId, Vec<HostId>, Vec<HostId>),
}

/// How many faults of each kind to schedule, and the datagram fault rates.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultPlan {
    /// Partitions of one validator from the rest of its shard.
    pub partitions_within: usize,
    /// Partitions between two shards.
    pub partitions_between: usize,
    /// One-way partitions: what one validator sends to the rest of its shard is lost, what
    /// it receives is not.
    pub one_way: usize,
    /// Crash + restart pairs.
    pub crashes: usize,
    /// Crash + restart pairs of whoever leads the shard's round at the time.
    pub leader_crashes: usize,
    /// Crashes in the middle of a persist (+ restart): armed at a random time, they happen at
    /// the host's next commit, at its ledger entry or inside its state persist (the write lost
    /// or landed), or inside its next safety-data persist (the write lost).
    pub torn_crashes: usize,
    /// Twin splits (`Action::TwinSplit`), each of a random twinned validator; none without
    /// twins.
    pub twin_splits: usize,
    /// When a twin split ends, its group B stays with twin B (the two groups reach each
    /// other again): from the first split on, the key's two twins each reach part of the
    /// committee for the rest of the run, an equivocating validator that never goes quiet.
    pub twins_keep_groups: bool,
    /// Probability that a datagram is lost (below QUIC).
    pub datagram_drop: f64,
    /// Probability that a datagram is sent twice.
    pub datagram_duplicate: f64,
    /// Shortest and longest fault, milliseconds.
    pub fault_ms: (u64, u64),
}

impl FaultPlan {
    /// No faults at all.
    pub const NONE: Self = Self {
        partitions_within: 0,
        partitions_between: 0,
        one_way: 0,
        crashes: 0,
        leader_crashes: 0,
        torn_crashes: 0,
        twin_splits: 0,
        twins_keep_groups: false,
        datagram_drop: 0.0,
        datagram_duplicate: 0.0,
        fault_ms: (0, 0),
    };
}

/// Draws the schedule: `(time, action)`, sorted by time (stable for equal times). `twinned`
/// are the twinned validators (`crate::twins`), for the twin splits.
pub fn schedule(
    seed: u64,
    plan: &FaultPlan,
    shards: u16,
    validators: u16,
    twinned: &[HostId],
    window: (Duration, Duration),
) -> Vec<(Duration, Action)> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0xfa17_5eed);
    let (start, end) = (window.0.as_millis() as u64, window.1.as_millis() as u64);
    let interval = |rng: &mut ChaCha20Rng| {
        let len =
            plan.fault_ms.0 + below(rng, (plan.fault_ms.1 - plan.fault_ms.0 + 1) as usize) as u64;
        let len = len.min(end.saturating_sub(start));
        let at = start + below(rng, (end - start - len + 1) as usize) as u64;
        (Duration::from_millis(at), Duration::from_millis(at + len))
    };
    let shard_hosts = |s: u16| (0..validators).map(|v| (s, v)).collect::<Vec<_>>();
    let mut out = Vec::new();
    for _ in 0..plan.partitions_within {
        let (a, b) = interval(&mut rng);
        let s = below(&mut rng, usize::from(shards)) as u16;
        let v = below(&mut rng, usize::from(validators)) as u16;
        let rest: Vec<_> = shard_hosts(s).into_iter().filter(|h| h.1 != v).collect();
        out.push((a, Action::Partition(vec![(s, v)], rest.clone())));
        out.push((b, Action::Repair(vec![(s, v)], rest)));
    }
    for _ in 0..plan.one_way {
        let (a, b) = interval(&mut rng);
        let s = below(&mut rng, usize::from(shards)) as u16;
        let v = below(&mut rng, usize::from(validators)) as u16;
        let rest: Vec<_> = shard_hosts(s).into_iter().filter(|h| h.1 != v).collect();
        out.push((a, Action::PartitionOneWay(vec![(s, v)], rest.clone())));
        out.push((b, Action::RepairOneWay(vec![(s, v)], rest)));
    }
    if shards > 1 {
        for _ in 0..plan.partitions_between {
            let (a, b) = interval(&mut rng);
            let s = below(&mut rng, usize::from(shards)) as u16;
            let t = (s + 1 + below(&mut rng, usize::from(shards - 1)) as u16) % shards;
            out.push((a, Action::Partition(shard_hosts(s), shard_hosts(t))));
            out.push((b, Action::Repair(shard_hosts(s), shard_hosts(t))));
        }
    }
    // Crashes: at most one host of a shard down at a time, 500 ms apart; a draw that
    // overlaps another outage of its shard is drawn again (up to 8 times), and the kinds take
    // turns, so that a crowded window still gets every kind it asks for.
    let mut busy: Vec<Vec<(u64, u64)>> = vec![Vec::new(); usize::from(shards)];
    let kinds = plan.crashes.max(plan.leader_crashes).max(plan.torn_crashes);
    for i in 0..kinds {
        for kind in 0..3 {
            let count = [plan.crashes, plan.leader_crashes, plan.torn_crashes][kind];
            if i >= count {
                continue;
            }
            for _ in 0..8 {
                let (a, b) = interval(&mut rng);
                let s = below(&mut rng, usize::from(shards)) as u16;
                let v = if kind == 1 {
                    0
                } else {
                    below(&mut rng, usize::from(validators)) as u16
                };
                let point = [
                    TornPoint::StateLost,
                    TornPoint::StateLanded,
                    TornPoint::BeforeLedger,
                    TornPoint::SafetyLost,
                ][if kind == 2 { below(&mut rng, 4) } else { 0 }];
                // A torn crash waits for the host's next commit: arm it for at least 2 s.
                let len = if kind == 2 {
                    (b - a).max(Duration::from_secs(2))
                } else {
                    b - a
                };
                let (from, to) = (a.as_millis() as u64, (a + len).as_millis() as u64);
                let Some(outages) = busy.get_mut(usize::from(s)) else {
                    break;
                };
                let free = outages
                    .iter()
                    .all(|(x, y)| to + 500 <= *x || from >= y + 500);
                if to > end || !free {
                    continue;
                }
                outages.push((from, to));
                let (down, up) = match kind {
                    0 => (Action::Crash((s, v)), Action::Restart((s, v))),
                    1 => (Action::CrashLeader(s), Action::RestartLeader(s)),
                    _ => (Action::ArmTornCrash((s, v), point), Action::Restart((s, v))),
                };
                out.push((a, down));
                out.push((a + len, up));
                break;
            }
        }
    }
    // Twin splits: a fresh split of the honest validators into two non-empty groups, one
    // split of a key at a time (a draw that overlaps another of the same key is drawn again,
    // up to 8 times). Drawn last, from their own stream, so that adding them leaves the
    // other faults of a seed where they were.
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0x7e1a_5eed);
    let mut splits: Vec<(HostId, u64, u64)> = Vec::new();
    for _ in 0..plan.twin_splits {
        for _ in 0..8 {
            let (a, b) = interval(&mut rng);
            let Some(&k) = twinned.get(below(&mut rng, twinned.len())) else {
                break;
            };
            let honest: Vec<HostId> = shard_hosts(k.0).into_iter().filter(|h| *h != k).collect();
            let (from, to) = (a.as_millis() as u64, b.as_millis() as u64);
            if honest.len() < 2
                || splits
                    .iter()
                    .any(|(x, f, t)| *x == k && from < t + 500 && *f < to + 500)
            {
                continue;
            }
            let (ga, gb) = split_groups(&mut rng, &honest);
            splits.push((k, from, to));
            out.push((a, Action::TwinSplit(k, ga.clone(), gb.clone())));
            out.push((b, Action::TwinJoin(k, ga, gb)));
            break;
        }
    }
    out.sort_by_key(|(at, _)| *at);
    out
}

/// `hosts` (at least two) drawn into two non-empty groups, in their order.
pub fn split_groups(rng: &mut ChaCha20Rng, hosts: &[HostId]) -> (Vec<HostId>, Vec<HostId>) {
    let n = hosts.len().min(16);
    // A proper, non-empty subset: a mask in 1 ..= 2^n − 2.
    let mask = 1 + below(rng, (1usize << n).saturating_sub(2).max(1));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (i, h) in hosts.iter().enumerate() {
        if i < n && mask & (1 << i) != 0 {
            a.push(*h);
        } else {
            b.push(*h);
        }
    }
    (a, b)
}
