//! The streaming Cobblestone functions overlap encryption with I/O (the pool
//! seals or opens batch n while the calling thread writes batch n - 1 and
//! reads batch n + 1). These tests pin down that the overlap changes
//! nothing observable: the same bytes as the in-memory functions across
//! several batches and odd read sizes, and on every error the same output
//! as handling batches one at a time — the authenticated chunks before the
//! failure and nothing after (design §4.2).

// Test helpers: a failed encryption into memory should stop the test loudly.
#![allow(clippy::expect_used)]

use std::io::{self, Read, Write};

use e2eb_core::cobblestone::{
    self, BATCH_CHUNKS, BodyError, CHUNK_LEN, PREFIX_LEN, SALT_LEN, SEALED_CHUNK_LEN, TAG_LEN,
};

const KEY: [u8; 32] = [0x24; 32];
const SALT: [u8; SALT_LEN] = [0x81; SALT_LEN];
const CTX: &[u8] = b"stream test";
/// Plaintext bytes in a batch.
const BATCH: usize = BATCH_CHUNKS * CHUNK_LEN;
/// Sealed bytes in a full batch.
const SEALED_BATCH: usize = BATCH_CHUNKS * SEALED_CHUNK_LEN;

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(13) ^ (i >> 9) as u8).collect()
}

/// A reader that hands out its data in pieces of varying, odd sizes, and
/// optionally fails once `fail_at` bytes have been read.
struct Choppy<'a> {
    data: &'a [u8],
    pos: usize,
    step: usize,
    fail_at: Option<usize>,
}

impl<'a> Choppy<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0, step: 0, fail_at: None }
    }
}

impl Read for Choppy<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.fail_at.is_some_and(|f| self.pos >= f) {
            return Err(io::Error::other("read fails here"));
        }
        self.step += 1;
        let piece = [1usize, 7, 4095, 16_400, 100_003, 1 << 20][self.step % 6];
        let end = self.data.len().min(self.pos + piece.min(buf.len()));
        let end = self.fail_at.map_or(end, |f| end.min(f.max(self.pos)));
        let n = end - self.pos;
        buf[..n].copy_from_slice(&self.data[self.pos..end]);
        self.pos = end;
        Ok(n)
    }
}

/// A writer that fails once it has taken `limit` bytes.
struct FailingWriter {
    taken: Vec<u8>,
    limit: usize,
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.taken.len() + buf.len() > self.limit {
            return Err(io::Error::other("disk full"));
        }
        self.taken.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const LENGTHS: [usize; 8] =
    [0, 5, BATCH - 1, BATCH, BATCH + 1, 2 * BATCH, 2 * BATCH + CHUNK_LEN, 3 * BATCH + CHUNK_LEN + 9];

#[test]
fn streams_agree_with_memory_over_several_batches() {
    for len in LENGTHS {
        let pt = payload(len);
        let whole = cobblestone::seal(&KEY, &SALT, CTX, &pt);
        for choppy in [false, true] {
            let mut streamed = Vec::new();
            let mut seen = Vec::new();
            let n = if choppy {
                cobblestone::seal_stream(&KEY, &SALT, CTX, &mut Choppy::new(&pt), &mut streamed, &mut |p| seen.push(p))
            } else {
                cobblestone::seal_stream(&KEY, &SALT, CTX, &mut &pt[..], &mut streamed, &mut |p| seen.push(p))
            }
            .expect("seal_stream");
            assert_eq!(n, len as u64);
            assert!(streamed == whole, "len {len}, choppy {choppy}");
            assert_eq!(seen.last().copied(), Some(len as u64), "len {len}: last progress");
            assert!(seen.windows(2).all(|w| w[0] <= w[1]), "len {len}: progress goes back");

            let mut opened = Vec::new();
            let n = if choppy {
                cobblestone::open_stream(&KEY, CTX, &mut Choppy::new(&whole), &mut opened, &mut |_| {})
            } else {
                cobblestone::open_stream(&KEY, CTX, &mut &whole[..], &mut opened, &mut |_| {})
            }
            .expect("open_stream");
            assert_eq!(n, len as u64);
            assert!(opened == pt, "len {len}, choppy {choppy}");
        }
    }
}

/// What `open_stream` must have written when it fails on chunk `chunk`
/// (damaged or truncated there): every batch before the failing chunk's
/// batch, plus the chunks of that batch before it for a damaged chunk.
fn damaged_prefix(pt: &[u8], chunk: usize) -> &[u8] {
    &pt[..(chunk * CHUNK_LEN).min(pt.len())]
}

#[test]
fn a_damaged_chunk_stops_the_stream_after_the_chunks_before_it() {
    let len = 3 * BATCH + 2 * CHUNK_LEN + 77;
    let pt = payload(len);
    let sealed = cobblestone::seal(&KEY, &SALT, CTX, &pt);
    let chunks = len / CHUNK_LEN + 1;
    for chunk in [0, 1, BATCH_CHUNKS - 1, BATCH_CHUNKS, BATCH_CHUNKS + 5, 2 * BATCH_CHUNKS, chunks - 1] {
        let mut bad = sealed.clone();
        bad[PREFIX_LEN + chunk * SEALED_CHUNK_LEN + 3] ^= 0x10;
        for choppy in [false, true] {
            let mut out = Vec::new();
            let r = if choppy {
                cobblestone::open_stream(&KEY, CTX, &mut Choppy::new(&bad), &mut out, &mut |_| {})
            } else {
                cobblestone::open_stream(&KEY, CTX, &mut &bad[..], &mut out, &mut |_| {})
            };
            match r {
                Err(BodyError::ChunkDamaged { chunk: c, offset }) => {
                    assert_eq!(c, chunk as u64);
                    assert_eq!(offset, (PREFIX_LEN + chunk * SEALED_CHUNK_LEN) as u64);
                }
                other => panic!("chunk {chunk}: unexpected {other:?}"),
            }
            assert!(out == damaged_prefix(&pt, chunk), "chunk {chunk}: wrote {} bytes", out.len());
        }
    }
}

#[test]
fn truncation_at_and_between_batches_writes_only_whole_earlier_batches() {
    let len = 3 * BATCH + 5 * CHUNK_LEN + 1;
    let pt = payload(len);
    let sealed = cobblestone::seal(&KEY, &SALT, CTX, &pt);
    // Cuts at chunk boundaries, including batch boundaries.
    for cut_chunks in [1, BATCH_CHUNKS, BATCH_CHUNKS + 1, 2 * BATCH_CHUNKS, 3 * BATCH_CHUNKS, 3 * BATCH_CHUNKS + 5] {
        let cut = PREFIX_LEN + cut_chunks * SEALED_CHUNK_LEN;
        let mut out = Vec::new();
        let r = cobblestone::open_stream(&KEY, CTX, &mut Choppy::new(&sealed[..cut]), &mut out, &mut |_| {});
        assert!(
            matches!(r, Err(BodyError::Truncated { chunk, offset }) if chunk == cut_chunks as u64 - 1 && offset == cut as u64),
            "cut after {cut_chunks} chunks: {r:?}"
        );
        // The batch that hits the end is never opened: only whole batches before it are out.
        let batches_before = (cut_chunks - 1) / BATCH_CHUNKS;
        assert_eq!(out.len(), batches_before * BATCH, "cut after {cut_chunks} chunks");
        assert!(out == pt[..out.len()]);
    }
    // A cut inside a chunk fails that chunk's tag.
    for cut_chunks in [0, BATCH_CHUNKS, 2 * BATCH_CHUNKS + 3] {
        let cut = PREFIX_LEN + cut_chunks * SEALED_CHUNK_LEN + TAG_LEN + 100;
        let mut out = Vec::new();
        let r = cobblestone::open_stream(&KEY, CTX, &mut &sealed[..cut], &mut out, &mut |_| {});
        assert!(matches!(r, Err(BodyError::ChunkDamaged { chunk, .. }) if chunk == cut_chunks as u64), "{r:?}");
        assert!(out == damaged_prefix(&pt, cut_chunks));
    }
}

#[test]
fn io_errors_are_reported_after_the_batches_before_them() {
    let len = 3 * BATCH + 123;
    let pt = payload(len);
    let sealed = cobblestone::seal(&KEY, &SALT, CTX, &pt);
    for fail_batch in [0usize, 1, 2, 3] {
        // Reading fails inside batch `fail_batch`: the batches before it are out.
        let mut reader = Choppy::new(&pt);
        reader.fail_at = Some(fail_batch * BATCH + 10);
        let mut out = Vec::new();
        let r = cobblestone::seal_stream(&KEY, &SALT, CTX, &mut reader, &mut out, &mut |_| {});
        assert!(matches!(r, Err(BodyError::Io(_))), "{r:?}");
        assert!(out == sealed[..PREFIX_LEN + fail_batch * SEALED_BATCH], "seal, read fails in batch {fail_batch}");

        let mut reader = Choppy::new(&sealed);
        reader.fail_at = Some(PREFIX_LEN + fail_batch * SEALED_BATCH + 10);
        let mut out = Vec::new();
        let r = cobblestone::open_stream(&KEY, CTX, &mut reader, &mut out, &mut |_| {});
        assert!(matches!(r, Err(BodyError::Io(_))), "{r:?}");
        assert!(out == pt[..fail_batch * BATCH], "open, read fails in batch {fail_batch}");
    }
    for limit in [0, 10, PREFIX_LEN + SEALED_BATCH + 1, sealed.len() - 1] {
        let mut w = FailingWriter { taken: Vec::new(), limit };
        let r = cobblestone::seal_stream(&KEY, &SALT, CTX, &mut &pt[..], &mut w, &mut |_| {});
        assert!(matches!(r, Err(BodyError::Io(_))), "seal, writer limit {limit}: {r:?}");
        assert!(w.taken == sealed[..w.taken.len()]);
        let mut w = FailingWriter { taken: Vec::new(), limit: limit.min(len - 1) };
        let r = cobblestone::open_stream(&KEY, CTX, &mut &sealed[..], &mut w, &mut |_| {});
        assert!(matches!(r, Err(BodyError::Io(_))), "open, writer limit {limit}: {r:?}");
        assert!(w.taken == pt[..w.taken.len()]);
    }
}
