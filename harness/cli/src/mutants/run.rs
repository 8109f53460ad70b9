//! Running cargo-mutants over the scope of `.cargo/mutants.toml`: the whole
//! scope (hours on two cores), or only the mutants in a change
//! (`--in-diff BASE`, what a reviewer runs on a pull request), then the
//! report of that run.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::report::read_arguments;
use super::{ARGUMENTS, MutantsError, MutationReport, io_err};
use crate::environment;

/// What `e2eb mutants run` does.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The repository root (where `.cargo/mutants.toml` is).
    pub repo: PathBuf,
    /// Where cargo-mutants writes `mutants.out/` and this run's report.
    pub out: PathBuf,
    /// Only the mutants in the lines changed since this git revision.
    pub in_diff: Option<String>,
    /// Mutants built and tested at once.
    pub jobs: u32,
    /// Only these files (globs as cargo-mutants takes them); empty: the scope.
    pub files: Vec<String>,
}

/// Checks that cargo-mutants is installed.
pub fn check_tool() -> Result<String, MutantsError> {
    environment::command_line("cargo", &["mutants", "--version"]).ok_or(MutantsError::ToolMissing)
}

/// cargo-mutants' arguments for `opts`, given the diff file of `--in-diff`.
pub(super) fn command_args(opts: &RunOptions, diff: Option<&Path>) -> Vec<String> {
    let mut a: Vec<String> =
        vec!["mutants".into(), "--no-shuffle".into(), "--jobs".into(), opts.jobs.max(1).to_string()];
    a.push("--output".into());
    a.push(opts.out.display().to_string());
    if let Some(d) = diff {
        a.push("--in-diff".into());
        a.push(d.display().to_string());
    }
    for f in &opts.files {
        a.push("--file".into());
        a.push(f.clone());
    }
    a
}

/// Runs cargo-mutants as `opts` says, with its own progress on the
/// terminal, and writes the report of the run into `opts.out`.
pub fn run(opts: &RunOptions) -> Result<MutationReport, MutantsError> {
    check_tool()?;
    std::fs::create_dir_all(&opts.out).map_err(io_err(&opts.out))?;
    let diff = match &opts.in_diff {
        Some(base) => {
            let out = Command::new("git")
                .args(["diff", base.as_str()])
                .current_dir(&opts.repo)
                .output()
                .map_err(io_err(&opts.repo))?;
            if !out.status.success() {
                return Err(MutantsError::Tool {
                    command: format!("git diff {base}"),
                    status: out.status.to_string(),
                    tail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                });
            }
            let path = opts.out.join("diff.patch");
            std::fs::write(&path, &out.stdout).map_err(io_err(&path))?;
            Some(std::fs::canonicalize(&path).map_err(io_err(&path))?)
        }
        None => None,
    };
    let args = command_args(opts, diff.as_deref());
    let status = Command::new("cargo").args(&args).current_dir(&opts.repo).status().map_err(io_err(&opts.repo))?;
    // cargo-mutants exits 0 when every mutant was caught, 2 when some were
    // missed and 3 when some timed out: all three are results. Anything
    // else (1 usage, 4 the unmutated tree fails its tests) is not.
    if !matches!(status.code(), Some(0 | 2 | 3)) {
        return Err(MutantsError::Tool {
            command: format!("cargo {}", args.join(" ")),
            status: status.to_string(),
            tail: format!("see {}", opts.out.join("mutants.out/debug.log").display()),
        });
    }
    let arguments = read_arguments(&opts.repo.join(ARGUMENTS))?;
    let report = MutationReport::from_passes(&[&opts.out], &arguments, &opts.repo, environment::git_commit())?;
    report.write(&opts.out)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_scopes_by_diff_and_file() {
        let opts = RunOptions {
            repo: ".".into(),
            out: "/tmp/m".into(),
            in_diff: Some("main".into()),
            jobs: 0,
            files: vec!["harness/core/src/kdf.rs".into()],
        };
        assert_eq!(
            command_args(&opts, Some(Path::new("/tmp/m/diff.patch"))),
            [
                "mutants",
                "--no-shuffle",
                "--jobs",
                "1",
                "--output",
                "/tmp/m",
                "--in-diff",
                "/tmp/m/diff.patch",
                "--file",
                "harness/core/src/kdf.rs"
            ]
        );
    }
}
