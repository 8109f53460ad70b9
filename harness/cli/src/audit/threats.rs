//! The threat table of the audit (design §8 "Audit", the attacker of §5.1
//! and the file threats of §4): each threat, who mounts it, and what covers
//! it — properties, simulations and fuzz targets this run replayed, vector
//! families, the mutation score of the files that defend against it, and
//! the `cargo test` tests that CI runs — each with its result here.

use serde::Serialize;

use super::AuditReport;
use crate::report::table::{Align, Cell, Status, Table};

/// One threat and how this run covered it.
#[derive(Debug, Clone, Serialize)]
pub struct ThreatRow {
    /// Short id (`T1`).
    pub id: &'static str,
    /// What the attacker tries.
    pub threat: &'static str,
    /// Who: `relay`, `disk thief`, `stranger`, `file` (an edited or damaged
    /// backup), `input` (any malformed input), `passkey thief` (holds a
    /// synced passkey leaked from a password manager), `server insider`
    /// (holds the vault's server keys), `cloud provider` (holds the backup
    /// store's objects), `fault` (a killed process, a failed network or
    /// disk operation, a second device racing the first).
    pub attacker: &'static str,
    /// The design section that defines it.
    pub section: &'static str,
    /// What covers it, with each piece's result in this run.
    pub covered_by: Vec<Coverage>,
    /// `pass` (something ran and nothing failed), `FAIL`, or `not covered
    /// in this run`.
    pub result: String,
}

/// One piece of evidence for a threat.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// `property`, `simulation`, `fuzz replay`, `vectors`, `mutants`, `cargo test`.
    pub kind: &'static str,
    /// Its name (a property, a simulation label, a target, a family, a file, a test).
    pub name: String,
    /// `Some(true)` passed, `Some(false)` failed, `None` not run by the audit.
    pub passed: Option<bool>,
    /// A number behind the result (the mutation score), when there is one.
    pub detail: Option<String>,
}

struct Threat {
    id: &'static str,
    threat: &'static str,
    attacker: &'static str,
    section: &'static str,
    properties: &'static [&'static str],
    simulations: &'static [&'static str],
    fuzz: &'static [&'static str],
    vectors: &'static [&'static str],
    mutants: &'static [&'static str],
    tests: &'static [&'static str],
}

const VAULT: &str = "harness/core/src/vault/";

/// The threats of design §5.1 (the relay, the disk thief, the stranger),
/// §4 (edited and damaged files, malformed input), §6 (passkey-protected
/// keys: a leaked passkey, a compromised server key, the relay's replayed
/// or moved assertions) and §7 (the backup store: a provider reading the
/// stored backups, an upload lost to a crash, a fault or a race, unencrypted
/// backups deleted before the encrypted one is durable).
///
/// The passkey modules (`harness/core/src/passkey/`, `vault/passkeys/`) and
/// the store (`harness/core/src/store/`) are not in `.cargo/mutants.toml`
/// yet, so T14–T19 name no mutated files.
const THREATS: &[Threat] = &[
    Threat {
        id: "T1",
        threat: "replays or edits an owner message (password change, delete) to reset the attempt counter or bring back an old password",
        attacker: "relay",
        section: "§5.1",
        properties: &["vault_owner_messages_cannot_be_replayed_or_edited"],
        simulations: &["relay replays owner messages"],
        fuzz: &["vault_site"],
        vectors: &["vault"],
        mutants: &["site.rs", "keys.rs", "credential.rs"],
        tests: &["a_replayed_password_change_is_refused_and_resets_nothing", "an_edited_owner_message_is_refused"],
    },
    Threat {
        id: "T2",
        threat: "charges one password entry several times, or cancels another client's login with a junk KE3",
        attacker: "relay",
        section: "§5.1",
        properties: &["vault_one_guess_one_charge"],
        simulations: &["random schedules"],
        fuzz: &["vault_site"],
        vectors: &[],
        mutants: &["site.rs", "state.rs"],
        tests: &["one_guess_one_charge", "a_strangers_junk_ke3_cannot_cancel_a_login"],
    },
    Threat {
        id: "T3",
        threat: "gets more password verifications than the limit between two owner-authorised resets",
        attacker: "relay",
        section: "§5, §5.1",
        properties: &[
            "vault_lockout_after_exactly_limit",
            "vault_success_resets",
            "vault_abandoned_attempts_stay_charged",
            "vault_state_machine_matches_model",
            "vault_fleet_matches_model",
        ],
        simulations: &["random schedules"],
        fuzz: &["vault_site", "fleet_schedule"],
        vectors: &[],
        mutants: &["state.rs", "site.rs"],
        tests: &["lockout_after_exactly_the_limit_and_erasure"],
    },
    Threat {
        id: "T4",
        threat: "reads an erased or replaced record (OPAQUE record, wrapped K) from a site's files",
        attacker: "disk thief",
        section: "§5.1",
        properties: &[],
        simulations: &["random schedules"],
        fuzz: &[],
        vectors: &[],
        mutants: &["state.rs", "keys.rs"],
        tests: &[
            "an_erased_record_is_gone_from_the_durable_sites_file",
            "a_replaced_record_is_gone_from_every_sites_file",
        ],
    },
    Threat {
        id: "T5",
        threat: "restarts a site from an older disk copy so that it votes twice or loses acknowledged entries",
        attacker: "disk thief",
        section: "§5 Rollback, §5.1",
        properties: &[],
        simulations: &[
            "rollback attack, HSM counter on",
            "negative control: rollback, HSM counter off",
            "stale-term disk copy",
        ],
        fuzz: &["fleet_schedule"],
        vectors: &[],
        mutants: &["fleet/rollback.rs"],
        tests: &[],
    },
    Threat {
        id: "T6",
        threat: "learns whether an account exists, is locked or was erased, or acts without the account's credential",
        attacker: "stranger",
        section: "§5.1",
        properties: &["vault_strangers_learn_nothing", "vault_credential_required"],
        simulations: &[],
        fuzz: &[],
        vectors: &[],
        mutants: &["site.rs", "credential.rs"],
        tests: &["strangers_get_the_same_answers_whatever_the_account"],
    },
    Threat {
        id: "T7",
        threat: "changes the KSF profile in KE2 (a 2 GiB Argon2id, or a weak one) or answers for another vault",
        attacker: "relay",
        section: "§5.1",
        properties: &["vault_client_trusts_nothing_the_relay_changes"],
        simulations: &[],
        fuzz: &[],
        vectors: &[],
        mutants: &["client.rs"],
        tests: &["the_client_detects_a_changed_or_weak_ksf_profile", "a_client_rejects_a_vault_with_another_key"],
    },
    Threat {
        id: "T8",
        threat: "reads secrets (owner keys, wrapped keys, records, credentials) from Debug output or logs",
        attacker: "stranger",
        section: "§10",
        properties: &["vault_secrets_never_in_debug"],
        simulations: &[],
        fuzz: &[],
        vectors: &[],
        mutants: &[],
        tests: &[],
    },
    Threat {
        id: "T9",
        threat: "sends malformed vault messages to crash or confuse a site",
        attacker: "stranger",
        section: "§5.1, §10",
        properties: &["vault_wire_decoding_never_panics"],
        simulations: &[],
        fuzz: &["vault_wire", "vault_site"],
        vectors: &["vault"],
        mutants: &["wire.rs"],
        tests: &["malformed_requests_get_typed_errors"],
    },
    Threat {
        id: "T10",
        threat: "an edited v2 backup (bit flip, truncation, extension, chunk swap or duplicate, header edit) is accepted",
        attacker: "file",
        section: "§4.2",
        properties: &[
            "v2_bit_flip_rejected",
            "v2_truncation_rejected",
            "v2_extension_rejected",
            "v2_chunk_swap_and_duplicate_rejected",
            "v2_header_edit_rejected",
            "v2_random_access",
        ],
        simulations: &[],
        fuzz: &["v2_tamper", "v2_decrypt", "v2_header", "aead_differential"],
        vectors: &["v2"],
        mutants: &["backup/v2.rs", "cobblestone.rs"],
        tests: &[],
    },
    Threat {
        id: "T11",
        threat: "a wrong key is reported as damage, or damage (a flipped key id) as a wrong key",
        attacker: "file",
        section: "§4.1, §4.2",
        properties: &["v2_wrong_key", "crypt15_wrong_key", "v2_bit_flip_rejected"],
        simulations: &[],
        fuzz: &["v2_decrypt", "crypt15_decrypt"],
        vectors: &["v2", "crypt15"],
        mutants: &["backup/v2.rs", "backup/crypt15.rs"],
        tests: &["a_damaged_key_id_is_told_from_another_key_by_the_commitment"],
    },
    Threat {
        id: "T12",
        threat: "an edited crypt15 backup is accepted (the deployed format's prefix is not authenticated: finding F1)",
        attacker: "file",
        section: "§4.1",
        properties: &[
            "crypt15_bit_flip_rejected",
            "crypt15_truncation_and_extension_rejected",
            "crypt15_header_edit_unnoticed",
            "gcm_stream_matches_aes_gcm",
        ],
        simulations: &[],
        fuzz: &["crypt15_tamper", "crypt15_decrypt", "crypt15_roundtrip", "crypt15_prefix"],
        vectors: &["crypt15"],
        mutants: &["backup/crypt15.rs", "gcm_stream.rs"],
        tests: &[],
    },
    Threat {
        id: "T13",
        threat: "a malformed key, key file or metadata blob crashes a reader or is misread",
        attacker: "input",
        section: "§3, §4.3, §10",
        properties: &["key_digits_round_trip", "metadata_round_trip_and_tamper"],
        simulations: &[],
        fuzz: &["key_parse", "keyfile", "metadata_blob", "vectors_json"],
        vectors: &["key", "kdf", "metadata"],
        mutants: &["key.rs", "kdf.rs", "backup/metadata.rs"],
        tests: &[],
    },
    Threat {
        id: "T14",
        threat: "a leaked synced passkey (passkey alone, without the account credential): opens K with the passkey's PRF output and no server part, or with a wrap moved to another credential or server key version (with the account credential too — a SIM swap — it restores K by design, design §6)",
        attacker: "passkey thief",
        section: "§6",
        properties: &["passkey_both_parts_needed"],
        simulations: &[],
        fuzz: &["passkey_metadata", "passkey_data_json"],
        vectors: &["passkey"],
        mutants: &[],
        tests: &[
            "a_leaked_passkey_alone_and_the_server_alone_each_fail",
            "both_halves_open_and_each_alone_fails",
            "an_assertion_without_user_verification_gets_no_prf_and_is_refused",
            "passkey_requests_need_the_account_credential",
            "the_first_passkey_or_password_must_come_from_the_accounts_owner",
        ],
    },
    Threat {
        id: "T15",
        threat: "a compromised server key (server alone): opens K with the server part and no passkey PRF output, or still gets a retired key version's server part",
        attacker: "server insider",
        section: "§6",
        properties: &["passkey_both_parts_needed", "passkey_rotation_and_retirement_match_model"],
        simulations: &[],
        fuzz: &["passkey_metadata", "passkey_data_json"],
        vectors: &["passkey"],
        mutants: &[],
        tests: &[
            "a_leaked_passkey_alone_and_the_server_alone_each_fail",
            "both_halves_open_and_each_alone_fails",
            "rotation_keeps_old_wraps_until_rewrapped_and_retirement_says_so",
            "server_keys_rotate_in_order_and_the_newest_cannot_retire",
        ],
    },
    Threat {
        id: "T16",
        threat: "a replayed or moved assertion: resends a recorded passkey assertion (later, under another account, or for another challenge or origin) to get the server part",
        attacker: "relay",
        section: "§6, §5.1",
        properties: &["passkey_replayed_or_moved_assertions_release_nothing"],
        simulations: &[],
        fuzz: &["webauthn_assertion"],
        vectors: &[],
        mutants: &[],
        tests: &[
            "replayed_and_cross_account_assertions_release_nothing",
            "an_assertion_from_another_origin_is_refused",
            "counters_only_move_forward",
            "a_cloned_passkey_whose_count_goes_back_is_refused",
            "a_moved_assertion_does_not_burn_the_owners_challenge",
            "an_assertion_without_uv_releases_nothing",
        ],
    },
    Threat {
        id: "T17",
        threat: "a cloud provider reads backups: the store still holds an unencrypted (or service-readable crypt14) backup, or its plaintext, once end-to-end encryption is on",
        attacker: "cloud provider",
        section: "§7",
        properties: &["store_deletes_unencrypted_only_after_encrypted_is_durable"],
        simulations: &[],
        fuzz: &["store_manifest"],
        vectors: &[],
        mutants: &[],
        tests: &[
            "turning_e2ee_on_deletes_plain_only_after_durable",
            "enable_in_a_terminal_with_the_right_groups",
            "yes_for_scripts_with_crypt15_and_json",
            "migrate_a_plain_backup_from_the_store_without_plaintext_on_disk",
            "migrate_crypt14_from_the_store_and_from_a_file_without_plaintext_on_disk",
        ],
    },
    Threat {
        id: "T18",
        threat: "a lost upload: a killed process, a failed write or part, a full quota, a stale or racing second device leaves no restorable backup, or one other than the last committed",
        attacker: "fault",
        section: "§7",
        properties: &["store_never_loses_the_last_durable_backup", "store_quota_is_checked_before_upload"],
        simulations: &[],
        fuzz: &["store_manifest"],
        vectors: &[],
        mutants: &[],
        tests: &[
            "sigkill_at_random_points_of_an_upload_leaves_one_restorable_backup",
            "quota_refusal_leaves_the_previous_backup_restorable",
            "two_devices_one_wins",
            "crash_leftovers_are_collected",
            "a_slow_upload_is_not_committed",
            "a_commit_based_on_a_collected_manifest_generation_is_not_lost",
        ],
    },
    Threat {
        id: "T19",
        threat: "deletion before durability: unencrypted backups are deleted before the first end-to-end encrypted backup is current and durable (or without the key's confirmation), leaving no backup at all",
        attacker: "fault",
        section: "§7",
        properties: &["store_deletes_unencrypted_only_after_encrypted_is_durable"],
        simulations: &[],
        fuzz: &[],
        vectors: &[],
        mutants: &[],
        tests: &[
            "turning_e2ee_on_deletes_plain_only_after_durable",
            "a_wrong_group_in_the_terminal_changes_nothing",
            "ctrl_d_at_the_prompt_changes_nothing",
        ],
    },
];

/// The full path of a mutated file named in [`THREATS`].
fn mutant_path(short: &str) -> String {
    if short.starts_with("backup/") || ["key.rs", "kdf.rs", "cobblestone.rs", "gcm_stream.rs"].contains(&short) {
        format!("harness/core/src/{short}")
    } else {
        format!("{VAULT}{short}")
    }
}

/// The threat table for `r`; `per_file` holds the committed mutation
/// report's score per file (path → (score, meets the target)).
pub fn threat_rows(r: &AuditReport, per_file: &[(String, f64, bool)]) -> Vec<ThreatRow> {
    THREATS
        .iter()
        .map(|t| {
            let mut covered_by = Vec::new();
            for p in t.properties {
                let passed = r.properties.iter().find(|o| o.name == *p).map(|o| o.passed);
                covered_by.push(Coverage { kind: "property", name: (*p).into(), passed, detail: None });
            }
            for s in t.simulations {
                let passed = r.vault_sim.iter().find(|v| v.label == *s).map(super::SimRun::passed);
                covered_by.push(Coverage { kind: "simulation", name: (*s).into(), passed, detail: None });
            }
            for f in t.fuzz {
                let passed = r.fuzz_replay.iter().find(|x| x.target == *f).map(|x| x.passed());
                covered_by.push(Coverage { kind: "fuzz replay", name: (*f).into(), passed, detail: None });
            }
            for v in t.vectors {
                let passed = r.vectors.families.iter().find(|x| x.family == *v).map(|x| x.failures.is_empty());
                covered_by.push(Coverage { kind: "vectors", name: (*v).into(), passed, detail: None });
            }
            for m in t.mutants {
                let path = mutant_path(m);
                let (passed, detail) = match per_file.iter().find(|(p, _, _)| *p == path) {
                    Some((_, score, met)) => (Some(*met), Some(format!("{:.1} % caught", score * 100.0))),
                    None => (None, None),
                };
                covered_by.push(Coverage { kind: "mutants", name: path, passed, detail });
            }
            for name in t.tests {
                covered_by.push(Coverage { kind: "cargo test", name: (*name).into(), passed: None, detail: None });
            }
            // The mutation report is committed evidence, not this run's
            // result: a low score is finding M2, not a failed threat.
            let ran: Vec<bool> = covered_by.iter().filter(|c| c.kind != "mutants").filter_map(|c| c.passed).collect();
            let result = if ran.contains(&false) {
                "FAIL"
            } else if ran.is_empty() {
                "not covered in this run"
            } else {
                "pass"
            };
            ThreatRow {
                id: t.id,
                threat: t.threat,
                attacker: t.attacker,
                section: t.section,
                covered_by,
                result: result.into(),
            }
        })
        .collect()
}

/// The threat table as a report table.
pub fn threats_table(rows: &[ThreatRow]) -> Table {
    let mut t = Table::new(&[
        ("id", Align::Left),
        ("attacker", Align::Left),
        ("threat", Align::Left),
        ("covered by (result in this run)", Align::Left),
        ("result", Align::Left),
    ]);
    for row in rows {
        let covered: Vec<String> = row
            .covered_by
            .iter()
            .map(|c| {
                let result = match (c.passed, &c.detail) {
                    (_, Some(d)) => d.clone(),
                    (Some(true), None) => "pass".into(),
                    (Some(false), None) => "FAIL".into(),
                    (None, None) if c.kind == "cargo test" => "CI".into(),
                    (None, None) => "not run".into(),
                };
                format!("{} {} ({result})", c.kind, c.name)
            })
            .collect();
        let status = match row.result.as_str() {
            "pass" => Status::Pass,
            "FAIL" => Status::Fail,
            _ => Status::Skip,
        };
        t.row(vec![
            Cell::new(row.id).with_style(crate::report::table::Style::Strong),
            format!("{} ({})", row.attacker, row.section).into(),
            row.threat.into(),
            covered.join("; ").into(),
            Cell::new(row.result.as_str()).with_status(status),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_property_and_target_exists() {
        // A threat that names a property or target that was renamed would
        // show "not run" forever: the table names only real ones.
        let properties: Vec<&str> = crate::properties::suites().iter().map(|(_, p)| p.name).collect();
        let targets: Vec<&str> = e2eb_core::fuzzing::TARGETS.iter().map(|t| t.name).collect();
        for t in THREATS {
            for p in t.properties {
                assert!(properties.contains(p), "{}: no property {p}", t.id);
            }
            for f in t.fuzz {
                assert!(targets.contains(f), "{}: no fuzz target {f}", t.id);
            }
            for m in t.mutants {
                let path = mutant_path(m);
                assert!(
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(&path).is_file(),
                    "{}: no file {path}",
                    t.id
                );
            }
        }
    }

    /// The `.rs` files under `dir`, recursively.
    fn sources(dir: &std::path::Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }

    #[test]
    fn every_named_cargo_test_and_vector_family_exists() {
        // The audit does not run the `cargo test` tests it names (CI does),
        // so a renamed one would be cited for ever: the table names only
        // functions that exist, and vector families that have a file.
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        sources(&repo.join("harness"), &mut files);
        for t in THREATS {
            for name in t.tests {
                let signature = format!("fn {name}(");
                assert!(files.iter().any(|f| f.contains(&signature)), "{}: no test {name}", t.id);
            }
            for v in t.vectors {
                assert!(repo.join("vectors").join(format!("{v}.json")).is_file(), "{}: no vectors/{v}.json", t.id);
            }
        }
    }
}
