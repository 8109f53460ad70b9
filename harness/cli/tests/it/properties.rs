//! Runs every property suite (`e2eb::properties`) under `cargo test`, one
//! test per property. Depth: `PROPTEST_CASES` (default 32 for the backup
//! and store suites and 16 for the vault and passkey suites here; `.ci/run`
//! and `e2eb gate` go deeper).

use e2eb::properties::{self, Suite};

fn run(suite: Suite, name: &str) {
    let default = match suite {
        Suite::Vault | Suite::Passkey => 16,
        _ => 32,
    };
    let cases = properties::cases_from_env(default);
    let Some((found, property)) = properties::find(name) else { panic!("no property named {name}") };
    assert_eq!(found, suite, "{name} is in the {} suite", found.as_str());
    let outcome = property.run(cases);
    assert!(outcome.passed, "{name} failed: {}", outcome.message.unwrap_or_default());
}

macro_rules! properties {
    ($($suite:ident: [$($name:ident),* $(,)?]),* $(,)?) => {
        $($( #[test] fn $name() { run(Suite::$suite, stringify!($name)); } )*)*

        #[test]
        fn every_property_has_a_test() {
            let here = [$($(stringify!($name)),*),*];
            let all = properties::suites();
            for s in Suite::ALL {
                assert!(all.iter().any(|(suite, _)| *suite == s), "the {} suite is empty", s.as_str());
            }
            for (_, p) in all {
                assert!(here.contains(&p.name), "property {} is not run by cargo test", p.name);
            }
        }
    };
}

properties!(
    Backup: [
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
    ],
    Vault: [
        vault_lockout_after_exactly_limit,
        vault_success_resets,
        vault_abandoned_attempts_stay_charged,
        vault_one_guess_one_charge,
        vault_owner_messages_cannot_be_replayed_or_edited,
        vault_credential_required,
        vault_strangers_learn_nothing,
        vault_client_trusts_nothing_the_relay_changes,
        vault_secrets_never_in_debug,
        vault_wire_decoding_never_panics,
        vault_state_machine_matches_model,
        vault_fleet_matches_model,
    ],
    Passkey: [
        passkey_both_parts_needed,
        passkey_replayed_or_moved_assertions_release_nothing,
        passkey_rotation_and_retirement_match_model,
    ],
    Store: [
        store_never_loses_the_last_durable_backup,
        store_quota_is_checked_before_upload,
        store_deletes_unencrypted_only_after_encrypted_is_durable,
    ],
);
