//! Input readers and writers shared by the fuzz targets (design §8): the
//! fixed, public fuzz keys, a deterministic RNG, the fixed-layout field
//! [`Reader`]/[`Writer`] pair every structured input is built on, and the
//! [`Mutation`]s the tamper targets apply to a valid file.

use std::fmt::Debug;

use aes::Aes256;
use aes::cipher::{KeyIvInit, StreamCipher};
use arbitrary::Unstructured;
use md5::Digest;
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;

use crate::key::{BackupKey, KEY_LEN};

/// The fixed, public key the decryption targets use (not a secret: fuzz
/// inputs and seeds are encrypted under it on purpose).
pub const FUZZ_KEY: [u8; KEY_LEN] = *b"e2eb fuzzing key, not a secret!!";

/// A second public key, for "wrong key" checks.
pub const OTHER_KEY: [u8; KEY_LEN] = *b"e2eb fuzzing key, the other one!";

/// [`FUZZ_KEY`] as a backup key.
pub fn fuzz_key() -> BackupKey {
    BackupKey::from_bytes(FUZZ_KEY)
}

pub(super) fn other_key() -> BackupKey {
    BackupKey::from_bytes(OTHER_KEY)
}

// ------------------------------------------------------------------ deterministic randomness

pub(super) type Ctr = ctr::Ctr128BE<Aes256>;

/// A deterministic random generator for fuzzing (AES-256-CTR keyed by
/// SHA-256 of a label): OPAQUE and the site need a `CryptoRng`, and a
/// crash must reproduce. Never use it for real secrets.
#[derive(Clone)]
pub struct FuzzRng(Ctr);

impl Debug for FuzzRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FuzzRng")
    }
}

impl FuzzRng {
    /// A generator whose stream depends only on `label`.
    pub fn new(label: &[u8]) -> Self {
        let key: [u8; 32] = <Sha256 as Digest>::digest(label).into();
        Self(Ctr::new(&key.into(), &[0u8; 16].into()))
    }
}

impl RngCore for FuzzRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0);
        self.0.apply_keystream(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

// Deterministic on purpose (reproducible crashes); keyed AES-CTR is a sound
// stream, and nothing produced under it is a real secret.
impl CryptoRng for FuzzRng {}

// ------------------------------------------------------------------ input reading and writing

/// Reads fixed-layout fields from fuzz bytes; missing bytes read as zero.
pub(super) struct Reader<'a> {
    u: Unstructured<'a>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Self { u: Unstructured::new(data) }
    }
    pub(super) fn u8(&mut self) -> u8 {
        let [b] = self.array::<1>();
        b
    }
    pub(super) fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }
    pub(super) fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }
    pub(super) fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        // fill_buffer pads with zeros when the input runs out; it cannot fail.
        let _ = self.u.fill_buffer(&mut out);
        out
    }
    /// A length byte (capped at `max`) then that many bytes (fewer at the end).
    pub(super) fn short(&mut self, max: usize) -> &'a [u8] {
        let n = usize::from(self.u8()).min(max).min(self.u.len());
        self.u.bytes(n).unwrap_or_default()
    }
    pub(super) fn rest(self) -> &'a [u8] {
        self.u.take_rest()
    }
}

/// Writes the bytes a [`Reader`] reads back (for seeds).
#[derive(Default)]
pub(super) struct Writer(pub(super) Vec<u8>);

impl Writer {
    pub(super) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(super) fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(super) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(super) fn bytes(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }
    pub(super) fn short(&mut self, v: &[u8], max: usize) {
        let v = &v[..v.len().min(max).min(255)];
        // At most 255 by the line above.
        self.0.push(v.len() as u8);
        self.0.extend_from_slice(v);
    }
}

pub(super) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ------------------------------------------------------------------ edits

/// One edit of a valid file, for the targets that get behind a MAC or a
/// commitment by encrypting first. Positions are taken modulo the file
/// length, so every edit lands somewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// Leave the file alone (it must then be accepted).
    None,
    /// Flip bit `bit % 8` of byte `pos`.
    FlipBit {
        /// Byte position.
        pos: u16,
        /// Bit number.
        bit: u8,
    },
    /// Set byte `pos` to `value`.
    SetByte {
        /// Byte position.
        pos: u16,
        /// New value.
        value: u8,
    },
    /// Keep only the first `keep % (len + 1)` bytes.
    Truncate {
        /// Bytes kept.
        keep: u16,
    },
    /// Remove `len % 64 + 1` bytes at `pos`.
    Delete {
        /// Byte position.
        pos: u16,
        /// Count.
        len: u16,
    },
    /// Insert `len % 64 + 1` copies of `value` at `pos`.
    Insert {
        /// Byte position.
        pos: u16,
        /// Count.
        len: u16,
        /// Byte inserted.
        value: u8,
    },
    /// Swap two ranges of `len` bytes; `len == 0` swaps two of the format's
    /// units (v2: sealed chunks; crypt15 and metadata: 16-byte blocks of the body).
    Swap {
        /// First range.
        a: u16,
        /// Second range.
        b: u16,
        /// Length (0 = format unit).
        len: u16,
    },
    /// A format-aware header edit: crypt15 re-encodes its prefix with the
    /// app version changed; v2 changes its header's app version and keeps
    /// the header length field right; the metadata blob sets its first byte.
    EditHeader {
        /// Byte mixed into the edit.
        value: u8,
    },
}

/// Bytes a [`Mutation`] takes in an input.
pub const MUTATION_LEN: usize = 8;

impl Mutation {
    pub(super) fn read(r: &mut Reader<'_>) -> Self {
        let kind = r.u8() % 8;
        let (a, b, c, value) = (r.u16(), r.u16(), r.u16(), r.u8());
        match kind {
            0 => Self::None,
            1 => Self::FlipBit { pos: a, bit: value % 8 },
            2 => Self::SetByte { pos: a, value },
            3 => Self::Truncate { keep: a },
            4 => Self::Delete { pos: a, len: b },
            5 => Self::Insert { pos: a, len: b, value },
            6 => Self::Swap { a, b, len: c },
            _ => Self::EditHeader { value },
        }
    }

    /// The bytes that decode to this edit.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, a, b, c, value) = match *self {
            Self::None => (0, 0, 0, 0, 0),
            Self::FlipBit { pos, bit } => (1, pos, 0, 0, bit),
            Self::SetByte { pos, value } => (2, pos, 0, 0, value),
            Self::Truncate { keep } => (3, keep, 0, 0, 0),
            Self::Delete { pos, len } => (4, pos, len, 0, 0),
            Self::Insert { pos, len, value } => (5, pos, len, 0, value),
            Self::Swap { a, b, len } => (6, a, b, len, 0),
            Self::EditHeader { value } => (7, 0, 0, 0, value),
        };
        let mut w = Writer::default();
        w.u8(kind);
        w.u16(a);
        w.u16(b);
        w.u16(c);
        w.u8(value);
        w.0
    }

    /// Applies the byte-level edits; `unit` is the format's unit for
    /// [`Mutation::Swap`] with `len == 0`, starting at `body`.
    /// [`Mutation::EditHeader`] is left to the format and is a no-op here.
    pub(super) fn apply(&self, file: &[u8], body: usize, unit: usize) -> Vec<u8> {
        let n = file.len();
        let mut v = file.to_vec();
        match *self {
            Self::None | Self::EditHeader { .. } => {}
            _ if n == 0 => {}
            Self::FlipBit { pos, bit } => v[usize::from(pos) % n] ^= 1 << (bit % 8),
            Self::SetByte { pos, value } => v[usize::from(pos) % n] = value,
            Self::Truncate { keep } => v.truncate(usize::from(keep) % (n + 1)),
            Self::Delete { pos, len } => {
                let p = usize::from(pos) % n;
                let e = (p + usize::from(len % 64) + 1).min(n);
                v.drain(p..e);
            }
            Self::Insert { pos, len, value } => {
                let p = usize::from(pos) % (n + 1);
                v.splice(p..p, std::iter::repeat_n(value, usize::from(len % 64) + 1));
            }
            Self::Swap { a, b, len } => {
                let (a, b, len) = if len == 0 {
                    let units = n.saturating_sub(body) / unit.max(1);
                    if units < 2 {
                        return v;
                    }
                    let (i, j) = (usize::from(a) % units, usize::from(b) % units);
                    (body + i * unit, body + j * unit, unit)
                } else {
                    let (a, b) = (usize::from(a) % n, usize::from(b) % n);
                    (a, b, usize::from(len).min(n - a).min(n - b))
                };
                let (lo, hi) = (a.min(b), a.max(b));
                if lo + len <= hi {
                    let (first, second) = v.split_at_mut(hi);
                    first[lo..lo + len].swap_with_slice(&mut second[..len]);
                }
            }
        }
        v
    }
}
