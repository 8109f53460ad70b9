//! `e2eb vectors generate|verify|convert-rfc9807` (design §8 "Vectors").

use std::process::ExitCode;

use e2eb::atomic::{self, PathError};
use e2eb::vectors;

use crate::cli::VectorsCommand;
use crate::error::Failure;

pub(crate) fn run(cmd: VectorsCommand) -> Result<ExitCode, Failure> {
    match cmd {
        VectorsCommand::Generate { dir, check: true } => {
            vectors::check_dir(&dir, "--dir")?;
            let stale = vectors::stale(&dir);
            if !stale.is_empty() {
                let names: Vec<String> = stale.iter().map(|p| p.display().to_string()).collect();
                return Err(Failure::msg(format!("regenerating would change {}", names.join(", "))));
            }
            out!("vectors are up to date");
            Ok(ExitCode::SUCCESS)
        }
        VectorsCommand::Generate { dir, check: false } => {
            let changed = vectors::generate(&dir)?;
            for c in &changed {
                out!("wrote {c}");
            }
            if changed.is_empty() {
                out!("no change");
            }
            Ok(ExitCode::SUCCESS)
        }
        VectorsCommand::Verify { dir, json } => {
            vectors::check_dir(&dir, "--dir")?;
            let report = vectors::verify(&dir);
            if json {
                out!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                out_raw!("{}", report.to_text());
            }
            Ok(if report.failed() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        VectorsCommand::ConvertRfc9807 { from, dir } => {
            let rfc = std::fs::read_to_string(&from).map_err(|e| PathError::new(&from, e))?;
            let file = vectors::rfc9807::convert(&rfc).map_err(|e| Failure::at(from.display(), e))?;
            let path = vectors::rfc9807::output_path(&dir);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| PathError::new(parent, e))?;
            }
            atomic::write(&path, vectors::to_json(&file).as_bytes(), false)?;
            out!("wrote {} ({} cases)", path.display(), file.cases.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}
