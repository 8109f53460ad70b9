//! `e2eb audit` through the binary, at the smallest depth and without the
//! benchmarks (those are measurements: `e2eb audit --quick` in `.ci/run` runs
//! them): the three report files are written, the HTML is self-contained, the
//! JSON carries every step, the verdicts, the scope, the threat table and
//! the dated evidence, the mutation report is looked for, and the known
//! findings are present with a reproduce command and next steps.

#[test]
fn audit_writes_md_json_and_self_contained_html() {
    let repo = crate::repo();
    let out = tempfile::tempdir().unwrap();
    let run = crate::e2eb()
        .current_dir(&repo)
        .args(["audit", "--quick", "--no-bench", "--cases", "2", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(run.status.success(), "audit failed:\n{}", String::from_utf8_lossy(&run.stdout));

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("report.json")).unwrap()).unwrap();
    let steps: Vec<&str> = json["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        steps,
        ["vectors", "properties", "fuzz corpus replay", "vault simulation", "mutation report", "benchmarks"]
    );
    assert_eq!(json["steps"][5]["passed"], serde_json::Value::Null, "benchmarks were left out, not passed");
    assert!(json["mutants"]["path"].as_str().unwrap().ends_with("reports/mutants/report.json"), "{}", json["mutants"]);
    // The committed mutation report is read, scored and dated; below its
    // target it is finding M2, not a failure of this run.
    let score = json["mutants"]["score"].as_f64().unwrap_or_else(|| panic!("no score: {}", json["mutants"]));
    assert!(json["mutants"]["freshness"]["age_days"].as_f64().is_some(), "{}", json["mutants"]);
    let m2 = json["findings"].as_array().unwrap().iter().any(|f| f["id"] == "M2");
    assert_eq!(m2, score < 0.9, "M2 exactly when the score misses 90 %: {}", json["mutants"]);
    assert!(json["fuzz_replay"].as_array().unwrap().len() >= 15);
    let sims = json["vault_sim"].as_array().unwrap();
    assert!(sims.iter().any(|s| s["expect_violations"] == true && s["report"]["violations"].as_u64().unwrap() > 0));
    let ids: Vec<&str> = json["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"F1") && ids.contains(&"F3"), "{ids:?}");

    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("src="), "not self-contained");
    // The only URL is the SVG namespace, which browsers never fetch.
    assert_eq!(html.matches("http").count(), html.matches("http://www.w3.org/2000/svg").count());
    assert!(html.contains("<svg") && html.contains("PASS"));
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(md.contains("**Security verdict: PASS**") && md.contains("| benchmarks | not run |"));
    assert!(md.contains("**Performance: not measured**"), "{md}");

    // design §8: a top-level verdict, the scope with what did not run, the
    // threat table, and committed evidence dated against the code.
    assert_eq!(json["verdict"], "pass");
    assert_eq!(json["performance"]["verdict"], "not measured");
    let scope = json["scope"].as_array().unwrap();
    let state = |area: &str| scope.iter().find(|r| r["area"] == area).map(|r| r["state"].as_str().unwrap().to_owned());
    assert_eq!(state("interop with wa-crypt-tools").as_deref(), Some("not run"));
    assert_eq!(state("benchmarks").as_deref(), Some("not run"));
    assert_eq!(state("property tests").as_deref(), Some("partly"), "2 cases is below CI depth");
    assert_eq!(state("fuzz campaigns").as_deref(), Some("read"));
    let threats = json["threats"].as_array().unwrap();
    assert!(threats.len() >= 19, "{}", threats.len());
    for t in threats {
        assert!(!t["covered_by"].as_array().unwrap().is_empty(), "{t}");
        assert_ne!(t["result"], "FAIL", "{t}");
    }
    let evidence = json["evidence"].as_array().unwrap();
    assert_eq!(evidence.len(), 4);
    let passkey = evidence.iter().find(|e| e["what"] == "fuzz campaign of the passkey targets").unwrap();
    assert_ne!(passkey["state"], "missing", "the passkey targets' campaign is committed: {passkey}");
    assert!(passkey["summary"].as_str().unwrap().starts_with("3 targets"), "{passkey}");
    for e in evidence.iter().filter(|e| e["state"] == "stale" && e["what"] != "mutation report") {
        assert!(ids.iter().any(|id| id.starts_with('E')), "stale {} without a finding: {ids:?}", e["what"]);
    }
    // Every finding says how to see it again and what to do.
    for f in json["findings"].as_array().unwrap() {
        assert!(!f["reproduce"].as_str().unwrap().is_empty() && !f["next"].as_str().unwrap().is_empty(), "{f}");
    }
}
