//! How a benchmark report looks (design §8 "Benchmarks"): its charts, its
//! tables, its Markdown page and its self-contained HTML page, and the
//! words and units they use.

use std::fmt::Write as _;

use super::report::{
    AGE_DECRYPT_DISK_ANCHOR, AGE_DECRYPT_DISK_NOSYNC_ANCHOR, AGE_DECRYPT_TMPFS_ANCHOR, AGE_ENCRYPT_DISK_ANCHOR,
    AGE_ENCRYPT_DISK_NOSYNC_ANCHOR, AGE_ENCRYPT_TMPFS_ANCHOR, BenchReport, MIB, OPENSSL_ANCHOR, TargetStatus, Unit,
    busy_id,
};
use crate::report::chart::{Bar, BarChart, Reference};
use crate::report::table::{Align, Cell, Status, Style, Table, number};
use crate::report::xml::escape_text;

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

    /// Rate of a file run or of an available anchor, by id.
    fn rate_of(&self, id: &str) -> Option<f64> {
        self.file_run(id).map(|f| f.rate).or_else(|| self.anchor_rate(id))
    }

    /// v2 next to age on the 1 GiB file, per operation, place and load
    /// (`None` when the run had no age anchor, measured or not).
    pub fn age_table(&self) -> Option<Table> {
        if !self.anchors.iter().any(|a| a.id.starts_with("age-")) {
            return None;
        }
        let mut t = Table::new(&[
            ("operation", Align::Left),
            ("where", Align::Left),
            ("load", Align::Left),
            ("v2", Align::Right),
            ("age", Align::Right),
            ("v2 ÷ age", Align::Right),
        ]);
        let loads = std::iter::once(None).chain(self.busy_cores().map(Some));
        for load in loads {
            for (op, places) in [
                (
                    "encrypt",
                    [
                        ("tmpfs", "v2-encrypt-1GiB-tmpfs", AGE_ENCRYPT_TMPFS_ANCHOR),
                        ("disk, both durable", "v2-encrypt-1GiB", AGE_ENCRYPT_DISK_ANCHOR),
                        ("disk, age not synced (informational)", "v2-encrypt-1GiB", AGE_ENCRYPT_DISK_NOSYNC_ANCHOR),
                    ],
                ),
                (
                    "decrypt",
                    [
                        ("tmpfs", "v2-decrypt-1GiB-tmpfs", AGE_DECRYPT_TMPFS_ANCHOR),
                        ("disk, both durable", "v2-decrypt-1GiB", AGE_DECRYPT_DISK_ANCHOR),
                        ("disk, age not synced (informational)", "v2-decrypt-1GiB", AGE_DECRYPT_DISK_NOSYNC_ANCHOR),
                    ],
                ),
            ] {
                for (place, run, anchor) in places {
                    let id = |x: &str| load.map_or_else(|| x.to_owned(), |n| busy_id(x, n));
                    let (ours, age) = (self.rate_of(&id(run)), self.rate_of(&id(anchor)));
                    t.row(vec![
                        op.into(),
                        place.into(),
                        load.map_or_else(|| "idle".to_owned(), cores_busy).into(),
                        ours.map_or_else(|| "—".into(), fmt_bytes_rate).into(),
                        age.map_or_else(|| "not run".into(), fmt_bytes_rate).into(),
                        ratio_cell(ours, age),
                    ]);
                }
            }
        }
        Some(t)
    }

    /// The busy pass beside the idle one: every run and anchor measured in
    /// both (`None` when the run had no busy pass).
    pub fn busy_table(&self) -> Option<Table> {
        let n = self.busy_cores()?;
        let suffix = busy_id("", n);
        let mut t = Table::new(&[
            ("measured", Align::Left),
            ("idle", Align::Right),
            ("busy", Align::Right),
            ("busy ÷ idle", Align::Right),
        ]);
        let ids = self.file_runs.iter().map(|f| f.id.as_str()).chain(self.anchors.iter().map(|a| a.id.as_str()));
        for busy in ids.filter(|id| id.ends_with(&suffix)) {
            let idle = &busy[..busy.len() - suffix.len()];
            let (i, b) = (self.rate_of(idle), self.rate_of(busy));
            t.row(vec![
                Cell::new(idle).with_style(Style::Code),
                i.map_or_else(|| "—".into(), fmt_bytes_rate).into(),
                b.map_or_else(|| "not run".into(), fmt_bytes_rate).into(),
                ratio_cell(b, i),
            ]);
        }
        Some(t)
    }

    fn busy_heading(&self, n: usize) -> String {
        format!("Busy machine: the 1 GiB runs again beside {}", busy_threads(n))
    }

    /// The report's tables after the targets, each with its heading, in the
    /// order every rendering shows them (Markdown, HTML, the audit page);
    /// sections the run has nothing for are left out.
    pub fn sections(&self) -> Vec<(String, Table)> {
        let mut v = vec![("Anchors".to_owned(), self.anchors_table())];
        if !self.file_runs.is_empty() {
            v.push(("File to file (the e2eb binary, durable output)".to_owned(), self.file_runs_table()));
        }
        if let Some(t) = self.age_table() {
            v.push(("v2 next to age (1 GiB file to file)".to_owned(), t));
        }
        if let (Some(n), Some(t)) = (self.busy_cores(), self.busy_table()) {
            v.push((self.busy_heading(n), t));
        }
        v.push(("Benchmarks".to_owned(), self.benchmarks_table()));
        v
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
        for (heading, table) in self.sections() {
            s.push_str(&format!("\n## {heading}\n\n"));
            s.push_str(&table.to_markdown());
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

    /// The report as one self-contained HTML page (`report.html`): inline
    /// CSS and SVG, no scripts, nothing fetched, like the audit's.
    pub fn to_html(&self) -> String {
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>e2eb benchmark report {}</title>\
             <style>{HTML_STYLE}</style></head><body><h1>e2eb benchmark report: {}</h1>\
             <p>Mode <code>{}</code>, started {}, commit <code>{}</code>. Times are criterion medians per iteration with \
             95 % intervals; ratios are to the anchor measured in the same run.</p>",
            escape_text(&self.name),
            escape_text(&self.name),
            escape_text(&self.mode),
            escape_text(&self.created),
            escape_text(&self.environment.commit)
        );
        h.push_str("<h2>Targets (docs/design.md §9)</h2>");
        h.push_str(&self.targets_table().to_html());
        h.push_str(&self.throughput_chart().to_svg());
        h.push_str(&self.operations_chart().to_svg());
        for (heading, table) in self.sections() {
            let _ = write!(h, "<h2>{}</h2>", escape_text(&heading));
            h.push_str(&table.to_html());
        }
        if let Some(f) = &self.fleet {
            let _ = write!(
                h,
                "<h2>Fleet</h2><p>{} recoveries by {} concurrent clients in {:.2} s: <b>{:.0} recoveries/s</b>, \
                 p50 {:.1} ms, p99 {:.1} ms (5 durable sites, test KSF profile).</p>",
                f.recoveries, f.clients, f.seconds, f.recoveries_per_s, f.p50_ms, f.p99_ms
            );
        }
        let e = &self.environment;
        let _ = write!(
            h,
            "<h2>Environment</h2><table><tr><th>CPU</th><td>{}</td></tr><tr><th>cores</th><td>{}</td></tr>\
             <tr><th>memory</th><td>{} GiB</td></tr><tr><th>OS</th><td>{}</td></tr><tr><th>rustc</th><td>{}</td></tr>\
             <tr><th>commit</th><td><code>{}</code></td></tr></table>",
            escape_text(&e.cpu_model),
            e.cores,
            e.memory_gib,
            escape_text(&e.os),
            escape_text(&e.rustc),
            escape_text(&e.commit)
        );
        if !self.notes.is_empty() {
            h.push_str("<h2>Notes</h2><ul>");
            for n in &self.notes {
                let _ = write!(h, "<li>{}</li>", escape_text(n));
            }
            h.push_str("</ul>");
        }
        h.push_str("</body></html>\n");
        h
    }
}

const HTML_STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}.pass{color:#1a7f37;font-weight:bold}\
.fail{color:#c0392b;font-weight:bold}.skip{color:#777}code{background:#f5f5f5;padding:0 3px}svg{max-width:100%;height:auto}";

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

/// `1 core busy`, `2 cores busy`.
pub fn cores_busy(n: usize) -> String {
    if n == 1 { "1 core busy".into() } else { format!("{n} cores busy") }
}

/// `1 busy-loop thread`, `2 busy-loop threads`.
pub fn busy_threads(n: usize) -> String {
    if n == 1 { "1 busy-loop thread".into() } else { format!("{n} busy-loop threads") }
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

/// `a ÷ b` as a table cell ("—" when either is missing or `b` is zero).
fn ratio_cell(a: Option<f64>, b: Option<f64>) -> Cell {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b).into(),
        _ => "—".into(),
    }
}
