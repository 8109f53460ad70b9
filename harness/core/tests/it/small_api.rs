//! Small public accessors and limits that the protocol and format tests use
//! only indirectly (found unpinned by the mutation run, design §8): the
//! credential's one-day limit to the second, the byte forms of the
//! credential verifier and the fleet key and the fleet id, the client's
//! accessors, and the v2 random-access reader's length and header time.

use std::io::Cursor;

use e2eb_core::backup::proto::Compression;
use e2eb_core::backup::v2::{self, EncryptOptions, V2Reader};
use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::VaultClient;
use e2eb_core::vault::credential::{CredentialError, CredentialIssuer, CredentialVerifier, MAX_LIFETIME_SECS};
use e2eb_core::vault::keys::FleetKey;

#[test]
fn a_credential_may_be_valid_for_one_day_and_not_a_second_more() {
    let issuer = CredentialIssuer::from_seed(&[3; 32]);
    let v = issuer.verifier();
    let now = 1_800_000_000;
    assert_eq!(MAX_LIFETIME_SECS, 86_400);
    for expiry in [now, now + 86_400] {
        assert_eq!(v.check(b"acct", Some(&issuer.issue(b"acct", expiry)), now), Ok(()), "expiry {expiry}");
    }
    let long = now + 86_401;
    assert_eq!(
        v.check(b"acct", Some(&issuer.issue(b"acct", long)), now),
        Err(CredentialError::TooLong { expiry: long })
    );
}

#[test]
fn the_verifier_and_the_fleet_key_survive_their_byte_forms() {
    let v = CredentialIssuer::from_seed(&[3; 32]).verifier();
    let b = v.to_bytes();
    assert!(b != [0; 32] && b != [1; 32]);
    assert_eq!(CredentialVerifier::from_bytes(&b), Some(v));
    let mut bytes = [0u8; FleetKey::LEN];
    for (i, x) in bytes.iter_mut().enumerate() {
        *x = i as u8;
    }
    let k = FleetKey::from_bytes(&bytes).expect("64 bytes");
    assert_eq!(k.to_bytes(), bytes);
    assert!(FleetKey::from_bytes(&bytes[..63]).is_none());
    let other = FleetKey::from_bytes(&[9; FleetKey::LEN]).expect("64 bytes");
    assert_ne!(k.id(), other.id(), "the fleet id depends on the keys");
    assert_eq!(k.id(), FleetKey::from_bytes(&bytes).expect("64 bytes").id());
    assert!(k.id() != [0; 32] && k.id() != [1; 32]);
}

#[test]
fn the_client_reports_its_account_and_credential() {
    let fleet = FleetKey::from_bytes(&[9; FleetKey::LEN]).expect("64 bytes");
    let issuer = CredentialIssuer::from_seed(&[4; 32]);
    let mut c = VaultClient::new(b"alice", &fleet);
    assert_eq!(c.account(), b"alice");
    assert!(c.credential().is_none());
    let cred = issuer.issue(b"alice", 1_800_000_000);
    c.set_credential(cred.clone());
    assert_eq!(c.credential(), Some(&cred));
}

#[test]
fn the_random_access_reader_knows_its_length_and_the_header_its_time() {
    let key = BackupKey::from_bytes([4; 32]);
    let opts = EncryptOptions { compression: Compression::None, ..Default::default() };
    for len in [0usize, 1, 40_000] {
        let plain = vec![0x61u8; len];
        let mut file = Vec::new();
        v2::encrypt(&key, &opts, &mut &plain[..], &mut file, &mut |_| {}).expect("encrypts");
        let r = V2Reader::open(&key, Cursor::new(&file)).expect("opens");
        assert_eq!(r.len(), len as u64);
        assert_eq!(r.is_empty(), len == 0);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs();
        let created = r.header().fields.created_unix;
        assert!(created + 3600 > now && created <= now, "created_unix {created}, now {now}");
    }
}
