//! Targets `crypt15_prefix`, `crypt15_decrypt`, `crypt15_roundtrip` and
//! `crypt15_tamper` (design §4.1), with their structured input and seed helpers.

use std::fmt::Debug;
use std::io::Cursor;

use md5::{Digest, Md5};
use prost::Message;

use crate::backup::crypt15;
use crate::backup::proto::BackupMetadata;
use crate::key::BackupKey;

use super::input::{Mutation, Reader, Writer, fuzz_key, lossy, other_key};
use super::reference::{check_detect, inflate_all, md5_trailer_ok, reference_crypt15_open, zlib_header};

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
/// [`FUZZ_KEY`](super::FUZZ_KEY) never panics, and its verdict — success, `WrongKey` (MD5
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
    pub(super) fn read(mut r: Reader<'_>) -> Self {
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
        for n in crate::backup::proto::FEATURE_RANGE {
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
        let options = crypt15::EncryptOptions {
            variant: self.variant(),
            iv: Some(self.iv),
            metadata: self.metadata(),
            passkey_metadata: None,
        };
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
/// [`FUZZ_KEY`](super::FUZZ_KEY) decrypts to its plaintext with the right layout and
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
/// input is encrypted under [`FUZZ_KEY`](super::FUZZ_KEY), edited (and, with `fix_md5`, its
/// MD5 recomputed, as an attacker would), and decrypted. Every verdict
/// passes the independent re-check, and an accepted file must have the
/// original IV and the original authenticated bytes (ciphertext and tag)
/// and give the original plaintext: only the unauthenticated prefix fields
/// and the unkeyed MD5 trailer may change (dropping the trailer turns a
/// single-file backup into a valid multi-file one; the layout is not
/// authenticated). [`Mutation::EditHeader`] with the MD5 fixed up must be
/// accepted — the prefix is not authenticated (design §4.1, a finding).
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

/// Seed bytes of [`crypt15_tamper`].
pub fn crypt15_tamper_seed(mutation: Mutation, input: &Crypt15Input) -> Vec<u8> {
    let mut v = mutation.encode();
    v.extend(input.encode());
    v
}

/// A crypt15 file of `input` under [`FUZZ_KEY`](super::FUZZ_KEY) (a seed of [`crypt15_decrypt`]).
/// Panics on a multi-file payload that begins with a zlib header, which
/// encryption refuses.
pub fn crypt15_file(input: &Crypt15Input) -> Vec<u8> {
    input.encrypt(&fuzz_key())
}
