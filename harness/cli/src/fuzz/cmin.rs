//! `e2eb fuzz cmin` (design §8): the committed corpora shrunk to what the
//! campaign corpora cover, with libFuzzer's own merge.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::tooling::{FuzzError, asan_options, binary, io_err, select_targets};

/// What [`minimise_corpora`] did for one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CorpusMinimised {
    /// Target.
    pub target: String,
    /// Inputs looked at (committed and campaign corpora).
    pub inputs_before: usize,
    /// Inputs kept in `corpus/<target>/` besides the seeds.
    pub kept: usize,
    /// Their total size, bytes.
    pub kept_bytes: u64,
}

impl CorpusMinimised {
    /// One line per target, for a person.
    pub fn to_text(done: &[Self]) -> String {
        done.iter()
            .map(|m| {
                format!(
                    "{:20} {:6} inputs -> {:4} kept besides the seeds ({} bytes)\n",
                    m.target, m.inputs_before, m.kept, m.kept_bytes
                )
            })
            .collect()
    }
}

/// Replaces the non-seed inputs of each committed corpus `corpus/<target>/`
/// with the smallest set of inputs, from it and from the campaign corpus
/// `work/corpus/<target>/`, that reaches every coverage feature (libFuzzer's
/// `-merge=1`). Seeds (`seed-*`) stay as they are. Needs built binaries.
pub fn minimise_corpora(fuzz_dir: &Path, targets: &[String]) -> Result<Vec<CorpusMinimised>, FuzzError> {
    if !fuzz_dir.join("Cargo.toml").is_file() {
        return Err(FuzzError::NoFuzzDir(fuzz_dir.to_owned()));
    }
    let mut out = Vec::new();
    for t in select_targets(targets)? {
        let bin = binary(fuzz_dir, t.name);
        if !bin.is_file() {
            return Err(FuzzError::NotBuilt { target: t.name.to_owned(), path: bin });
        }
        let committed = fuzz_dir.join("corpus").join(t.name);
        let work = fuzz_dir.join("work").join("corpus").join(t.name);
        let merged = fuzz_dir.join("work").join("merged").join(t.name);
        let _ = std::fs::remove_dir_all(&merged);
        std::fs::create_dir_all(&merged).map_err(io_err(&merged))?;
        let files = |dir: &Path| -> Vec<PathBuf> {
            std::fs::read_dir(dir)
                .map(|d| d.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect())
                .unwrap_or_default()
        };
        let is_seed = |p: &Path| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("seed-"));
        let inputs_before = files(&committed).len() + files(&work).len();
        let mut cmd = Command::new(&bin);
        cmd.arg("-merge=1").arg(&merged).arg(&committed);
        if work.is_dir() {
            cmd.arg(&work);
        }
        let status = cmd
            .env("ASAN_OPTIONS", asan_options())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(io_err(&bin))?;
        if !status.success() {
            return Err(FuzzError::Build { status: format!("{} -merge=1: {status}", t.name), tail: String::new() });
        }
        let seeds: Vec<Vec<u8>> =
            files(&committed).iter().filter(|p| is_seed(p)).filter_map(|p| std::fs::read(p).ok()).collect();
        for old in files(&committed).into_iter().filter(|p| !is_seed(p)) {
            std::fs::remove_file(&old).map_err(io_err(&old))?;
        }
        let (mut kept, mut kept_bytes) = (0, 0u64);
        for p in files(&merged) {
            let data = std::fs::read(&p).map_err(io_err(&p))?;
            if seeds.contains(&data) {
                continue;
            }
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let dest = committed.join(format!("min-{name}"));
            std::fs::write(&dest, &data).map_err(io_err(&dest))?;
            kept += 1;
            kept_bytes += data.len() as u64;
        }
        let _ = std::fs::remove_dir_all(&merged);
        out.push(CorpusMinimised { target: t.name.to_owned(), inputs_before, kept, kept_bytes });
    }
    Ok(out)
}
