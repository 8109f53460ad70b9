//! The in-memory v2 and Cobblestone APIs that reuse the caller's output
//! buffer (`v2::encrypt_into`/`decrypt_into`, `cobblestone::seal_into`/
//! `open_into`): same bytes as the allocating functions whatever the buffer
//! held before, every guarantee of decryption kept, and the buffer wiped and
//! emptied on any error. Also checks the ring-backed Cobblestone against an
//! independent implementation over RustCrypto's `aes-gcm` (design §4.2).

// Test helpers: a failed encryption into memory should stop the test loudly.
#![allow(clippy::expect_used)]

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use e2eb_core::backup::proto::Compression;
use e2eb_core::backup::v2::{self, DecryptError, EncryptOptions};
use e2eb_core::cobblestone::{self, BodyError, CHUNK_LEN, PREFIX_LEN, SALT_LEN, SEALED_CHUNK_LEN};
use e2eb_core::key::BackupKey;
use hmac::{Hmac, Mac};
use sha2::Sha512;

/// Lengths around the chunk size, on both sides of the four-chunk threshold
/// below which chunks are sealed on the calling thread.
const LENGTHS: [usize; 9] = [
    0,
    1,
    CHUNK_LEN - 1,
    CHUNK_LEN,
    CHUNK_LEN + 1,
    3 * CHUNK_LEN,
    4 * CHUNK_LEN,
    5 * CHUNK_LEN + 7,
    40 * CHUNK_LEN + 3,
];

fn key() -> BackupKey {
    BackupKey::from_bytes([0x42; 32])
}

fn options(compression: Compression) -> EncryptOptions {
    EncryptOptions {
        compression,
        created_unix: Some(1_700_000_000),
        salt: Some([0x5a; SALT_LEN]),
        ..EncryptOptions::default()
    }
}

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8).collect()
}

/// Output buffers in every state the reuse logic tells apart: empty, shorter
/// (with and without the capacity), the exact length, longer; all full of
/// stale bytes.
fn stale_buffers(len: usize) -> Vec<Vec<u8>> {
    let mut short_with_room = Vec::with_capacity(len + 100);
    short_with_room.resize(len / 2, 0xee);
    vec![
        Vec::new(),
        vec![0xaa; len / 2],
        short_with_room,
        vec![0xbb; len],
        vec![0xcc; len + 1],
        vec![0xdd; 2 * len + 5000],
    ]
}

#[test]
fn encrypt_into_matches_encrypt_to_vec_whatever_out_held() {
    for compression in [Compression::None, Compression::Zlib] {
        let opts = options(compression);
        for len in LENGTHS {
            let pt = payload(len, 1);
            let expected = v2::encrypt_to_vec(&key(), &opts, &pt).expect("encrypt");
            for mut out in stale_buffers(expected.len()) {
                let before = out.len();
                v2::encrypt_into(&key(), &opts, &pt, &mut out).expect("encrypt_into");
                assert!(out == expected, "{compression:?}, len {len}, out held {before} bytes");
            }
            // The same buffer through several sizes in a row.
            let mut out = Vec::new();
            for l in [len, len + CHUNK_LEN, len / 3, len] {
                let p = payload(l, 2);
                v2::encrypt_into(&key(), &opts, &p, &mut out).expect("encrypt_into");
                assert!(out == v2::encrypt_to_vec(&key(), &opts, &p).expect("encrypt"), "{compression:?}, len {l}");
            }
        }
    }
}

#[test]
fn decrypt_into_round_trips_whatever_out_held() {
    for compression in [Compression::None, Compression::Zlib] {
        for len in LENGTHS {
            let pt = payload(len, 3);
            let file = v2::encrypt_to_vec(&key(), &options(compression), &pt).expect("encrypt");
            let (header, whole) = v2::decrypt_slice(&key(), &file).expect("decrypt_slice");
            assert!(whole == pt, "{compression:?}, len {len}");
            for mut out in stale_buffers(len) {
                let before = out.len();
                let h = v2::decrypt_into(&key(), &file, &mut out).expect("decrypt_into");
                assert_eq!(h, header);
                assert!(out == pt, "{compression:?}, len {len}, out held {before} bytes");
            }
        }
    }
}

/// Every way a file can fail, each on a buffer that held plaintext before.
#[test]
fn decrypt_into_errors_leave_out_wiped_and_empty() {
    let len = 40 * CHUNK_LEN + 3;
    let pt = payload(len, 4);
    let file = v2::encrypt_to_vec(&key(), &options(Compression::None), &pt).expect("encrypt");
    let header_len = v2::parse_header(&file).expect("header").raw.len();
    let body = header_len + PREFIX_LEN;
    let flip = |at: usize| {
        let mut f = file.clone();
        f[at] ^= 0x01;
        f
    };

    let check = |name: &str, damaged: &[u8], ok: &dyn Fn(&DecryptError) -> bool| {
        for mut out in [pt.clone(), vec![0x77; 10], Vec::new()] {
            let err = v2::decrypt_into(&key(), damaged, &mut out).expect_err(name);
            assert!(ok(&err), "{name}: unexpected error {err:?}");
            assert!(out.is_empty(), "{name}: out is not emptied");
            assert!(v2::decrypt_slice(&key(), damaged).is_err(), "{name}: decrypt_slice accepts it");
        }
    };

    let other = BackupKey::from_bytes([0x43; 32]);
    let mut out = pt.clone();
    assert!(matches!(v2::decrypt_into(&other, &file, &mut out), Err(DecryptError::WrongKey)));
    assert!(out.is_empty(), "wrong key: out is not emptied");
    check("header byte", &flip(header_len - 1), &|e| {
        matches!(e, DecryptError::Body(BodyError::CommitmentMismatch) | DecryptError::Header(_))
    });
    check("salt", &flip(header_len), &|e| matches!(e, DecryptError::Body(BodyError::CommitmentMismatch)));
    check("commitment", &flip(header_len + SALT_LEN + 3), &|e| {
        matches!(e, DecryptError::Body(BodyError::CommitmentMismatch))
    });
    for chunk in [0usize, 17, 40] {
        let at = body + chunk * SEALED_CHUNK_LEN + 5;
        let offset = (body + chunk * SEALED_CHUNK_LEN) as u64;
        check(
            &format!("chunk {chunk}"),
            &flip(at),
            &|e| matches!(e, DecryptError::Body(BodyError::ChunkDamaged { chunk: c, offset: o }) if *c == chunk as u64 && *o == offset),
        );
    }
    // A tag byte of a middle chunk, and two damaged chunks: the first is named.
    let mut two = flip(body + 30 * SEALED_CHUNK_LEN - 1);
    two[body + 9 * SEALED_CHUNK_LEN] ^= 0x80;
    check("two chunks", &two, &|e| matches!(e, DecryptError::Body(BodyError::ChunkDamaged { chunk: 9, .. })));
    check("cut at a chunk boundary", &file[..body + 40 * SEALED_CHUNK_LEN], &|e| {
        matches!(e, DecryptError::Body(BodyError::Truncated { .. }))
    });
    check("cut inside a chunk", &file[..file.len() - 1], &|e| {
        matches!(e, DecryptError::Body(BodyError::ChunkDamaged { chunk: 40, .. }))
    });
    check("too short", &file[..body + 3], &|e| matches!(e, DecryptError::Body(BodyError::TooShort { .. })));
    check("no header", &file[..3], &|e| matches!(e, DecryptError::Header(_)));
}

#[test]
fn cobblestone_seal_into_keeps_the_prefix_and_open_into_agrees() {
    let input_key = [9u8; 32];
    let salt = [3u8; SALT_LEN];
    for len in LENGTHS {
        let pt = payload(len, 5);
        let sealed = cobblestone::seal(&input_key, &salt, b"ctx", &pt);
        for mut out in [Vec::new(), b"head".to_vec(), vec![0x11; sealed.len() + 4], vec![0x22; 3 * sealed.len() + 9]] {
            let n = out.len().min(4);
            out[..n].copy_from_slice(&b"head"[..n]);
            let kept = out.len() >= 4;
            cobblestone::seal_into(&input_key, &salt, b"ctx", &pt, &mut out, 4);
            assert_eq!(out.len(), 4 + sealed.len());
            assert!(out[4..] == sealed[..], "len {len}");
            if kept {
                assert_eq!(&out[..4], b"head", "len {len}: the prefix was not kept");
            }
        }
        let mut out = vec![0x33; len + 77];
        cobblestone::open_into(&input_key, b"ctx", &sealed, &mut out).expect("open_into");
        assert!(out == pt, "len {len}");
        let mut out = pt.clone();
        assert!(matches!(
            cobblestone::open_into(&input_key, b"other", &sealed, &mut out),
            Err(BodyError::CommitmentMismatch)
        ));
        assert!(out.is_empty());
    }
}

/// RFC 5869 HKDF-Expand over HMAC-SHA-512 with a 32-byte PRK.
fn reference_expand(prk: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut okm = Vec::new();
    let mut t = Vec::new();
    for counter in 1u8.. {
        if okm.len() >= len {
            break;
        }
        let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(prk).expect("HMAC takes any key");
        mac.update(&t);
        mac.update(info);
        mac.update(&[counter]);
        t = mac.finalize().into_bytes().to_vec();
        okm.extend_from_slice(&t);
    }
    okm.truncate(len);
    okm
}

/// Cobblestone-256 written from the spec over RustCrypto's `aes-gcm`.
fn reference_seal(input_key: &[u8; 32], salt: &[u8; SALT_LEN], context: &[u8], pt: &[u8]) -> Vec<u8> {
    let mut info = b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00".to_vec();
    info.extend_from_slice(salt);
    info.extend_from_slice(context);
    let okm = reference_expand(input_key, &info, 76);
    let aead = Aes256Gcm::new_from_slice(&okm[..32]).expect("32-byte key");
    let mut out = salt.to_vec();
    out.extend_from_slice(&okm[44..]);
    let chunks: Vec<&[u8]> = pt.chunks(CHUNK_LEN).chain(std::iter::once(&[][..])).collect();
    // A whole-chunk plaintext has an extra empty final chunk; otherwise the
    // chained empty slice is not a chunk.
    let count = pt.len() / CHUNK_LEN + 1;
    for (i, chunk) in chunks.into_iter().take(count).enumerate() {
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&okm[32..44]);
        for (b, c) in nonce[4..].iter_mut().zip((i as u64).to_be_bytes()) {
            *b ^= c;
        }
        out.extend_from_slice(&aead.encrypt(Nonce::from_slice(&nonce), chunk).expect("aes-gcm seal"));
    }
    out
}

#[test]
fn ring_backed_cobblestone_matches_a_rustcrypto_reference() {
    let input_key = [0x61; 32];
    let salt = [0x17; SALT_LEN];
    for len in LENGTHS {
        let pt = payload(len, 6);
        let reference = reference_seal(&input_key, &salt, b"e2eb/v2\x00ctx", &pt);
        assert!(cobblestone::seal(&input_key, &salt, b"e2eb/v2\x00ctx", &pt) == reference, "len {len}");
        let mut out = Vec::new();
        cobblestone::open_into(&input_key, b"e2eb/v2\x00ctx", &reference, &mut out).expect("open the reference");
        assert!(out == pt, "len {len}");
    }
}

/// Decrypts with all three readers (in memory, streaming, random access),
/// giving each one's error.
fn all_readers(key: &BackupKey, file: &[u8]) -> [Option<DecryptError>; 3] {
    let mut sink = Vec::new();
    [
        v2::decrypt_slice(key, file).err(),
        v2::decrypt(key, &mut &file[..], &mut sink, &mut |_| {}).err(),
        v2::V2Reader::open(key, std::io::Cursor::new(file)).err(),
    ]
}

#[test]
fn a_damaged_key_id_is_told_from_another_key_by_the_commitment() {
    let file = v2::encrypt_to_vec(&key(), &EncryptOptions::default(), b"chat database").expect("encrypt");
    let header = v2::parse_header(&file).expect("header");
    let at = file.windows(8).position(|w| w == &header.fields.key_id[..]).expect("key id in the header");
    let other = BackupKey::from_bytes([0x43; 32]);
    for byte in 0..8 {
        let mut damaged = file.clone();
        damaged[at + byte] ^= 0x80;
        for (reader, e) in all_readers(&key(), &damaged).into_iter().enumerate() {
            assert!(matches!(e, Some(DecryptError::KeyIdDamaged)), "byte {byte}, reader {reader}: {e:?}");
        }
        for (reader, e) in all_readers(&other, &damaged).into_iter().enumerate() {
            assert!(matches!(e, Some(DecryptError::WrongKey)), "byte {byte}, reader {reader}: {e:?}");
        }
    }
    // The file of another key is still "wrong key", intact or with its id damaged.
    for (reader, e) in all_readers(&other, &file).into_iter().enumerate() {
        assert!(matches!(e, Some(DecryptError::WrongKey)), "reader {reader}: {e:?}");
    }
    // A damaged id and a damaged salt: the commitment cannot vouch for the key.
    let mut both = file.clone();
    both[at] ^= 0x01;
    both[header.raw.len()] ^= 0x01;
    for (reader, e) in all_readers(&key(), &both).into_iter().enumerate() {
        assert!(matches!(e, Some(DecryptError::WrongKey)), "reader {reader}: {e:?}");
    }
    // Cut right after the header: no commitment to decide with.
    for (reader, e) in all_readers(&key(), &both[..header.raw.len() + 10]).into_iter().enumerate() {
        assert!(matches!(e, Some(DecryptError::WrongKey)), "reader {reader}: {e:?}");
    }
}
