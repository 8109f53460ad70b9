//! Target `store_manifest` (design §7, §8): the manifest the backup store
//! reads back from a store it does not trust to keep it intact.

use crate::store::manifest::{BackupFormat, MAX_LEN, Manifest, ManifestError, SCHEMA, object_format, object_time};

/// `store_manifest`: [`Manifest::decode`] on arbitrary bytes never panics;
/// bytes over [`MAX_LEN`] are `TooLong` (before any parsing); an accepted
/// manifest obeys the rules the decoder documents (checked here
/// independently: generation between 1 and 2^53, a `backups/<ms>-<32 hex>.<ext>`
/// object whose extension is its format, a key id only on v2, encryption
/// on only with an end-to-end format), and re-encodes to bytes that decode
/// to the same manifest and encode again to the same bytes.
pub fn store_manifest(data: &[u8]) {
    let m = match Manifest::decode(data) {
        Ok(m) => m,
        Err(ManifestError::TooLong(n)) => {
            assert!(n == data.len() && n > MAX_LEN, "TooLong({n}) for {} bytes", data.len());
            return;
        }
        Err(ManifestError::Schema(s)) => {
            assert_ne!(s, SCHEMA, "the supported schema was refused as unsupported");
            return;
        }
        Err(_) => {
            assert!(data.len() <= MAX_LEN, "a manifest over the limit was parsed");
            return;
        }
    };
    assert!(data.len() <= MAX_LEN, "a manifest over the {MAX_LEN}-byte limit was accepted");
    assert!((1..=(1u64 << 53)).contains(&m.generation), "generation {} accepted", m.generation);
    let e = &m.current;
    assert!(object_time(&e.object).is_some(), "accepted object name {:?} is not a backup name", e.object);
    assert_eq!(object_format(&e.object), Some(e.format), "object extension and format disagree");
    assert!(e.key_id.is_none() || e.format == BackupFormat::V2, "a key id on a {:?} backup", e.format);
    assert!(!m.e2ee || e.format.end_to_end(), "e2ee on with a {:?} current backup", e.format);

    let bytes = m.encode();
    assert!(bytes.len() <= MAX_LEN, "an accepted manifest encodes to {} bytes, over the limit", bytes.len());
    match Manifest::decode(&bytes) {
        Ok(back) => {
            assert_eq!(back, m, "the manifest changed through encode and decode");
            assert_eq!(back.encode(), bytes, "encoding is not deterministic");
        }
        Err(e) => panic!("an accepted manifest re-encodes to bytes that do not decode: {e}"),
    }
}

/// The manifests `e2eb fuzz seed` starts the target from: one per format,
/// with and without a key id and encryption, as [`Manifest::encode`] writes
/// them.
pub fn store_manifest_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use crate::store::{Entry, Tier};
    let entry = |format: BackupFormat, ext: &str, key_id: Option<[u8; 8]>| Entry {
        object: format!("backups/1800000000000-{}.{ext}", "0123456789abcdef0123456789abcdef"),
        format,
        key_id,
        size: 1234,
        sha256: [0x5a; 32],
        tier: Tier::Free,
        created_ms: 1_800_000_000_000,
    };
    let m = |generation, e2ee, current| Manifest { generation, e2ee, current };
    vec![
        ("v2-e2ee", m(3, true, entry(BackupFormat::V2, "v2", Some([7; 8]))).encode()),
        ("v2-no-key-id", m(1, false, entry(BackupFormat::V2, "v2", None)).encode()),
        ("crypt15-e2ee", m(2, true, entry(BackupFormat::Crypt15, "crypt15", None)).encode()),
        ("plain", m(1, false, entry(BackupFormat::Plain, "plain", None)).encode()),
        ("crypt14-premium", {
            let mut e = entry(BackupFormat::Crypt14, "crypt14", None);
            e.tier = Tier::Premium;
            m(u64::MAX, false, e).encode()
        }),
    ]
}
