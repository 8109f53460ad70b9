//! The `e2eb` command: backup keys, backup files, vectors and the audit.
//! Every failure exits non-zero with one line naming what is wrong, and
//! leaves no partial output behind (see `e2eb::atomic`).

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use e2eb::atomic::{self, AtomicFile, PathError};
use e2eb::{audit, properties, vectors};
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
    /// Run the audit: vectors and properties, with findings and a verdict.
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
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
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
        /// v2 body compression (crypt15 always uses zlib level 1).
        #[arg(long, value_enum, default_value = "none")]
        compress: CompressArg,
        /// crypt15 multi-file backup (IN is a ZIP; stored as is, no MD5 trailer).
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
        Command::Audit { quick, cases, vectors, out, json } => audit_command(quick, cases, &vectors, out, json),
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
            let key = load_key(&key)?;
            let (mut reader, len) = open_input(&input)?;
            let mut out = AtomicFile::create(&output)?;
            out.world_readable()?;
            let bar = progress_bar(len, "encrypt");
            let mut tick = |n: u64| bar.set_position(n);
            let ctx = |e: &dyn std::fmt::Display| Failure(format!("{}: {e}", input.display()));
            let (name, plain) = match format {
                FormatArg::Crypt15 => {
                    let opts = crypt15::EncryptOptions {
                        variant: if multi_file { crypt15::Variant::MultiFile } else { crypt15::Variant::SingleFile },
                        ..Default::default()
                    };
                    ("crypt15", crypt15::encrypt(&key, &opts, &mut reader, &mut out, &mut tick).map_err(|e| ctx(&e))?)
                }
                FormatArg::V2 => {
                    let opts = v2::EncryptOptions {
                        compression: match compress {
                            CompressArg::None => Compression::None,
                            CompressArg::Zlib => Compression::Zlib,
                        },
                        ..Default::default()
                    };
                    ("v2", v2::encrypt(&key, &opts, &mut reader, &mut out, &mut tick).map_err(|e| ctx(&e))?)
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
            let ctx = |e: &dyn std::fmt::Display| Failure(format!("{}: {e}", input.display()));
            let summary = match format {
                Format::Crypt15 => {
                    let s = crypt15::decrypt(&key, &mut reader, &mut out, &mut tick).map_err(|e| ctx(&e))?;
                    json!({ "format": "crypt15", "variant": format!("{:?}", s.variant), "compressed": s.compressed, "plaintext_bytes": s.plaintext_len })
                }
                Format::V2 => {
                    let s = v2::decrypt(&key, &mut reader, &mut out, &mut tick).map_err(|e| ctx(&e))?;
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

fn audit_command(
    quick: bool,
    cases: Option<u32>,
    vector_dir: &Path,
    out: Option<PathBuf>,
    as_json: bool,
) -> Result<ExitCode, Failure> {
    let cases = cases.unwrap_or(if quick { 16 } else { properties::cases_from_env(128) });
    let steps = (properties::all().len() + e2eb::vault_properties::all().len()) as u64 + 1;
    let bar = if std::io::stderr().is_terminal() { ProgressBar::new(steps) } else { ProgressBar::hidden() };
    if let Ok(style) = ProgressStyle::with_template("audit [{bar:30}] {pos}/{len} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    let report = audit::run(vector_dir, cases, &mut |step| {
        bar.set_message(step.to_owned());
        bar.inc(1);
    });
    bar.finish_and_clear();
    let dir = out.unwrap_or_else(|| {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        PathBuf::from(format!("reports/runs/audit-{secs}"))
    });
    std::fs::create_dir_all(&dir).map_err(|e| PathError::new(&dir, e))?;
    let md = audit::to_markdown(&report);
    let js = serde_json::to_string_pretty(&report)?;
    atomic::write(&dir.join("report.md"), md.as_bytes(), false)?;
    atomic::write(&dir.join("report.json"), js.as_bytes(), false)?;
    if as_json {
        println!("{js}");
    } else {
        print!("{md}");
        println!("\nreport written to {}", dir.display());
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
