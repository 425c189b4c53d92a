//! Selection, removal, and a randomized check that every selected batch executes in full.

use super::*;

#[test]
fn select_orders_senders_by_tip_and_keeps_each_senders_nonce_order() {
    let (mut pool, state, w) = (pool(), rich(), wallets());
    let a0 = add(&mut pool, w[0].tx(0, 100, 2), &state).hash();
    let a1 = add(&mut pool, w[0].tx(1, 100, 9), &state).hash();
    let b0 = add(&mut pool, w[1].tx(0, 100, 5), &state).hash();
    let c0 = add(&mut pool, w[2].tx(0, 100, 1), &state).hash();
    let picked = pool
        .select(&state, BASE_FEE, BLOCK_GAS, 100)
        .expect("select");
    // B (5) first; then A0 (2) unlocks A1 (9); then C (1).
    assert_eq!(hashes(&picked), vec![b0, a0, a1, c0]);
}

#[test]
fn select_breaks_tip_ties_by_hash() {
    let (mut pool, state, w) = (pool(), rich(), wallets());
    let mut expected: Vec<B256> = (0..4)
        .map(|i| add(&mut pool, w[i].tx(0, 100, 3), &state).hash())
        .collect();
    expected.sort();
    let picked = pool
        .select(&state, BASE_FEE, BLOCK_GAS, 100)
        .expect("select");
    assert_eq!(hashes(&picked), expected);
}

#[test]
fn select_skips_nonce_gaps_and_starts_at_the_account_nonce() {
    let w = wallets();
    let state = store([
        account(w[0].address, 3, U256::from(RICH)),
        account(w[1].address, 0, U256::from(RICH)),
    ]);
    let mut pool = pool();
    let a3 = add(&mut pool, w[0].tx(3, 100, 3), &state).hash();
    add(&mut pool, w[0].tx(5, 100, 3), &state); // gap at 4
    add(&mut pool, w[1].tx(1, 100, 3), &state); // gap at 0
    let picked = pool
        .select(&state, BASE_FEE, BLOCK_GAS, 100)
        .expect("select");
    assert_eq!(hashes(&picked), vec![a3]);
}

#[test]
fn select_respects_the_gas_budget() {
    let (mut pool, state, w) = (pool(), rich(), wallets());
    let big = w[0].sign(TxEip1559 {
        gas_limit: 50_000,
        ..eip1559(0, 100, 9)
    });
    add(&mut pool, big, &state);
    let a1 = hash_of(&w[0].tx(1, 100, 9));
    add(&mut pool, w[0].tx(1, 100, 9), &state);
    let b0 = add(&mut pool, w[1].tx(0, 100, 1), &state).hash();
    let b1 = add(&mut pool, w[1].tx(1, 100, 1), &state).hash();
    // 45 000 gas: A's 50 000 does not fit, so A contributes nothing (not even A1); B fits twice.
    let picked = pool.select(&state, BASE_FEE, 45_000, 100).expect("select");
    assert_eq!(hashes(&picked), vec![b0, b1]);
    assert!(!hashes(&picked).contains(&a1));
    let picked = pool.select(&state, BASE_FEE, 21_000, 100).expect("select");
    assert_eq!(hashes(&picked), vec![b0]);
}

#[test]
fn select_respects_max_txs() {
    let (mut pool, state, w) = (pool(), rich(), wallets());
    for wallet in &w[..4] {
        add(&mut pool, wallet.tx(0, 100, 3), &state);
    }
    assert_eq!(
        pool.select(&state, BASE_FEE, BLOCK_GAS, 2)
            .expect("select")
            .len(),
        2
    );
    assert!(
        pool.select(&state, BASE_FEE, BLOCK_GAS, 0)
            .expect("select")
            .is_empty()
    );
}

#[test]
fn select_stops_a_sender_when_the_balance_runs_out() {
    let w = &wallets()[0];
    let one = 21_000 * 100 + 1;
    let state = store([account(w.address, 0, U256::from(2 * one))]);
    let mut pool = pool();
    for n in 0..3 {
        add(&mut pool, w.tx(n, 100, 3), &state);
    }
    let picked = pool
        .select(&state, BASE_FEE, BLOCK_GAS, 100)
        .expect("select");
    assert_eq!(
        picked.iter().map(|t| t.nonce()).collect::<Vec<_>>(),
        vec![0, 1]
    );
}

#[test]
fn select_stops_a_sender_below_a_risen_base_fee() {
    let (mut pool, state, w) = (pool(), rich(), wallets());
    let a0 = add(&mut pool, w[0].tx(0, 100, 3), &state).hash();
    add(&mut pool, w[0].tx(1, 20, 3), &state);
    add(&mut pool, w[0].tx(2, 100, 3), &state);
    add(&mut pool, w[1].tx(0, 20, 3), &state);
    let picked = pool.select(&state, 50, BLOCK_GAS, 100).expect("select");
    assert_eq!(hashes(&picked), vec![a0]);
}

#[test]
fn select_skips_a_sender_that_became_a_contract() {
    let (mut pool, state, w) = (pool(), rich(), &wallets()[0]);
    add(&mut pool, w.tx(0, 100, 3), &state);
    let now = store([AccountRecord {
        code_hash: B256::repeat_byte(0xc0),
        ..account(w.address, 0, U256::from(RICH))
    }]);
    assert!(
        pool.select(&now, BASE_FEE, BLOCK_GAS, 100)
            .expect("select")
            .is_empty()
    );
}

#[test]
fn remove_committed_drops_nonces_below_the_account_nonce() {
    let (mut pool, state, w) = (pool(), rich(), wallets());
    for n in 0..3 {
        add(&mut pool, w[0].tx(n, 100, 3), &state);
    }
    let b0 = add(&mut pool, w[1].tx(0, 100, 3), &state).hash();
    let a2 = hash_of(&w[0].tx(2, 100, 3));
    // A block committed A's nonces 0 and 1; B did nothing.
    let after = store([
        account(w[0].address, 2, U256::from(RICH)),
        account(w[1].address, 0, U256::from(RICH)),
    ]);
    assert_eq!(pool.remove_committed(&after).expect("store"), 2);
    check_invariants(&pool);
    assert_eq!(pool.len(), 2);
    assert!(pool.contains(&a2) && pool.contains(&b0));
    // Everything committed: the sender's entry goes too.
    let done = store([account(w[0].address, 3, U256::from(RICH))]);
    assert_eq!(pool.remove_committed(&done).expect("store"), 1);
    assert_eq!(pool.sender_txs(&w[0].address).count(), 0);
    assert!(!pool.by_sender.contains_key(&w[0].address));
}

#[test]
fn remove_takes_one_transaction() {
    let (mut pool, state, w) = (pool(), rich(), &wallets()[0]);
    let a0 = add(&mut pool, w.tx(0, 100, 3), &state).hash();
    let a1 = add(&mut pool, w.tx(1, 100, 3), &state).hash();
    assert_eq!(pool.remove(&a0).map(|t| t.hash()), Some(a0));
    assert!(pool.remove(&a0).is_none());
    check_invariants(&pool);
    assert!(pool.contains(&a1));
    // A1 now sits behind a gap: not selected.
    assert!(
        pool.select(&state, BASE_FEE, BLOCK_GAS, 100)
            .expect("select")
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// Randomized: whatever was admitted, `select` returns a batch that executes in full.

const SENDERS: usize = 4;
const NONCES: u64 = 6;
/// (max fee, tip) levels; with base fees up to 20, some fall below the base fee.
const FEES: [(u128, u128); 3] = [(12, 1), (30, 4), (60, 9)];

/// Signed transfers for every (sender, nonce, fee level), with varied gas limits; signed once.
fn catalogue() -> &'static Vec<Bytes> {
    static C: OnceLock<Vec<Bytes>> = OnceLock::new();
    C.get_or_init(|| {
        let mut out = Vec::new();
        for w in &wallets()[..SENDERS] {
            for nonce in 0..NONCES {
                for (level, (max_fee, tip)) in FEES.into_iter().enumerate() {
                    out.push(w.sign(TxEip1559 {
                        gas_limit: 21_000 + 7_000 * ((nonce + level as u64) % 3),
                        ..eip1559(nonce, max_fee, tip)
                    }));
                }
            }
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random admissions (in any order, under random bounds and base fees), then a block:
    /// `select` never returns a nonce gap, an unaffordable run or more gas than the budget,
    /// revm executes every selected transaction, and after the block commits
    /// `remove_committed` drops exactly what is now stale.
    #[test]
    fn select_returns_an_executable_batch(
        picks in proptest::collection::vec((0..SENDERS, 0..NONCES, 0..FEES.len()), 0..80),
        nonces in proptest::collection::vec(0..3u64, SENDERS),
        balances in proptest::collection::vec(0..6usize, SENDERS),
        max_txs in 1..24usize,
        max_per_sender in 1..7usize,
        add_fee in 1..12u64,
        block_fee in 1..16u64,
        gas_budget in 0..400_000u64,
        batch in 0..24usize,
    ) {
        let accounts = wallets()[..SENDERS].iter().enumerate().map(|(i, w)| {
            // Nothing, one cheap transfer, a few, or plenty.
            let balance = [0, 21_000 * 12 + 1, 100_000 * 60, RICH, RICH, RICH][balances[i]];
            account(w.address, nonces[i], U256::from(balance))
        });
        let mut state = store(accounts);
        let mut pool = Mempool::new(MempoolConfig { max_txs, max_per_sender, ..config() });
        for (sender, nonce, level) in picks {
            let raw = catalogue()[(sender * NONCES as usize + nonce as usize) * FEES.len() + level]
                .clone();
            let before = pool.len();
            match pool.add(raw, &state, add_fee) {
                Ok(AddOutcome::Added { .. }) => prop_assert_eq!(pool.len(), before + 1),
                Ok(_) => prop_assert_eq!(pool.len(), before),
                Err(e) => {
                    prop_assert!(e.is_rejection());
                    prop_assert_eq!(pool.len(), before);
                }
            }
            check_invariants(&pool);
        }

        let picked = pool.select(&state, block_fee, gas_budget, batch).expect("select");
        prop_assert!(picked.len() <= batch);
        prop_assert!(picked.iter().map(|t| t.gas_limit()).sum::<u64>() <= gas_budget);
        // Per sender: consecutive nonces from the account nonce, affordable in sum.
        let mut next: BTreeMap<Address, (u64, U256)> = BTreeMap::new();
        for tx in &picked {
            let acct = state.account(&hash_address(&tx.sender())).expect("store").expect("funded");
            let (nonce, spent) = next.entry(tx.sender()).or_insert((acct.nonce, U256::ZERO));
            prop_assert_eq!(tx.nonce(), *nonce);
            *nonce += 1;
            *spent += tx.max_cost();
            prop_assert!(*spent <= acct.balance);
            prop_assert!(tx.effective_tip(block_fee).is_some());
        }
        // Deterministic.
        let again = pool.select(&state, block_fee, gas_budget, batch).expect("select");
        prop_assert_eq!(hashes(&picked), hashes(&again));

        // revm agrees: nothing selected is invalid.
        let txs: Vec<RecoveredTx> = picked.iter().map(|t| t.tx().clone()).collect();
        let block_hashes = |_: u64| B256::ZERO;
        let run = execute(&state, &env(block_fee, gas_budget), &block_hashes, &txs)
            .expect("executes");
        for r in &run.txs {
            prop_assert!(r.executed(), "{:?}", r.status);
        }

        // Commit the block: what it included, and nothing else, goes.
        state.apply(&run.changes).expect("memory store");
        let before = pool.len();
        let removed = pool.remove_committed(&state).expect("store");
        check_invariants(&pool);
        prop_assert_eq!(removed, picked.len());
        prop_assert_eq!(pool.len(), before - removed);
        prop_assert!(picked.iter().all(|t| !pool.contains(&t.hash())));
    }
}
