//! Parallel zlib compression, pigz-style, for crypt15 encryption
//! (design §4.1 fixes the payload as zlib level 1; §9 asks for crypt15
//! encryption ≥ 10 × faster than wa-crypt-tools with peak memory ≤ 64 MiB).
//!
//! Level-1 deflate is most of the cost of writing a crypt15 file, and one
//! deflate stream is serial. As pigz does, the input is cut into blocks that
//! are compressed on several threads as raw deflate, each primed with the
//! last 32 KiB of the input before it (the deflate window, so matches can
//! reach back across the cut as in a serial stream), and each but the
//! last ended with a sync flush (an empty stored block), which leaves it
//! byte-aligned and not final. Concatenated, the blocks are one valid deflate
//! stream; a zlib header in front and the Adler-32 of the whole input behind
//! (combined from per-block checksums computed on the workers) make it one
//! valid zlib stream, which any inflater (wa-crypt-tools' Python zlib
//! included) reads like a serial one.
//!
//! The calling thread reads the input, hands blocks to the workers and passes
//! the compressed pieces, in order, to a sink (crypt15 encrypts, hashes and
//! writes them there), so compression of later blocks overlaps with the
//! sink's work on earlier ones. At most a fixed number of blocks are in
//! flight, so memory is bounded whatever the input size.
//!
//! An input of at most one block is compressed on the calling thread as a
//! single zlib stream, byte for byte what the serial crypt15 encoder wrote
//! before: small files (test vectors, fuzz inputs) neither pay for threads
//! nor change. Larger inputs give different (equally valid) bytes.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use flate2::{Compress, Compression, FlushCompress, Status};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::io_util::{read_full, read_growing};

/// Input bytes per block. Large enough that the per-block costs (resetting
/// the compressor, priming the window, 5 bytes of sync marker) vanish; small
/// enough that a few blocks per worker in flight stay within a few MiB.
pub const BLOCK_LEN: usize = 512 * 1024;
/// Deflate's window: how much earlier input a block is primed with.
pub const DICT_LEN: usize = 32 * 1024;
/// Most compression threads used, whatever the core count: beyond this the
/// sink (GCM and MD5, serial) is the bottleneck, and memory grows per worker.
pub const MAX_WORKERS: usize = 8;
/// Blocks in flight (queued, compressing, or waiting to be sunk) per worker.
const IN_FLIGHT_PER_WORKER: usize = 2;

/// The compressor failed (it cannot on valid parameters; reported, not assumed).
#[derive(Debug, Clone, Error)]
#[error("{0}")]
pub struct CompressFailed(pub String);

/// The 2-byte zlib header (RFC 1950) a zlib compressor writes for `level`:
/// deflate with a 32 KiB window, FLEVEL from the level, and the check bits.
pub fn zlib_header(level: u32) -> [u8; 2] {
    let cmf = 0x78u8;
    let flevel: u8 = match level {
        0 | 1 => 0,
        2..=5 => 1,
        6 => 2,
        _ => 3,
    };
    let flg = flevel << 6;
    let check = 31 - ((u16::from(cmf) << 8 | u16::from(flg)) % 31) as u8;
    [cmf, flg | (check % 31)]
}

/// Adler-32 (RFC 1950) of `data`, continuing from `adler` (1 for a fresh
/// checksum): zlib-rs' SIMD implementation, the one its own zlib streams use.
pub fn adler32(adler: u32, data: &[u8]) -> u32 {
    zlib_rs::adler32::adler32(adler, data)
}

/// The Adler-32 of `x || y` from the checksums of `x` and of `y` (`len2` = |y|).
pub fn adler32_combine(adler1: u32, adler2: u32, len2: u64) -> u32 {
    zlib_rs::adler32::adler32_combine(adler1, adler2, len2)
}

/// Runs `z` over `input` into `out` (appending) until the flush completes.
fn run_deflate(z: &mut Compress, input: &[u8], out: &mut Vec<u8>, flush: FlushCompress) -> Result<(), CompressFailed> {
    // Level 1 expands incompressible data by at most about an eighth (9-bit
    // literals); if that is exceeded the loop grows the buffer.
    out.reserve(input.len() + input.len() / 8 + 64);
    let mut consumed = 0usize;
    loop {
        let (in_before, out_before) = (z.total_in(), out.len());
        let status = z.compress_vec(&input[consumed..], out, flush).map_err(|e| CompressFailed(e.to_string()))?;
        consumed += (z.total_in() - in_before) as usize;
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            // A flush is complete when zlib stops short of the output's end.
            _ => consumed == input.len() && out.len() < out.capacity(),
        };
        if done {
            return Ok(());
        }
        if out.len() == out_before && z.total_in() == in_before && out.len() < out.capacity() {
            return Err(CompressFailed("the compressor made no progress".to_owned()));
        }
        out.reserve(64 * 1024);
    }
}

/// One block to compress: `buf[..dict_len]` is the window it is primed
/// with, `buf[dict_len..dict_len + len]` its input.
struct Job {
    seq: u64,
    buf: Zeroizing<Vec<u8>>,
    dict_len: usize,
    len: usize,
    last: bool,
    out: Zeroizing<Vec<u8>>,
}

/// A compressed block, with the Adler-32 of its input.
struct Done {
    seq: u64,
    buf: Zeroizing<Vec<u8>>,
    len: usize,
    adler: u32,
    out: Zeroizing<Vec<u8>>,
}

/// Compresses one block as raw deflate: primed with its window, ended with a
/// sync flush, or as the final block.
fn compress_block(z: &mut Compress, job: &mut Job) -> Result<u32, CompressFailed> {
    z.reset();
    let (dict, data) = job.buf[..job.dict_len + job.len].split_at(job.dict_len);
    if !dict.is_empty() {
        z.set_dictionary(dict).map_err(|e| CompressFailed(e.to_string()))?;
    }
    job.out.clear();
    let flush = if job.last { FlushCompress::Finish } else { FlushCompress::Sync };
    run_deflate(z, data, &mut job.out, flush)?;
    Ok(adler32(1, data))
}

fn worker(level: u32, jobs: &Mutex<Receiver<Job>>, done: &SyncSender<Result<Done, CompressFailed>>) {
    // Raw deflate: the zlib header and trailer belong to the whole stream.
    let mut z = Compress::new(Compression::new(level), false);
    loop {
        // Holding the lock while waiting is fine: an idle worker has nothing
        // else to do, and the others queue on the lock instead of the channel.
        let next = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(mut job) = next else { return };
        let result = compress_block(&mut z, &mut job).map(|adler| Done {
            seq: job.seq,
            buf: job.buf,
            len: job.len,
            adler,
            out: job.out,
        });
        let failed = result.is_err();
        if done.send(result).is_err() || failed {
            return;
        }
    }
}

/// Compresses everything `reader` yields as one zlib stream at `level` and
/// hands the stream to `sink`, in order, in pieces (which the sink may
/// modify, e.g. encrypt in place). Returns the input length. `progress` gets
/// the input bytes read so far.
pub fn compress_stream<R, E, S>(
    reader: &mut R,
    level: u32,
    sink: &mut S,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, E>
where
    R: Read + ?Sized,
    E: From<io::Error> + From<CompressFailed>,
    S: FnMut(&mut [u8]) -> Result<(), E>,
{
    // The first block grows with what is read, so a short input costs a short buffer.
    let mut first = Zeroizing::new(Vec::new());
    let n = read_growing(reader, &mut first, 0, BLOCK_LEN)?;
    progress(n as u64);
    if n == BLOCK_LEN {
        let mut second = Zeroizing::new(vec![0u8; DICT_LEN + BLOCK_LEN]);
        second[..DICT_LEN].copy_from_slice(&first[BLOCK_LEN - DICT_LEN..BLOCK_LEN]);
        let m = read_full(reader, &mut second[DICT_LEN..])?;
        if m > 0 {
            progress((n + m) as u64);
            return Pipeline::run(reader, level, (first, n), (second, m), sink, progress);
        }
    }
    // One block: a plain serial zlib stream.
    let mut out = Zeroizing::new(Vec::new());
    compress_serial(&first[..n], level, &mut out)?;
    sink(&mut out[..])?;
    Ok(n as u64)
}

/// How the serial encoder fed zlib: 256 KiB at a time, the last (shorter,
/// possibly empty) piece with `Finish`. zlib-rs' level-1 output depends on
/// that (a piece given with `Finish` is marked final in its own block
/// header), so single-block inputs keep the exact bytes earlier releases
/// wrote, test vectors included.
pub const SERIAL_FEED: usize = 256 * 1024;

/// Compresses `data` as one zlib stream on this thread, appending to `out`.
fn compress_serial(data: &[u8], level: u32, out: &mut Vec<u8>) -> Result<(), CompressFailed> {
    let mut z = Compress::new(Compression::new(level), true);
    let whole = data.len() / SERIAL_FEED * SERIAL_FEED;
    for piece in data[..whole].chunks(SERIAL_FEED) {
        run_deflate(&mut z, piece, out, FlushCompress::None)?;
    }
    run_deflate(&mut z, &data[whole..], out, FlushCompress::Finish)
}

/// The parallel path: worker threads, and the state of the calling thread
/// that feeds them and sinks their output in order.
struct Pipeline {
    job_tx: SyncSender<Job>,
    done_rx: Receiver<Result<Done, CompressFailed>>,
    max_in_flight: usize,
    /// Sequence number of the next block to dispatch.
    next_seq: u64,
    /// Sequence number of the next block to give the sink.
    next_sink: u64,
    /// Finished blocks not yet sunk, indexed from `next_sink`.
    waiting: VecDeque<Option<Done>>,
    /// Adler-32 of the input sunk so far.
    adler: u32,
    free_bufs: Vec<Zeroizing<Vec<u8>>>,
    free_outs: Vec<Zeroizing<Vec<u8>>>,
}

impl Pipeline {
    /// Compresses `first` and `second` (the first two blocks, already read,
    /// with their lengths) and the rest of `reader` on worker threads, and
    /// hands the zlib stream to `sink` in order. Returns the input length.
    fn run<R, E, S>(
        reader: &mut R,
        level: u32,
        first: (Zeroizing<Vec<u8>>, usize),
        second: (Zeroizing<Vec<u8>>, usize),
        sink: &mut S,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64, E>
    where
        R: Read + ?Sized,
        E: From<io::Error> + From<CompressFailed>,
        S: FnMut(&mut [u8]) -> Result<(), E>,
    {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, MAX_WORKERS);
        let max_in_flight = workers * IN_FLIGHT_PER_WORKER;
        let mut header = zlib_header(level);
        sink(&mut header[..])?;
        std::thread::scope(|scope| {
            // Both channels hold every block that can be in flight, so neither
            // side ever blocks on a send; flow is limited by `max_in_flight`.
            let (job_tx, job_rx) = sync_channel::<Job>(max_in_flight);
            let (done_tx, done_rx) = sync_channel(max_in_flight);
            let job_rx = Arc::new(Mutex::new(job_rx));
            for i in 0..workers {
                let (jobs, done) = (Arc::clone(&job_rx), done_tx.clone());
                std::thread::Builder::new()
                    .name(format!("deflate-{i}"))
                    .spawn_scoped(scope, move || worker(level, &jobs, &done))?;
            }
            drop(done_tx);
            // The pipeline owns the job sender: however this closure ends,
            // dropping it stops the workers, so the scope's join cannot hang.
            let mut p = Pipeline {
                job_tx,
                done_rx,
                max_in_flight,
                next_seq: 0,
                next_sink: 0,
                waiting: VecDeque::new(),
                adler: 1,
                free_bufs: Vec::new(),
                free_outs: Vec::new(),
            };
            let mut total = (first.1 + second.1) as u64;
            p.dispatch(first.0, 0, first.1, false, sink)?;
            // A block is dispatched once the next read says whether it is the last.
            let (mut prev, mut prev_len) = second;
            loop {
                let mut buf = p.free_bufs.pop().unwrap_or_else(|| Zeroizing::new(vec![0u8; DICT_LEN + BLOCK_LEN]));
                // The window: the last 32 KiB of all input before this block,
                // which `prev` holds (its own window, then its input).
                let prev_end = DICT_LEN + prev_len;
                buf[..DICT_LEN].copy_from_slice(&prev[prev_end - DICT_LEN..prev_end]);
                let n = read_full(reader, &mut buf[DICT_LEN..])?;
                if n == 0 {
                    p.free_bufs.push(buf);
                    p.dispatch(prev, DICT_LEN, prev_len, true, sink)?;
                    break;
                }
                total += n as u64;
                progress(total);
                p.dispatch(prev, DICT_LEN, prev_len, false, sink)?;
                (prev, prev_len) = (buf, n);
            }
            while p.next_sink < p.next_seq {
                p.sink_one(sink)?;
            }
            let mut trailer = p.adler.to_be_bytes();
            sink(&mut trailer[..])?;
            Ok(total)
        })
    }

    fn dispatch<E, S>(
        &mut self,
        buf: Zeroizing<Vec<u8>>,
        dict_len: usize,
        len: usize,
        last: bool,
        sink: &mut S,
    ) -> Result<(), E>
    where
        E: From<io::Error> + From<CompressFailed>,
        S: FnMut(&mut [u8]) -> Result<(), E>,
    {
        while self.next_seq - self.next_sink >= self.max_in_flight as u64 {
            self.sink_one(sink)?;
        }
        let out = self.free_outs.pop().unwrap_or_default();
        let job = Job { seq: self.next_seq, buf, dict_len, len, last, out };
        self.job_tx.send(job).map_err(|_| CompressFailed("a compression thread stopped".to_owned()))?;
        self.next_seq += 1;
        Ok(())
    }

    /// Waits for the next block in order and gives it to the sink.
    fn sink_one<E, S>(&mut self, sink: &mut S) -> Result<(), E>
    where
        E: From<io::Error> + From<CompressFailed>,
        S: FnMut(&mut [u8]) -> Result<(), E>,
    {
        loop {
            if matches!(self.waiting.front(), Some(Some(_))) {
                if let Some(Some(mut done)) = self.waiting.pop_front() {
                    sink(&mut done.out[..])?;
                    self.adler = adler32_combine(self.adler, done.adler, done.len as u64);
                    self.next_sink += 1;
                    // The first block's buffer was sized to it; only full-size ones are reused.
                    if done.buf.len() == DICT_LEN + BLOCK_LEN {
                        self.free_bufs.push(done.buf);
                    }
                    self.free_outs.push(done.out);
                }
                return Ok(());
            }
            let done =
                self.done_rx.recv().map_err(|_| CompressFailed("the compression threads stopped".to_owned()))??;
            let slot = (done.seq - self.next_sink) as usize;
            if self.waiting.len() <= slot {
                self.waiting.resize_with(slot + 1, || None);
            }
            self.waiting[slot] = Some(done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::ZlibDecoder;

    fn naive_adler(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &x in data {
            a = (a + u32::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        b << 16 | a
    }

    /// Chat-database-like bytes: compressible text with random runs in it.
    fn sample(len: usize, seed: u64) -> Vec<u8> {
        let words: [&[u8]; 8] =
            [b"hello ", b"backup ", b"see you ", b"tomorrow ", b"photo ", b"ok ", b"thanks ", b"\x00\x01"];
        let mut s = seed | 1;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut out = Vec::with_capacity(len + 16);
        while out.len() < len {
            let r = next();
            if r % 5 == 0 {
                out.extend_from_slice(&r.to_le_bytes());
            } else {
                out.extend_from_slice(words[(r >> 8) as usize % words.len()]);
            }
        }
        out.truncate(len);
        out
    }

    fn compress(data: &[u8]) -> Vec<u8> {
        let mut stream = Vec::new();
        let n = compress_stream::<_, io::Error, _>(
            &mut &data[..],
            1,
            &mut |piece: &mut [u8]| {
                stream.extend_from_slice(piece);
                Ok(())
            },
            &mut |_| {},
        )
        .expect("in memory");
        assert_eq!(n, data.len() as u64);
        stream
    }

    impl From<CompressFailed> for io::Error {
        fn from(e: CompressFailed) -> Self {
            io::Error::other(e.0)
        }
    }

    #[test]
    fn adler32_matches_the_definition() {
        let data = sample(200_000 + 777, 7);
        let all_ff = vec![0xffu8; 131_077];
        for d in [&data[..], &all_ff[..], &[][..], &[0x61][..]] {
            assert_eq!(adler32(1, d), naive_adler(d));
        }
        // Continuing and combining agree with the one-shot checksum.
        let (x, y) = data.split_at(100_003);
        assert_eq!(adler32(adler32(1, x), y), naive_adler(&data));
        assert_eq!(adler32_combine(adler32(1, x), adler32(1, y), y.len() as u64), naive_adler(&data));
        assert_eq!(adler32_combine(adler32(1, x), 1, 0), adler32(1, x));
        assert_eq!(adler32(1, b"Wikipedia"), 0x11e6_0398);
    }

    #[test]
    fn header_is_what_zlib_writes() {
        for level in 0..=9 {
            let mut z = Compress::new(Compression::new(level), true);
            let mut out = Vec::new();
            run_deflate(&mut z, b"x", &mut out, FlushCompress::Finish).expect("in memory");
            assert_eq!(zlib_header(level), [out[0], out[1]], "level {level}");
        }
    }

    /// The serial crypt15 encoder before the parallel one, verbatim in
    /// effect: 256 KiB reads, `Finish` on the first short one.
    fn previous_encoder(data: &[u8]) -> Vec<u8> {
        let mut z = Compress::new(Compression::new(1), true);
        let mut out = Vec::new();
        let mut rest = data;
        loop {
            let n = rest.len().min(SERIAL_FEED);
            let (input, tail) = rest.split_at(n);
            let last = n < SERIAL_FEED;
            let flush = if last { FlushCompress::Finish } else { FlushCompress::None };
            let mut staged = vec![0u8; (n + n / 8 + 64).min(SERIAL_FEED + SERIAL_FEED / 8)];
            let mut consumed = 0;
            loop {
                let (ib, ob) = (z.total_in(), z.total_out());
                let status = z.compress(&input[consumed..], &mut staged, flush).expect("in memory");
                consumed += (z.total_in() - ib) as usize;
                let produced = (z.total_out() - ob) as usize;
                out.extend_from_slice(&staged[..produced]);
                let done = if last { status == Status::StreamEnd } else { consumed == n && produced < staged.len() };
                if done {
                    break;
                }
            }
            rest = tail;
            if last {
                return out;
            }
        }
    }

    #[test]
    fn one_block_is_the_serial_stream_of_before() {
        let lens = [0usize, 1, 2, 1000, SERIAL_FEED - 1, SERIAL_FEED, SERIAL_FEED + 1, BLOCK_LEN - 1, BLOCK_LEN];
        for len in lens {
            let data = sample(len, len as u64);
            assert!(compress(&data) == previous_encoder(&data), "length {len}");
        }
    }

    #[test]
    fn many_blocks_make_one_valid_zlib_stream() {
        let lens = [
            BLOCK_LEN + 1,
            2 * BLOCK_LEN,
            2 * BLOCK_LEN + DICT_LEN - 1,
            5 * BLOCK_LEN + 12_345,
            (MAX_WORKERS * IN_FLIGHT_PER_WORKER + 3) * BLOCK_LEN,
        ];
        for len in lens {
            let data = sample(len, len as u64 ^ 0x5eed);
            let stream = compress(&data);
            // flate2's plain decoder reads it, checksum included, and finds
            // nothing after it.
            let mut decoder = ZlibDecoder::new(&stream[..]);
            let mut back = Vec::new();
            Read::read_to_end(&mut decoder, &mut back).expect("valid zlib");
            assert!(back == data, "length {len}: round trip differs");
            assert_eq!(decoder.total_in(), stream.len() as u64, "length {len}: trailing bytes");
            assert_eq!(stream[..2], zlib_header(1));
            assert_eq!(stream[stream.len() - 4..], naive_adler(&data).to_be_bytes());
        }
    }

    #[test]
    fn windows_carry_matches_across_blocks() {
        // Noise repeated with a period under the window: compressible from
        // the second period on, at every block start too only if each block
        // is primed with the input before it.
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let unit: Vec<u8> = (0..30 * 1024)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 24) as u8
            })
            .collect();
        let data: Vec<u8> = unit.iter().copied().cycle().take(6 * BLOCK_LEN).collect();
        let stream = compress(&data);
        let mut serial = flate2::write::ZlibEncoder::new(Vec::new(), Compression::new(1));
        io::Write::write_all(&mut serial, &data).expect("in memory");
        let serial = serial.finish().expect("in memory");
        // Unprimed, each of the 6 blocks would start with 30 KiB of literals
        // (about twice the serial stream's size in all); primed, the parallel
        // stream is about as small as the serial one.
        assert!(stream.len() < serial.len() * 11 / 10, "{} bytes, serially {}", stream.len(), serial.len());
    }

    #[test]
    fn sink_errors_stop_the_pipeline() {
        let data = sample(6 * BLOCK_LEN, 9);
        let mut calls = 0;
        let result = compress_stream::<_, io::Error, _>(
            &mut &data[..],
            1,
            &mut |_: &mut [u8]| {
                calls += 1;
                if calls == 3 { Err(io::Error::other("disk full")) } else { Ok(()) }
            },
            &mut |_| {},
        );
        assert_eq!(result.expect_err("the sink failed").to_string(), "disk full");
    }

    #[test]
    fn read_errors_stop_the_pipeline() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("bad sector"));
                }
                let n = buf.len().min(self.0);
                buf[..n].fill(b'a');
                self.0 -= n;
                Ok(n)
            }
        }
        let result = compress_stream::<_, io::Error, _>(
            &mut Failing(3 * BLOCK_LEN + 5),
            1,
            &mut |_: &mut [u8]| Ok(()),
            &mut |_| {},
        );
        assert_eq!(result.expect_err("the read failed").to_string(), "bad sector");
    }
}
