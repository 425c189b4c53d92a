//! The driver of one run: steps the simulation, applies the fault schedule and the workload,
//! and checks the per-step invariants (`check`) after every step.

use super::*;

/// Steps the simulation, applying faults and the workload, checking safety after each step.
pub(super) struct Driver<'a> {
    pub(super) cfg: &'a Config,
    pub(super) world: &'a World,
    pub(super) rng: ChaCha20Rng,
    pub(super) stats: Stats,
    pub(super) commits: check::Commits,
    pub(super) lanes: check::Lanes,
    /// The genesis supply (CS-I3).
    pub(super) supply: U256,
    /// Per shard, the example `Caller` and `Callee` (empty without contract calls).
    pub(super) contracts: Vec<(Address, Address)>,
    /// Indices of the deployers among the wallets.
    pub(super) deployers: std::ops::Range<usize>,
    /// The validator each shard's last `CrashLeader` killed, until restarted.
    pub(super) crashed_leaders: BTreeMap<u16, HostId>,
    /// Hosts armed for a torn crash, until their scheduled restart.
    pub(super) torn_armed: std::collections::BTreeSet<HostId>,
    /// Which twin each host reaches, per twinned key ([`twins`]).
    pub(super) sides: Sides,
    /// The twin splits in force: twinned validator → its two honest groups, cut apart.
    pub(super) splits: BTreeMap<HostId, (Vec<HostId>, Vec<HostId>)>,
}

impl Driver<'_> {
    pub(super) fn drive(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        schedule: &[(Duration, Action)],
        wallets: &mut [Wallet],
    ) -> Exit {
        let mut next_fault = 0;
        let mut next_tx = Duration::from_millis(500);
        let mut next_resubmit = RESUBMIT_EVERY;
        let mut healed = false;
        let mut seen = 0;
        let mut deployed = false;
        self.enforce_twins(sim);
        while sim.elapsed() < self.cfg.duration {
            let now = sim.elapsed();
            if !deployed && now >= Duration::from_millis(300) {
                self.deploy(wallets, now);
                deployed = true;
            }
            while let Some((at, action)) = schedule.get(next_fault)
                && *at <= now
            {
                self.apply(sim, action);
                next_fault += 1;
            }
            if !healed && now >= self.cfg.fault_window.1 {
                self.heal(sim);
                self.enforce_twins(sim);
                healed = true;
            }
            if now >= next_tx && now < self.cfg.workload_until {
                self.transfer(wallets, now);
                next_tx += self.cfg.tx_every;
            }
            if now >= next_resubmit {
                self.resubmit(wallets, now);
                next_resubmit += RESUBMIT_EVERY;
            }
            if let Err(e) = sim.step() {
                return Exit::SafetyViolation(format!("a host failed: {e}"));
            }
            let trace = self
                .world
                .trace
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let committed = trace
                .get(seen..)
                .unwrap_or_default()
                .iter()
                .any(|e| matches!(e, TraceEvent::Commit { .. }));
            seen = trace.len();
            if let Err(e) = self.commits.check(&trace) {
                return Exit::SafetyViolation(e);
            }
            if let Err(e) = self
                .world
                .votes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .check()
            {
                return Exit::SafetyViolation(e);
            }
            drop(trace);
            if let Err(e) = self
                .world
                .deadlines
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .check()
            {
                return Exit::SafetyViolation(e);
            }
            if committed && self.cfg.shards > 1 {
                let hosts: BTreeMap<_, _> = self
                    .world
                    .disks
                    .iter()
                    .map(|(h, d)| (*h, (d.state.lock(), d.outbox.held())))
                    .collect();
                if let Err(e) = self.lanes.check(self.cfg.shards, &hosts) {
                    return Exit::SafetyViolation(e);
                }
            }
            if committed && let Err(e) = self.flight() {
                return Exit::SafetyViolation(e);
            }
        }
        Exit::Ok
    }

    /// CS-I2 and CS-I3 at a consistent cut: each shard's most advanced durable state (once
    /// every shard has written its genesis).
    fn flight(&self) -> Result<(), String> {
        let guards: Vec<_> = self
            .world
            .disks
            .iter()
            .map(|(h, d)| (h.0, d.state.lock()))
            .collect();
        let mut cut: BTreeMap<u16, &shardnet_exec::MemoryStore> = BTreeMap::new();
        for (shard, state) in &guards {
            let Ok(meta) = state.meta() else { continue };
            if meta.state_root == B256::ZERO {
                continue;
            }
            let better = cut
                .get(shard)
                .is_none_or(|c| c.meta().is_ok_and(|m| m.height < meta.height));
            if better {
                cut.insert(*shard, &**state);
            }
        }
        if cut.len() < usize::from(self.cfg.shards) {
            return Ok(());
        }
        self.world
            .flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check(self.cfg.shards, &cut, self.supply)
    }

    fn apply(&mut self, sim: &mut turmoil::Sim<'_>, action: &Action) {
        match action {
            Action::Partition(a, b) => {
                for x in a {
                    for y in b {
                        sim.partition(host_name(*x), host_name(*y));
                    }
                }
                let within = a
                    .iter()
                    .chain(b)
                    .all(|h| h.0 == a.first().map_or(0, |f| f.0));
                if within {
                    self.stats.partitions.0 += 1;
                } else {
                    self.stats.partitions.1 += 1;
                }
            }
            Action::Repair(a, b) => {
                for x in a {
                    for y in b {
                        sim.repair(host_name(*x), host_name(*y));
                    }
                }
            }
            Action::PartitionOneWay(a, b) => {
                for x in a {
                    for y in b {
                        sim.partition_oneway(host_name(*x), host_name(*y));
                    }
                }
                self.stats.one_way += 1;
            }
            Action::RepairOneWay(a, b) => {
                for x in a {
                    for y in b {
                        sim.repair_oneway(host_name(*x), host_name(*y));
                    }
                }
            }
            Action::Crash(h) => {
                sim.crash(host_name(*h));
                self.world.controls.borrow_mut().remove(h);
                self.stats.crashes.0 += 1;
            }
            Action::Restart(h) if self.torn_armed.remove(h) => {
                let disk = self.world.disks.get(h);
                // Armed but never persisted since (cut off, or idle): no crash to recover from.
                if disk.is_some_and(|d| !d.state.disarm()) {
                    self.world.controls.borrow_mut().remove(h);
                    sim.bounce(host_name(*h));
                    self.stats.torn_crashes.1 += 1;
                }
            }
            Action::Restart(h) => {
                sim.bounce(host_name(*h));
                self.stats.crashes.1 += 1;
            }
            Action::ArmTornCrash(h, point) => {
                if let Some(d) = self.world.disks.get(h) {
                    d.state.arm_torn_crash(*point);
                    self.torn_armed.insert(*h);
                }
            }
            Action::CrashLeader(shard) => {
                // The leader of the highest round any live validator of the shard is in.
                let leader = self
                    .world
                    .controls
                    .borrow()
                    .iter()
                    .filter(|(h, _)| h.0 == *shard)
                    .map(|(_, c)| c.status())
                    .max_by_key(|s| s.round)
                    .map(|s| (*shard, s.leader));
                if let Some(h) = leader {
                    sim.crash(host_name(h));
                    self.world.controls.borrow_mut().remove(&h);
                    self.crashed_leaders.insert(*shard, h);
                    self.stats.crashes.0 += 1;
                    self.stats.leader_crashes += 1;
                }
            }
            Action::RestartLeader(shard) => {
                if let Some(h) = self.crashed_leaders.remove(shard) {
                    sim.bounce(host_name(h));
                    self.stats.crashes.1 += 1;
                }
            }
            Action::TwinSplit(k, a, b) => {
                for (group, side) in [(a, Side::A), (b, Side::B)] {
                    for h in group {
                        if self.sides.set(*h, *k, side) != Some(side) {
                            // The stale connection dies with the cut; the new twin's dial
                            // replaces it (T-6.1: same initiator, the newer wins).
                            sim.partition(host_name(*h), host_name(twins::twin(*k, side.other())));
                            sim.repair(host_name(*h), host_name(twins::twin(*k, side)));
                        }
                    }
                }
                self.splits.insert(*k, (a.clone(), b.clone()));
                self.world.twin_split(*k, true);
                self.stats.twin_splits += 1;
            }
            Action::TwinJoin(k, a, b) => {
                self.splits.remove(k);
                self.world.twin_split(*k, false);
                // Group B back with twin A; twin B is cut off until the next split. Unless
                // the groups are kept: then group B stays with twin B.
                if !self.cfg.faults.twins_keep_groups {
                    for h in b {
                        if self.sides.set(*h, *k, Side::A) != Some(Side::A) {
                            sim.partition(host_name(*h), host_name(twins::twin(*k, Side::B)));
                            sim.repair(host_name(*h), host_name(*k));
                        }
                    }
                }
                for x in a {
                    for y in b {
                        sim.repair(host_name(*x), host_name(*y));
                    }
                }
            }
        }
        // Repairs never reconnect a host with the twin it is not on the side of, nor the two
        // groups of a split in force.
        self.enforce_twins(sim);
        push(
            &self.world.trace,
            TraceEvent::Fault {
                at_ms: sim.elapsed().as_millis() as u64,
                action: action.clone(),
            },
        );
    }

    /// Cuts every link the twins' sides and the splits in force forbid.
    fn enforce_twins(&self, sim: &turmoil::Sim<'_>) {
        for (a, b) in self.sides.cuts() {
            sim.partition(host_name(a), host_name(b));
        }
        for (a, b) in self.splits.values() {
            for x in a {
                for y in b {
                    sim.partition(host_name(*x), host_name(*y));
                }
            }
        }
    }

    /// End of the fault window: every link repaired (crashed hosts were restarted by the
    /// schedule, which never leaves one down past the window).
    fn heal(&self, sim: &turmoil::Sim<'_>) {
        for a in &self.world.hosts {
            for b in &self.world.hosts {
                if a < b {
                    sim.repair(host_name(*a), host_name(*b));
                }
            }
        }
    }

    /// Sends `raw` to every live validator of `shard`.
    fn submit(&self, shard: u16, raw: &Bytes) {
        for (host, control) in self.world.controls.borrow().iter() {
            if host.0 != shard {
                continue;
            }
            let (trace, host) = (Arc::clone(&self.world.trace), *host);
            let _ = control.submit(
                raw.0.clone(),
                Box::new(move |r| {
                    push(
                        &trace,
                        TraceEvent::Submitted {
                            at_ms: at_ms(),
                            host,
                            accepted: r.is_ok(),
                            congested: r.as_ref().is_err_and(|e| e.contains("congested")),
                        },
                    );
                }),
            );
        }
    }

    /// The highest committed nonce of `w` among its shard's validators.
    fn committed(&self, w: &Wallet) -> u64 {
        self.world
            .hosts
            .iter()
            .filter(|h| h.0 == w.shard.0 && self.world.honest(**h))
            .map(|h| committed_nonce(self.world, *h, w))
            .max()
            .unwrap_or(0)
    }

    fn transfer(&mut self, wallets: &mut [Wallet], now: Duration) {
        // Contract calls start once both contracts are deployed and the caller funded (its
        // shard's deployer has all three transactions committed), so each one is answered.
        let ready: Vec<bool> = (0..self.cfg.shards)
            .map(|s| {
                self.deployers
                    .clone()
                    .filter_map(|i| wallets.get(i))
                    .find(|d| d.shard.0 == s)
                    .is_some_and(|d| self.committed(d) >= 3)
            })
            .collect();
        let i = below(&mut self.rng, wallets.len());
        let cross = self.cfg.shards > 1 && unit(&mut self.rng) < self.cfg.cross_shard;
        let value = U256::from(1 + below(&mut self.rng, 1_000)) * U256::from(1_000_000_000u64);
        let Some(w) = wallets.get(i) else {
            return;
        };
        if w.next_nonce >= self.committed(w) + workload::MAX_OUTSTANDING {
            return;
        }
        let candidates: Vec<_> = wallets
            .iter()
            .enumerate()
            .filter(|(j, v)| *j != i && (v.shard == w.shard) != cross)
            .map(|(_, v)| v.account.address)
            .collect();
        let Some(to) = candidates
            .get(below(&mut self.rng, candidates.len()))
            .copied()
        else {
            return;
        };
        let Some(w) = wallets.get_mut(i) else {
            return;
        };
        // `calls` of the cross-shard operations are calls (a quarter by default); half of
        // those carry a deadline
        // (height 1) that has passed by the time they arrive, so they time out and refund.
        let kind = unit(&mut self.rng);
        let to_shard = self.world.genesis.shard_map.home(&to).0;
        let contract = match (
            self.contracts.get(usize::from(w.shard.0)),
            self.contracts.get(usize::from(to_shard)),
        ) {
            (Some((caller, _)), Some((_, callee))) => Some((*caller, *callee)),
            _ => None,
        }
        .filter(|_| {
            ready.get(usize::from(w.shard.0)) == Some(&true)
                && ready.get(usize::from(to_shard)) == Some(&true)
        });
        let raw = if let Some((caller, callee)) = contract
            && cross
            && kind >= self.cfg.calls
            && kind < self.cfg.calls + self.cfg.contract_calls
        {
            let value = U256::from(1 + below(&mut self.rng, 1_000));
            let input = if unit(&mut self.rng) < 1.0 / 3.0 {
                self.stats.contract_calls.1 += 1;
                workload::abi_call(
                    "callFail(address,uint256)",
                    &[workload::word_address(callee), workload::word_u256(value)],
                )
            } else {
                self.stats.contract_calls.0 += 1;
                workload::abi_call(
                    "callPing(address,uint256,uint256)",
                    &[
                        workload::word_address(callee),
                        workload::word_u256(U256::from(1 + below(&mut self.rng, 100))),
                        workload::word_u256(value),
                    ],
                )
            };
            workload::contract_tx(
                w,
                Some(caller),
                input,
                U256::ZERO,
                workload::CONTRACT_CALL_GAS,
                now,
            )
        } else if cross && kind < self.cfg.calls / 2.0 {
            self.stats.calls.1 += 1;
            workload::call(w, to, value, 1, now)
        } else if cross && kind < self.cfg.calls {
            self.stats.calls.0 += 1;
            workload::call(w, to, value, 0, now)
        } else {
            if cross {
                self.stats.transfers.1 += 1;
            } else {
                self.stats.transfers.0 += 1;
            }
            workload::transfer(w, to, value, now)
        };
        let Some(raw) = raw else {
            return;
        };
        self.submit(w.shard.0, &raw);
    }

    /// Each shard's deployer creates its `Caller` (nonce 0) and `Callee` (nonce 1) and funds
    /// the `Caller` with 100 ether for the values and prepaid gas of its calls.
    fn deploy(&self, wallets: &mut [Wallet], now: Duration) {
        for (i, (caller, _)) in self.deployers.clone().zip(self.contracts.clone()) {
            let Some(w) = wallets.get_mut(i) else {
                continue;
            };
            let txs = [
                workload::contract_tx(
                    w,
                    None,
                    workload::bytecode("Caller"),
                    U256::ZERO,
                    3_000_000,
                    now,
                ),
                workload::contract_tx(
                    w,
                    None,
                    workload::bytecode("Callee"),
                    U256::ZERO,
                    3_000_000,
                    now,
                ),
                workload::contract_tx(
                    w,
                    Some(caller),
                    Bytes::new(),
                    U256::from(100u64) * U256::from(10u64).pow(U256::from(18)),
                    100_000,
                    now,
                ),
            ];
            let shard = w.shard.0;
            for raw in txs.into_iter().flatten() {
                self.submit(shard, &raw);
            }
        }
    }

    /// Resubmits every wallet's uncommitted transfers (lost with a crashed mempool, or sent
    /// while its shard was cut off).
    fn resubmit(&self, wallets: &[Wallet], now: Duration) {
        for w in wallets {
            let done = self.committed(w);
            for (raw, _) in w
                .signed
                .range(done..w.next_nonce)
                .map(|(_, r)| r)
                .filter(|(_, at)| now.saturating_sub(*at) >= RESUBMIT_AFTER)
            {
                self.submit(w.shard.0, raw);
            }
        }
    }
}
