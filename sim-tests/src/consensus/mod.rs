//! The seeded in-process consensus simulator.
//!
//! Scenarios are TOML data ([`Scenario`], format in `sim-tests/scenarios/README.md`); the
//! named ones are embedded ([`library`]). A run draws its fault plan from the seed
//! ([`plan()`]), runs real cores under it, and reports ([`Report`]).
//!
//! ```
//! use shardnet_sim::consensus::{library, run};
//! let scenario = library::named("lossy-network").unwrap();
//! let report = run(&scenario, 7);
//! assert!(report.violation.is_none(), "{}", report.summary());
//! ```

mod app;
mod byzantine;
mod invariants;
pub mod library;
mod network;
mod plan;
mod report;
mod runner;
mod scenario;

pub use byzantine::Behaviour;
pub use invariants::Violation;
pub use plan::{Plan, plan};
pub use report::{Report, Stats};
pub use runner::{run, run_traced};
pub use scenario::{
    Draw, DurationSpec, Fault, Liveness, MAX_DRIFT_PPM, MAX_DURATION_MS, MAX_FAULTS,
    MAX_VALIDATORS, NetworkSpec, Pick, RandomWord, Role, Scenario, ScenarioError, Side, SignedDraw,
    Target, Toggle, Topology,
};
