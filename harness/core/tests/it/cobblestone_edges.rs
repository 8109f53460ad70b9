//! The edges of the Cobblestone body (design §4.2) that mutation testing
//! showed no other test pinned down: the exact errors for short and
//! truncated bodies (which chunk, which offset, which minimum), the chunk
//! limit of `opened_len`, error offsets shifted past a header, and random
//! access at and across chunk boundaries. The expected values come from the
//! layout (a 56-byte prefix, then chunks of 16 KiB plus a 16-byte tag, the
//! last one short and possibly empty), not from the code under test.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::Cursor;

use e2eb_core::cobblestone::{
    self, BodyError, CHUNK_LEN, MAX_CHUNKS, PREFIX_LEN, RandomAccess, SALT_LEN, SEALED_CHUNK_LEN, TAG_LEN,
};

const KEY: [u8; 32] = [0x5a; 32];
const SALT: [u8; SALT_LEN] = [0x17; SALT_LEN];
const CTX: &[u8] = b"edges";

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ (i >> 14) as u8).collect()
}

fn open_stream(ct: &[u8]) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    cobblestone::open_stream(&KEY, CTX, &mut &ct[..], &mut out, &mut |_| {}).map(|_| out)
}

#[test]
fn the_layout_fixes_the_constants() {
    assert_eq!(PREFIX_LEN, 24 + 32);
    assert_eq!(SEALED_CHUNK_LEN, 16_384 + 16);
    assert_eq!(MAX_CHUNKS, 274_877_906_944); // 2^38
    // SP 800-38D: at most 2^39 - 256 bits of plaintext under one IV.
    assert_eq!(e2eb_core::gcm_stream::MAX_MESSAGE_LEN, ((1u64 << 39) - 256) / 8);
}

#[test]
fn opened_len_names_the_cut_chunk_and_the_limit() {
    let p = PREFIX_LEN as u64;
    let (c, s, t) = (CHUNK_LEN as u64, SEALED_CHUNK_LEN as u64, TAG_LEN as u64);
    // Shorter than a prefix and an empty final chunk.
    assert!(
        matches!(cobblestone::opened_len(p + t - 1), Err(BodyError::TooShort { found, min }) if found == p + t - 1 && min == p + t)
    );
    assert_eq!(cobblestone::opened_len(p + t).unwrap(), 0);
    // Cut right after a full chunk: a full chunk is never the final one, so
    // the message is cut after chunk 0, the last chunk present.
    match cobblestone::opened_len(p + s) {
        Err(BodyError::Truncated { chunk, offset }) => assert_eq!((chunk, offset), (0, p + s)),
        other => panic!("{other:?}"),
    }
    // Cut inside the tag of chunk 2.
    match cobblestone::opened_len(p + 2 * s + t - 1) {
        Err(BodyError::Truncated { chunk, offset }) => assert_eq!((chunk, offset), (2, p + 2 * s + t - 1)),
        other => panic!("{other:?}"),
    }
    // Cut after three full chunks.
    match cobblestone::opened_len(p + 3 * s) {
        Err(BodyError::Truncated { chunk, offset }) => assert_eq!((chunk, offset), (2, p + 3 * s)),
        other => panic!("{other:?}"),
    }
    assert_eq!(cobblestone::opened_len(p + 2 * s + t + 5).unwrap(), 2 * c + 5);
    // The chunk counter: MAX_CHUNKS chunks in all is the most a message has.
    let at_limit = p + (MAX_CHUNKS - 1) * s + t;
    assert_eq!(cobblestone::opened_len(at_limit).unwrap(), (MAX_CHUNKS - 1) * c);
    assert!(matches!(cobblestone::opened_len(at_limit + s), Err(BodyError::TooManyChunks)));
}

#[test]
fn shifted_errors_report_file_offsets() {
    let t = BodyError::Truncated { chunk: 3, offset: 500 }.shifted(40);
    assert!(matches!(t, BodyError::Truncated { chunk: 3, offset: 540 }), "{t:?}");
    let d = BodyError::ChunkDamaged { chunk: 1, offset: 7 }.shifted(1000);
    assert!(matches!(d, BodyError::ChunkDamaged { chunk: 1, offset: 1007 }), "{d:?}");
    let other = BodyError::CommitmentMismatch.shifted(9);
    assert!(matches!(other, BodyError::CommitmentMismatch));
}

#[test]
fn the_stream_reports_short_and_cut_bodies_like_opened_len() {
    // Shorter than the prefix.
    let e = open_stream(&[0u8; 10]).unwrap_err();
    assert!(matches!(e, BodyError::TooShort { found: 10, min } if min == (PREFIX_LEN + TAG_LEN) as u64), "{e:?}");
    for len in [0usize, 5, CHUNK_LEN - 1, CHUNK_LEN, 3 * CHUNK_LEN + 7] {
        let ct = cobblestone::seal(&KEY, &SALT, CTX, &payload(len));
        assert_eq!(open_stream(&ct).unwrap(), payload(len), "length {len}");
        for cut in [PREFIX_LEN + 3, PREFIX_LEN + TAG_LEN - 1, ct.len() - 1, ct.len() - TAG_LEN] {
            if cut >= ct.len() {
                continue;
            }
            let from_stream = open_stream(&ct[..cut]).unwrap_err();
            match cobblestone::opened_len(cut as u64) {
                Err(from_len) => {
                    assert_eq!(format!("{from_len:?}"), format!("{from_stream:?}"), "length {len}, cut at {cut}");
                }
                // A length some message could have: its last chunk fails instead.
                Ok(_) => assert!(matches!(from_stream, BodyError::ChunkDamaged { .. }), "{from_stream:?}"),
            }
        }
        // Cut at a chunk boundary past the first chunk.
        if len >= CHUNK_LEN {
            let cut = PREFIX_LEN + SEALED_CHUNK_LEN;
            let e = open_stream(&ct[..cut]).unwrap_err();
            assert!(matches!(e, BodyError::Truncated { chunk: 0, offset } if offset == cut as u64), "{e:?}");
        }
    }
}

#[test]
fn random_access_reads_within_and_across_chunks() {
    let empty = cobblestone::seal(&KEY, &SALT, CTX, b"");
    let ra = RandomAccess::open(&KEY, CTX, Cursor::new(empty), 0).unwrap();
    assert!(ra.is_empty());
    assert_eq!(ra.len(), 0);

    let pt = payload(2 * CHUNK_LEN + 100);
    let mut file = vec![0xee; 7]; // a header before the body
    file.extend(cobblestone::seal(&KEY, &SALT, CTX, &pt));
    let mut ra = RandomAccess::open(&KEY, CTX, Cursor::new(file), 7).unwrap();
    assert!(!ra.is_empty());
    assert_eq!(ra.len(), pt.len() as u64);
    for (offset, len) in [
        (0, 1),
        (5, 10),
        (CHUNK_LEN - 3, 6),
        (CHUNK_LEN, CHUNK_LEN),
        (CHUNK_LEN + 1, CHUNK_LEN + 50),
        (100, 2 * CHUNK_LEN),
        (2 * CHUNK_LEN + 99, 1),
        (pt.len(), 0),
    ] {
        assert_eq!(ra.read_at(offset as u64, len).unwrap(), pt[offset..offset + len], "read {len} at {offset}");
    }
    assert!(matches!(
        ra.read_at(pt.len() as u64 - 1, 2),
        Err(BodyError::OutOfRange { offset, len: 2, size }) if offset == pt.len() as u64 - 1 && size == pt.len() as u64
    ));
}
