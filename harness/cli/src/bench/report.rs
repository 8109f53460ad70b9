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
/// Anchor id of `age` encrypting the 1 GiB file, input and output on tmpfs.
pub const AGE_ENCRYPT_TMPFS_ANCHOR: &str = "age-encrypt-1GiB-tmpfs";
/// Anchor id of `age -d` decrypting it, input and output on tmpfs.
pub const AGE_DECRYPT_TMPFS_ANCHOR: &str = "age-decrypt-1GiB-tmpfs";
/// Anchor id of `age` encrypting the 1 GiB file on disk, then `sync OUT`
/// (durable, like our output): the one v2 on disk is compared with.
pub const AGE_ENCRYPT_DISK_ANCHOR: &str = "age-encrypt-1GiB-disk";
/// Anchor id of `age -d` on disk, then `sync OUT`.
pub const AGE_DECRYPT_DISK_ANCHOR: &str = "age-decrypt-1GiB-disk";
/// Anchor id of `age` on disk without a sync (informational).
pub const AGE_ENCRYPT_DISK_NOSYNC_ANCHOR: &str = "age-encrypt-1GiB-disk-nosync";
/// Anchor id of `age -d` on disk without a sync (informational).
pub const AGE_DECRYPT_DISK_NOSYNC_ANCHOR: &str = "age-decrypt-1GiB-disk-nosync";

/// The id of a file run or anchor measured again in the busy pass of
/// `bench run --busy N`: `ID-busyN`.
pub fn busy_id(id: &str, cores: usize) -> String {
    format!("{id}-busy{cores}")
}

/// The N of an id made by [`busy_id`].
pub fn busy_cores_of(id: &str) -> Option<usize> {
    let (_, n) = id.rsplit_once("-busy")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

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

pub(super) const MIB: f64 = 1024.0 * 1024.0;

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

    /// How many cores the busy pass held (`--busy N`), if the run had one.
    pub fn busy_cores(&self) -> Option<usize> {
        let ids = self.file_runs.iter().map(|f| f.id.as_str()).chain(self.anchors.iter().map(|a| a.id.as_str()));
        ids.filter_map(busy_cores_of).next()
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
        self.targets = super::targets::targets(self);
    }

    /// True when no measured target was missed.
    pub fn targets_met(&self) -> bool {
        self.targets.iter().all(|t| t.status != TargetStatus::Missed)
    }
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
