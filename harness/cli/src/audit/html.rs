//! The audit's `report.html` (design §8 "Audit": "a self-contained
//! `report.html`"): one file with inline CSS and inline SVG charts, no
//! scripts and nothing fetched, so it opens the same from a CI artifact,
//! an e-mail attachment or an air-gapped laptop.

use std::fmt::Write as _;

use super::{
    AuditReport, findings_table, fuzz_replay_table, mutants_table, properties_table, steps_table, vault_sim_table,
    vectors_table,
};
use crate::report::chart::{Bar, BarChart};
use crate::report::xml::escape_text;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}.pass{color:#1a7f37;font-weight:bold}\
.fail{color:#c0392b;font-weight:bold}.skip{color:#777}.verdict{font-size:1.4em;padding:0.4em 0.8em;display:inline-block;border-radius:4px}\
.vpass{background:#e6f4ea}.vfail{background:#fde8e6}code{background:#f5f5f5;padding:0 3px}svg{max-width:100%;height:auto}";

impl AuditReport {
    /// The report as one self-contained HTML page (`report.html`).
    pub fn to_html(&self) -> String {
        html(self)
    }
}

fn html(r: &AuditReport) -> String {
    let mut h = String::new();
    let verdict = r.passed();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>e2eb audit {}</title><style>{STYLE}</style></head><body>",
        escape_text(&r.created)
    );
    let _ = write!(
        h,
        "<h1>e2eb audit</h1><p><span class=\"verdict {}\">{}</span> mode <code>{}</code>, {:.0} s, started {}, commit <code>{}</code></p>",
        if verdict { "vpass" } else { "vfail" },
        if verdict { "PASS" } else { "FAIL" },
        escape_text(&r.mode),
        r.duration_s,
        escape_text(&r.created),
        escape_text(&r.environment.commit)
    );

    h.push_str("<h2>Summary</h2>");
    h.push_str(&steps_table(r).to_html());
    let steps_chart = BarChart {
        title: "Where the audit's time went".into(),
        unit: "seconds".into(),
        bars: r
            .steps
            .iter()
            .map(|s| Bar { label: s.name.clone(), value: s.seconds, lower: None, upper: None })
            .collect(),
        references: Vec::new(),
        log_scale: false,
    };
    h.push_str(&steps_chart.to_svg());

    h.push_str("<h2>Findings</h2>");
    h.push_str(&findings_table(r).to_html());
    let failures = r.failures();
    if !failures.is_empty() {
        h.push_str("<h2>Failures</h2><ul>");
        for f in failures {
            let _ = write!(h, "<li><pre>{}</pre></li>", escape_text(&f));
        }
        h.push_str("</ul>");
    }

    if let Some(b) = &r.bench {
        h.push_str("<h2>Performance (docs/design.md §9)</h2>");
        h.push_str(&b.targets_table().to_html());
        h.push_str(&b.throughput_chart().to_svg());
        h.push_str(&b.operations_chart().to_svg());
        h.push_str("<h3>Benchmarks</h3>");
        h.push_str(&b.benchmarks_table().to_html());
        h.push_str("<h3>Anchors</h3>");
        h.push_str(&b.anchors_table().to_html());
        if !b.file_runs.is_empty() {
            h.push_str("<h3>File to file</h3>");
            h.push_str(&b.file_runs_table().to_html());
        }
        if let Some(f) = &b.fleet {
            let _ = write!(
                h,
                "<p>Fleet: {} recoveries by {} clients, <b>{:.0} recoveries/s</b>, p50 {:.1} ms, p99 {:.1} ms (5 durable sites, test KSF profile).</p>",
                f.recoveries, f.clients, f.recoveries_per_s, f.p50_ms, f.p99_ms
            );
        }
    }

    h.push_str("<h2>Vectors</h2>");
    h.push_str(&vectors_table(r).to_html());
    let _ = write!(h, "<h2>Properties ({} cases each)</h2>", r.cases);
    h.push_str(&properties_table(r).to_html());
    h.push_str("<h2>Fuzz corpus replay</h2>");
    h.push_str(&fuzz_replay_table(r).to_html());
    h.push_str("<h2>Vault simulation</h2>");
    h.push_str(&vault_sim_table(r).to_html());
    h.push_str("<h2>Mutation testing</h2>");
    h.push_str(&mutants_table(r).to_html());
    let e = &r.environment;
    let _ = write!(
        h,
        "<h2>Environment</h2><table><tr><th>CPU</th><td>{}</td></tr><tr><th>CPU flags</th><td>{}</td></tr><tr><th>cores</th><td>{}</td></tr><tr><th>memory</th><td>{} GiB</td></tr><tr><th>OS</th><td>{}</td></tr><tr><th>rustc</th><td>{}</td></tr><tr><th>commit</th><td><code>{}</code></td></tr></table>",
        escape_text(&e.cpu_model),
        escape_text(&e.cpu_flags.join(" ")),
        e.cores,
        e.memory_gib,
        escape_text(&e.os),
        escape_text(&e.rustc),
        escape_text(&e.commit)
    );
    h.push_str("</body></html>\n");
    h
}
