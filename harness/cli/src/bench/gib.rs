//! The 1 GiB file-to-file pass of `e2eb bench run` (design §8 "Benchmarks",
//! §9 "v2 1 GiB file to file ≥ 0.9 × dd … ≥ 0.85 × with one core busy, and
//! ≥ 1.0 × age"): our v2 encrypt and decrypt of a 1 GiB file next to
//! `dd bs=1M conv=fsync` and `age`, on disk and on tmpfs, each program a
//! child measured by `e2eb bench measure` (wall time and peak memory).
//!
//! The programs run in rounds, one run of each per round (v2, age, dd, v2,
//! age, dd, …), so that a drift of the machine during the pass (another
//! job, the page cache filling, the disk's write cache) hits all of them
//! alike rather than whichever ran last. Each run writes a new file: its
//! output is removed before it starts and after its round, untimed. With
//! `--busy N` the same pass runs again while N threads spin
//! (`bench/busy.rs`), its ids ending in `-busyN`.
//!
//! On disk, our writer makes its output durable (temporary file, fsync,
//! rename) and so does `dd conv=fsync`; age does not, so the compared age
//! anchor is `age … && sync OUT`, and age alone is kept as an informational
//! anchor. On tmpfs (`bench/tmpfs.rs`) durability costs nothing and the
//! comparison is one of the encryption pipelines.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::age::{self, Age, AgeUnavailable, Invocation};
use super::anchors::{
    ChildMeasure, decrypt_args, encrypt_args, file_anchor_noted, file_run, measured, missing_anchor, same_contents,
};
use super::busy::with_hogs;
use super::render::{busy_threads, cores_busy};
use super::run::{BenchError, io_err};
use super::tmpfs::{TmpfsDir, TmpfsUnavailable};
use crate::bench::report::{
    AGE_DECRYPT_DISK_ANCHOR, AGE_DECRYPT_DISK_NOSYNC_ANCHOR, AGE_DECRYPT_TMPFS_ANCHOR, AGE_ENCRYPT_DISK_ANCHOR,
    AGE_ENCRYPT_DISK_NOSYNC_ANCHOR, AGE_ENCRYPT_TMPFS_ANCHOR, Anchor, DD_ANCHOR, FileRun, busy_id,
};
use crate::progress::Task;

/// Size of the input of the pass.
pub const GIB: u64 = 1 << 30;

/// A 1 GiB text-like file, cached under `target/bench-data/`.
pub fn gib_file(repo: &Path) -> Result<PathBuf, BenchError> {
    let dir = repo.join("target/bench-data");
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let path = dir.join("plain-1GiB.bin");
    if path.metadata().is_ok_and(|m| m.len() == GIB) {
        return Ok(path);
    }
    let partial = dir.join("plain-1GiB.bin.partial");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&partial).map_err(io_err(&partial))?);
    for i in 0..1024u64 {
        let piece =
            if i % 4 == 3 { crate::testdata::fast_bytes(i, 1 << 20) } else { crate::testdata::text_bytes(i, 1 << 20) };
        f.write_all(&piece).map_err(io_err(&partial))?;
    }
    f.flush().map_err(io_err(&partial))?;
    drop(f);
    std::fs::rename(&partial, &path).map_err(io_err(&path))?;
    Ok(path)
}

/// What every pass shares.
pub(super) struct Context<'a> {
    /// This program (`e2eb`), which measures and is measured.
    pub me: &'a Path,
    /// Runs of each program (the dd anchor's count).
    pub runs: usize,
    /// Our key file.
    pub key: &'a Path,
    /// The 1 GiB input on disk.
    pub big: &'a Path,
    /// The run's scratch directory on disk (the same as dd's).
    pub scratch: &'a Path,
}

/// Whether the pass runs on an idle machine or beside N busy threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    Idle,
    Busy(usize),
}

impl Load {
    fn id(self, id: &str) -> String {
        match self {
            Load::Idle => id.to_owned(),
            Load::Busy(n) => busy_id(id, n),
        }
    }

    fn words(self) -> String {
        match self {
            Load::Idle => String::new(),
            Load::Busy(n) => format!(", {}", cores_busy(n)),
        }
    }
}

/// The age anchors' state and the tmpfs directory, made once for both passes.
struct Setup<'a> {
    age: Result<&'a Age, &'a AgeUnavailable>,
    tmpfs: Result<&'a TmpfsDir, &'a TmpfsUnavailable>,
}

/// Runs the idle pass, and with `busy > 0` the busy one under that many
/// hogs; pushes their anchors and file runs.
pub(super) fn passes(
    ctx: &Context<'_>,
    busy: usize,
    anchors: &mut Vec<Anchor>,
    file_runs: &mut Vec<FileRun>,
    notes: &mut Vec<String>,
    pb: &dyn Task,
) -> Result<(), BenchError> {
    pb.set_message("age key (age-keygen)");
    let age = Age::prepare(ctx.scratch);
    match &age {
        Ok(a) => notes.push(format!(
            "age anchors: {} ({}), X25519 key made by age-keygen for this run",
            a.program().display(),
            a.version.as_deref().unwrap_or("version unknown")
        )),
        Err(e) => notes.push(format!("age anchors not measured: {e}")),
    }
    pb.set_message("1 GiB input copied to tmpfs");
    let tmpfs = TmpfsDir::prepare(ctx.big);
    match &tmpfs {
        Ok(t) => notes.push(format!(
            "tmpfs runs in {} (input and output there, input copied from the disk's; removed after the passes)",
            t.root_path().display()
        )),
        Err(e) => notes.push(format!("tmpfs runs not measured: {e}")),
    }
    let setup = Setup { age: age.as_ref(), tmpfs: tmpfs.as_ref() };
    pass(ctx, &setup, Load::Idle, anchors, file_runs, pb)?;
    if busy > 0 {
        let cores = std::thread::available_parallelism().map_or(0, usize::from);
        with_hogs(busy, |_| pass(ctx, &setup, Load::Busy(busy), anchors, file_runs, pb))?;
        notes.push(format!(
            "busy pass (ids ending -busy{busy}): the 1 GiB runs again beside {} of this process on a machine of \
             {cores} cores; started before the pass, joined after it",
            busy_threads(busy)
        ));
    }
    notes.push(
        "1 GiB runs: ours write durably (temporary file, fsync, rename), like dd conv=fsync and, on disk, age \
         followed by sync OUT; the input is in the page cache (a decrypt's ciphertext is read once, untimed, before \
         each run); one run of each program per round, in turn"
            .into(),
    );
    Ok(())
}

/// Who a timed command is: our binary (a file run compared with `anchor`)
/// or another program (an anchor; `how` ends its note).
enum Kind {
    Ours { anchor: String },
    Anchor { command: String, how: String },
}

/// One timed command of the pass.
struct Job {
    id: String,
    description: String,
    kind: Kind,
    invocation: Option<Invocation>,
    output: PathBuf,
    /// The file a decrypt's output must equal (checked after its first run).
    expect: Option<PathBuf>,
    /// Sync the output after the timed run: age without `sync` leaves it
    /// dirty, and its writeback must not land in the next program's time.
    settle: bool,
    runs: Vec<ChildMeasure>,
    failed: Option<String>,
}

/// Commands that run one after the other in a round and share files (an
/// encrypt, then the decrypt of its output); all outputs are removed at the
/// end of the round. `unavailable` says why the group does not run.
struct Group {
    jobs: Vec<Job>,
    unavailable: Option<String>,
}

struct JobSpec<'a> {
    id: String,
    description: String,
    kind: Kind,
    invocation: Option<Invocation>,
    output: &'a Path,
    expect: Option<&'a Path>,
    settle: bool,
}

fn job(s: JobSpec<'_>) -> Job {
    Job {
        id: s.id,
        description: s.description,
        kind: s.kind,
        invocation: s.invocation,
        output: s.output.to_path_buf(),
        expect: s.expect.map(Path::to_path_buf),
        settle: s.settle,
        runs: Vec::new(),
        failed: None,
    }
}

/// Where an encrypt-then-decrypt group works.
struct Files {
    input: PathBuf,
    ciphertext: PathBuf,
    plaintext: PathBuf,
}

impl Files {
    fn new(input: &Path, dir: &Path, stem: &str) -> Self {
        Self {
            input: input.to_path_buf(),
            ciphertext: dir.join(format!("{stem}.enc")),
            plaintext: dir.join(format!("{stem}.out")),
        }
    }
}

/// Our v2 encrypt and decrypt of `files`.
fn ours(ctx: &Context<'_>, load: Load, files: &Files, run: &str, anchors: [&str; 2], place: &str) -> Group {
    let me = ctx.me.as_os_str().to_owned();
    let [enc_anchor, dec_anchor] = anchors;
    let jobs = vec![
        job(JobSpec {
            id: load.id(&format!("v2-encrypt-1GiB{run}")),
            description: format!("v2 encrypt, 1 GiB file{place}{}", load.words()),
            kind: Kind::Ours { anchor: load.id(enc_anchor) },
            invocation: Some((me.clone(), encrypt_args(ctx.key, &files.input, &files.ciphertext, "v2"))),
            output: &files.ciphertext,
            expect: None,
            settle: false,
        }),
        job(JobSpec {
            id: load.id(&format!("v2-decrypt-1GiB{run}")),
            description: format!("v2 decrypt, 1 GiB file{place}{}", load.words()),
            kind: Kind::Ours { anchor: load.id(dec_anchor) },
            invocation: Some((me, decrypt_args(ctx.key, &files.ciphertext, &files.plaintext))),
            output: &files.plaintext,
            expect: Some(&files.input),
            settle: false,
        }),
    ];
    Group { jobs, unavailable: None }
}

/// How one age group runs.
struct AgeVariant<'a> {
    ids: [&'a str; 2],
    /// Ends "age encrypt of the 1 GiB file…".
    place: &'a str,
    /// Command lines for the report, encrypt and decrypt.
    commands: [&'a str; 2],
    /// Wrapped in `sh -c '… && sync OUT'`.
    durable: bool,
    /// Synced after the timed run (on disk without `sync`).
    settle: bool,
    how: &'a str,
}

/// age's encrypt and decrypt of `files` (or the two anchors as unavailable).
fn age_group(age: Result<&Age, String>, load: Load, files: &Files, v: &AgeVariant<'_>) -> Group {
    let busy = match load {
        Load::Idle => String::new(),
        Load::Busy(n) => format!("; {}", busy_threads(n)),
    };
    let how = format!(", alternating with v2{}{busy}", v.how);
    let wrap = |i: Invocation, out: &Path| if v.durable { age::durable(i, out) } else { i };
    let (enc, dec) = match &age {
        Ok(a) => (
            Some(wrap(a.encrypt(&files.input, &files.ciphertext), &files.ciphertext)),
            Some(wrap(a.decrypt(&files.ciphertext, &files.plaintext), &files.plaintext)),
        ),
        Err(_) => (None, None),
    };
    let jobs = vec![
        job(JobSpec {
            id: load.id(v.ids[0]),
            description: format!("age encrypt of the 1 GiB file{}{}", v.place, load.words()),
            kind: Kind::Anchor { command: v.commands[0].into(), how: how.clone() },
            invocation: enc,
            output: &files.ciphertext,
            expect: None,
            settle: v.settle,
        }),
        job(JobSpec {
            id: load.id(v.ids[1]),
            description: format!("age decrypt of the 1 GiB file{}{}", v.place, load.words()),
            kind: Kind::Anchor { command: v.commands[1].into(), how },
            invocation: dec,
            output: &files.plaintext,
            expect: Some(&files.input),
            settle: v.settle,
        }),
    ];
    Group { jobs, unavailable: age.err() }
}

/// The groups of one pass, in the order they run in each round.
fn plan(ctx: &Context<'_>, setup: &Setup<'_>, load: Load) -> Vec<Group> {
    let mut groups = Vec::new();
    let copy = ctx.scratch.join("dd.out");
    let dd = ["if=", "of="].iter().zip([ctx.big, &copy]).map(|(k, p)| {
        let mut arg = OsString::from(k);
        arg.push(p);
        arg
    });
    let dd_args = dd.chain(["bs=1M".into(), "conv=fsync".into()]).collect();
    groups.push(Group {
        jobs: vec![job(JobSpec {
            id: load.id(DD_ANCHOR),
            description: format!("plain copy of the 1 GiB file, same filesystem, durable{}", load.words()),
            kind: Kind::Anchor {
                command: "dd if=plain-1GiB.bin of=copy bs=1M conv=fsync".into(),
                how: match load {
                    Load::Idle => ", alternating with v2 and age".into(),
                    Load::Busy(n) => format!(", alternating with v2 and age; {}", busy_threads(n)),
                },
            },
            invocation: Some(("dd".into(), dd_args)),
            output: &copy,
            expect: None,
            settle: false,
        })],
        unavailable: None,
    });

    let disk = Files::new(ctx.big, ctx.scratch, "v2");
    groups.push(ours(ctx, load, &disk, "", [DD_ANCHOR, DD_ANCHOR], ""));
    let age = setup.age.map_err(ToString::to_string);
    let disk_age = Files::new(ctx.big, ctx.scratch, "age");
    groups.push(age_group(
        age.clone(),
        load,
        &disk_age,
        &AgeVariant {
            ids: [AGE_ENCRYPT_DISK_ANCHOR, AGE_DECRYPT_DISK_ANCHOR],
            place: " on disk, then sync OUT (durable, like ours)",
            commands: [
                "sh -c 'age -r RECIPIENT -o OUT plain-1GiB.bin && sync OUT'",
                "sh -c 'age -d -i age-identity.txt -o OUT IN.age && sync OUT'",
            ],
            durable: true,
            settle: false,
            how: "; sync OUT (coreutils) fsyncs the output, as our writer does before naming its file",
        },
    ));
    let disk_plain = Files::new(ctx.big, ctx.scratch, "age-nosync");
    groups.push(age_group(
        age.clone(),
        load,
        &disk_plain,
        &AgeVariant {
            ids: [AGE_ENCRYPT_DISK_NOSYNC_ANCHOR, AGE_DECRYPT_DISK_NOSYNC_ANCHOR],
            place: " on disk, no sync (informational: not yet durable when age exits)",
            commands: ["age -r RECIPIENT -o OUT plain-1GiB.bin", "age -d -i age-identity.txt -o OUT IN.age"],
            durable: false,
            settle: true,
            how: "; informational (not durable when age exits; synced untimed after each run)",
        },
    ));

    let tmpfs_variant = AgeVariant {
        ids: [AGE_ENCRYPT_TMPFS_ANCHOR, AGE_DECRYPT_TMPFS_ANCHOR],
        place: ", input and output on tmpfs",
        commands: [
            "age -r RECIPIENT -o OUT plain-1GiB.bin (in tmpfs)",
            "age -d -i age-identity.txt -o OUT IN.age (in tmpfs)",
        ],
        durable: false,
        settle: false,
        how: "; memory only",
    };
    match setup.tmpfs {
        Ok(t) => {
            let mem = Files::new(t.input(), t.path(), "v2");
            groups.push(ours(
                ctx,
                load,
                &mem,
                "-tmpfs",
                [AGE_ENCRYPT_TMPFS_ANCHOR, AGE_DECRYPT_TMPFS_ANCHOR],
                ", tmpfs",
            ));
            let mem_age = Files::new(t.input(), t.path(), "age");
            groups.push(age_group(age, load, &mem_age, &tmpfs_variant));
        }
        // Reported as not measured, with the reason; our tmpfs runs, which
        // exist to be compared with these, are left out.
        Err(e) => {
            let nowhere = Files::new(ctx.big, ctx.scratch, "age-tmpfs-not-run");
            groups.push(age_group(Err(e.to_string()), load, &nowhere, &tmpfs_variant));
        }
    }
    groups
}

/// One pass: plan, rounds, then the anchors and file runs it measured.
fn pass(
    ctx: &Context<'_>,
    setup: &Setup<'_>,
    load: Load,
    anchors: &mut Vec<Anchor>,
    file_runs: &mut Vec<FileRun>,
    pb: &dyn Task,
) -> Result<(), BenchError> {
    let mut groups = plan(ctx, setup, load);
    let result = rounds(ctx, &mut groups, pb);
    // Whatever happened, no 1 GiB output stays behind (on tmpfs it is memory).
    for j in groups.iter().filter(|g| g.unavailable.is_none()).flat_map(|g| &g.jobs) {
        let _ = std::fs::remove_file(&j.output);
    }
    result?;
    collect(groups, anchors, file_runs);
    Ok(())
}

fn rounds(ctx: &Context<'_>, groups: &mut [Group], pb: &dyn Task) -> Result<(), BenchError> {
    for round in 0..ctx.runs {
        for g in groups.iter_mut().filter(|g| g.unavailable.is_none()) {
            let mut upstream: Option<String> = None;
            // A job reads what the one before it in its group wrote (a
            // decrypt, the ciphertext): read once untimed, so that every
            // program starts with its input in the page cache. Ours is
            // written around the cache (`atomic/direct.rs`), age's through it.
            let mut previous: Option<PathBuf> = None;
            for j in &mut g.jobs {
                if let Some(why) = &upstream {
                    j.failed.get_or_insert_with(|| why.clone());
                    continue;
                }
                if j.failed.is_some() {
                    upstream = Some(format!("not run: {} failed", j.id));
                    continue;
                }
                let Some((program, args)) = &j.invocation else { continue };
                pb.set_message(&format!("{} (run {}/{})", j.id, round + 1, ctx.runs));
                if let Some(input) = previous.replace(j.output.clone()) {
                    warm(&input)?;
                }
                let _ = std::fs::remove_file(&j.output);
                let timed = measured(ctx.me, &j.id, program, args, 1).and_then(|m| {
                    after_run(j, round == 0)?;
                    Ok(m)
                });
                match timed {
                    Ok(m) => j.runs.extend(m),
                    Err(e) if matches!(j.kind, Kind::Ours { .. }) => return Err(e),
                    Err(e) => {
                        j.failed = Some(e.to_string());
                        upstream = Some(format!("not run: {} failed", j.id));
                    }
                }
            }
            for j in &g.jobs {
                let _ = std::fs::remove_file(&j.output);
            }
        }
    }
    Ok(())
}

/// Reads `path` to its end (untimed), leaving it in the page cache.
fn warm(path: &Path) -> Result<(), BenchError> {
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    std::io::copy(&mut f, &mut std::io::sink()).map(drop).map_err(io_err(path))
}

/// Untimed work after a run: the sync of an output left dirty, and the
/// check that a decrypt gave the input back (first round only: 1 GiB read).
fn after_run(j: &Job, check: bool) -> Result<(), BenchError> {
    if j.settle {
        std::fs::File::open(&j.output).and_then(|f| f.sync_all()).map_err(io_err(&j.output))?;
    }
    if let (true, Some(expect)) = (check, &j.expect)
        && !same_contents(expect, &j.output)?
    {
        return Err(BenchError::WrongOutput(format!("{}: the output differs from the 1 GiB input", j.id)));
    }
    Ok(())
}

/// The measured jobs as file runs and anchors (a job that failed or could
/// not run is an anchor marked not available, with why).
fn collect(groups: Vec<Group>, anchors: &mut Vec<Anchor>, file_runs: &mut Vec<FileRun>) {
    for g in groups {
        for j in g.jobs {
            let why = g.unavailable.clone().or(j.failed);
            match j.kind {
                Kind::Ours { anchor } => {
                    if why.is_none() && !j.runs.is_empty() {
                        file_runs.push(file_run(&j.id, &j.description, GIB, &j.runs, Some(&anchor)));
                    }
                }
                Kind::Anchor { command, how } => match why {
                    None if !j.runs.is_empty() => {
                        anchors.push(file_anchor_noted(&j.id, &j.description, command, GIB, &j.runs, &how));
                    }
                    why => anchors.push(missing_anchor(
                        &j.id,
                        &j.description,
                        &command,
                        why.unwrap_or_else(|| "not run".into()),
                    )),
                },
            }
        }
    }
}
