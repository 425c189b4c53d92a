#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod common;
use common::*;

#[test]
fn four_equal_validators_commit() {
    let mut c = Cluster::new(&[1, 1, 1, 1], test_config());
    c.start_all();
    c.run_until(5_000);
    for i in 0..4 {
        eprintln!(
            "node {i}: height {} round {:?}",
            c.committed_height(i),
            c.core(i).round()
        );
    }
    eprintln!(
        "sent {:?} tcs {:?} steps {}",
        c.log.sent,
        c.tc_rounds(),
        c.steps
    );
    c.assert_agreement();
}
