//! The decrypting end that crypt15 and crypt14 share (design §4.1, §7). Both
//! bodies are AES-256-GCM (16-byte IV, no AAD) over a payload that is either
//! one zlib stream or stored as is, followed by the tag and, for a single
//! file, the MD5 of every preceding byte. The formats differ in the key and
//! IV (each builds the [`GcmStream`] it hands to [`BodyOpener::new`]), in how
//! they read the body (crypt15 pipelines a large one), and in how a tag that
//! does not verify is explained (each checks [`BodyEnd`] its own way). The
//! rest is here, once:
//!
//! - [`BodyOpener`]: MD5 and GCM over the body, in order;
//! - [`HOLD`] and [`BodyOpener::finish`]: the last 32 bytes are held back
//!   until the end of the stream tells tag and MD5 apart (single file) from
//!   16 bytes of ciphertext and the tag (multi-file); then the tag is checked;
//! - [`PayloadWriter`]: where decrypted payload bytes go, straight out or
//!   through zlib into a scratch buffer wiped on drop, with the checks on the
//!   inflated stream (corrupt, incomplete, trailing bytes).
//!
//! Errors are [`PayloadError`], which each format turns into its own
//! `DecryptError` ([`payload_error_into`]).

use std::io::{self, Write};

use flate2::{Decompress, FlushDecompress, Status};
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::crypt15::{MD5_LEN, Variant, begins_with_zlib_header};
use crate::gcm_stream::{GcmStream, MessageTooLong, TAG_LEN};
use crate::io_util::ScratchBuf;

/// The bytes held back at the end of a body: tag and MD5, or (multi-file)
/// 16 bytes of ciphertext and the tag; only the end of the stream tells.
pub(crate) const HOLD: usize = TAG_LEN + MD5_LEN;

/// Why the shared part of a decryption failed; each format's
/// `DecryptError` has a variant of the same name for each.
#[derive(Debug)]
pub(crate) enum PayloadError {
    /// Too short to hold a tag: the body bytes found.
    Truncated { found: u64 },
    /// Authenticated, but the zlib stream is bad at this payload offset.
    CorruptPayload { offset: u64 },
    /// Authenticated, but the zlib stream does not end.
    IncompletePayload,
    /// Authenticated, but this many bytes follow the end of the zlib stream.
    TrailingData { extra: u64 },
    /// Over GCM's 64 GiB limit.
    TooLong(MessageTooLong),
    /// Writing failed.
    Io(io::Error),
}

/// `impl From<PayloadError> for $error`: a format's `DecryptError`, which
/// has a variant of the same name and fields for each of [`PayloadError`]'s.
macro_rules! payload_error_into {
    ($error:ty) => {
        impl From<$crate::backup::payload::PayloadError> for $error {
            fn from(e: $crate::backup::payload::PayloadError) -> Self {
                use $crate::backup::payload::PayloadError as P;
                match e {
                    P::Truncated { found } => Self::Truncated { found },
                    P::CorruptPayload { offset } => Self::CorruptPayload { offset },
                    P::IncompletePayload => Self::IncompletePayload,
                    P::TrailingData { extra } => Self::TrailingData { extra },
                    P::TooLong(e) => Self::TooLong(e),
                    P::Io(e) => Self::Io(e),
                }
            }
        }
    };
}
pub(crate) use payload_error_into;

impl From<io::Error> for PayloadError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<MessageTooLong> for PayloadError {
    fn from(e: MessageTooLong) -> Self {
        Self::TooLong(e)
    }
}

/// MD5 and GCM over the encrypted body, fed in order.
pub(crate) struct BodyOpener {
    md5: Md5,
    gcm: GcmStream,
}

/// How a body ended ([`BodyOpener::finish`]).
pub(crate) struct BodyEnd {
    /// The layout: [`Variant::SingleFile`] exactly when the MD5 trailer is
    /// intact.
    pub(crate) variant: Variant,
    /// Whether the tag verified.
    pub(crate) authentic: bool,
    /// Encrypted body bytes, without tag and MD5.
    pub(crate) ciphertext_len: u64,
}

impl BodyOpener {
    /// An opener with the cipher of a format (its key and IV), whose MD5
    /// starts with the raw prefix bytes.
    pub(crate) fn new(gcm: GcmStream, raw_prefix: &[u8]) -> Self {
        let mut md5 = Md5::new();
        md5.update(raw_prefix);
        Self { md5, gcm }
    }

    /// Hashes and decrypts the next ciphertext bytes in place.
    pub(crate) fn open(&mut self, chunk: &mut [u8]) -> Result<(), MessageTooLong> {
        self.md5.update(&*chunk);
        self.gcm.decrypt(chunk)
    }

    /// The end of a body of `body_len` bytes whose last `end.len()` (at most
    /// [`HOLD`]) were held back: if they end with the MD5 of all before, the
    /// file is a single file and the tag precedes the MD5; otherwise the last
    /// 16 bytes are the tag, and the bytes before it are decrypted into
    /// `payload`. `end` is wiped.
    pub(crate) fn finish<W: Write + ?Sized>(
        self,
        end: &mut [u8],
        body_len: u64,
        payload: &mut PayloadWriter<'_, W>,
    ) -> Result<BodyEnd, PayloadError> {
        let held = end.len();
        if held < TAG_LEN {
            return Err(PayloadError::Truncated { found: body_len });
        }
        let Self { mut md5, mut gcm } = self;
        let md5_intact = held == HOLD && {
            md5.update(&end[..TAG_LEN]);
            bool::from(md5.finalize().as_slice().ct_eq(&end[TAG_LEN..]))
        };
        let ended = if md5_intact {
            Ok((Variant::SingleFile, gcm.verify(&end[..TAG_LEN])))
        } else {
            let (ct, tag) = end.split_at_mut(held - TAG_LEN);
            gcm.decrypt(ct)
                .map_err(PayloadError::from)
                .and_then(|()| payload.push(ct))
                .map(|()| (Variant::MultiFile, gcm.verify(tag)))
        };
        end.zeroize();
        let (variant, authentic) = ended?;
        let trailer = if md5_intact { HOLD } else { TAG_LEN };
        Ok(BodyEnd { variant, authentic, ciphertext_len: body_len - trailer as u64 })
    }
}

/// Where decrypted payload bytes go: straight out, or through zlib. The
/// choice is made from the first two payload bytes.
enum Sink {
    Undecided,
    Raw,
    Inflate { z: Box<Decompress>, ended: bool, failed: Option<u64> },
}

/// The decrypted payload on its way to the caller's writer.
pub(crate) struct PayloadWriter<'a, W: ?Sized> {
    sink: Sink,
    out: &'a mut W,
    /// Inflate output, wiped on drop; allocated when the payload turns out
    /// to be zlib.
    scratch: Option<ScratchBuf>,
    /// Size of `scratch` when it is allocated.
    scratch_len: usize,
    /// The first payload bytes, until there are two to decide on.
    first: Vec<u8>,
    written: u64,
    trailing: u64,
}

impl<'a, W: Write + ?Sized> PayloadWriter<'a, W> {
    /// A writer into `out` that inflates through a scratch buffer of
    /// `scratch_len` bytes.
    pub(crate) fn new(out: &'a mut W, scratch_len: usize) -> Self {
        Self {
            sink: Sink::Undecided,
            out,
            scratch: None,
            scratch_len,
            first: Vec::with_capacity(2),
            written: 0,
            trailing: 0,
        }
    }

    /// Sets the size of the scratch buffer, if it is not allocated yet.
    pub(crate) fn set_scratch_len(&mut self, len: usize) {
        self.scratch_len = len;
    }

    /// Takes the next decrypted payload bytes.
    pub(crate) fn push(&mut self, data: &[u8]) -> Result<(), PayloadError> {
        if let Sink::Undecided = self.sink {
            // Decide from the first two payload bytes; hold them until both are here.
            let take = (2 - self.first.len()).min(data.len());
            self.first.extend_from_slice(&data[..take]);
            if self.first.len() < 2 {
                return Ok(());
            }
            self.sink = if begins_with_zlib_header(&self.first) {
                Sink::Inflate { z: Box::new(Decompress::new(true)), ended: false, failed: None }
            } else {
                Sink::Raw
            };
            self.feed_first()?;
            return self.feed(&data[take..]);
        }
        self.feed(data)
    }

    /// Feeds the held first bytes to the sink just decided, and wipes them.
    fn feed_first(&mut self) -> Result<(), PayloadError> {
        let mut head = std::mem::take(&mut self.first);
        let fed = self.feed(&head);
        head.zeroize();
        fed
    }

    fn feed(&mut self, data: &[u8]) -> Result<(), PayloadError> {
        match &mut self.sink {
            Sink::Undecided => Ok(()),
            Sink::Raw => {
                self.out.write_all(data)?;
                self.written += data.len() as u64;
                Ok(())
            }
            Sink::Inflate { z, ended, failed } => {
                if failed.is_some() {
                    return Ok(());
                }
                if *ended {
                    self.trailing += data.len() as u64;
                    return Ok(());
                }
                let len = self.scratch_len;
                let scratch = self.scratch.get_or_insert_with(|| ScratchBuf::new(len));
                let mut consumed = 0usize;
                while consumed < data.len() {
                    let (ib, ob) = (z.total_in(), z.total_out());
                    match z.decompress(&data[consumed..], scratch.space(), FlushDecompress::None) {
                        Ok(status) => {
                            consumed += (z.total_in() - ib) as usize;
                            let produced = (z.total_out() - ob) as usize;
                            self.out.write_all(scratch.wrote(produced))?;
                            self.written += produced as u64;
                            if status == Status::StreamEnd {
                                *ended = true;
                                self.trailing += (data.len() - consumed) as u64;
                                break;
                            }
                            if produced == 0 && z.total_in() == ib {
                                break;
                            }
                        }
                        Err(_) => {
                            // Keep going through the body: the tag decides
                            // whether this is damage or a bad payload.
                            *failed = Some(z.total_in());
                            break;
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// Whether the payload was compressed, and the plaintext bytes written;
    /// call once the tag has verified. With `flush`, the writer is flushed
    /// before the zlib stream is checked (crypt14's reader does; crypt15's
    /// leaves flushing to its caller).
    pub(crate) fn finish(mut self, flush: bool) -> Result<(bool, u64), PayloadError> {
        if let Sink::Undecided = self.sink {
            // Fewer than two payload bytes: nothing zlib could have made.
            self.sink = Sink::Raw;
            self.feed_first()?;
        }
        if flush {
            self.out.flush()?;
        }
        match self.sink {
            Sink::Inflate { failed: Some(offset), .. } => Err(PayloadError::CorruptPayload { offset }),
            Sink::Inflate { ended: false, .. } => Err(PayloadError::IncompletePayload),
            Sink::Inflate { .. } if self.trailing > 0 => Err(PayloadError::TrailingData { extra: self.trailing }),
            Sink::Inflate { .. } => Ok((true, self.written)),
            Sink::Raw | Sink::Undecided => Ok((false, self.written)),
        }
    }
}
