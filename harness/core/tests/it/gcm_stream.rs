//! The streaming AES-256-GCM of crypt15 (design §4.1) through its public
//! API, against RustCrypto's one-shot `aes-gcm` as the independent
//! reference: additional authenticated data is authenticated (crypt15
//! itself uses none, so only this test covers it), and the length
//! accessors count what was processed.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use e2eb_core::gcm_stream::{GcmStream, TAG_LEN};

const KEY: [u8; 32] = [0x42; 32];
const IV: [u8; 12] = [0x24; 12];

fn reference(aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let gcm = Aes256Gcm::new((&KEY).into());
    gcm.encrypt(Nonce::from_slice(&IV), Payload { msg: plain, aad }).expect("aes-gcm encrypts")
}

#[test]
fn additional_data_is_authenticated_like_aes_gcm() {
    for (aad_len, plain_len) in [(1usize, 0usize), (13, 5), (16, 16), (40, 100), (3, 1000)] {
        let aad: Vec<u8> = (0..aad_len).map(|i| i as u8).collect();
        let plain: Vec<u8> = (0..plain_len).map(|i| (i * 7) as u8).collect();
        let expected = reference(&aad, &plain);
        let mut s = GcmStream::with_aad(&KEY, &IV, &aad).expect("non-empty IV");
        let mut data = plain.clone();
        // Two pieces, so buffering across calls is exercised too.
        let (a, b) = data.split_at_mut(plain_len / 3);
        s.encrypt(a).expect("short message");
        s.encrypt(b).expect("short message");
        let tag = s.finalize();
        assert_eq!(&data[..], &expected[..plain_len], "aad {aad_len}, plain {plain_len}: ciphertext");
        assert_eq!(&tag[..], &expected[plain_len..], "aad {aad_len}, plain {plain_len}: tag");
        // The same message checked under other AAD fails.
        let mut other = aad.clone();
        other[0] ^= 1;
        let mut d = GcmStream::with_aad(&KEY, &IV, &other).expect("non-empty IV");
        let mut ct = expected[..plain_len].to_vec();
        d.decrypt(&mut ct).expect("short message");
        assert!(!d.verify(&expected[plain_len..]), "aad {aad_len}: a changed AAD verified");
        assert_eq!(expected.len() - plain_len, TAG_LEN);
    }
}

#[test]
fn the_length_counts_every_byte_processed() {
    let mut s = GcmStream::new(&KEY, &IV).expect("non-empty IV");
    assert!(s.is_empty());
    assert_eq!(s.len(), 0);
    let mut data = [0u8; 37];
    s.encrypt(&mut data[..20]).expect("short message");
    assert!(!s.is_empty());
    assert_eq!(s.len(), 20);
    s.encrypt(&mut data[20..]).expect("short message");
    assert_eq!(s.len(), 37);
}
