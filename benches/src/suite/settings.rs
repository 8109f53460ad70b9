//! Run settings of the criterion suite (design §8): the mode (`quick`,
//! `standard` — the default — or `full`; `E2EB_BENCH_MODE` under `cargo
//! bench`) picks warm-up, measurement time, sample size and sampling mode per
//! kind of benchmark. Under `cargo bench` the criterion command-line options
//! `--warm-up-time`, `--measurement-time` and `--sample-size` still win when
//! given; run in process by `e2eb`, the plan is all there is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode};

/// How thoroughly to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A fast smoke run (the whole suite well under 90 s on two cores).
    Quick,
    /// The default: enough samples for a report.
    Standard,
    /// Close to criterion's own defaults.
    Full,
}

impl Mode {
    /// Parses a mode name (`quick`, `standard`, `full`); empty means
    /// `standard`. Anything else is `None`: a typo must not silently change
    /// what is measured.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "" | "standard" => Some(Self::Standard),
            "quick" => Some(Self::Quick),
            "full" => Some(Self::Full),
            _ => None,
        }
    }
}

/// What a benchmark costs, which decides its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Microseconds to a few milliseconds per iteration.
    Small,
    /// A 64 MiB buffer: tens to hundreds of milliseconds per iteration.
    Large,
    /// A password stretch with a moderate KSF (64 MiB Argon2id).
    Ksf,
    /// A password stretch with RFC 9807's KSF (2 GiB Argon2id): seconds.
    HeavyKsf,
    /// One recovery against the durable fleet (fsync on every commit).
    Fleet,
}

struct Plan {
    warm_up: Duration,
    measurement: Duration,
    sample_size: usize,
    sampling: SamplingMode,
}

/// The options given on the command line, which override the mode's plan.
#[derive(Debug, Clone, Copy, Default)]
struct Cli {
    warm_up: bool,
    measurement: bool,
    sample_size: bool,
    quick: bool,
}

impl Cli {
    fn from_args() -> Self {
        let given = |flag: &str| {
            std::env::args().any(|a| a == flag || a.strip_prefix(flag).is_some_and(|r| r.starts_with('=')))
        };
        Self {
            warm_up: given("--warm-up-time"),
            measurement: given("--measurement-time"),
            sample_size: given("--sample-size"),
            quick: given("--quick"),
        }
    }
}

/// The mode, the command-line overrides and where the fleet keeps its disks.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How thoroughly to measure.
    pub mode: Mode,
    cli: Cli,
    /// A directory on a real disk (never tmpfs) for the fleet's sites.
    scratch: PathBuf,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

impl Settings {
    /// The plan of `mode` alone, the fleet's disks under `scratch` (run in
    /// process by `e2eb bench run` and `e2eb audit`).
    pub fn new(mode: Mode, scratch: &Path) -> Self {
        Self { mode, cli: Cli::default(), scratch: scratch.to_owned() }
    }

    /// `cargo bench`: the mode from `E2EB_BENCH_MODE`, the overrides from
    /// the command line, the fleet's disks under the target directory.
    /// `Err` names an unknown mode.
    pub fn from_env(scratch: &Path) -> Result<Self, String> {
        let value = std::env::var("E2EB_BENCH_MODE").unwrap_or_default();
        let mode = Mode::parse(&value)
            .ok_or_else(|| format!("E2EB_BENCH_MODE={value:?}: expected quick, standard or full"))?;
        Ok(Self { mode, cli: Cli::from_args(), scratch: scratch.to_owned() })
    }

    /// Where the fleet group keeps its sites' disks.
    pub(crate) fn scratch(&self) -> &Path {
        &self.scratch
    }

    fn plan(&self, kind: Kind) -> Plan {
        use SamplingMode::{Auto, Flat};
        // Warm-up of a KSF is one iteration: criterion always runs at least one,
        // and Argon2 has nothing to warm beyond that.
        let one = Duration::from_millis(1);
        let (warm_up, measurement, sample_size, sampling) = match (self.mode, kind) {
            // Slightly under the nominal 0.3 s / 1 s so that the whole quick
            // run (some 48 benchmarks) stays well under 90 s on two cores.
            (Mode::Quick, Kind::Small | Kind::Fleet) => (secs(0.2), secs(0.8), 10, Auto),
            (Mode::Quick, Kind::Large) => (secs(0.3), secs(1.0), 10, Flat),
            (Mode::Quick, Kind::Ksf | Kind::HeavyKsf) => (one, secs(1.0), 10, Flat),
            (Mode::Standard, Kind::Small) => (secs(1.0), secs(3.0), 20, Auto),
            (Mode::Standard, Kind::Large) => (secs(1.0), secs(3.0), 10, Flat),
            (Mode::Standard, Kind::Ksf | Kind::HeavyKsf) => (one, secs(3.0), 10, Flat),
            (Mode::Standard, Kind::Fleet) => (secs(1.0), secs(3.0), 10, Auto),
            (Mode::Full, Kind::Small) => (secs(3.0), secs(5.0), 50, Auto),
            (Mode::Full, Kind::Large) => (secs(3.0), secs(10.0), 50, Flat),
            (Mode::Full, Kind::Ksf) => (one, secs(10.0), 50, Flat),
            (Mode::Full, Kind::HeavyKsf) => (one, secs(20.0), 10, Flat),
            (Mode::Full, Kind::Fleet) => (secs(3.0), secs(10.0), 50, Auto),
        };
        Plan { warm_up, measurement, sample_size, sampling }
    }

    /// The criterion runner: no plots, the mode's small-benchmark plan as
    /// defaults. `cargo bench`'s main adds the command line
    /// (`configure_from_args`: filters, `--list`, `--quick`, ...).
    pub fn criterion(&self) -> Criterion {
        let plan = self.plan(Kind::Small);
        let c = Criterion::default()
            .without_plots()
            .warm_up_time(plan.warm_up)
            .measurement_time(plan.measurement)
            .sample_size(plan.sample_size);
        // A 10-sample bootstrap does not need 100 000 resamples; this keeps the
        // analysis of a quick run short (`--nresamples` still overrides it).
        if self.mode == Mode::Quick { c.nresamples(20_000) } else { c }
    }

    /// Applies the plan of `kind` to the benchmarks added next to `group`,
    /// except what the command line set.
    pub(crate) fn apply(&self, group: &mut BenchmarkGroup<'_, WallTime>, kind: Kind) {
        let plan = self.plan(kind);
        group.sampling_mode(plan.sampling);
        if !self.cli.warm_up {
            group.warm_up_time(plan.warm_up);
        }
        if !self.cli.measurement {
            group.measurement_time(plan.measurement);
        }
        // `--quick` (criterion's own adaptive mode) ignores the sample size.
        if !self.cli.sample_size && !self.cli.quick {
            group.sample_size(plan.sample_size);
        }
    }
}
