//! The performance side of the audit (design §8 "Audit": "benchmarks with
//! the machine's load and the ratio to the committed baseline"; §9 targets).
//! Its verdict is kept apart from the security verdict: a target missed on a
//! shared, busy machine says something about the machine as much as about
//! the code, so it is a finding with the load it was measured under and the
//! baseline's number beside it, and `e2eb bench compare` is the gate.

use std::path::Path;

use serde::Serialize;

use crate::bench::report::{BenchReport, TargetStatus};

/// Where the committed baseline report is, from the repository root.
pub const BASELINE: &str = "reports/baseline/report.json";
/// Share of the machine's CPU time that other processes may take during the
/// benchmarks before the measurement is called loaded. (The load average
/// cannot say it: the audit's own threads are in it.)
pub const LOADED_SHARE: f64 = 0.25;

/// CPU time at one moment: the machine's, busy and in all, and this
/// process's with its waited-for children (the anchors), in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSample {
    busy: u64,
    total: u64,
    ours: u64,
}

impl CpuSample {
    /// From `/proc/stat` and `/proc/self/stat` (`None` where they cannot be read).
    pub fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        Self::parse(&stat, &own)
    }

    fn parse(stat: &str, own: &str) -> Option<Self> {
        let cpu: Vec<u64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        // user nice system idle iowait irq softirq steal (guest time is in user already).
        let field = |i: usize| cpu.get(i).copied().unwrap_or(0);
        let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
        let total = busy + field(3) + field(4);
        // After the command name (which may hold spaces), utime, stime,
        // cutime and cstime are the 12th to 15th fields.
        let rest: Vec<&str> = own.rsplit_once(')')?.1.split_whitespace().collect();
        let ours = (11..15).map(|i| rest.get(i).and_then(|v| v.parse::<u64>().ok())).sum::<Option<u64>>()?;
        Some(Self { busy, total, ours })
    }

    /// The share of the machine's CPU time (0 to 1) that other processes
    /// used between `self` and `later`.
    pub fn others_share(&self, later: &Self) -> Option<f64> {
        let total = later.total.checked_sub(self.total).filter(|t| *t > 0)?;
        let busy = later.busy.saturating_sub(self.busy);
        let ours = later.ours.saturating_sub(self.ours);
        Some((busy.saturating_sub(ours) as f64 / total as f64).clamp(0.0, 1.0))
    }
}

/// `/proc/loadavg`: 1, 5 and 15 minute load averages.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Load {
    /// Over one minute.
    pub one: f64,
    /// Over five minutes.
    pub five: f64,
    /// Over fifteen minutes.
    pub fifteen: f64,
}

impl Load {
    /// The load now (`None` where `/proc/loadavg` cannot be read).
    pub fn now() -> Option<Self> {
        let text = std::fs::read_to_string("/proc/loadavg").ok()?;
        let mut it = text.split_whitespace().map(str::parse::<f64>);
        match (it.next(), it.next(), it.next()) {
            (Some(Ok(one)), Some(Ok(five)), Some(Ok(fifteen))) => Some(Self { one, five, fifteen }),
            _ => None,
        }
    }

    /// `0.42 / 0.80 / 1.10`.
    pub fn text(&self) -> String {
        format!("{:.2} / {:.2} / {:.2}", self.one, self.five, self.fifteen)
    }
}

/// A §9 target as this run measured it and as the baseline did.
#[derive(Debug, Clone, Serialize)]
pub struct TargetVsBaseline {
    /// The target's id.
    pub id: String,
    /// What it is.
    pub description: String,
    /// `met`, `MISSED` or `not measured` in this run.
    pub status: String,
    /// This run's value.
    pub measured: Option<f64>,
    /// The baseline's value of the same target.
    pub baseline: Option<f64>,
    /// measured / baseline.
    pub ratio: Option<f64>,
    /// The unit of both.
    pub unit: String,
}

/// The performance verdict and what it rests on.
#[derive(Debug, Clone, Serialize)]
pub struct Performance {
    /// `met` (every measured target), `missed`, or `not measured`.
    pub verdict: String,
    /// Load averages when the benchmarks started and ended.
    pub load_before: Option<Load>,
    /// See `load_before`.
    pub load_after: Option<Load>,
    /// Cores of the machine.
    pub cores: usize,
    /// The share of the machine's CPU time other processes used while the
    /// benchmarks ran (0 to 1), when it could be measured.
    pub others_cpu: Option<f64>,
    /// Whether `others_cpu` passed [`LOADED_SHARE`].
    pub loaded: bool,
    /// The baseline compared with, when it could be read.
    pub baseline: Option<String>,
    /// Each target, here and in the baseline.
    pub targets: Vec<TargetVsBaseline>,
    /// Why this verdict does not decide the audit's, in words.
    pub explanation: String,
}

/// The performance verdict of a run with `bench` (or without): the loads
/// before and after the benchmarks, the share of the CPU other processes
/// took meanwhile, and the baseline under `repo`.
pub fn assess(
    bench: Option<&BenchReport>,
    (before, after): (Option<Load>, Option<Load>),
    others_cpu: Option<f64>,
    cores: usize,
    repo: &Path,
) -> Performance {
    let baseline: Option<BenchReport> =
        std::fs::read_to_string(repo.join(BASELINE)).ok().and_then(|t| serde_json::from_str(&t).ok());
    let loaded = others_cpu.is_some_and(|s| s > LOADED_SHARE);
    let (verdict, targets, explanation) = match bench {
        None => {
            ("not measured", Vec::new(), "The benchmarks did not run, so no design §9 target was measured.".to_owned())
        }
        Some(b) => {
            let targets = beside_baseline(b, baseline.as_ref());
            let missed = targets.iter().filter(|t| t.status == "MISSED").count();
            let met = targets.iter().filter(|t| t.status == "met").count();
            let verdict = match (missed, met) {
                (0, 0) => "not measured",
                (0, _) => "met",
                _ => "missed",
            };
            let others = others_cpu.map_or_else(
                || "other processes' share of the CPU unknown".to_owned(),
                |s| format!("other processes took {:.0} % of the machine's CPU time meanwhile", s * 100.0),
            );
            let load = match (before, after) {
                (Some(a), Some(z)) => format!(
                    "load average {} before and {} after the benchmarks on {cores} cores; {others}",
                    a.text(),
                    z.text()
                ),
                _ => format!("{cores} cores; {others}"),
            };
            let explanation = format!(
                "Performance: {met} of the design §9 targets met, {missed} missed, {} not measured in {} mode ({load}{}). \
                 This verdict does not decide the audit's: targets are judged on whatever machine runs the audit, and a \
                 shared or busy machine must not turn a slow measurement into a security failure. Each missed target is a \
                 finding with the baseline's number beside it; `e2eb bench compare {BASELINE} NEW` is the gate for speed, \
                 and a target missed under load is re-measured on an idle machine.",
                targets.len() - met - missed,
                b.mode,
                if loaded { "; LOADED: the numbers understate this code" } else { "" }
            );
            (verdict, targets, explanation)
        }
    };
    Performance {
        verdict: verdict.into(),
        load_before: before,
        load_after: after,
        cores,
        others_cpu,
        loaded,
        baseline: baseline.map(|_| BASELINE.into()),
        targets,
        explanation,
    }
}

/// Each target of `b` with the baseline's value of it and the ratio.
fn beside_baseline(b: &BenchReport, baseline: Option<&BenchReport>) -> Vec<TargetVsBaseline> {
    b.targets
        .iter()
        .map(|t| {
            let base = baseline.and_then(|x| x.targets.iter().find(|y| y.id == t.id)).and_then(|y| y.measured);
            // A ratio of two overheads in percent (or of numbers of
            // opposite sign) means nothing: those are compared by eye.
            let ratio = match (t.measured, base) {
                (Some(m), Some(b)) if t.unit != "%" && m > 0.0 && b > 0.0 => Some(m / b),
                _ => None,
            };
            TargetVsBaseline {
                id: t.id.clone(),
                description: t.description.clone(),
                status: match t.status {
                    TargetStatus::Met => "met",
                    TargetStatus::Missed => "MISSED",
                    TargetStatus::NotMeasured => "not measured",
                }
                .into(),
                measured: t.measured,
                baseline: base,
                ratio,
                unit: t.unit.clone(),
            }
        })
        .collect()
}

/// The targets beside the baseline, as a report table.
pub fn performance_table(p: &Performance) -> crate::report::table::Table {
    use crate::report::table::{Align, Cell, Status, Table, number};
    let mut t = Table::new(&[
        ("target", Align::Left),
        ("this run", Align::Right),
        ("baseline", Align::Right),
        ("ratio", Align::Right),
        ("unit", Align::Left),
        ("result", Align::Left),
    ]);
    for x in &p.targets {
        let status = match x.status.as_str() {
            "met" => Status::Pass,
            "MISSED" => Status::Fail,
            _ => Status::Skip,
        };
        t.row(vec![
            x.description.as_str().into(),
            x.measured.map_or_else(|| "—".into(), number).into(),
            x.baseline.map_or_else(|| "—".into(), number).into(),
            x.ratio.map_or_else(|| "—".into(), |r| format!("{r:.2}×")).into(),
            x.unit.as_str().into(),
            Cell::new(x.status.as_str()).with_status(status),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  100 5 50 800 20 3 2 10 0 0\ncpu0 50 2 25 400 10 1 1 5 0 0\n";

    #[test]
    fn other_processes_share_is_the_machines_busy_time_less_ours() {
        // comm with a space and a parenthesis, then 12 fields before utime.
        let own = |ticks: u64| format!("42 (e2eb (x)) R 1 42 42 0 -1 4194304 10 0 0 0 {ticks} 0 0 0 20 0 8 0 100");
        let a = CpuSample::parse(STAT, &own(30)).unwrap_or_else(|| panic!("parse"));
        assert_eq!(a, CpuSample { busy: 170, total: 990, ours: 30 });
        // 100 more ticks pass on the machine, 60 busy, 20 of them ours.
        let later = "cpu  140 5 60 840 20 3 2 20 0 0\n";
        let b = CpuSample::parse(later, &own(50)).unwrap_or_else(|| panic!("parse"));
        let share = a.others_share(&b).unwrap_or(f64::NAN);
        assert!((share - 0.40).abs() < 1e-9, "{share}");
        assert_eq!(b.others_share(&a), None, "time does not run backwards");
        assert!(CpuSample::now().is_some(), "/proc is readable here");
    }
}
