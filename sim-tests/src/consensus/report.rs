//! What one seed produced: counters that prove the faults fired, the first broken invariant,
//! the trace hash that proves determinism, and the command that replays it.

use super::invariants::Violation;

/// Counts of everything that happened, so a scenario can prove its faults fired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages delivered.
    pub delivered: u64,
    /// Messages lost to random loss.
    pub dropped: u64,
    /// Messages cut by a partition.
    pub partitioned: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Crashes (scheduled, of the leader, and at persistence points).
    pub crashes: u64,
    /// Crashes at a persistence point.
    pub persist_crashes: u64,
    /// Timers whose firing time a skewed clock moved.
    pub skewed_timers: u64,
    /// Messages rewritten, withheld or injected by Byzantine validators.
    pub byzantine_actions: u64,
    /// How often each fault-schedule entry fired, in schedule order (episodes opened for a
    /// partition, crashes for a crash, timers moved for a clock skew).
    pub fault_fired: Vec<u64>,
    /// Actions of each Byzantine role, in scenario order.
    pub role_fired: Vec<u64>,
    /// Evidence outputs from honest validators.
    pub evidence: u64,
    /// Fault reports from honest validators.
    pub faults_reported: u64,
    /// Highest committed height.
    pub max_height: u64,
    /// Events processed.
    pub events: u64,
    /// Sum over (honest validator, committed block) of proposal-to-commit time, in ms.
    pub commit_latency_ms_sum: u64,
    /// Number of terms in `commit_latency_ms_sum`.
    pub commit_latency_samples: u64,
}

/// The result of one seed.
#[derive(Clone, Debug)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// Every parameter drawn from the seed.
    pub params: Vec<String>,
    /// The first broken invariant, if any.
    pub violation: Option<Violation>,
    /// blake3 over every processed event: equal for equal seeds (determinism).
    pub trace_hash: [u8; 32],
    /// Counters.
    pub stats: Stats,
    /// Readable event log, when tracing.
    pub trace: Vec<String>,
}

impl Report {
    /// The one command that replays this seed with a trace, for a named scenario.
    pub fn replay_command(&self) -> String {
        format!(
            "cargo run --profile sim -p shardnet -- sim {}",
            self.replay_args(&format!("--scenario {}", self.scenario))
        )
    }

    /// The arguments that replay this seed with a trace, the scenario given as
    /// `scenario_arg` (`--scenario NAME` or `--scenario-file PATH`).
    pub fn replay_args(&self, scenario_arg: &str) -> String {
        format!(
            "{scenario_arg} --seeds {}..{} --trace trace.log",
            self.seed,
            self.seed.saturating_add(1)
        )
    }

    /// One line: outcome, seed, counters; on failure also the parameters and the replay
    /// command.
    pub fn summary(&self) -> String {
        match &self.violation {
            None => format!(
                "ok   {} seed {}: height {}, {} events",
                self.scenario, self.seed, self.stats.max_height, self.stats.events
            ),
            Some(v) => format!(
                "FAIL {} seed {}: {v}\n  params: {}\n  replay: {}",
                self.scenario,
                self.seed,
                self.params.join("; "),
                self.replay_command()
            ),
        }
    }
}

/// A message in one line, for traces.
pub(crate) fn describe(msg: &shardnet_consensus::ConsensusMessage) -> String {
    use shardnet_consensus::ConsensusMessage;
    match msg {
        ConsensusMessage::Proposal(p) => format!(
            "proposal {} {} by {} {:?}",
            p.block.header.round,
            p.block.header.height,
            p.block.header.proposer,
            p.block.hash()
        ),
        ConsensusMessage::Vote(v) => {
            format!("vote {} {:?} by {}", v.data.round, v.data.block, v.signer)
        }
        ConsensusMessage::Timeout(t, _) => format!(
            "timeout {} hqc {} by {}",
            t.round,
            t.high_qc.round(),
            t.signer
        ),
        ConsensusMessage::BlockRequest { hash, count } => {
            format!("block-request {hash:?} x{count}")
        }
        ConsensusMessage::BlockResponse(blocks) => format!(
            "block-response {:?}",
            blocks
                .iter()
                .map(|b| (b.header.height.0, b.hash()))
                .collect::<Vec<_>>()
        ),
        ConsensusMessage::CommittedRequest { from } => format!("committed-request from {from}"),
        ConsensusMessage::CommittedResponse(c) => format!(
            "committed-response {:?}",
            c.iter()
                .map(|c| c.block.header.height.0)
                .collect::<Vec<_>>()
        ),
    }
}
