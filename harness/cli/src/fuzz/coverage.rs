//! Line coverage of `e2eb-core` reached by the fuzz corpora (design §8,
//! §9: "the fuzz corpora cover ≥ 85 % of the decoder modules' lines").
//!
//! `e2eb fuzz coverage` runs `cargo fuzz coverage` for each target over its
//! committed and campaign corpora, then asks `llvm-cov` (from the nightly
//! toolchain's `llvm-tools` component) for line counts: per target, and per
//! source file for all targets together (the profiles merged with
//! `llvm-profdata`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::tooling::{FuzzError, host_triple, run_checked, select_targets};
use crate::environment::{self, Environment};

/// Source files of `e2eb-core` that decode untrusted bytes: the modules the
/// coverage goal applies to.
pub const DECODER_MODULES: &[&str] = &[
    "harness/core/src/key.rs",
    "harness/core/src/backup/mod.rs",
    "harness/core/src/backup/crypt15.rs",
    "harness/core/src/backup/v2.rs",
    "harness/core/src/backup/metadata.rs",
    "harness/core/src/cobblestone.rs",
    "harness/core/src/gcm_stream.rs",
    "harness/core/src/vault/wire.rs",
];

/// The line coverage goal for decoder modules, percent.
pub const DECODER_GOAL_PERCENT: f64 = 85.0;

/// Line counts of one source file or one target.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Lines {
    /// Instrumented lines.
    pub count: u64,
    /// Lines executed at least once.
    pub covered: u64,
    /// covered / count, percent.
    pub percent: f64,
}

impl Lines {
    fn new(count: u64, covered: u64) -> Self {
        let percent = if count == 0 { 100.0 } else { covered as f64 * 100.0 / count as f64 };
        Self { count, covered, percent }
    }
}

/// A coverage report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CoverageReport {
    /// When it was made (UTC).
    pub created: String,
    /// Lines of e2eb-core covered by each target alone.
    pub per_target: BTreeMap<String, Lines>,
    /// Lines per e2eb-core source file, all targets together.
    pub per_file: BTreeMap<String, Lines>,
    /// The decoder modules together, all targets.
    pub decoders: Lines,
    /// The goal for `decoders`, percent.
    pub decoder_goal_percent: f64,
    /// Where it ran.
    pub environment: Environment,
}

impl CoverageReport {
    /// Whether every decoder module together meets the goal.
    pub fn meets_goal(&self) -> bool {
        self.decoders.percent >= self.decoder_goal_percent
    }
}

fn llvm_tool(name: &str) -> Result<PathBuf, FuzzError> {
    let sysroot = environment::command_line("rustc", &["+nightly", "--print", "sysroot"]).unwrap_or_default();
    let host = host_triple();
    let path = Path::new(&sysroot).join("lib/rustlib").join(host).join("bin").join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(FuzzError::ToolMissing {
            what: format!("{name} (llvm-tools of the nightly toolchain)"),
            install: "rustup component add llvm-tools-preview --toolchain nightly".into(),
        })
    }
}

/// Measures coverage for `targets` (empty: all) and writes `coverage.json`
/// and `coverage.md` into `out`.
pub fn run(
    fuzz_dir: &Path,
    targets: &[String],
    out: &Path,
    on_target: &mut dyn FnMut(&str),
) -> Result<CoverageReport, FuzzError> {
    let targets = select_targets(targets)?;
    super::tooling::check_tools(super::tooling::Sanitizer::Address)?;
    let cov = llvm_tool("llvm-cov")?;
    let profdata = llvm_tool("llvm-profdata")?;
    let root = super::tooling::repo_root(fuzz_dir);
    let root_abs = root.clone();
    let triple = host_triple();
    let mut per_target = BTreeMap::new();
    let mut profiles = Vec::new();
    let mut binaries = Vec::new();
    for t in &targets {
        on_target(t.name);
        let mut cmd = Command::new("cargo");
        cmd.args(["+nightly", "fuzz", "coverage", "--fuzz-dir"]).arg(fuzz_dir).arg(t.name).current_dir(&root);
        for dir in [fuzz_dir.join("work/corpus").join(t.name), fuzz_dir.join("corpus").join(t.name)] {
            if dir.is_dir() {
                cmd.arg(dir);
            }
        }
        run_checked(&mut cmd, "cargo fuzz coverage")?;
        let prof = fuzz_dir.join("coverage").join(t.name).join("coverage.profdata");
        // cargo-fuzz puts the coverage build under the target directory cargo
        // uses for the fuzz crate: fuzz/target, or the repository's target/.
        let candidates: Vec<PathBuf> = [fuzz_dir.join("target"), root.join("target")]
            .iter()
            .map(|dir| dir.join(triple).join("coverage").join(triple).join("release").join(t.name))
            .collect();
        let Some(bin) = candidates.iter().find(|p| p.is_file()).cloned() else {
            return Err(FuzzError::Io {
                path: candidates[0].clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "cargo fuzz coverage left no binary"),
            });
        };
        let json = export(&cov, &prof, std::slice::from_ref(&bin))?;
        let files = core_files(&json, &root_abs);
        let (count, covered) = files.values().fold((0, 0), |(a, b), l| (a + l.count, b + l.covered));
        per_target.insert(t.name.to_owned(), Lines::new(count, covered));
        profiles.push(prof);
        binaries.push(bin);
    }
    std::fs::create_dir_all(out).map_err(|e| FuzzError::Io { path: out.to_owned(), source: e })?;
    let merged = out.join("merged.profdata");
    let mut cmd = Command::new(&profdata);
    cmd.args(["merge", "-sparse"]).args(&profiles).arg("-o").arg(&merged);
    run_checked(&mut cmd, "llvm-profdata merge")?;
    let per_file = core_files(&export(&cov, &merged, &binaries)?, &root_abs);
    let _ = std::fs::remove_file(&merged);
    let (count, covered) = per_file
        .iter()
        .filter(|(f, _)| DECODER_MODULES.contains(&f.as_str()))
        .fold((0, 0), |(a, b), (_, l)| (a + l.count, b + l.covered));
    let report = CoverageReport {
        created: environment::rfc3339_now(),
        per_target,
        per_file,
        decoders: Lines::new(count, covered),
        decoder_goal_percent: DECODER_GOAL_PERCENT,
        environment: Environment::collect(),
    };
    let json = serde_json::to_string_pretty(&report).unwrap_or_default() + "\n";
    for (name, text) in [("coverage.json", json), ("coverage.md", report.to_markdown())] {
        let path = out.join(name);
        crate::atomic::write(&path, text.as_bytes(), false)
            .map_err(|e| FuzzError::Io { path: path.clone(), source: std::io::Error::other(e.to_string()) })?;
    }
    Ok(report)
}

fn export(cov: &Path, profile: &Path, binaries: &[PathBuf]) -> Result<Value, FuzzError> {
    let mut cmd = Command::new(cov);
    cmd.args(["export", "-summary-only", "-format=text"]).arg(format!("-instr-profile={}", profile.display()));
    for (i, b) in binaries.iter().enumerate() {
        if i > 0 {
            cmd.arg("-object");
        }
        cmd.arg(b);
    }
    let stdout = run_checked(&mut cmd, "llvm-cov export")?;
    serde_json::from_slice(&stdout).map_err(|e| FuzzError::Build {
        status: "llvm-cov export printed something that is not JSON".into(),
        tail: e.to_string(),
    })
}

/// Line counts of the e2eb-core source files in an `llvm-cov export` document,
/// keyed by path relative to the repository root.
fn core_files(export: &Value, root: &Path) -> BTreeMap<String, Lines> {
    let mut out = BTreeMap::new();
    let files =
        export["data"].as_array().into_iter().flatten().flat_map(|d| d["files"].as_array().into_iter().flatten());
    for f in files {
        let Some(name) = f["filename"].as_str() else { continue };
        let rel = Path::new(name).strip_prefix(root).map(|p| p.display().to_string()).unwrap_or(name.to_owned());
        // The fuzzing entry points are the harness itself, not code under test.
        if !rel.starts_with("harness/core/src/") || rel.ends_with("fuzzing.rs") {
            continue;
        }
        let lines = &f["summary"]["lines"];
        let count = lines["count"].as_u64().unwrap_or(0);
        let covered = lines["covered"].as_u64().unwrap_or(0);
        out.insert(rel, Lines::new(count, covered));
    }
    out
}

impl CoverageReport {
    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let r = self;
        let mut md = format!(
            "# Fuzz coverage of e2eb-core ({})\n\nDecoder modules together: **{:.1} %** of {} lines (goal ≥ {} %: {}).\n\n",
            r.created,
            r.decoders.percent,
            r.decoders.count,
            r.decoder_goal_percent,
            if r.meets_goal() { "met" } else { "**missed**" }
        );
        md.push_str("## Per source file (all targets)\n\n| file | decoder | lines | covered | % |\n| --- | --- | ---: | ---: | ---: |\n");
        for (f, l) in &r.per_file {
            let decoder = if DECODER_MODULES.contains(&f.as_str()) { "yes" } else { "" };
            md.push_str(&format!("| `{f}` | {decoder} | {} | {} | {:.1} |\n", l.count, l.covered, l.percent));
        }
        md.push_str(
            "\n## Per target (lines of e2eb-core reached by that target alone)\n\n| target | covered | of | % |\n| --- | ---: | ---: | ---: |\n",
        );
        for (t, l) in &r.per_target {
            md.push_str(&format!("| `{t}` | {} | {} | {:.1} |\n", l.covered, l.count, l.percent));
        }
        md.push_str("\n## Environment\n\n");
        md.push_str(&r.environment.to_markdown());
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_is_read_relative_to_the_root() {
        let doc = serde_json::json!({"data": [{"files": [
            {"filename": "/r/harness/core/src/key.rs", "summary": {"lines": {"count": 10, "covered": 9}}},
            {"filename": "/r/harness/core/src/fuzzing.rs", "summary": {"lines": {"count": 10, "covered": 1}}},
            {"filename": "/home/.cargo/registry/x.rs", "summary": {"lines": {"count": 10, "covered": 1}}}
        ]}]});
        let files = core_files(&doc, Path::new("/r"));
        assert_eq!(files.len(), 1);
        assert_eq!(files["harness/core/src/key.rs"], Lines::new(10, 9));
        assert!((files["harness/core/src/key.rs"].percent - 90.0).abs() < 1e-9);
    }
}
