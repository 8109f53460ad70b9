//! The audit's `report.html` (design §8 "Audit": "a self-contained
//! `report.html`"): one file with inline CSS and inline SVG charts, no
//! scripts and nothing fetched, so it opens the same from a CI artifact,
//! an e-mail attachment or an air-gapped laptop.

use std::fmt::Write as _;

use super::{
    AuditReport, evidence_table, findings_html, fuzz_replay_table, mutants_table, performance_table, properties_table,
    scope_table, steps_table, threats_table, vault_sim_table, vectors_table,
};
use crate::report::chart::{Bar, BarChart};
use crate::report::xml::escape_text;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}.pass{color:#1a7f37;font-weight:bold}\
.fail{color:#c0392b;font-weight:bold}.skip{color:#777}.verdict{font-size:1.4em;padding:0.4em 0.8em;display:inline-block;border-radius:4px}\
.vpass{background:#e6f4ea}.vfail{background:#fde8e6}.vnone{background:#eee}p.explain{max-width:60em}\
.finding{border-left:4px solid #999;padding:0.2em 1em;margin:0.8em 0;background:#fafafa}.finding h3{margin:0.3em 0}\
.sev{font-size:0.8em;font-weight:normal;color:#555}.sev-high,.sev-medium{border-color:#c0392b}.sev-low{border-color:#e67e22}\
.sev-performance,.sev-process{border-color:#3b6ea5}dl{display:grid;grid-template-columns:7em 1fr;gap:0.2em 1em}dt{color:#555}dd{margin:0}code{background:#f5f5f5;padding:0 3px}svg{max-width:100%;height:auto}";

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
        "<h1>e2eb audit</h1><p><span class=\"verdict {}\">Security: {}</span> {}. Mode <code>{}</code>, {:.0} s, started {}, commit <code>{}</code>.</p>",
        if verdict { "vpass" } else { "vfail" },
        if verdict { "PASS" } else { "FAIL" },
        escape_text(&r.verdict_line()),
        escape_text(&r.mode),
        r.duration_s,
        escape_text(&r.created),
        escape_text(&r.environment.commit)
    );
    let perf_class = match r.performance.verdict.as_str() {
        "met" => "vpass",
        "missed" => "vfail",
        _ => "vnone",
    };
    let _ = write!(
        h,
        "<p class=\"explain\"><span class=\"verdict {perf_class}\">Performance: {}</span> {}</p>",
        escape_text(&r.performance.verdict),
        escape_text(&r.performance.explanation)
    );

    h.push_str(
        "<p class=\"nav\"><a href=\"#scope\">scope</a> · <a href=\"#threats\">threats</a> · <a href=\"#findings\">findings</a> · \
         <a href=\"#evidence\">committed evidence</a> · <a href=\"#performance\">performance</a> · <a href=\"#steps\">steps</a> · \
         <a href=\"#vectors\">vectors</a> · <a href=\"#properties\">properties</a> · <a href=\"#fuzz\">fuzz replay</a> · \
         <a href=\"#vault\">vault simulation</a> · <a href=\"#mutants\">mutation testing</a> · <a href=\"#environment\">environment</a></p>",
    );
    h.push_str("<h2 id=\"scope\">Scope: what ran, how deep, and what did not</h2>");
    h.push_str(&scope_table(&r.scope).to_html());
    h.push_str("<h2 id=\"threats\">Threats (docs/design.md §5.1, §4) and what covered them</h2>");
    h.push_str(&threats_table(&r.threats).to_html());
    h.push_str("<h2 id=\"findings\">Findings</h2>");
    h.push_str(&findings_html(&r.findings));
    let failures = r.failures();
    if !failures.is_empty() {
        h.push_str("<h2 id=\"failures\">Failures</h2><ul>");
        for f in failures {
            let _ = write!(h, "<li><pre>{}</pre></li>", escape_text(&f));
        }
        h.push_str("</ul>");
    }
    h.push_str("<h2 id=\"evidence\">Committed evidence</h2>");
    h.push_str(&evidence_table(r).to_html());

    h.push_str("<h2 id=\"performance\">Performance (docs/design.md §9)</h2>");
    let _ = write!(h, "<p class=\"explain\">{}</p>", escape_text(&r.performance.explanation));
    if let Some(b) = &r.bench {
        h.push_str(&performance_table(&r.performance).to_html());
        h.push_str(&b.throughput_chart().to_svg());
        h.push_str(&b.operations_chart().to_svg());
        for (heading, table) in b.sections() {
            let _ = write!(h, "<h3>{}</h3>", escape_text(&heading));
            h.push_str(&table.to_html());
        }
        if let Some(f) = &b.fleet {
            let _ = write!(
                h,
                "<p>Fleet: {} recoveries by {} clients, <b>{:.0} recoveries/s</b>, p50 {:.1} ms, p99 {:.1} ms (5 durable sites, test KSF profile).</p>",
                f.recoveries, f.clients, f.recoveries_per_s, f.p50_ms, f.p99_ms
            );
        }
        h.push_str("<p>The full benchmark report: <a href=\"bench/report.md\">bench/report.md</a>.</p>");
    }

    h.push_str("<h2 id=\"steps\">Steps</h2>");
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

    h.push_str("<h2 id=\"vectors\">Vectors</h2>");
    h.push_str(&vectors_table(r).to_html());
    let _ = write!(h, "<h2 id=\"properties\">Properties ({} cases each)</h2>", r.cases);
    h.push_str(&properties_table(r).to_html());
    h.push_str("<h2 id=\"fuzz\">Fuzz corpus replay</h2>");
    h.push_str(&fuzz_replay_table(r).to_html());
    h.push_str("<h2 id=\"vault\">Vault simulation</h2>");
    h.push_str(&vault_sim_table(r).to_html());
    h.push_str("<h2 id=\"mutants\">Mutation testing</h2>");
    h.push_str(&mutants_table(r).to_html());
    let e = &r.environment;
    let _ = write!(
        h,
        "<h2 id=\"environment\">Environment</h2><table><tr><th>CPU</th><td>{}</td></tr><tr><th>CPU flags</th><td>{}</td></tr><tr><th>cores</th><td>{}</td></tr><tr><th>memory</th><td>{} GiB</td></tr><tr><th>OS</th><td>{}</td></tr><tr><th>rustc</th><td>{}</td></tr><tr><th>commit</th><td><code>{}</code></td></tr></table>",
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
