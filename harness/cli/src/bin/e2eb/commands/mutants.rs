//! `e2eb mutants run|report|status` (design §8 "Mutation testing").

use std::process::ExitCode;

use e2eb::environment;
use e2eb::mutants::{self, MutationReport, RunOptions};

use crate::cli::MutantsCommand;
use crate::error::Failure;

pub(crate) fn run(cmd: MutantsCommand) -> Result<ExitCode, Failure> {
    let repo = std::env::current_dir()?;
    match cmd {
        MutantsCommand::Run { in_diff, files, jobs, out, json } => {
            let out = out.unwrap_or_else(|| repo.join(format!("reports/runs/mutants-{}", environment::timestamp())));
            let report = mutants::run(&RunOptions { repo, out: out.clone(), in_diff, jobs, files })?;
            print_report(&report, json)?;
            if !json {
                out!("report written to {}/report.{{md,json}}", out.display());
            }
            // A run on a change passes when nothing it made survived.
            Ok(if report.counts.missed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        MutantsCommand::Report { from, arguments, out, json } => {
            let args = mutants::read_arguments(&arguments)?;
            let passes: Vec<&std::path::Path> = from.iter().map(std::path::PathBuf::as_path).collect();
            let report = MutationReport::from_passes(&passes, &args, &repo, environment::git_commit())?;
            report.write(&out)?;
            print_report(&report, json)?;
            if !json {
                out!("report written to {}/report.{{md,json}}", out.display());
            }
            Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        MutantsCommand::Status { json } => {
            let s = mutants::status(&repo);
            if json {
                out!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                out!("{}", s.line());
            }
            let current = s.freshness.as_ref().is_some_and(|f| !f.is_stale());
            Ok(if current { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

fn print_report(report: &MutationReport, json: bool) -> Result<(), Failure> {
    if json {
        out!("{}", serde_json::to_string_pretty(report)?);
    } else {
        out!("{}", report.summary_line());
    }
    Ok(())
}
