//! Replays the committed fuzz corpora and crash inputs on stable
//! (design §8 "Fuzzing"): every file under `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` goes through the matching entry point of
//! `e2eb_core::fuzzing`, so CI catches a regression without nightly or
//! cargo-fuzz. Every target must have at least one seed: an emptied corpus
//! fails loudly.
//!
//! The seeds (`fuzz/corpus/<target>/seed-*`) are built from the vectors by
//! `e2eb::fuzz::seed`; regenerate them after changing the vectors or an input
//! layout (only files named `seed-*` are rewritten, so inputs found by the
//! fuzzer and kept in the corpus stay):
//!
//! ```text
//! cargo run -p e2eb -- fuzz seed
//! ```
//!
//! `committed_seeds_match_the_generator` fails when the committed seeds and
//! the generator disagree.
// Test code: a failed read or a missing seed should stop the test loudly.

use std::path::PathBuf;

use e2eb_core::fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    crate::repo().join("fuzz")
}

use e2eb::fuzz::replay::inputs;

fn replay(target: &str) {
    let r = e2eb::fuzz::replay::replay_target(&fuzz_dir(), target);
    assert!(r.corpus > 0, "fuzz/corpus/{target}/ has no seed: run `cargo run -p e2eb -- fuzz seed`");
    assert!(r.failures.is_empty(), "{target}: {} input(s) fail:\n{}", r.failures.len(), r.failures.join("\n"));
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name));
            }
        )*
        const REPLAYED: &[&str] = &[$(stringify!($name)),*];
    };
}

replay_tests!(
    key_parse,
    keyfile,
    crypt15_prefix,
    crypt15_decrypt,
    crypt15_roundtrip,
    crypt15_tamper,
    crypt14_header,
    v2_header,
    v2_decrypt,
    v2_tamper,
    metadata_blob,
    vault_wire,
    vault_site,
    fleet_schedule,
    aead_differential,
    vectors_json,
    passkey_metadata,
    passkey_data_json,
    webauthn_assertion,
    store_manifest,
);

#[test]
fn every_target_is_replayed_and_every_folder_is_a_target() {
    let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
    assert_eq!(names, REPLAYED, "add the new target to replay_tests!");
    for kind in ["corpus", "regressions"] {
        for entry in std::fs::read_dir(fuzz_dir().join(kind)).into_iter().flatten().filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().is_dir() {
                assert!(names.contains(&name.as_str()), "fuzz/{kind}/{name} is not a fuzz target");
            }
        }
    }
    for t in TARGETS {
        let target = fuzz_dir().join("fuzz_targets").join(format!("{}.rs", t.name));
        assert!(target.is_file(), "{} has no cargo-fuzz wrapper", target.display());
        if let Some(d) = t.dict {
            let dict = fuzz_dir().join("dict").join(format!("{d}.dict"));
            assert!(dict.is_file(), "{} is missing", dict.display());
        }
    }
}

#[test]
fn corpora_stay_small() {
    let mut total = 0u64;
    for kind in ["corpus", "regressions"] {
        for dir in std::fs::read_dir(fuzz_dir().join(kind)).into_iter().flatten().filter_map(Result::ok) {
            for f in inputs(&dir.path()) {
                total += std::fs::metadata(&f).unwrap().len();
            }
        }
    }
    assert!(total < 2 * 1024 * 1024, "committed corpora hold {total} bytes; minimise them (cargo fuzz cmin)");
}

#[test]
fn committed_seeds_match_the_generator() {
    const HOW: &str = "run `cargo run -p e2eb -- fuzz seed`";
    let generated = e2eb::fuzz::seed::seed_corpora().unwrap_or_else(|e| panic!("cannot build the seeds: {e}"));
    let mut problems = Vec::new();
    for t in TARGETS {
        let dir = fuzz_dir().join("corpus").join(t.name);
        let seeds = generated.get(t.name).unwrap_or_else(|| panic!("no seeds generated for {}", t.name));
        let mut committed = Vec::new();
        for path in inputs(&dir) {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.starts_with(e2eb::fuzz::seed::SEED_PREFIX) {
                continue;
            }
            match seeds.get(&name) {
                None => problems.push(format!("fuzz/corpus/{}/{name} is not a generated seed", t.name)),
                Some(data) if *data != std::fs::read(&path).unwrap() => {
                    problems.push(format!("fuzz/corpus/{}/{name} differs from the generated seed", t.name));
                }
                Some(_) => {}
            }
            committed.push(name);
        }
        for name in seeds.keys().filter(|n| !committed.contains(n)) {
            problems.push(format!("fuzz/corpus/{}/{name} is missing", t.name));
        }
    }
    assert!(problems.is_empty(), "committed seeds and generator disagree ({HOW}):\n{}", problems.join("\n"));
}

#[test]
fn writing_seeds_keeps_other_files_and_removes_stale_seeds() {
    let fuzz = tempfile::tempdir().unwrap();
    let corpus = fuzz.path().join("corpus").join("key_parse");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::write(corpus.join("found-by-fuzzer"), b"0123").unwrap();
    std::fs::write(corpus.join("seed-stale"), b"old").unwrap();

    let first = e2eb::fuzz::seed::write_seed_corpora(fuzz.path()).unwrap();
    assert_eq!(first.targets.len(), TARGETS.len());
    assert_eq!(first.kept(), 1);
    assert_eq!(first.removed(), 1);
    assert_eq!(first.written(), first.seeds());
    assert!(first.targets.iter().all(|t| t.seeds > 0));
    assert_eq!(std::fs::read(corpus.join("found-by-fuzzer")).unwrap(), b"0123");
    assert!(!corpus.join("seed-stale").exists());

    let again = e2eb::fuzz::seed::write_seed_corpora(fuzz.path()).unwrap();
    assert_eq!((again.written(), again.removed(), again.kept()), (0, 0, 1));
    assert_eq!(again.seeds(), first.seeds());
}
