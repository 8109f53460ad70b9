//! Fuzz entry points (`DESIGN.md` §8): one function per fuzz target, each
//! taking the fuzzer's bytes and **asserting** the target's property, so a
//! violation is a panic — which is what libFuzzer reports as a crash.
//!
//! The module is compiled always (no feature, no nightly), so `cargo test`
//! replays every committed corpus and crash input on stable
//! (`harness/cli/tests/fuzz_replay.rs`); the cargo-fuzz crate under `fuzz/`
//! is only a set of one-line wrappers around these functions. [`run`]
//! dispatches by target name and [`TARGETS`] lists them with their
//! dictionaries.
//!
//! # Targets and what they assert
//!
//! | target | property |
//! | --- | --- |
//! | [`key_parse`] | the 64-digit parser agrees with a small independent model (position of the first bad character, number of digits, value) and formatting round-trips |
//! | [`keyfile`] | the Android key file reader accepts exactly the 27-byte header plus 32 bytes, names the first bad offset, and writing reads back |
//! | [`crypt15_prefix`] | in-memory and streaming prefix parsers agree; format detection agrees with the parsers; a parsed prefix re-encodes (as is, and from its fields) to the same header |
//! | [`crypt15_decrypt`] | decrypting arbitrary bytes under a fixed key never panics and every verdict agrees with an independent re-check (RustCrypto `aes-gcm` with a 16-byte IV, MD5, zlib) |
//! | [`crypt15_roundtrip`] | encrypt-then-decrypt gives the plaintext back, and the file agrees with the reference re-check |
//! | [`crypt15_tamper`] | a valid file, then one fuzz-chosen edit: accepted only if the authenticated part (IV, ciphertext, tag) is unchanged; an edit of the unauthenticated prefix with a fixed-up MD5 **is** accepted (the known finding of §4.1) |
//! | [`v2_header`] | in-memory and streaming header parsers agree; format detection agrees with the parsers; the header re-encodes to the same fields |
//! | [`v2_decrypt`] | streaming `decrypt`, in-memory `decrypt_slice` and random-access `V2Reader` agree (success, failure kind, plaintext) on arbitrary bytes |
//! | [`v2_tamper`] | gets behind the commitment: a valid file encrypted from the input, then one edit; the three readers agree, a v2 file is accepted only if unchanged, and the stream never writes unauthenticated bytes |
//! | [`metadata_blob`] | the blob reader agrees with an independent model (markers, lengths, HMAC, CBC, PKCS#7), on arbitrary bytes and on valid blobs then edited |
//! | [`vault_wire`] | every vault message decodes to a typed error or to a value that re-encodes to itself; a site answers any bytes with a decodable reply and commits nothing for undecodable input |
//! | [`vault_site`] | arbitrary operation sequences against one site agree with a small reference model (attempts, lockout, version, owner) and never answer more KE2s between resets than the limit |
//! | [`fleet_schedule`] | short fault schedules on a five-site fleet: KE2 answers between resets ≤ limit, a locked record never answers a login, an acknowledged registration survives |
//! | [`aead_differential`] | RustCrypto AES-256-GCM, our streaming [`GcmStream`], and a second implementation supplied by the caller (`ring` in `fuzz/`) agree in both directions |
//! | [`vectors_json`] | JSON parsing never panics and a parsed value serialises and parses back to itself ([`json_roundtrip`] does the same for a typed schema) |
//!
//! # Input layouts
//!
//! Structured targets read their bytes through [`arbitrary::Unstructured`]
//! with a fixed, documented layout (fixed-size fields first, the plaintext
//! last), so that seeds can be written on purpose: every input type here has
//! an `encode` method that produces the bytes its decoder reads back, and the
//! seed generator (`e2eb::fuzz_seed`, run by `e2eb fuzz seed`) uses them.
//! Short inputs are padded with zeros, so every byte string is a valid input.
//!
//! Targets that carry two styles (raw bytes, or a valid file then an edit)
//! take a leading mode byte: even = raw, odd = structured.
//!
//! Keys are fixed and public ([`FUZZ_KEY`]); randomness is a deterministic
//! AES-CTR stream ([`FuzzRng`]) so every crash reproduces.

// The point of these functions is to panic when a property fails: that is
// how the fuzzer (and the replay test) learns about it.
#![allow(clippy::panic)]

use std::cell::RefCell;
use std::fmt::Debug;
use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aes::Aes256;
use aes::cipher::{BlockDecryptMut, KeyIvInit, StreamCipher, block_padding::NoPadding};
use aes_gcm::aead::{Aead, AeadInPlace, KeyInit, Payload};
use aes_gcm::aes::cipher::consts::U16;
use aes_gcm::{Aes256Gcm, AesGcm};
use arbitrary::Unstructured;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use flate2::{Decompress, FlushDecompress, Status};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use opaque_ke::ServerSetup;
use prost::Message;
use rand_core::{CryptoRng, RngCore};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::backup::{crypt15, metadata, v2};
use crate::cobblestone::{self, BodyError, SALT_LEN, SEALED_CHUNK_LEN};
use crate::gcm_stream::GcmStream;
use crate::kdf;
use crate::key::{ANDROID_KEYFILE_HEADER, ANDROID_KEYFILE_LEN, BackupKey, KEY_LEN, KeyFileError, KeyParseError};
use crate::proto::{BackupMetadata, Compression, PasskeyMetadata, V2Header};
use crate::vault::client::{self, ClientError, VaultClient};
use crate::vault::model::{AccountModel, Charged, ModelOutcome};
use crate::vault::site::{Ledger, MemoryLedger, Site, owner_hash};
use crate::vault::state::{self, AccountRecord};
use crate::vault::wire::{self, ErrorCode, Reply, Request, reply, request};
use crate::vault::{KsfProfile, Suite};

// ------------------------------------------------------------------ catalogue

/// A fuzz target: its name (the file `fuzz/fuzz_targets/<name>.rs`, the
/// folders `fuzz/corpus/<name>/` and `fuzz/regressions/<name>/`) and the
/// dictionary to give libFuzzer (`fuzz/dict/<dict>.dict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Target name.
    pub name: &'static str,
    /// Dictionary file stem under `fuzz/dict/`, if any.
    pub dict: Option<&'static str>,
    /// A decoder target, held to the ≥ 5000 execs/s goal of `DESIGN.md` §9
    /// (state-machine targets run whole protocols per input and are slower by design).
    pub decoder: bool,
}

const fn target(name: &'static str, dict: Option<&'static str>, decoder: bool) -> Target {
    Target { name, dict, decoder }
}

/// Every fuzz target, in the order reports list them.
pub const TARGETS: &[Target] = &[
    target("key_parse", Some("key"), true),
    target("keyfile", Some("key"), true),
    target("crypt15_prefix", Some("crypt15"), true),
    target("crypt15_decrypt", Some("crypt15"), true),
    target("crypt15_roundtrip", Some("crypt15"), false),
    target("crypt15_tamper", Some("crypt15"), false),
    target("v2_header", Some("v2"), true),
    target("v2_decrypt", Some("v2"), true),
    target("v2_tamper", Some("v2"), false),
    target("metadata_blob", Some("metadata"), true),
    target("vault_wire", Some("vault"), true),
    target("vault_site", None, false),
    target("fleet_schedule", None, false),
    target("aead_differential", None, false),
    target("vectors_json", Some("json"), true),
];

/// Runs the entry point of target `name` on `data`; false when no target
/// has that name. [`aead_differential`] runs without a second
/// implementation here (the `fuzz/` wrapper passes `ring`), and
/// [`vectors_json`] checks untyped JSON (the wrapper adds the typed schema).
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "key_parse" => key_parse(data),
        "keyfile" => keyfile(data),
        "crypt15_prefix" => crypt15_prefix(data),
        "crypt15_decrypt" => crypt15_decrypt(data),
        "crypt15_roundtrip" => crypt15_roundtrip(data),
        "crypt15_tamper" => crypt15_tamper(data),
        "v2_header" => v2_header(data),
        "v2_decrypt" => v2_decrypt(data),
        "v2_tamper" => v2_tamper(data),
        "metadata_blob" => metadata_blob(data),
        "vault_wire" => vault_wire(data),
        "vault_site" => vault_site(data),
        "fleet_schedule" => fleet_schedule(data),
        "aead_differential" => aead_differential(data, None),
        "vectors_json" => vectors_json(data),
        _ => return false,
    }
    true
}

/// The fixed, public key the decryption targets use (not a secret: fuzz
/// inputs and seeds are encrypted under it on purpose).
pub const FUZZ_KEY: [u8; KEY_LEN] = *b"e2eb fuzzing key, not a secret!!";

/// A second public key, for "wrong key" checks.
pub const OTHER_KEY: [u8; KEY_LEN] = *b"e2eb fuzzing key, the other one!";

/// [`FUZZ_KEY`] as a backup key.
pub fn fuzz_key() -> BackupKey {
    BackupKey::from_bytes(FUZZ_KEY)
}

fn other_key() -> BackupKey {
    BackupKey::from_bytes(OTHER_KEY)
}

// ------------------------------------------------------------------ deterministic randomness

type Ctr = ctr::Ctr128BE<Aes256>;

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
struct Reader<'a> {
    u: Unstructured<'a>,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { u: Unstructured::new(data) }
    }
    fn u8(&mut self) -> u8 {
        let [b] = self.array::<1>();
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.array())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.array())
    }
    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        // fill_buffer pads with zeros when the input runs out; it cannot fail.
        let _ = self.u.fill_buffer(&mut out);
        out
    }
    /// A length byte (capped at `max`) then that many bytes (fewer at the end).
    fn short(&mut self, max: usize) -> &'a [u8] {
        let n = usize::from(self.u8()).min(max).min(self.u.len());
        self.u.bytes(n).unwrap_or_default()
    }
    fn rest(self) -> &'a [u8] {
        self.u.take_rest()
    }
}

/// Writes the bytes a [`Reader`] reads back (for seeds).
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }
    fn short(&mut self, v: &[u8], max: usize) {
        let v = &v[..v.len().min(max).min(255)];
        // At most 255 by the line above.
        self.0.push(v.len() as u8);
        self.0.extend_from_slice(v);
    }
}

fn lossy(bytes: &[u8]) -> String {
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
    fn read(r: &mut Reader<'_>) -> Self {
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
    fn apply(&self, file: &[u8], body: usize, unit: usize) -> Vec<u8> {
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

// ------------------------------------------------------------------ key

/// Target `key_parse`: [`BackupKey::parse_digits`] on the input as (lossy)
/// UTF-8, checked against an independent model: the first character that
/// is neither an ASCII hex digit, whitespace nor a dash is reported at its
/// 1-based position; otherwise exactly 64 digits parse to the key they spell,
/// and anything else is `WrongLength` with the digit count. A parsed key
/// formats (digits, groups, grid, upper case with dashes) and parses back;
/// errors and `Debug` never echo the digits. The key-file reader never panics
/// and, without the Java magic, agrees with the digit parser.
pub fn key_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let result = BackupKey::parse_digits(&text);
    let mut digits = String::new();
    let mut bad = None;
    for (i, c) in text.chars().enumerate() {
        if c.is_whitespace() || c == '-' {
            continue;
        }
        if c.is_ascii_hexdigit() {
            digits.push(c.to_ascii_lowercase());
        } else {
            bad = Some(i + 1);
            break;
        }
    }
    match (bad, &result) {
        (Some(p), Err(KeyParseError::InvalidCharacter { position })) => assert_eq!(p, *position),
        (None, Err(KeyParseError::WrongLength { found })) => {
            assert_eq!(*found, digits.len());
            assert_ne!(*found, 64, "64 valid digits were refused");
        }
        (None, Ok(k)) => {
            assert_eq!(digits.len(), 64);
            assert_eq!(k.to_digits().as_str(), digits);
            for form in [k.to_groups(), k.to_grid()] {
                assert_eq!(BackupKey::parse_digits(&form).as_ref(), Ok(k));
            }
            let shouted = k.to_groups().replace(' ', "-").to_uppercase();
            assert_eq!(BackupKey::parse_digits(&shouted).as_ref(), Ok(k));
            assert_eq!(k.to_grid().lines().count(), 4);
            assert!(!format!("{k:?}").contains(&digits[..8]), "Debug shows the key");
        }
        (model, got) => panic!("key parser: model says first bad character at {model:?}, parser gave {got:?}"),
    }
    if let Err(e) = &result
        && digits.len() >= 8
    {
        let shown = format!("{e} {e:?}").to_ascii_lowercase();
        assert!(!shown.contains(&digits[..8]), "the error echoes the key: {shown}");
    }
    let from_file = BackupKey::from_key_file_bytes(data);
    if !data.starts_with(&ANDROID_KEYFILE_HEADER[..4]) {
        assert_eq!(from_file, result.map_err(KeyFileError::NotAKey));
    }
}

/// Target `keyfile`: [`BackupKey::from_android_keyfile`] accepts exactly
/// 59 bytes starting with the Java `byte[32]` header, reports the wrong
/// length or the first differing header offset otherwise, and what it reads
/// writes back byte for byte; a key made from the input's first 32 bytes
/// writes a file that reads back (also through `from_key_file_bytes`).
pub fn keyfile(data: &[u8]) {
    let read = BackupKey::from_android_keyfile(data);
    if data.len() != ANDROID_KEYFILE_LEN {
        assert_eq!(read, Err(KeyFileError::WrongLength { found: data.len(), expected: ANDROID_KEYFILE_LEN }));
    } else if let Some(offset) = data.iter().zip(ANDROID_KEYFILE_HEADER.iter()).position(|(a, b)| a != b) {
        assert_eq!(read, Err(KeyFileError::BadHeader { offset }));
    } else {
        match &read {
            Ok(k) => {
                assert_eq!(k.to_android_keyfile().as_slice(), data);
                assert_eq!(BackupKey::from_key_file_bytes(data).as_ref(), Ok(k));
            }
            Err(e) => panic!("a well-formed key file was refused: {e:?}"),
        }
    }
    if data.starts_with(&ANDROID_KEYFILE_HEADER[..4]) {
        assert_eq!(BackupKey::from_key_file_bytes(data), read);
    }
    let mut raw = [0u8; KEY_LEN];
    let n = data.len().min(KEY_LEN);
    raw[..n].copy_from_slice(&data[..n]);
    let key = BackupKey::from_bytes(raw);
    let file = key.to_android_keyfile();
    assert_eq!(file.len(), ANDROID_KEYFILE_LEN);
    assert_eq!(&file[..ANDROID_KEYFILE_HEADER.len()], &ANDROID_KEYFILE_HEADER[..]);
    assert_eq!(BackupKey::from_android_keyfile(&file).as_ref(), Ok(&key));
    assert_eq!(BackupKey::from_key_file_bytes(&file).as_ref(), Ok(&key));
    assert_eq!(BackupKey::parse_digits(&key.to_digits()).as_ref(), Ok(&key));
}

// ------------------------------------------------------------------ crypt15

/// Target `crypt15_prefix`: [`crypt15::parse_header`] (in memory) and
/// [`crypt15::read_header`] (streaming) give the same header or the same
/// error; the streamed raw bytes are the input's first `encoded_len` bytes;
/// a parsed prefix re-encodes to a prefix that parses to the same header,
/// [`crypt15::encode_prefix`] of its IV and metadata parses to that IV and
/// metadata, and bytes after the prefix change nothing.
pub fn crypt15_prefix(data: &[u8]) {
    check_detect(data);
    let parsed = crypt15::parse_header(data);
    let streamed = crypt15::read_header(&mut Cursor::new(data));
    let header = match (parsed, streamed) {
        (Ok(h), Ok((h2, raw))) => {
            assert_eq!(h, h2, "in-memory and streaming prefix parsers differ");
            assert_eq!(raw.as_slice(), &data[..h.encoded_len]);
            h
        }
        (Err(a), Err(b)) => {
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "in-memory and streaming prefix parsers differ");
            return;
        }
        (a, b) => panic!("in-memory prefix parser: {a:?}; streaming: {b:?}"),
    };
    let iv_field = header.prefix.crypt15_key_data.as_ref().and_then(|d| d.iv.clone());
    assert_eq!(iv_field.as_deref(), Some(&header.iv[..]));
    let again = header.prefix.encode_length_delimited_to_vec();
    match crypt15::parse_header(&again) {
        Ok(h) => {
            assert_eq!(h.prefix, header.prefix);
            assert_eq!(h.iv, header.iv);
            assert_eq!(h.encoded_len, again.len());
        }
        Err(e) => panic!("a parsed prefix re-encodes to one that does not parse: {e:?}"),
    }
    let metadata = header.prefix.backup_metadata.clone().unwrap_or_default();
    let fresh = crypt15::encode_prefix(&header.iv, &metadata);
    match crypt15::parse_header(&fresh) {
        Ok(h) => {
            assert_eq!(h.iv, header.iv);
            assert_eq!(h.prefix.backup_metadata.as_ref(), Some(&metadata));
            assert_eq!(h.encoded_len, fresh.len());
        }
        Err(e) => panic!("encode_prefix of a parsed prefix does not parse: {e:?}"),
    }
    let mut longer = data[..header.encoded_len].to_vec();
    longer.extend_from_slice(b"trailing body bytes");
    assert_eq!(crypt15::parse_header(&longer).ok().as_ref(), Some(&header));
}

/// A zlib header: CM = 8, CINFO ≤ 7, FCHECK (written out independently of crypt15's reader).
fn zlib_header(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] & 0x0f == 8 && b[0] >> 4 <= 7 && ((u32::from(b[0]) << 8) | u32::from(b[1])) % 31 == 0
}

/// Inflates a whole zlib stream: `None` unless it ends and nothing follows.
fn inflate_all(data: &[u8]) -> Option<Vec<u8>> {
    let mut z = Decompress::new(true);
    let mut out = Vec::with_capacity(data.len() * 2 + 64);
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(4096));
        }
        let consumed = usize::try_from(z.total_in()).ok()?;
        let before = (z.total_in(), z.total_out());
        let status = z.decompress_vec(&data[consumed..], &mut out, FlushDecompress::Finish);
        match status {
            Ok(Status::StreamEnd) => {
                return (usize::try_from(z.total_in()).ok()? == data.len()).then_some(out);
            }
            Ok(_) if (z.total_in(), z.total_out()) == before && out.len() < out.capacity() => return None,
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

fn md5_trailer_ok(file: &[u8]) -> bool {
    file.len() >= 16 && Md5::digest(&file[..file.len() - 16]).as_slice() == &file[file.len() - 16..]
}

/// Opens `ct || tag` with RustCrypto's `AesGcm<Aes256, U16>` (the 16-byte-IV
/// GCM crypt15 uses), independently of [`GcmStream`].
fn reference_crypt15_open(key: &BackupKey, iv: &[u8; 16], body: &[u8]) -> Option<Vec<u8>> {
    if body.len() < 16 {
        return None;
    }
    let k = kdf::backup_encryption_key(key);
    let cipher = AesGcm::<Aes256, U16>::new(k.expose_secret().into());
    let (ct, tag) = body.split_at(body.len() - 16);
    let mut buf = ct.to_vec();
    cipher.decrypt_in_place_detached(iv.into(), b"", &mut buf, tag.into()).ok()?;
    Some(buf)
}

/// Checks a crypt15 decryption verdict against an independent re-check of
/// the file: MD5 trailer, RustCrypto AES-GCM, zlib.
fn check_crypt15_verdict(
    key: &BackupKey,
    file: &[u8],
    result: &Result<crypt15::DecryptSummary, crypt15::DecryptError>,
    out: &[u8],
) {
    use crypt15::DecryptError as E;
    let header = crypt15::parse_header(file);
    if let Err(E::Header(e)) = result {
        let Err(h) = &header else { panic!("decrypt refused a prefix that parses: {e:?}") };
        assert_eq!(format!("{e:?}"), format!("{h:?}"));
        return;
    }
    let Ok(header) = header else { panic!("decrypt got past a prefix that does not parse: {result:?}") };
    let body = &file[header.encoded_len..];
    let md5_intact = body.len() >= 32 && md5_trailer_ok(file);
    // What the file authenticates as under each layout.
    let single = if md5_intact { reference_crypt15_open(key, &header.iv, &body[..body.len() - 16]) } else { None };
    let multi = if md5_intact { None } else { reference_crypt15_open(key, &header.iv, body) };
    match result {
        Ok(summary) => {
            let payload = match summary.variant {
                crypt15::Variant::SingleFile => single.as_ref(),
                crypt15::Variant::MultiFile => multi.as_ref(),
            };
            let Some(payload) = payload else {
                panic!("decrypt accepted a file that does not authenticate as {:?}", summary.variant)
            };
            let trailer = if summary.variant == crypt15::Variant::SingleFile { 32 } else { 16 };
            assert_eq!(summary.ciphertext_len, (body.len() - trailer) as u64);
            assert_eq!(summary.plaintext_len, out.len() as u64);
            assert_eq!(summary.compressed, zlib_header(payload), "zlib detection differs from the payload's header");
            if summary.compressed {
                assert_eq!(inflate_all(payload).as_deref(), Some(out), "inflated payload differs");
            } else {
                assert_eq!(payload.as_slice(), out);
            }
        }
        Err(E::WrongKey) => {
            assert!(md5_intact, "WrongKey without an intact MD5 trailer");
            assert!(single.is_none(), "WrongKey for a file that authenticates");
        }
        Err(E::AuthenticationFailed) => {
            assert!(!md5_intact, "AuthenticationFailed although the MD5 trailer is intact");
            assert!(multi.is_none(), "AuthenticationFailed for a file that authenticates");
        }
        Err(E::Truncated { found }) => {
            assert_eq!(*found, body.len() as u64);
            assert!(body.len() < 16);
        }
        Err(E::CorruptPayload { .. } | E::IncompletePayload | E::TrailingData { .. }) => {
            let payload = single.or(multi);
            let Some(payload) = payload else { panic!("a payload error for a file that does not authenticate") };
            assert!(zlib_header(&payload), "a zlib error for a payload without a zlib header");
            assert!(inflate_all(&payload).is_none(), "a zlib error for a payload that inflates");
        }
        Err(other) => panic!("unexpected crypt15 error on an in-memory file: {other:?}"),
    }
}

fn crypt15_decrypt_with(
    key: &BackupKey,
    file: &[u8],
) -> (Result<crypt15::DecryptSummary, crypt15::DecryptError>, Vec<u8>) {
    let mut out = Vec::new();
    let r = crypt15::decrypt(key, &mut &file[..], &mut out, &mut |_| {});
    (r, out)
}

/// Target `crypt15_decrypt`: [`crypt15::decrypt`] of arbitrary bytes under
/// [`FUZZ_KEY`] never panics, and its verdict — success, `WrongKey` (MD5
/// intact), `AuthenticationFailed` (MD5 not intact), truncation, payload
/// errors — agrees with an independent re-check using RustCrypto's
/// `AesGcm<Aes256, U16>`, MD5 and zlib.
pub fn crypt15_decrypt(data: &[u8]) {
    let key = fuzz_key();
    let (r, out) = crypt15_decrypt_with(&key, data);
    check_crypt15_verdict(&key, data, &r, &out);
}

/// The input of [`crypt15_roundtrip`] (and, after a [`Mutation`], of
/// [`crypt15_tamper`]). Layout: flags (bit 0 multi-file, bit 1 fix up the
/// MD5 after an edit, bit 2 cleaned db), IV (16), app version (length byte,
/// ≤ 32), phone suffix (length byte, ≤ 4), backup version (1), feature
/// flags 5..=37 as a 5-byte bit set, then the plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Crypt15Input {
    /// Multi-file layout (no zlib, no MD5).
    pub multi_file: bool,
    /// After an edit, recompute the MD5 trailer (what an attacker does).
    pub fix_md5: bool,
    /// The cleaned-db flag.
    pub cleaned_db: bool,
    /// GCM IV.
    pub iv: [u8; 16],
    /// App version (lossy UTF-8).
    pub app_version: Vec<u8>,
    /// Phone suffix (lossy UTF-8).
    pub phone_suffix: Vec<u8>,
    /// Backup version.
    pub backup_version: u8,
    /// Feature flags 5..=37, bit `n - 5`.
    pub features: [u8; 5],
    /// The payload.
    pub plaintext: Vec<u8>,
}

impl Crypt15Input {
    fn read(mut r: Reader<'_>) -> Self {
        let flags = r.u8();
        let iv = r.array();
        let app_version = r.short(32).to_vec();
        let phone_suffix = r.short(4).to_vec();
        let backup_version = r.u8();
        let features = r.array();
        Self {
            multi_file: flags & 1 != 0,
            fix_md5: flags & 2 != 0,
            cleaned_db: flags & 4 != 0,
            iv,
            app_version,
            phone_suffix,
            backup_version,
            features,
            plaintext: r.rest().to_vec(),
        }
    }

    /// The bytes that decode to this input.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(u8::from(self.multi_file) | (u8::from(self.fix_md5) << 1) | (u8::from(self.cleaned_db) << 2));
        w.bytes(&self.iv);
        w.short(&self.app_version, 32);
        w.short(&self.phone_suffix, 4);
        w.u8(self.backup_version);
        w.bytes(&self.features);
        w.bytes(&self.plaintext);
        w.0
    }

    fn metadata(&self) -> BackupMetadata {
        let mut m = BackupMetadata {
            app_version: Some(lossy(&self.app_version)),
            phone_suffix: Some(lossy(&self.phone_suffix)),
            backup_version: Some(i32::from(self.backup_version)),
            cleaned_db: self.cleaned_db.then_some(true),
            ..Default::default()
        };
        for n in crate::proto::FEATURE_RANGE {
            let i = (n - 5) as usize;
            if self.features[i / 8] & (1 << (i % 8)) != 0 {
                m.set_feature(n, Some(true));
            }
        }
        m
    }

    fn variant(&self) -> crypt15::Variant {
        if self.multi_file { crypt15::Variant::MultiFile } else { crypt15::Variant::SingleFile }
    }

    /// The file, or the refusal of an ambiguous multi-file payload (the
    /// only error encryption into memory may give).
    fn try_encrypt(&self, key: &BackupKey) -> Result<Vec<u8>, [u8; 2]> {
        let options = crypt15::EncryptOptions { variant: self.variant(), iv: Some(self.iv), metadata: self.metadata() };
        let mut file = Vec::new();
        match crypt15::encrypt(key, &options, &mut &self.plaintext[..], &mut file, &mut |_| {}) {
            Ok(n) => assert_eq!(n, self.plaintext.len() as u64),
            Err(crypt15::EncryptError::AmbiguousMultiFilePayload { first }) => return Err(first),
            Err(e) => panic!("crypt15 encryption of an in-memory buffer failed: {e:?}"),
        }
        Ok(file)
    }

    /// The file; for inputs that are not ambiguous multi-file payloads.
    fn encrypt(&self, key: &BackupKey) -> Vec<u8> {
        match self.try_encrypt(key) {
            Ok(file) => file,
            Err(first) => panic!("a multi-file payload beginning {first:02x?} (a zlib header) cannot be encrypted"),
        }
    }
}

/// Target `crypt15_roundtrip`: a [`Crypt15Input`] encrypted under
/// [`FUZZ_KEY`] decrypts to its plaintext with the right layout and
/// metadata; the file starts with [`crypt15::encode_prefix`] of its IV and
/// metadata, passes the independent re-check, and under another key is
/// `WrongKey` (single file) or `AuthenticationFailed` (multi-file).
/// A multi-file payload that itself starts with a zlib header would read
/// back as compressed — the layout cannot tell (ZIP archives start with
/// `PK`, never a zlib header) — so encryption must refuse exactly those.
pub fn crypt15_roundtrip(data: &[u8]) {
    let input = Crypt15Input::read(Reader::new(data));
    let key = fuzz_key();
    let ambiguous = input.multi_file && zlib_header(&input.plaintext);
    let file = match input.try_encrypt(&key) {
        Ok(file) => file,
        Err(first) => {
            assert!(ambiguous, "refused a payload beginning {first:02x?}, which is no ambiguous multi-file payload");
            assert_eq!(first[..], input.plaintext[..2]);
            return;
        }
    };
    assert!(!ambiguous, "wrote a multi-file payload that begins with a zlib header");
    let prefix = crypt15::encode_prefix(&input.iv, &input.metadata());
    assert!(file.starts_with(&prefix), "the file does not start with its prefix");
    let (r, out) = crypt15_decrypt_with(&key, &file);
    check_crypt15_verdict(&key, &file, &r, &out);
    match &r {
        Ok(s) => {
            assert_eq!(out, input.plaintext, "crypt15 round trip changed the plaintext");
            assert_eq!(s.variant, input.variant());
            assert_eq!(s.compressed, !input.multi_file);
        }
        Err(e) => panic!("crypt15 refused its own file: {e:?}"),
    }
    let (wrong, _) = crypt15_decrypt_with(&other_key(), &file);
    match (input.multi_file, wrong) {
        (false, Err(crypt15::DecryptError::WrongKey)) | (true, Err(crypt15::DecryptError::AuthenticationFailed)) => {}
        (_, other) => panic!("crypt15 under another key: {other:?}"),
    }
}

/// Target `crypt15_tamper`: a [`Mutation`] then a [`Crypt15Input`]. The
/// input is encrypted under [`FUZZ_KEY`], edited (and, with `fix_md5`, its
/// MD5 recomputed, as an attacker would), and decrypted. Every verdict
/// passes the independent re-check, and an accepted file must have the
/// original IV and the original authenticated bytes (ciphertext and tag)
/// and give the original plaintext: only the unauthenticated prefix fields
/// and the unkeyed MD5 trailer may change (dropping the trailer turns a
/// single-file backup into a valid multi-file one; the layout is not
/// authenticated). [`Mutation::EditHeader`] with the MD5 fixed up must be
/// accepted — the prefix is not authenticated (`DESIGN.md` §4.1, a finding).
pub fn crypt15_tamper(data: &[u8]) {
    let mut r = Reader::new(data);
    let mutation = Mutation::read(&mut r);
    let input = Crypt15Input::read(r);
    if input.multi_file && zlib_header(&input.plaintext) {
        return; // refused by encryption, see crypt15_roundtrip
    }
    let key = fuzz_key();
    let file = input.encrypt(&key);
    let Ok(original) = crypt15::parse_header(&file) else { panic!("crypt15 wrote a prefix it cannot parse") };
    let trailer = if input.multi_file { 0 } else { 16 };
    let mut edited = match mutation {
        Mutation::EditHeader { value } => {
            let mut prefix = original.prefix.clone();
            let meta = prefix.backup_metadata.get_or_insert_with(Default::default);
            meta.app_version = Some(format!("edited {value}"));
            let mut v = prefix.encode_length_delimited_to_vec();
            v.extend_from_slice(&file[original.encoded_len..]);
            v
        }
        m => m.apply(&file, original.encoded_len, 16),
    };
    if input.fix_md5 && !input.multi_file && edited.len() >= 16 {
        let n = edited.len() - 16;
        let digest = Md5::digest(&edited[..n]);
        edited[n..].copy_from_slice(&digest);
    }
    let (result, out) = crypt15_decrypt_with(&key, &edited);
    check_crypt15_verdict(&key, &edited, &result, &out);
    if let Ok(summary) = &result {
        let Ok(h) = crypt15::parse_header(&edited) else { panic!("accepted a file whose prefix does not parse") };
        assert_eq!(h.iv, original.iv, "accepted a file whose IV changed");
        // The layout is not authenticated either: without its MD5 trailer a
        // single-file backup is a valid multi-file one (and a multi-file one
        // with an MD5 appended a single-file one), with the same plaintext.
        let old = &file[original.encoded_len..file.len() - trailer];
        let start = h.encoded_len.min(edited.len());
        let end = match summary.variant {
            crypt15::Variant::SingleFile => edited.len().saturating_sub(16),
            _ => edited.len(),
        };
        let new = &edited[start..end.max(start)];
        assert_eq!(old, new, "accepted a file whose authenticated bytes changed ({mutation:?})");
        assert_eq!(out, input.plaintext, "accepted an edited file with another plaintext");
    }
    let header_only = matches!(mutation, Mutation::None)
        || (matches!(mutation, Mutation::EditHeader { .. }) && (input.fix_md5 || input.multi_file));
    if header_only {
        assert!(result.is_ok(), "a prefix-only edit with a valid MD5 was refused: {result:?}");
    }
}

// ------------------------------------------------------------------ v2

/// Target `v2_header`: [`v2::parse_header`] and [`v2::read_header`] give
/// the same header or the same error; a parsed header has the magic, version
/// 2, a length field that matches, an 8-byte key id and a known compression;
/// its context is the label followed by the raw bytes; its fields re-encode
/// (when ≤ 4096 bytes) to a header that parses to the same fields; bytes
/// after the header change nothing.
pub fn v2_header(data: &[u8]) {
    check_detect(data);
    let parsed = v2::parse_header(data);
    let streamed = v2::read_header(&mut Cursor::new(data));
    let header = match (parsed, streamed) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "in-memory and streaming v2 header parsers differ");
            a
        }
        (Err(a), Err(b)) => {
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "in-memory and streaming v2 header parsers differ");
            return;
        }
        (a, b) => panic!("v2 in-memory header parser: {a:?}; streaming: {b:?}"),
    };
    let raw = &header.raw;
    assert!(data.starts_with(raw));
    assert!(raw.starts_with(v2::MAGIC) && raw.len() >= v2::FIXED_LEN && raw[4] == v2::VERSION);
    assert_eq!(usize::from(u16::from_be_bytes([raw[5], raw[6]])), raw.len() - v2::FIXED_LEN);
    assert!(raw.len() - v2::FIXED_LEN <= v2::MAX_HEADER_LEN);
    assert_eq!(header.fields.key_id.len(), kdf::KEY_ID_LEN);
    assert!(Compression::try_from(header.fields.compression).is_ok());
    let mut context = v2::CONTEXT_LABEL.to_vec();
    context.extend_from_slice(raw);
    assert_eq!(header.context(), context);
    match v2::encode_header(&header.fields) {
        Ok(again) => match v2::parse_header(&again) {
            Ok(h) => assert_eq!(h.fields, header.fields, "a v2 header does not survive re-encoding"),
            Err(e) => panic!("a re-encoded v2 header does not parse: {e:?}"),
        },
        Err(v2::EncryptError::HeaderTooLong { len, .. }) => assert!(len > v2::MAX_HEADER_LEN),
        Err(e) => panic!("encode_header failed: {e:?}"),
    }
    let mut longer = raw.clone();
    longer.extend_from_slice(&[0xa5; 80]);
    assert_eq!(v2::parse_header(&longer).ok().as_ref(), Some(&header));
}

/// The failure class the three v2 readers are compared on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum V2Verdict {
    Plain(Vec<u8>),
    Header(String),
    WrongKey,
    Commitment,
    Length,
    Chunk(u64),
    TooManyChunks,
    CorruptPayload,
    CompressedBody,
    Other(String),
}

impl V2Verdict {
    fn of(r: Result<Vec<u8>, v2::DecryptError>) -> Self {
        use v2::DecryptError as E;
        match r {
            Ok(p) => Self::Plain(p),
            Err(E::Header(h)) => Self::Header(format!("{h:?}")),
            Err(E::WrongKey) => Self::WrongKey,
            Err(E::Body(BodyError::CommitmentMismatch)) => Self::Commitment,
            Err(E::Body(BodyError::TooShort { .. } | BodyError::Truncated { .. })) => Self::Length,
            Err(E::Body(BodyError::ChunkDamaged { chunk, .. })) => Self::Chunk(chunk),
            Err(E::Body(BodyError::TooManyChunks)) => Self::TooManyChunks,
            Err(E::CorruptPayload) => Self::CorruptPayload,
            Err(E::CompressedBody) => Self::CompressedBody,
            Err(other) => Self::Other(format!("{other:?}")),
        }
    }

    /// The stream's verdict (`stream`) agrees with the in-memory one (`self`):
    /// the same, except that the stream checks the commitment before it can
    /// know the length (the others check the length first), and that it
    /// inflates chunks as it authenticates them, so it may find a bad zlib
    /// payload — which only a key holder can make — before a later damaged
    /// chunk or a bad length.
    fn agrees(&self, stream: &Self) -> bool {
        self == stream
            || matches!(
                (self, stream),
                (Self::Commitment, Self::Length)
                    | (Self::Length, Self::Commitment)
                    | (Self::Chunk(_) | Self::Length, Self::CorruptPayload)
            )
    }
}

/// The three readers on one file. Returns the in-memory verdict and what
/// the stream wrote.
fn v2_three_way(key: &BackupKey, file: &[u8]) -> (V2Verdict, Vec<u8>) {
    let slice = V2Verdict::of(v2::decrypt_slice(key, file).map(|(h, p)| {
        assert_eq!(h, header_of(file), "decrypt_slice returned another header");
        p
    }));
    let mut out = Vec::new();
    let stream = v2::decrypt(key, &mut &file[..], &mut out, &mut |_| {});
    let stream = V2Verdict::of(stream.map(|s| {
        assert_eq!(s.plaintext_len, out.len() as u64);
        out.clone()
    }));
    assert!(slice.agrees(&stream), "v2 decrypt_slice: {slice:?}; streaming decrypt: {stream:?}");
    let random = match v2::V2Reader::open(key, Cursor::new(file)) {
        Ok(mut reader) => {
            let len = reader.len();
            assert!(!matches!(slice, V2Verdict::Commitment | V2Verdict::Length), "V2Reader opened a bad body");
            match usize::try_from(len) {
                Ok(n) => {
                    let all = V2Verdict::of(reader.read_at(0, n));
                    if let V2Verdict::Plain(p) = &all {
                        // Random access in the middle agrees with the whole.
                        let (a, b) = (n / 3, n / 2);
                        assert_eq!(reader.read_at(a as u64, b - a).ok().as_deref(), Some(&p[a..b]));
                        assert!(reader.read_at(len, 1).is_err(), "V2Reader read past the end");
                    }
                    all
                }
                Err(_) => V2Verdict::Other("length overflows usize".to_owned()),
            }
        }
        Err(e) => {
            let v = V2Verdict::of(Err(e));
            // Opening authenticates only the final chunk: a damaged file may
            // show a later chunk than the first damaged one.
            if let (V2Verdict::Chunk(last), V2Verdict::Chunk(first)) = (&v, &slice) {
                assert!(first <= last);
                return (slice, out);
            }
            v
        }
    };
    let compressed_header = matches!(&slice, V2Verdict::Plain(_) | V2Verdict::CorruptPayload)
        && header_of(file).compression() != Compression::None;
    if compressed_header || random == V2Verdict::CompressedBody {
        assert_eq!(random, V2Verdict::CompressedBody, "V2Reader on a compressed body (in memory: {slice:?})");
        assert!(
            !matches!(&slice, V2Verdict::Header(_) | V2Verdict::WrongKey),
            "V2Reader got to the body of a file the others stop at the header"
        );
    } else {
        assert_eq!(random, slice, "v2 random access: {random:?}; in memory: {slice:?}");
    }
    (slice, out)
}

fn header_of(file: &[u8]) -> v2::Header {
    match v2::parse_header(file) {
        Ok(h) => h,
        Err(e) => panic!("a v2 file that decrypts has a header that does not parse: {e:?}"),
    }
}

/// The structured input of [`v2_decrypt`] (after its mode byte and a
/// [`Mutation`]). Layout: flags (bit 0 zlib, bit 1 key-holder mode: the
/// plaintext is sealed as the body as is, so a zlib header over arbitrary
/// bytes is reachable; bit 2 passkey metadata; bit 3 also compare streaming
/// and in-memory encryption), salt (24), creation time (u32 LE), backup
/// version (1), feature-flag count (1, ≤ 8) and that many bytes, app version
/// (length byte, ≤ 32), growth (1: the plaintext is extended by
/// `growth % 64` KiB of a pattern, to reach several chunks), plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct V2Input {
    /// zlib body.
    pub zlib: bool,
    /// Seal the plaintext as the body as is (what only a key holder can do).
    pub key_holder: bool,
    /// Add passkey metadata to the header.
    pub passkey: bool,
    /// Also check that streaming and in-memory encryption agree.
    pub compare_encryptors: bool,
    /// Salt.
    pub salt: [u8; SALT_LEN],
    /// Creation time.
    pub created: u32,
    /// Backup version.
    pub backup_version: u8,
    /// Feature flags.
    pub feature_flags: Vec<u8>,
    /// App version (lossy UTF-8).
    pub app_version: Vec<u8>,
    /// KiB of pattern appended to the plaintext (mod 64).
    pub growth: u8,
    /// The plaintext.
    pub plaintext: Vec<u8>,
}

impl V2Input {
    fn read(mut r: Reader<'_>) -> Self {
        let flags = r.u8();
        let salt = r.array();
        let created = r.u32();
        let backup_version = r.u8();
        let count = usize::from(r.u8() % 9);
        let feature_flags = (0..count).map(|_| r.u8()).collect();
        let app_version = r.short(32).to_vec();
        let growth = r.u8();
        Self {
            zlib: flags & 1 != 0,
            key_holder: flags & 2 != 0,
            passkey: flags & 4 != 0,
            compare_encryptors: flags & 8 != 0,
            salt,
            created,
            backup_version,
            feature_flags,
            app_version,
            growth,
            plaintext: r.rest().to_vec(),
        }
    }

    /// The bytes that decode to this input.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(u8::from(self.zlib)
            | (u8::from(self.key_holder) << 1)
            | (u8::from(self.passkey) << 2)
            | (u8::from(self.compare_encryptors) << 3));
        w.bytes(&self.salt);
        w.u32(self.created);
        w.u8(self.backup_version);
        let flags = &self.feature_flags[..self.feature_flags.len().min(8)];
        // At most 8.
        w.u8(flags.len() as u8);
        w.bytes(flags);
        w.short(&self.app_version, 32);
        w.u8(self.growth);
        w.bytes(&self.plaintext);
        w.0
    }

    fn full_plaintext(&self) -> Vec<u8> {
        let extra = usize::from(self.growth % 64) * 1024;
        let mut p = self.plaintext.clone();
        let n = p.len();
        p.extend((0..extra).map(|i| if n == 0 { (i % 251) as u8 } else { self.plaintext[i % n] ^ (i / n) as u8 }));
        p
    }

    fn passkey_metadata(&self) -> Option<PasskeyMetadata> {
        self.passkey.then(|| PasskeyMetadata {
            encapsulated_root_key: Some(self.salt.to_vec()),
            credential_id: Some(self.app_version.clone()),
            prf_salt: Some(vec![self.backup_version; 32]),
            server_key_version: Some(self.created),
            ..Default::default()
        })
    }

    fn compression(&self) -> Compression {
        if self.zlib { Compression::Zlib } else { Compression::None }
    }

    fn options(&self) -> v2::EncryptOptions {
        v2::EncryptOptions {
            compression: self.compression(),
            app_version: lossy(&self.app_version),
            backup_version: i32::from(self.backup_version),
            feature_flags: self.feature_flags.iter().map(|&f| u32::from(f)).collect(),
            created_unix: Some(u64::from(self.created)),
            salt: Some(self.salt),
            passkey_metadata: self.passkey_metadata(),
        }
    }

    /// The file and the plaintext a correct reader must return for it
    /// (`None`: the body is a bad zlib stream, only possible in key-holder mode).
    fn build(&self, key: &BackupKey) -> (Vec<u8>, Option<Vec<u8>>) {
        let plaintext = self.full_plaintext();
        if self.key_holder {
            let fields = V2Header {
                key_id: kdf::key_id(key).to_vec(),
                created_unix: u64::from(self.created),
                app_version: lossy(&self.app_version),
                backup_version: i32::from(self.backup_version),
                feature_flags: self.feature_flags.iter().map(|&f| u32::from(f)).collect(),
                compression: self.compression() as i32,
                passkey_metadata: self.passkey_metadata(),
            };
            let raw = match v2::encode_header(&fields) {
                Ok(raw) => raw,
                Err(e) => panic!("a small v2 header does not encode: {e:?}"),
            };
            let mut context = v2::CONTEXT_LABEL.to_vec();
            context.extend_from_slice(&raw);
            let body = cobblestone::seal(kdf::v2_input_key(key).expose_secret(), &self.salt, &context, &plaintext);
            let mut file = raw;
            file.extend_from_slice(&body);
            let expected = if self.zlib { inflate_all(&plaintext) } else { Some(plaintext) };
            return (file, expected);
        }
        let options = self.options();
        let file = match v2::encrypt_to_vec(key, &options, &plaintext) {
            Ok(f) => f,
            Err(e) => panic!("v2 encryption of an in-memory buffer failed: {e:?}"),
        };
        if self.compare_encryptors {
            let mut streamed = Vec::new();
            match v2::encrypt(key, &options, &mut &plaintext[..], &mut streamed, &mut |_| {}) {
                Ok(n) => assert_eq!(n, plaintext.len() as u64),
                Err(e) => panic!("streaming v2 encryption failed: {e:?}"),
            }
            assert_eq!(streamed, file, "streaming and in-memory v2 encryption differ");
        }
        (file, Some(plaintext))
    }
}

/// Applies a mutation to a v2 file; [`Mutation::EditHeader`] changes the
/// header's app version and rewrites the length field, so the header still
/// parses and only the commitment can catch the edit.
fn mutate_v2(file: &[u8], mutation: Mutation) -> Vec<u8> {
    let Ok(header) = v2::parse_header(file) else { return mutation.apply(file, 0, SEALED_CHUNK_LEN) };
    let body = header.raw.len();
    match mutation {
        Mutation::EditHeader { value } => {
            let mut fields = header.fields.clone();
            fields.app_version.push(char::from(b'a' + value % 26));
            match v2::encode_header(&fields) {
                Ok(mut raw) => {
                    raw.extend_from_slice(&file[body..]);
                    raw
                }
                Err(_) => file.to_vec(),
            }
        }
        m => m.apply(file, body + cobblestone::PREFIX_LEN, SEALED_CHUNK_LEN),
    }
}

/// Format detection ([`crate::backup::detect`]) agrees with the parsers: a
/// v2 header is detected as v2, a crypt15 prefix that is not also a v2
/// header as crypt15, and nothing is detected in an empty file.
fn check_detect(data: &[u8]) {
    use crate::backup::{Format, detect};
    let format = detect(data);
    if data.is_empty() {
        assert_eq!(format, None, "an empty file was detected as a format");
    }
    let is_v2 = v2::parse_header(data).is_ok();
    if is_v2 {
        assert_eq!(format, Some(Format::V2), "a v2 header was not detected as v2");
    }
    // Bytes that are both (v2 wins by its magic) would show here as a v2 detection.
    if !is_v2 && crypt15::parse_header(data).is_ok() {
        assert_eq!(format, Some(Format::Crypt15), "a crypt15 prefix was not detected as crypt15");
    }
}

/// Target `v2_decrypt`: the input is a file, decrypted under [`FUZZ_KEY`]
/// by all three readers. [`v2_tamper`] starts from valid files instead, to
/// get behind the commitment.
///
/// Asserted: streaming [`v2::decrypt`], in-memory [`v2::decrypt_slice`] and
/// random-access [`v2::V2Reader`] agree — success with the same plaintext,
/// or the same failure (header error, wrong key, commitment, length,
/// damaged chunk, payload), except that the stream may report a bad
/// commitment where the others report a bad length first, or a bad zlib
/// payload before a damaged chunk (it inflates as it authenticates), and
/// that opening a random-access reader checks the final chunk first; a valid file
/// decrypts to its plaintext; an edited file is accepted only if it is
/// byte for byte the original; whatever the stream wrote before failing is
/// a prefix of the true plaintext.
pub fn v2_decrypt(data: &[u8]) {
    v2_three_way(&fuzz_key(), data);
}

/// Target `v2_tamper`: a [`Mutation`] and a [`V2Input`]; the input is
/// encrypted under [`FUZZ_KEY`] (or, in key-holder mode, sealed as is) and
/// decrypted before and after the edit, and under another key, by the three
/// readers of [`v2_decrypt`].
///
/// Asserted, besides the agreement of [`v2_decrypt`]: a valid file decrypts
/// to its plaintext; an edited file is accepted only if it is byte for byte
/// the original; whatever the stream wrote before failing is a prefix of the
/// true plaintext.
pub fn v2_tamper(data: &[u8]) {
    let key = fuzz_key();
    let mut r = Reader::new(data);
    let mutation = Mutation::read(&mut r);
    let input = V2Input::read(r);
    let (file, expected) = input.build(&key);
    let (verdict, _) = v2_three_way(&key, &file);
    match &expected {
        Some(p) => assert_eq!(verdict, V2Verdict::Plain(p.clone()), "a valid v2 file did not decrypt to its plaintext"),
        None => assert_eq!(verdict, V2Verdict::CorruptPayload, "a bad zlib body was not reported"),
    }
    assert_eq!(v2::decrypt_slice(&other_key(), &file).err().map(|e| V2Verdict::of(Err(e))), Some(V2Verdict::WrongKey));
    let edited = mutate_v2(&file, mutation);
    let (verdict, written) = v2_three_way(&key, &edited);
    if matches!(verdict, V2Verdict::Plain(_)) {
        assert_eq!(edited, file, "an edited v2 file was accepted ({mutation:?})");
    }
    if let Some(p) = &expected {
        assert!(p.starts_with(&written), "the v2 stream wrote bytes that are not the authenticated plaintext");
    }
}

// ------------------------------------------------------------------ metadata blob

type HmacSha256 = Hmac<Sha256>;

/// The metadata blob reader written out independently: markers, length,
/// alignment, HMAC-SHA256 over `iv || ct`, AES-256-CBC without padding and
/// a hand-written PKCS#7 check.
fn metadata_model(key: &BackupKey, raw: &[u8]) -> Result<Vec<u8>, metadata::MetadataError> {
    use metadata::MetadataError as E;
    let min = 1 + 16 + 1 + 32 + 16;
    if raw.len() < min {
        return Err(E::TooShort { found: raw.len(), min });
    }
    if raw[0] != 0x10 {
        return Err(E::BadMarker { offset: 0, found: raw[0], expected: 0x10 });
    }
    if raw[17] != 0x20 {
        return Err(E::BadMarker { offset: 17, found: raw[17], expected: 0x20 });
    }
    let (iv, mac, ct) = (&raw[1..17], &raw[18..50], &raw[50..]);
    if ct.len() % 16 != 0 {
        return Err(E::NotBlockAligned { len: ct.len() });
    }
    let auth = kdf::metadata_authentication_key(key);
    let Ok(mut h) = <HmacSha256 as Mac>::new_from_slice(auth.expose_secret()) else {
        unreachable!("HMAC takes keys of any length")
    };
    h.update(iv);
    h.update(ct);
    if h.finalize().into_bytes().as_slice() != mac {
        return Err(E::MacMismatch);
    }
    let enc = kdf::metadata_encryption_key(key);
    let Ok(iv) = <[u8; 16]>::try_from(iv) else { unreachable!("16 bytes by construction") };
    let mut buf = ct.to_vec();
    let plain = cbc::Decryptor::<Aes256>::new(enc.expose_secret().into(), (&iv).into())
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .map_err(|_| E::BadPadding)?;
    let pad = usize::from(*plain.last().unwrap_or(&0));
    if pad == 0 || pad > 16 || pad > plain.len() || plain[plain.len() - pad..].iter().any(|&b| usize::from(b) != pad) {
        return Err(E::BadPadding);
    }
    Ok(plain[..plain.len() - pad].to_vec())
}

fn check_metadata(key: &BackupKey, raw: &[u8]) -> Result<Vec<u8>, metadata::MetadataError> {
    let got = metadata::decrypt_bytes(key, raw);
    assert_eq!(got, metadata_model(key, raw), "the metadata reader disagrees with the model");
    got
}

/// Checks the base64 layer: text that decodes (after trimming) gives the
/// same verdict as its bytes; text that does not is a `Base64` error.
fn check_metadata_text(key: &BackupKey, text: &str) -> Result<Vec<u8>, metadata::MetadataError> {
    let got = metadata::decrypt(key, text);
    match STANDARD.decode(text.trim()) {
        Ok(raw) => assert_eq!(got, check_metadata(key, &raw)),
        Err(_) => assert!(matches!(got, Err(metadata::MetadataError::Base64(_))), "{got:?}"),
    }
    got
}

/// The structured input of [`metadata_blob`] (after its mode byte and a
/// [`Mutation`]). Layout: flags (bit 0 key-holder mode: the plaintext is
/// taken as the ciphertext and MACed correctly, so the padding check is
/// reachable), IV (16), then the plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataInput {
    /// MAC arbitrary ciphertext instead of encrypting.
    pub key_holder: bool,
    /// CBC IV.
    pub iv: [u8; 16],
    /// Plaintext (or ciphertext in key-holder mode).
    pub plaintext: Vec<u8>,
}

impl MetadataInput {
    fn read(mut r: Reader<'_>) -> Self {
        let flags = r.u8();
        let iv = r.array();
        Self { key_holder: flags & 1 != 0, iv, plaintext: r.rest().to_vec() }
    }

    /// The bytes that decode to this input.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(u8::from(self.key_holder));
        w.bytes(&self.iv);
        w.bytes(&self.plaintext);
        w.0
    }
}

/// Target `metadata_blob`. Mode byte even: the rest is given to
/// [`metadata::decrypt_bytes`] and, as text, to [`metadata::decrypt`].
/// Mode byte odd: a [`Mutation`] and a [`MetadataInput`]; a blob is made
/// under [`FUZZ_KEY`] and decrypted before and after the edit, both as
/// bytes and (editing the base64 text) as text.
///
/// Asserted: every verdict equals an independent model (too short, bad
/// marker and its offset, not block-aligned, MAC mismatch, bad padding,
/// plaintext); a fresh blob decrypts to its plaintext; an edited blob is
/// accepted only if its bytes are unchanged.
pub fn metadata_blob(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let key = fuzz_key();
    if mode & 1 == 0 {
        let _ = check_metadata(&key, rest);
        let _ = check_metadata_text(&key, &String::from_utf8_lossy(rest));
        return;
    }
    let mut r = Reader::new(rest);
    let mutation = Mutation::read(&mut r);
    let input = MetadataInput::read(r);
    let (raw, expected) = if input.key_holder {
        let auth = kdf::metadata_authentication_key(&key);
        let Ok(mut h) = <HmacSha256 as Mac>::new_from_slice(auth.expose_secret()) else {
            unreachable!("HMAC takes keys of any length")
        };
        h.update(&input.iv);
        h.update(&input.plaintext);
        let mut raw = vec![0x10];
        raw.extend_from_slice(&input.iv);
        raw.push(0x20);
        raw.extend_from_slice(&h.finalize().into_bytes());
        raw.extend_from_slice(&input.plaintext);
        (raw, None)
    } else {
        let blob = metadata::encrypt_with_iv(&key, &input.iv, &input.plaintext);
        assert_eq!(check_metadata_text(&key, &blob), Ok(input.plaintext.clone()), "metadata round trip");
        let Ok(raw) = STANDARD.decode(&blob) else { panic!("encrypt_with_iv wrote invalid base64") };
        (raw, Some(input.plaintext.clone()))
    };
    let fresh = check_metadata(&key, &raw);
    if let Some(p) = &expected {
        assert_eq!(fresh.as_ref(), Ok(p));
    }
    let edited = mutation.apply(&raw, 50, 16);
    let got = check_metadata(&key, &edited);
    if got.is_ok() {
        assert_eq!(edited, raw, "an edited metadata blob was accepted ({mutation:?})");
    }
    let text = STANDARD.encode(&raw);
    let edited_text = mutation.apply(text.as_bytes(), 0, 4);
    if let Ok(p) = check_metadata_text(&key, &String::from_utf8_lossy(&edited_text)) {
        assert_eq!(fresh.as_ref(), Ok(&p), "an edited base64 blob gave another plaintext");
    }
}

// ------------------------------------------------------------------ vault wire

/// Decodes a prost message; if it decodes, its encoding decodes to the same value.
fn prost_round_trip<M: Message + Default + PartialEq + Debug>(data: &[u8]) {
    if let Ok(m) = M::decode(data) {
        let again = m.encode_to_vec();
        assert_eq!(M::decode(again.as_slice()).ok().as_ref(), Some(&m), "a decoded message does not re-encode");
    }
}

const ACCOUNT: &[u8] = b"account:alice";
const STRANGER: &[u8] = b"account:mallory";
const PASSWORDS: [&[u8]; 3] = [b"correct horse battery staple", b"hunter2", b"Tr0ub4dor&3"];
const OWNER_KEY: [u8; 32] = [0x11; 32];
const ATTACKER_KEY: [u8; 32] = [0x22; 32];
const JUNK_KE3: [u8; 64] = [0x5a; 64];

fn server_setup(label: &[u8]) -> ServerSetup<Suite> {
    ServerSetup::<Suite>::new(&mut FuzzRng::new(label))
}

fn test_site(setup: &ServerSetup<Suite>, limit: u32, label: &[u8]) -> Site {
    Site::new(setup.clone(), limit).with_rng(Box::new(FuzzRng::new(label))).with_default_profile(KsfProfile::Test)
}

/// A site's fixed OPAQUE keys and a ledger holding one registered account,
/// built once per thread (OPAQUE registration is the slow part).
struct WireFixture {
    setup: ServerSetup<Suite>,
    ledger: MemoryLedger,
    /// Answers undecodable input, which never reaches a site's state.
    site: Site,
}

thread_local! {
    static WIRE_FIXTURE: RefCell<Option<WireFixture>> = const { RefCell::new(None) };
}

fn wire_fixture() -> WireFixture {
    let setup = server_setup(b"e2eb fuzz vault_wire setup");
    let mut site = test_site(&setup, vault_limit(), b"e2eb fuzz vault_wire fixture");
    let mut ledger = MemoryLedger::default();
    let mut rng = FuzzRng::new(b"e2eb fuzz vault_wire client");
    let client = VaultClient::new(ACCOUNT, &site.public_key());
    let owner = BackupKey::from_bytes(OWNER_KEY);
    let registered = (|| -> Result<u64, ClientError> {
        let (reg, req) = client.register_start(&mut rng, PASSWORDS[0])?;
        let r = site.handle(&mut ledger, req);
        let req = reg.finish(&mut rng, PASSWORDS[0], &r, &owner, KsfProfile::Test, None)?;
        client::registered(&site.handle(&mut ledger, req))
    })();
    assert_eq!(registered.ok(), Some(1), "the vault_wire fixture could not register");
    let site = test_site(&setup, vault_limit(), b"e2eb fuzz vault_wire site");
    WireFixture { setup, ledger, site }
}

fn vault_limit() -> u32 {
    crate::vault::DEFAULT_ATTEMPT_LIMIT
}

fn check_records(ledger: &MemoryLedger) {
    for (account, r) in &ledger.accounts {
        assert!(
            r.charged_since_reset <= r.limit,
            "{account:?}: {} KE2s since reset, limit {}",
            r.charged_since_reset,
            r.limit
        );
        if r.locked {
            assert!(r.wrapped_key.is_empty() && r.opaque_record.is_empty(), "a locked record keeps key material");
        }
    }
}

/// Target `vault_wire`: [`wire::decode_request`] and [`wire::decode_reply`]
/// either fail with a typed error that matches the input (too long, wrong
/// version, bad account, missing body, unknown code) or return a message
/// that re-encodes and decodes to itself; every inner message type
/// (register, login, delete, KE2, error, state command, account record)
/// round-trips the same way. A site (with one registered account, over a
/// [`MemoryLedger`]) answers the bytes with a reply that decodes; for
/// undecodable bytes the reply is `BadRequest` and nothing is committed, and
/// any request commits at most one command and leaves every record within
/// its limit.
pub fn vault_wire(data: &[u8]) {
    let req = wire::decode_request(data);
    match &req {
        Ok(r) => {
            assert!(data.len() <= wire::MAX_MESSAGE_LEN && r.version == wire::VERSION && r.body.is_some());
            assert!((1..=wire::MAX_ACCOUNT_LEN).contains(&r.account.len()));
            assert_eq!(wire::decode_request(&r.encode_to_vec()).as_ref(), Ok(r), "a request does not re-encode");
        }
        Err(wire::WireError::TooLong { len, .. }) => assert!(*len == data.len() && *len > wire::MAX_MESSAGE_LEN),
        Err(_) => {}
    }
    match wire::decode_reply(data) {
        Ok(r) => {
            assert!(r.version == wire::VERSION && r.body.is_some());
            assert_eq!(wire::decode_reply(&r.encode_to_vec()).as_ref(), Ok(&r), "a reply does not re-encode");
        }
        Err(wire::WireError::TooLong { len, .. }) => assert!(len > wire::MAX_MESSAGE_LEN),
        Err(_) => {}
    }
    prost_round_trip::<Request>(data);
    prost_round_trip::<Reply>(data);
    prost_round_trip::<wire::RegisterStart>(data);
    prost_round_trip::<wire::RegisterFinish>(data);
    prost_round_trip::<wire::LoginStart>(data);
    prost_round_trip::<wire::LoginFinish>(data);
    prost_round_trip::<wire::Delete>(data);
    prost_round_trip::<wire::Ke2Reply>(data);
    prost_round_trip::<wire::ErrorReply>(data);
    prost_round_trip::<state::Command>(data);
    prost_round_trip::<AccountRecord>(data);

    let (ledger, answer) = WIRE_FIXTURE.with(|f| {
        let mut f = f.borrow_mut();
        let fx = f.get_or_insert_with(wire_fixture);
        let mut ledger = fx.ledger.clone();
        let answer = if req.is_ok() {
            // A fresh site per decodable request, so pending logins never
            // carry over from one input to the next (reproducible crashes).
            test_site(&fx.setup, vault_limit(), b"e2eb fuzz vault_wire site").handle_bytes(&mut ledger, data)
        } else {
            fx.site.handle_bytes(&mut ledger, data)
        };
        (ledger, answer)
    });
    let before = WIRE_FIXTURE.with(|f| f.borrow().as_ref().map_or(0, |fx| fx.ledger.log.len()));
    let answer = match wire::decode_reply(&answer) {
        Ok(a) => a,
        Err(e) => panic!("the site answered with a reply that does not decode: {e:?}"),
    };
    if req.is_err() {
        assert_eq!(ledger.log.len(), before, "the site committed a change for undecodable input");
        match &answer.body {
            Some(reply::Body::Error(e)) => assert_eq!(e.code, ErrorCode::BadRequest as i32),
            other => panic!("undecodable input answered with {other:?}"),
        }
    }
    assert!(ledger.log.len() <= before + 1, "one request committed {} commands", ledger.log.len() - before);
    check_records(&ledger);
}

// ------------------------------------------------------------------ vault site vs model

pub use crate::vault::model::{LoginEnd, Who};

/// One operation of [`vault_site`]: two bytes, an opcode (mod 7) and an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteOp {
    /// Register `key` with password number `password`, presenting `token`'s owner token.
    /// Argument: bit 0 key, bits 1–2 password (mod 3), bits 3–4 token (0 none, 1 owner, 2 attacker).
    Register {
        /// Key wrapped.
        key: Who,
        /// Password number (0..3).
        password: u8,
        /// Owner token presented.
        token: Option<Who>,
    },
    /// A whole login. Argument: bits 0–1 password, bits 2–3 end (mod 3).
    Login {
        /// Password number.
        password: u8,
        /// How it ends.
        end: LoginEnd,
    },
    /// KE1 and KE2 only; the login is held in a slot (argument: password).
    Begin {
        /// Password number.
        password: u8,
    },
    /// Sends the KE3 of a held login (a junk one when `junk` or when the
    /// client found the password wrong). Argument: bits 0–1 slot, bit 2 junk.
    Finish {
        /// Slot (0..4).
        slot: u8,
        /// Send junk.
        junk: bool,
    },
    /// Sends the last KE3 of a finished slot again (argument: slot).
    Replay {
        /// Slot (0..4).
        slot: u8,
    },
    /// Deletes the record with `token`'s owner token (argument: bit 0).
    Delete {
        /// Owner token presented.
        token: Who,
    },
    /// A login on an account nobody registered (argument: password).
    Stranger {
        /// Password number.
        password: u8,
    },
}

fn who(bit: u8) -> Who {
    if bit & 1 == 0 { Who::Owner } else { Who::Attacker }
}

fn who_bit(w: Who) -> u8 {
    u8::from(w == Who::Attacker)
}

impl SiteOp {
    fn decode(op: u8, arg: u8) -> Self {
        match op % 7 {
            0 => Self::Register {
                key: who(arg),
                password: (arg >> 1) % 4 % 3,
                token: match (arg >> 3) % 4 % 3 {
                    0 => None,
                    1 => Some(Who::Owner),
                    _ => Some(Who::Attacker),
                },
            },
            1 => Self::Login {
                password: arg % 4 % 3,
                end: match (arg >> 2) % 4 % 3 {
                    0 => LoginEnd::Complete,
                    1 => LoginEnd::Abandon,
                    _ => LoginEnd::BadKe3,
                },
            },
            2 => Self::Begin { password: arg % 4 % 3 },
            3 => Self::Finish { slot: arg % 4, junk: arg & 4 != 0 },
            4 => Self::Replay { slot: arg % 4 },
            5 => Self::Delete { token: who(arg) },
            _ => Self::Stranger { password: arg % 4 % 3 },
        }
    }

    fn encode(&self) -> [u8; 2] {
        match *self {
            Self::Register { key, password, token } => {
                let t = match token {
                    None => 0,
                    Some(Who::Owner) => 1,
                    Some(Who::Attacker) => 2,
                };
                [0, who_bit(key) | ((password % 3) << 1) | (t << 3)]
            }
            Self::Login { password, end } => {
                let e = match end {
                    LoginEnd::Complete => 0,
                    LoginEnd::Abandon => 1,
                    LoginEnd::BadKe3 => 2,
                };
                [1, (password % 3) | (e << 2)]
            }
            Self::Begin { password } => [2, password % 3],
            Self::Finish { slot, junk } => [3, (slot % 4) | (u8::from(junk) << 2)],
            Self::Replay { slot } => [4, slot % 4],
            Self::Delete { token } => [5, who_bit(token)],
            Self::Stranger { password } => [6, password % 3],
        }
    }
}

/// Operations per [`vault_site`] input at most.
pub const MAX_SITE_OPS: usize = 16;

/// The input of [`vault_site`]: a limit byte (`1 + limit % 4`), then
/// operations of two bytes each (at most [`MAX_SITE_OPS`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VaultSiteInput {
    /// Attempt limit is `1 + limit % 4`.
    pub limit: u8,
    /// The operations.
    pub ops: Vec<SiteOp>,
}

impl VaultSiteInput {
    fn read(data: &[u8]) -> Self {
        let Some((&limit, rest)) = data.split_first() else { return Self::default() };
        let ops = rest.chunks_exact(2).take(MAX_SITE_OPS).map(|p| SiteOp::decode(p[0], p[1])).collect();
        Self { limit, ops }
    }

    /// The bytes that decode to this input.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![self.limit];
        for op in &self.ops {
            v.extend_from_slice(&op.encode());
        }
        v
    }
}

/// A login held between [`SiteOp::Begin`] and [`SiteOp::Finish`].
struct Held {
    login_id: u64,
    /// The KE3 and what the client needs to open the release, if the client
    /// accepted KE2 (the right password for a real record).
    ke3: Option<(client::AwaitingRelease, Request)>,
    /// The charge the login was answered against; `None` for a dummy login.
    against: Option<Charged>,
    /// The request sent by Finish, for Replay.
    sent: Option<Request>,
}

struct SiteBench {
    site: Site,
    ledger: MemoryLedger,
    rng: FuzzRng,
    pinned: Vec<u8>,
    keys: [BackupKey; 2],
    model: AccountModel,
    /// KE2 answers for the real account since the last reset, counted from replies.
    ke2_since_reset: u32,
}

fn body_name(r: &Reply) -> String {
    match &r.body {
        Some(reply::Body::Error(e)) => format!("Error({:?})", ErrorCode::try_from(e.code)),
        Some(b) => format!("{b:?}").chars().take(40).collect(),
        None => "no body".to_owned(),
    }
}

fn assert_reply(r: &Reply, want: ModelOutcome, op: &SiteOp) {
    let ok = match (&r.body, want) {
        (Some(reply::Body::Registered(v)), ModelOutcome::Registered { version }) => *v == version,
        (Some(reply::Body::Error(e)), ModelOutcome::Refused(code)) => e.code == code as i32,
        (Some(reply::Body::Ke2(_)), ModelOutcome::Ke2) => true,
        (Some(reply::Body::Locked(_)), ModelOutcome::Locked) => true,
        (Some(reply::Body::Released(_)), ModelOutcome::Released(_)) => true,
        (Some(reply::Body::LoginFailed(_)), ModelOutcome::LoginFailed) => true,
        (Some(reply::Body::Deleted(_)), ModelOutcome::Deleted) => true,
        _ => false,
    };
    assert!(ok, "{op:?}: the site answered {}, the model expects {want:?}", body_name(r));
}

fn login_finish_request(account: &[u8], login_id: u64, ke3: &[u8]) -> Request {
    Request {
        version: wire::VERSION,
        account: account.to_vec(),
        body: Some(request::Body::LoginFinish(wire::LoginFinish { login_id, ke3: ke3.to_vec() })),
    }
}

impl SiteBench {
    fn call(&mut self, req: Request) -> Reply {
        self.site.handle(&mut self.ledger, req)
    }

    fn key(&self, w: Who) -> &BackupKey {
        &self.keys[usize::from(who_bit(w))]
    }

    fn note_reset(&mut self, r: &Reply) {
        if matches!(r.body, Some(reply::Body::Registered(_) | reply::Body::Released(_) | reply::Body::Deleted(_))) {
            self.ke2_since_reset = 0;
        }
        assert!(
            self.ke2_since_reset <= self.model.limit,
            "{} KE2 answers since the last reset, limit {}",
            self.ke2_since_reset,
            self.model.limit
        );
    }

    fn register(&mut self, op: &SiteOp, key: Who, password: u8, token: Option<Who>) {
        let c = VaultClient::new(ACCOUNT, &self.pinned);
        let pw = PASSWORDS[usize::from(password % 3)];
        let (reg, req) = match c.register_start(&mut self.rng, pw) {
            Ok(x) => x,
            Err(e) => panic!("client registration start failed: {e:?}"),
        };
        let r = self.call(req);
        let token_key = token.map(|t| self.key(t).clone());
        let wrapped = self.key(key).clone();
        let upload = match reg.finish(&mut self.rng, pw, &r, &wrapped, KsfProfile::Test, token_key.as_ref()) {
            Ok(u) => u,
            Err(e) => panic!("client registration finish failed: {e:?} (reply {})", body_name(&r)),
        };
        let r = self.call(upload);
        let want = self.model.register(key, password % 3, token);
        assert_reply(&r, want, op);
        self.note_reset(&r);
    }

    fn begin(&mut self, op: &SiteOp, account: &[u8], password: u8) -> Option<Held> {
        let c = VaultClient::new(account, &self.pinned);
        let pw = PASSWORDS[usize::from(password % 3)];
        let (login, req) = match c.login_start(&mut self.rng, pw) {
            Ok(x) => x,
            Err(e) => panic!("client login start failed: {e:?}"),
        };
        let r = self.call(req);
        let (want, against) = if account == ACCOUNT { self.model.ke1(password % 3) } else { (ModelOutcome::Ke2, None) };
        if against.is_some() && matches!(r.body, Some(reply::Body::Ke2(_))) {
            self.ke2_since_reset += 1;
        }
        let opens = against.is_some_and(|c| c.opens);
        assert_reply(&r, want, op);
        self.note_reset(&r);
        let login_id = match &r.body {
            Some(reply::Body::Ke2(k)) => k.login_id,
            _ => return None,
        };
        let ke3 = match login.finish(&mut self.rng, pw, &r) {
            Ok(x) => {
                assert!(opens, "the client accepted a KE2 it should not open ({op:?})");
                Some(x)
            }
            Err(ClientError::WrongPassword) => {
                assert!(!opens, "the client refused the right password ({op:?})");
                None
            }
            Err(e) => panic!("the client failed on KE2: {e:?}"),
        };
        Some(Held { login_id, ke3, against, sent: None })
    }

    fn finish(&mut self, op: &SiteOp, account: &[u8], held: &mut Held, junk: bool) {
        let valid = !junk && held.ke3.is_some();
        let req = match (&held.ke3, valid) {
            (Some((_, ke3)), true) => ke3.clone(),
            _ => login_finish_request(account, held.login_id, &JUNK_KE3),
        };
        held.sent = Some(req.clone());
        let r = self.call(req);
        let want = match (account == ACCOUNT, valid, held.against) {
            (false, _, _) => ModelOutcome::LoginFailed,
            (true, true, Some(charged)) => self.model.success(&charged),
            (true, true, None) => panic!("a dummy login produced a KE3"),
            (true, false, _) => self.model.failure(),
        };
        assert_reply(&r, want, op);
        self.note_reset(&r);
        if let (ModelOutcome::Released(owner), Some((awaiting, _))) = (want, held.ke3.take()) {
            match awaiting.open(&r) {
                Ok(k) => assert!(&k == self.key(owner), "the vault released somebody else's key"),
                Err(e) => panic!("the released key does not open: {e:?}"),
            }
        }
    }
}

/// Target `vault_site`: a [`VaultSiteInput`] played against one [`Site`]
/// over a [`MemoryLedger`] with the real client (KSF profile `test`) and
/// checked, operation by operation, against the reference model of
/// `DESIGN.md` §5 ([`crate::vault::model::AccountModel`], shared with the
/// property tests): every reply is the one the model expects; after every
/// operation the record's attempts left, lock, version, limit, charge count
/// and owner equal the model's, a locked record holds no key material, and
/// no more KE2s than the limit were answered for the record between two
/// resets (registration, successful recovery, deletion). Logins can be held
/// open (up to four) and finished or replayed later, across registrations
/// and deletions, and logins on an unknown account must not touch the record.
pub fn vault_site(data: &[u8]) {
    let input = VaultSiteInput::read(data);
    let limit = 1 + u32::from(input.limit % 4);
    let setup = server_setup(b"e2eb fuzz vault_site setup");
    let site = test_site(&setup, limit, b"e2eb fuzz vault_site site");
    let keys = [BackupKey::from_bytes(OWNER_KEY), BackupKey::from_bytes(ATTACKER_KEY)];
    let hash = |k: &BackupKey| owner_hash(kdf::derive(k, kdf::LABEL_VAULT_OWNER).expose_secret());
    let owner_hashes = [hash(&keys[0]), hash(&keys[1])];
    let mut b = SiteBench {
        pinned: site.public_key(),
        site,
        ledger: MemoryLedger::default(),
        rng: FuzzRng::new(b"e2eb fuzz vault_site client"),
        keys,
        model: AccountModel::new(limit),
        ke2_since_reset: 0,
    };
    let mut slots: [Option<Held>; 4] = [None, None, None, None];
    for op in &input.ops {
        let log_before = b.ledger.log.len();
        match *op {
            SiteOp::Register { key, password, token } => b.register(op, key, password, token),
            SiteOp::Delete { token } => {
                let req = VaultClient::new(ACCOUNT, &b.pinned).delete_request(b.key(token));
                let r = b.call(req);
                let want = b.model.delete(token);
                assert_reply(&r, want, op);
                b.note_reset(&r);
            }
            SiteOp::Login { password, end } => {
                if let Some(mut held) = b.begin(op, ACCOUNT, password) {
                    match end {
                        LoginEnd::Complete if held.ke3.is_some() => b.finish(op, ACCOUNT, &mut held, false),
                        LoginEnd::BadKe3 => b.finish(op, ACCOUNT, &mut held, true),
                        _ => {}
                    }
                }
            }
            SiteOp::Begin { password } => {
                if let Some(held) = b.begin(op, ACCOUNT, password) {
                    let free = slots.iter().position(Option::is_none).unwrap_or(usize::from(password % 4));
                    slots[free] = Some(held);
                }
            }
            SiteOp::Finish { slot, junk } => {
                if let Some(mut held) = slots[usize::from(slot % 4)].take() {
                    if held.sent.is_none() {
                        b.finish(op, ACCOUNT, &mut held, junk);
                    }
                    slots[usize::from(slot % 4)] = Some(held);
                }
            }
            SiteOp::Replay { slot } => {
                let sent = slots[usize::from(slot % 4)].as_ref().and_then(|h| h.sent.clone());
                if let Some(req) = sent {
                    let r = b.call(req);
                    assert_reply(&r, ModelOutcome::Refused(ErrorCode::UnknownLogin), op);
                    assert_eq!(b.ledger.log.len(), log_before, "a replayed KE3 committed a change");
                }
            }
            SiteOp::Stranger { password } => {
                let before = b.ledger.accounts.clone();
                if let Some(mut held) = b.begin(op, STRANGER, password) {
                    assert!(held.ke3.is_none());
                    b.finish(op, STRANGER, &mut held, true);
                }
                assert_eq!(b.ledger.accounts, before, "a login on an unknown account changed a record");
            }
        }
        if let Err(e) = b.model.check(b.ledger.record(ACCOUNT).as_ref(), |w| owner_hashes[usize::from(who_bit(w))]) {
            panic!("{op:?}: site vs model: {e}");
        }
        check_records(&b.ledger);
    }
}

// ------------------------------------------------------------------ fleet

/// One step of [`fleet_schedule`]: two bytes, an opcode (mod 8) and an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetOp {
    /// A login (argument: bit 0 right password, bits 1–2 end mod 3).
    Login {
        /// Use the registered password.
        right: bool,
        /// How it ends.
        end: LoginEnd,
    },
    /// Crash a site (argument mod 5).
    Crash(u8),
    /// Restart a site (argument mod 5).
    Restart(u8),
    /// Partition: sites whose bit is set in the argument against the others.
    Partition(u8),
    /// Remove every partition.
    Heal,
    /// Copy a site's disk (argument mod 5), for a later rollback.
    CopyDisk(u8),
    /// Restart a site from its older copy (argument mod 5), if one was taken.
    Rollback(u8),
    /// The owner registers again (resets the count), argument: new password bit.
    Reregister(u8),
}

impl FleetOp {
    fn decode(op: u8, arg: u8) -> Self {
        match op % 8 {
            0 => Self::Login {
                right: arg & 1 != 0,
                end: match (arg >> 1) % 4 % 3 {
                    0 => LoginEnd::Complete,
                    1 => LoginEnd::Abandon,
                    _ => LoginEnd::BadKe3,
                },
            },
            1 => Self::Crash(arg % 5),
            2 => Self::Restart(arg % 5),
            3 => Self::Partition(arg & 0x1f),
            4 => Self::Heal,
            5 => Self::CopyDisk(arg % 5),
            6 => Self::Rollback(arg % 5),
            _ => Self::Reregister(arg & 1),
        }
    }

    fn encode(&self) -> [u8; 2] {
        match *self {
            Self::Login { right, end } => {
                let e = match end {
                    LoginEnd::Complete => 0,
                    LoginEnd::Abandon => 1,
                    LoginEnd::BadKe3 => 2,
                };
                [0, u8::from(right) | (e << 1)]
            }
            Self::Crash(s) => [1, s % 5],
            Self::Restart(s) => [2, s % 5],
            Self::Partition(m) => [3, m & 0x1f],
            Self::Heal => [4, 0],
            Self::CopyDisk(s) => [5, s % 5],
            Self::Rollback(s) => [6, s % 5],
            Self::Reregister(p) => [7, p & 1],
        }
    }
}

/// Steps per [`fleet_schedule`] input at most (a fleet costs about 100 ms to start).
pub const MAX_FLEET_OPS: usize = 8;

/// The input of [`fleet_schedule`]: a limit byte (`2 + limit % 3`), then
/// steps of two bytes each (at most [`MAX_FLEET_OPS`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FleetInput {
    /// Attempt limit is `2 + limit % 3`.
    pub limit: u8,
    /// The steps.
    pub ops: Vec<FleetOp>,
}

impl FleetInput {
    fn read(data: &[u8]) -> Self {
        let Some((&limit, rest)) = data.split_first() else { return Self::default() };
        let ops = rest.chunks_exact(2).take(MAX_FLEET_OPS).map(|p| FleetOp::decode(p[0], p[1])).collect();
        Self { limit, ops }
    }

    /// The bytes that decode to this input.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![self.limit];
        for op in &self.ops {
            v.extend_from_slice(&op.encode());
        }
        v
    }
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("e2eb-fuzz-fleet-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        if let Err(e) = std::fs::create_dir_all(&path) {
            panic!("cannot create {}: {e}", path.display());
        }
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Target `fleet_schedule`: a five-site [`crate::vault::fleet::Fleet`]
/// (durable redb disks in a temporary directory, HSM counter on, KSF
/// profile `test`) registers one account, then plays a [`FleetInput`] of
/// logins, re-registrations, crashes, restarts, partitions, disk copies and
/// rollbacks to an older disk. Asserted (`DESIGN.md` §5): no more KE2
/// answers for the record between two resets than the limit (resets the
/// client could not observe are read back from the fleet; when no leader
/// can confirm a read, counting pauses until the next observed reset); a
/// locked record answers no login until the owner registers again; no
/// KE2, release or registration while no site group holds a majority;
/// every site's record stays within its limit; and at the end, with every
/// site up and the network healed, the acknowledged registration is still
/// there (when a leader can be elected within ten seconds).
pub fn fleet_schedule(data: &[u8]) {
    use crate::vault::fleet::{Fleet, FleetOptions};
    let input = FleetInput::read(data);
    let limit = 2 + u32::from(input.limit % 3);
    let dir = TempDir::new();
    let options = FleetOptions {
        limit,
        default_profile: KsfProfile::Test,
        heartbeat_ms: 15,
        commit_timeout: Duration::from_millis(600),
        seed: 7,
        ..Default::default()
    };
    let mut fleet = match Fleet::start(&dir.0, server_setup(b"e2eb fuzz fleet setup"), options) {
        Ok(f) => f,
        Err(e) => panic!("the fleet did not start: {e}"),
    };
    let mut rng = FuzzRng::new(b"e2eb fuzz fleet client");
    let owner = BackupKey::from_bytes(OWNER_KEY);
    let client = VaultClient::new(ACCOUNT, &fleet.public_key());
    let patience = Duration::from_secs(3);
    let mut password = 0usize;
    let register = |fleet: &mut Fleet, rng: &mut FuzzRng, pw: &[u8], token: bool, patience: Duration| -> Option<u64> {
        let (reg, req) = client.register_start(rng, pw).ok()?;
        let r = fleet.submit(req, patience);
        let upload = reg.finish(rng, pw, &r, &owner, KsfProfile::Test, token.then_some(&owner)).ok()?;
        client::registered(&fleet.submit(upload, patience)).ok()
    };
    let Some(mut acked) = register(&mut fleet, &mut rng, PASSWORDS[0], false, Duration::from_secs(10)) else {
        // No leader within the patience on a loaded machine: nothing to check.
        return;
    };
    let mut ke2 = 0u32;
    let mut counting = true;
    let mut locked = false;
    let mut group = 0u8; // partition mask; 0 = healed
    let mut copies: [Option<std::path::PathBuf>; 5] = Default::default();
    for op in &input.ops {
        let up = fleet.up_sites();
        let in_mask = |i: usize| group & (1 << i) != 0;
        let side_a = up.iter().filter(|&&i| in_mask(i)).count();
        let majority = (up.len() - side_a).max(side_a) >= 3;
        let patience = if majority { patience } else { Duration::from_millis(300) };
        let mut replies: Vec<Reply> = Vec::new();
        match *op {
            FleetOp::Login { right, end } => {
                let pw = PASSWORDS[if right { password } else { 2 }];
                let Ok((login, req)) = client.login_start(&mut rng, pw) else { panic!("client login start failed") };
                let r = fleet.submit(req, patience);
                replies.push(r.clone());
                if let Some(reply::Body::Ke2(k)) = &r.body {
                    let login_id = k.login_id;
                    let finish = match end {
                        LoginEnd::Abandon => None,
                        LoginEnd::BadKe3 => Some(login_finish_request(ACCOUNT, login_id, &JUNK_KE3)),
                        LoginEnd::Complete => login.finish(&mut rng, pw, &r).ok().map(|(_, req)| req),
                    };
                    if let Some(req) = finish {
                        replies.push(fleet.submit(req, patience));
                    }
                }
            }
            FleetOp::Reregister(p) => {
                let next = usize::from(p & 1);
                if let Some(v) = register(&mut fleet, &mut rng, PASSWORDS[next], true, patience) {
                    assert!(majority, "a registration was acknowledged without a majority");
                    acked = v;
                    password = next;
                    ke2 = 0;
                    counting = true;
                    locked = false;
                } else {
                    // It may have committed (a lost answer): learn the lock from the fleet.
                    counting = false;
                    locked = matches!(fleet.linearizable_record(ACCOUNT), Some(Some(r)) if r.locked);
                }
            }
            FleetOp::Crash(s) => fleet.crash(usize::from(s)),
            FleetOp::Restart(s) => {
                if let Err(e) = fleet.restart(usize::from(s)) {
                    panic!("site {s} did not restart: {e}");
                }
            }
            FleetOp::Partition(mask) => {
                group = mask;
                let a: Vec<usize> = (0..5).filter(|&i| mask & (1 << i) != 0).collect();
                let b: Vec<usize> = (0..5).filter(|&i| mask & (1 << i) == 0).collect();
                fleet.partition(&[a, b]);
            }
            FleetOp::Heal => {
                group = 0;
                fleet.heal();
            }
            FleetOp::CopyDisk(s) => {
                if let Ok(p) = fleet.copy_disk(usize::from(s)) {
                    copies[usize::from(s)] = Some(p);
                }
            }
            FleetOp::Rollback(s) => {
                if let Some(p) = copies[usize::from(s)].clone()
                    && let Err(e) = fleet.restart_from_copy(usize::from(s), &p)
                {
                    panic!("site {s} did not restart from its old disk: {e}");
                }
            }
        }
        for r in &replies {
            match &r.body {
                Some(reply::Body::Ke2(_)) => {
                    assert!(!locked, "a locked record answered a login with KE2");
                    ke2 += 1;
                }
                Some(reply::Body::Released(_)) => {
                    assert!(!locked, "a locked record released its key");
                    ke2 = 0;
                    counting = true;
                }
                Some(reply::Body::Locked(_)) => locked = true,
                Some(reply::Body::Error(_)) => {
                    // A KE3 whose answer was lost may have reset the count.
                    counting = false;
                }
                _ => {}
            }
            if !majority {
                assert!(
                    !matches!(r.body, Some(reply::Body::Ke2(_) | reply::Body::Released(_))),
                    "the fleet answered {} without a majority",
                    body_name(r)
                );
            }
        }
        if !counting && let Some(Some(rec)) = fleet.linearizable_record(ACCOUNT) {
            ke2 = rec.charged_since_reset;
            counting = true;
        }
        if counting {
            assert!(ke2 <= limit, "{ke2} KE2 answers between resets, limit {limit} ({op:?})");
        }
        for i in fleet.up_sites() {
            if let Some(r) = fleet.record(i, ACCOUNT) {
                assert!(r.charged_since_reset <= r.limit, "site {i}: {} charges since reset", r.charged_since_reset);
            }
        }
    }
    fleet.heal();
    for i in 0..fleet.len() {
        if let Err(e) = fleet.restart(i) {
            panic!("site {i} did not restart: {e}");
        }
    }
    if fleet.wait_for_leader(Duration::from_secs(10)).is_some() {
        let start = std::time::Instant::now();
        let mut read = fleet.linearizable_record(ACCOUNT);
        while read.is_none() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
            read = fleet.linearizable_record(ACCOUNT);
        }
        if let Some(rec) = read {
            let Some(rec) = rec else { panic!("an acknowledged registration (version {acked}) was lost") };
            assert!(rec.version >= acked, "the record went back from version {acked} to {}", rec.version);
        }
    }
    fleet.shutdown();
}

// ------------------------------------------------------------------ AEAD differential

/// A second AES-256-GCM implementation (12-byte nonces) to compare with
/// RustCrypto's; the `fuzz/` wrapper provides one over `ring`.
pub trait AeadOracle {
    /// Encrypts: ciphertext followed by the 16-byte tag.
    fn seal(&self, key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8>;
    /// Decrypts `ciphertext || tag`; `None` when it does not authenticate.
    fn open(&self, key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>>;
}

/// The input of [`aead_differential`]. Layout: key (32), nonce (12), 4 more
/// IV bytes (for the 16-byte-IV check), AAD (length byte, ≤ 64), a bit
/// position to flip (u16), two split points (u16 each), then the message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AeadInput {
    /// AES-256 key.
    pub key: [u8; 32],
    /// 96-bit nonce.
    pub nonce: [u8; 12],
    /// Bytes appended to the nonce for the 128-bit IV check.
    pub iv_tail: [u8; 4],
    /// Associated data.
    pub aad: Vec<u8>,
    /// Bit flipped in the sealed message (mod its length in bits).
    pub flip: u16,
    /// Where the streaming implementation splits the message.
    pub splits: [u16; 2],
    /// The message.
    pub message: Vec<u8>,
}

impl AeadInput {
    fn read(mut r: Reader<'_>) -> Self {
        let key = r.array();
        let nonce = r.array();
        let iv_tail = r.array();
        let aad = r.short(64).to_vec();
        let flip = r.u16();
        let splits = [r.u16(), r.u16()];
        Self { key, nonce, iv_tail, aad, flip, splits, message: r.rest().to_vec() }
    }

    /// The bytes that decode to this input.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.bytes(&self.key);
        w.bytes(&self.nonce);
        w.bytes(&self.iv_tail);
        w.short(&self.aad, 64);
        w.u16(self.flip);
        w.u16(self.splits[0]);
        w.u16(self.splits[1]);
        w.bytes(&self.message);
        w.0
    }
}

/// Seals with [`GcmStream`], feeding the message in three pieces.
fn stream_seal(key: &[u8; 32], iv: &[u8], aad: &[u8], msg: &[u8], splits: [u16; 2]) -> Vec<u8> {
    let n = msg.len();
    let mut cuts = [usize::from(splits[0]) % (n + 1), usize::from(splits[1]) % (n + 1)];
    cuts.sort_unstable();
    let Ok(mut s) = GcmStream::with_aad(key, iv, aad) else { panic!("GcmStream refused a non-empty IV") };
    let mut out = msg.to_vec();
    let (a, rest) = out.split_at_mut(cuts[0]);
    let (b, c) = rest.split_at_mut(cuts[1] - cuts[0]);
    for piece in [a, b, c] {
        if let Err(e) = s.encrypt(piece) {
            panic!("GcmStream refused a short message: {e}");
        }
    }
    out.extend_from_slice(&s.finalize());
    out
}

/// Opens with [`GcmStream`]: decrypts then verifies.
fn stream_open(key: &[u8; 32], iv: &[u8], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 16 {
        return None;
    }
    let (ct, tag) = sealed.split_at(sealed.len() - 16);
    let Ok(mut s) = GcmStream::with_aad(key, iv, aad) else { panic!("GcmStream refused a non-empty IV") };
    let mut buf = ct.to_vec();
    if s.decrypt(&mut buf).is_err() {
        return None;
    }
    s.verify(tag).then_some(buf)
}

/// Target `aead_differential`: an [`AeadInput`] through RustCrypto's
/// `Aes256Gcm`, our streaming [`GcmStream`] (message split at two
/// fuzz-chosen points) and, when given, a second implementation `other`
/// (`ring` in `fuzz/`). Asserted, in both directions: the three produce the
/// same ciphertext and tag; each opens what the others sealed; a sealed
/// message with one bit flipped is refused by all; the raw message taken as
/// a sealed one gets the same verdict from all; and with a 16-byte IV
/// (crypt15's) [`GcmStream`] agrees with `AesGcm<Aes256, U16>`.
pub fn aead_differential(data: &[u8], other: Option<&dyn AeadOracle>) {
    let input = AeadInput::read(Reader::new(data));
    let (key, nonce, aad, msg) = (&input.key, &input.nonce, &input.aad[..], &input.message[..]);
    let rc = Aes256Gcm::new(key.into());
    let sealed = match rc.encrypt(nonce.into(), Payload { msg, aad }) {
        Ok(s) => s,
        Err(e) => panic!("aes-gcm refused to seal a short message: {e:?}"),
    };
    assert_eq!(stream_seal(key, nonce, aad, msg, input.splits), sealed, "GcmStream and aes-gcm seal differently");
    assert_eq!(stream_open(key, nonce, aad, &sealed).as_deref(), Some(msg), "GcmStream cannot open aes-gcm");
    if let Some(o) = other {
        let theirs = o.seal(key, nonce, aad, msg);
        assert_eq!(theirs, sealed, "the second implementation seals differently");
        assert_eq!(rc.decrypt(nonce.into(), Payload { msg: &theirs, aad }).ok().as_deref(), Some(msg));
        assert_eq!(o.open(key, nonce, aad, &sealed).as_deref(), Some(msg), "the second implementation cannot open");
    }
    let mut flipped = sealed.clone();
    let bit = usize::from(input.flip) % (flipped.len() * 8);
    flipped[bit / 8] ^= 1 << (bit % 8);
    assert!(rc.decrypt(nonce.into(), Payload { msg: &flipped, aad }).is_err(), "aes-gcm accepted a flipped bit");
    assert!(stream_open(key, nonce, aad, &flipped).is_none(), "GcmStream accepted a flipped bit");
    if let Some(o) = other {
        assert!(o.open(key, nonce, aad, &flipped).is_none(), "the second implementation accepted a flipped bit");
    }
    let as_sealed = rc.decrypt(nonce.into(), Payload { msg, aad }).ok();
    assert_eq!(stream_open(key, nonce, aad, msg), as_sealed, "GcmStream and aes-gcm disagree on a forged message");
    if let Some(o) = other {
        assert_eq!(o.open(key, nonce, aad, msg), as_sealed, "the implementations disagree on a forged message");
    }
    let mut iv16 = [0u8; 16];
    iv16[..12].copy_from_slice(nonce);
    iv16[12..].copy_from_slice(&input.iv_tail);
    let wide = AesGcm::<Aes256, U16>::new(key.into());
    let sealed16 = match wide.encrypt((&iv16).into(), Payload { msg, aad }) {
        Ok(s) => s,
        Err(e) => panic!("aes-gcm (16-byte IV) refused to seal: {e:?}"),
    };
    assert_eq!(stream_seal(key, &iv16, aad, msg, input.splits), sealed16, "16-byte IV: GcmStream differs");
    assert_eq!(stream_open(key, &iv16, aad, &sealed16).as_deref(), Some(msg));
}

// ------------------------------------------------------------------ JSON

/// JSON values equal up to the last bit of floating-point numbers (serde_json
/// parses floats fast, not always to the nearest double).
fn json_close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => match (x.as_f64(), y.as_f64()) {
            _ if x == y => true,
            (Some(p), Some(q)) => (p - q).abs() <= p.abs().max(q.abs()) * 1e-15,
            _ => false,
        },
        (V::Array(x), V::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_close(p, q)),
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_close(v, w)))
        }
        _ => a == b,
    }
}

/// Target `vectors_json` (untyped part): any bytes either fail to parse as
/// JSON or parse to a value that serialises and parses back to itself.
/// The `fuzz/` wrapper also runs [`json_roundtrip`] with e2eb's vector
/// schema (`e2eb::vectors::VectorFile`).
pub fn vectors_json(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let text = match serde_json::to_vec(&v) {
        Ok(t) => t,
        Err(e) => panic!("a parsed JSON value does not serialise: {e}"),
    };
    match serde_json::from_slice::<serde_json::Value>(&text) {
        Ok(back) => assert!(json_close(&v, &back), "JSON does not survive a round trip"),
        Err(e) => panic!("serialised JSON does not parse: {e}"),
    }
}

/// Parses `data` as a `T` (never panics); a parsed `T` serialises to JSON
/// that parses back to an equal `T`.
///
/// Not asserted: that `data` was valid JSON. serde skips the values of
/// unknown fields without validating them (invalid UTF-8 inside an ignored
/// string passes), so a schema without `deny_unknown_fields` accepts some
/// bytes that `serde_json::Value` rejects.
pub fn json_roundtrip<T: Serialize + DeserializeOwned + PartialEq + Debug>(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<T>(data) else { return };
    let text = match serde_json::to_vec(&value) {
        Ok(t) => t,
        Err(e) => panic!("a parsed value does not serialise: {e}"),
    };
    match serde_json::from_slice::<T>(&text) {
        Ok(back) => assert_eq!(back, value, "the schema does not survive a round trip"),
        Err(e) => panic!("serialised value does not parse: {e}"),
    }
}

// ------------------------------------------------------------------ seed helpers

/// Seed bytes of [`v2_tamper`].
pub fn v2_structured_seed(mutation: Mutation, input: &V2Input) -> Vec<u8> {
    let mut v = mutation.encode();
    v.extend(input.encode());
    v
}

/// Seed bytes of [`metadata_blob`] in raw mode.
pub fn metadata_raw_seed(blob_bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8];
    v.extend_from_slice(blob_bytes);
    v
}

/// Seed bytes of [`metadata_blob`] in structured mode.
pub fn metadata_structured_seed(mutation: Mutation, input: &MetadataInput) -> Vec<u8> {
    let mut v = vec![1u8];
    v.extend(mutation.encode());
    v.extend(input.encode());
    v
}

/// Seed bytes of [`crypt15_tamper`].
pub fn crypt15_tamper_seed(mutation: Mutation, input: &Crypt15Input) -> Vec<u8> {
    let mut v = mutation.encode();
    v.extend(input.encode());
    v
}

/// A crypt15 file of `input` under [`FUZZ_KEY`] (a seed of [`crypt15_decrypt`]).
/// Panics on a multi-file payload that begins with a zlib header, which
/// encryption refuses.
pub fn crypt15_file(input: &Crypt15Input) -> Vec<u8> {
    input.encrypt(&fuzz_key())
}

/// A v2 file of `input` under [`FUZZ_KEY`] (for raw-mode seeds of [`v2_decrypt`]).
pub fn v2_file(input: &V2Input) -> Vec<u8> {
    input.build(&fuzz_key()).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_encode_to_what_they_decode() {
        let c = Crypt15Input {
            multi_file: true,
            fix_md5: true,
            iv: [7; 16],
            app_version: b"2.24".to_vec(),
            phone_suffix: b"42".to_vec(),
            backup_version: 3,
            features: [1, 2, 3, 4, 1],
            plaintext: b"hello".to_vec(),
            ..Default::default()
        };
        assert_eq!(Crypt15Input::read(Reader::new(&c.encode())), c);
        let m = Mutation::Insert { pos: 300, len: 7, value: 9 };
        let bytes = [m.encode(), c.encode()].concat();
        let mut r = Reader::new(&bytes);
        assert_eq!(Mutation::read(&mut r), m);
        assert_eq!(Crypt15Input::read(r), c);
        let v = V2Input {
            zlib: true,
            feature_flags: vec![5, 9],
            app_version: b"x".to_vec(),
            growth: 2,
            ..Default::default()
        };
        assert_eq!(V2Input::read(Reader::new(&v.encode())), v);
        let s = VaultSiteInput {
            limit: 2,
            ops: vec![
                SiteOp::Register { key: Who::Owner, password: 0, token: Some(Who::Attacker) },
                SiteOp::Login { password: 2, end: LoginEnd::BadKe3 },
                SiteOp::Finish { slot: 3, junk: true },
            ],
        };
        assert_eq!(VaultSiteInput::read(&s.encode()), s);
        let f = FleetInput {
            limit: 1,
            ops: vec![FleetOp::Partition(0b10011), FleetOp::Login { right: true, end: LoginEnd::Abandon }],
        };
        assert_eq!(FleetInput::read(&f.encode()), f);
        let a = AeadInput { aad: vec![1, 2], flip: 77, splits: [3, 4], message: b"m".to_vec(), ..Default::default() };
        assert_eq!(AeadInput::read(Reader::new(&a.encode())), a);
    }

    #[test]
    fn every_target_runs_on_empty_and_small_inputs() {
        for t in TARGETS.iter().filter(|t| t.name != "fleet_schedule") {
            for data in [&b""[..], b"\x01", b"\x00E2EB\x02\x00\x00", b"0123456789abcdef"] {
                assert!(run(t.name, data));
            }
        }
        assert!(!run("no_such_target", b""));
    }
}
