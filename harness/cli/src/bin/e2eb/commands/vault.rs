//! `e2eb vault sim|demo` and the hidden kill -9 workloads (design §5).

use std::process::ExitCode;

use e2eb::progress::{Progress, Unit};
use e2eb::vault::{demo, fleet_stress, sim, site_stress};

use crate::cli::VaultCommand;
use crate::error::{Failure, Stdout};
use crate::progress::Bars;

pub(crate) fn run(cmd: VaultCommand) -> Result<ExitCode, Failure> {
    match cmd {
        VaultCommand::Sim { sites, seed, runs, steps, limit, schedule, no_hsm_counter, jobs, schedules, json } => {
            let opts = sim::SimOptions {
                sites,
                seed,
                runs,
                steps,
                limit,
                hsm_counter: !no_hsm_counter,
                jobs,
                schedules,
                kind: schedule.into(),
                ..sim::SimOptions::default()
            };
            let bars = Bars::stderr();
            let bar = bars.task("vault sim", Some(runs), Unit::Steps);
            let report = sim::simulate(&opts, &mut |n| bar.set_position(n))?;
            drop(bar);
            if json {
                out!("{}", serde_json::to_string(&report)?);
            } else {
                out_raw!("{}", report.to_text(&opts));
            }
            Ok(if report.violations == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        // These write as they go; a reader that goes away ends them quietly.
        VaultCommand::SiteStress { db } => {
            let mut out = Stdout::default();
            let r = site_stress::run(&db, &mut std::io::stdin().lock(), &mut out);
            out.finish(r)?;
            Ok(ExitCode::SUCCESS)
        }
        VaultCommand::FleetStress { dir } => {
            let mut out = Stdout::default();
            let r = fleet_stress::run(&dir, &mut out);
            out.finish(r)?;
            Ok(ExitCode::SUCCESS)
        }
        VaultCommand::Demo { profile } => {
            let mut out = Stdout::default();
            let r = demo::run(profile.into(), &mut out);
            out.finish(r)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
