#![no_main]
//! Fuzz target `aead_differential`: RustCrypto AES-256-GCM and e2eb's
//! streaming GcmStream against `ring` (see `e2eb_core::fuzzing::aead_differential`).
use e2eb_core::fuzzing::AeadOracle;
use libfuzzer_sys::fuzz_target;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

/// `ring`'s AES-256-GCM as the second implementation.
struct Ring;

fn key(k: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, k).expect("a 32-byte key is an AES-256 key"))
}

impl AeadOracle for Ring {
    fn seal(&self, k: &[u8; 32], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut buf = plaintext.to_vec();
        key(k)
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), &mut buf)
            .expect("ring refused to seal a short message");
        buf
    }

    fn open(&self, k: &[u8; 32], nonce: &[u8; 12], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        let mut buf = sealed.to_vec();
        let plain = key(k).open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), &mut buf).ok()?;
        Some(plain.to_vec())
    }
}

fuzz_target!(|data: &[u8]| e2eb_core::fuzzing::aead_differential(data, Some(&Ring)));
