//! The `e2eb` command: backup keys, backup files, vectors and the audit.
//! Every failure exits non-zero with one line naming what is wrong, and
//! leaves no partial output behind (see `e2eb::atomic`).

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use e2eb::atomic::{self, AtomicFile, PathError};
use e2eb::{audit, gate, properties, vectors};
use e2eb_core::backup::{self, Format, crypt15, v2};
use e2eb_core::key::BackupKey;
use e2eb_core::proto::Compression;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "e2eb",
    version,
    about = "End-to-end encrypted chat backups: reference implementation and audit harness"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate and show backup keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Encrypt, decrypt and inspect backup files.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Generate and verify the test vectors.
    #[command(subcommand)]
    Vectors(VectorsCommand),
    /// The Backup Key Vault: fault simulation and a guided demo.
    #[command(subcommand)]
    Vault(VaultCommand),
    /// Fuzzing: seed corpora, campaigns, coverage, and replay of single inputs.
    #[command(subcommand)]
    Fuzz(FuzzCommand),
    /// Benchmarks: run the criterion suite with anchors into a report, compare two reports.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run the audit: vectors, properties, fuzz corpus replay, vault simulation and
    /// benchmarks, into report.{md,json,html} with findings and a verdict.
    Audit {
        /// Quick depth (what the README's main command runs).
        #[arg(long)]
        quick: bool,
        /// Property cases (overrides --quick and the default).
        #[arg(long)]
        cases: Option<u32>,
        /// Directory of the vector files.
        #[arg(long, default_value = "vectors")]
        vectors: PathBuf,
        /// Output directory (default reports/runs/audit-<time>/).
        #[arg(long, value_parser = absolute_path)]
        out: Option<PathBuf>,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Leave out the benchmarks (the report says they were not run).
        #[arg(long)]
        no_bench: bool,
    },
    /// Run the property suites at CI depth; write junit.xml and gate.json.
    Gate(gate::GateArgs),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Run the criterion suite, the anchors (openssl, wa-crypt-tools, dd) and the
    /// fleet harness; write reports/runs/bench-NAME/{report.json,report.md,*.svg}.
    Run {
        /// Report name (directory bench-NAME).
        #[arg(long)]
        name: String,
        /// Short measurements, one run per process anchor, no 2 GiB KSF.
        #[arg(long, conflicts_with = "full")]
        quick: bool,
        /// Also 1 GiB file-to-file runs of both formats next to dd.
        #[arg(long)]
        full: bool,
        /// Output directory (default reports/runs/bench-NAME).
        #[arg(long, value_parser = absolute_path)]
        out: Option<PathBuf>,
        /// Only criterion benchmarks matching this regular expression.
        #[arg(long)]
        filter: Option<String>,
        /// Concurrent clients in the fleet harness (16 keeps 2 cores busy without queueing).
        #[arg(long, default_value_t = 16)]
        fleet_clients: u64,
        /// Skip the anchors and file runs (criterion and the fleet only).
        #[arg(long)]
        skip_processes: bool,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Compare two reports (report.json files or run directories); exit 1 on
    /// a regression past the threshold with disjoint 95 % intervals.
    Compare {
        /// The base report.
        base: PathBuf,
        /// The new report.
        new: PathBuf,
        /// Regression threshold in percent of the median time.
        #[arg(long, default_value_t = 5.0)]
        threshold: f64,
        /// Print the comparison as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run one program and print its wall time and peak memory as JSON
    /// (used by `bench run` to measure each process on its own).
    #[command(hide = true)]
    Measure {
        /// The program and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<std::ffi::OsString>,
    },
}

#[derive(Subcommand)]
enum FuzzCommand {
    /// Rebuild the seed corpora (fuzz/corpus/<target>/seed-*) from the test vectors.
    Seed {
        /// The cargo-fuzz crate.
        #[arg(long, default_value = "fuzz")]
        fuzz_dir: PathBuf,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// Run a campaign with cargo-fuzz and write reports/runs/fuzz-<time>/summary.{json,md}.
    Run {
        /// Targets (comma-separated or repeated); default all.
        #[arg(long, value_delimiter = ',')]
        targets: Vec<String>,
        /// Time per target: 90s, 10m, 1h.
        #[arg(long, default_value = "10m", value_parser = parse_duration)]
        time: std::time::Duration,
        /// Targets fuzzed at once.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// address (nightly) or none (stable).
        #[arg(long, value_enum, default_value = "address")]
        sanitizer: SanitizerArg,
        /// The cargo-fuzz crate.
        #[arg(long, default_value = "fuzz")]
        fuzz_dir: PathBuf,
        /// Output directory (default reports/runs/fuzz-<time>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Use the fuzzer binaries already built.
        #[arg(long)]
        no_build: bool,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Replace the committed corpora's non-seed inputs with a minimal set covering the campaign corpus.
    Cmin {
        /// Targets (comma-separated or repeated); default all.
        #[arg(long, value_delimiter = ',')]
        targets: Vec<String>,
        /// The cargo-fuzz crate.
        #[arg(long, default_value = "fuzz")]
        fuzz_dir: PathBuf,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// Line coverage of e2eb-core per target over the corpora (cargo fuzz coverage + llvm-cov).
    Coverage {
        /// Targets (comma-separated or repeated); default all.
        #[arg(long, value_delimiter = ',')]
        targets: Vec<String>,
        /// The cargo-fuzz crate.
        #[arg(long, default_value = "fuzz")]
        fuzz_dir: PathBuf,
        /// Output directory (default reports/runs/fuzz-coverage-<time>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Run inputs through a target's entry point in this process (stable, no cargo-fuzz).
    Replay {
        /// Target name.
        target: String,
        /// Input files or directories.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SanitizerArg {
    Address,
    None,
}

/// A path made absolute against the current directory: `bench run` (also
/// inside `audit`) needs its output directory absolute, since cargo runs the
/// suite from another directory.
fn absolute_path(s: &str) -> Result<PathBuf, String> {
    std::path::absolute(s).map_err(|e| format!("{s:?}: {e}"))
}

/// `90s`, `10m`, `2h`, or plain seconds.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits.parse().map_err(|_| format!("{s:?} is not a duration like 90s, 10m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{s:?}: the unit must be s, m or h")),
    };
    Ok(std::time::Duration::from_secs(secs))
}

#[derive(Subcommand)]
enum VaultCommand {
    /// Run fault-injection schedules against a fleet and check the invariants.
    Sim {
        /// Sites per fleet.
        #[arg(long, default_value_t = 5)]
        sites: u64,
        /// First seed (run i uses seed + i).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of runs.
        #[arg(long, default_value_t = 20)]
        runs: u64,
        /// Steps per random schedule.
        #[arg(long, default_value_t = 30)]
        steps: u32,
        /// Attempt limit.
        #[arg(long, default_value_t = 10)]
        limit: u32,
        /// Schedule: random faults, or the targeted rollback attack.
        #[arg(long, value_enum, default_value = "random")]
        schedule: ScheduleArg,
        /// Switch the HSM monotonic counter off (negative control).
        #[arg(long)]
        no_hsm_counter: bool,
        /// Runs in flight at once (runs mostly wait on Raft timers).
        #[arg(long, default_value_t = 6)]
        jobs: usize,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Test helper: applies charges to one durable site forever, printing
    /// `ack <index> <attempts left>` after each fsync (for kill -9 tests).
    #[command(hide = true)]
    SiteStress {
        /// The site's redb file.
        #[arg(long)]
        db: PathBuf,
    },
    /// Test helper: runs acknowledged operations on one account of a durable
    /// five-site fleet forever, printing `ack <n> <version> <attempts left>`
    /// after each (for kill -9 tests).
    #[command(hide = true)]
    FleetStress {
        /// The fleet's directory (its site disks are reused if present).
        #[arg(long)]
        dir: PathBuf,
    },
    /// A guided run on five in-process sites under a temporary directory.
    Demo {
        /// KSF profile (moderate is the default of real registrations).
        #[arg(long, value_enum, default_value = "moderate")]
        profile: ProfileArg,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ScheduleArg {
    Random,
    Rollback,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProfileArg {
    Rfc9807,
    Moderate,
    Test,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Generate a key from the OS CSPRNG.
    Generate {
        /// Write the key to FILE (64-digit text, or Android key file with --keyfile).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write an Android encrypted_backup.key instead of text (needs --out).
        #[arg(long, requires = "out")]
        keyfile: bool,
    },
    /// Print the 64-digit form of a key file (text or Android key file).
    Show {
        /// The key file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Crypt15,
    V2,
}

#[derive(Clone, Copy, ValueEnum)]
enum CompressArg {
    None,
    Zlib,
}

#[derive(clap::Args)]
struct KeyArgs {
    /// Key file: 64-digit text or Android encrypted_backup.key. Without it,
    /// the E2EB_KEY environment variable must hold the 64 digits.
    #[arg(long)]
    key_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Encrypt IN into OUT.
    Encrypt {
        #[command(flatten)]
        key: KeyArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "v2")]
        format: FormatArg,
        /// v2 body compression (crypt15 always uses zlib level 1; refused with crypt15).
        #[arg(long, value_enum, default_value = "none")]
        compress: CompressArg,
        /// crypt15 multi-file backup (IN is a ZIP; stored as is, no MD5 trailer). Refused with v2.
        #[arg(long)]
        multi_file: bool,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
        /// Plaintext input.
        input: PathBuf,
        /// Encrypted output.
        output: PathBuf,
    },
    /// Decrypt IN into OUT; the format is detected from the bytes.
    Decrypt {
        #[command(flatten)]
        key: KeyArgs,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
        /// Encrypted input.
        input: PathBuf,
        /// Plaintext output.
        output: PathBuf,
    },
    /// Show header fields without the key.
    Inspect {
        /// Encrypted file.
        input: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum VectorsCommand {
    /// Regenerate vectors/*.json deterministically.
    Generate {
        /// Vector directory.
        #[arg(long, default_value = "vectors")]
        dir: PathBuf,
        /// Change nothing; exit 1 if a file would change.
        #[arg(long)]
        check: bool,
    },
    /// Verify our vectors and the external suites.
    Verify {
        /// Vector directory.
        #[arg(long, default_value = "vectors")]
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Convert the RFC 9807 (OPAQUE) ristretto255 test vectors into DIR/external/rfc9807.json.
    #[command(name = "convert-rfc9807")]
    ConvertRfc9807 {
        /// The RFC's JSON list of test vectors.
        #[arg(long, default_value = vectors::rfc9807::DEFAULT_SOURCE)]
        from: PathBuf,
        /// Vector directory.
        #[arg(long, default_value = "vectors")]
        dir: PathBuf,
    },
}

/// A failure, printed as one line.
#[derive(Debug)]
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(Failure(msg)) => {
            eprintln!("e2eb: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::Key(k) => key_command(k),
        Command::Backup(b) => backup_command(b),
        Command::Vectors(v) => vectors_command(v),
        Command::Vault(v) => vault_command(v),
        Command::Fuzz(cmd) => fuzz_command(cmd),
        Command::Bench(cmd) => bench_command(cmd),
        Command::Audit { quick, cases, vectors, out, json, no_bench } => {
            audit_command(quick, cases, &vectors, out, json, no_bench)
        }
        Command::Gate(args) => gate_command(&args),
    }
}

fn key_command(cmd: KeyCommand) -> Result<ExitCode, Failure> {
    match cmd {
        KeyCommand::Generate { out, keyfile } => {
            let key = BackupKey::generate()?;
            match out {
                Some(path) if keyfile => atomic::write(&path, &key.to_android_keyfile(), true)?,
                Some(path) => {
                    let mut text = Zeroizing::new(key.to_digits().to_string());
                    text.push('\n');
                    atomic::write(&path, text.as_bytes(), true)?;
                }
                None => println!("{}", key.to_grid().as_str()),
            }
            Ok(ExitCode::SUCCESS)
        }
        KeyCommand::Show { file, json } => {
            let key = load_key_file(&file)?;
            if json {
                println!("{}", json!({ "digits": key.to_digits().as_str(), "groups": key.to_groups().as_str() }));
            } else {
                println!("{}", key.to_groups().as_str());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load_key_file(path: &Path) -> Result<BackupKey, Failure> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| PathError::new(path, e))?);
    BackupKey::from_key_file_bytes(&bytes).map_err(|e| Failure(format!("{}: {e}", path.display())))
}

fn load_key(args: &KeyArgs) -> Result<BackupKey, Failure> {
    if let Some(path) = &args.key_file {
        return load_key_file(path);
    }
    match std::env::var("E2EB_KEY") {
        Ok(digits) => {
            let digits = Zeroizing::new(digits);
            BackupKey::parse_digits(&digits).map_err(|e| Failure(format!("E2EB_KEY: {e}")))
        }
        Err(_) => Err(Failure("no key: pass --key-file FILE or set E2EB_KEY to the 64-digit key".to_owned())),
    }
}

fn progress_bar(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

fn open_input(path: &Path) -> Result<(BufReader<File>, u64), Failure> {
    let f = File::open(path).map_err(|e| PathError::new(path, e))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((BufReader::with_capacity(1 << 20, f), len))
}

fn backup_command(cmd: BackupCommand) -> Result<ExitCode, Failure> {
    match cmd {
        BackupCommand::Encrypt { key, format, compress, multi_file, json, input, output } => {
            // Refused rather than ignored: the user asked for a file these flags cannot describe.
            match (format, compress, multi_file) {
                (FormatArg::Crypt15, CompressArg::Zlib, _) => {
                    return Err(Failure("--compress applies to v2 only (crypt15 always uses zlib level 1)".into()));
                }
                (FormatArg::V2, _, true) => {
                    return Err(Failure("--multi-file applies to crypt15 only".into()));
                }
                _ => {}
            }
            let key = load_key(&key)?;
            let (mut reader, len) = open_input(&input)?;
            let mut out = AtomicFile::create(&output)?;
            out.world_readable()?;
            let bar = progress_bar(len, "encrypt");
            let mut tick = |n: u64| bar.set_position(n);
            let (name, plain) = match format {
                FormatArg::Crypt15 => {
                    let opts = crypt15::EncryptOptions {
                        variant: if multi_file { crypt15::Variant::MultiFile } else { crypt15::Variant::SingleFile },
                        ..Default::default()
                    };
                    let r = crypt15::encrypt(&key, &opts, &mut reader, &mut out, &mut tick);
                    ("crypt15", r.map_err(|e| stream_failure(&e, &input, &out, &output))?)
                }
                FormatArg::V2 => {
                    let opts = v2::EncryptOptions {
                        compression: match compress {
                            CompressArg::None => Compression::None,
                            CompressArg::Zlib => Compression::Zlib,
                        },
                        ..Default::default()
                    };
                    let r = v2::encrypt(&key, &opts, &mut reader, &mut out, &mut tick);
                    ("v2", r.map_err(|e| stream_failure(&e, &input, &out, &output))?)
                }
            };
            out.flush().map_err(|e| PathError::new(&output, e))?;
            out.commit()?;
            bar.finish_and_clear();
            let size = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
            if json {
                println!(
                    "{}",
                    json!({ "format": name, "input": input, "output": output, "plaintext_bytes": plain, "output_bytes": size })
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Decrypt { key, json, input, output } => {
            let key = load_key(&key)?;
            let (mut reader, len) = open_input(&input)?;
            let first = reader.fill_buf().map_err(|e| PathError::new(&input, e))?.to_vec();
            let format = backup::detect(&first)
                .ok_or_else(|| Failure(format!("{}: empty file, not a backup", input.display())))?;
            // Decrypted chats stay private to the owner (the temporary file is 0600).
            let mut out = AtomicFile::create(&output)?;
            let bar = progress_bar(len, "decrypt");
            let mut tick = |n: u64| bar.set_position(n);
            let summary = match format {
                Format::Crypt15 => {
                    let r = crypt15::decrypt(&key, &mut reader, &mut out, &mut tick);
                    let s = r.map_err(|e| stream_failure(&e, &input, &out, &output))?;
                    json!({ "format": "crypt15", "variant": format!("{:?}", s.variant), "compressed": s.compressed, "plaintext_bytes": s.plaintext_len })
                }
                Format::V2 => {
                    let r = v2::decrypt(&key, &mut reader, &mut out, &mut tick);
                    let s = r.map_err(|e| stream_failure(&e, &input, &out, &output))?;
                    json!({ "format": "v2", "plaintext_bytes": s.plaintext_len })
                }
                _ => return Err(Failure(format!("{}: unsupported format", input.display()))),
            };
            out.flush().map_err(|e| PathError::new(&output, e))?;
            out.commit()?;
            bar.finish_and_clear();
            if json {
                println!("{summary}");
            }
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Inspect { input, json } => inspect(&input, json),
    }
}

/// One line for a failed encrypt or decrypt, naming the file at fault: the
/// output when writing it failed (a full disk, say), else the input.
fn stream_failure(e: &dyn std::fmt::Display, input: &Path, out: &AtomicFile, output: &Path) -> Failure {
    if out.write_failed() {
        Failure(format!("{}: writing failed: {e}", output.display()))
    } else {
        Failure(format!("{}: {e}", input.display()))
    }
}

fn inspect(input: &Path, as_json: bool) -> Result<ExitCode, Failure> {
    let (mut reader, len) = open_input(input)?;
    let first = reader.fill_buf().map_err(|e| PathError::new(input, e))?.to_vec();
    let ctx = |e: &dyn std::fmt::Display| Failure(format!("{}: {e}", input.display()));
    let report = match backup::detect(&first) {
        Some(Format::V2) => {
            let h = v2::read_header(&mut reader).map_err(|e| ctx(&e))?;
            let f = &h.fields;
            json!({
                "format": "v2",
                "file_bytes": len,
                "header_bytes": h.raw.len(),
                "key_id": hex::encode(&f.key_id),
                "created_unix": f.created_unix,
                "app_version": f.app_version,
                "backup_version": f.backup_version,
                "feature_flags": f.feature_flags,
                "compression": format!("{:?}", h.compression()),
                "passkey_protected": f.passkey_metadata.is_some(),
                "plaintext_bytes": e2eb_core::cobblestone::opened_len(len - h.raw.len() as u64).ok(),
                "findings": [],
            })
        }
        Some(Format::Crypt15) => {
            let (h, _) = crypt15::read_header(&mut reader).map_err(|e| ctx(&e))?;
            let m = h.prefix.backup_metadata.clone().unwrap_or_default();
            json!({
                "format": "crypt15",
                "file_bytes": len,
                "prefix_bytes": h.encoded_len,
                "key_type": h.prefix.key_type_v2.or(h.prefix.key_type),
                "iv": hex::encode(h.iv),
                "app_version": m.app_version,
                "phone_suffix": m.phone_suffix,
                "backup_version": m.backup_version,
                "feature_flags": m.enabled_features(),
                "cleaned_db": m.cleaned_db,
                "passkey_protected": h.prefix.passkey_metadata.is_some(),
                "findings": ["the crypt15 prefix is not authenticated: GCM has no AAD and the MD5 trailer is unkeyed, so these fields can be edited without the key"],
            })
        }
        _ => {
            return Err(Failure(format!("{}: empty file, not a backup", input.display())));
        }
    };
    if as_json {
        println!("{report}");
    } else if let Some(obj) = report.as_object() {
        for (k, v) in obj {
            if k == "findings" {
                for f in v.as_array().into_iter().flatten() {
                    println!("FINDING: {}", f.as_str().unwrap_or_default());
                }
            } else {
                println!("{k:18} {v}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn vectors_command(cmd: VectorsCommand) -> Result<ExitCode, Failure> {
    match cmd {
        VectorsCommand::Generate { dir, check } => {
            if check {
                let mut stale = Vec::new();
                for f in vectors::generate_all() {
                    let path = dir.join(format!("{}.json", f.family));
                    if std::fs::read_to_string(&path).ok().as_deref() != Some(vectors::to_json(&f).as_str()) {
                        stale.push(path.display().to_string());
                    }
                }
                if !stale.is_empty() {
                    return Err(Failure(format!("regenerating would change {}", stale.join(", "))));
                }
                println!("vectors are up to date");
                return Ok(ExitCode::SUCCESS);
            }
            let changed = vectors::generate(&dir)?;
            for c in &changed {
                println!("wrote {c}");
            }
            if changed.is_empty() {
                println!("no change");
            }
            Ok(ExitCode::SUCCESS)
        }
        VectorsCommand::Verify { dir, json } => {
            let report = vectors::verify(&dir);
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for f in &report.families {
                    println!("{:68} {:5} passed {:3} failed", f.family, f.passed, f.failures.len());
                    for x in &f.failures {
                        println!("    FAIL {x}");
                    }
                }
                println!("{} passed, {} failed", report.passed(), report.failed());
            }
            Ok(if report.failed() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        VectorsCommand::ConvertRfc9807 { from, dir } => {
            let rfc = std::fs::read_to_string(&from).map_err(|e| PathError::new(&from, e))?;
            let file = vectors::rfc9807::convert(&rfc).map_err(|e| Failure(format!("{}: {e}", from.display())))?;
            let path = vectors::rfc9807::output_path(&dir);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| PathError::new(parent, e))?;
            }
            atomic::write(&path, vectors::to_json(&file).as_bytes(), false)?;
            println!("wrote {} ({} cases)", path.display(), file.cases.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn bench_command(cmd: BenchCommand) -> Result<ExitCode, Failure> {
    use e2eb::{bench_compare, bench_run};
    match cmd {
        BenchCommand::Run { name, quick, full, out, filter, fleet_clients, skip_processes, json } => {
            bench_run::check_name(&name)?;
            let repo = std::env::current_dir()?;
            let mode = match (quick, full) {
                (true, _) => bench_run::Mode::Quick,
                (_, true) => bench_run::Mode::Full,
                _ => bench_run::Mode::Standard,
            };
            let out = out.unwrap_or_else(|| repo.join("reports/runs").join(format!("bench-{name}")));
            let opts =
                bench_run::RunOptions { name, mode, repo, out: out.clone(), filter, fleet_clients, skip_processes };
            let report = bench_run::run(&opts)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{} benchmarks, {} anchors, {} file runs",
                    report.benchmarks.len(),
                    report.anchors.len(),
                    report.file_runs.len()
                );
                for t in &report.targets {
                    println!(
                        "{:<10} {:<60} {}",
                        e2eb::bench_report::status_word(t.status),
                        t.description,
                        t.measured
                            .map(|m| format!("{m:.2} {} (needs {} {} {})", t.unit, t.comparison, t.required, t.unit))
                            .unwrap_or_else(|| t.evidence.clone())
                    );
                }
                println!("report written to {}", out.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Compare { base, new, threshold, json } => {
            let c = bench_compare::compare(&bench_compare::load(&base)?, &bench_compare::load(&new)?, threshold);
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                print!("{}", bench_compare::to_text(&c));
            }
            Ok(if c.regressions > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        BenchCommand::Measure { command } => {
            let (program, args) = command.split_first().ok_or_else(|| Failure("bench measure: no program".into()))?;
            let m = bench_run::measure_child(program, args)?;
            println!("{}", serde_json::to_string(&m)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn gate_command(args: &gate::GateArgs) -> Result<ExitCode, Failure> {
    let report = gate::run(args)?;
    if args.json {
        print!("{}", gate::to_json(&report)?);
    } else {
        print!("{}", gate::to_human(&report));
    }
    Ok(if gate::exit_code(&report) == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn audit_command(
    quick: bool,
    cases: Option<u32>,
    vector_dir: &Path,
    out: Option<PathBuf>,
    as_json: bool,
    no_bench: bool,
) -> Result<ExitCode, Failure> {
    let repo = std::env::current_dir()?;
    let opts = audit::AuditOptions {
        quick,
        cases: cases.unwrap_or(if quick { 16 } else { properties::cases_from_env(128) }),
        vector_dir: vector_dir.to_path_buf(),
        out: out.unwrap_or_else(|| audit::default_out(&repo)),
        repo,
        sim_runs: if quick { 4 } else { 24 },
        bench: !no_bench,
    };
    std::fs::create_dir_all(&opts.out).map_err(|e| PathError::new(&opts.out, e))?;
    let steps =
        (properties::all().len() + e2eb::vault_properties::all().len() + e2eb_core::fuzzing::TARGETS.len()) as u64 + 5;
    let bar = if std::io::stderr().is_terminal() { ProgressBar::new(steps) } else { ProgressBar::hidden() };
    if let Ok(style) = ProgressStyle::with_template("audit [{bar:30}] {pos}/{len} {elapsed} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    let report = audit::run(&opts, &mut |step| {
        bar.set_message(step.to_owned());
        bar.inc(1);
    });
    bar.finish_and_clear();
    let md = audit::to_markdown(&report);
    let js = serde_json::to_string_pretty(&report)?;
    atomic::write(&opts.out.join("report.md"), md.as_bytes(), false)?;
    atomic::write(&opts.out.join("report.json"), js.as_bytes(), false)?;
    atomic::write(&opts.out.join("report.html"), e2eb::audit_html::to_html(&report).as_bytes(), false)?;
    if as_json {
        println!("{js}");
    } else {
        print!("{md}");
        println!("\nreport written to {}/report.{{md,json,html}}", opts.out.display());
    }
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn vault_command(cmd: VaultCommand) -> Result<ExitCode, Failure> {
    match cmd {
        VaultCommand::Sim { sites, seed, runs, steps, limit, schedule, no_hsm_counter, jobs, json } => {
            let opts = e2eb::vault_sim::SimOptions {
                sites,
                seed,
                runs,
                steps,
                limit,
                hsm_counter: !no_hsm_counter,
                jobs,
                kind: match schedule {
                    ScheduleArg::Random => e2eb::vault_sim::ScheduleKind::Random,
                    ScheduleArg::Rollback => e2eb::vault_sim::ScheduleKind::Rollback,
                },
            };
            let bar = if std::io::stderr().is_terminal() { ProgressBar::new(runs) } else { ProgressBar::hidden() };
            if let Ok(style) = ProgressStyle::with_template("vault sim [{bar:30}] {pos}/{len} runs {elapsed}") {
                bar.set_style(style.progress_chars("=> "));
            }
            let report = e2eb::vault_sim::simulate(&opts, &mut |n| bar.set_position(n)).map_err(Failure)?;
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("runs                          {}", report.runs);
                println!("faults injected               {}", report.faults);
                println!("recoveries                    {}", report.recoveries);
                println!("refused (no majority)         {}", report.unavailable);
                println!(
                    "max verifications per record  {} (limit {})",
                    report.max_verifications_per_record, report.limit
                );
                println!("HSM counter                   {}", if report.hsm_counter { "on" } else { "OFF" });
                println!("violations                    {}", report.violations);
                println!("wall time                     {:.1} s", report.seconds);
            }
            for v in &report.violation_details {
                eprintln!("VIOLATION (seed {}): {}: {}", v.seed, v.invariant, v.detail);
                eprintln!(
                    "  reproduce: e2eb vault sim --seed {} --runs 1 --sites {sites} --steps {steps} --limit {limit} --schedule {}{}",
                    v.seed,
                    match schedule {
                        ScheduleArg::Random => "random",
                        ScheduleArg::Rollback => "rollback",
                    },
                    if no_hsm_counter { " --no-hsm-counter" } else { "" }
                );
                for step in &v.schedule {
                    eprintln!("    {step}");
                }
            }
            Ok(if report.violations == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        VaultCommand::SiteStress { db } => {
            use e2eb_core::vault::state::{Register, command, command::Op};
            let mut site = e2eb_core::vault::storage::DurableSite::open(&db)?;
            if site.record(b"stress").is_none() {
                let reg = Register { limit: 1_000_000, expected_version: None, ..Default::default() };
                site.apply_next(&command(b"stress", Op::Register(reg)))?;
            }
            let mut out = std::io::stdout().lock();
            for _ in 0..1_000_000u32 {
                site.apply_next(&command(b"stress", Op::Charge(true)))?;
                let left = site.record(b"stress").map(|r| r.attempts_left).unwrap_or(0);
                writeln!(out, "ack {} {left}", site.applied_index())?;
                out.flush()?;
            }
            Ok(ExitCode::SUCCESS)
        }
        VaultCommand::FleetStress { dir } => {
            e2eb::fleet_stress::run(&dir, &mut std::io::stdout().lock()).map_err(Failure)?;
            Ok(ExitCode::SUCCESS)
        }
        VaultCommand::Demo { profile } => {
            let profile = match profile {
                ProfileArg::Rfc9807 => e2eb_core::vault::KsfProfile::Rfc9807,
                ProfileArg::Moderate => e2eb_core::vault::KsfProfile::Moderate,
                ProfileArg::Test => e2eb_core::vault::KsfProfile::Test,
            };
            e2eb::vault_demo::run(profile, &mut std::io::stdout()).map_err(Failure)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn fuzz_command(cmd: FuzzCommand) -> Result<ExitCode, Failure> {
    use e2eb::{fuzz_campaign, fuzz_coverage};
    match cmd {
        FuzzCommand::Seed { fuzz_dir, json } => {
            let summary = e2eb::fuzz_seed::write_seed_corpora(&fuzz_dir)?;
            if json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                for t in &summary.targets {
                    println!(
                        "{:20} {:3} seeds ({} written, {} removed), {} other inputs kept",
                        t.target, t.seeds, t.written, t.removed, t.kept
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        FuzzCommand::Run { targets, time, jobs, sanitizer, fuzz_dir, out, no_build, json } => {
            let out =
                out.unwrap_or_else(|| PathBuf::from(format!("reports/runs/fuzz-{}", e2eb::environment::timestamp())));
            let opts = fuzz_campaign::CampaignOptions {
                fuzz_dir,
                targets,
                time_per_target: time,
                jobs,
                sanitizer: match sanitizer {
                    SanitizerArg::Address => fuzz_campaign::Sanitizer::Address,
                    SanitizerArg::None => fuzz_campaign::Sanitizer::None,
                },
                out: out.clone(),
                no_build,
            };
            let count = fuzz_campaign::select_targets(&opts.targets)?.len() as u64;
            let multi = indicatif::MultiProgress::new();
            if !std::io::stderr().is_terminal() {
                multi.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let overall = multi.add(ProgressBar::new(count));
            if let Ok(style) = ProgressStyle::with_template("fuzz [{bar:30}] {pos}/{len} targets {elapsed} {msg}") {
                overall.set_style(style.progress_chars("=> "));
            }
            let bars = std::sync::Mutex::new(std::collections::HashMap::<String, ProgressBar>::new());
            let secs = time.as_secs();
            let on_progress = |p: fuzz_campaign::Progress| {
                let Ok(mut bars) = bars.lock() else { return };
                match p {
                    fuzz_campaign::Progress::Building => overall.set_message("building with cargo fuzz"),
                    fuzz_campaign::Progress::Started { target } => {
                        overall.set_message("");
                        let bar = multi.insert_before(&overall, ProgressBar::new(secs));
                        if let Ok(style) = ProgressStyle::with_template("  {prefix:18} [{bar:20}] {pos}/{len}s {msg}") {
                            bar.set_style(style.progress_chars("=> "));
                        }
                        bar.set_prefix(target.clone());
                        bars.insert(target, bar);
                    }
                    fuzz_campaign::Progress::Status { target, elapsed, stats } => {
                        if let Some(bar) = bars.get(&target) {
                            bar.set_position(elapsed as u64);
                            bar.set_message(format!(
                                "{} execs/s cov {} ft {} corpus {}",
                                stats.execs_per_sec, stats.coverage, stats.features, stats.corpus_inputs
                            ));
                        }
                    }
                    fuzz_campaign::Progress::Crashed { target } => {
                        let _ = multi.println(format!("{target}: crash found; restarting the fuzzer"));
                    }
                    fuzz_campaign::Progress::Finished { target } => {
                        if let Some(bar) = bars.remove(&target) {
                            bar.finish_and_clear();
                        }
                        overall.inc(1);
                    }
                }
            };
            let summary = fuzz_campaign::run(&opts, &on_progress)?;
            overall.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{}", fuzz_campaign::to_markdown(&summary));
                println!("\nsummary written to {}", out.display());
            }
            Ok(if summary.crash_groups == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        FuzzCommand::Cmin { targets, fuzz_dir, json } => {
            let done = fuzz_campaign::minimise_corpora(&fuzz_dir, &targets)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&done)?);
            } else {
                for m in &done {
                    println!(
                        "{:20} {:6} inputs -> {:4} kept besides the seeds ({} bytes)",
                        m.target, m.inputs_before, m.kept, m.kept_bytes
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        FuzzCommand::Coverage { targets, fuzz_dir, out, json } => {
            let out = out.unwrap_or_else(|| {
                PathBuf::from(format!("reports/runs/fuzz-coverage-{}", e2eb::environment::timestamp()))
            });
            let n = fuzz_campaign::select_targets(&targets)?.len() as u64;
            let bar = if std::io::stderr().is_terminal() { ProgressBar::new(n) } else { ProgressBar::hidden() };
            if let Ok(style) = ProgressStyle::with_template("coverage [{bar:30}] {pos}/{len} targets {elapsed} {msg}") {
                bar.set_style(style.progress_chars("=> "));
            }
            let report = fuzz_coverage::run(&fuzz_dir, &targets, &out, &mut |t| {
                bar.set_message(t.to_owned());
                bar.inc(1);
            })?;
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", fuzz_coverage::to_markdown(&report));
                println!("\nreport written to {}", out.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        FuzzCommand::Replay { target, inputs } => {
            let mut files = Vec::new();
            for p in inputs {
                if p.is_dir() {
                    let mut found: Vec<PathBuf> = std::fs::read_dir(&p)
                        .map_err(|e| PathError::new(&p, e))?
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| p.is_file())
                        .collect();
                    found.sort();
                    files.extend(found);
                } else {
                    files.push(p);
                }
            }
            fuzz_campaign::select_targets(std::slice::from_ref(&target))?;
            // The entry points report a broken property by panicking; keep the
            // default hook quiet and print one line per input instead.
            std::panic::set_hook(Box::new(|_| {}));
            let mut failed = 0usize;
            for f in &files {
                let data = std::fs::read(f).map_err(|e| PathError::new(f, e))?;
                match e2eb::fuzz_replay::run_input(&target, &data) {
                    Ok(()) => println!("ok      {}", f.display()),
                    Err(msg) => {
                        failed += 1;
                        println!("FAILED  {}: {}", f.display(), msg.lines().next().unwrap_or_default());
                    }
                }
            }
            println!("{} input(s), {failed} failed", files.len());
            Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}
