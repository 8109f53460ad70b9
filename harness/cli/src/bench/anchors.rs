//! The anchors a benchmark run measures beside the suite (design §8
//! "Benchmarks", §9): openssl's single-core AES-256-GCM, and the
//! file-to-file runs of our binary next to wa-crypt-tools, each child
//! measured by `e2eb bench measure` (wall time and its own peak memory,
//! from `RUSAGE_CHILDREN`). The 1 GiB runs next to `dd` and `age`, idle and
//! busy, are the pass of `bench/gib.rs`, built from the helpers here.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::gib;
use super::run::{BenchError, Mode, RunOptions, io_err};
use crate::bench::report::{Anchor, FileRun, OPENSSL_ANCHOR, WA_DECRYPT_ANCHOR, WA_ENCRYPT_ANCHOR};
use crate::child_output::tail;
use crate::interop_tools;
use crate::progress::{self, Progress};

/// Parses `openssl speed -mr` output: the `+F:` line's last field is bytes/s.
pub fn parse_openssl_mr(stdout: &str) -> Option<f64> {
    stdout
        .lines()
        .rev()
        .filter(|l| l.starts_with("+F:"))
        .filter_map(|l| l.rsplit(':').next()?.trim().parse().ok())
        .next()
}

pub(super) fn openssl_anchor(mode: Mode, progress: &dyn Progress) -> Anchor {
    let seconds = if mode == Mode::Quick { "1" } else { "3" };
    let args = ["speed", "-mr", "-evp", "aes-256-gcm", "-bytes", "16384", "-seconds", seconds];
    let command = format!("openssl {}", args.join(" "));
    let pb = progress.task("anchor", Some(1), progress::Unit::Steps);
    pb.set_message(&command);
    let version = crate::environment::command_line("openssl", &["version"]);
    let result = Command::new("openssl").args(args).stdin(Stdio::null()).stderr(Stdio::null()).output();
    drop(pb);
    let (available, rate, note) = match result {
        Ok(out) if out.status.success() => match parse_openssl_mr(&String::from_utf8_lossy(&out.stdout)) {
            Some(r) => (true, Some(r), version),
            None => (false, None, Some("could not parse openssl's output".into())),
        },
        Ok(out) => (false, None, Some(format!("openssl failed: {}", out.status))),
        Err(e) => (false, None, Some(format!("openssl not found ({e}); install it to get the §9 anchor"))),
    };
    Anchor {
        id: OPENSSL_ANCHOR.into(),
        description: "OpenSSL AES-256-GCM, 16 KiB messages, one core".into(),
        command,
        available,
        rate,
        median_s: None,
        peak_rss_kib: None,
        note,
    }
}

/// What `e2eb bench measure` prints: one child's wall time and peak memory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildMeasure {
    /// Wall time from spawn to exit, seconds.
    pub wall_s: f64,
    /// Peak resident set size, KiB (`ru_maxrss`).
    pub peak_rss_kib: u64,
    /// Exit code (None if killed by a signal).
    pub code: Option<i32>,
}

/// Runs one program and measures it; meant to run inside a fresh
/// `e2eb bench measure` process so that `RUSAGE_CHILDREN` covers only it.
pub fn measure_child(program: &OsString, args: &[OsString]) -> Result<ChildMeasure, BenchError> {
    let start = Instant::now();
    let status = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| BenchError::Child { what: program.to_string_lossy().into_owned(), detail: e.to_string() })?;
    let wall_s = start.elapsed().as_secs_f64();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map_err(|e| BenchError::Child { what: "getrusage".into(), detail: e.to_string() })?;
    Ok(ChildMeasure { wall_s, peak_rss_kib: u64::try_from(usage.max_rss()).unwrap_or(0), code: status.code() })
}

/// Runs `program args` under `e2eb bench measure` (`me` is this program)
/// `runs` times; a run that does not exit 0 is an error naming `what`.
pub(super) fn measured(
    me: &Path,
    what: &str,
    program: &OsStr,
    args: &[OsString],
    runs: usize,
) -> Result<Vec<ChildMeasure>, BenchError> {
    let mut out = Vec::new();
    for _ in 0..runs {
        let result = Command::new(me)
            .args(["bench", "measure", "--"])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| BenchError::Child { what: what.into(), detail: e.to_string() })?;
        let m: ChildMeasure = serde_json::from_slice(&result.stdout).map_err(|e| BenchError::Child {
            what: what.into(),
            detail: format!("measure wrapper: {e}; {}", tail(&result.stderr, 5)),
        })?;
        if m.code != Some(0) {
            return Err(BenchError::Child { what: what.into(), detail: format!("exit code {:?}", m.code) });
        }
        out.push(m);
    }
    Ok(out)
}

/// Arguments of `e2eb backup encrypt --key-file KEY --format FORMAT IN OUT`.
pub(super) fn encrypt_args(key: &Path, input: &Path, output: &Path, format: &str) -> Vec<OsString> {
    ["backup", "encrypt", "--key-file"]
        .iter()
        .map(OsString::from)
        .chain([key.as_os_str().to_owned(), "--format".into(), format.into()])
        .chain([input.as_os_str().to_owned(), output.as_os_str().to_owned()])
        .collect()
}

/// Arguments of `e2eb backup decrypt --key-file KEY IN OUT`.
pub(super) fn decrypt_args(key: &Path, input: &Path, output: &Path) -> Vec<OsString> {
    ["backup", "decrypt", "--key-file"]
        .iter()
        .map(OsString::from)
        .chain([key.as_os_str().to_owned(), input.as_os_str().to_owned(), output.as_os_str().to_owned()])
        .collect()
}

/// Paths and words as the arguments of a child.
fn os_args<const N: usize>(args: [&OsStr; N]) -> Vec<OsString> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

pub(super) fn file_run(
    id: &str,
    description: &str,
    bytes: u64,
    runs: &[ChildMeasure],
    anchor: Option<&str>,
) -> FileRun {
    let times: Vec<f64> = runs.iter().map(|m| m.wall_s).collect();
    let median_s = median(times.clone());
    FileRun {
        id: id.into(),
        description: description.into(),
        bytes,
        runs_s: times,
        median_s,
        rate: bytes as f64 / median_s,
        peak_rss_kib: runs.iter().map(|m| m.peak_rss_kib).max(),
        anchor: anchor.map(str::to_owned),
        ratio_to_anchor: None,
    }
}

fn file_anchor(id: &str, description: &str, command: String, bytes: u64, runs: &[ChildMeasure]) -> Anchor {
    file_anchor_noted(id, description, command, bytes, runs, "")
}

/// A measured anchor whose note says how it was taken (`how`, after the
/// number of runs).
pub(super) fn file_anchor_noted(
    id: &str,
    description: &str,
    command: String,
    bytes: u64,
    runs: &[ChildMeasure],
    how: &str,
) -> Anchor {
    let median_s = median(runs.iter().map(|m| m.wall_s).collect());
    Anchor {
        id: id.into(),
        description: description.into(),
        command,
        available: true,
        rate: Some(bytes as f64 / median_s),
        median_s: Some(median_s),
        peak_rss_kib: runs.iter().map(|m| m.peak_rss_kib).max(),
        note: Some(format!("median of {} run(s){how}", runs.len())),
    }
}

pub(super) fn missing_anchor(id: &str, description: &str, command: &str, note: String) -> Anchor {
    Anchor {
        id: id.into(),
        description: description.into(),
        command: command.into(),
        available: false,
        rate: None,
        median_s: None,
        peak_rss_kib: None,
        note: Some(note),
    }
}

/// Size of the SQLite database the crypt15 comparison uses (design §9:
/// "crypt15 on a ~90 MB SQLite database").
pub const SQLITE_BYTES: u64 = 90_000_000;

/// The chat-like SQLite database of [`interop_tools::sqlite_db`] at
/// [`SQLITE_BYTES`], made once and cached under `target/bench-data/`.
fn sqlite_database(repo: &Path, python: &Path) -> Result<PathBuf, BenchError> {
    let dir = repo.join("target/bench-data");
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let path = dir.join("msgstore-90MB.db");
    if !path.metadata().is_ok_and(|m| m.len() >= SQLITE_BYTES) {
        interop_tools::sqlite_db(python, &path, SQLITE_BYTES)
            .map_err(|e| BenchError::Child { what: "python3 sqlite database".into(), detail: e.to_string() })?;
    }
    Ok(path)
}

/// Whether two files hold the same bytes.
pub(super) fn same_contents(a: &Path, b: &Path) -> Result<bool, BenchError> {
    let (ma, mb) = (a.metadata().map_err(io_err(a))?, b.metadata().map_err(io_err(b))?);
    if ma.len() != mb.len() {
        return Ok(false);
    }
    let (mut fa, mut fb) = (
        BufReader::with_capacity(1 << 20, std::fs::File::open(a).map_err(io_err(a))?),
        BufReader::with_capacity(1 << 20, std::fs::File::open(b).map_err(io_err(b))?),
    );
    loop {
        let (ba, bb) = (fa.fill_buf().map_err(io_err(a))?, fb.fill_buf().map_err(io_err(b))?);
        if ba.is_empty() || bb.is_empty() {
            return Ok(ba.is_empty() && bb.is_empty());
        }
        let n = ba.len().min(bb.len());
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
        fa.consume(n);
        fb.consume(n);
    }
}

pub(super) fn file_anchors(
    opts: &RunOptions,
    scratch: &Path,
    anchors: &mut Vec<Anchor>,
    file_runs: &mut Vec<FileRun>,
    notes: &mut Vec<String>,
    progress: &dyn Progress,
) -> Result<(), BenchError> {
    let runs = opts.mode.process_runs();
    let me =
        std::env::current_exe().map_err(|e| BenchError::Child { what: "current_exe".into(), detail: e.to_string() })?;
    let key = e2eb_core::BackupKey::from_bytes(crate::testdata::array("e2eb bench key"));
    let key_text = scratch.join("bench.key");
    std::fs::write(&key_text, key.to_digits().as_bytes()).map_err(io_err(&key_text))?;
    let key_file = scratch.join("encrypted_backup.key");
    std::fs::write(&key_file, key.to_android_keyfile().as_slice()).map_err(io_err(&key_file))?;
    let key_hex = hex::encode(key.expose_secret());

    let pb = progress.task("file runs", Some(1), progress::Unit::Steps);
    let tools = interop_tools::tools_dir(&opts.repo);
    let python = interop_tools::python(tools.as_deref());
    pb.set_message("SQLite database (cached in target/bench-data)");
    let db = sqlite_database(&opts.repo, &python)?;
    let db_bytes = db.metadata().map_err(io_err(&db))?.len();
    notes.push(format!(
        "crypt15 comparison input: a generated chat-like SQLite database of {:.1} MB; page cache warm for every program",
        db_bytes as f64 / 1e6
    ));

    let ours_ct = scratch.join("ours.crypt15");
    let ours_pt = scratch.join("ours.db");
    let run_ours = |what: &str, args: Vec<OsString>| measured(&me, what, me.as_os_str(), &args, runs);

    pb.set_message("e2eb crypt15 encrypt (SQLite)");
    let m = run_ours("e2eb backup encrypt crypt15", encrypt_args(&key_text, &db, &ours_ct, "crypt15"))?;
    file_runs.push(file_run(
        "crypt15-encrypt-sqlite",
        "crypt15 encrypt, SQLite database",
        db_bytes,
        &m,
        Some(WA_ENCRYPT_ANCHOR),
    ));
    pb.set_message("e2eb crypt15 decrypt (SQLite)");
    let m = run_ours("e2eb backup decrypt crypt15", decrypt_args(&key_text, &ours_ct, &ours_pt))?;
    if !same_contents(&db, &ours_pt)? {
        return Err(BenchError::WrongOutput("e2eb crypt15 decrypt did not give back the database".into()));
    }
    file_runs.push(file_run(
        "crypt15-decrypt-sqlite",
        "crypt15 decrypt, SQLite database",
        db_bytes,
        &m,
        Some(WA_DECRYPT_ANCHOR),
    ));
    let _ = std::fs::remove_file(&ours_pt);

    match &tools {
        Some(dir) => {
            let (waenc, wadec) = (dir.join("waencrypt"), dir.join("wadecrypt"));
            let theirs_ct = scratch.join("theirs.crypt15");
            let theirs_pt = scratch.join("theirs.db");
            pb.set_message("wa-crypt-tools waencrypt (SQLite)");
            let args = os_args([OsStr::new(&key_hex), db.as_os_str(), theirs_ct.as_os_str()]);
            let m = measured(&me, "waencrypt", waenc.as_os_str(), &args, runs)?;
            anchors.push(file_anchor(
                WA_ENCRYPT_ANCHOR,
                "wa-crypt-tools waencrypt, same SQLite database",
                format!("{} KEY_HEX msgstore.db out.crypt15", waenc.display()),
                db_bytes,
                &m,
            ));
            pb.set_message("wa-crypt-tools wadecrypt (SQLite)");
            let args = os_args([key_file.as_os_str(), ours_ct.as_os_str(), theirs_pt.as_os_str()]);
            let m = measured(&me, "wadecrypt", wadec.as_os_str(), &args, runs)?;
            if !same_contents(&db, &theirs_pt)? {
                return Err(BenchError::WrongOutput(
                    "wadecrypt did not give back the database from our crypt15".into(),
                ));
            }
            anchors.push(file_anchor(
                WA_DECRYPT_ANCHOR,
                "wa-crypt-tools wadecrypt of our crypt15 file, same SQLite database",
                format!("{} encrypted_backup.key in.crypt15 out.db", wadec.display()),
                db_bytes,
                &m,
            ));
            let _ = std::fs::remove_file(&theirs_ct);
            let _ = std::fs::remove_file(&theirs_pt);
        }
        None => {
            let why = format!(
                "wa-crypt-tools not found: {} (bash .ci/run does this) or set E2EB_WA_CRYPT_TOOLS",
                interop_tools::INSTALL
            );
            anchors.push(missing_anchor(WA_ENCRYPT_ANCHOR, "wa-crypt-tools waencrypt", "waencrypt", why.clone()));
            anchors.push(missing_anchor(WA_DECRYPT_ANCHOR, "wa-crypt-tools wadecrypt", "wadecrypt", why));
        }
    }
    let _ = std::fs::remove_file(&ours_ct);

    // The 1 GiB pass: v2 next to dd and age, idle and (with --busy) busy.
    // Quick and standard runs leave it out unless a busy pass was asked for.
    if opts.mode == Mode::Full || opts.busy > 0 {
        pb.set_message("1 GiB input (cached in target/bench-data)");
        let big = gib::gib_file(&opts.repo)?;
        let ctx = gib::Context { me: &me, runs, key: &key_text, big: &big, scratch };
        gib::passes(&ctx, opts.busy, anchors, file_runs, notes, pb.as_ref())?;
        if opts.mode == Mode::Full {
            let (ct, pt) = (scratch.join("big.crypt15"), scratch.join("big.out"));
            pb.set_message("e2eb crypt15 encrypt 1 GiB");
            let m = run_ours("e2eb backup encrypt 1 GiB", encrypt_args(&key_text, &big, &ct, "crypt15"))?;
            file_runs.push(file_run("crypt15-encrypt-1GiB", "crypt15 encrypt, 1 GiB file", gib::GIB, &m, None));
            pb.set_message("e2eb crypt15 decrypt 1 GiB");
            let m = run_ours("e2eb backup decrypt 1 GiB", decrypt_args(&key_text, &ct, &pt))?;
            let _ = std::fs::remove_file(&ct);
            if !same_contents(&big, &pt)? {
                return Err(BenchError::WrongOutput("crypt15 decrypt of the 1 GiB file differs from its input".into()));
            }
            let _ = std::fs::remove_file(&pt);
            file_runs.push(file_run("crypt15-decrypt-1GiB", "crypt15 decrypt, 1 GiB file", gib::GIB, &m, None));
        }
    }
    drop(pb);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_machine_readable_output() {
        let out =
            "+DT:aes-256-gcm:1:16384\n+R:209234:aes-256-gcm:1.000000\n+H:16384\n+F:25:AES-256-GCM:3428016872.73\n";
        assert_eq!(parse_openssl_mr(out), Some(3_428_016_872.73));
        assert_eq!(parse_openssl_mr("garbage"), None);
    }
}
