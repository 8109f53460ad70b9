//! Targets `v2_header`, `v2_decrypt` and `v2_tamper` (design §4.2): the
//! three v2 readers compared on arbitrary and on edited valid files.

use std::fmt::Debug;
use std::io::Cursor;

use crate::backup::proto::{Compression, PasskeyMetadata, V2Header};
use crate::backup::v2;
use crate::cobblestone::{self, BodyError, SALT_LEN, SEALED_CHUNK_LEN};
use crate::kdf;
use crate::key::BackupKey;

use super::input::{Mutation, Reader, Writer, fuzz_key, lossy, other_key};
use super::reference::{check_detect, inflate_all};

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
    KeyIdDamaged,
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
            Err(E::KeyIdDamaged) => Self::KeyIdDamaged,
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
            !matches!(&slice, V2Verdict::Header(_) | V2Verdict::WrongKey | V2Verdict::KeyIdDamaged),
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
    pub(super) fn read(mut r: Reader<'_>) -> Self {
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

/// Target `v2_decrypt`: the input is a file, decrypted under [`FUZZ_KEY`](super::FUZZ_KEY)
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
/// encrypted under [`FUZZ_KEY`](super::FUZZ_KEY) (or, in key-holder mode, sealed as is) and
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

/// Seed bytes of [`v2_tamper`].
pub fn v2_structured_seed(mutation: Mutation, input: &V2Input) -> Vec<u8> {
    let mut v = mutation.encode();
    v.extend(input.encode());
    v
}

/// A v2 file of `input` under [`FUZZ_KEY`](super::FUZZ_KEY) (for raw-mode seeds of [`v2_decrypt`]).
pub fn v2_file(input: &V2Input) -> Vec<u8> {
    input.build(&fuzz_key()).0
}
