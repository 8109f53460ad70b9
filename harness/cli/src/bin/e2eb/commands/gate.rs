//! `e2eb gate` (design §8): the property suites at CI depth.

use std::process::ExitCode;

use e2eb::properties::gate;

use crate::cli::GateArgs;
use crate::error::Failure;
use crate::progress::Bars;

pub(crate) fn run(args: &GateArgs) -> Result<ExitCode, Failure> {
    let report = gate::run(&args.into(), &Bars::stderr())?;
    if args.json {
        out_raw!("{}", report.to_json()?);
    } else {
        out_raw!("{}", report.to_human());
    }
    Ok(if report.exit_code() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
