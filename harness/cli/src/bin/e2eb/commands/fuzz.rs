//! `e2eb fuzz seed|run|cmin|coverage|replay` (design §8 "Fuzzing").

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use e2eb::environment;
use e2eb::fuzz::campaign::{self, Progress as Event};
use e2eb::fuzz::{cmin, coverage, replay, seed, select_targets};
use e2eb::progress::{Progress, Task, Unit};

use crate::cli::FuzzCommand;
use crate::error::Failure;
use crate::progress::Bars;

pub(crate) fn run(cmd: FuzzCommand) -> Result<ExitCode, Failure> {
    match cmd {
        FuzzCommand::Seed { fuzz_dir, json } => {
            let summary = seed::write_seed_corpora(&fuzz_dir)?;
            if json {
                out!("{}", serde_json::to_string(&summary)?);
            } else {
                out_raw!("{}", summary.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
        FuzzCommand::Run { targets, time, jobs, sanitizer, fuzz_dir, out, no_build, json } => {
            let out = out.unwrap_or_else(|| PathBuf::from(format!("reports/runs/fuzz-{}", environment::timestamp())));
            let opts = campaign::CampaignOptions {
                fuzz_dir,
                targets,
                time_per_target: time,
                jobs,
                sanitizer: sanitizer.into(),
                out: out.clone(),
                no_build,
            };
            let count = select_targets(&opts.targets)?.len() as u64;
            let bars = Bars::stderr();
            let overall = bars.task("fuzz", Some(count), Unit::Steps);
            let running: Mutex<HashMap<String, Box<dyn Task + '_>>> = Mutex::default();
            let secs = time.as_secs();
            let on_progress = |p: Event| {
                let Ok(mut running) = running.lock() else { return };
                match p {
                    Event::Building => overall.set_message("building with cargo fuzz"),
                    Event::Started { target } => {
                        overall.set_message("");
                        let task = bars.task(&target, Some(secs), Unit::Seconds);
                        running.insert(target, task);
                    }
                    Event::Status { target, elapsed, stats } => {
                        if let Some(task) = running.get(&target) {
                            task.set_position(elapsed as u64);
                            task.set_message(&format!(
                                "{} execs/s cov {} ft {} corpus {}",
                                stats.execs_per_sec, stats.coverage, stats.features, stats.corpus_inputs
                            ));
                        }
                    }
                    Event::Crashed { target } => bars.println(&format!("{target}: crash found; restarting the fuzzer")),
                    Event::Finished { target } => {
                        running.remove(&target);
                        overall.inc(1);
                    }
                }
            };
            let summary = campaign::run(&opts, &on_progress)?;
            drop(overall);
            if json {
                out!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                out_raw!("{}", summary.to_markdown());
                out!("\nsummary written to {}", out.display());
            }
            Ok(if summary.crash_groups == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        FuzzCommand::Cmin { targets, fuzz_dir, json } => {
            let done = cmin::minimise_corpora(&fuzz_dir, &targets)?;
            if json {
                out!("{}", serde_json::to_string_pretty(&done)?);
            } else {
                out_raw!("{}", cmin::CorpusMinimised::to_text(&done));
            }
            Ok(ExitCode::SUCCESS)
        }
        FuzzCommand::Coverage { targets, fuzz_dir, out, json } => {
            let out = out
                .unwrap_or_else(|| PathBuf::from(format!("reports/runs/fuzz-coverage-{}", environment::timestamp())));
            let n = select_targets(&targets)?.len() as u64;
            let bars = Bars::stderr();
            let bar = bars.task("coverage", Some(n), Unit::Steps);
            let report = coverage::run(&fuzz_dir, &targets, &out, &mut |t| {
                bar.set_message(t);
                bar.inc(1);
            })?;
            drop(bar);
            if json {
                out!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                out_raw!("{}", report.to_markdown());
                out!("\nreport written to {}", out.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        FuzzCommand::Replay { target, inputs } => {
            select_targets(std::slice::from_ref(&target))?;
            let done = replay::replay_inputs(&target, &inputs)?;
            out_raw!("{}", done.to_text());
            Ok(if done.failed() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}
