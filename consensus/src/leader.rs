//! Who leads each round (C-5).

use std::collections::BTreeMap;

use shardnet_protocol::{Block, Committee, Round, ValidatorIndex};

/// How leaders are chosen.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum LeaderPolicy {
    /// A stake-weighted schedule: each member leads in proportion to its stake, its rounds
    /// spread evenly over a cycle in a seeded order (C-5).
    #[default]
    StakeWeighted,
    /// The schedule, but skipping validators with `failures` bad outcomes among their last
    /// `window` (rounds they led that failed, or scheduled rounds a substitute led while they
    /// signed nothing), as the committed chain shows them, their rounds going to stake-weighted
    /// draws among the others (liveness only; C-5). The
    /// consensus [`Config`](crate::Config) default.
    Reputation {
        /// How many recent outcomes per validator are remembered.
        window: usize,
        /// Failures within the window that get a validator skipped.
        failures: usize,
        /// Reputation decides only rounds at most this far past the round of the newest
        /// committed block; later rounds go to the schedule. Reputation learns only from
        /// commits, so once none come it can no longer correct itself, and if its choices
        /// are part of why none come (honest validators skipped, substitutes drawn onto a
        /// Byzantine one) the stall would last. `u64::MAX`: no horizon.
        horizon: u64,
    },
}

/// Slots per member in one cycle of the schedule: a member's share of the cycle is its share
/// of the stake to within `1 / (2 * SLOTS_PER_MEMBER)` of an equal share.
const SLOTS_PER_MEMBER: usize = 16;

/// Consecutive rounds each slot of the schedule leads. Two, because a down leader also fails
/// the round before its own (votes go to the next leader, S-6) and a 2-chain commit needs
/// three live leaders in a row: with one round per slot, a validator holding nearly a third
/// of the stake leads about every third round, which leaves no three live leaders in a row
/// while it is down (no commit, so reputation cannot learn); with two, its slots fail three
/// rounds of every six, and the other three are live in a row.
const ROUNDS_PER_SLOT: u64 = 2;

/// Deterministic leader election for one committee.
#[derive(Clone, Debug)]
pub struct LeaderElection {
    policy: LeaderPolicy,
    cumulative: Vec<u64>,
    total: u64,
    seed: [u8; 32],
    /// One cycle of scheduled leaders (C-5): each member's rounds, in proportion to its stake,
    /// spread evenly over the cycle.
    schedule: Vec<ValidatorIndex>,
    /// Where round 0 falls in `schedule`.
    offset: u64,
    /// Per validator, outcomes of its recent scheduled rounds (true = produced a committed
    /// block).
    history: BTreeMap<ValidatorIndex, Vec<bool>>,
    /// Per member, whether reputation skips it; kept in step with `history` by `push`.
    skipped: Vec<bool>,
    /// Stake of the members not skipped.
    eligible_stake: u64,
    /// Round of the newest committed block observed (the reputation horizon counts from it).
    committed_round: Round,
}

impl LeaderElection {
    /// Election over `committee`.
    pub fn new(committee: &Committee, policy: LeaderPolicy) -> Self {
        let mut acc = 0u64;
        let cumulative = committee
            .members()
            .iter()
            .map(|m| {
                acc = acc.saturating_add(m.stake.0);
                acc
            })
            .collect();
        let ctx = committee.signing_context();
        let mut h = blake3::Hasher::new();
        h.update(b"shardnet/leader");
        h.update(&ctx.chain_id.0.to_le_bytes());
        h.update(&ctx.shard.0.to_le_bytes());
        h.update(&ctx.epoch.0.to_le_bytes());
        let seed = *h.finalize().as_bytes();
        let stakes: Vec<u64> = committee.members().iter().map(|m| m.stake.0).collect();
        let schedule = schedule(&stakes, &seed);
        let offset = draw(&seed, u64::MAX, 0) % (schedule.len().max(1) as u64);
        Self {
            policy,
            cumulative,
            total: acc.max(1),
            seed,
            schedule,
            offset,
            history: BTreeMap::new(),
            skipped: vec![false; stakes.len()],
            eligible_stake: acc,
            committed_round: Round(0),
        }
    }

    /// The scheduled leader of `round`, before reputation.
    pub fn elected(&self, round: Round) -> ValidatorIndex {
        if self.schedule.is_empty() {
            return ValidatorIndex(0);
        }
        let slot =
            (round.0 / ROUNDS_PER_SLOT).wrapping_add(self.offset) % self.schedule.len() as u64;
        self.schedule[slot as usize]
    }

    /// A draw for the slot of `round`: both rounds of a slot draw the same, so a substitute
    /// leads the whole slot, as a scheduled leader does (`ROUNDS_PER_SLOT`).
    fn draw(&self, round: Round, attempt: u32) -> u64 {
        draw(&self.seed, round.0 / ROUNDS_PER_SLOT, attempt)
    }

    /// A stake-weighted pseudo-random choice (reputation's substitutes).
    fn pick(&self, round: Round, attempt: u32) -> ValidatorIndex {
        let x = self.draw(round, attempt) % self.total;
        let i = self.cumulative.partition_point(|&c| c <= x);
        ValidatorIndex(i.min(self.cumulative.len().saturating_sub(1)) as u16)
    }

    /// The leader of `round` under the policy.
    pub fn leader(&self, round: Round) -> ValidatorIndex {
        let scheduled = self.elected(round);
        let LeaderPolicy::Reputation { horizon, .. } = self.policy else {
            return scheduled;
        };
        if round.0 > self.committed_round.0.saturating_add(horizon) {
            return scheduled;
        }
        // Reputation only applies while the eligible hold more than a third of the stake, so
        // that some of them are honest. With less (honest validators wrongly blamed, say for
        // rounds lost at startup or under load), skipping would pile every round onto a few
        // validators that may all be Byzantine or about to fail: the schedule is safer.
        if self.eligible_stake.saturating_mul(3) <= self.total || self.eligible(scheduled) {
            return scheduled;
        }
        // A skipped validator's slot goes to a stake-weighted draw (attempt 1, 2, 3), so that
        // its slots are shared by stake rather than piled onto its neighbour in the schedule;
        // then to a stake-weighted choice among the eligible only (attempt 4), so a round never
        // goes to a skipped validator. One draw per slot, not per round: a substitute per
        // round would split the slot between two leaders, and a slot whose second round goes
        // to a failing validator loses its first round too (S-6), which is what two rounds
        // per slot are there to avoid.
        for attempt in 1..4 {
            let candidate = self.pick(round, attempt);
            if self.eligible(candidate) {
                return candidate;
            }
        }
        let mut x = self.draw(round, 4) % self.eligible_stake.max(1);
        let mut below = 0;
        for (i, &upto) in self.cumulative.iter().enumerate() {
            let v = ValidatorIndex(i as u16);
            let stake = upto - below;
            below = upto;
            if !self.eligible(v) {
                continue;
            }
            if x < stake {
                return v;
            }
            x -= stake;
        }
        scheduled
    }

    fn eligible(&self, v: ValidatorIndex) -> bool {
        !self.skipped.get(v.as_usize()).copied().unwrap_or(false)
    }

    /// Feeds one committed block: the rounds between its parent's (the round its QC
    /// certifies) and its own failed, and its own round produced. When a substitute led the
    /// round of a skipped validator, that validator is credited only if it signed the block's
    /// QC (it is alive again); otherwise its round counts as failed, so a crashed validator
    /// stays skipped for as long as it is down instead of being re-admitted (and costing a
    /// timeout) every `window` elections, while its history still only holds recent rounds.
    pub fn observe_committed_block(&mut self, block: &Block) {
        let (parent, round) = (block.justify.round(), block.header.round);
        // The outcomes below are judged by the leaders of the view before this block.
        let newest = self.committed_round.max(round);
        let elected = self.elected(round);
        let proposer = block.header.proposer;
        let alive = proposer == elected || block.justify.signers.contains(elected);
        // A failed round is the fault of whoever led it (a substitute, if the elected
        // validator was skipped), as this validator's view had it then; except the first of
        // a run of two or more: votes go to the next round's leader (S-6), so when that one
        // is down the round before it fails too, and its leader is not to blame.
        let skipped: Vec<u64> = (parent.0.saturating_add(1)..round.0).collect();
        let blamed = if skipped.len() >= 2 {
            &skipped[1..]
        } else {
            &skipped[..]
        };
        let failed: Vec<ValidatorIndex> = blamed.iter().map(|&r| self.leader(Round(r))).collect();
        let mut outcomes: Vec<(ValidatorIndex, bool)> =
            failed.into_iter().map(|v| (v, false)).collect();
        outcomes.push((elected, alive));
        if proposer != elected {
            outcomes.push((proposer, true));
        }
        // Everyone who signed the QC is alive and voting: a good outcome each, so that a
        // validator wrongly blamed (a round lost at startup, or to the network) is eligible
        // again within about `window` blocks instead of `window` of its own elections, and
        // the rounds do not pile onto the few left eligible.
        outcomes.extend(
            block
                .justify
                .signers
                .iter()
                .filter(|&v| v != elected && v != proposer)
                .map(|v| (v, true)),
        );
        self.push(outcomes);
        self.committed_round = newest;
    }

    /// Feeds the outcome of a committed round range: rounds `from..to` (exclusive) were
    /// skipped (their leaders failed) and `to` produced the committed block.
    pub fn observe_committed(&mut self, skipped: impl Iterator<Item = Round>, produced: Round) {
        let elected = self.elected(produced);
        self.record(skipped, (elected, true));
        self.committed_round = self.committed_round.max(produced);
    }

    fn record(&mut self, skipped: impl Iterator<Item = Round>, produced: (ValidatorIndex, bool)) {
        let mut outcomes: Vec<(ValidatorIndex, bool)> =
            skipped.map(|r| (self.elected(r), false)).collect();
        outcomes.push(produced);
        self.push(outcomes);
    }

    fn push(&mut self, outcomes: Vec<(ValidatorIndex, bool)>) {
        let LeaderPolicy::Reputation {
            window, failures, ..
        } = self.policy
        else {
            return;
        };
        for (v, ok) in outcomes {
            let h = self.history.entry(v).or_default();
            h.push(ok);
            if h.len() > window {
                h.remove(0);
            }
            let skip = h.iter().filter(|ok| !**ok).count() >= failures;
            if let Some(s) = self.skipped.get_mut(v.as_usize()) {
                *s = skip;
            }
        }
        let mut below = 0;
        self.eligible_stake = 0;
        for (&upto, &skipped) in self.cumulative.iter().zip(&self.skipped) {
            if !skipped {
                self.eligible_stake += upto - below;
            }
            below = upto;
        }
    }
}

fn draw(seed: &[u8; 32], index: u64, attempt: u32) -> u64 {
    let mut h = blake3::Hasher::new_keyed(seed);
    h.update(&index.to_le_bytes());
    h.update(&attempt.to_le_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.finalize().as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// One cycle of `SLOTS_PER_MEMBER × n` leader slots (C-5).
///
/// Why a schedule and not a draw per round: votes go to the next round's leader (S-6), so a
/// down leader also fails the round before its own, and a 2-chain commit needs three live
/// leaders in a row. Independent draws bunch a down validator's rounds (a quarter of the
/// rounds in a committee of four), leaving stretches with no three live leaders in a row: no
/// commit, so reputation, which learns from commits, cannot skip it. Spreading each member's
/// rounds evenly over the cycle gives every gap between them the length its stake implies.
///
/// Slots are shared by stake with the largest-remainder method (ties to the lower index), so
/// splitting stake over several keys buys no extra rounds beyond rounding. The members are
/// put in a seeded order; member `i`, at position `p` in it and with `s` slots, takes its
/// `k`-th slot at time `(k + p / n) / s` of the cycle, and slots are ordered by time (ties by
/// position). With equal stakes the cycle is a seeded rotation. The phases `p / n` are
/// staggered because aligned ones bunch slots at the cycle's ends: with equal phases a
/// member whose slots are slightly denser than the others' led twice within four rounds.
fn schedule(stakes: &[u64], seed: &[u8; 32]) -> Vec<ValidatorIndex> {
    let n = stakes.len();
    let total: u128 = stakes.iter().map(|&s| u128::from(s)).sum();
    if n == 0 || total == 0 {
        return Vec::new();
    }
    let len = (n * SLOTS_PER_MEMBER) as u128;
    let mut slots: Vec<u128> = stakes
        .iter()
        .map(|&s| u128::from(s) * len / total)
        .collect();
    let assigned: u128 = slots.iter().sum();
    let mut by_remainder: Vec<usize> = (0..n).collect();
    by_remainder.sort_by_key(|&i| std::cmp::Reverse(u128::from(stakes[i]) * len % total));
    for &i in by_remainder.iter().take((len - assigned) as usize) {
        slots[i] += 1;
    }
    // Seeded order of the members: ties go to the earlier, and member `i`'s phase is its
    // position `pos[i]` in it, `pos[i] / n` of a slot.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (draw(seed, i as u64, u32::MAX), i));
    let mut pos = vec![0u128; n];
    for (p, &i) in order.iter().enumerate() {
        pos[i] = p as u128;
    }
    let n128 = n as u128;
    // Slot `k` of member `i` (with `s` slots) at time `(k + pos[i] / n) / s` of the cycle,
    // kept as (numerator k·n + pos[i], denominator n·s, member).
    let mut times: Vec<(u128, u128, usize)> = slots
        .iter()
        .enumerate()
        .flat_map(|(i, &s)| {
            let phase = pos[i];
            (0..s).map(move |k| (k * n128 + phase, n128 * s, i))
        })
        .collect();
    times.sort_by(|a, b| (a.0 * b.1).cmp(&(b.0 * a.1)).then(pos[a.2].cmp(&pos[b.2])));
    times
        .into_iter()
        .map(|(_, _, i)| ValidatorIndex(i as u16))
        .collect()
}
