//! The backup-format properties (design §4, §8): round trips for lengths from 0 to about 1 MiB and at every
//! chunk boundary; every single-bit flip, truncation, extension, swapped or
//! duplicated chunk, header edit and wrong key gets the right typed error —
//! except crypt15 header edits, which go unnoticed (the finding).

use e2eb_core::backup::proto::Compression;
use e2eb_core::backup::{crypt15, metadata, v2};
use e2eb_core::cobblestone::{self, CHUNK_LEN, PREFIX_LEN, SEALED_CHUNK_LEN};
use e2eb_core::gcm_stream::{GcmStream, TAG_LEN};
use e2eb_core::kdf;
use e2eb_core::key::BackupKey;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

use super::{Property, done};
use crate::error_kind;
use crate::testdata::{fast_bytes, text_bytes};

/// Largest plaintext the round-trip properties draw (about 1 MiB).
pub const MAX_LEN: usize = 1 << 20;

/// The backup properties, in report order.
pub(super) fn properties() -> Vec<Property> {
    vec![
        Property {
            name: "key_digits_round_trip",
            description: "any key survives 64-digit formatting and tolerant parsing (case, spaces, dashes)",
            run: key_digits_round_trip,
        },
        Property {
            name: "gcm_stream_matches_aes_gcm",
            description: "streaming GCM equals RustCrypto aes-gcm for 12- and 16-byte IVs under any split",
            run: gcm_stream_matches_aes_gcm,
        },
        Property {
            name: "crypt15_round_trip",
            description: "crypt15 single- and multi-file round trip, 0 to 1 MiB; a multi-file payload beginning with a zlib header is refused",
            run: crypt15_round_trip,
        },
        Property {
            name: "crypt15_bit_flip_rejected",
            description: "any single-bit flip in a crypt15 body, tag or MD5 fails authentication",
            run: crypt15_bit_flip_rejected,
        },
        Property {
            name: "crypt15_truncation_and_extension_rejected",
            description: "truncating or extending a crypt15 file fails, except that dropping exactly the (unkeyed) MD5 trailer still yields the authentic plaintext",
            run: crypt15_truncation_and_extension_rejected,
        },
        Property {
            name: "crypt15_header_edit_unnoticed",
            description: "FINDING: an edited crypt15 prefix with a recomputed MD5 still decrypts",
            run: crypt15_header_edit_unnoticed,
        },
        Property {
            name: "crypt15_wrong_key",
            description: "another key gives crypt15.WrongKey",
            run: crypt15_wrong_key,
        },
        Property {
            name: "v2_round_trip",
            description: "v2 round trip 0 to 1 MiB, plain and zlib; streaming, in-memory and random access agree",
            run: v2_round_trip,
        },
        Property {
            name: "v2_every_chunk_boundary",
            description: "v2 round trip at k*16KiB-1, k*16KiB, k*16KiB+1 for every k up to 1 MiB",
            run: v2_every_chunk_boundary,
        },
        Property {
            name: "v2_bit_flip_rejected",
            description: "any single-bit flip in a v2 file gives the error of the region it hits",
            run: v2_bit_flip_rejected,
        },
        Property {
            name: "v2_truncation_rejected",
            description: "any truncation of a v2 file gives the matching truncation error",
            run: v2_truncation_rejected,
        },
        Property {
            name: "v2_extension_rejected",
            description: "bytes appended to a v2 file are rejected",
            run: v2_extension_rejected,
        },
        Property {
            name: "v2_chunk_swap_and_duplicate_rejected",
            description: "swapped or duplicated v2 chunks are rejected",
            run: v2_chunk_swap_and_duplicate_rejected,
        },
        Property {
            name: "v2_header_edit_rejected",
            description: "any edit of a v2 header field fails the commitment",
            run: v2_header_edit_rejected,
        },
        Property { name: "v2_wrong_key", description: "another key gives v2.WrongKey", run: v2_wrong_key },
        Property {
            name: "v2_random_access",
            description: "random-access reads equal the plaintext",
            run: v2_random_access,
        },
        Property {
            name: "metadata_round_trip_and_tamper",
            description: "metadata blobs round trip; any bit flip or wrong key fails the MAC",
            run: metadata_round_trip_and_tamper,
        },
    ]
}

fn key_strategy() -> impl Strategy<Value = BackupKey> {
    any::<[u8; 32]>().prop_map(BackupKey::from_bytes)
}

/// Lengths from 0 to `max`, half of them within 2 bytes of a chunk boundary.
fn len_strategy(max: usize) -> BoxedStrategy<usize> {
    prop_oneof![
        0..=max,
        (0..=max / CHUNK_LEN).prop_flat_map(move |k| {
            let b = k * CHUNK_LEN;
            b.saturating_sub(2)..=(b + 2).min(max)
        }),
    ]
    .boxed()
}

fn crypt15_encrypt(key: &BackupKey, variant: crypt15::Variant, pt: &[u8]) -> Vec<u8> {
    let opts = crypt15::EncryptOptions { variant, ..Default::default() };
    let mut out = Vec::new();
    let r = crypt15::encrypt(key, &opts, &mut &pt[..], &mut out, &mut |_| {});
    assert!(r.is_ok(), "encrypting into memory failed: {r:?}");
    out
}

fn crypt15_decrypt(key: &BackupKey, file: &[u8]) -> Result<(Vec<u8>, crypt15::DecryptSummary), &'static str> {
    let mut out = Vec::new();
    crypt15::decrypt(key, &mut &file[..], &mut out, &mut |_| {}).map(|s| (out, s)).map_err(|e| error_kind::crypt15(&e))
}

fn v2_opts(compression: Compression) -> v2::EncryptOptions {
    v2::EncryptOptions { compression, ..Default::default() }
}

fn v2_decrypt(key: &BackupKey, file: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::new();
    v2::decrypt(key, &mut &file[..], &mut out, &mut |_| {}).map(|_| out).map_err(|e| error_kind::v2(&e))
}

fn payload(seed: u64, len: usize, text: bool) -> Vec<u8> {
    if text { text_bytes(seed, len) } else { fast_bytes(seed, len) }
}

fn key_digits_round_trip(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(&(key_strategy(), any::<u64>()), |(k, seed)| {
        let mut text = String::new();
        for (i, c) in k.to_digits().chars().enumerate() {
            let r = seed.rotate_left(i as u32);
            text.push(if r & 1 == 1 { c.to_ascii_uppercase() } else { c });
            match r >> 1 & 7 {
                0 => text.push(' '),
                1 => text.push('-'),
                2 => text.push('\n'),
                _ => {}
            }
        }
        prop_assert_eq!(BackupKey::parse_digits(&text).map_err(|e| TestCaseError::fail(e.to_string()))?, k.clone());
        prop_assert_eq!(BackupKey::parse_digits(&k.to_grid()).map_err(|e| TestCaseError::fail(e.to_string()))?, k);
        Ok(())
    }))
}

fn gcm_stream_matches_aes_gcm(runner: &mut TestRunner) -> Result<(), String> {
    use aes_gcm::aead::{AeadInPlace, KeyInit};
    use aes_gcm::aes::Aes256;
    use aes_gcm::aes::cipher::consts::U16;
    done(runner.run(
        &(any::<[u8; 32]>(), any::<[u8; 16]>(), 0usize..5000, any::<u64>(), 1usize..4000),
        |(key, iv, len, seed, step)| {
            let msg = fast_bytes(seed, len);
            let mut reference = msg.clone();
            let tag = aes_gcm::AesGcm::<Aes256, U16>::new((&key).into())
                .encrypt_in_place_detached((&iv).into(), b"", &mut reference)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut s = GcmStream::new(&key, &iv).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut out = msg.clone();
            for piece in out.chunks_mut(step) {
                s.encrypt(piece).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            prop_assert_eq!(&out, &reference);
            prop_assert_eq!(&s.finalize()[..], &tag[..]);
            Ok(())
        },
    ))
}

fn crypt15_round_trip(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(&(key_strategy(), len_strategy(MAX_LEN), any::<u64>(), any::<bool>()), |(k, len, seed, multi)| {
        let (variant, pt) = if multi {
            let mut pt = payload(seed, len, false);
            if seed % 8 == 0 && pt.len() >= 2 {
                // Often enough to exercise the refusal below.
                pt[..2].copy_from_slice(&[0x78, 0x9c]);
            }
            (crypt15::Variant::MultiFile, pt)
        } else {
            (crypt15::Variant::SingleFile, payload(seed, len, seed % 2 == 0))
        };
        if multi && crypt15::begins_with_zlib_header(&pt) {
            // A multi-file payload is told from a compressed one by its
            // first two bytes, so one that begins like zlib is refused.
            let opts = crypt15::EncryptOptions { variant, ..Default::default() };
            let r = crypt15::encrypt(&k, &opts, &mut &pt[..], &mut Vec::new(), &mut |_| {});
            prop_assert!(
                matches!(r, Err(crypt15::EncryptError::AmbiguousMultiFilePayload { .. })),
                "multi-file payload beginning {:02x?}: {:?}",
                &pt[..2],
                r
            );
            return Ok(());
        }
        let file = crypt15_encrypt(&k, variant, &pt);
        let (back, summary) = crypt15_decrypt(&k, &file).map_err(TestCaseError::fail)?;
        prop_assert_eq!(back.len(), pt.len());
        prop_assert!(back == pt, "plaintext differs");
        prop_assert_eq!(summary.variant, variant);
        prop_assert_eq!(summary.compressed, !multi);
        Ok(())
    }))
}

fn crypt15_bit_flip_rejected(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(key_strategy(), 0usize..20_000, any::<u64>(), any::<prop::sample::Index>(), 0u8..8, any::<bool>()),
        |(k, len, seed, at, bit, in_prefix)| {
            let pt = payload(seed, len, true);
            let mut file = crypt15_encrypt(&k, crypt15::Variant::SingleFile, &pt);
            let prefix_len = crypt15::parse_header(&file).map_err(|e| TestCaseError::fail(e.to_string()))?.encoded_len;
            // Half the flips land in the prefix, a few dozen bytes of the file.
            let pos = at.index(if in_prefix { prefix_len } else { file.len() });
            file[pos] ^= 1 << bit;
            let got = crypt15_decrypt(&k, &file);
            prop_assert!(got.is_err(), "flip at {} went unnoticed", pos);
            // A flip in the prefix either breaks it (that header error) or
            // leaves one that parses; then the MD5 over the prefix no longer
            // matches and neither layout authenticates.
            let expected = match crypt15::parse_header(&file) {
                Err(e) if pos < prefix_len => error_kind::crypt15_header(&e),
                _ => "crypt15.AuthenticationFailed",
            };
            prop_assert_eq!(got.err(), Some(expected), "flip at {} (prefix is {} bytes)", pos, prefix_len);
            Ok(())
        },
    ))
}

fn crypt15_truncation_and_extension_rejected(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(
            key_strategy(),
            0usize..20_000,
            any::<u64>(),
            any::<prop::sample::Index>(),
            proptest::collection::vec(any::<u8>(), 1..64),
        ),
        |(k, len, seed, at, extra)| {
            let pt = payload(seed, len, true);
            let file = crypt15_encrypt(&k, crypt15::Variant::SingleFile, &pt);
            let prefix_len = crypt15::parse_header(&file).map_err(|e| TestCaseError::fail(e.to_string()))?.encoded_len;
            let cut = at.index(file.len());
            if cut == file.len() - crypt15::MD5_LEN {
                // Dropping exactly the MD5 trailer leaves the layout of a
                // multi-file backup, which carries no MD5; like the deployed
                // readers, decryption then accepts it. The MD5 is unkeyed and
                // protects nothing, so the only requirement is that the
                // plaintext is the authentic one (the GCM tag still covers it).
                let (back, summary) = crypt15_decrypt(&k, &file[..cut]).map_err(TestCaseError::fail)?;
                prop_assert!(back == pt, "MD5-stripped file decrypted to other bytes");
                prop_assert_eq!(summary.variant, crypt15::Variant::MultiFile);
            } else {
                let expected = if cut < prefix_len {
                    "crypt15.HeaderTruncated"
                } else if cut - prefix_len < TAG_LEN {
                    "crypt15.Truncated"
                } else {
                    "crypt15.AuthenticationFailed"
                };
                let got = crypt15_decrypt(&k, &file[..cut]).err();
                prop_assert_eq!(got, Some(expected), "cut at {} (prefix {}, file {})", cut, prefix_len, file.len());
            }
            let mut longer = file.clone();
            longer.extend_from_slice(&extra);
            prop_assert_eq!(crypt15_decrypt(&k, &longer).err(), Some("crypt15.AuthenticationFailed"));
            Ok(())
        },
    ))
}

fn crypt15_header_edit_unnoticed(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(key_strategy(), 0usize..5000, any::<u64>(), "[0-9.]{1,20}", any::<i32>()),
        |(k, len, seed, app, version)| {
            let pt = payload(seed, len, true);
            let file = crypt15_encrypt(&k, crypt15::Variant::SingleFile, &pt);
            let edited = crate::vectors::crypt15_edit_prefix(&file, |m| {
                m.app_version = Some(app.clone());
                m.backup_version = Some(version);
                m.set_feature(7, Some(true));
            })
            .ok_or_else(|| TestCaseError::fail("could not edit"))?;
            let (back, _) = crypt15_decrypt(&k, &edited).map_err(TestCaseError::fail)?;
            prop_assert!(back == pt, "plaintext changed");
            let meta = crypt15::parse_header(&edited).ok().and_then(|h| h.prefix.backup_metadata);
            prop_assert_eq!(meta.and_then(|m| m.app_version), Some(app));
            Ok(())
        },
    ))
}

fn crypt15_wrong_key(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(&(key_strategy(), key_strategy(), 0usize..5000, any::<u64>()), |(k, other, len, seed)| {
        prop_assume!(k != other);
        let file = crypt15_encrypt(&k, crypt15::Variant::SingleFile, &payload(seed, len, true));
        prop_assert_eq!(crypt15_decrypt(&other, &file).err(), Some("crypt15.WrongKey"));
        Ok(())
    }))
}

fn v2_round_trip(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(&(key_strategy(), len_strategy(MAX_LEN), any::<u64>(), any::<bool>()), |(k, len, seed, zlib)| {
        let pt = payload(seed, len, zlib);
        let opts = v2_opts(if zlib { Compression::Zlib } else { Compression::None });
        let mut streamed = Vec::new();
        v2::encrypt(&k, &opts, &mut &pt[..], &mut streamed, &mut |_| {})
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = v2_decrypt(&k, &streamed).map_err(TestCaseError::fail)?;
        prop_assert!(back == pt, "streamed round trip differs");
        let (_, whole) = v2::decrypt_slice(&k, &streamed).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(whole == pt, "in-memory decryption differs");
        if !zlib {
            prop_assert_eq!(
                streamed.len() as u64,
                v2::parse_header(&streamed).map(|h| h.raw.len() as u64).unwrap_or(0)
                    + cobblestone::sealed_len(len as u64)
            );
        }
        Ok(())
    }))
}

fn v2_every_chunk_boundary(_runner: &mut TestRunner) -> Result<(), String> {
    let k = BackupKey::from_bytes([0x42; 32]);
    let all = fast_bytes(7, MAX_LEN + 1);
    for chunks in 0..=MAX_LEN / CHUNK_LEN {
        let b = chunks * CHUNK_LEN;
        for len in [b.wrapping_sub(1), b, b + 1] {
            if len > MAX_LEN + 1 {
                continue;
            }
            let pt = &all[..len];
            let file = v2::encrypt_to_vec(&k, &v2_opts(Compression::None), pt).map_err(|e| e.to_string())?;
            let back = v2_decrypt(&k, &file).map_err(|e| format!("length {len}: {e}"))?;
            if back != pt {
                return Err(format!("length {len}: plaintext differs"));
            }
        }
    }
    Ok(())
}

/// Layout facts of a v2 file used to predict the error of a damaged copy.
struct V2Layout {
    header_len: usize,
    len: usize,
}

impl V2Layout {
    fn of(file: &[u8]) -> Self {
        Self { header_len: v2::parse_header(file).map(|h| h.raw.len()).unwrap_or(0), len: file.len() }
    }
    fn body_start(&self) -> usize {
        self.header_len + PREFIX_LEN
    }
}

fn v2_file(k: &BackupKey, len: usize, seed: u64) -> Result<Vec<u8>, TestCaseError> {
    v2::encrypt_to_vec(k, &v2_opts(Compression::None), &payload(seed, len, false))
        .map_err(|e| TestCaseError::fail(e.to_string()))
}

fn v2_bit_flip_rejected(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(key_strategy(), 0usize..60_000, any::<u64>(), any::<prop::sample::Index>(), 0u8..8, any::<bool>()),
        |(k, len, seed, at, bit, in_front)| {
            let mut file = v2_file(&k, len, seed)?;
            let layout = V2Layout::of(&file);
            // Half the flips land in the header, salt or commitment.
            let pos = at.index(if in_front { layout.body_start() } else { file.len() });
            let original = file[..layout.header_len].to_vec();
            file[pos] ^= 1 << bit;
            let got = v2_decrypt(&k, &file).err();
            prop_assert!(got.is_some(), "flip at {} went unnoticed", pos);
            if pos >= layout.body_start() {
                let chunk = (pos - layout.body_start()) / SEALED_CHUNK_LEN;
                prop_assert_eq!(got, Some("body.ChunkDamaged"), "flip at {} in chunk {}", pos, chunk);
                // The error names the chunk and its file offset.
                let mut sink = Vec::new();
                match v2::decrypt(&k, &mut &file[..], &mut sink, &mut |_| {}) {
                    Err(v2::DecryptError::Body(cobblestone::BodyError::ChunkDamaged { chunk: c, offset })) => {
                        prop_assert_eq!(c as usize, chunk);
                        prop_assert_eq!(offset as usize, layout.body_start() + chunk * SEALED_CHUNK_LEN);
                    }
                    other => prop_assert!(false, "unexpected {:?}", other.map(|_| ())),
                }
            } else if pos >= layout.header_len {
                prop_assert_eq!(got, Some("body.CommitmentMismatch"), "flip at {} in salt/commitment", pos);
            } else {
                // A flip in the header: it no longer parses (that error), or
                // names another key (a damaged id when putting the right id
                // back gives the original header, which the commitment
                // covers), or it parses and the context bound into the
                // commitment has changed (with a shorter body left by a
                // larger length field, too short for salt and commitment).
                let expected = match v2::parse_header(&file) {
                    Err(e) => error_kind::v2_header(&e),
                    Ok(h) if h.fields.key_id[..] != kdf::key_id(&k)[..] => {
                        let mut fields = h.fields.clone();
                        fields.key_id = kdf::key_id(&k).to_vec();
                        match v2::encode_header(&fields) {
                            Ok(raw) if raw == original => "v2.KeyIdDamaged",
                            _ => "v2.WrongKey",
                        }
                    }
                    Ok(h) if file.len() - h.raw.len() < PREFIX_LEN => "body.TooShort",
                    Ok(_) => "body.CommitmentMismatch",
                };
                prop_assert_eq!(got, Some(expected), "flip at {} in the header", pos);
            }
            Ok(())
        },
    ))
}

fn v2_truncation_rejected(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(key_strategy(), 0usize..60_000, any::<u64>(), any::<prop::sample::Index>()),
        |(k, len, seed, at)| {
            let file = v2_file(&k, len, seed)?;
            let layout = V2Layout::of(&file);
            let cut = at.index(layout.len);
            let got = v2_decrypt(&k, &file[..cut]).err();
            let expected = if cut < layout.header_len {
                "v2.HeaderTruncated"
            } else if cut < layout.body_start() + cobblestone::TAG_LEN {
                "body.TooShort"
            } else {
                let rest = (cut - layout.body_start()) % SEALED_CHUNK_LEN;
                if rest < cobblestone::TAG_LEN { "body.Truncated" } else { "body.ChunkDamaged" }
            };
            prop_assert_eq!(got, Some(expected), "cut at {} of {}", cut, layout.len);
            Ok(())
        },
    ))
}

fn v2_extension_rejected(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(key_strategy(), 0usize..60_000, any::<u64>(), proptest::collection::vec(any::<u8>(), 1..40_000)),
        |(k, len, seed, extra)| {
            let mut file = v2_file(&k, len, seed)?;
            let layout = V2Layout::of(&file);
            file.extend_from_slice(&extra);
            let rest = (file.len() - layout.body_start()) % SEALED_CHUNK_LEN;
            let expected = if rest < cobblestone::TAG_LEN { "body.Truncated" } else { "body.ChunkDamaged" };
            prop_assert_eq!(v2_decrypt(&k, &file).err(), Some(expected));
            Ok(())
        },
    ))
}

fn v2_chunk_swap_and_duplicate_rejected(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(
            key_strategy(),
            2usize..8,
            0usize..CHUNK_LEN,
            any::<u64>(),
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
        ),
        |(k, full, tail, seed, a, b)| {
            let file = v2_file(&k, full * CHUNK_LEN + tail, seed)?;
            let layout = V2Layout::of(&file);
            let (i, j) = (a.index(full), b.index(full));
            let at = |n: usize| layout.body_start() + n * SEALED_CHUNK_LEN;
            if i != j {
                let mut swapped = file.clone();
                let ci = file[at(i)..at(i + 1)].to_vec();
                swapped[at(i)..at(i + 1)].copy_from_slice(&file[at(j)..at(j + 1)]);
                swapped[at(j)..at(j + 1)].copy_from_slice(&ci);
                prop_assert_eq!(v2_decrypt(&k, &swapped).err(), Some("body.ChunkDamaged"));
            }
            let mut dup = file[..at(i + 1)].to_vec();
            dup.extend_from_slice(&file[at(i)..]);
            prop_assert_eq!(v2_decrypt(&k, &dup).err(), Some("body.ChunkDamaged"));
            Ok(())
        },
    ))
}

fn v2_header_edit_rejected(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(key_strategy(), 0usize..40_000, any::<u64>(), 0u8..4, any::<u32>()),
        |(k, len, seed, field, value)| {
            let file = v2_file(&k, len, seed)?;
            let header = v2::parse_header(&file).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut fields = header.fields.clone();
            match field {
                0 => fields.app_version.push_str(&value.to_string()),
                1 => fields.backup_version = fields.backup_version.wrapping_add(1 + (value % 1000) as i32),
                2 => fields.created_unix ^= u64::from(value) | 1,
                _ => fields.feature_flags.push(value),
            }
            let mut edited = v2::encode_header(&fields).map_err(|e| TestCaseError::fail(e.to_string()))?;
            edited.extend_from_slice(&file[header.raw.len()..]);
            prop_assert_eq!(v2_decrypt(&k, &edited).err(), Some("body.CommitmentMismatch"));
            Ok(())
        },
    ))
}

fn v2_wrong_key(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(&(key_strategy(), key_strategy(), 0usize..40_000, any::<u64>()), |(k, other, len, seed)| {
        prop_assume!(k != other);
        let file = v2_file(&k, len, seed)?;
        prop_assert_eq!(v2_decrypt(&other, &file).err(), Some("v2.WrongKey"));
        Ok(())
    }))
}

fn v2_random_access(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(key_strategy(), 1usize..200_000, any::<u64>(), any::<prop::sample::Index>(), any::<prop::sample::Index>()),
        |(k, len, seed, a, b)| {
            let pt = payload(seed, len, false);
            let file = v2::encrypt_to_vec(&k, &v2_opts(Compression::None), &pt)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut r =
                v2::V2Reader::open(&k, std::io::Cursor::new(&file)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(r.len(), len as u64);
            let start = a.index(len);
            let n = b.index(len - start + 1);
            let got = r.read_at(start as u64, n).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(got[..] == pt[start..start + n], "range {}+{} differs", start, n);
            prop_assert!(r.read_at(len as u64, 1).is_err(), "read past the end succeeded");
            Ok(())
        },
    ))
}

fn metadata_round_trip_and_tamper(runner: &mut TestRunner) -> Result<(), String> {
    done(runner.run(
        &(
            key_strategy(),
            key_strategy(),
            proptest::collection::vec(any::<u8>(), 0..600),
            any::<[u8; 16]>(),
            any::<prop::sample::Index>(),
            0u8..8,
        ),
        |(k, other, json, iv, at, bit)| {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD;
            let blob = metadata::encrypt_with_iv(&k, &iv, &json);
            prop_assert_eq!(
                metadata::decrypt(&k, &blob).map_err(|e| TestCaseError::fail(e.to_string()))?.to_vec(),
                json
            );
            let mut raw = b64.decode(&blob).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let pos = at.index(raw.len());
            raw[pos] ^= 1 << bit;
            let got = metadata::decrypt_bytes(&k, &raw).map_err(|e| error_kind::metadata(&e)).err();
            let expected =
                if pos == 0 || pos == 1 + metadata::IV_LEN { "metadata.BadMarker" } else { "metadata.MacMismatch" };
            prop_assert_eq!(got, Some(expected), "flip at {}", pos);
            if k != other {
                prop_assert_eq!(
                    metadata::decrypt(&other, &blob).map_err(|e| error_kind::metadata(&e)).err(),
                    Some("metadata.MacMismatch")
                );
            }
            Ok(())
        },
    ))
}
