//! Tests of `e2eb::properties::gate` (design §8): a filtered run writes `junit.xml`
//! and `gate.json` that agree with the returned report; the JUnit XML is
//! well-formed and escapes hostile failure messages; an unmatched filter and
//! an unwritable output directory are typed errors. Runs are kept fast with
//! a filter and a couple of cases.

use std::path::PathBuf;

use e2eb::environment::Environment;
use e2eb::progress::Quiet;
use e2eb::properties::Suite;
use e2eb::properties::gate::{
    self, GateError, GateOptions, GateReport, Outputs, PropertyResult, SCHEMA_VERSION, Totals, escape_attr, escape_text,
};

/// A failure message with everything XML cares about, plus a control
/// character that XML 1.0 forbids outright.
const HOSTILE: &str = "<failure> & \"quotes\" 'apos' \u{1} ]]> </testcase>";

fn args(filter: &str, cases: u32, out: PathBuf) -> GateOptions {
    GateOptions { cases, filter: Some(filter.to_owned()), out: Some(out) }
}

// ------------------------------------------------------------ a tiny XML checker

/// Checks that `entity` (the text after `&`) starts with a well-formed
/// reference to a predefined entity or a character; returns its length
/// including the `;`.
fn entity_len(entity: &str) -> usize {
    for named in ["amp;", "lt;", "gt;", "quot;", "apos;"] {
        if entity.starts_with(named) {
            return named.len();
        }
    }
    let semi = entity.find(';').unwrap_or_else(|| panic!("unterminated reference &{entity:.20}"));
    let body = &entity[..semi];
    let digits_ok = match body.strip_prefix("#x") {
        Some(hex) => !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()),
        None => body.strip_prefix('#').is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())),
    };
    assert!(digits_ok, "bad reference &{body};");
    semi + 1
}

/// Character data or an attribute value: no raw `<`, every `&` a reference,
/// no character XML 1.0 forbids.
fn check_chars(s: &str, attribute: bool) {
    for c in s.chars() {
        let legal = matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
        assert!(legal, "character U+{:04X} is not allowed in XML 1.0", c as u32);
        assert!(c != '<', "raw < in {s:?}");
        assert!(!(attribute && c == '"'), "raw \" in attribute value {s:?}");
    }
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        let after = &rest[i + 1..];
        rest = &after[entity_len(after)..];
    }
}

/// Parses `<name attr="value" ...` (without the angle brackets); returns the name.
fn check_tag(tag: &str) -> &str {
    let name_end = tag.find(|c: char| c.is_whitespace()).unwrap_or(tag.len());
    let name = &tag[..name_end];
    assert!(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)),
        "bad name {name:?}"
    );
    let mut rest = tag[name_end..].trim_start();
    let mut seen = Vec::new();
    while !rest.is_empty() {
        let eq = rest.find('=').unwrap_or_else(|| panic!("attribute without value in <{tag}>"));
        let attr = rest[..eq].trim();
        assert!(!seen.contains(&attr), "duplicate attribute {attr} in <{tag}>");
        seen.push(attr);
        let value = rest[eq + 1..].strip_prefix('"').unwrap_or_else(|| panic!("unquoted value in <{tag}>"));
        let close = value.find('"').unwrap_or_else(|| panic!("unterminated value in <{tag}>"));
        check_chars(&value[..close], true);
        rest = value[close + 1..].trim_start();
    }
    name
}

/// Panics unless `xml` is a well-formed document (as far as this writer's
/// output goes: declaration, elements, attributes, character data).
fn check_well_formed(xml: &str) {
    let mut rest = xml.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>").expect("XML declaration");
    let mut stack: Vec<&str> = Vec::new();
    let mut roots = 0;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        check_chars(text, false);
        assert!(!stack.is_empty() || text.trim().is_empty(), "text outside the root element: {text:?}");
        let close = rest[open..].find('>').unwrap_or_else(|| panic!("unterminated tag")) + open;
        let tag = &rest[open + 1..close];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name), "mismatched </{name}>");
        } else if let Some(inner) = tag.strip_suffix('/') {
            check_tag(inner.trim_end());
            assert!(!stack.is_empty(), "empty element outside the root");
        } else {
            if stack.is_empty() {
                roots += 1;
            }
            stack.push(check_tag(tag));
        }
        rest = &rest[close + 1..];
    }
    assert!(rest.trim().is_empty(), "trailing text {rest:?}");
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
    assert_eq!(roots, 1, "a document has exactly one root element");
}

/// Reverses the escaping (for round-trip checks).
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let n = entity_len(after);
        let body = &after[..n - 1];
        out.push(match body {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => char::from_u32(body[1..].parse().unwrap()).unwrap(),
        });
        rest = &after[n..];
    }
    out.push_str(rest);
    out
}

// ------------------------------------------------------------ pure rendering

#[test]
fn escaping_a_hostile_string() {
    let text = escape_text(HOSTILE);
    assert_eq!(
        text, "&lt;failure&gt; &amp; &quot;quotes&quot; &apos;apos&apos;  ]]&gt; &lt;/testcase&gt;",
        "the five special characters escaped, U+0001 removed"
    );
    check_chars(&text, false);
    check_chars(&escape_attr(HOSTILE), true);
    let expected: String = HOSTILE.chars().filter(|&c| c != '\u{1}').collect();
    assert_eq!(unescape(&text), expected);

    let multi = "line 1\r\n\tline 2\u{0}\u{1b}[31m\u{FFFF}";
    let attr = escape_attr(multi);
    assert!(!attr.contains(['\n', '\r', '\t']), "attribute whitespace must be references: {attr:?}");
    assert_eq!(unescape(&attr), "line 1\r\n\tline 2[31m");
    assert_eq!(unescape(&escape_text(multi)), "line 1\r\n\tline 2[31m");
}

fn synthetic_report() -> GateReport {
    let env = Environment {
        cpu_model: "Test CPU <&>".to_owned(),
        cpu_flags: vec!["aes".to_owned()],
        cores: 2,
        memory_gib: 4.0,
        os: "Linux test".to_owned(),
        rustc: "rustc 1.0.0 \"test\"".to_owned(),
        commit: "0123abcd-dirty".to_owned(),
    };
    let results = vec![
        PropertyResult {
            suite: Suite::Backup,
            name: "good_property".to_owned(),
            description: "always holds & never <fails>".to_owned(),
            cases: 8,
            passed: true,
            duration_s: 0.25,
            message: None,
        },
        PropertyResult {
            suite: Suite::Vault,
            name: "bad_property".to_owned(),
            description: "fails on 'hostile' input".to_owned(),
            cases: 8,
            passed: false,
            duration_s: 1.5,
            message: Some(format!("Test failed: {HOSTILE}.\nminimal failing input: bytes = [0, 1, 2]\n")),
        },
    ];
    GateReport {
        schema_version: SCHEMA_VERSION,
        timestamp: "2025-11-22T10:11:12Z".to_owned(),
        hostname: Some("ci-runner".to_owned()),
        environment: env,
        cases: 8,
        filter: Some("a&b".to_owned()),
        totals: Totals { tests: 2, failures: 1, duration_s: 1.75 },
        results,
        outputs: Outputs::in_dir(&PathBuf::from("reports/runs/gate-test")),
    }
}

#[test]
fn failed_report_renders_an_escaped_failure_element() {
    let report = synthetic_report();
    let xml = report.to_junit();
    check_well_formed(&xml);

    assert!(xml.contains("<testsuites name=\"e2eb gate\" tests=\"2\" failures=\"1\" errors=\"0\" time=\"1.750\">"));
    assert!(xml.contains(
        "<testsuite name=\"e2eb.properties.backup\" tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"0\" \
         time=\"0.250\" timestamp=\"2025-11-22T10:11:12\" hostname=\"ci-runner\">"
    ));
    assert!(xml.contains("name=\"e2eb.properties.vault\" tests=\"1\" failures=\"1\""));
    assert!(xml.contains("<property name=\"proptest_cases\" value=\"8\"/>"));
    assert!(xml.contains("<property name=\"commit\" value=\"0123abcd-dirty\"/>"));
    assert!(xml.contains("<property name=\"filter\" value=\"a&amp;b\"/>"));
    assert!(xml.contains("<testcase classname=\"e2eb.properties.vault\" name=\"bad_property\" time=\"1.500\">"));
    let first_line = escape_attr(&format!("Test failed: {HOSTILE}."));
    assert!(
        xml.contains(&format!("<failure message=\"{first_line}\" type=\"PropertyFailed\">")),
        "failure element with the first line as message:\n{xml}"
    );
    assert!(xml.contains("minimal failing input: bytes = [0, 1, 2]\n</failure>"), "full message as text:\n{xml}");
    assert!(xml.contains("<system-out>always holds &amp; never &lt;fails&gt;</system-out>"));
    assert_eq!(xml.matches("<failure ").count(), 1, "only the failed property has a failure");
    assert!(!xml.contains('\u{1}'));

    assert_eq!(report.exit_code(), 1);
    let human = report.to_human();
    assert!(human.contains("bad_property") && human.contains("FAIL"), "{human}");
    assert!(human.contains("minimal failing input"), "failure messages are shown:\n{human}");
    assert!(human.contains("2 properties, 1 failed"), "{human}");
    assert!(human.contains("reports/runs/gate-test/junit.xml") && human.contains("reports/runs/gate-test/gate.json"));

    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(json["results"][1]["suite"], "vault");
    assert_eq!(json["results"][1]["message"].as_str().unwrap(), report.results[1].message.as_deref().unwrap());
}

#[test]
fn passing_report_exits_zero_and_skips_empty_suites() {
    let mut report = synthetic_report();
    report.results.truncate(1);
    report.totals = Totals { tests: 1, failures: 0, duration_s: 0.25 };
    report.hostname = None;
    assert_eq!(report.exit_code(), 0);
    let xml = report.to_junit();
    check_well_formed(&xml);
    assert_eq!(xml.matches("<testsuite ").count(), 1, "no empty vault suite:\n{xml}");
    assert!(!xml.contains("<failure") && !xml.contains("hostname="));
    assert!(report.to_human().contains(": PASS"));
}

#[test]
fn the_checker_rejects_malformed_xml() {
    let bad = [
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a><b></a></b>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>x & y</a>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>\u{1}</a>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a v=\"<\"/>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a></a><b></b>",
    ];
    for doc in bad {
        assert!(std::panic::catch_unwind(|| check_well_formed(doc)).is_err(), "accepted {doc:?}");
    }
}

// ------------------------------------------------------------ real runs

fn check_run(filter: &str, suite: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested/gate");
    let report = gate::run(&args(filter, 2, out.clone()), &Quiet).unwrap();

    assert_eq!(report.totals.tests, 1);
    assert_eq!(report.results.len(), 1);
    assert_eq!(report.results[0].name, filter);
    assert_eq!(report.results[0].suite.as_str(), suite);
    assert_eq!(report.results[0].cases, 2);
    assert!(report.passed(), "{filter} failed: {:?}", report.results[0].message);
    assert_eq!(report.exit_code(), 0);
    assert_eq!(report.outputs.junit, out.join("junit.xml"));
    assert_eq!(report.outputs.json, out.join("gate.json"));

    let json_text = std::fs::read_to_string(&report.outputs.json).unwrap();
    assert_eq!(json_text, report.to_json().unwrap(), "gate.json is what --json prints");
    let json: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(json["schema_version"], SCHEMA_VERSION);
    assert_eq!(json["cases"], 2);
    assert_eq!(json["totals"]["tests"], 1);
    assert_eq!(json["totals"]["failures"], 0);
    assert_eq!(json["results"].as_array().unwrap().len(), 1);
    assert_eq!(json["results"][0]["name"], filter);
    assert_eq!(json["results"][0]["suite"], suite);
    assert_eq!(json["results"][0]["passed"], true);
    assert!(json["environment"]["commit"].is_string());
    let back: GateReport = serde_json::from_str(&json_text).unwrap();
    assert_eq!(back.results[0].name, report.results[0].name);

    let xml = std::fs::read_to_string(&report.outputs.junit).unwrap();
    assert_eq!(xml, report.to_junit());
    check_well_formed(&xml);
    assert!(xml.contains(&format!("<testcase classname=\"e2eb.properties.{suite}\" name=\"{filter}\"")));
    assert!(xml.contains("tests=\"1\" failures=\"0\""));
    assert!(!xml.contains("<failure"));
    let leftovers: Vec<_> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    let mut leftovers = leftovers;
    leftovers.sort();
    assert_eq!(leftovers, ["gate.json", "junit.xml"], "no temporary files left behind");
}

#[test]
fn backup_property_run_writes_junit_and_json() {
    check_run("key_digits_round_trip", "backup");
}

#[test]
fn vault_property_run_writes_junit_and_json() {
    check_run("vault_success_resets", "vault");
}

#[test]
fn unmatched_filter_is_an_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gate");
    let err = gate::run(&args("no_such_property_xyz", 2, out.clone()), &Quiet).unwrap_err();
    match &err {
        GateError::NoPropertyMatched { filter } => assert_eq!(filter, "no_such_property_xyz"),
        other => panic!("expected NoPropertyMatched, got {other:?}"),
    }
    assert!(err.to_string().contains("no_such_property_xyz"));
    assert!(!out.exists(), "nothing is created when nothing would run");
}

#[test]
fn unwritable_output_directory_is_a_write_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let out = file.join("gate");
    let err = gate::run(&args("key_digits_round_trip", 1, out.clone()), &Quiet).unwrap_err();
    match err {
        GateError::Write { path, .. } => assert_eq!(path, out),
        other => panic!("expected Write, got {other:?}"),
    }
}
