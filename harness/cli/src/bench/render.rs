//! How a benchmark report looks (design §8 "Benchmarks"): its charts, its
//! tables and its Markdown page, and the words and units they use.

use super::report::{BenchReport, MIB, OPENSSL_ANCHOR, TargetStatus, Unit};
use crate::report::chart::{Bar, BarChart, Reference};
use crate::report::table::{Align, Cell, Status, Style, Table, number};

impl BenchReport {
    /// What `e2eb bench run` prints: the counts, and one line per target
    /// with its verdict and the measured ratio.
    pub fn summary_text(&self) -> String {
        let mut out = format!(
            "{} benchmarks, {} anchors, {} file runs\n",
            self.benchmarks.len(),
            self.anchors.len(),
            self.file_runs.len()
        );
        for t in &self.targets {
            let measured = t
                .measured
                .map(|m| format!("{m:.2} {} (needs {} {} {})", t.unit, t.comparison, t.required, t.unit))
                .unwrap_or_else(|| t.evidence.clone());
            out.push_str(&format!("{:<10} {:<60} {measured}\n", status_word(t.status), t.description));
        }
        out
    }

    /// The throughput chart (bytes per second) with the openssl anchor.
    pub fn throughput_chart(&self) -> BarChart {
        let bars = self
            .benchmarks
            .iter()
            .filter(|m| m.unit == Some(Unit::Bytes))
            .filter_map(|m| {
                let r = m.rate?;
                Some(Bar {
                    label: m.id.clone(),
                    value: r.point / MIB,
                    lower: Some(r.lower / MIB),
                    upper: Some(r.upper / MIB),
                })
            })
            .collect();
        let references = self
            .anchors
            .iter()
            .filter(|a| a.available && a.id == OPENSSL_ANCHOR)
            .filter_map(|a| {
                Some(Reference { label: "openssl AES-256-GCM 16 KiB, 1 core".into(), value: a.rate? / MIB })
            })
            .collect();
        BarChart {
            title: format!("e2eb throughput — {} ({})", self.name, self.mode),
            unit: "MiB/s".into(),
            bars,
            references,
            log_scale: false,
        }
    }

    /// The operations chart (op/s, log scale).
    pub fn operations_chart(&self) -> BarChart {
        let bars = self
            .benchmarks
            .iter()
            .filter(|m| m.unit == Some(Unit::Operations))
            .filter_map(|m| {
                let r = m.rate?;
                Some(Bar { label: m.id.clone(), value: r.point, lower: Some(r.lower), upper: Some(r.upper) })
            })
            .collect();
        BarChart {
            title: format!("e2eb operations — {} ({})", self.name, self.mode),
            unit: "op/s".into(),
            bars,
            references: Vec::new(),
            log_scale: true,
        }
    }

    /// The design §9 targets.
    pub fn targets_table(&self) -> Table {
        let mut t = Table::new(&[
            ("target", Align::Left),
            ("required", Align::Right),
            ("measured", Align::Right),
            ("status", Align::Left),
            ("evidence", Align::Left),
        ]);
        for x in &self.targets {
            t.row(vec![
                x.description.as_str().into(),
                format!("{} {} {}", x.comparison, number(x.required), x.unit).into(),
                x.measured.map(|m| format!("{} {}", number(m), x.unit)).unwrap_or_else(|| "—".into()).into(),
                status_cell(x.status),
                x.evidence.as_str().into(),
            ]);
        }
        t
    }

    /// The anchors: other programs measured in the same run.
    pub fn anchors_table(&self) -> Table {
        let mut t = Table::new(&[
            ("anchor", Align::Left),
            ("rate", Align::Right),
            ("time", Align::Right),
            ("peak RSS", Align::Right),
            ("command", Align::Left),
            ("note", Align::Left),
        ]);
        for a in &self.anchors {
            t.row(vec![
                a.id.as_str().into(),
                if a.available { a.rate.map(fmt_bytes_rate).unwrap_or_else(|| "—".into()) } else { "not run".into() }
                    .into(),
                a.median_s.map(|t| format!("{t:.3} s")).unwrap_or_else(|| "—".into()).into(),
                a.peak_rss_kib.map(fmt_kib).unwrap_or_else(|| "—".into()).into(),
                Cell::new(a.command.as_str()).with_style(Style::Code),
                a.note.as_deref().unwrap_or("").into(),
            ]);
        }
        t
    }

    /// The criterion measurements.
    pub fn benchmarks_table(&self) -> Table {
        let mut t = Table::new(&[
            ("benchmark", Align::Left),
            ("median time [95 % interval]", Align::Right),
            ("rate [95 % interval]", Align::Right),
            ("× anchor", Align::Right),
        ]);
        for m in &self.benchmarks {
            let rate = match (m.rate, m.unit) {
                (Some(r), Some(u)) => format!(
                    "{} [{} – {}] {}",
                    number(u.scale(r.point)),
                    number(u.scale(r.lower)),
                    number(u.scale(r.upper)),
                    u.rate_label()
                ),
                _ => "—".into(),
            };
            t.row(vec![
                m.id.as_str().into(),
                format!(
                    "{} [{} – {}]",
                    fmt_time(m.time_ns.point),
                    fmt_time(m.time_ns.lower),
                    fmt_time(m.time_ns.upper)
                )
                .into(),
                rate.into(),
                m.ratio_to_anchor.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "—".into()).into(),
            ]);
        }
        t
    }

    /// The file-to-file runs of the `e2eb` binary.
    pub fn file_runs_table(&self) -> Table {
        let mut t = Table::new(&[
            ("run", Align::Left),
            ("size", Align::Right),
            ("median time", Align::Right),
            ("rate", Align::Right),
            ("peak RSS", Align::Right),
            ("× anchor", Align::Right),
        ]);
        for r in &self.file_runs {
            t.row(vec![
                r.description.as_str().into(),
                fmt_kib(r.bytes / 1024).into(),
                format!("{:.3} s", r.median_s).into(),
                fmt_bytes_rate(r.rate).into(),
                r.peak_rss_kib.map(fmt_kib).unwrap_or_else(|| "—".into()).into(),
                match (&r.anchor, r.ratio_to_anchor) {
                    (Some(a), Some(x)) => format!("{x:.2}× {a}"),
                    (Some(a), None) => format!("— ({a} not run)"),
                    _ => "—".into(),
                }
                .into(),
            ]);
        }
        t
    }

    /// Renders the report as Markdown; `charts` are file names to link.
    pub fn to_markdown(&self, charts: &[&str]) -> String {
        let mut s = format!("# e2eb benchmark report: {}\n\n", self.name);
        s.push_str(&format!(
            "Mode `{}`, started {}, commit `{}`. Times are criterion medians per iteration with 95 % intervals; \
             ratios are to the anchor measured in the same run.\n\n",
            self.mode, self.created, self.environment.commit
        ));
        for c in charts {
            s.push_str(&format!("![{c}]({c})\n\n"));
        }
        s.push_str("## Targets (docs/design.md §9)\n\n");
        s.push_str(&self.targets_table().to_markdown());
        s.push_str("\n## Anchors\n\n");
        s.push_str(&self.anchors_table().to_markdown());
        s.push_str("\n## Benchmarks\n\n");
        s.push_str(&self.benchmarks_table().to_markdown());
        if !self.file_runs.is_empty() {
            s.push_str("\n## File to file (the `e2eb` binary, durable output)\n\n");
            s.push_str(&self.file_runs_table().to_markdown());
        }
        if let Some(f) = &self.fleet {
            s.push_str(&format!(
                "\n## Fleet\n\n{} recoveries by {} concurrent clients in {:.2} s: **{:.0} recoveries/s**, p50 {:.1} ms, p99 {:.1} ms (5 durable sites, test KSF profile).\n",
                f.recoveries, f.clients, f.seconds, f.recoveries_per_s, f.p50_ms, f.p99_ms
            ));
        }
        s.push_str("\n## Environment\n\n");
        s.push_str(&self.environment.to_markdown());
        if !self.notes.is_empty() {
            s.push_str("\n## Notes\n\n");
            for n in &self.notes {
                s.push_str(&format!("- {n}\n"));
            }
        }
        s
    }
}

/// Word for a target status (plain; tables set a miss in bold).
pub fn status_word(s: TargetStatus) -> &'static str {
    match s {
        TargetStatus::Met => "met",
        TargetStatus::Missed => "MISSED",
        TargetStatus::NotMeasured => "not measured",
    }
}

/// A target status as a table cell: coloured, and bold when missed.
pub fn status_cell(s: TargetStatus) -> Cell {
    let cell = Cell::new(status_word(s));
    match s {
        TargetStatus::Met => cell.with_status(Status::Pass),
        TargetStatus::Missed => cell.with_status(Status::Fail).with_style(Style::Strong),
        TargetStatus::NotMeasured => cell.with_status(Status::Skip),
    }
}

/// Bytes per second in MiB/s.
pub fn fmt_bytes_rate(v: f64) -> String {
    format!("{} MiB/s", number(v / MIB))
}

/// Kibibytes, in MiB when large.
pub fn fmt_kib(kib: u64) -> String {
    if kib >= 1024 { format!("{:.1} MiB", kib as f64 / 1024.0) } else { format!("{kib} KiB") }
}

/// Nanoseconds in a readable unit.
pub fn fmt_time(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.3} s", n / 1e9),
        n if n >= 1e6 => format!("{:.3} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.3} µs", n / 1e3),
        n => format!("{n:.1} ns"),
    }
}
