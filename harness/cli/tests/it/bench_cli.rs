//! The report-handling side of `e2eb bench` and `e2eb gate` through the
//! binary: `bench compare` on the committed baseline (unchanged → exit 0, a
//! slowed benchmark with disjoint intervals → exit 1 naming it, a broken
//! report → one-line error), `bench measure` (wall time and peak memory of
//! one child), and `gate` writing its two files. Running the benchmark suite
//! itself is a measurement, not a test: `e2eb bench run` and `e2eb audit` do it.

use std::path::{Path, PathBuf};

fn baseline() -> PathBuf {
    crate::repo().join("reports/baseline/report.json")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn committed_baseline_is_a_readable_report_with_targets() {
    let text = std::fs::read_to_string(baseline()).expect("reports/baseline/report.json is committed");
    let report: e2eb::bench::report::BenchReport = serde_json::from_str(&text).unwrap();
    assert_eq!(report.schema, e2eb::bench::report::SCHEMA);
    assert!(report.benchmarks.len() >= 40, "only {} benchmarks", report.benchmarks.len());
    for id in ["crypt15/encrypt/64MiB", "v2/decrypt_serial/64MiB", "aead/ring_seal/64MiB", "fleet/recovery"] {
        assert!(report.measurement(id).is_some(), "baseline lacks {id}");
    }
    assert!(report.anchors.iter().any(|a| a.id == e2eb::bench::report::OPENSSL_ANCHOR && a.available));
    // Re-deriving the targets from the stored numbers gives the stored verdicts.
    // (JSON floats may come back one ulp off, so values are compared loosely.)
    // A target added after the baseline was taken is derived too, but finds
    // none of its benchmarks in it.
    let mut again = report.clone();
    again.derive();
    for a in &again.targets {
        if !report.targets.iter().any(|b| b.id == a.id) {
            assert!(a.measured.is_none(), "{} is not in the baseline yet has a measurement", a.id);
        }
    }
    again.targets.retain(|a| report.targets.iter().any(|b| b.id == a.id));
    assert_eq!(again.targets.len(), report.targets.len());
    for (a, b) in again.targets.iter().zip(&report.targets) {
        assert_eq!((&a.id, a.status), (&b.id, b.status));
        match (a.measured, b.measured) {
            (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0), "{}: {x} vs {y}", a.id),
            (x, y) => assert_eq!(x.is_some(), y.is_some(), "{}", a.id),
        }
    }
}

#[test]
fn committed_baseline_renders_as_committed() {
    // The renderers are what `bench run` writes with: the committed Markdown
    // and charts come back byte for byte from the committed JSON.
    let dir = baseline().parent().unwrap().to_path_buf();
    let report: e2eb::bench::report::BenchReport =
        serde_json::from_str(&std::fs::read_to_string(baseline()).unwrap()).unwrap();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    assert_eq!(report.to_markdown(&["throughput.svg", "operations.svg"]), read("report.md"));
    assert_eq!(report.throughput_chart().to_svg(), read("throughput.svg"));
    assert_eq!(report.operations_chart().to_svg(), read("operations.svg"));
}

#[test]
fn render_redraws_the_page_and_charts_from_the_json_alone() {
    let dir = tempfile::tempdir().unwrap();
    let committed = baseline().parent().unwrap().to_path_buf();
    std::fs::copy(committed.join("report.json"), dir.path().join("report.json")).unwrap();
    let o = crate::run(&["bench", "render", s(dir.path())]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for name in ["report.md", "throughput.svg", "operations.svg"] {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(name)).unwrap(),
            std::fs::read_to_string(committed.join(name)).unwrap(),
            "{name}"
        );
    }
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("Targets (docs/design.md §9)"), "the HTML page too");
    let json = std::fs::read(dir.path().join("report.json")).unwrap();
    assert_eq!(json, std::fs::read(committed.join("report.json")).unwrap(), "the numbers are left as measured");
}

#[test]
fn compare_passes_on_identical_reports_and_fails_on_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    let same = crate::run(&["bench", "compare", s(&baseline()), s(&baseline())]);
    assert!(same.status.success(), "{}", String::from_utf8_lossy(&same.stdout));
    assert!(String::from_utf8_lossy(&same.stdout).contains("0 regression(s)"));

    let mut report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(baseline()).unwrap()).unwrap();
    let bench =
        report["benchmarks"].as_array_mut().unwrap().iter_mut().find(|b| b["id"] == "v2/encrypt/64MiB").unwrap();
    for bound in ["point", "lower", "upper"] {
        let t = bench["time_ns"][bound].as_f64().unwrap();
        bench["time_ns"][bound] = serde_json::json!(t * 2.0);
    }
    let slower = dir.path().join("slower.json");
    std::fs::write(&slower, serde_json::to_vec(&report).unwrap()).unwrap();

    let out = crate::run(&["bench", "compare", s(&baseline()), s(&slower)]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("v2/encrypt/64MiB ")).unwrap();
    assert!(line.contains("REGRESSION") && line.contains("+100.0 %"), "{line}");

    let js = crate::run(&["bench", "compare", s(&baseline()), s(&slower), "--json"]);
    assert_eq!(js.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&js.stdout).unwrap();
    assert_eq!(v["regressions"], 1);

    // Past a 150 % threshold the doubling is tolerated.
    let tolerant = crate::run(&["bench", "compare", s(&baseline()), s(&slower), "--threshold", "150"]);
    assert!(tolerant.status.success());
}

#[test]
fn compare_rejects_a_file_that_is_not_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, b"{\"schema\": 1}").unwrap();
    let out = crate::run(&["bench", "compare", s(&baseline()), s(&bad)]);
    assert_eq!(out.status.code(), Some(2), "unreadable input is not a regression (exit 1)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("not an e2eb benchmark report"), "{err}");
    let missing = crate::run(&["bench", "compare", s(&baseline()), s(&dir.path().join("none"))]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn measure_reports_one_child() {
    // A child that holds 32 MiB must show at least that much peak memory
    // (a shell variable of 32 MiB: POSIX sh and coreutils, nothing else).
    let hold = r#"x=$(head -c 33554432 /dev/zero | tr '\0' a); test ${#x} -eq 33554432"#;
    let out = crate::run(&["bench", "measure", "--", "sh", "-c", hold]);
    assert!(out.status.success(), "bench measure failed: {}", String::from_utf8_lossy(&out.stderr));
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["code"], 0);
    assert!(m["peak_rss_kib"].as_u64().unwrap() >= 32 * 1024, "{m}");
    assert!(m["wall_s"].as_f64().unwrap() > 0.0);

    let failing = crate::run(&["bench", "measure", "--", "sh", "-c", "exit 3"]);
    let m: serde_json::Value = serde_json::from_slice(&failing.stdout).unwrap();
    assert_eq!(m["code"], 3);
}

#[test]
fn gate_writes_junit_and_json_and_exits_by_result() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::run(&["gate", "--filter", "key_digits_round_trip", "--cases", "2", "--out", s(dir.path())]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let junit = std::fs::read_to_string(dir.path().join("junit.xml")).unwrap();
    assert!(junit.contains("<testcase") && junit.contains("key_digits_round_trip"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("gate.json")).unwrap()).unwrap();
    assert_eq!(json["totals"]["tests"], 1);
    assert_eq!(json["totals"]["failures"], 0);

    let none = crate::run(&["gate", "--filter", "no such property", "--out", s(dir.path())]);
    assert_eq!(none.status.code(), Some(1));
}
