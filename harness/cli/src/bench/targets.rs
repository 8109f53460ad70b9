//! The targets of design §9, evaluated as ratios to the anchors measured
//! in the same run (`BenchReport::derive` fills `targets` from here).

use super::report::{BenchReport, DD_ANCHOR, OPENSSL_ANCHOR, TargetCheck, TargetStatus};

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
