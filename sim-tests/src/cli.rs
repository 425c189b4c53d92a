//! The runner shell behind `shardnet sim` and `consensus-sim`: loads scenarios, runs seed
//! ranges on worker threads, shows progress on stderr, prints one line per failure with the
//! command that replays it, and maps the outcome to an exit code.
//!
//! It runs anything that implements [`Suite`]: the consensus simulator's
//! [`Scenario`](crate::consensus::Scenario) here, the full-stack turmoil scenarios of
//! `shardnet-fullstack` in the `shardnet` binary. Which scenarios a [`Source`] names is up to
//! the caller's loader ([`main_with`]); [`main`] loads consensus scenarios only.
//!
//! This is the one module of the crate allowed threads and the wall clock (both banned by
//! `sim-tests/clippy.toml` elsewhere): each seed still runs alone in one thread and depends
//! only on (scenario, seed), so `--jobs` changes how fast a sweep runs, never what it finds.
//! Workers only parallelise whole seeds.

use std::io::{IsTerminal, Write};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use crate::consensus::{Report, Scenario, ScenarioError, library, plan, run, run_traced};

/// A family of seeded runs the runner can sweep, whatever stack executes it.
pub trait Suite: Sync {
    /// The scenario's name, in reports.
    fn name(&self) -> &str;
    /// Lines describing the family, printed before a multi-seed sweep.
    fn describe(&self) -> Vec<String>;
    /// Every parameter drawn from `seed`, printed before a single-seed run.
    fn params(&self, seed: u64) -> Vec<String>;
    /// Runs one seed; `traced` keeps a readable event log in the report.
    fn run_seed(&self, seed: u64, traced: bool) -> SeedReport;
}

/// How one seed ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every invariant held and every scheduled fault fired.
    Pass,
    /// A safety invariant broke.
    Safety(String),
    /// Liveness failed, or a scheduled fault never fired (coverage).
    Liveness(String),
}

/// What one seed produced, whatever stack ran it.
#[derive(Clone, Debug)]
pub struct SeedReport {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// How it ended.
    pub verdict: Verdict,
    /// A hash of everything that happened: equal for equal seeds (determinism).
    pub trace_hash: [u8; 32],
    /// Every parameter drawn from the seed.
    pub params: Vec<String>,
    /// Readable event log, when traced.
    pub trace: Vec<String>,
}

impl SeedReport {
    /// The arguments that replay this seed with a trace, the scenario given as
    /// `scenario_arg` (`--scenario NAME` or `--scenario-file PATH`).
    pub fn replay_args(&self, scenario_arg: &str) -> String {
        format!(
            "{scenario_arg} --seeds {}..{} --trace trace.log",
            self.seed,
            self.seed.saturating_add(1)
        )
    }
}

impl From<Report> for SeedReport {
    fn from(r: Report) -> Self {
        let verdict = match &r.violation {
            None => Verdict::Pass,
            Some(v) if v.is_safety() => Verdict::Safety(v.to_string()),
            Some(v) => Verdict::Liveness(v.to_string()),
        };
        Self {
            scenario: r.scenario,
            seed: r.seed,
            verdict,
            trace_hash: r.trace_hash,
            params: r.params,
            trace: r.trace,
        }
    }
}

impl Suite for Scenario {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> Vec<String> {
        Self::describe(self)
    }

    fn params(&self, seed: u64) -> Vec<String> {
        plan(self, seed).params
    }

    fn run_seed(&self, seed: u64, traced: bool) -> SeedReport {
        if traced {
            run_traced(self, seed).into()
        } else {
            run(self, seed).into()
        }
    }
}

/// Scenarios to sweep, each with the argument that names it in a replay command.
pub type Loaded = Vec<(Box<dyn Suite>, String)>;

/// Exit code: every seed passed.
pub const EXIT_PASS: u8 = 0;
/// Exit code: a safety invariant broke (I-1, I-2, I-3, I-5).
pub const EXIT_SAFETY: u8 = 1;
/// Exit code: liveness failed (I-4), or a scenario's fault never fired.
pub const EXIT_LIVENESS: u8 = 2;
/// Exit code: the same seed gave two different traces.
pub const EXIT_NONDETERMINISM: u8 = 3;
/// Exit code: bad arguments or an invalid scenario.
pub const EXIT_USAGE: u8 = 64;

/// Most worker threads (a limit on everything; far above any machine this runs on).
pub const MAX_JOBS: usize = 256;

/// Where a scenario comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An embedded named scenario, or `all` of them.
    Named(String),
    /// A TOML file.
    File(PathBuf),
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The scenarios.
    pub source: Source,
    /// Seeds `A..B`.
    pub seeds: Range<u64>,
    /// Worker threads.
    pub jobs: usize,
    /// Write the event log of the only seed, or of the first failing one, here.
    pub trace: Option<PathBuf>,
    /// Run every seed twice and compare trace hashes.
    pub check_determinism: bool,
    /// The command prefix that reruns this runner, for replay lines (e.g.
    /// `cargo run --profile sim -p shardnet -- sim`).
    pub replay_prefix: String,
}

/// Parses `A..B` (B exclusive, A < B).
pub fn parse_seeds(s: &str) -> Result<Range<u64>, String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("--seeds takes A..B, got `{s}`"))?;
    let a: u64 = a.parse().map_err(|e| format!("--seeds start `{a}`: {e}"))?;
    let b: u64 = b.parse().map_err(|e| format!("--seeds end `{b}`: {e}"))?;
    if a >= b {
        return Err(format!("--seeds {a}..{b} is empty (the end is exclusive)"));
    }
    Ok(a..b)
}

/// The consensus scenarios `source` names, with the argument that names each in a replay
/// command.
pub fn load(source: &Source) -> Result<Vec<(Scenario, String)>, ScenarioError> {
    match source {
        Source::Named(n) if n == "all" => Ok(library::all()?
            .into_iter()
            .map(|s| {
                let arg = format!("--scenario {}", s.name);
                (s, arg)
            })
            .collect()),
        Source::Named(n) => Ok(vec![(library::named(n)?, format!("--scenario {n}"))]),
        Source::File(path) => {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Syntax {
                source_name: name.clone(),
                message: format!("cannot read: {e}"),
            })?;
            let scenario = Scenario::from_toml(&name, &text)?;
            Ok(vec![(scenario, format!("--scenario-file {name}"))])
        }
    }
}

/// [`load`] as a loader for [`main_with`].
pub fn load_consensus(source: &Source) -> Result<Loaded, String> {
    load(source)
        .map(|v| {
            v.into_iter()
                .map(|(s, arg)| (Box::new(s) as Box<dyn Suite>, arg))
                .collect()
        })
        .map_err(|e| e.to_string())
}

/// The outcome of one seed.
#[derive(Debug)]
struct Outcome {
    report: SeedReport,
    nondeterministic: bool,
}

impl Outcome {
    fn code(&self) -> u8 {
        match &self.report.verdict {
            Verdict::Safety(_) => EXIT_SAFETY,
            _ if self.nondeterministic => EXIT_NONDETERMINISM,
            Verdict::Liveness(_) => EXIT_LIVENESS,
            Verdict::Pass => EXIT_PASS,
        }
    }
}

/// Tallies of one scenario's sweep.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Seeds that passed.
    pub passed: u64,
    /// Safety failures.
    pub safety: u64,
    /// Liveness or coverage failures.
    pub liveness: u64,
    /// Nondeterministic seeds.
    pub nondeterministic: u64,
    /// Seeds in order of failure code then seed: `(seed, code)`.
    pub failed_seeds: Vec<(u64, u8)>,
}

impl Tally {
    /// The exit code: safety first, then nondeterminism, then liveness.
    pub fn code(&self) -> u8 {
        if self.safety > 0 {
            EXIT_SAFETY
        } else if self.nondeterministic > 0 {
            EXIT_NONDETERMINISM
        } else if self.liveness > 0 {
            EXIT_LIVENESS
        } else {
            EXIT_PASS
        }
    }

    fn add(&mut self, o: &Outcome) {
        match o.code() {
            EXIT_PASS => self.passed += 1,
            EXIT_SAFETY => self.safety += 1,
            EXIT_NONDETERMINISM => self.nondeterministic += 1,
            _ => self.liveness += 1,
        }
        if o.code() != EXIT_PASS {
            self.failed_seeds.push((o.report.seed, o.code()));
        }
    }
}

/// Runs the sweep `opts` describes over consensus scenarios, printing to stdout (results) and
/// stderr (progress); returns the process exit code.
pub fn main(opts: &Options) -> u8 {
    main_with(opts, &load_consensus)
}

/// [`main`] with the scenarios `loader` finds for `opts.source`.
pub fn main_with(opts: &Options, loader: &dyn Fn(&Source) -> Result<Loaded, String>) -> u8 {
    let scenarios = match loader(&opts.source) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if opts.seeds.is_empty() || opts.jobs == 0 || opts.jobs > MAX_JOBS {
        eprintln!("error: need a non-empty seed range and 1 to {MAX_JOBS} jobs");
        return EXIT_USAGE;
    }
    println!(
        "shardnet sim: commit {}, seeds {}..{}, {} job(s){}",
        crate::GIT_COMMIT,
        opts.seeds.start,
        opts.seeds.end,
        opts.jobs,
        if opts.check_determinism {
            ", checking determinism"
        } else {
            ""
        }
    );
    let mut code = EXIT_PASS;
    let mut traced = false;
    for (scenario, arg) in &scenarios {
        let tally = sweep(opts, scenario.as_ref(), arg, &mut traced);
        code = worst(code, tally.code());
    }
    code
}

/// The more serious of two exit codes (safety, then nondeterminism, then liveness).
fn worst(a: u8, b: u8) -> u8 {
    let rank = |c| match c {
        EXIT_SAFETY => 3,
        EXIT_NONDETERMINISM => 2,
        EXIT_LIVENESS => 1,
        _ => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// Runs one scenario over the seed range on `opts.jobs` workers.
pub fn sweep(opts: &Options, scenario: &dyn Suite, arg: &str, traced: &mut bool) -> Tally {
    let single = opts.seeds.end - opts.seeds.start == 1;
    if single {
        println!("scenario {}, seed {}:", scenario.name(), opts.seeds.start);
        for p in scenario.params(opts.seeds.start) {
            println!("  {p}");
        }
    } else {
        for line in scenario.describe() {
            println!("  {line}");
        }
    }
    let total = opts.seeds.end - opts.seeds.start;
    let next = AtomicU64::new(opts.seeds.start);
    let (tx, rx) = mpsc::channel::<Outcome>();
    let mut tally = Tally::default();
    let mut progress = Progress::new(scenario.name(), total);
    // Seeds run untraced (tracing is slow); a seed whose trace is wanted is replayed traced,
    // which also shows that the replay reproduces it.
    let want_trace = opts.trace.is_some() && !*traced;
    // Threads and the wall clock belong to this shell only (module docs).
    #[allow(clippy::disallowed_methods)]
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.min(usize::try_from(total).unwrap_or(usize::MAX)) {
            let tx = tx.clone();
            let next = &next;
            let end = opts.seeds.end;
            s.spawn(move || {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end {
                        break;
                    }
                    let outcome = run_seed(scenario, seed, opts.check_determinism);
                    if tx.send(outcome).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for outcome in rx {
            tally.add(&outcome);
            let failed = outcome.code() != EXIT_PASS;
            if failed {
                progress.clear();
                println!("{}", failure_line(opts, arg, &outcome));
            }
            if want_trace && !*traced && (failed || single) {
                let replayed = scenario.run_seed(outcome.report.seed, true);
                if replayed.trace_hash != outcome.report.trace_hash {
                    println!(
                        "NONDETERMINISTIC: the traced replay of seed {} differs",
                        outcome.report.seed
                    );
                    tally.nondeterministic += 1;
                }
                *traced = write_trace(opts, &replayed);
            }
            progress.tick(tally.failed_seeds.len() as u64);
        }
    });
    progress.clear();
    tally.failed_seeds.sort_unstable();
    println!(
        "{}: {} passed, {} failed ({} safety, {} liveness/coverage, {} nondeterministic) in {:.1} s, {:.0} seeds/min",
        scenario.name(),
        tally.passed,
        total - tally.passed,
        tally.safety,
        tally.liveness,
        tally.nondeterministic,
        progress.elapsed_s(),
        total as f64 * 60.0 / progress.elapsed_s().max(1e-9)
    );
    tally
}

fn run_seed(scenario: &dyn Suite, seed: u64, check_determinism: bool) -> Outcome {
    let report = scenario.run_seed(seed, false);
    let nondeterministic =
        check_determinism && scenario.run_seed(seed, false).trace_hash != report.trace_hash;
    Outcome {
        report,
        nondeterministic,
    }
}

/// One line per failure: what, where, which code, and how to replay it.
fn failure_line(opts: &Options, arg: &str, o: &Outcome) -> String {
    let r = &o.report;
    let what = match (&r.verdict, o.nondeterministic) {
        (Verdict::Safety(v), _) => format!("SAFETY {v}"),
        (_, true) => "NONDETERMINISTIC: the same seed gave two different traces".to_owned(),
        (Verdict::Liveness(v), false) => format!("LIVENESS {v}"),
        (Verdict::Pass, false) => "passed".to_owned(),
    };
    format!(
        "FAIL scenario {} seed {} commit {}: {what} | replay: {} {}",
        r.scenario,
        r.seed,
        crate::GIT_COMMIT,
        opts.replay_prefix,
        r.replay_args(arg)
    )
}

/// Writes a report's parameters and event log to the trace file; whether it did.
fn write_trace(opts: &Options, r: &SeedReport) -> bool {
    let Some(path) = &opts.trace else {
        return false;
    };
    let mut text = format!(
        "# {} seed {}\n# {}\n",
        r.scenario,
        r.seed,
        r.params.join("\n# ")
    );
    match &r.verdict {
        Verdict::Pass => {}
        Verdict::Safety(v) | Verdict::Liveness(v) => {
            text.push_str(&format!("# violation: {v}\n"));
        }
    }
    text.push_str(&r.trace.join("\n"));
    text.push('\n');
    match std::fs::write(path, text) {
        Ok(()) => {
            eprintln!("trace of seed {} written to {}", r.seed, path.display());
            true
        }
        Err(e) => {
            eprintln!("cannot write {}: {e}", path.display());
            false
        }
    }
}

/// A progress line on stderr: redrawn in place on a terminal, a line per tenth otherwise.
struct Progress {
    name: String,
    total: u64,
    done: u64,
    tty: bool,
    drawn: bool,
    started: std::time::Instant,
    last_tenth: u64,
}

impl Progress {
    #[allow(clippy::disallowed_methods)]
    fn new(name: &str, total: u64) -> Self {
        Self {
            name: name.to_owned(),
            total,
            done: 0,
            tty: std::io::stderr().is_terminal(),
            drawn: false,
            started: std::time::Instant::now(),
            last_tenth: 0,
        }
    }

    fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn tick(&mut self, failed: u64) {
        self.done += 1;
        if self.total < 2 {
            return;
        }
        let line = format!(
            "[{}] {}/{} seeds, {} failed, {:.0} seeds/min",
            self.name,
            self.done,
            self.total,
            failed,
            self.done as f64 * 60.0 / self.elapsed_s().max(1e-9)
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r{line}\x1b[K");
            self.drawn = true;
        } else {
            let tenth = self.done * 10 / self.total;
            if tenth > self.last_tenth {
                self.last_tenth = tenth;
                let _ = writeln!(err, "{line}");
            }
        }
        let _ = err.flush();
    }

    fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}
