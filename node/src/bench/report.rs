//! The bench's results: a summary table (and its Markdown row for `BENCHMARKS.md`) and a
//! hand-written SVG plot of throughput and latency over time.

use std::fmt::Write as _;
use std::time::Duration;

use super::Workload;

/// One transaction's timings, since the run started.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// When it was handed to the mempools.
    pub submitted: Option<Duration>,
    /// When the bench saw it committed.
    pub finalized: Option<Duration>,
    /// For a cross-shard transfer: when the value was on the destination.
    pub arrived: Option<Duration>,
    /// Whether its target is on another shard.
    pub cross: bool,
    /// Whether every mempool refused it.
    pub refused: bool,
    /// Whether it was committed but reverted or halted (receipt status 0).
    pub failed: bool,
}

/// A finished run.
#[derive(Clone, Debug)]
pub struct Report {
    /// Shards.
    pub shards: u16,
    /// Validators per shard.
    pub validators: u16,
    /// Workload.
    pub workload: Workload,
    /// Offered load.
    pub rate_tps: u64,
    /// Cross-shard share.
    pub cross_percent: u8,
    /// Submission time asked for.
    pub duration: Duration,
    /// When the last transaction was submitted.
    pub submitted_until: Duration,
    /// When the run ended (drained or timed out).
    pub elapsed: Duration,
    /// When a validator per shard was stopped.
    pub kill_after: Option<Duration>,
    /// Process CPU seconds over the run.
    pub cpu_seconds: Option<f64>,
    /// Per transaction.
    pub samples: Vec<Sample>,
}

/// One second of the timeline.
struct Second {
    /// Transactions finalized in it.
    finalized: usize,
    /// Their submit-to-final latency, ms.
    p50: Option<f64>,
    p99: Option<f64>,
    /// Cross-shard completion of the arrivals in it, ms.
    cross_p50: Option<f64>,
}

/// The `q` quantile (0..=1) of sorted `v`, nearest rank.
fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v.get(rank - 1).copied()
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |x| format!("{x:.0}"))
}

impl Report {
    fn finality_ms(&self) -> Vec<f64> {
        sorted(
            self.samples
                .iter()
                .filter_map(|s| Some((s.finalized? - s.submitted?).as_secs_f64() * 1e3))
                .collect(),
        )
    }

    fn completion_ms(&self) -> Vec<f64> {
        sorted(
            self.samples
                .iter()
                .filter_map(|s| Some((s.arrived? - s.submitted?).as_secs_f64() * 1e3))
                .collect(),
        )
    }

    fn finalized(&self) -> usize {
        self.samples
            .iter()
            .filter(|s| s.finalized.is_some())
            .count()
    }

    /// Finalized transactions per second, from the start to the last commit.
    pub fn finalized_tps(&self) -> f64 {
        let last = self
            .samples
            .iter()
            .filter_map(|s| s.finalized)
            .max()
            .unwrap_or(self.elapsed);
        self.finalized() as f64 / last.as_secs_f64().max(1e-3)
    }

    /// CPU seconds per 1,000 finalized transactions per validator.
    pub fn cpu_per_1000(&self) -> Option<f64> {
        let validators = f64::from(self.shards) * f64::from(self.validators);
        let k = self.finalized() as f64 / 1000.0;
        self.cpu_seconds
            .filter(|_| k > 0.0)
            .map(|c| c / k / validators)
    }

    /// The summary, for a terminal.
    pub fn table(&self) -> String {
        let fin = self.finality_ms();
        let cx = self.completion_ms();
        let cross = self.samples.iter().filter(|s| s.cross).count();
        let refused = self.samples.iter().filter(|s| s.refused).count();
        let mut out = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(out, "  {k:<40} {v}");
        };
        row(
            "cluster",
            format!("{} shard(s) x {} validators", self.shards, self.validators),
        );
        row(
            "workload",
            format!(
                "{:?}, {}% cross-shard, offered {} tx/s for {:.0} s{}",
                self.workload,
                self.cross_percent,
                self.rate_tps,
                self.duration.as_secs_f64(),
                self.kill_after.map_or(String::new(), |k| format!(
                    ", last validator of each shard stopped at {:.0} s",
                    k.as_secs_f64()
                ))
            ),
        );
        row(
            "transactions submitted / refused / final",
            format!(
                "{} / {refused} / {} ({cross} cross-shard; {} reverted)",
                self.samples
                    .iter()
                    .filter(|s| s.submitted.is_some())
                    .count(),
                self.finalized(),
                self.samples.iter().filter(|s| s.failed).count()
            ),
        );
        row("finalized tx/s", format!("{:.1}", self.finalized_tps()));
        row(
            "submit -> final p50 / p99 (ms)",
            format!("{} / {}", ms(quantile(&fin, 0.5)), ms(quantile(&fin, 0.99))),
        );
        row(
            "cross-shard completion p50 / p99 (ms)",
            if cx.is_empty() {
                "n/a (transfers only)".into()
            } else {
                format!(
                    "{} / {} ({} arrived)",
                    ms(quantile(&cx, 0.5)),
                    ms(quantile(&cx, 0.99)),
                    cx.len()
                )
            },
        );
        row(
            "finalized per second",
            self.timeline()
                .iter()
                .map(|s| s.finalized.to_string())
                .collect::<Vec<_>>()
                .join(" "),
        );
        row(
            "CPU s per 1,000 tx per validator",
            self.cpu_per_1000().map_or("n/a".into(), |c| {
                format!(
                    "{c:.3} (process CPU {:.1} s / {} validators)",
                    self.cpu_seconds.unwrap_or(0.0),
                    u32::from(self.shards) * u32::from(self.validators)
                )
            }),
        );
        out
    }

    /// The same as one Markdown table row (see `BENCHMARKS.md` for the header).
    pub fn markdown_row(&self) -> String {
        let fin = self.finality_ms();
        let cx = self.completion_ms();
        format!(
            "| {} | {} | {:?} | {}% | {}{} | {:.1} | {} / {} | {} / {} | {} |",
            self.shards,
            self.validators,
            self.workload,
            self.cross_percent,
            self.rate_tps,
            self.kill_after
                .map_or(String::new(), |k| format!(", kill@{:.0}s", k.as_secs_f64())),
            self.finalized_tps(),
            ms(quantile(&fin, 0.5)),
            ms(quantile(&fin, 0.99)),
            ms(quantile(&cx, 0.5)),
            ms(quantile(&cx, 0.99)),
            self.cpu_per_1000()
                .map_or("n/a".into(), |c| format!("{c:.3}")),
        )
    }

    /// Per second of the run: finalized count, p50 and p99 finality latency of the
    /// transactions finalized in it, p50 cross-shard completion of the arrivals in it.
    fn timeline(&self) -> Vec<Second> {
        let secs = self.elapsed.as_secs() as usize + 1;
        let mut fin: Vec<Vec<f64>> = vec![Vec::new(); secs];
        let mut arr: Vec<Vec<f64>> = vec![Vec::new(); secs];
        for s in &self.samples {
            if let (Some(a), Some(f)) = (s.submitted, s.finalized)
                && let Some(b) = fin.get_mut(f.as_secs() as usize)
            {
                b.push((f - a).as_secs_f64() * 1e3);
            }
            if let (Some(a), Some(r)) = (s.submitted, s.arrived)
                && let Some(b) = arr.get_mut(r.as_secs() as usize)
            {
                b.push((r - a).as_secs_f64() * 1e3);
            }
        }
        fin.into_iter()
            .zip(arr)
            .map(|(f, a)| {
                let f = sorted(f);
                let a = sorted(a);
                Second {
                    finalized: f.len(),
                    p50: quantile(&f, 0.5),
                    p99: quantile(&f, 0.99),
                    cross_p50: quantile(&a, 0.5),
                }
            })
            .collect()
    }

    /// Throughput (top) and latency (bottom) per second, as a self-contained SVG.
    pub fn svg(&self) -> String {
        const W: f64 = 900.0;
        const H: f64 = 560.0;
        const LEFT: f64 = 70.0;
        const RIGHT: f64 = 20.0;
        let t = self.timeline();
        let n = t.len().max(2) as f64;
        let x = |i: f64| LEFT + (W - LEFT - RIGHT) * (i + 0.5) / n;
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(svg, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = writeln!(
            svg,
            r#"<text x="{LEFT}" y="18" font-size="14">shardnet bench: {} shard(s) x {} validators, {:?}, {}% cross-shard, offered {} tx/s</text>"#,
            self.shards, self.validators, self.workload, self.cross_percent, self.rate_tps
        );
        let tps: Vec<Option<f64>> = t.iter().map(|r| Some(r.finalized as f64)).collect();
        let offered: Vec<Option<f64>> = (0..t.len())
            .map(|i| (i as f64) < self.submitted_until.as_secs_f64())
            .map(|on| on.then_some(self.rate_tps as f64))
            .collect();
        panel(
            &mut svg,
            &x,
            (40.0, 250.0),
            "finalized tx/s",
            &[
                ("finalized", "#1f77b4", "", &tps),
                ("offered", "#888", "6,4", &offered),
            ],
        );
        let p50: Vec<Option<f64>> = t.iter().map(|r| r.p50).collect();
        let p99: Vec<Option<f64>> = t.iter().map(|r| r.p99).collect();
        let cross: Vec<Option<f64>> = t.iter().map(|r| r.cross_p50).collect();
        panel(
            &mut svg,
            &x,
            (300.0, 510.0),
            "latency (ms)",
            &[
                ("submit→final p50", "#ff7f0e", "", &p50),
                ("submit→final p99", "#d62728", "", &p99),
                ("cross-shard completion p50", "#2ca02c", "", &cross),
            ],
        );
        for i in (0..t.len()).step_by((t.len() / 10).max(1)) {
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="530" text-anchor="middle">{i}</text>"#,
                x(i as f64)
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="550" text-anchor="middle">seconds since the first submission</text>"#,
            (LEFT + W - RIGHT) / 2.0
        );
        if let Some(k) = self.kill_after {
            let kx = x(k.as_secs_f64() - 0.5);
            let _ = writeln!(
                svg,
                r##"<line x1="{kx:.1}" y1="40" x2="{kx:.1}" y2="510" stroke="#d62728" stroke-dasharray="3,3"/><text x="{:.1}" y="52" fill="#d62728">validator stopped</text>"##,
                kx + 4.0
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

type Series<'a> = (&'a str, &'a str, &'a str, &'a [Option<f64>]);

/// One panel between `top` and `bottom`: axes, y ticks, a polyline per series, a legend.
fn panel(
    svg: &mut String,
    x: &dyn Fn(f64) -> f64,
    (top, bottom): (f64, f64),
    label: &str,
    series: &[Series<'_>],
) {
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 880.0;
    let max = series
        .iter()
        .flat_map(|s| s.3.iter().flatten())
        .copied()
        .fold(0.0f64, f64::max);
    let max = nice(max.max(1.0));
    let y = |v: f64| bottom - (bottom - top) * v / max;
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" y1="{bottom}" x2="{RIGHT}" y2="{bottom}" stroke="#000"/><line x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{bottom}" stroke="#000"/>"##
    );
    for k in 0..=4 {
        let v = max * f64::from(k) / 4.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{RIGHT}" y2="{yy:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v:.0}</text>"##,
            LEFT - 6.0,
            y(v) + 4.0,
            yy = y(v)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">{label}</text>"#,
        (top + bottom) / 2.0,
        (top + bottom) / 2.0
    );
    for (k, (name, color, dash, values)) in series.iter().enumerate() {
        // Gaps (no data in a second) split the line.
        let mut runs: Vec<Vec<String>> = vec![Vec::new()];
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(v) => {
                    if let Some(r) = runs.last_mut() {
                        r.push(format!("{:.1},{:.1}", x(i as f64), y(*v)));
                    }
                }
                None => runs.push(Vec::new()),
            }
        }
        for r in runs.iter().filter(|r| !r.is_empty()) {
            let _ = writeln!(
                svg,
                r#"<polyline fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}" points="{}"/>"#,
                r.join(" ")
            );
        }
        let ly = top + 14.0 + 16.0 * k as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/><text x="{:.1}" y="{:.1}">{name}</text>"#,
            RIGHT - 200.0,
            RIGHT - 175.0,
            RIGHT - 170.0,
            ly + 4.0
        );
    }
}

/// The least of 1, 2, 5 × 10^k at or above `v`.
fn nice(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|c| *c >= v)
        .unwrap_or(v)
}
