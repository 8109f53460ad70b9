//! `e2eb bench run|render|compare|measure` (design §8 "Benchmarks", §9).

use std::process::ExitCode;

use e2eb::bench::{anchors, compare, run};

use crate::cli::BenchCommand;
use crate::error::Failure;
use crate::progress::Bars;

pub(crate) fn run(cmd: BenchCommand) -> Result<ExitCode, Failure> {
    match cmd {
        BenchCommand::Run { name, quick, full, busy, out, filter, fleet_clients, skip_processes, json } => {
            run::check_name(&name)?;
            let repo = std::env::current_dir()?;
            let mode = match (quick, full) {
                (true, _) => run::Mode::Quick,
                (_, true) => run::Mode::Full,
                _ => run::Mode::Standard,
            };
            let out = out.unwrap_or_else(|| repo.join("reports/runs").join(format!("bench-{name}")));
            let opts =
                run::RunOptions { name, mode, repo, out: out.clone(), filter, fleet_clients, skip_processes, busy };
            let report = run::run(&opts, &Bars::stderr())?;
            if json {
                out!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                out_raw!("{}", report.summary_text());
                out!("report written to {}", out.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Render { dir } => {
            let report = compare::load(&dir)?;
            run::render_report(&report, &dir)?;
            out!("rewrote {} from its report.json", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Compare { base, new, threshold, json } => {
            // Exit 2, not 1, when there is nothing to compare: a CI gate
            // must tell a regression from a broken input.
            let loaded = compare::load(&base).and_then(|b| Ok((b, compare::load(&new)?)));
            let (b, n) = match loaded {
                Ok(both) => both,
                Err(e) => {
                    crate::error::report(&Failure::from(e));
                    return Ok(ExitCode::from(2));
                }
            };
            let c = compare::compare(&b, &n, threshold);
            if json {
                out!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                out_raw!("{}", c.to_text());
            }
            Ok(if c.regressions > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        BenchCommand::Measure { command } => {
            let (program, args) = command.split_first().ok_or_else(|| Failure::msg("bench measure: no program"))?;
            let m = anchors::measure_child(program, args)?;
            out!("{}", serde_json::to_string(&m)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
