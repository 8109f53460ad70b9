//! crypt15 at its edges (design §4.1): the prefix's length varint and its
//! 64 KiB cap, read from a slice and from a stream; what `encode_prefix`
//! writes; payloads that reach the decryption in odd pieces (a one-byte first
//! piece, a zlib stream that ends where a piece ends, bytes after it); and the
//! pipeline that decrypts bodies of more than one 1 MiB buffer (read-ahead,
//! bounded memory, large writes). Written to kill the mutants that the
//! mutation run (design §8) left alive in `encode_prefix`, `parse_header`,
//! `read_header`, `PayloadWriter::{push, feed, finish}`, `decrypt` and `feed`
//! of `backup::crypt15`; every expected value comes from the format, not from
//! the code under test.

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::aes::Aes256;
use aes_gcm::aes::cipher::consts::U16;
use aes_gcm::{AesGcm, KeyInit};
use e2eb_core::backup::crypt15::{self, DecryptError, EncryptOptions, HeaderError, Variant};
use e2eb_core::backup::proto::{BackupMetadata, KEY_TYPE_CRYPT15};
use e2eb_core::gcm_stream::TAG_LEN;
use e2eb_core::kdf;
use e2eb_core::key::BackupKey;
use md5::{Digest, Md5};

use crate::zlib::adler32;

const MIB: usize = 1024 * 1024;
const IV: [u8; crypt15::IV_LEN] = [0x24; crypt15::IV_LEN];

fn key() -> BackupKey {
    BackupKey::from_bytes([0x51; 32])
}

/// Deterministic bytes that do not compress (xorshift64).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        out.extend_from_slice(&s.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A zlib stream (RFC 1950) of one final stored block (RFC 1951 §3.2.4):
/// `78 01`, `01 LEN NLEN`, the data, Adler-32 — 11 bytes more than `data`.
fn stored_zlib(data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).expect("one stored block");
    let mut z = vec![0x78, 0x01, 0x01];
    z.extend_from_slice(&len.to_le_bytes());
    z.extend_from_slice(&(!len).to_le_bytes());
    z.extend_from_slice(data);
    z.extend_from_slice(&adler32(data).to_be_bytes());
    z
}

/// A crypt15 file made without `crypt15::encrypt`: the prefix, the payload
/// under AES-256-GCM with the 16-byte IV and no AAD, the tag, and (single
/// file) the MD5 of everything before it.
fn seal(key: &BackupKey, payload: &[u8], md5_trailer: bool) -> Vec<u8> {
    let mut file = crypt15::encode_prefix(&IV, &BackupMetadata::default());
    let mut body = payload.to_vec();
    let body_key = kdf::backup_encryption_key(key);
    let aead = AesGcm::<Aes256, U16>::new(body_key.expose_secret().into());
    let tag = aead.encrypt_in_place_detached((&IV).into(), b"", &mut body).expect("in memory");
    file.extend_from_slice(&body);
    file.extend_from_slice(&tag);
    if md5_trailer {
        let digest = Md5::digest(&file);
        file.extend_from_slice(&digest);
    }
    file
}

fn encrypt(key: &BackupKey, variant: Variant, plaintext: &[u8]) -> Vec<u8> {
    let options = EncryptOptions { variant, iv: Some(IV), ..EncryptOptions::default() };
    let mut file = Vec::new();
    crypt15::encrypt(key, &options, &mut &plaintext[..], &mut file, &mut |_| {}).expect("in memory");
    file
}

fn decrypt(key: &BackupKey, file: &[u8]) -> Result<(Vec<u8>, crypt15::DecryptSummary), DecryptError> {
    let mut out = Vec::new();
    crypt15::decrypt(key, &mut &file[..], &mut out, &mut |_| {}).map(|summary| (out, summary))
}

/// A writer that notes the progress reported when the first plaintext byte
/// is written, and the largest single write.
struct Watch {
    progress: Rc<Cell<u64>>,
    at_first_write: Option<u64>,
    largest_write: usize,
    out: Vec<u8>,
}

impl Watch {
    fn new(progress: &Rc<Cell<u64>>) -> Self {
        Self { progress: Rc::clone(progress), at_first_write: None, largest_write: 0, out: Vec::new() }
    }
}

impl Write for Watch {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.at_first_write.is_none() && !buf.is_empty() {
            self.at_first_write = Some(self.progress.get());
        }
        self.largest_write = self.largest_write.max(buf.len());
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decrypts through [`Watch`], returning it and the last progress reported.
fn decrypt_watched(key: &BackupKey, file: &[u8]) -> (Result<crypt15::DecryptSummary, DecryptError>, Watch, u64) {
    let progress = Rc::new(Cell::new(0));
    let mut watch = Watch::new(&progress);
    let result = crypt15::decrypt(key, &mut &file[..], &mut watch, &mut |n| progress.set(n));
    (result, watch, progress.get())
}

#[test]
fn the_prefix_names_the_crypt15_key_type_and_carries_the_metadata() {
    let metadata = BackupMetadata {
        app_version: Some("2.24.22.79".to_owned()),
        phone_suffix: Some("42".to_owned()),
        backup_version: Some(1),
        ..Default::default()
    };
    let bytes = crypt15::encode_prefix(&IV, &metadata);
    // varint L (one byte: the prefix is short), then field 1 (key type,
    // varint, tag byte 0x08) = 1, the crypt15 key type.
    assert_eq!(usize::from(bytes[0]), bytes.len() - 1);
    assert_eq!(&bytes[1..3], &[0x08, 0x01]);
    let header = crypt15::parse_header(&bytes).expect("our own prefix");
    assert_eq!(header.prefix.key_type, Some(KEY_TYPE_CRYPT15));
    assert_eq!(header.prefix.backup_metadata, Some(metadata));
    assert_eq!(header.iv, IV);
    assert_eq!(header.encoded_len, bytes.len());
}

#[test]
fn ten_continuation_bytes_are_a_bad_length_not_a_truncated_file() {
    // A varint has at most 10 bytes: ten bytes that all continue cannot be
    // the start of a valid length, however much follows.
    for len in [10, 11, 12] {
        assert!(matches!(crypt15::parse_header(&vec![0xff; len]), Err(HeaderError::BadLength)), "{len} bytes of 0xff");
        assert!(matches!(crypt15::parse_header(&vec![0x80; len]), Err(HeaderError::BadLength)), "{len} bytes of 0x80");
    }
}

#[test]
fn a_slice_cut_inside_the_length_varint_is_truncated_by_one_byte() {
    for (bytes, found) in [(&[][..], 0), (&[0x80][..], 1), (&[0x80, 0x80][..], 2), (&[0xff; 9][..], 9)] {
        match crypt15::parse_header(bytes) {
            Err(HeaderError::Truncated { needed, found: f }) => assert_eq!((needed, f), (found + 1, found)),
            other => panic!("{bytes:02x?}: {other:?}"),
        }
    }
}

#[test]
fn a_prefix_length_of_exactly_64_kib_is_accepted_and_one_more_is_too_long() {
    assert_eq!(crypt15::MAX_PREFIX_LEN, 65_536);
    // 65536 = varint 80 80 04: within the cap, so the 3-byte file is cut short.
    match crypt15::parse_header(&[0x80, 0x80, 0x04]) {
        Err(HeaderError::Truncated { needed, found }) => assert_eq!((needed, found), (3 + 65_536, 3)),
        other => panic!("{other:?}"),
    }
    // 65537 = varint 81 80 04: over the cap.
    match crypt15::parse_header(&[0x81, 0x80, 0x04]) {
        Err(HeaderError::TooLong { len, max }) => assert_eq!((len, max), (65_537, 65_536)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_streamed_prefix_length_of_exactly_64_kib_is_accepted_and_one_more_is_too_long() {
    match crypt15::read_header(&mut &[0x80u8, 0x80, 0x04][..]) {
        Err(HeaderError::Truncated { needed, found }) => assert_eq!((needed, found), (3 + 65_536, 3)),
        other => panic!("{other:?}"),
    }
    match crypt15::read_header(&mut &[0x81u8, 0x80, 0x04][..]) {
        Err(HeaderError::TooLong { len, max }) => assert_eq!((len, max), (65_537, 65_536)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_streamed_prefix_longer_than_127_bytes_is_read_to_its_last_byte() {
    // A two-byte length varint (the prefix is over 127 bytes).
    let metadata = BackupMetadata { app_version: Some("v".repeat(300)), ..Default::default() };
    let prefix = crypt15::encode_prefix(&IV, &metadata);
    assert!(prefix[0] & 0x80 != 0 && prefix[1] & 0x80 == 0, "a two-byte varint");
    let mut stream = prefix.clone();
    stream.extend_from_slice(b"body!");
    let mut reader = &stream[..];
    let (header, raw) = crypt15::read_header(&mut reader).expect("a valid prefix");
    assert_eq!(raw, prefix);
    assert_eq!(header.encoded_len, prefix.len());
    assert_eq!(header.prefix.backup_metadata, Some(metadata));
    assert_eq!(reader, b"body!", "exactly the prefix is consumed");
}

#[test]
fn a_streamed_length_varint_is_at_most_ten_bytes() {
    assert!(matches!(crypt15::read_header(&mut &[0xffu8; 10][..]), Err(HeaderError::BadLength)));
    assert!(matches!(crypt15::read_header(&mut &[0xffu8; 20][..]), Err(HeaderError::BadLength)));
    // Nine continuation bytes and the end of the file: cut inside the varint.
    match crypt15::read_header(&mut &[0xffu8; 9][..]) {
        Err(HeaderError::Truncated { needed, found }) => assert_eq!((needed, found), (10, 9)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_stored_payload_reports_its_exact_length() {
    let key = key();
    let mut payload = b"PK\x03\x04".to_vec();
    payload.extend_from_slice(&noise(1000, 1));
    let file = encrypt(&key, Variant::MultiFile, &payload);
    let (back, summary) = decrypt(&key, &file).expect("our own multi-file backup");
    assert_eq!(back, payload);
    assert_eq!((summary.variant, summary.compressed), (Variant::MultiFile, false));
    assert_eq!(summary.plaintext_len, 1004);
    assert_eq!(summary.ciphertext_len, 1004);
}

#[test]
fn a_compressed_payload_reports_its_inflated_length() {
    let key = key();
    let plaintext: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let file = encrypt(&key, Variant::SingleFile, &plaintext);
    let (back, summary) = decrypt(&key, &file).expect("our own single-file backup");
    assert_eq!(back, plaintext);
    assert_eq!((summary.variant, summary.compressed), (Variant::SingleFile, true));
    assert_eq!(summary.plaintext_len, 5000);
}

#[test]
fn a_highly_compressible_payload_inflates_through_many_output_buffers() {
    let key = key();
    let plaintext: Vec<u8> = (0..3 * MIB).map(|i| if i % 4096 == 0 { (i / 4096) as u8 } else { 0 }).collect();
    let file = encrypt(&key, Variant::SingleFile, &plaintext);
    let (back, summary) = decrypt(&key, &file).expect("our own single-file backup");
    assert!(back == plaintext, "inflated bytes differ");
    assert_eq!(summary.plaintext_len, 3 * MIB as u64);
}

#[test]
fn a_seventeen_byte_zlib_payload_without_md5_is_inflated_though_its_first_byte_arrives_alone() {
    // Without an MD5 the last 32 bytes are 16 bytes of ciphertext and the tag,
    // so a 17-byte payload reaches the payload writer as 1 byte, then 16.
    let key = key();
    let payload = stored_zlib(b"abcdef");
    assert_eq!(payload.len(), 17);
    let file = seal(&key, &payload, false);
    let (back, summary) = decrypt(&key, &file).expect("authentic multi-file layout");
    assert_eq!(back, b"abcdef");
    assert_eq!(summary.variant, Variant::MultiFile);
    assert!(summary.compressed);
    assert_eq!(summary.plaintext_len, 6);
    assert_eq!(summary.ciphertext_len, 17);
    // The same payload with an MD5 trailer arrives in one piece.
    let (back, summary) = decrypt(&key, &seal(&key, &payload, true)).expect("authentic single-file layout");
    assert_eq!(back, b"abcdef");
    assert_eq!((summary.variant, summary.compressed, summary.plaintext_len), (Variant::SingleFile, true, 6));
}

#[test]
fn bytes_after_the_zlib_stream_in_the_same_piece_are_trailing_data() {
    let key = key();
    let mut payload = stored_zlib(b"abcdef");
    payload.extend_from_slice(&[0x55; 5]);
    match decrypt(&key, &seal(&key, &payload, true)) {
        Err(DecryptError::TrailingData { extra }) => assert_eq!(extra, 5),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bytes_after_the_zlib_stream_in_a_later_piece_are_trailing_data() {
    let key = key();
    // Multi-file layout: all but the last 16 payload bytes come first. With
    // 16 extra bytes the zlib stream ends exactly where that first piece
    // ends; with 20 it ends 4 bytes before.
    for extra in [16u64, 20] {
        let mut payload = stored_zlib(b"abcdef");
        payload.resize(payload.len() + extra as usize, 0x55);
        match decrypt(&key, &seal(&key, &payload, false)) {
            Err(DecryptError::TrailingData { extra: found }) => assert_eq!(found, extra),
            other => panic!("{extra} extra bytes: {other:?}"),
        }
    }
}

#[test]
fn progress_of_a_small_file_reaches_the_file_length() {
    let key = key();
    let single = encrypt(&key, Variant::SingleFile, &noise(3000, 5));
    let multi = encrypt(&key, Variant::MultiFile, b"PK\x03\x04 a small archive");
    for file in [single, multi] {
        let mut reports = Vec::new();
        crypt15::decrypt(&key, &mut &file[..], &mut Vec::new(), &mut |n| reports.push(n)).expect("our own backup");
        assert_eq!(reports.last().copied(), Some(file.len() as u64), "{reports:?}");
        assert!(reports.iter().all(|&n| n <= file.len() as u64), "{reports:?}");
    }
}

#[test]
fn bodies_around_one_read_buffer_decrypt_exactly() {
    // Decryption reads the body in 1 MiB buffers and holds back the last 32
    // bytes (tag and MD5); a multi-file body is the payload and a 16-byte tag.
    let key = key();
    for body in [MIB + 31, MIB + 32, MIB + 33, MIB + MIB / 2] {
        let mut payload = b"PK".to_vec();
        payload.extend_from_slice(&noise(body - TAG_LEN - 2, body as u64));
        let file = encrypt(&key, Variant::MultiFile, &payload);
        let (back, summary) = decrypt(&key, &file).expect("our own multi-file backup");
        assert!(back == payload, "body of {body} bytes: plaintext differs");
        assert_eq!(summary.plaintext_len, payload.len() as u64);
        assert_eq!(summary.ciphertext_len, payload.len() as u64);
    }
}

#[test]
fn reading_runs_ahead_of_writing_by_two_to_four_buffers() {
    // Design §9 and `decrypt`: a second thread opens buffer N + 1 while this
    // one writes buffer N, with four 1 MiB buffers in circulation (memory
    // stays constant). So when the first plaintext byte is written, more than
    // one buffer has been read, and no more than four buffers and the 32
    // held-back bytes (tag and MD5).
    let key = key();
    let mut payload = b"PK".to_vec();
    payload.extend_from_slice(&noise(6 * MIB, 7));
    let file = encrypt(&key, Variant::MultiFile, &payload);
    let base = crypt15::parse_header(&file).expect("our own prefix").encoded_len as u64;
    let (result, watch, last) = decrypt_watched(&key, &file);
    let summary = result.expect("our own multi-file backup");
    assert!(watch.out == payload, "plaintext differs");
    assert_eq!(summary.plaintext_len, payload.len() as u64);
    assert_eq!(last, file.len() as u64, "progress ends at the file length");
    let read = watch.at_first_write.expect("plaintext was written") - base;
    assert!(read >= 2 * MIB as u64, "only {read} body bytes read before the first write");
    let cap = (4 * MIB + TAG_LEN + crypt15::MD5_LEN) as u64;
    assert!(read <= cap, "{read} body bytes read before the first write, more than {cap}");
}

#[test]
fn a_large_body_is_written_in_pieces_larger_than_a_default_bufwriter() {
    // `LARGE_INFLATE_BUF`: a body of more than one read buffer goes out in
    // writes large enough to bypass the caller's buffering (a `BufWriter`
    // holds 8 KiB by default).
    let key = key();
    let plaintext = noise(MIB + MIB / 4, 11);
    let file = encrypt(&key, Variant::SingleFile, &plaintext);
    let header = crypt15::parse_header(&file).expect("our own prefix");
    assert!(file.len() - header.encoded_len > MIB + 32, "the body must exceed one read buffer");
    let (result, watch, _) = decrypt_watched(&key, &file);
    let summary = result.expect("our own single-file backup");
    assert!(summary.compressed);
    assert!(watch.out == plaintext, "plaintext differs");
    assert!(watch.largest_write > 8 * 1024, "largest write {} bytes", watch.largest_write);
}
