//! Runs the vault property suite (`e2eb::vault_properties`, `DESIGN.md` §5
//! and §8) under `cargo test`, one test per property. Depth:
//! `PROPTEST_CASES` (default 16 here; `e2eb gate` goes deeper).
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

fn run(name: &str) {
    let cases = e2eb::properties::cases_from_env(16);
    let property = e2eb::vault_properties::all().into_iter().find(|p| p.name == name);
    let Some(property) = property else { panic!("no vault property named {name}") };
    let outcome = property.run(cases);
    assert!(outcome.passed, "{name} failed: {}", outcome.message.unwrap_or_default());
}

macro_rules! properties {
    ($($name:ident),* $(,)?) => {
        $( #[test] fn $name() { run(stringify!($name)); } )*

        #[test]
        fn every_property_has_a_test() {
            let here = [$(stringify!($name)),*];
            let all = e2eb::vault_properties::all();
            assert!(!all.is_empty(), "the vault property suite is empty");
            for p in all {
                assert!(here.contains(&p.name), "vault property {} is not run by cargo test", p.name);
            }
        }
    };
}

properties!(
    vault_lockout_after_exactly_limit,
    vault_success_resets,
    vault_abandoned_attempts_stay_charged,
    vault_reregistration_needs_owner_token,
    vault_unknown_accounts_indistinguishable,
    vault_wire_decoding_never_panics,
    vault_state_machine_matches_model,
    vault_fleet_matches_model,
);
