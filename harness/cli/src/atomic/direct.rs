//! The write buffer of an [`super::AtomicFile`]: large outputs bypass the
//! page cache (design §9, "v2 file to file ≥ 0.85 × dd with one core busy").
//!
//! A buffered write copies every byte into the page cache, and on the
//! virtual machines this project is measured on that copy (into freshly
//! allocated pages) costs about as much CPU as the disk takes time: `dd
//! bs=1M conv=fsync` of 1 GiB spends 0.31–0.34 s of system time, `dd
//! oflag=direct` 0.15–0.18 s, in the same wall time. An encryption or
//! decryption, which also needs CPU for the cipher, then loses to a plain
//! copy as soon as another program holds a core. So once an output passes
//! one buffer (1 MiB) it is written with `O_DIRECT` (Linux), in whole
//! aligned blocks from aligned buffers, by a writer thread of its own: a
//! direct write waits for the device, and the caller goes on filling the
//! next buffer meanwhile (without that thread, the device time no longer
//! overlapped the reading, and an idle machine lost what a busy one won).
//! The tail that is not a whole block, and outputs smaller than one buffer
//! (keys, reports, vectors), go through the page cache as before. The file
//! is synced on commit either way.
//!
//! Where `O_DIRECT` is refused (a filesystem without it, an alignment the
//! device will not take, a short write near a full disk) the writer carries
//! on with buffered writes for the rest of the file, so the choice never
//! turns into an error of its own. Every write is positional (`pwrite`) at
//! the offset the bytes belong at. The buffers may hold plaintext, so they
//! are wiped when dropped.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt as _;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use zeroize::Zeroizing;

/// The size of each buffer, and of each direct write.
const CAP: usize = 1 << 20;
/// Address, offset and length alignment of direct writes (the largest
/// logical block size in common use).
const ALIGN: usize = 4096;

/// A buffered writer over `file` that switches to `O_DIRECT` (see the
/// module documentation).
#[derive(Debug)]
pub(super) struct DirectWriter {
    file: File,
    /// The buffer being filled.
    buf: Buffer,
    filled: usize,
    /// Where in the file the buffer's first byte belongs.
    offset: u64,
    mode: Mode,
    /// The writer thread, once direct writes are on.
    flight: Option<Flight>,
    /// The first error, repeated to every later call (the bytes after it
    /// cannot be placed).
    failed: Option<io::Error>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing written yet: the first full buffer decides.
    Undecided,
    Direct,
    Buffered,
}

/// `CAP + ALIGN` wiped bytes; the usable part starts at `start`, aligned.
#[derive(Debug)]
struct Buffer {
    bytes: Zeroizing<Vec<u8>>,
    start: usize,
}

impl Buffer {
    fn new(misalign: usize) -> Self {
        let bytes = Zeroizing::new(vec![0u8; CAP + ALIGN]);
        let start = (bytes.as_ptr().align_offset(ALIGN).min(ALIGN) + misalign) % ALIGN;
        Self { bytes, start }
    }

    fn area(&self) -> &[u8] {
        &self.bytes[self.start..self.start + CAP]
    }

    fn area_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[self.start..self.start + CAP]
    }
}

impl DirectWriter {
    /// A writer that may use `O_DIRECT` for large outputs.
    pub(super) fn new(file: File) -> Self {
        Self::with(file, Mode::Undecided, 0)
    }

    fn with(file: File, mode: Mode, misalign: usize) -> Self {
        Self { file, buf: Buffer::new(misalign), filled: 0, offset: 0, mode, flight: None, failed: None }
    }

    /// The file underneath (for its permissions).
    pub(super) fn get_ref(&self) -> &File {
        &self.file
    }

    /// Writes everything, stops the writer thread and returns the file (not
    /// yet synced), in buffered mode and positioned at its end.
    pub(super) fn finish(mut self) -> io::Result<File> {
        use std::io::Seek as _;
        self.check()?;
        if self.mode == Mode::Direct {
            self.submit(self.filled / ALIGN * ALIGN)?;
        }
        self.land()?;
        if self.mode == Mode::Direct {
            set_direct(&self.file, false).map_err(io::Error::from)?;
            self.mode = Mode::Buffered;
        }
        self.write_here(self.filled)?;
        self.file.seek(io::SeekFrom::Start(self.offset))?;
        let Self { file, .. } = self;
        Ok(file)
    }

    /// How many blocks went around the page cache so far (after waiting
    /// for the writer thread to write what it holds).
    #[cfg(test)]
    fn direct_writes(&self) -> u64 {
        self.flight.as_ref().map_or(0, |f| {
            let mut g = f.shared.lock();
            while g.waiting.is_some() || g.writing {
                g = f.shared.wait(g);
            }
            g.direct_writes
        })
    }

    /// The first error so far, this thread's or the writer thread's.
    fn check(&self) -> io::Result<()> {
        if let Some(e) = &self.failed {
            return Err(copy_error(e));
        }
        match self.flight.as_ref().and_then(|f| f.shared.lock().error.as_ref().map(copy_error)) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn fail(&mut self, e: io::Error) -> io::Error {
        self.failed.get_or_insert_with(|| copy_error(&e));
        e
    }

    /// Copies from `data` into the buffer, writing the buffer out first if
    /// it is full (so bytes once accepted are never reported as failed).
    fn stage(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check()?;
        if self.filled == CAP {
            self.drain()?;
        }
        let n = data.len().min(CAP - self.filled);
        let at = self.filled;
        self.buf.area_mut()[at..at + n].copy_from_slice(&data[..n]);
        self.filled += n;
        Ok(n)
    }

    /// Writes out the full buffer.
    fn drain(&mut self) -> io::Result<()> {
        if self.mode == Mode::Undecided {
            self.mode = Mode::Buffered;
            // Direct writes must start at an aligned offset: normally 0 (a
            // flush before the first full buffer may have moved it).
            if self.offset.is_multiple_of(ALIGN as u64) && set_direct(&self.file, true).is_ok() {
                match Flight::start(&self.file) {
                    Ok(f) => {
                        self.flight = Some(f);
                        self.mode = Mode::Direct;
                    }
                    Err(_) => {
                        let _ = set_direct(&self.file, false);
                    }
                }
            }
        }
        match self.mode {
            Mode::Direct => self.submit(CAP),
            _ => self.write_here(CAP),
        }
    }

    /// Hands the first `len` buffered bytes (a whole number of blocks) to
    /// the writer thread and keeps the rest in a fresh buffer.
    fn submit(&mut self, len: usize) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        let Some(flight) = &self.flight else { return self.write_here(len) };
        let fresh = match flight.take_spare() {
            Ok(b) => b,
            Err(e) => return Err(self.fail(e)),
        };
        let old = std::mem::replace(&mut self.buf, fresh);
        let rest = self.filled - len;
        self.buf.area_mut()[..rest].copy_from_slice(&old.area()[len..len + rest]);
        flight.put(Block { buf: old, len, offset: self.offset });
        self.filled = rest;
        self.offset += len as u64;
        Ok(())
    }

    /// Waits for the writer thread to write everything handed to it, and
    /// stops it.
    fn land(&mut self) -> io::Result<()> {
        if let Some(flight) = self.flight.take() {
            flight.stop().map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    /// Writes the first `len` buffered bytes on this thread (buffered mode),
    /// and moves the rest to the front; on error, the bytes that did reach
    /// the file leave the buffer too.
    fn write_here(&mut self, len: usize) -> io::Result<()> {
        let mut done = 0;
        let result = loop {
            if done == len {
                break Ok(());
            }
            match self.file.write_at(&self.buf.area()[done..len], self.offset + done as u64) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        let filled = self.filled;
        self.buf.area_mut().copy_within(done..filled, 0);
        self.filled -= done;
        self.offset += done as u64;
        result.map_err(|e| self.fail(e))
    }
}

impl Write for DirectWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        self.stage(data)
    }

    /// Gathers the slices into the buffer (the copy the page cache would
    /// otherwise make, into memory that stays hot).
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut total = 0;
        for b in bufs.iter().filter(|b| !b.is_empty()) {
            match self.stage(b) {
                Ok(n) => {
                    total += n;
                    if n < b.len() {
                        break;
                    }
                }
                Err(e) if total == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(total)
    }

    /// Hands whole blocks to the writer thread while direct writes are on
    /// (a partial block would leave the next offset unaligned), or writes
    /// everything in buffered mode. The rest is written by
    /// [`DirectWriter::finish`]; until then the file has no name anyone
    /// can read it by.
    fn flush(&mut self) -> io::Result<()> {
        self.check()?;
        match self.mode {
            Mode::Direct => self.submit(self.filled / ALIGN * ALIGN),
            _ => self.write_here(self.filled),
        }
    }
}

/// A block for the writer thread: the first `len` bytes of `buf`'s area,
/// at `offset` in the file.
#[derive(Debug)]
struct Block {
    buf: Buffer,
    len: usize,
    offset: u64,
}

/// The writer thread and what it shares with the writer: one block waiting
/// and one being written at most, so three buffers (3 MiB) in all.
#[derive(Debug)]
struct Flight {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    waiting: Option<Block>,
    writing: bool,
    spare: Vec<Buffer>,
    /// Buffers made so far (at most three, with the writer's own).
    made: usize,
    error: Option<io::Error>,
    stop: bool,
    /// Whether the writes still go around the page cache.
    direct: bool,
    /// Blocks written whole while they did.
    direct_writes: u64,
}

impl Default for State {
    fn default() -> Self {
        Self {
            waiting: None,
            writing: false,
            spare: Vec::new(),
            made: 1,
            error: None,
            stop: false,
            direct: true,
            direct_writes: 0,
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, g: std::sync::MutexGuard<'a, State>) -> std::sync::MutexGuard<'a, State> {
        self.changed.wait(g).unwrap_or_else(PoisonError::into_inner)
    }
}

impl Flight {
    fn start(file: &File) -> io::Result<Self> {
        // A second descriptor of the same open file: its O_DIRECT flag is
        // the same, and positional writes need no shared offset.
        let file = file.try_clone()?;
        let shared = Arc::new(Shared::default());
        let for_thread = shared.clone();
        let thread = std::thread::Builder::new()
            .name("e2eb-direct-writer".into())
            .spawn(move || write_loop(&file, &for_thread))?;
        Ok(Self { shared, thread: Some(thread) })
    }

    /// A buffer to fill next: a spare one, a new one while fewer than three
    /// exist, else the one the thread gives back after its write. Fails
    /// with the thread's error, if it had one.
    fn take_spare(&self) -> io::Result<Buffer> {
        let mut g = self.shared.lock();
        loop {
            if let Some(e) = &g.error {
                return Err(copy_error(e));
            }
            if g.waiting.is_none() {
                if let Some(b) = g.spare.pop() {
                    return Ok(b);
                }
                if g.made < 3 {
                    g.made += 1;
                    return Ok(Buffer::new(0));
                }
            }
            g = self.shared.wait(g);
        }
    }

    fn put(&self, block: Block) {
        let mut g = self.shared.lock();
        debug_assert!(g.waiting.is_none(), "take_spare waits for the slot");
        g.waiting = Some(block);
        drop(g);
        self.shared.changed.notify_all();
    }

    /// Waits until every block is written, ends the thread and returns its
    /// error, if any.
    fn stop(mut self) -> io::Result<()> {
        {
            let mut g = self.shared.lock();
            g.stop = true;
            self.shared.changed.notify_all();
            while g.waiting.is_some() || g.writing {
                g = self.shared.wait(g);
            }
        }
        if let Some(t) = self.thread.take() {
            t.join().map_err(|_| io::Error::other("the direct-write thread panicked"))?;
        }
        match self.shared.lock().error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Flight {
    /// On an error path (the writer dropped without `finish`): the thread
    /// ends after the block it is writing, if any.
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let mut g = self.shared.lock();
            // Nobody will name the file: the block not yet started is
            // dropped (and wiped) rather than written.
            g.waiting = None;
            g.stop = true;
            drop(g);
            self.shared.changed.notify_all();
            let _ = t.join();
        }
    }
}

/// The writer thread: writes each block handed to it at its offset, falling
/// back to buffered writes where a direct one is refused; after an error it
/// only hands buffers back.
fn write_loop(file: &File, shared: &Shared) {
    // If this thread dies, whoever waits for it hears so instead of
    // waiting for ever.
    struct Obituary<'a>(&'a Shared);
    impl Drop for Obituary<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                let mut g = self.0.lock();
                g.writing = false;
                g.waiting = None;
                g.error.get_or_insert_with(|| io::Error::other("the direct-write thread panicked"));
                drop(g);
                self.0.changed.notify_all();
            }
        }
    }
    let _obituary = Obituary(shared);
    loop {
        let block = {
            let mut g = shared.lock();
            loop {
                if let Some(b) = g.waiting.take() {
                    g.writing = true;
                    break Some(b);
                }
                if g.stop {
                    break None;
                }
                g = shared.wait(g);
            }
        };
        // The waiting slot is free again.
        shared.changed.notify_all();
        let Some(block) = block else { return };
        let failed = shared.lock().error.is_some();
        let result = if failed { Ok(()) } else { write_block(file, &block, shared) };
        let mut g = shared.lock();
        g.writing = false;
        g.spare.push(block.buf);
        if let Err(e) = result {
            g.error.get_or_insert(e);
        }
        drop(g);
        shared.changed.notify_all();
    }
}

fn write_block(file: &File, block: &Block, shared: &Shared) -> io::Result<()> {
    let data = &block.buf.area()[..block.len];
    let mut done = 0;
    let mut direct_throughout = shared.lock().direct;
    while done < data.len() {
        match file.write_at(&data[done..], block.offset + done as u64) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                done += n;
                // A short direct write leaves the offset unaligned.
                if !n.is_multiple_of(ALIGN) {
                    go_buffered(file, shared);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Refused for its alignment or by the filesystem: the same
            // bytes again, buffered.
            Err(e) if refused(&e) && shared.lock().direct => go_buffered(file, shared),
            Err(e) => return Err(e),
        }
    }
    let mut g = shared.lock();
    direct_throughout &= g.direct;
    g.direct_writes += u64::from(direct_throughout);
    Ok(())
}

fn go_buffered(file: &File, shared: &Shared) {
    let mut g = shared.lock();
    if g.direct {
        g.direct = false;
        // Clearing the flag cannot fail where setting it worked; if it did,
        // the retried write reports the refusal.
        let _ = set_direct(file, false);
    }
}

fn refused(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(nix::libc::EINVAL | nix::libc::EOPNOTSUPP))
}

/// A copy of `e` for the next caller (the first keeps the original); the
/// OS error number survives, so the message still says which it was.
fn copy_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

/// Turns `O_DIRECT` on or off for `file`.
#[cfg(target_os = "linux")]
fn set_direct(file: &File, on: bool) -> nix::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(file, FcntlArg::F_GETFL)?);
    let flags = if on { flags | OFlag::O_DIRECT } else { flags - OFlag::O_DIRECT };
    fcntl(file, FcntlArg::F_SETFL(flags)).map(drop)
}

/// Direct writes are used on Linux only; elsewhere every write is buffered.
#[cfg(not(target_os = "linux"))]
fn set_direct(_: &File, on: bool) -> nix::Result<()> {
    if on { Err(nix::Error::ENOTSUP) } else { Ok(()) }
}

#[cfg(test)]
mod tests;
