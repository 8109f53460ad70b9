//! crypt15 trailer handling (design §4.1): the MD5 trailer is unkeyed, so
//! removing it turns a single-file backup into the multi-file layout, which the
//! deployed readers accept. What must hold is that the plaintext is still the
//! authentic one and that any other cut is refused.

// Test helpers: a failed encryption into memory should stop the test loudly.
#![allow(clippy::expect_used)]

use e2eb_core::backup::crypt15::{self, DecryptError, EncryptOptions, Variant};
use e2eb_core::key::BackupKey;

fn encrypt(key: &BackupKey, plaintext: &[u8]) -> Vec<u8> {
    let mut file = Vec::new();
    crypt15::encrypt(key, &EncryptOptions::default(), &mut &plaintext[..], &mut file, &mut |_| {})
        .expect("encryption into memory");
    file
}

fn decrypt(key: &BackupKey, file: &[u8]) -> Result<(Vec<u8>, crypt15::DecryptSummary), DecryptError> {
    let mut out = Vec::new();
    crypt15::decrypt(key, &mut &file[..], &mut out, &mut |_| {}).map(|summary| (out, summary))
}

#[test]
fn dropping_the_md5_trailer_keeps_the_authentic_plaintext() {
    let key = BackupKey::from_bytes([7; 32]);
    let plaintext: Vec<u8> = (0..1818u32).map(|i| (i % 7) as u8).collect();
    let file = encrypt(&key, &plaintext);

    let (whole, summary) = decrypt(&key, &file).expect("intact file");
    assert_eq!(whole, plaintext);
    assert_eq!(summary.variant, Variant::SingleFile);

    let stripped = &file[..file.len() - crypt15::MD5_LEN];
    let (back, summary) = decrypt(&key, stripped).expect("MD5-stripped file is the multi-file layout");
    assert_eq!(back, plaintext);
    assert_eq!(summary.variant, Variant::MultiFile);
    assert!(summary.compressed, "the zlib stream is still recognised");

    for cut in [file.len() - crypt15::MD5_LEN - 1, file.len() - crypt15::MD5_LEN + 1, file.len() - 1] {
        assert!(
            matches!(decrypt(&key, &file[..cut]), Err(DecryptError::AuthenticationFailed)),
            "cut to {cut} of {} must fail authentication",
            file.len()
        );
    }
}
