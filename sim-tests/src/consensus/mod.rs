//! The seeded in-process consensus simulator.
//!
//! ```
//! use shardnet_sim::consensus::{Scenario, run};
//! let report = run(&Scenario::named("lossy-network").unwrap(), 7);
//! assert!(report.violation.is_none(), "{}", report.summary());
//! ```

mod app;
mod byzantine;
mod invariants;
mod network;
mod runner;
mod scenario;

pub use byzantine::Behaviour;
pub use invariants::Violation;
pub use runner::{Report, Stats, run, run_traced};
pub use scenario::{SCENARIOS, Scenario};
