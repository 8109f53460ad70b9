//! The audit's `report.html` (`DESIGN.md` §8: "a self-contained
//! `report.html`"): one file with inline CSS and inline SVG charts, no
//! scripts and nothing fetched, so it opens the same from a CI artifact,
//! an e-mail attachment or an air-gapped laptop.

use std::fmt::Write as _;

use crate::audit::{AuditReport, result_word};
use crate::bench_report::{TargetStatus, Unit, fmt_time, status_word};
use crate::svg_chart::{Bar, BarChart, escape};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}.pass{color:#1a7f37;font-weight:bold}\
.fail{color:#c0392b;font-weight:bold}.skip{color:#777}.verdict{font-size:1.4em;padding:0.4em 0.8em;display:inline-block;border-radius:4px}\
.vpass{background:#e6f4ea}.vfail{background:#fde8e6}code{background:#f5f5f5;padding:0 3px}svg{max-width:100%;height:auto}";

fn class(passed: Option<bool>) -> &'static str {
    match passed {
        Some(true) => "pass",
        Some(false) => "fail",
        None => "skip",
    }
}

/// Renders the audit as one self-contained HTML page.
pub fn to_html(r: &AuditReport) -> String {
    let mut h = String::new();
    let verdict = r.passed();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>e2eb audit {}</title><style>{STYLE}</style></head><body>",
        escape(&r.created)
    );
    let _ = write!(
        h,
        "<h1>e2eb audit</h1><p><span class=\"verdict {}\">{}</span> mode <code>{}</code>, {:.0} s, started {}, commit <code>{}</code></p>",
        if verdict { "vpass" } else { "vfail" },
        if verdict { "PASS" } else { "FAIL" },
        escape(&r.mode),
        r.duration_s,
        escape(&r.created),
        escape(&r.environment.commit)
    );

    h.push_str("<h2>Summary</h2><table><tr><th>step</th><th>result</th><th>time (s)</th><th>detail</th></tr>");
    for s in &r.steps {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td class=\"n\">{:.1}</td><td>{}</td></tr>",
            escape(&s.name),
            class(s.passed),
            result_word(s.passed),
            s.seconds,
            escape(&s.detail)
        );
    }
    h.push_str("</table>");
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

    h.push_str("<h2>Findings</h2><table><tr><th>id</th><th>severity</th><th>finding</th><th>evidence</th></tr>");
    for f in &r.findings {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&f.id),
            escape(&f.severity),
            escape(&f.title),
            escape(&f.evidence)
        );
    }
    h.push_str("</table>");
    let failures = r.failures();
    if !failures.is_empty() {
        h.push_str("<h2>Failures</h2><ul>");
        for f in failures {
            let _ = write!(h, "<li><pre>{}</pre></li>", escape(&f));
        }
        h.push_str("</ul>");
    }

    if let Some(b) = &r.bench {
        h.push_str("<h2>Performance (DESIGN.md §9)</h2><table><tr><th>target</th><th>required</th><th>measured</th><th>status</th><th>evidence</th></tr>");
        for t in &b.targets {
            let cls = match t.status {
                TargetStatus::Met => "pass",
                TargetStatus::Missed => "fail",
                TargetStatus::NotMeasured => "skip",
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{} {} {}</td><td class=\"n\">{}</td><td class=\"{cls}\">{}</td><td>{}</td></tr>",
                escape(&t.description),
                escape(&t.comparison),
                t.required,
                escape(&t.unit),
                t.measured.map(|m| format!("{m:.2} {}", escape(&t.unit))).unwrap_or_else(|| "—".into()),
                status_word(t.status).trim_matches('*'),
                escape(&t.evidence)
            );
        }
        h.push_str("</table>");
        h.push_str(&b.throughput_chart().to_svg());
        h.push_str(&b.operations_chart().to_svg());
        h.push_str("<h3>Benchmarks</h3><table><tr><th>benchmark</th><th>median [95 %]</th><th>rate</th><th>× openssl</th></tr>");
        for m in &b.benchmarks {
            let rate = match (m.rate, m.unit) {
                (Some(x), Some(u)) => format!("{:.1} {}", u.scale(x.point), u.rate_label()),
                _ => "—".into(),
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{} [{} – {}]</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                escape(&m.id),
                fmt_time(m.time_ns.point),
                fmt_time(m.time_ns.lower),
                fmt_time(m.time_ns.upper),
                rate,
                match (m.unit, m.ratio_to_anchor) {
                    (Some(Unit::Bytes), Some(x)) => format!("{x:.2}×"),
                    _ => "—".into(),
                }
            );
        }
        h.push_str("</table><h3>Anchors and file runs</h3><table><tr><th>what</th><th>median time</th><th>rate</th><th>peak RSS</th><th>× anchor</th></tr>");
        for a in &b.anchors {
            let _ = write!(
                h,
                "<tr><td>{} <code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                escape(&a.description),
                escape(&a.command),
                a.median_s.map(|t| format!("{t:.3} s")).unwrap_or_else(|| "—".into()),
                if a.available {
                    a.rate.map(crate::bench_report::fmt_bytes_rate).unwrap_or_else(|| "—".into())
                } else {
                    "not run".into()
                },
                a.peak_rss_kib.map(crate::bench_report::fmt_kib).unwrap_or_else(|| "—".into()),
                escape(a.note.as_deref().unwrap_or("anchor"))
            );
        }
        for f in &b.file_runs {
            let _ = write!(
                h,
                "<tr><td>e2eb: {}</td><td class=\"n\">{:.3} s</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                escape(&f.description),
                f.median_s,
                crate::bench_report::fmt_bytes_rate(f.rate),
                f.peak_rss_kib.map(crate::bench_report::fmt_kib).unwrap_or_else(|| "—".into()),
                f.ratio_to_anchor.map(|x| format!("{x:.2}×")).unwrap_or_else(|| "—".into())
            );
        }
        h.push_str("</table>");
        if let Some(f) = &b.fleet {
            let _ = write!(
                h,
                "<p>Fleet: {} recoveries by {} clients, <b>{:.0} recoveries/s</b>, p50 {:.1} ms, p99 {:.1} ms (5 durable sites, test KSF profile).</p>",
                f.recoveries, f.clients, f.recoveries_per_s, f.p50_ms, f.p99_ms
            );
        }
    }

    h.push_str("<h2>Vectors</h2><table><tr><th>family</th><th>passed</th><th>failed</th></tr>");
    for f in &r.vectors.families {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n {}\">{}</td></tr>",
            escape(&f.family),
            f.passed,
            if f.failures.is_empty() { "" } else { "fail" },
            f.failures.len()
        );
    }
    let _ = write!(
        h,
        "</table><h2>Properties ({} cases each)</h2><table><tr><th>property</th><th>result</th><th>time (s)</th></tr>",
        r.cases
    );
    for p in &r.properties {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"{}\">{}</td><td class=\"n\">{:.2}</td></tr>",
            escape(p.name),
            class(Some(p.passed)),
            if p.passed { "pass" } else { "FAIL" },
            p.duration.as_secs_f64()
        );
    }
    h.push_str("</table><h2>Fuzz corpus replay</h2><table><tr><th>target</th><th>corpus</th><th>regressions</th><th>failures</th></tr>");
    for t in &r.fuzz_replay {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n {}\">{}</td></tr>",
            escape(&t.target),
            t.corpus,
            t.regressions,
            class(Some(t.passed())),
            t.failures.len()
        );
    }
    h.push_str("</table><h2>Vault simulation</h2><table><tr><th>simulation</th><th>runs</th><th>faults</th><th>violations</th><th>max verifications per record</th><th>result</th></tr>");
    for v in &r.vault_sim {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{} (limit {})</td><td class=\"{}\">{}</td></tr>",
            escape(&v.label),
            v.report.runs,
            v.report.faults,
            v.report.violations,
            v.report.max_verifications_per_record,
            v.report.limit,
            class(Some(v.passed())),
            if v.passed() { "pass" } else { "FAIL" }
        );
    }
    let e = &r.environment;
    let _ = write!(
        h,
        "</table><h2>Environment</h2><table><tr><th>CPU</th><td>{}</td></tr><tr><th>CPU flags</th><td>{}</td></tr><tr><th>cores</th><td>{}</td></tr><tr><th>memory</th><td>{} GiB</td></tr><tr><th>OS</th><td>{}</td></tr><tr><th>rustc</th><td>{}</td></tr><tr><th>commit</th><td><code>{}</code></td></tr></table>",
        escape(&e.cpu_model),
        escape(&e.cpu_flags.join(" ")),
        e.cores,
        e.memory_gib,
        escape(&e.os),
        escape(&e.rustc),
        escape(&e.commit)
    );
    h.push_str("</body></html>\n");
    h
}
