//! The command line (design §2): clap's types for every command, the value
//! enums and their conversions to the library's types, and the parsers of
//! durations and paths. The module tree under `commands/` mirrors it.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

mod store;
use e2eb::fuzz::Sanitizer;
use e2eb::properties::gate;
use e2eb::vault::sim::ScheduleKind;
use e2eb_core::backup::proto::Compression;
use e2eb_core::vault::KsfProfile;
pub(crate) use store::{KeepArg, StoreArgs, StoreCommand, TierArg};

#[derive(Parser)]
#[command(
    name = "e2eb",
    version,
    about = "End-to-end encrypted chat backups: reference implementation and audit harness"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// Passkey-protected keys: enable, restore on a new phone, add, remove,
    /// rotate the server key, and a guided demo.
    #[command(subcommand)]
    Passkey(PasskeyCommand),
    /// The backup store: upload, restore, list, status, collect leftovers, turn
    /// end-to-end encryption on or off, migrate old backups, change the password, demo.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Fuzzing: seed corpora, campaigns, coverage, and replay of single inputs.
    #[command(subcommand)]
    Fuzz(FuzzCommand),
    /// Benchmarks: run the criterion suite with anchors into a report, compare two reports.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run the audit: vectors, properties, fuzz corpus replay, vault simulation and
    /// benchmarks, into report.{md,json,html} with findings and a verdict.
    Audit(AuditArgs),
    /// Run the property suites at CI depth; write junit.xml and gate.json.
    Gate(GateArgs),
    /// Mutation testing of the security modules (cargo-mutants): run it on a
    /// change, write the report, say whether the committed report is current.
    #[command(subcommand)]
    Mutants(MutantsCommand),
}

/// `e2eb mutants`.
#[derive(Subcommand)]
pub(crate) enum MutantsCommand {
    /// Run cargo-mutants over the scope of .cargo/mutants.toml (all of it
    /// takes hours on two cores; --in-diff takes the mutants of a change) and
    /// write report.{md,json} beside its mutants.out/.
    Run {
        /// Only mutants in the lines changed since this git revision.
        #[arg(long, value_name = "BASE")]
        in_diff: Option<String>,
        /// Only this file (repeatable).
        #[arg(long = "file", value_name = "PATH")]
        files: Vec<String>,
        /// Mutants built and tested at once.
        #[arg(long, default_value_t = 1)]
        jobs: u32,
        /// Output directory (default reports/runs/mutants-<time>/).
        #[arg(long, value_parser = absolute_path)]
        out: Option<PathBuf>,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Write the report of earlier runs: the first a full run, later ones
    /// `cargo mutants --iterate` passes over its survivors.
    Report {
        /// cargo-mutants output directories, first pass first (repeatable).
        #[arg(long = "from", value_name = "DIR", required = true)]
        from: Vec<PathBuf>,
        /// Arguments for surviving mutants.
        #[arg(long, default_value = e2eb::mutants::ARGUMENTS)]
        arguments: PathBuf,
        /// Output directory.
        #[arg(long, default_value = e2eb::mutants::REPORT_DIR)]
        out: PathBuf,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// The committed report: score, survivors, age, and whether the files it
    /// covers changed since. Exit 1 when it is missing or stale.
    Status {
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `e2eb audit`.
#[derive(clap::Args)]
pub(crate) struct AuditArgs {
    /// Quick depth (what the README's main command runs).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Property cases (overrides --quick and the default; at least 1).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) cases: Option<u32>,
    /// Directory of the vector files.
    #[arg(long, default_value = "vectors")]
    pub(crate) vectors: PathBuf,
    /// Output directory (default reports/runs/audit-<time>/).
    #[arg(long, value_parser = absolute_path)]
    pub(crate) out: Option<PathBuf>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// Leave out the benchmarks (the report says they were not run).
    #[arg(long)]
    pub(crate) no_bench: bool,
}

/// `e2eb gate`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct GateArgs {
    /// Cases per property (at least 1: a gate that tries nothing proves nothing).
    #[arg(long, env = "PROPTEST_CASES", default_value_t = gate::DEFAULT_CASES, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) cases: u32,
    /// Run only the properties whose name contains this text.
    #[arg(long, value_name = "SUBSTR")]
    pub(crate) filter: Option<String>,
    /// Output directory for junit.xml and gate.json (default reports/runs/gate-<time>/).
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Print the JSON report on stdout instead of the table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// Run the criterion suite, the anchors (openssl, wa-crypt-tools, dd, age) and the
    /// fleet harness; write reports/runs/bench-NAME/{report.json,report.md,report.html,*.svg}.
    Run {
        /// Report name (directory bench-NAME).
        #[arg(long)]
        name: String,
        /// Short measurements, one run per process anchor, no 2 GiB KSF.
        #[arg(long, conflicts_with = "full")]
        quick: bool,
        /// Also 1 GiB file-to-file runs of both formats next to dd, and of v2 next to age.
        #[arg(long)]
        full: bool,
        /// Measure the 1 GiB runs of v2, dd and age again while N threads spin
        /// on N cores (ids ending -busyN); turns the 1 GiB runs on in quick and
        /// standard mode too.
        #[arg(long, value_name = "N", default_value_t = 0, conflicts_with = "skip_processes")]
        busy: usize,
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
    /// Rewrite report.md, report.html and the charts of a report directory from its
    /// report.json (after the renderers changed; the numbers stay as measured).
    Render {
        /// The report directory (holds report.json).
        dir: PathBuf,
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
pub(crate) enum FuzzCommand {
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
        #[arg(long, default_value = "10m", value_parser = e2eb::units::parse_duration)]
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
pub(crate) enum SanitizerArg {
    Address,
    None,
}

/// A path made absolute against the current directory: `bench run` (also
/// inside `audit`) needs its output directory absolute, since cargo runs the
/// suite from another directory.
pub(crate) fn absolute_path(s: &str) -> Result<PathBuf, String> {
    std::path::absolute(s).map_err(|e| format!("{s:?}: {e}"))
}

/// Where the embedded vault and the devices live.
#[derive(clap::Args)]
pub(crate) struct HomeArgs {
    /// Home of the embedded vault (HOME/vault/) and the default device folders.
    #[arg(long, env = "E2EB_HOME", default_value = ".e2eb")]
    pub(crate) home: PathBuf,
}

/// `e2eb passkey` (design §6).
#[derive(Subcommand)]
pub(crate) enum PasskeyCommand {
    /// Make a passkey on this device, wrap the backup key under it and the
    /// vault's server part, and write DEVICE/passkey_data.key.
    Enable {
        #[command(flatten)]
        home: HomeArgs,
        #[command(flatten)]
        key: KeyArgs,
        /// Account id.
        #[arg(long)]
        account: String,
        /// This device's folder (default HOME/phone).
        #[arg(long)]
        device: Option<PathBuf>,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// On a new device: take the passkeys synced from DIR (a device or passkey
    /// folder), recover the backup key, and write it to OUT (64 digits, 0600).
    Restore {
        #[command(flatten)]
        home: HomeArgs,
        /// Account id.
        #[arg(long)]
        account: String,
        /// The synced passkeys (another device's folder, or its passkeys/ folder).
        #[arg(long)]
        synced_from: PathBuf,
        /// The new device's folder (default HOME/new-phone).
        #[arg(long)]
        device: Option<PathBuf>,
        /// Take the wrap from this backup's header (crypt15 field 5, v2 header)
        /// instead of the one the vault holds.
        #[arg(long)]
        backup: Option<PathBuf>,
        /// Where to write the recovered key (default DEVICE/backup-key.txt).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// Register a further passkey (another device's folder) and wrap the key under it.
    Add {
        #[command(flatten)]
        home: HomeArgs,
        #[command(flatten)]
        key: KeyArgs,
        /// Account id.
        #[arg(long)]
        account: String,
        /// The folder of the device that gets the passkey.
        #[arg(long)]
        device: PathBuf,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// Forget a passkey in the vault (owner proof by the backup key) and on the device.
    Remove {
        #[command(flatten)]
        home: HomeArgs,
        #[command(flatten)]
        key: KeyArgs,
        /// Account id.
        #[arg(long)]
        account: String,
        /// The credential id (hex), as `passkey_data.key` or the passkey file names it.
        #[arg(long)]
        credential: String,
        /// A device folder to delete the passkey from as well.
        #[arg(long)]
        device: Option<PathBuf>,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// The operator: add a new server key version (new wraps use it; old ones
    /// open until retired), or retire an old version.
    RotateServerKey {
        #[command(flatten)]
        home: HomeArgs,
        /// Retire this version instead of rotating.
        #[arg(long)]
        retire: Option<u32>,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// A guided run on five in-process sites: enable, lose the phone, restore
    /// on a new one, a leaked passkey alone and the server alone fail, rotate.
    Demo,
}

#[derive(Subcommand)]
pub(crate) enum VaultCommand {
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
        /// Schedule: random faults and relay attacks, or one targeted attack.
        #[arg(long, value_enum, default_value = "random")]
        schedule: ScheduleArg,
        /// Switch the HSM monotonic counter off (negative control).
        #[arg(long)]
        no_hsm_counter: bool,
        /// Runs in flight at once (runs mostly wait on Raft timers and commits).
        #[arg(long, default_value_t = 10)]
        jobs: usize,
        /// Report every run's schedule, not only those that broke an invariant.
        #[arg(long)]
        schedules: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Test helper: applies one charge to one durable site for every line
    /// `charge` on stdin, printing `ack <index> <attempts left>` after each
    /// fsync (for kill -9 tests).
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
pub(crate) enum ScheduleArg {
    /// Random faults, operations and relay attacks from the seed.
    Random,
    /// A site restarted from an old disk (with --no-hsm-counter: the negative control).
    Rollback,
    /// The relay replays a recorded password change.
    Replay,
    /// A disk copy whose last entry is from an older term at the acknowledged index.
    StaleTerm,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ProfileArg {
    Rfc9807,
    Moderate,
    Test,
}

#[derive(Subcommand)]
pub(crate) enum KeyCommand {
    /// Generate a key from the OS CSPRNG.
    Generate {
        /// Write the key to FILE (64-digit text, or Android key file with --keyfile).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write an Android encrypted_backup.key instead of text (needs --out).
        #[arg(long, requires = "out")]
        keyfile: bool,
        /// Replace an existing --out file. Without it an existing file is
        /// refused: it may be the only copy of a key, and with it every backup.
        #[arg(long, requires = "out")]
        force: bool,
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
pub(crate) enum FormatArg {
    Crypt15,
    V2,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum CompressArg {
    None,
    Zlib,
}

#[derive(clap::Args)]
pub(crate) struct KeyArgs {
    /// Key file: 64-digit text or Android encrypted_backup.key. Without it,
    /// the E2EB_KEY environment variable must hold the 64 digits.
    #[arg(long)]
    pub(crate) key_file: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum BackupCommand {
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
        /// Put this passkey_data.key's wrap in the header (crypt15 field 5, v2 header),
        /// so the backup can be decrypted with the passkey.
        #[arg(long)]
        passkey_data: Option<PathBuf>,
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
        /// Recover the key with a passkey of this folder (a device folder or its
        /// passkeys/) and the embedded vault, from the wrap in IN's header.
        #[arg(long, requires = "account")]
        passkey: Option<PathBuf>,
        /// Account id (with --passkey).
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        home: HomeArgs,
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
pub(crate) enum VectorsCommand {
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
        /// The RFC's JSON list of test vectors (as published with RFC 9807).
        #[arg(long)]
        from: PathBuf,
        /// Vector directory.
        #[arg(long, default_value = "vectors")]
        dir: PathBuf,
    },
}

impl From<SanitizerArg> for Sanitizer {
    fn from(s: SanitizerArg) -> Self {
        match s {
            SanitizerArg::Address => Sanitizer::Address,
            SanitizerArg::None => Sanitizer::None,
        }
    }
}

impl From<ScheduleArg> for ScheduleKind {
    fn from(s: ScheduleArg) -> Self {
        match s {
            ScheduleArg::Random => ScheduleKind::Random,
            ScheduleArg::Rollback => ScheduleKind::Rollback,
            ScheduleArg::Replay => ScheduleKind::Replay,
            ScheduleArg::StaleTerm => ScheduleKind::StaleTerm,
        }
    }
}

impl From<ProfileArg> for KsfProfile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Rfc9807 => KsfProfile::Rfc9807,
            ProfileArg::Moderate => KsfProfile::Moderate,
            ProfileArg::Test => KsfProfile::Test,
        }
    }
}

impl From<CompressArg> for Compression {
    fn from(c: CompressArg) -> Self {
        match c {
            CompressArg::None => Compression::None,
            CompressArg::Zlib => Compression::Zlib,
        }
    }
}

impl From<&GateArgs> for gate::GateOptions {
    fn from(a: &GateArgs) -> Self {
        gate::GateOptions { cases: a.cases, filter: a.filter.clone(), out: a.out.clone() }
    }
}
