//! `e2eb audit` (design §8 "Audit"): the main job.

use std::process::ExitCode;

use e2eb::atomic::PathError;
use e2eb::{audit, properties};

use crate::cli::AuditArgs;
use crate::error::Failure;
use crate::progress::Bars;

pub(crate) fn run(args: AuditArgs) -> Result<ExitCode, Failure> {
    let AuditArgs { quick, cases, vectors, out, json, no_bench } = args;
    e2eb::vectors::check_dir(&vectors, "--vectors")?;
    let repo = std::env::current_dir()?;
    let opts = audit::AuditOptions {
        quick,
        cases: cases.unwrap_or(if quick { 16 } else { properties::cases_from_env(128) }),
        vector_dir: vectors,
        out: out.unwrap_or_else(|| audit::default_out(&repo)),
        repo,
        sim_runs: if quick { 4 } else { 24 },
        bench: !no_bench,
    };
    std::fs::create_dir_all(&opts.out).map_err(|e| PathError::new(&opts.out, e))?;
    let report = audit::run(&opts, &Bars::stderr());
    report.write(&opts.out)?;
    if json {
        out!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        out_raw!("{}", report.to_markdown());
        out!("\nreport written to {}/report.{{md,json,html}}", opts.out.display());
    }
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
