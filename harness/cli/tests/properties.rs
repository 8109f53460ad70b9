//! Runs the shared property suite (`e2eb::properties`) under `cargo test`,
//! one test per property. Depth: `PROPTEST_CASES` (default 32 here; `.ci/run`
//! and `e2eb gate` go deeper).
#![allow(clippy::panic)]

fn run(name: &str) {
    let cases = e2eb::properties::cases_from_env(32);
    let property = e2eb::properties::all().into_iter().find(|p| p.name == name);
    let Some(property) = property else { panic!("no property named {name}") };
    let outcome = property.run(cases);
    assert!(outcome.passed, "{name} failed: {}", outcome.message.unwrap_or_default());
}

macro_rules! properties {
    ($($name:ident),* $(,)?) => {
        $( #[test] fn $name() { run(stringify!($name)); } )*

        #[test]
        fn every_property_has_a_test() {
            let here = [$(stringify!($name)),*];
            for p in e2eb::properties::all() {
                assert!(here.contains(&p.name), "property {} is not run by cargo test", p.name);
            }
        }
    };
}

properties!(
    key_digits_round_trip,
    gcm_stream_matches_aes_gcm,
    crypt15_round_trip,
    crypt15_bit_flip_rejected,
    crypt15_truncation_and_extension_rejected,
    crypt15_header_edit_unnoticed,
    crypt15_wrong_key,
    v2_round_trip,
    v2_every_chunk_boundary,
    v2_bit_flip_rejected,
    v2_truncation_rejected,
    v2_extension_rejected,
    v2_chunk_swap_and_duplicate_rejected,
    v2_header_edit_rejected,
    v2_wrong_key,
    v2_random_access,
    metadata_round_trip_and_tamper,
);
