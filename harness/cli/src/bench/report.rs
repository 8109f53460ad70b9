//! The benchmark report (design §8 "Benchmarks", §9 "Targets"): what
//! `e2eb bench run` writes as `report.json` and `report.md`, what
//! `e2eb bench compare` reads back, and the §9 targets evaluated as ratios
//! to the anchors measured in the same run.
//!
//! Every time is criterion's median per iteration with its 95 % bootstrap
//! interval; rates are derived from it (bytes or operations per iteration
//! divided by the time), so a rate's interval is the time's interval
//! inverted. Anchors are measurements of other programs on the same machine
//! in the same run, which is what makes reports from different machines
//! comparable as ratios.

use serde::{Deserialize, Serialize};

use crate::environment::Environment;
use crate::report::chart::{Bar, BarChart, Reference};
use crate::report::table::{Align, Cell, Status, Style, Table, number};

/// Version of the report schema; bumped on incompatible changes.
pub const SCHEMA: u32 = 1;

/// Anchor id of `openssl speed -evp aes-256-gcm` at 16 KiB, one core.
pub const OPENSSL_ANCHOR: &str = "openssl-aes-256-gcm-16KiB";
/// Anchor id of wa-crypt-tools' `waencrypt` on the SQLite database.
pub const WA_ENCRYPT_ANCHOR: &str = "wa-crypt-tools-encrypt";
/// Anchor id of wa-crypt-tools' `wadecrypt` on the SQLite database.
pub const WA_DECRYPT_ANCHOR: &str = "wa-crypt-tools-decrypt";
/// Anchor id of `dd bs=1M conv=fsync` copying the 1 GiB file.
pub const DD_ANCHOR: &str = "dd-copy-1GiB";

/// A whole benchmark run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BenchReport {
    /// [`SCHEMA`].
    pub schema: u32,
    /// The run's name (`--name`).
    pub name: String,
    /// `quick`, `standard` or `full`.
    pub mode: String,
    /// When the run started (RFC 3339, UTC).
    pub created: String,
    /// Machine and build.
    pub environment: Environment,
    /// Criterion measurements.
    pub benchmarks: Vec<Measurement>,
    /// Other programs measured in the same run.
    pub anchors: Vec<Anchor>,
    /// File-to-file runs of the `e2eb` binary (durable output).
    pub file_runs: Vec<FileRun>,
    /// Fleet throughput and latency from the fleet harness.
    pub fleet: Option<FleetRun>,
    /// design §9 targets.
    pub targets: Vec<TargetCheck>,
    /// Anything the reader should know about how the numbers were taken.
    pub notes: Vec<String>,
}

/// A point estimate with its 95 % interval.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Interval {
    /// Point estimate.
    pub point: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

impl Interval {
    /// Whether two intervals share any value.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.lower <= other.upper && other.lower <= self.upper
    }
}

/// What one iteration of a benchmark processes.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Bytes of plaintext.
    Bytes,
    /// Operations (key derivations, logins, recoveries).
    Operations,
}

impl Unit {
    /// Unit of the rate.
    pub fn rate_label(self) -> &'static str {
        match self {
            Unit::Bytes => "MiB/s",
            Unit::Operations => "op/s",
        }
    }

    /// Scales a per-second rate into [`Self::rate_label`]'s unit.
    pub fn scale(self, per_second: f64) -> f64 {
        match self {
            Unit::Bytes => per_second / MIB,
            Unit::Operations => per_second,
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// One criterion benchmark.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Measurement {
    /// `group/function/parameter`, e.g. `v2/encrypt/64MiB`.
    pub id: String,
    /// Criterion group.
    pub group: String,
    /// Function within the group.
    pub function: Option<String>,
    /// Parameter (input size).
    pub parameter: Option<String>,
    /// Median time per iteration in nanoseconds, with its 95 % interval.
    pub time_ns: Interval,
    /// What one iteration processes.
    pub unit: Option<Unit>,
    /// Bytes or operations per iteration.
    pub per_iteration: Option<u64>,
    /// Rate per second (bytes/s or op/s) with its interval.
    pub rate: Option<Interval>,
    /// The anchor this rate is compared with.
    pub anchor: Option<String>,
    /// `rate / anchor rate`.
    pub ratio_to_anchor: Option<f64>,
}

impl Measurement {
    /// Builds a measurement and derives its rate from the time.
    pub fn new(
        group: String,
        function: Option<String>,
        parameter: Option<String>,
        time_ns: Interval,
        throughput: Option<(Unit, u64)>,
    ) -> Self {
        let id = std::iter::once(group.as_str())
            .chain(function.as_deref())
            .chain(parameter.as_deref())
            .collect::<Vec<_>>()
            .join("/");
        let rate = throughput.and_then(|(_, n)| rate_from_time(n, &time_ns));
        Self {
            id,
            group,
            function,
            parameter,
            time_ns,
            unit: throughput.map(|t| t.0),
            per_iteration: throughput.map(|t| t.1),
            rate,
            anchor: None,
            ratio_to_anchor: None,
        }
    }
}

/// `n` units per iteration over a time interval in ns → units per second.
/// The slowest time gives the lowest rate.
pub fn rate_from_time(n: u64, time_ns: &Interval) -> Option<Interval> {
    let per_s = |ns: f64| if ns > 0.0 { Some(n as f64 * 1e9 / ns) } else { None };
    Some(Interval { point: per_s(time_ns.point)?, lower: per_s(time_ns.upper)?, upper: per_s(time_ns.lower)? })
}

/// Another program measured in the same run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Anchor {
    /// Stable id ([`OPENSSL_ANCHOR`], …).
    pub id: String,
    /// What was measured.
    pub description: String,
    /// The command line.
    pub command: String,
    /// Whether the program was found and ran.
    pub available: bool,
    /// Bytes per second.
    pub rate: Option<f64>,
    /// Median wall time of the runs, seconds (file anchors).
    pub median_s: Option<f64>,
    /// Peak resident memory, KiB (file anchors).
    pub peak_rss_kib: Option<u64>,
    /// Why it is missing, or how it was taken.
    pub note: Option<String>,
}

/// One file-to-file operation of the `e2eb` binary, timed as a process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileRun {
    /// Stable id, e.g. `crypt15-encrypt-sqlite`.
    pub id: String,
    /// What was done.
    pub description: String,
    /// Plaintext bytes.
    pub bytes: u64,
    /// Wall time of every run, seconds.
    pub runs_s: Vec<f64>,
    /// Median of `runs_s`.
    pub median_s: f64,
    /// `bytes / median_s`.
    pub rate: f64,
    /// Largest peak resident memory over the runs, KiB.
    pub peak_rss_kib: Option<u64>,
    /// The anchor it is compared with.
    pub anchor: Option<String>,
    /// `rate / anchor rate`.
    pub ratio_to_anchor: Option<f64>,
}

/// Fleet recoveries per second and latency percentiles.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FleetRun {
    /// Recoveries completed.
    pub recoveries: u64,
    /// Concurrent clients.
    pub clients: u64,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Recoveries per second.
    pub recoveries_per_s: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
}

/// Whether a target holds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TargetStatus {
    /// Measured and met.
    Met,
    /// Measured and missed.
    Missed,
    /// Not measured in this run (mode, or a missing anchor).
    NotMeasured,
}

/// One design §9 target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TargetCheck {
    /// Stable id.
    pub id: String,
    /// The target in words.
    pub description: String,
    /// `>=` or `<=`.
    pub comparison: String,
    /// Required value.
    pub required: f64,
    /// Measured value.
    pub measured: Option<f64>,
    /// Unit of `required` and `measured` (`x`, `%`, `MiB`, `rec/s`, `ms`).
    pub unit: String,
    /// Verdict.
    pub status: TargetStatus,
    /// Where the number comes from, or why it is missing.
    pub evidence: String,
}

impl BenchReport {
    /// The measurement with this id.
    pub fn measurement(&self, id: &str) -> Option<&Measurement> {
        self.benchmarks.iter().find(|m| m.id == id)
    }

    /// The anchor with this id, if it ran.
    pub fn anchor_rate(&self, id: &str) -> Option<f64> {
        self.anchors.iter().find(|a| a.id == id && a.available).and_then(|a| a.rate)
    }

    /// The file run with this id.
    pub fn file_run(&self, id: &str) -> Option<&FileRun> {
        self.file_runs.iter().find(|r| r.id == id)
    }

    /// Fills every ratio to an anchor and evaluates the §9 targets.
    pub fn derive(&mut self) {
        let openssl = self.anchor_rate(OPENSSL_ANCHOR);
        for m in &mut self.benchmarks {
            if m.unit == Some(Unit::Bytes) {
                m.anchor = Some(OPENSSL_ANCHOR.to_owned());
                m.ratio_to_anchor = match (m.rate, openssl) {
                    (Some(r), Some(a)) if a > 0.0 => Some(r.point / a),
                    _ => None,
                };
            }
        }
        let rates: Vec<(String, Option<f64>)> = self.anchors.iter().map(|a| (a.id.clone(), a.rate)).collect();
        for run in &mut self.file_runs {
            if let Some(anchor) = &run.anchor {
                let rate = rates.iter().find(|(id, _)| id == anchor).and_then(|(_, r)| *r);
                run.ratio_to_anchor = rate.filter(|a| *a > 0.0).map(|a| run.rate / a);
            }
        }
        self.targets = targets(self);
    }

    /// True when no measured target was missed.
    pub fn targets_met(&self) -> bool {
        self.targets.iter().all(|t| t.status != TargetStatus::Missed)
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

struct Spec {
    id: &'static str,
    description: &'static str,
    comparison: &'static str,
    required: f64,
    unit: &'static str,
}

fn check(spec: Spec, measured: Result<f64, String>, evidence: impl FnOnce(f64) -> String) -> TargetCheck {
    let (status, measured, evidence) = match measured {
        Ok(v) => {
            let ok = if spec.comparison == ">=" { v >= spec.required } else { v <= spec.required };
            (if ok { TargetStatus::Met } else { TargetStatus::Missed }, Some(v), evidence(v))
        }
        Err(why) => (TargetStatus::NotMeasured, None, why),
    };
    TargetCheck {
        id: spec.id.into(),
        description: spec.description.into(),
        comparison: spec.comparison.into(),
        required: spec.required,
        measured,
        unit: spec.unit.into(),
        status,
        evidence,
    }
}

fn rate_of(r: &BenchReport, id: &str) -> Result<f64, String> {
    r.measurement(id).and_then(|m| m.rate).map(|x| x.point).ok_or_else(|| format!("{id} not in this run"))
}

fn time_of(r: &BenchReport, id: &str) -> Result<f64, String> {
    r.measurement(id).map(|m| m.time_ns.point).ok_or_else(|| format!("{id} not in this run"))
}

fn openssl(r: &BenchReport) -> Result<f64, String> {
    r.anchor_rate(OPENSSL_ANCHOR).ok_or_else(|| "openssl anchor not measured (openssl missing?)".to_owned())
}

fn file_ratio(r: &BenchReport, id: &str) -> Result<f64, String> {
    let run = r.file_run(id).ok_or_else(|| format!("file run {id} not in this run"))?;
    run.ratio_to_anchor.ok_or_else(|| format!("{id}: anchor {} not measured", run.anchor.as_deref().unwrap_or("?")))
}

/// Evaluates the design §9 targets on a report.
pub fn targets(r: &BenchReport) -> Vec<TargetCheck> {
    let mut out = Vec::new();
    for (op, id) in [("encrypt", "v2-encrypt-vs-openssl"), ("decrypt", "v2-decrypt-vs-openssl")] {
        let bench = format!("v2/{op}/64MiB");
        let v = rate_of(r, &bench).and_then(|x| Ok(x / openssl(r)?));
        out.push(check(
            Spec {
                id,
                description: if op == "encrypt" {
                    "v2 encrypt in memory, 64 MiB, all cores vs openssl 1 core"
                } else {
                    "v2 decrypt in memory, 64 MiB, all cores vs openssl 1 core"
                },
                comparison: ">=",
                required: 1.2,
                unit: "x",
            },
            v,
            |_| format!("{bench} ÷ {OPENSSL_ANCHOR}"),
        ));
    }
    // Like for like: Cobblestone's chunk AEAD is ring's, so v2's overhead is
    // measured against ring on the same buffers.
    for (op, aead, id) in
        [("encrypt", "ring_seal", "v2-encrypt-overhead"), ("decrypt", "ring_open", "v2-decrypt-overhead")]
    {
        let (ours, raw) = (format!("v2/{op}_serial/64MiB"), format!("aead/{aead}/64MiB"));
        let v = time_of(r, &ours).and_then(|t| Ok((t / time_of(r, &raw)? - 1.0) * 100.0));
        out.push(check(
            Spec {
                id,
                description: if op == "encrypt" {
                    "v2 encrypt overhead over the raw AEAD, 1 core"
                } else {
                    "v2 decrypt overhead over the raw AEAD, 1 core"
                },
                comparison: "<=",
                required: 10.0,
                unit: "%",
            },
            v,
            |_| format!("time {ours} ÷ time {raw} − 1"),
        ));
    }
    for (op, id) in [("encrypt", "v2-file-encrypt-vs-dd"), ("decrypt", "v2-file-decrypt-vs-dd")] {
        let run = format!("v2-{op}-1GiB");
        out.push(check(
            Spec {
                id,
                description: if op == "encrypt" {
                    "v2 encrypt 1 GiB file to file vs dd conv=fsync"
                } else {
                    "v2 decrypt 1 GiB file to file vs dd conv=fsync"
                },
                comparison: ">=",
                required: 0.9,
                unit: "x",
            },
            file_ratio(r, &run).map_err(|e| format!("{e} (runs with --full)")),
            |_| format!("{run} ÷ {DD_ANCHOR}"),
        ));
    }
    for (op, req, id) in [("encrypt", 10.0, "crypt15-encrypt-vs-wa"), ("decrypt", 6.0, "crypt15-decrypt-vs-wa")] {
        let run = format!("crypt15-{op}-sqlite");
        out.push(check(
            Spec {
                id,
                description: if op == "encrypt" {
                    "crypt15 encrypt vs wa-crypt-tools, SQLite database"
                } else {
                    "crypt15 decrypt vs wa-crypt-tools, SQLite database"
                },
                comparison: ">=",
                required: req,
                unit: "x",
            },
            file_ratio(r, &run),
            |_| format!("{run} ÷ wa-crypt-tools-{op}"),
        ));
    }
    let crypt15_rss = r
        .file_runs
        .iter()
        .filter(|f| f.id.starts_with("crypt15-"))
        .filter_map(|f| f.peak_rss_kib)
        .max()
        .map(|k| k as f64 / 1024.0)
        .ok_or_else(|| "no crypt15 file run with a peak RSS".to_owned());
    let rss_runs: Vec<&str> =
        r.file_runs.iter().filter(|f| f.id.starts_with("crypt15-")).map(|f| f.id.as_str()).collect();
    out.push(check(
        Spec {
            id: "crypt15-peak-memory",
            description: "crypt15 peak memory (largest of the file runs)",
            comparison: "<=",
            required: 64.0,
            unit: "MiB",
        },
        crypt15_rss,
        |_| format!("max peak RSS of {}", rss_runs.join(", ")),
    ));
    let fleet = r.fleet.as_ref().ok_or_else(|| "fleet harness not run".to_owned());
    let clients = r.fleet.as_ref().map(|f| f.clients).unwrap_or(0);
    out.push(check(
        Spec {
            id: "fleet-throughput",
            description: "fleet recoveries/s, 5 durable sites, test KSF",
            comparison: ">=",
            required: 1000.0,
            unit: "rec/s",
        },
        fleet.clone().map(|f| f.recoveries_per_s),
        |_| format!("fleet harness, {clients} concurrent clients"),
    ));
    out.push(check(
        Spec {
            id: "fleet-p99",
            description: "fleet recovery p99 latency",
            comparison: "<=",
            required: 20.0,
            unit: "ms",
        },
        fleet.map(|f| f.p99_ms),
        |_| format!("fleet harness, {clients} concurrent clients"),
    ));
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn env() -> Environment {
        Environment {
            cpu_model: "test".into(),
            cpu_flags: vec![],
            cores: 2,
            memory_gib: 1.0,
            os: "Linux".into(),
            rustc: "rustc".into(),
            commit: "abc".into(),
        }
    }

    fn m(id: &str, ns: f64, bytes: u64) -> Measurement {
        let parts: Vec<&str> = id.split('/').collect();
        Measurement::new(
            parts[0].into(),
            parts.get(1).map(|s| (*s).to_owned()),
            parts.get(2).map(|s| (*s).to_owned()),
            Interval { point: ns, lower: ns * 0.99, upper: ns * 1.01 },
            Some((Unit::Bytes, bytes)),
        )
    }

    pub(crate) fn sample() -> BenchReport {
        let mib64 = 64 << 20;
        let mut r = BenchReport {
            schema: SCHEMA,
            name: "t".into(),
            mode: "quick".into(),
            created: "2026-01-01T00:00:00Z".into(),
            environment: env(),
            benchmarks: vec![
                // 64 MiB in 10 ms = 6400 MiB/s
                m("v2/encrypt/64MiB", 1e7, mib64),
                m("v2/decrypt/64MiB", 2e7, mib64),
                m("v2/encrypt_serial/64MiB", 2.1e7, mib64),
                m("aead/ring_seal/64MiB", 2e7, mib64),
            ],
            anchors: vec![Anchor {
                id: OPENSSL_ANCHOR.into(),
                description: "openssl".into(),
                command: "openssl speed".into(),
                available: true,
                rate: Some(4000.0 * MIB),
                median_s: None,
                peak_rss_kib: None,
                note: None,
            }],
            file_runs: vec![],
            fleet: Some(FleetRun {
                recoveries: 100,
                clients: 8,
                seconds: 1.0,
                recoveries_per_s: 100.0,
                p50_ms: 5.0,
                p99_ms: 9.0,
            }),
            targets: vec![],
            notes: vec![],
        };
        r.derive();
        r
    }

    fn target<'a>(r: &'a BenchReport, id: &str) -> &'a TargetCheck {
        r.targets.iter().find(|t| t.id == id).unwrap()
    }

    #[test]
    fn rates_come_from_times_and_invert_the_interval() {
        let r = sample();
        let x = r.measurement("v2/encrypt/64MiB").unwrap();
        let rate = x.rate.unwrap();
        assert!((rate.point / MIB - 6400.0).abs() < 1e-6);
        assert!(rate.lower < rate.point && rate.point < rate.upper);
        assert!((x.ratio_to_anchor.unwrap() - 1.6).abs() < 1e-9);
    }

    #[test]
    fn targets_are_judged_against_their_thresholds() {
        let r = sample();
        assert_eq!(target(&r, "v2-encrypt-vs-openssl").status, TargetStatus::Met); // 1.6x
        assert_eq!(target(&r, "v2-decrypt-vs-openssl").status, TargetStatus::Missed); // 0.8x
        let overhead = target(&r, "v2-encrypt-overhead");
        assert_eq!(overhead.status, TargetStatus::Met);
        assert!((overhead.measured.unwrap() - 5.0).abs() < 1e-9);
        assert_eq!(target(&r, "v2-decrypt-overhead").status, TargetStatus::NotMeasured);
        assert_eq!(target(&r, "v2-file-encrypt-vs-dd").status, TargetStatus::NotMeasured);
        assert_eq!(target(&r, "fleet-throughput").status, TargetStatus::Missed);
        assert_eq!(target(&r, "fleet-p99").status, TargetStatus::Met);
        assert!(!r.targets_met());
    }

    #[test]
    fn file_runs_are_ratioed_to_their_anchor() {
        let mut r = sample();
        r.anchors.push(Anchor {
            id: WA_ENCRYPT_ANCHOR.into(),
            description: "waencrypt".into(),
            command: "waencrypt".into(),
            available: true,
            rate: Some(30e6),
            median_s: Some(3.0),
            peak_rss_kib: Some(300_000),
            note: None,
        });
        r.file_runs.push(FileRun {
            id: "crypt15-encrypt-sqlite".into(),
            description: "crypt15 encrypt".into(),
            bytes: 90_000_000,
            runs_s: vec![0.3],
            median_s: 0.3,
            rate: 300e6,
            peak_rss_kib: Some(70 * 1024),
            anchor: Some(WA_ENCRYPT_ANCHOR.into()),
            ratio_to_anchor: None,
        });
        r.derive();
        let t = target(&r, "crypt15-encrypt-vs-wa");
        assert_eq!(t.status, TargetStatus::Met);
        assert!((t.measured.unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(target(&r, "crypt15-peak-memory").status, TargetStatus::Missed);
    }

    #[test]
    fn json_round_trip_and_markdown() {
        let r = sample();
        let back: BenchReport = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        let md = r.to_markdown(&["throughput.svg"]);
        assert!(md.contains("| v2/encrypt/64MiB | 10.000 ms"));
        assert!(md.contains("**MISSED**"));
        assert!(md.contains("![throughput.svg](throughput.svg)"));
    }
}
