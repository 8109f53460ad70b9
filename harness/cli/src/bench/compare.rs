//! `e2eb bench compare BASE NEW` (design §8): compares two benchmark
//! reports with their confidence intervals and fails on a significant
//! regression.
//!
//! A benchmark regressed when its median time grew by more than the
//! threshold **and** the two 95 % intervals do not overlap. Either condition
//! alone is not enough: a large change with overlapping intervals is noise
//! on a shared machine, and a non-overlapping change of 1 % is real but not
//! worth failing a merge for. File runs (process timings without intervals)
//! and anchors are compared by median only and never fail the comparison;
//! a moved anchor means the two reports come from different machines or
//! loads, which the output says.
//!
//! The fleet run has no interval either, and its throughput moved by up to
//! a third between runs on the same idle machine (design §9), so it is
//! gated only on a fall the noise never made: recoveries per second below
//! half the base ([`FLEET_FLOOR`]). A slower p99 is a warning.
//!
//! Exit codes (the CLI): 0 no regression, 1 a regression, 2 the reports
//! could not be compared (unreadable, not a report, another schema).

use std::path::Path;

use serde::Serialize;

use crate::bench::report::{BenchReport, Interval, OPENSSL_ANCHOR};

/// What happened to one benchmark.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Slower past the threshold, intervals apart.
    Regression,
    /// Faster past the threshold, intervals apart.
    Improvement,
    /// Within the threshold or the intervals overlap.
    Unchanged,
    /// Only in the new report.
    Added,
    /// Only in the base report.
    Removed,
    /// Only in the base report, which ran in another mode: the new run's
    /// mode does not run it (quick mode skips the large sizes).
    NotInThisMode,
}

/// The fleet throughput gate: a new run below this fraction of the base's
/// recoveries per second is a regression.
pub const FLEET_FLOOR: f64 = 0.5;

/// One compared benchmark.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    /// Benchmark id.
    pub id: String,
    /// Base median time, ns.
    pub base_ns: Option<f64>,
    /// New median time, ns.
    pub new_ns: Option<f64>,
    /// Change of the median time in percent (positive = slower).
    pub change_pct: Option<f64>,
    /// Whether the 95 % intervals overlap.
    pub overlap: Option<bool>,
    /// Verdict.
    pub verdict: Verdict,
}

/// The comparison.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Comparison {
    /// Base report name and commit.
    pub base: String,
    /// New report name and commit.
    pub new: String,
    /// Threshold in percent.
    pub threshold_pct: f64,
    /// Per benchmark.
    pub rows: Vec<Row>,
    /// The fleet's throughput, when both reports have a fleet run.
    pub fleet: Option<FleetChange>,
    /// Number of regressions (benchmarks, and the fleet below [`FLEET_FLOOR`]).
    pub regressions: usize,
    /// Warnings (different machines, moved anchors, different modes).
    pub warnings: Vec<String>,
}

/// The fleet's recoveries per second in both reports.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FleetChange {
    /// Base recoveries per second.
    pub base_per_s: f64,
    /// New recoveries per second.
    pub new_per_s: f64,
    /// Change in percent (negative = slower).
    pub change_pct: f64,
    /// Below [`FLEET_FLOOR`] of the base.
    pub regression: bool,
}

/// Why a comparison could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// A report could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A report is not a benchmark report of this schema.
    #[error("{path} is not an e2eb benchmark report: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        reason: String,
    },
}

/// Reads a report: a `report.json` file or a run directory holding one.
pub fn load(path: &Path) -> Result<BenchReport, CompareError> {
    let file = if path.is_dir() { path.join("report.json") } else { path.to_path_buf() };
    let text = std::fs::read_to_string(&file)
        .map_err(|source| CompareError::Read { path: file.display().to_string(), source })?;
    let report: BenchReport = serde_json::from_str(&text)
        .map_err(|e| CompareError::Parse { path: file.display().to_string(), reason: e.to_string() })?;
    if report.schema != crate::bench::report::SCHEMA {
        return Err(CompareError::Parse {
            path: file.display().to_string(),
            reason: format!("schema {} (this e2eb reads {})", report.schema, crate::bench::report::SCHEMA),
        });
    }
    Ok(report)
}

/// Judges one benchmark.
pub fn judge(base: &Interval, new: &Interval, threshold_pct: f64) -> (f64, bool, Verdict) {
    let change = (new.point / base.point - 1.0) * 100.0;
    let overlap = base.overlaps(new);
    let verdict = if overlap || change.abs() <= threshold_pct {
        Verdict::Unchanged
    } else if change > 0.0 {
        Verdict::Regression
    } else {
        Verdict::Improvement
    };
    (change, overlap, verdict)
}

/// Compares two reports.
pub fn compare(base: &BenchReport, new: &BenchReport, threshold_pct: f64) -> Comparison {
    let mut rows = Vec::new();
    for b in &base.benchmarks {
        match new.measurement(&b.id) {
            Some(n) => {
                let (change, overlap, verdict) = judge(&b.time_ns, &n.time_ns, threshold_pct);
                rows.push(Row {
                    id: b.id.clone(),
                    base_ns: Some(b.time_ns.point),
                    new_ns: Some(n.time_ns.point),
                    change_pct: Some(change),
                    overlap: Some(overlap),
                    verdict,
                });
            }
            None => rows.push(Row {
                id: b.id.clone(),
                base_ns: Some(b.time_ns.point),
                new_ns: None,
                change_pct: None,
                overlap: None,
                verdict: if base.mode == new.mode { Verdict::Removed } else { Verdict::NotInThisMode },
            }),
        }
    }
    for n in new.benchmarks.iter().filter(|n| base.measurement(&n.id).is_none()) {
        rows.push(Row {
            id: n.id.clone(),
            base_ns: None,
            new_ns: Some(n.time_ns.point),
            change_pct: None,
            overlap: None,
            verdict: Verdict::Added,
        });
    }
    let mut warnings = Vec::new();
    if base.environment.cpu_model != new.environment.cpu_model || base.environment.cores != new.environment.cores {
        warnings.push(format!(
            "different machines: {} ({} cores) vs {} ({} cores)",
            base.environment.cpu_model, base.environment.cores, new.environment.cpu_model, new.environment.cores
        ));
    }
    if base.mode != new.mode {
        warnings.push(format!("different modes: {} vs {} (intervals differ in width)", base.mode, new.mode));
    }
    if let (Some(a), Some(b)) = (base.anchor_rate(OPENSSL_ANCHOR), new.anchor_rate(OPENSSL_ANCHOR)) {
        let moved = (b / a - 1.0) * 100.0;
        if moved.abs() > threshold_pct {
            warnings.push(format!(
                "the openssl anchor moved {moved:+.1} % between the runs: the machine or its load differs, so compare the ratios to the anchor too"
            ));
        }
    }
    for fb in &base.file_runs {
        if let Some(fnew) = new.file_run(&fb.id) {
            let change = (fnew.median_s / fb.median_s - 1.0) * 100.0;
            if change > threshold_pct {
                warnings.push(format!(
                    "file run {} took {change:+.1} % longer ({:.3} s → {:.3} s; process timing without an interval, not gated)",
                    fb.id, fb.median_s, fnew.median_s
                ));
            }
        }
    }
    let fleet = match (&base.fleet, &new.fleet) {
        (Some(b), Some(n)) if b.recoveries_per_s > 0.0 => {
            let ratio = n.recoveries_per_s / b.recoveries_per_s;
            if n.p99_ms > 2.0 * b.p99_ms {
                warnings.push(format!(
                    "fleet p99 latency {:.1} ms → {:.1} ms (more than doubled; not gated: p99 varies this much between runs)",
                    b.p99_ms, n.p99_ms
                ));
            }
            Some(FleetChange {
                base_per_s: b.recoveries_per_s,
                new_per_s: n.recoveries_per_s,
                change_pct: (ratio - 1.0) * 100.0,
                regression: ratio < FLEET_FLOOR,
            })
        }
        (Some(_), None) => {
            warnings.push("the new report has no fleet run (the base has one)".into());
            None
        }
        _ => None,
    };
    let regressions = rows.iter().filter(|r| r.verdict == Verdict::Regression).count()
        + usize::from(fleet.as_ref().is_some_and(|f| f.regression));
    Comparison {
        base: format!("{} ({})", base.name, short_commit(&base.environment.commit)),
        new: format!("{} ({})", new.name, short_commit(&new.environment.commit)),
        threshold_pct,
        rows,
        fleet,
        regressions,
        warnings,
    }
}

fn short_commit(c: &str) -> &str {
    c.get(..12).unwrap_or(c)
}

impl Comparison {
    /// The comparison as a plain-text table.
    pub fn to_text(&self) -> String {
        let c = self;
        use crate::bench::render::fmt_time;
        let width = c.rows.iter().map(|r| r.id.len()).max().unwrap_or(9).max(9);
        let mut s = format!("base: {}\nnew:  {}\nthreshold: {} %\n\n", c.base, c.new, c.threshold_pct);
        s.push_str(&format!(
            "{:<width$}  {:>12}  {:>12}  {:>9}  {:>8}  verdict\n",
            "benchmark", "base", "new", "change", "overlap"
        ));
        for r in &c.rows {
            s.push_str(&format!(
                "{:<width$}  {:>12}  {:>12}  {:>9}  {:>8}  {}\n",
                r.id,
                r.base_ns.map(fmt_time).unwrap_or_else(|| "—".into()),
                r.new_ns.map(fmt_time).unwrap_or_else(|| "—".into()),
                r.change_pct.map(|x| format!("{x:+.1} %")).unwrap_or_else(|| "—".into()),
                r.overlap.map(|o| if o { "yes" } else { "no" }).unwrap_or("—"),
                match r.verdict {
                    Verdict::Regression => "REGRESSION",
                    Verdict::Improvement => "improvement",
                    Verdict::Unchanged => "unchanged",
                    Verdict::Added => "added",
                    Verdict::Removed => "removed",
                    Verdict::NotInThisMode => "not run in this mode",
                }
            ));
        }
        if let Some(f) = &c.fleet {
            s.push_str(&format!(
                "{:<width$}  {:>10.0}/s  {:>10.0}/s  {:>9}  {:>8}  {}\n",
                "fleet/recoveries",
                f.base_per_s,
                f.new_per_s,
                format!("{:+.1} %", f.change_pct),
                "—",
                if f.regression { "REGRESSION (below half)" } else { "within the fleet gate" }
            ));
        }
        for w in &c.warnings {
            s.push_str(&format!("warning: {w}\n"));
        }
        s.push_str(&format!(
            "\n{} regression(s) past {} % with disjoint 95 % intervals\n",
            c.regressions, c.threshold_pct
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::{Measurement, Unit};

    fn iv(point: f64, spread: f64) -> Interval {
        Interval { point, lower: point - spread, upper: point + spread }
    }

    #[test]
    fn regression_needs_both_threshold_and_disjoint_intervals() {
        // 20 % slower, tight intervals: regression.
        assert_eq!(judge(&iv(100.0, 1.0), &iv(120.0, 1.0), 5.0).2, Verdict::Regression);
        // 20 % slower but the intervals overlap: noise.
        assert_eq!(judge(&iv(100.0, 15.0), &iv(120.0, 15.0), 5.0).2, Verdict::Unchanged);
        // 3 % slower, disjoint: below the threshold.
        assert_eq!(judge(&iv(100.0, 0.5), &iv(103.0, 0.5), 5.0).2, Verdict::Unchanged);
        // 20 % faster: improvement.
        let (change, overlap, v) = judge(&iv(100.0, 1.0), &iv(80.0, 1.0), 5.0);
        assert_eq!(v, Verdict::Improvement);
        assert!((change + 20.0).abs() < 1e-9 && !overlap);
    }

    #[test]
    fn reports_are_matched_by_id() {
        let base = crate::bench::report::tests::sample();
        let mut new = base.clone();
        new.benchmarks[0].time_ns = iv(2e7, 1e5); // v2/encrypt/64MiB twice as slow
        new.benchmarks.remove(1);
        new.benchmarks.push(Measurement::new(
            "kdf".into(),
            Some("hkdf".into()),
            None,
            iv(500.0, 5.0),
            Some((Unit::Operations, 1)),
        ));
        let c = compare(&base, &new, 5.0);
        assert_eq!(c.regressions, 1);
        let verdict = |id: &str| c.rows.iter().find(|r| r.id == id).unwrap().verdict;
        assert_eq!(verdict("v2/encrypt/64MiB"), Verdict::Regression);
        assert_eq!(verdict("v2/decrypt/64MiB"), Verdict::Removed);
        assert_eq!(verdict("kdf/hkdf"), Verdict::Added);
        assert_eq!(verdict("v2/encrypt_serial/64MiB"), Verdict::Unchanged);
        let text = c.to_text();
        assert!(text.contains("REGRESSION") && text.contains("+100.0 %"), "{text}");
    }

    #[test]
    fn a_benchmark_the_new_mode_does_not_run_is_not_removed() {
        let mut base = crate::bench::report::tests::sample();
        base.mode = "standard".into();
        let mut new = crate::bench::report::tests::sample();
        new.benchmarks.remove(1);
        let c = compare(&base, &new, 5.0);
        let row = c.rows.iter().find(|r| r.id == "v2/decrypt/64MiB").unwrap();
        assert_eq!(row.verdict, Verdict::NotInThisMode);
        assert!(c.to_text().contains("not run in this mode"));
    }

    #[test]
    fn the_fleet_falling_below_half_is_a_regression() {
        let mut base = crate::bench::report::tests::sample();
        let run = |per_s: f64, p99: f64| crate::bench::report::FleetRun {
            recoveries: 1000,
            clients: 16,
            seconds: 1000.0 / per_s,
            recoveries_per_s: per_s,
            p50_ms: 10.0,
            p99_ms: p99,
        };
        base.fleet = Some(run(900.0, 30.0));
        let mut new = base.clone();
        new.fleet = Some(run(300.0, 30.0));
        let c = compare(&base, &new, 5.0);
        assert_eq!(c.regressions, 1, "a third of the throughput");
        assert!(c.to_text().contains("REGRESSION (below half)"), "{}", c.to_text());
        // Within the run-to-run spread: not gated.
        new.fleet = Some(run(650.0, 70.0));
        let c = compare(&base, &new, 5.0);
        assert_eq!(c.regressions, 0);
        assert!(c.warnings.iter().any(|w| w.contains("p99")), "{:?}", c.warnings);
    }

    #[test]
    fn moved_anchor_is_a_warning() {
        let base = crate::bench::report::tests::sample();
        let mut new = base.clone();
        new.anchors[0].rate = new.anchors[0].rate.map(|r| r * 0.5);
        let c = compare(&base, &new, 5.0);
        assert_eq!(c.regressions, 0);
        assert!(c.warnings.iter().any(|w| w.contains("openssl anchor moved")), "{:?}", c.warnings);
    }
}
