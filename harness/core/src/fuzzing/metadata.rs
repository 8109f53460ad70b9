//! Target `metadata_blob` (design §4.3): the blob reader against the
//! independent model of [`super::reference`].

use std::fmt::Debug;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;

use crate::backup::metadata;
use crate::kdf;
use crate::key::BackupKey;

use super::input::{Mutation, Reader, Writer, fuzz_key};
use super::reference::{HmacSha256, metadata_model};

fn check_metadata(key: &BackupKey, raw: &[u8]) -> Result<Vec<u8>, metadata::MetadataError> {
    let got = metadata::decrypt_bytes(key, raw).map(|p| p.to_vec());
    assert_eq!(got, metadata_model(key, raw), "the metadata reader disagrees with the model");
    got
}

/// Checks the base64 layer: text that decodes (after trimming) gives the
/// same verdict as its bytes; text that does not is a `Base64` error.
fn check_metadata_text(key: &BackupKey, text: &str) -> Result<Vec<u8>, metadata::MetadataError> {
    let got = metadata::decrypt(key, text).map(|p| p.to_vec());
    match STANDARD.decode(text.trim()) {
        Ok(raw) => assert_eq!(got, check_metadata(key, &raw)),
        Err(_) => assert!(matches!(got, Err(metadata::MetadataError::Base64(_))), "{got:?}"),
    }
    got
}

/// The structured input of [`metadata_blob`] (after its mode byte and a
/// [`Mutation`]). Layout: flags (bit 0 key-holder mode: the plaintext is
/// taken as the ciphertext and MACed correctly, so the padding check is
/// reachable), IV (16), then the plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataInput {
    /// MAC arbitrary ciphertext instead of encrypting.
    pub key_holder: bool,
    /// CBC IV.
    pub iv: [u8; 16],
    /// Plaintext (or ciphertext in key-holder mode).
    pub plaintext: Vec<u8>,
}

impl MetadataInput {
    pub(super) fn read(mut r: Reader<'_>) -> Self {
        let flags = r.u8();
        let iv = r.array();
        Self { key_holder: flags & 1 != 0, iv, plaintext: r.rest().to_vec() }
    }

    /// The bytes that decode to this input.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(u8::from(self.key_holder));
        w.bytes(&self.iv);
        w.bytes(&self.plaintext);
        w.0
    }
}

/// Target `metadata_blob`. Mode byte even: the rest is given to
/// [`metadata::decrypt_bytes`] and, as text, to [`metadata::decrypt`].
/// Mode byte odd: a [`Mutation`] and a [`MetadataInput`]; a blob is made
/// under [`FUZZ_KEY`](super::FUZZ_KEY) and decrypted before and after the edit, both as
/// bytes and (editing the base64 text) as text.
///
/// Asserted: every verdict equals an independent model (too short, bad
/// marker and its offset, not block-aligned, MAC mismatch, bad padding,
/// plaintext); a fresh blob decrypts to its plaintext; an edited blob is
/// accepted only if its bytes are unchanged.
pub fn metadata_blob(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let key = fuzz_key();
    if mode & 1 == 0 {
        let _ = check_metadata(&key, rest);
        let _ = check_metadata_text(&key, &String::from_utf8_lossy(rest));
        return;
    }
    let mut r = Reader::new(rest);
    let mutation = Mutation::read(&mut r);
    let input = MetadataInput::read(r);
    let (raw, expected) = if input.key_holder {
        let auth = kdf::metadata_authentication_key(&key);
        let Ok(mut h) = <HmacSha256 as Mac>::new_from_slice(auth.expose_secret()) else {
            unreachable!("HMAC takes keys of any length")
        };
        h.update(&input.iv);
        h.update(&input.plaintext);
        let mut raw = vec![0x10];
        raw.extend_from_slice(&input.iv);
        raw.push(0x20);
        raw.extend_from_slice(&h.finalize().into_bytes());
        raw.extend_from_slice(&input.plaintext);
        (raw, None)
    } else {
        let blob = metadata::encrypt_with_iv(&key, &input.iv, &input.plaintext);
        assert_eq!(check_metadata_text(&key, &blob), Ok(input.plaintext.clone()), "metadata round trip");
        let Ok(raw) = STANDARD.decode(&blob) else { panic!("encrypt_with_iv wrote invalid base64") };
        (raw, Some(input.plaintext.clone()))
    };
    let fresh = check_metadata(&key, &raw);
    if let Some(p) = &expected {
        assert_eq!(fresh.as_ref(), Ok(p));
    }
    let edited = mutation.apply(&raw, 50, 16);
    let got = check_metadata(&key, &edited);
    if got.is_ok() {
        assert_eq!(edited, raw, "an edited metadata blob was accepted ({mutation:?})");
    }
    let text = STANDARD.encode(&raw);
    let edited_text = mutation.apply(text.as_bytes(), 0, 4);
    if let Ok(p) = check_metadata_text(&key, &String::from_utf8_lossy(&edited_text)) {
        assert_eq!(fresh.as_ref(), Ok(&p), "an edited base64 blob gave another plaintext");
    }
}

/// Seed bytes of [`metadata_blob`] in raw mode.
pub fn metadata_raw_seed(blob_bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8];
    v.extend_from_slice(blob_bytes);
    v
}

/// Seed bytes of [`metadata_blob`] in structured mode.
pub fn metadata_structured_seed(mutation: Mutation, input: &MetadataInput) -> Vec<u8> {
    let mut v = vec![1u8];
    v.extend(mutation.encode());
    v.extend(input.encode());
    v
}
