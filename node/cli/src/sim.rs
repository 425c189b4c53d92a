//! Which scenarios `shardnet sim` runs: the full-stack library (`shardnet-fullstack`: real
//! validators over QUIC on turmoil) first, then the consensus simulator's (`shardnet-sim`),
//! or only the latter with `--consensus`. A scenario file is full stack if it says
//! `stack = "full"`.

use shardnet_fullstack::scenario::{self, FullStack};
use shardnet_sim::cli::{Loaded, Source, Suite, load_consensus};
use shardnet_sim::consensus::library;

/// The scenarios `source` names, each with the arguments that select it in a replay command.
pub(crate) fn load(source: &Source, consensus_only: bool) -> Result<Loaded, String> {
    let consensus = |source: &Source| -> Result<Loaded, String> {
        let mut loaded = load_consensus(source)?;
        // A name both libraries have needs --consensus to replay the consensus one.
        for (suite, arg) in &mut loaded {
            if matches!(source, Source::Named(_)) && scenario::named(suite.name()).is_ok() {
                *arg = format!("--consensus {arg}");
            }
        }
        Ok(loaded)
    };
    if consensus_only {
        return consensus(source);
    }
    match source {
        Source::Named(n) if n == "all" => Ok(scenario::all()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|s| {
                let arg = format!("--scenario {}", s.name);
                (Box::new(FullStack(s)) as Box<dyn Suite>, arg)
            })
            .collect()),
        Source::Named(n) => match scenario::named(n) {
            Ok(s) => Ok(vec![(Box::new(FullStack(s)), format!("--scenario {n}"))]),
            Err(scenario::ScenarioError::Unknown(_)) if library::named(n).is_ok() => {
                consensus(source)
            }
            Err(scenario::ScenarioError::Unknown(_)) => Err(format!(
                "unknown scenario `{n}`; full stack: {}; consensus simulator: {}",
                scenario::names().join(", "),
                library::names().join(", ")
            )),
            Err(e) => Err(e.to_string()),
        },
        Source::File(path) => {
            let name = path.display().to_string();
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
            if scenario::is_full_stack(&text) {
                let s = scenario::Scenario::from_toml(&name, &text).map_err(|e| e.to_string())?;
                Ok(vec![(
                    Box::new(FullStack(s)),
                    format!("--scenario-file {name}"),
                )])
            } else {
                consensus(source)
            }
        }
    }
}
