//! Small I/O helpers shared by the streaming formats.

use std::io::{self, Read};

/// Reads until `buf` is full or the reader is at end of file; returns the
/// number of bytes read. Unlike `read_exact`, a short read is not an error.
pub(crate) fn read_full<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A reader that counts the bytes it has passed on, so errors can name offsets.
#[derive(Debug)]
pub(crate) struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R> CountingReader<R> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: R) -> Self {
        Self { inner, count: 0 }
    }
    /// Bytes read so far.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Smallest step by which [`read_growing`] enlarges a buffer.
const MIN_GROWTH: usize = 4 * 1024;

/// Reads into `buf` from offset `filled` until `limit` bytes are held or the
/// reader is at end of file; returns the number of bytes now held.
///
/// The buffer grows (doubling, at most to `limit`) only as the reader delivers,
/// so a small input costs a small buffer: the streaming formats size their
/// batches for large files, and allocating and wiping megabytes for a 100-byte
/// input dominated short decodes (fuzzing, small blobs). A buffer that is
/// replaced is wiped first, since it may hold plaintext.
pub(crate) fn read_growing<R: Read + ?Sized>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    mut filled: usize,
    limit: usize,
) -> io::Result<usize> {
    while filled < limit {
        if filled >= buf.len() {
            reserve_wiping(buf, filled, (buf.len() * 2).clamp(MIN_GROWTH, limit));
        }
        let end = buf.len().min(limit);
        match reader.read(&mut buf[filled..end]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Makes `buf` at least `len` bytes long, keeping its first `keep` bytes and
/// wiping the old allocation when it has to move.
pub(crate) fn reserve_wiping(buf: &mut Vec<u8>, keep: usize, len: usize) {
    use zeroize::Zeroize;
    if buf.len() >= len {
        return;
    }
    let mut bigger = vec![0u8; len];
    bigger[..keep].copy_from_slice(&buf[..keep]);
    buf.zeroize();
    *buf = bigger;
}

/// An output buffer for plaintext (inflate output) that wipes, when dropped,
/// the bytes that were written into it. Wiping only those keeps the cost in
/// proportion to the data: a byte-wise volatile wipe of a 64 KiB buffer for a
/// 100-byte payload dominated short decodes.
pub(crate) struct ScratchBuf {
    buf: Vec<u8>,
    dirty: usize,
}

impl ScratchBuf {
    /// A zeroed buffer of `len` bytes.
    pub(crate) fn new(len: usize) -> Self {
        Self { buf: vec![0; len], dirty: 0 }
    }

    /// The whole buffer, to write into; call [`ScratchBuf::wrote`] after.
    pub(crate) fn space(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Records that the first `n` bytes were written, and returns them.
    pub(crate) fn wrote(&mut self, n: usize) -> &[u8] {
        self.dirty = self.dirty.max(n);
        &self.buf[..n]
    }
}

impl Drop for ScratchBuf {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.buf[..self.dirty].zeroize();
    }
}

impl std::fmt::Debug for ScratchBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchBuf").field("len", &self.buf.len()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_growing_holds_what_was_read_and_stops_at_the_limit() {
        let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let mut buf = Vec::new();
        let n = read_growing(&mut &data[..], &mut buf, 0, 70_000).expect("in memory");
        assert_eq!(n, 70_000);
        assert_eq!(&buf[..n], &data[..n]);
        let mut small = Vec::new();
        let n = read_growing(&mut &data[..10], &mut small, 0, 70_000).expect("in memory");
        assert_eq!((n, small.len()), (10, MIN_GROWTH));
        let mut kept = vec![9u8; 3];
        let n = read_growing(&mut &data[..5], &mut kept, 3, 70_000).expect("in memory");
        assert_eq!(&kept[..n], &[9, 9, 9, 0, 1, 2, 3, 4]);
    }
}
