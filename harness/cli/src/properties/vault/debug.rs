//! Secrets never in `Debug` (design §5.1 "Secrets never in Debug"): every
//! type of the vault that holds a key, a credential, a proof, a wrapped K,
//! an OPAQUE record or a sealed record is formatted with `{:?}`, and none
//! of the secret bytes it holds may show, in any of the forms a derived
//! `Debug` or a careless one would print them (a list of numbers, hex).

use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, Owner};
use e2eb_core::vault::credential::CredentialIssuer;
use e2eb_core::vault::keys::{self, FleetSecrets, OwnerKey, SealedRecord};
use e2eb_core::vault::state::{self, command::Op};
use e2eb_core::vault::wire::{self, reply, request};
use e2eb_core::vault::{Suite, model};
use opaque_ke::ServerSetup;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use rand_core::OsRng;

use super::super::done;

use super::*;

/// The forms a byte string takes in a `Debug` rendering: its first eight
/// bytes as Rust prints a slice (`[1, 2, ...`), and as hex.
fn forms(secret: &[u8]) -> Vec<String> {
    let head = &secret[..secret.len().min(8)];
    let list = format!("{head:?}");
    vec![list.trim_end_matches(']').to_owned(), head.iter().map(|b| format!("{b:02x}")).collect()]
}

fn never_shows(rendered: &str, what: &str, secrets: &[(&str, Vec<u8>)]) -> Result<(), TestCaseError> {
    for (name, secret) in secrets.iter().filter(|(_, s)| s.len() >= 8) {
        for form in forms(secret) {
            prop_assert!(
                !rendered.contains(&form),
                "the Debug of {} shows the {} ({}): {}",
                what,
                name,
                form,
                rendered
            );
        }
    }
    Ok(())
}

pub(super) fn vault_secrets_never_in_debug(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(&(account_strategy(), password_strategy(), key_strategy()), |(account, pw, k)| {
        let mut b = Bench::new(4);
        let c = b.client(&account);
        let upload = b.register_request(&c, &pw, &k, Owner::First).map_err(tc)?;
        let Some(request::Body::RegisterFinish(finish)) = upload.body.clone() else {
            return Err(tc("no RegisterFinish"));
        };
        client::registered(&b.call(upload.clone())).map_err(tc)?;
        // A recovery, holding every state on the way.
        let (login, ke1) = c.login_start(&mut OsRng, &pw).map_err(tc)?;
        let login_debug = format!("{login:?}");
        let ke2 = b.call(ke1.clone());
        let (waiting, ke3) = login.finish(&mut OsRng, &pw, &ke2).map_err(tc)?;
        let released = b.call(ke3.clone());
        let sealed_k = match &released.body {
            Some(reply::Body::Released(s)) => s.clone(),
            other => return Err(tc(format!("no release: {other:?}"))),
        };
        let waiting_debug = format!("{waiting:?}");
        waiting.open(&released).map_err(tc)?;
        let record = b.record(&account)?;
        let setup = ServerSetup::<Suite>::new(&mut OsRng);
        let fleet = FleetSecrets::of(&setup);
        let sealed = keys::seal_record(&mut OsRng, &fleet, &account, &finish.registration_upload, &finish.wrapped_key)
            .map_err(tc)?;
        let opened = keys::open_record(&fleet, &account, &sealed).map_err(tc)?;
        let issuer = CredentialIssuer::from_seed(&[3; 32]);
        let credential = c.credential().cloned().ok_or_else(|| tc("no credential"))?;
        let proof = finish.proof.clone().ok_or_else(|| tc("no proof"))?;
        let cmd = state::command(
            &account,
            Op::Register(state::Register {
                sealed_secrets: sealed.sealed.clone(),
                record_key: sealed.record_key.clone(),
                owner_public_key: finish.owner_public_key.clone(),
                ksf_profile: PROFILE.code(),
                limit: 4,
                expected_version: None,
                record_id: vec![1; 16],
            }),
        );
        let secrets: Vec<(&str, Vec<u8>)> = vec![
            ("backup key", k.expose_secret().to_vec()),
            ("OPAQUE record", finish.registration_upload.clone()),
            ("wrapped K", finish.wrapped_key.clone()),
            ("owner proof", proof.signature.clone()),
            ("credential", credential.signature.clone()),
            ("released K", sealed_k.clone()),
            ("sealed record", record.sealed_secrets.clone()),
            ("record key", record.record_key.clone()),
            ("fresh sealed record", sealed.sealed.clone()),
            ("fresh record key", sealed.record_key.clone()),
            ("owner key seed", e2eb_core::kdf::derive(&k, e2eb_core::kdf::LABEL_VAULT_OWNER).expose_secret().to_vec()),
        ];
        let renderings: Vec<(&str, String)> = vec![
            ("the backup key", format!("{k:?}")),
            ("the owner key", format!("{:?}", OwnerKey::of(&k))),
            ("the fleet's secrets", format!("{fleet:?}")),
            ("the credential issuer", format!("{issuer:?}")),
            ("a credential", format!("{credential:?}")),
            ("an owner proof", format!("{proof:?}")),
            ("a RegisterFinish", format!("{finish:?}")),
            ("a registration request", format!("{upload:?}")),
            ("a KE1 request", format!("{ke1:?}")),
            ("a KE3 request", format!("{ke3:?}")),
            ("a KE2 reply", format!("{ke2:?}")),
            ("a release", format!("{released:?}")),
            ("a release body", format!("{:?}", released.body)),
            ("a login", login_debug),
            ("a login awaiting the release", waiting_debug),
            ("an account record", format!("{record:?}")),
            ("a sealed record", format!("{sealed:?}")),
            ("opened record secrets", format!("{opened:?}")),
            ("a state command", format!("{cmd:?}")),
            ("a ledger", format!("{:?}", b.ledger)),
            ("a site", format!("{:?}", b.site)),
            ("a client", format!("{c:?}")),
            ("a wire status", format!("{:?}", wire::Status { proof: Some(proof.clone()) })),
            ("a delete", format!("{:?}", wire::Delete { proof: Some(proof.clone()) })),
            ("a model", format!("{:?}", model::AccountModel::new(4))),
            (
                "a sealed record rebuilt",
                format!(
                    "{:?}",
                    SealedRecord { sealed: record.sealed_secrets.clone(), record_key: record.record_key.clone() }
                ),
            ),
        ];
        for (what, rendered) in &renderings {
            never_shows(rendered, what, &secrets)?;
        }
        let _ = BackupKey::from_bytes([0; 32]);
        Ok(())
    }))
}
