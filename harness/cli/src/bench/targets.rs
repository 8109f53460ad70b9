//! The targets of design §9, evaluated as ratios to the anchors measured
//! in the same run (`BenchReport::derive` fills `targets` from here).
//!
//! A target whose numbers the run did not take is "not measured" with the
//! reason (the mode, a program missing with how to install it, no room on
//! tmpfs, no busy pass), never a miss.

use super::report::{
    AGE_DECRYPT_DISK_ANCHOR, AGE_DECRYPT_TMPFS_ANCHOR, AGE_ENCRYPT_DISK_ANCHOR, AGE_ENCRYPT_TMPFS_ANCHOR, BenchReport,
    DD_ANCHOR, OPENSSL_ANCHOR, TargetCheck, TargetStatus, busy_id,
};

/// Where a target on the 1 GiB runs says they come from.
const GIB_RUNS: &str = " (runs with --full or --busy N)";

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

/// The rate of file run `run` over the rate of anchor `anchor` (any anchor,
/// not only the run's own); why not, when either is missing.
fn ratio_to(r: &BenchReport, run: &str, anchor: &str) -> Result<f64, String> {
    let a = r.anchors.iter().find(|a| a.id == anchor).ok_or_else(|| format!("{anchor} not in this run{GIB_RUNS}"))?;
    let rate = a
        .rate
        .filter(|x| a.available && *x > 0.0)
        .ok_or_else(|| format!("{anchor} not measured: {}", a.note.as_deref().unwrap_or("no rate")))?;
    let ours = r.file_run(run).ok_or_else(|| format!("file run {run} not in this run{GIB_RUNS}"))?;
    Ok(ours.rate / rate)
}

/// The v2 1 GiB runs against dd with one core busy, and against age on
/// tmpfs and on disk (design §9).
fn gib_targets(r: &BenchReport, out: &mut Vec<TargetCheck>) {
    let busy = r.busy_cores();
    for op in ["encrypt", "decrypt"] {
        let (run, dd) = (busy_id(&format!("v2-{op}-1GiB"), 1), busy_id(DD_ANCHOR, 1));
        let measured = match busy {
            None => Err("no busy pass in this run (e2eb bench run --busy 1)".to_owned()),
            Some(1) => ratio_to(r, &run, &dd),
            Some(n) => Err(format!("the busy pass held {n} cores; this target is for one (--busy 1)")),
        };
        out.push(check(
            Spec {
                id: if op == "encrypt" { "v2-file-encrypt-vs-dd-busy" } else { "v2-file-decrypt-vs-dd-busy" },
                description: if op == "encrypt" {
                    "v2 encrypt 1 GiB file to file vs dd conv=fsync, one core busy"
                } else {
                    "v2 decrypt 1 GiB file to file vs dd conv=fsync, one core busy"
                },
                comparison: ">=",
                required: 0.85,
                unit: "x",
            },
            measured,
            |_| format!("{run} ÷ {dd} (both beside one busy-loop thread)"),
        ));
    }
    let age = [
        ("encrypt", "tmpfs", "v2-encrypt-1GiB-tmpfs", AGE_ENCRYPT_TMPFS_ANCHOR, "v2-file-encrypt-vs-age-tmpfs"),
        ("decrypt", "tmpfs", "v2-decrypt-1GiB-tmpfs", AGE_DECRYPT_TMPFS_ANCHOR, "v2-file-decrypt-vs-age-tmpfs"),
        ("encrypt", "disk", "v2-encrypt-1GiB", AGE_ENCRYPT_DISK_ANCHOR, "v2-file-encrypt-vs-age-disk"),
        ("decrypt", "disk", "v2-decrypt-1GiB", AGE_DECRYPT_DISK_ANCHOR, "v2-file-decrypt-vs-age-disk"),
    ];
    for (op, place, run, anchor, id) in age {
        let description = match (op, place) {
            ("encrypt", "tmpfs") => "v2 encrypt 1 GiB file to file vs age, tmpfs",
            ("decrypt", "tmpfs") => "v2 decrypt 1 GiB file to file vs age, tmpfs",
            ("encrypt", _) => "v2 encrypt 1 GiB file to file vs age, disk (both durable)",
            _ => "v2 decrypt 1 GiB file to file vs age, disk (both durable)",
        };
        out.push(check(
            Spec { id, description, comparison: ">=", required: 1.0, unit: "x" },
            ratio_to(r, run, anchor),
            |_| {
                let how = if place == "disk" { " (age then sync OUT)" } else { "" };
                format!("rate {run} ÷ rate {anchor}{how}")
            },
        ));
    }
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
            file_ratio(r, &run).map_err(|e| format!("{e}{GIB_RUNS}")),
            |_| format!("{run} ÷ {DD_ANCHOR}"),
        ));
    }
    gib_targets(r, &mut out);
    // The store upload next to a durable copy of the same file, both in the
    // criterion suite: 1 GiB at standard depth, 64 MiB in quick mode.
    let size = ["1GiB", "64MiB"].into_iter().find(|s| r.measurement(&format!("store/upload_local/{s}")).is_some());
    let (upload, copy) = match size {
        Some(s) => (format!("store/upload_local/{s}"), format!("store/durable_copy/{s}")),
        None => ("store/upload_local/1GiB".to_owned(), "store/durable_copy/1GiB".to_owned()),
    };
    out.push(check(
        Spec {
            id: "store-upload-vs-durable-copy",
            description: "1 GiB backup uploaded to the local store vs a durable copy (dd bs=1M conv=fsync)",
            comparison: ">=",
            required: 0.9,
            unit: "x",
        },
        rate_of(r, &upload).and_then(|x| Ok(x / rate_of(r, &copy)?)),
        |_| {
            let depth = if size == Some("64MiB") { " (64 MiB in quick mode; the target is for 1 GiB)" } else { "" };
            format!("{upload} ÷ {copy}{depth}")
        },
    ));
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
mod tests {
    use super::*;
    use crate::bench::report::tests::sample;
    use crate::bench::report::{Anchor, FileRun, MIB};

    const GIB: u64 = 1 << 30;

    fn run(id: &str, mib_per_s: f64) -> FileRun {
        let rate = mib_per_s * MIB;
        FileRun {
            id: id.into(),
            description: id.into(),
            bytes: GIB,
            runs_s: vec![GIB as f64 / rate],
            median_s: GIB as f64 / rate,
            rate,
            peak_rss_kib: Some(20_000),
            anchor: None,
            ratio_to_anchor: None,
        }
    }

    fn anchor(id: &str, mib_per_s: Option<f64>, note: &str) -> Anchor {
        Anchor {
            id: id.into(),
            description: id.into(),
            command: "cmd".into(),
            available: mib_per_s.is_some(),
            rate: mib_per_s.map(|r| r * MIB),
            median_s: mib_per_s.map(|r| GIB as f64 / (r * MIB)),
            peak_rss_kib: None,
            note: Some(note.into()),
        }
    }

    fn target<'a>(r: &'a BenchReport, id: &str) -> &'a TargetCheck {
        r.targets.iter().find(|t| t.id == id).unwrap_or_else(|| panic!("no target {id}"))
    }

    const NEW: [&str; 6] = [
        "v2-file-encrypt-vs-dd-busy",
        "v2-file-decrypt-vs-dd-busy",
        "v2-file-encrypt-vs-age-tmpfs",
        "v2-file-decrypt-vs-age-tmpfs",
        "v2-file-encrypt-vs-age-disk",
        "v2-file-decrypt-vs-age-disk",
    ];

    #[test]
    fn without_the_1gib_pass_the_new_targets_are_not_measured_and_say_why() {
        let r = sample();
        for id in NEW {
            assert_eq!(target(&r, id).status, TargetStatus::NotMeasured, "{id}");
            assert_eq!(target(&r, id).measured, None, "{id}");
        }
        assert!(target(&r, "v2-file-encrypt-vs-dd-busy").evidence.contains("no busy pass"));
        assert!(target(&r, "v2-file-encrypt-vs-dd-busy").evidence.contains("--busy 1"));
        let age = &target(&r, "v2-file-decrypt-vs-age-tmpfs").evidence;
        assert!(age.contains("age-decrypt-1GiB-tmpfs not in this run") && age.contains("--busy N"), "{age}");
        assert!(target(&r, "v2-file-encrypt-vs-dd").evidence.contains("--full or --busy N"));
    }

    /// A run with the idle and busy 1 GiB passes: dd, age on tmpfs and disk.
    fn with_passes() -> BenchReport {
        let mut r = sample();
        r.file_runs.extend([
            run("v2-encrypt-1GiB", 500.0),
            run("v2-decrypt-1GiB", 400.0),
            run("v2-encrypt-1GiB-tmpfs", 1500.0),
            run("v2-decrypt-1GiB-tmpfs", 900.0),
            run("v2-encrypt-1GiB-busy1", 450.0),
            run("v2-decrypt-1GiB-busy1", 300.0),
        ]);
        for f in &mut r.file_runs {
            f.anchor = Some(match f.id.as_str() {
                "v2-encrypt-1GiB-tmpfs" => AGE_ENCRYPT_TMPFS_ANCHOR.into(),
                "v2-decrypt-1GiB-tmpfs" => AGE_DECRYPT_TMPFS_ANCHOR.into(),
                id if id.ends_with("-busy1") => busy_id(DD_ANCHOR, 1),
                _ => DD_ANCHOR.into(),
            });
        }
        r.anchors.extend([
            anchor(DD_ANCHOR, Some(500.0), "median of 3 run(s)"),
            anchor(&busy_id(DD_ANCHOR, 1), Some(500.0), "median of 3 run(s)"),
            anchor(AGE_ENCRYPT_TMPFS_ANCHOR, Some(1000.0), "median of 3 run(s)"),
            anchor(AGE_DECRYPT_TMPFS_ANCHOR, Some(1000.0), "median of 3 run(s)"),
            anchor(AGE_ENCRYPT_DISK_ANCHOR, Some(400.0), "median of 3 run(s)"),
            anchor(AGE_DECRYPT_DISK_ANCHOR, Some(400.0), "median of 3 run(s)"),
        ]);
        r.derive();
        r
    }

    #[test]
    fn the_busy_and_age_targets_are_ratios_in_the_same_run() {
        let r = with_passes();
        let t = target(&r, "v2-file-encrypt-vs-dd-busy"); // 450 / 500
        assert_eq!(t.status, TargetStatus::Met);
        assert!((t.measured.unwrap() - 0.9).abs() < 1e-9);
        assert!(t.evidence.contains("v2-encrypt-1GiB-busy1 ÷ dd-copy-1GiB-busy1"), "{}", t.evidence);
        let t = target(&r, "v2-file-decrypt-vs-dd-busy"); // 300 / 500
        assert_eq!(t.status, TargetStatus::Missed);
        assert!((t.measured.unwrap() - 0.6).abs() < 1e-9);
        assert_eq!(target(&r, "v2-file-encrypt-vs-age-tmpfs").status, TargetStatus::Met); // 1.5
        let t = target(&r, "v2-file-decrypt-vs-age-tmpfs"); // 0.9
        assert_eq!(t.status, TargetStatus::Missed);
        assert!((t.measured.unwrap() - 0.9).abs() < 1e-9);
        // Exactly the required ratio is met.
        let t = target(&r, "v2-file-decrypt-vs-age-disk"); // 400 / 400
        assert_eq!(t.status, TargetStatus::Met);
        assert!((t.measured.unwrap() - 1.0).abs() < 1e-9);
        assert!(target(&r, "v2-file-encrypt-vs-age-disk").evidence.contains("sync OUT"));
        // The idle dd target is still the idle pass's.
        assert!((target(&r, "v2-file-encrypt-vs-dd").measured.unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(r.busy_cores(), Some(1));
    }

    #[test]
    fn a_missing_age_or_tmpfs_is_not_measured_with_its_reason() {
        let mut r = with_passes();
        let install = "age not found on PATH: install it with `apt-get install age` on Debian/Ubuntu";
        let room = "/dev/shm: 1.0 GiB of space free, the tmpfs pass needs 3.5 GiB";
        for a in &mut r.anchors {
            let why = if a.id.contains("tmpfs") { room } else { install };
            if a.id.starts_with("age-") {
                *a = anchor(&a.id, None, why);
            }
        }
        r.file_runs.retain(|f| !f.id.contains("tmpfs"));
        r.derive();
        for (id, why) in [
            ("v2-file-encrypt-vs-age-tmpfs", room),
            ("v2-file-decrypt-vs-age-tmpfs", room),
            ("v2-file-encrypt-vs-age-disk", install),
            ("v2-file-decrypt-vs-age-disk", install),
        ] {
            let t = target(&r, id);
            assert_eq!(t.status, TargetStatus::NotMeasured, "{id}");
            assert!(t.evidence.contains("not measured") && t.evidence.contains(why), "{id}: {}", t.evidence);
        }
        assert_eq!(target(&r, "v2-file-encrypt-vs-dd-busy").status, TargetStatus::Met);
    }

    #[test]
    fn a_busy_pass_on_more_cores_does_not_stand_for_one() {
        let mut r = with_passes();
        for f in &mut r.file_runs {
            f.id = f.id.replace("-busy1", "-busy2");
        }
        for a in &mut r.anchors {
            a.id = a.id.replace("-busy1", "-busy2");
        }
        r.derive();
        assert_eq!(r.busy_cores(), Some(2));
        let t = target(&r, "v2-file-encrypt-vs-dd-busy");
        assert_eq!(t.status, TargetStatus::NotMeasured);
        assert!(t.evidence.contains("held 2 cores"), "{}", t.evidence);
    }

    #[test]
    fn the_pages_show_the_age_and_busy_tables_only_when_there_is_something() {
        let plain = sample();
        assert!(plain.age_table().is_none() && plain.busy_table().is_none());
        let md = plain.to_markdown(&[]);
        assert!(!md.contains("next to age") && !md.contains("Busy machine"));

        let r = with_passes();
        let md = r.to_markdown(&[]);
        assert!(md.contains("## v2 next to age (1 GiB file to file)"), "{md}");
        assert!(md.contains("| encrypt | tmpfs | idle | 1500 MiB/s | 1000 MiB/s | 1.50× |"), "{md}");
        assert!(md.contains("| decrypt | disk, both durable | 1 core busy | 300 MiB/s | not run | — |"), "{md}");
        assert!(md.contains("## Busy machine: the 1 GiB runs again beside 1 busy-loop thread"), "{md}");
        assert!(md.contains("| `v2-encrypt-1GiB` | 500 MiB/s | 450 MiB/s | 0.90× |"), "{md}");
        assert!(md.contains("| `dd-copy-1GiB` | 500 MiB/s | 500 MiB/s | 1.00× |"), "{md}");
        let html = r.to_html();
        assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
        assert!(html.contains("<h2>v2 next to age (1 GiB file to file)</h2>") && html.contains("Busy machine"));
        assert!(!html.contains("<script"), "self-contained, no scripts");

        let back: BenchReport = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn busy_ids_round_trip() {
        use crate::bench::report::busy_cores_of;
        assert_eq!(busy_id("dd-copy-1GiB", 1), "dd-copy-1GiB-busy1");
        assert_eq!(busy_cores_of("v2-encrypt-1GiB-tmpfs-busy12"), Some(12));
        for plain in ["v2-encrypt-1GiB", "x-busy", "x-busyone", "age-encrypt-1GiB-disk-nosync"] {
            assert_eq!(busy_cores_of(plain), None, "{plain}");
        }
    }
}
