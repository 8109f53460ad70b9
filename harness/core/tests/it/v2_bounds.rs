//! v2 at its edges (design §4.2): the 4096-byte header limit when writing
//! and reading, files cut inside the fixed part or the header (from a slice
//! and from a stream, with the exact lengths reported), progress of streamed
//! decryption, and compressed bodies whose zlib stream is cut short, followed
//! by more bytes, or longer than one write. Written to kill the mutants that
//! the mutation run (design §8) left alive in `encode_header`, `check_fixed`,
//! `parse_header`, `read_header`, `decrypt` and `InflateWriter` of
//! `backup::v2`; every expected value comes from the format, not from the code
//! under test.

use e2eb_core::backup::proto::{Compression, V2Header};
use e2eb_core::backup::v2::{self, DecryptError, EncryptError, EncryptOptions, HeaderError};
use e2eb_core::cobblestone::{self, SALT_LEN};
use e2eb_core::kdf;
use e2eb_core::key::BackupKey;

use crate::zlib::adler32;

const MIB: usize = 1024 * 1024;

fn key() -> BackupKey {
    BackupKey::from_bytes([0x62; 32])
}

/// A zlib stream (RFC 1950) of exactly `total` bytes made of stored blocks
/// (RFC 1951 §3.2.4): `78 01`, blocks of `BFINAL/BTYPE LEN NLEN data` (at
/// most 65535 data bytes each), Adler-32. Returns the stream and its data.
fn stored_zlib_of_len(total: usize) -> (Vec<u8>, Vec<u8>) {
    // total = 2 + 5 · blocks + data + 4, with blocks = ⌈data / 65535⌉ (≥ 1).
    let blocks = (1..).find(|b| total - 6 - 5 * b <= 65_535 * b).expect("some count fits");
    let data: Vec<u8> = (0..total - 6 - 5 * blocks).map(|i| (i * 7 % 253) as u8).collect();
    let mut z = vec![0x78, 0x01];
    let pieces: Vec<&[u8]> = if data.is_empty() { vec![&[][..]] } else { data.chunks(65_535).collect() };
    assert_eq!(pieces.len(), blocks);
    for (i, piece) in pieces.iter().enumerate() {
        let len = u16::try_from(piece.len()).expect("a stored block");
        z.push(u8::from(i + 1 == blocks));
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(piece);
    }
    z.extend_from_slice(&adler32(&data).to_be_bytes());
    assert_eq!(z.len(), total);
    (z, data)
}

/// A v2 file made from its parts: the header (compression as given) and the
/// Cobblestone body of `payload` under `HKDF(K, "e2eb v2 backup")` with the
/// context `"e2eb/v2" 00 || header`.
fn v2_file(key: &BackupKey, compression: Compression, payload: &[u8]) -> Vec<u8> {
    let fields = V2Header { key_id: kdf::key_id(key).to_vec(), compression: compression as i32, ..V2Header::default() };
    let mut file = v2::encode_header(&fields).expect("a short header");
    let mut context = v2::CONTEXT_LABEL.to_vec();
    context.extend_from_slice(&file);
    let input_key = kdf::v2_input_key(key);
    file.extend_from_slice(&cobblestone::seal(input_key.expose_secret(), &[3; SALT_LEN], &context, payload));
    file
}

fn decrypt_stream(key: &BackupKey, file: &[u8]) -> Result<(Vec<u8>, v2::DecryptSummary), DecryptError> {
    let mut out = Vec::new();
    v2::decrypt(key, &mut &file[..], &mut out, &mut |_| {}).map(|summary| (out, summary))
}

/// Header fields whose encoding is exactly `len` bytes (an 8-byte key id and
/// an app version of the right length).
fn header_of_encoded_len(len: usize) -> V2Header {
    // Key id: tag, length, 8 bytes; app version: tag, 2-byte length, text.
    let fields = V2Header { key_id: vec![1; 8], app_version: "a".repeat(len - 13), ..V2Header::default() };
    assert_eq!(prost::Message::encoded_len(&fields), len);
    fields
}

#[test]
fn a_header_of_exactly_4096_bytes_is_written_and_parsed_and_4097_is_refused() {
    let fields = header_of_encoded_len(4096);
    let raw = v2::encode_header(&fields).expect("4096 bytes is the limit, not over it");
    assert_eq!(raw.len(), 7 + 4096);
    assert_eq!(&raw[..7], b"E2EB\x02\x10\x00");
    let header = v2::parse_header(&raw).expect("a header that ends where the bytes end");
    assert_eq!(header.fields, fields);
    assert_eq!(header.raw, raw);
    let streamed = v2::read_header(&mut &raw[..]).expect("the same header from a stream");
    assert_eq!(streamed.raw, raw);

    match v2::encode_header(&header_of_encoded_len(4097)) {
        Err(EncryptError::HeaderTooLong { len, max }) => assert_eq!((len, max), (4097, 4096)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_header_length_field_of_4096_is_accepted_and_4097_is_too_long() {
    // 4096 announced, nothing follows: the file is cut inside the header.
    match v2::parse_header(b"E2EB\x02\x10\x00") {
        Err(HeaderError::Truncated { needed, found }) => assert_eq!((needed, found), (4103, 7)),
        other => panic!("{other:?}"),
    }
    match v2::read_header(&mut &b"E2EB\x02\x10\x00"[..]) {
        Err(HeaderError::Truncated { needed, found }) => assert_eq!((needed, found), (4103, 7)),
        other => panic!("{other:?}"),
    }
    for fixed in [&b"E2EB\x02\x10\x01"[..], b"E2EB\x02\xff\xff"] {
        let announced = usize::from(u16::from_be_bytes([fixed[5], fixed[6]]));
        match v2::parse_header(fixed) {
            Err(HeaderError::TooLong { len, max }) => assert_eq!((len, max), (announced, 4096)),
            other => panic!("{other:?}"),
        }
        match v2::read_header(&mut &fixed[..]) {
            Err(HeaderError::TooLong { len, max }) => assert_eq!((len, max), (announced, 4096)),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn seven_bytes_announcing_an_empty_header_are_parsed_not_reported_truncated() {
    // The fixed part is whole and the header is empty, so its missing key id
    // is what is wrong.
    assert!(matches!(v2::parse_header(b"E2EB\x02\x00\x00"), Err(HeaderError::BadKeyId { found: 0 })));
    assert!(matches!(v2::read_header(&mut &b"E2EB\x02\x00\x00"[..]), Err(HeaderError::BadKeyId { found: 0 })));
}

#[test]
fn a_file_cut_inside_the_fixed_part_is_truncated_when_it_matches_the_magic() {
    for cut in [&b""[..], b"E", b"E2", b"E2E", b"E2EB", b"E2EB\x02", b"E2EB\x02\x00"] {
        match v2::parse_header(cut) {
            Err(HeaderError::Truncated { needed, found }) => assert_eq!((needed, found), (7, cut.len())),
            other => panic!("{cut:?}: {other:?}"),
        }
        match v2::read_header(&mut &cut[..]) {
            Err(HeaderError::Truncated { needed, found }) => assert_eq!((needed, found), (7, cut.len())),
            other => panic!("{cut:?} streamed: {other:?}"),
        }
    }
    for not_v2 in [&b"X"[..], b"PK", b"E2X", b"E2EA\x02"] {
        assert!(matches!(v2::parse_header(not_v2), Err(HeaderError::BadMagic)), "{not_v2:?}");
        assert!(matches!(v2::read_header(&mut &not_v2[..]), Err(HeaderError::BadMagic)), "{not_v2:?} streamed");
    }
}

#[test]
fn a_header_cut_short_reports_the_bytes_needed_and_present() {
    let key = key();
    let file = v2::encrypt_to_vec(&key, &EncryptOptions::default(), b"chat").expect("in memory");
    let header = v2::parse_header(&file).expect("our own header");
    let end = header.raw.len();
    assert_eq!(end, 7 + usize::from(u16::from_be_bytes([file[5], file[6]])));
    assert_eq!(v2::parse_header(&file[..end]).expect("the header alone").raw, header.raw);
    for cut in [end - 1, 8, 7 + 3] {
        match v2::parse_header(&file[..cut]) {
            Err(HeaderError::Truncated { needed, found }) => assert_eq!((needed, found), (end, cut)),
            other => panic!("cut to {cut}: {other:?}"),
        }
        match v2::read_header(&mut &file[..cut]) {
            Err(HeaderError::Truncated { needed, found }) => assert_eq!((needed, found), (end, cut)),
            other => panic!("cut to {cut}, streamed: {other:?}"),
        }
    }
    // Ten header bytes announced, three present.
    match v2::read_header(&mut &b"E2EB\x02\x00\x0aabc"[..]) {
        Err(HeaderError::Truncated { needed, found }) => assert_eq!((needed, found), (17, 10)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn streamed_decryption_reports_progress_up_to_the_file_length() {
    let key = key();
    let options = EncryptOptions { salt: Some([9; SALT_LEN]), created_unix: Some(1), ..EncryptOptions::default() };
    let plaintext = vec![0x42; 40_000];
    let file = v2::encrypt_to_vec(&key, &options, &plaintext).expect("in memory");
    let header_len = v2::parse_header(&file).expect("our own header").raw.len() as u64;
    let mut reports = Vec::new();
    let mut out = Vec::new();
    let summary = v2::decrypt(&key, &mut &file[..], &mut out, &mut |n| reports.push(n)).expect("intact file");
    assert_eq!(out, plaintext);
    assert_eq!(summary.plaintext_len, 40_000);
    assert_eq!(reports.last().copied(), Some(file.len() as u64));
    assert!(reports.iter().all(|&n| n > header_len && n <= file.len() as u64), "{reports:?}");
}

#[test]
fn a_compressed_body_reports_its_inflated_length() {
    let key = key();
    let options = EncryptOptions { compression: Compression::Zlib, ..EncryptOptions::default() };
    let plaintext: Vec<u8> = (0..3000u32).map(|i| (i % 13) as u8).collect();
    let file = v2::encrypt_to_vec(&key, &options, &plaintext).expect("in memory");
    let (out, summary) = decrypt_stream(&key, &file).expect("intact file");
    assert_eq!(out, plaintext);
    assert_eq!(summary.plaintext_len, 3000);
    assert_eq!(v2::decrypt_slice(&key, &file).expect("intact file").1, plaintext);
}

#[test]
fn a_zlib_stream_cut_short_is_a_corrupt_payload() {
    let key = key();
    let (z, _) = stored_zlib_of_len(40);
    for cut in [2, 7, 20, 39] {
        let file = v2_file(&key, Compression::Zlib, &z[..cut]);
        assert!(matches!(decrypt_stream(&key, &file), Err(DecryptError::CorruptPayload)), "cut to {cut}, streamed");
        assert!(matches!(v2::decrypt_slice(&key, &file), Err(DecryptError::CorruptPayload)), "cut to {cut}");
    }
    // Whole, the same stream is accepted (the body is authentic either way).
    let file = v2_file(&key, Compression::Zlib, &z);
    assert_eq!(decrypt_stream(&key, &file).expect("whole stream").1.plaintext_len, 29);
}

#[test]
fn bytes_after_the_zlib_stream_are_a_corrupt_payload() {
    let key = key();
    let (mut z, _) = stored_zlib_of_len(40);
    z.extend_from_slice(b"xx");
    let file = v2_file(&key, Compression::Zlib, &z);
    assert!(matches!(decrypt_stream(&key, &file), Err(DecryptError::CorruptPayload)));
    assert!(matches!(v2::decrypt_slice(&key, &file), Err(DecryptError::CorruptPayload)));
}

#[test]
fn zlib_streams_around_one_mib_inflate_exactly_and_refuse_what_follows() {
    // The streamed body reaches the inflater in writes of up to 1 MiB: a
    // stream that ends exactly at the end of one write, and bytes that
    // follow in the next, must still be refused.
    let key = key();
    for total in [MIB - 1, MIB, MIB + 1] {
        let (mut z, data) = stored_zlib_of_len(total);
        let file = v2_file(&key, Compression::Zlib, &z);
        let (out, summary) = decrypt_stream(&key, &file).expect("whole stream");
        assert!(out == data, "{total}: inflated bytes differ");
        assert_eq!(summary.plaintext_len, data.len() as u64);

        z.extend_from_slice(&[0xee; 10]);
        let file = v2_file(&key, Compression::Zlib, &z);
        assert!(
            matches!(decrypt_stream(&key, &file), Err(DecryptError::CorruptPayload)),
            "{total} then 10 bytes, streamed"
        );
        assert!(matches!(v2::decrypt_slice(&key, &file), Err(DecryptError::CorruptPayload)), "{total} then 10 bytes");
    }
}
