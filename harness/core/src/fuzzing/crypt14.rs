//! Target `crypt14_header` (design §7 "Migration"): the read-only legacy
//! crypt14 reader on hostile bytes, with its seed files.

use std::io::Cursor;

use aes_gcm::AesGcm;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::aes::cipher::consts::U16;
use md5::{Digest, Md5};
use prost::Message;
use sha2::Sha256;

use crate::backup::crypt14::{self, Crypt14Key, DecryptError, HeaderError, Variant};
use crate::backup::crypt15;
use crate::backup::proto::{BackupMetadata, BackupPrefix, Crypt14KeyData, KEY_TYPE_CRYPT14};

use super::input::{FUZZ_KEY, OTHER_KEY};
use super::reference::{inflate_all, md5_trailer_ok, zlib_header};

/// Server salt of the fuzz key file (public).
const FUZZ_SERVER_SALT: [u8; 32] = *b"crypt14 fuzz server salt, public";
/// Google ID salt of the fuzz key file (public).
const FUZZ_GOOGLE_ID_SALT: [u8; 16] = *b"crypt14 fuzz id!";

/// The crypt14 key file the target decrypts with: [`FUZZ_KEY`] as the AES
/// key, public salts.
pub fn crypt14_fuzz_key_file() -> Vec<u8> {
    key_file(&FUZZ_KEY, &FUZZ_SERVER_SALT)
}

fn key_file(key: &[u8; 32], server_salt: &[u8; 32]) -> Vec<u8> {
    let mut f = crypt14::KEY_FILE_HEADER.to_vec();
    f.extend_from_slice(&crypt14::CIPHER_VERSION);
    f.push(3);
    f.extend_from_slice(server_salt);
    f.extend_from_slice(&FUZZ_GOOGLE_ID_SALT);
    f.extend_from_slice(&Sha256::digest(FUZZ_GOOGLE_ID_SALT));
    f.extend_from_slice(&[0; 16]);
    f.extend_from_slice(key);
    f
}

/// A crypt14 file for seeds: `payload` (taken as is: zlib-compress it
/// first for the app's layout) under `key` with the fuzz salts, `flags`
/// feature flags set, with or without the MD5 trailer.
fn file(key: &[u8; 32], server_salt: &[u8; 32], payload: &[u8], flags: u32, md5: bool) -> Vec<u8> {
    let iv = *b"crypt14 fuzz iv!";
    let key_data = Crypt14KeyData {
        cipher_version: Some(crypt14::CIPHER_VERSION.to_vec()),
        key_version: Some(b"2".to_vec()),
        server_salt: Some(server_salt.to_vec()),
        google_id_salt: Some(FUZZ_GOOGLE_ID_SALT.to_vec()),
        iv: Some(iv.to_vec()),
    };
    let mut metadata = BackupMetadata {
        app_version: Some("2.21.8.17".to_owned()),
        phone_suffix: Some("00".to_owned()),
        backup_version: Some(1),
        ..Default::default()
    };
    for n in crate::backup::proto::FEATURE_RANGE.take(flags as usize) {
        metadata.set_feature(n, Some(true));
    }
    let prefix = BackupPrefix {
        key_type: Some(KEY_TYPE_CRYPT14),
        crypt14_key_data: Some(key_data.encode_to_vec()),
        backup_metadata: Some(metadata),
        ..Default::default()
    };
    let mut out = prefix.encode_length_delimited_to_vec();
    let mut body = payload.to_vec();
    let cipher = AesGcm::<Aes256, U16>::new(key.into());
    if let Ok(tag) = cipher.encrypt_in_place_detached((&iv).into(), b"", &mut body) {
        out.extend_from_slice(&body);
        out.extend_from_slice(&tag);
    }
    if md5 {
        let digest = Md5::digest(&out);
        out.extend_from_slice(&digest);
    }
    out
}

fn zlib(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(1));
    // Writing into a Vec does not fail.
    let _ = z.write_all(data);
    z.finish().unwrap_or_default()
}

/// Seed inputs for `crypt14_header`: name and bytes.
pub fn crypt14_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let db = b"SQLite format 3\0\x10\x00\x01\x01\x00\x40\x20\x20 messages: hello, see you tomorrow";
    let (k, salt) = (&FUZZ_KEY, &FUZZ_SERVER_SALT);
    let whole = file(k, salt, &zlib(db), 0, true);
    let prefix_len = crypt14::parse_header(&whole).map(|h| h.encoded_len).unwrap_or(whole.len());
    vec![
        ("database", whole.clone()),
        ("empty-database", file(k, salt, &zlib(b""), 0, true)),
        ("feature-flags", file(k, salt, &zlib(db), 33, true)),
        ("stored", file(k, salt, db, 0, true)),
        ("no-md5", file(k, salt, &zlib(db), 0, false)),
        ("other-key", file(&OTHER_KEY, salt, &zlib(db), 0, true)),
        ("other-key-file", file(&OTHER_KEY, b"another phone's server salt....!", &zlib(db), 0, true)),
        ("trailing-data", file(k, salt, &[&zlib(db)[..], b"junk"].concat(), 0, true)),
        ("prefix-only", whole[..prefix_len].to_vec()),
    ]
}

/// Target `crypt14_header`: [`crypt14::parse_header`] (in memory) and
/// [`crypt14::read_header`] (streaming) give the same header or the same
/// error, the stream is left just after the prefix, a parsed prefix
/// re-encodes to one that parses to the same header, and crypt15's reader
/// never accepts a crypt14 prefix. Then [`crypt14::decrypt`] under the fuzz
/// key file never panics, and its verdict agrees with an independent
/// re-check (RustCrypto `aes-gcm` with a 16-byte IV, MD5, zlib).
pub fn crypt14_header(data: &[u8]) {
    let parsed = crypt14::parse_header(data);
    let mut cursor = Cursor::new(data);
    let streamed = crypt14::read_header(&mut cursor);
    match (&parsed, &streamed) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "in-memory and streaming crypt14 prefix parsers differ");
            assert_eq!(cursor.position(), a.encoded_len as u64, "the streaming parser read past the prefix");
            assert!(crypt15::parse_header(data).is_err(), "a prefix taken by both the crypt14 and crypt15 readers");
            let again = a.prefix.encode_length_delimited_to_vec();
            match crypt14::parse_header(&again) {
                Ok(h) => {
                    assert_eq!((&h.prefix, &h.key_data, h.iv), (&a.prefix, &a.key_data, a.iv));
                    assert_eq!((h.server_salt, h.google_id_salt), (a.server_salt, a.google_id_salt));
                }
                // Negative int32 fields written short re-encode longer: past the cap, refused as such.
                Err(HeaderError::TooLong { .. }) => {}
                Err(e) => panic!("a parsed crypt14 prefix re-encodes to one that does not parse: {e:?}"),
            }
        }
        (Err(a), Err(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "crypt14 prefix parsers differ"),
        (a, b) => panic!("in-memory crypt14 prefix parser: {a:?}; streaming: {b:?}"),
    }

    let Ok(key) = Crypt14Key::from_key_file(&crypt14_fuzz_key_file()) else {
        panic!("the fuzz key file does not read")
    };
    let mut out = Vec::new();
    let result = crypt14::decrypt(&key, &mut &data[..], &mut out);
    let header = match (&result, parsed) {
        (Err(DecryptError::Header(e)), Err(h)) => {
            assert_eq!(format!("{e:?}"), format!("{h:?}"));
            return;
        }
        (Err(DecryptError::Header(e)), Ok(_)) => panic!("decrypt refused a prefix that parses: {e:?}"),
        (_, Err(h)) => panic!("decrypt got past a prefix that does not parse ({h:?}): {result:?}"),
        (_, Ok(header)) => header,
    };
    let body = &data[header.encoded_len..];
    let md5_ok = body.len() >= 32 && md5_trailer_ok(data);
    let sealed = if md5_ok { &body[..body.len() - 16] } else { body };
    let opened = open(&FUZZ_KEY, &header.iv, sealed);
    match (&result, &opened) {
        (Ok(s), Some(pt)) => {
            assert_eq!(s.variant, if md5_ok { Variant::SingleFile } else { Variant::MultiFile });
            assert_eq!(s.header, header);
            if zlib_header(pt) {
                assert!(s.compressed);
                assert_eq!(Some(&out), inflate_all(pt).as_ref(), "the inflated payload differs");
            } else {
                assert!(!s.compressed);
                assert_eq!(&out, pt, "the stored payload differs");
            }
        }
        (Ok(s), None) => panic!("accepted a file the reference does not open: {s:?}"),
        (Err(DecryptError::Truncated { found }), None) => {
            assert!(body.len() < 16);
            assert_eq!(*found, body.len() as u64);
        }
        (Err(DecryptError::WrongKey | DecryptError::KeyFileMismatch { .. }), None) => assert!(md5_ok),
        (Err(DecryptError::AuthenticationFailed), None) => assert!(!md5_ok),
        (
            Err(
                DecryptError::CorruptPayload { .. }
                | DecryptError::IncompletePayload
                | DecryptError::TrailingData { .. },
            ),
            Some(pt),
        ) => {
            assert!(zlib_header(pt) && inflate_all(pt).is_none(), "a valid payload was refused: {result:?}");
        }
        (e, o) => panic!("verdict {e:?} where the reference opens: {}", o.is_some()),
    }
}

/// Opens `ct || tag` with RustCrypto's `AesGcm<Aes256, U16>` under the raw
/// key (crypt14 has no key derivation), independently of the reader.
fn open(key: &[u8; 32], iv: &[u8; 16], sealed: &[u8]) -> Option<Vec<u8>> {
    let split = sealed.len().checked_sub(16)?;
    let (ct, tag) = sealed.split_at(split);
    let mut buf = ct.to_vec();
    let cipher = AesGcm::<Aes256, U16>::new(key.into());
    cipher.decrypt_in_place_detached(iv.into(), b"", &mut buf, tag.into()).ok()?;
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_passes_and_reaches_its_verdict() {
        let key = Crypt14Key::from_key_file(&crypt14_fuzz_key_file()).map_err(|e| e.to_string());
        let Ok(key) = key else { panic!("{key:?}") };
        for (name, seed) in crypt14_seeds() {
            crypt14_header(&seed);
            let verdict = crypt14::decrypt(&key, &mut &seed[..], &mut Vec::new());
            let expected = match name {
                "database" | "empty-database" | "feature-flags" | "stored" | "no-md5" => "Ok",
                "other-key" => "WrongKey",
                "other-key-file" => "KeyFileMismatch",
                "trailing-data" => "TrailingData",
                "prefix-only" => "Truncated",
                _ => panic!("seed {name} has no expected verdict"),
            };
            let got = match &verdict {
                Ok(_) => "Ok".to_owned(),
                Err(e) => format!("{e:?}"),
            };
            assert!(got.starts_with(expected), "seed {name}: {got}");
        }
    }
}
