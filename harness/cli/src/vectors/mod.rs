//! Test vectors (`DESIGN.md` §8): one JSON file per family under `vectors/`,
//! each case with an id, a description, hex inputs and either the expected
//! outputs or the expected error kind. Every family has must-fail cases.
//!
//! [`generate`] is deterministic — fixed keys, IVs and salts expanded from
//! labels — so CI regenerates the files and fails if anything changed.
//! [`verify`] checks our files and the external suites: Wycheproof AES-GCM
//! (all IV sizes, including the 128-bit IVs crypt15 uses), HKDF-SHA256,
//! HMAC-SHA256 and Cobblestone-256 (C2SP chunked encryption).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use e2eb_core::backup::{crypt15, metadata, v2};
use e2eb_core::key::BackupKey;
use e2eb_core::proto::{BackupMetadata, Compression};
use e2eb_core::{cobblestone, kdf};
use serde::{Deserialize, Serialize};

use crate::error_kind;
use crate::testdata;

/// Schema identifier written in every file.
pub const SCHEMA: &str = "e2eb-vectors/1";
/// Our families, in file order.
pub const FAMILIES: [&str; 6] = ["key", "kdf", "crypt15", "v2", "metadata", "vault"];

/// One family's file. Unknown fields are refused, so a misspelt key in a
/// hand-edited file is an error rather than silently ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorFile {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Family name.
    pub family: String,
    /// What the family covers.
    pub description: String,
    /// The cases.
    pub cases: Vec<Case>,
}

/// One case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Unique id within the family.
    pub id: String,
    /// What the case shows.
    pub description: String,
    /// The operation (`parse_digits`, `encrypt`, `decrypt`, …).
    pub op: String,
    /// Inputs: hex for bytes, plain text for text fields.
    pub input: BTreeMap<String, String>,
    /// Expected result.
    pub expect: Expect,
}

/// Expected outputs or error kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// The operation succeeds with these outputs.
    Output(BTreeMap<String, String>),
    /// The operation fails with this error kind (see [`crate::error_kind`]).
    Error(String),
}

/// Results of one family.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FamilyResult {
    /// Family name.
    pub family: String,
    /// Cases that passed.
    pub passed: usize,
    /// Descriptions of failed cases.
    pub failures: Vec<String>,
}

/// Results of [`verify`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Per family, ours then external.
    pub families: Vec<FamilyResult>,
}

impl VerifyReport {
    /// Total failures.
    pub fn failed(&self) -> usize {
        self.families.iter().map(|f| f.failures.len()).sum()
    }
    /// Total passes.
    pub fn passed(&self) -> usize {
        self.families.iter().map(|f| f.passed).sum()
    }
}

type Map = BTreeMap<String, String>;

fn map<const N: usize>(pairs: [(&str, String); N]) -> Map {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn case(id: &str, description: &str, op: &str, input: Map, expect: Expect) -> Case {
    Case { id: id.to_owned(), description: description.to_owned(), op: op.to_owned(), input, expect }
}

fn ok(pairs: Map) -> Expect {
    Expect::Output(pairs)
}

fn err(kind: &str) -> Expect {
    Expect::Error(kind.to_owned())
}

fn file(family: &str, description: &str, cases: Vec<Case>) -> VectorFile {
    VectorFile { schema: SCHEMA.to_owned(), family: family.to_owned(), description: description.to_owned(), cases }
}

const CHECK_KEY: &str = "6730a595a1484d0c39c101dc0ac82ec5e401bb6f0e1b8ee2dc104a6b3687f017";

fn test_key(label: &str) -> BackupKey {
    BackupKey::from_bytes(testdata::array(label))
}

/// Builds every family in memory, deterministically.
pub fn generate_all() -> Vec<VectorFile> {
    vec![gen_key(), gen_kdf(), gen_crypt15(), gen_v2(), gen_metadata(), vault::generate()]
}

fn gen_key() -> VectorFile {
    let k = test_key("e2eb/vectors/key/1");
    let kh = hex::encode(k.expose_secret());
    let mut cases = vec![
        case(
            "key-001",
            "64 lower-case digits",
            "parse_digits",
            map([("text", k.to_digits().to_string())]),
            ok(map([("key", kh.clone())])),
        ),
        case(
            "key-002",
            "16 groups of 4",
            "parse_digits",
            map([("text", k.to_groups().to_string())]),
            ok(map([("key", kh.clone())])),
        ),
        case(
            "key-003",
            "the 4x4 grid as printed",
            "parse_digits",
            map([("text", k.to_grid().to_string())]),
            ok(map([("key", kh.clone())])),
        ),
        case(
            "key-004",
            "upper case with dashes",
            "parse_digits",
            map([("text", k.to_groups().replace(' ', "-").to_uppercase())]),
            ok(map([("key", kh.clone())])),
        ),
        case(
            "key-005",
            "formatting: digits, groups and grid",
            "format",
            map([("key", kh.clone())]),
            ok(map([
                ("digits", k.to_digits().to_string()),
                ("groups", k.to_groups().to_string()),
                ("grid", k.to_grid().to_string()),
            ])),
        ),
        case(
            "key-006",
            "Android encrypted_backup.key (Java byte[32])",
            "parse_keyfile",
            map([("keyfile", hex::encode(k.to_android_keyfile()))]),
            ok(map([("key", kh.clone())])),
        ),
    ];
    let digits = k.to_digits().to_string();
    let bad_char = format!("{}z{}", &digits[..20], &digits[21..]);
    cases.push(case(
        "key-101",
        "a non-hex character at position 21",
        "parse_digits",
        map([("text", bad_char)]),
        err("key.InvalidCharacter"),
    ));
    cases.push(case(
        "key-102",
        "63 digits",
        "parse_digits",
        map([("text", digits[..63].to_owned())]),
        err("key.WrongLength"),
    ));
    cases.push(case(
        "key-103",
        "65 digits",
        "parse_digits",
        map([("text", format!("{digits}0"))]),
        err("key.WrongLength"),
    ));
    cases.push(case("key-104", "empty", "parse_digits", map([("text", String::new())]), err("key.WrongLength")));
    let mut bad = k.to_android_keyfile().to_vec();
    bad[5] ^= 0x01;
    cases.push(case(
        "key-105",
        "key file with a damaged Java header",
        "parse_keyfile",
        map([("keyfile", hex::encode(&bad))]),
        err("keyfile.BadHeader"),
    ));
    let kf = k.to_android_keyfile();
    cases.push(case(
        "key-106",
        "key file one byte short",
        "parse_keyfile",
        map([("keyfile", hex::encode(&kf[..58]))]),
        err("keyfile.WrongLength"),
    ));
    file("key", "The 64-digit backup key and the Android key file (DESIGN.md §3)", cases)
}

fn gen_kdf() -> VectorFile {
    let mut cases = Vec::new();
    let labels: [(&str, &[u8], &str); 6] = [
        ("kdf-001", kdf::LABEL_BACKUP_ENCRYPTION, "public check value: crypt15 key"),
        ("kdf-002", kdf::LABEL_METADATA_ENCRYPTION, "public check value: metadata AES-256-CBC key"),
        ("kdf-003", kdf::LABEL_METADATA_AUTHENTICATION, "public check value: metadata HMAC key"),
        ("kdf-004", kdf::LABEL_V2_BACKUP, "e2eb v2 Cobblestone input key"),
        ("kdf-005", kdf::LABEL_KEY_ID, "e2eb key id (full 32 bytes; headers keep 8)"),
        ("kdf-006", kdf::LABEL_VAULT_OWNER, "e2eb vault owner token"),
    ];
    let k = match BackupKey::parse_digits(CHECK_KEY) {
        Ok(k) => k,
        Err(_) => unreachable!("the check key is valid"),
    };
    for (id, info, desc) in labels {
        let out = kdf::derive(&k, info);
        cases.push(case(
            id,
            desc,
            "derive",
            map([("key_text", CHECK_KEY.to_owned()), ("info", hex::encode(info))]),
            ok(map([("okm", hex::encode(out.expose_secret()))])),
        ));
    }
    let k2 = test_key("e2eb/vectors/kdf/2");
    cases.push(case(
        "kdf-007",
        "key id of another key",
        "key_id",
        map([("key_text", k2.to_digits().to_string())]),
        ok(map([("key_id", hex::encode(kdf::key_id(&k2)))])),
    ));
    cases.push(case(
        "kdf-101",
        "a key of 62 digits cannot be derived from",
        "derive",
        map([("key_text", CHECK_KEY[..62].to_owned()), ("info", hex::encode(kdf::LABEL_BACKUP_ENCRYPTION))]),
        err("key.WrongLength"),
    ));
    cases.push(case(
        "kdf-102",
        "a key with a bad character",
        "key_id",
        map([("key_text", format!("x{}", &CHECK_KEY[1..]))]),
        err("key.InvalidCharacter"),
    ));
    file("kdf", "HKDF-SHA256 key hierarchy derived from K (DESIGN.md §3)", cases)
}

fn crypt15_file(k: &BackupKey, iv: [u8; 16], variant: crypt15::Variant, pt: &[u8], app: &str) -> Vec<u8> {
    let opts = crypt15::EncryptOptions {
        variant,
        iv: Some(iv),
        metadata: BackupMetadata {
            app_version: Some(app.to_owned()),
            phone_suffix: Some("42".to_owned()),
            backup_version: Some(1),
            ..Default::default()
        },
    };
    let mut out = Vec::new();
    if crypt15::encrypt(k, &opts, &mut &pt[..], &mut out, &mut |_| {}).is_err() {
        unreachable!("encrypting into a Vec cannot fail");
    }
    out
}

/// Rewrites the prefix of a crypt15 file with `f` applied to its metadata and
/// recomputes the MD5 — what anyone can do without the key (the finding).
pub fn crypt15_edit_prefix(file: &[u8], f: impl FnOnce(&mut BackupMetadata)) -> Option<Vec<u8>> {
    use md5::Digest as _;
    use prost::Message as _;
    let header = crypt15::parse_header(file).ok()?;
    let mut prefix = header.prefix.clone();
    let mut meta = prefix.backup_metadata.clone().unwrap_or_default();
    f(&mut meta);
    prefix.backup_metadata = Some(meta);
    let mut out = prefix.encode_length_delimited_to_vec();
    let body_end = file.len().checked_sub(16)?;
    out.extend_from_slice(file.get(header.encoded_len..body_end)?);
    let digest = md5::Md5::digest(&out);
    out.extend_from_slice(&digest);
    Some(out)
}

fn gen_crypt15() -> VectorFile {
    let k = test_key("e2eb/vectors/crypt15/key");
    let kh = hex::encode(k.expose_secret());
    let mut cases = Vec::new();
    let plains: [(&str, Vec<u8>, crypt15::Variant, &str); 5] = [
        ("crypt15-001", Vec::new(), crypt15::Variant::SingleFile, "empty database"),
        ("crypt15-002", b"x".to_vec(), crypt15::Variant::SingleFile, "one byte"),
        ("crypt15-003", testdata::text_bytes(3, 5000), crypt15::Variant::SingleFile, "5000 bytes of text"),
        (
            "crypt15-004",
            testdata::bytes("e2eb/vectors/crypt15/random", 3000),
            crypt15::Variant::SingleFile,
            "3000 incompressible bytes",
        ),
        (
            "crypt15-005",
            testdata::bytes("e2eb/vectors/crypt15/zip", 700),
            crypt15::Variant::MultiFile,
            "multi-file: stored as is, no MD5 trailer",
        ),
    ];
    let mut base_file = Vec::new();
    let mut base_plain = Vec::new();
    for (i, (id, pt, variant, desc)) in plains.iter().enumerate() {
        let iv: [u8; 16] = testdata::array(&format!("e2eb/vectors/crypt15/iv/{i}"));
        let f = crypt15_file(&k, iv, *variant, pt, "2.24.22.79");
        let v = match variant {
            crypt15::Variant::MultiFile => "multi",
            _ => "single",
        };
        cases.push(case(
            id,
            desc,
            "encrypt",
            map([
                ("key", kh.clone()),
                ("iv", hex::encode(iv)),
                ("variant", v.to_owned()),
                ("plaintext", hex::encode(pt)),
                ("app_version", "2.24.22.79".to_owned()),
                ("phone_suffix", "42".to_owned()),
                ("backup_version", "1".to_owned()),
            ]),
            ok(map([("file", hex::encode(&f))])),
        ));
        if i == 2 {
            base_file = f;
            base_plain = pt.clone();
        }
    }
    let dec = |id: &str, desc: &str, f: &[u8], key: &str, expect: Expect| {
        case(id, desc, "decrypt", map([("key", key.to_owned()), ("file", hex::encode(f))]), expect)
    };
    // The finding: an edited prefix with a recomputed MD5 still decrypts.
    if let Some(edited) = crypt15_edit_prefix(&base_file, |m| m.app_version = Some("9.99.99.99".to_owned())) {
        cases.push(dec(
            "crypt15-006",
            "FINDING: the prefix is unauthenticated; an edited app version with a recomputed MD5 decrypts",
            &edited,
            &kh,
            ok(map([("plaintext", hex::encode(&base_plain)), ("app_version", "9.99.99.99".to_owned())])),
        ));
    }
    let other = hex::encode(test_key("e2eb/vectors/crypt15/other").expose_secret());
    cases.push(dec("crypt15-101", "wrong key, MD5 intact", &base_file, &other, err("crypt15.WrongKey")));
    let mut flipped = base_file.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    cases.push(dec("crypt15-102", "one bit flipped in the body", &flipped, &kh, err("crypt15.AuthenticationFailed")));
    let mut tag = base_file.clone();
    let t = tag.len() - 20;
    tag[t] ^= 1;
    cases.push(dec("crypt15-103", "one bit flipped in the tag", &tag, &kh, err("crypt15.AuthenticationFailed")));
    cases.push(dec(
        "crypt15-104",
        "truncated by 1 byte",
        &base_file[..base_file.len() - 1],
        &kh,
        err("crypt15.AuthenticationFailed"),
    ));
    let mut ext = base_file.clone();
    ext.push(0);
    cases.push(dec("crypt15-105", "one byte appended", &ext, &kh, err("crypt15.AuthenticationFailed")));
    cases.push(dec("crypt15-106", "empty file", &[], &kh, err("crypt15.HeaderTruncated")));
    let plen = crypt15::parse_header(&base_file).map(|h| h.encoded_len).unwrap_or(0);
    cases.push(dec(
        "crypt15-107",
        "ends inside the prefix",
        &base_file[..plen - 1],
        &kh,
        err("crypt15.HeaderTruncated"),
    ));
    cases.push(dec(
        "crypt15-108",
        "prefix, then 10 bytes: shorter than a tag",
        &base_file[..plen + 10],
        &kh,
        err("crypt15.Truncated"),
    ));
    // A prefix with an 8-byte IV.
    let mut p = crypt15::parse_header(&base_file).map(|h| h.prefix).unwrap_or_default();
    if let Some(d) = p.crypt15_key_data.as_mut() {
        d.iv = Some(vec![0; 8]);
    }
    let mut bad_iv = prost::Message::encode_length_delimited_to_vec(&p);
    bad_iv.extend_from_slice(&base_file[plen..]);
    cases.push(dec("crypt15-109", "IV of 8 bytes", &bad_iv, &kh, err("crypt15.BadIvLength")));
    p.key_type = Some(0);
    let mut c14 = prost::Message::encode_length_delimited_to_vec(&p);
    c14.extend_from_slice(&base_file[plen..]);
    cases.push(dec("crypt15-110", "key type 0 (crypt14)", &c14, &kh, err("crypt15.UnsupportedKeyType")));
    cases.push(dec(
        "crypt15-111",
        "prefix length of 2^40",
        &[0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0, 0],
        &kh,
        err("crypt15.HeaderTooLong"),
    ));
    cases.push(dec(
        "crypt15-112",
        "prefix that is not a protobuf",
        &[0x03, 0xff, 0xff, 0xff, 0, 0],
        &kh,
        err("crypt15.Malformed"),
    ));
    file(
        "crypt15",
        "crypt15 files (DESIGN.md §4.1): encryption with fixed IVs, the unauthenticated-prefix finding, and must-fail files",
        cases,
    )
}

fn v2_opts(salt_label: &str, compression: Compression) -> v2::EncryptOptions {
    v2::EncryptOptions {
        compression,
        app_version: "e2eb-vectors".to_owned(),
        backup_version: 3,
        feature_flags: vec![5, 9, 31],
        created_unix: Some(1_790_000_000),
        salt: Some(testdata::array(salt_label)),
        passkey_metadata: None,
    }
}

fn gen_v2() -> VectorFile {
    let k = test_key("e2eb/vectors/v2/key");
    let kh = hex::encode(k.expose_secret());
    let mut cases = Vec::new();
    let lens: [(usize, Compression, &str); 7] = [
        (0, Compression::None, "empty: one empty final chunk"),
        (1, Compression::None, "one byte"),
        (16383, Compression::None, "one byte short of a chunk"),
        (16384, Compression::None, "exactly one chunk: a full chunk and an empty final chunk"),
        (16385, Compression::None, "one byte past a chunk"),
        (40000, Compression::None, "three chunks"),
        (40000, Compression::Zlib, "three chunks of text, zlib-compressed"),
    ];
    let mut base = Vec::new();
    for (i, (len, comp, desc)) in lens.iter().enumerate() {
        let pt = testdata::text_bytes(i as u64 + 1, *len);
        let salt_label = format!("e2eb/vectors/v2/salt/{i}");
        let opts = v2_opts(&salt_label, *comp);
        let f = v2::encrypt_to_vec(&k, &opts, &pt).unwrap_or_default();
        let c = if *comp == Compression::Zlib { "zlib" } else { "none" };
        cases.push(case(
            &format!("v2-{:03}", i + 1),
            desc,
            "encrypt",
            map([
                ("key", kh.clone()),
                ("salt", hex::encode(opts.salt.unwrap_or_default())),
                ("created_unix", "1790000000".to_owned()),
                ("app_version", opts.app_version.clone()),
                ("backup_version", "3".to_owned()),
                ("feature_flags", "5,9,31".to_owned()),
                ("compression", c.to_owned()),
                ("plaintext", hex::encode(&pt)),
            ]),
            ok(map([("file", hex::encode(&f))])),
        ));
        if i == 5 {
            base = f;
        }
    }
    let dec = |id: &str, desc: &str, f: &[u8], key: &str, kind: &str| {
        case(id, desc, "decrypt", map([("key", key.to_owned()), ("file", hex::encode(f))]), err(kind))
    };
    let hlen = v2::parse_header(&base).map(|h| h.raw.len()).unwrap_or(0);
    let other = hex::encode(test_key("e2eb/vectors/v2/other").expose_secret());
    cases.push(dec("v2-101", "wrong key (key id differs)", &base, &other, "v2.WrongKey"));
    // Header edit: re-encode the header with another app version; key id intact.
    let mut h = v2::parse_header(&base).map(|h| h.fields).unwrap_or_default();
    h.app_version = "edited".to_owned();
    let mut edited = v2::encode_header(&h).unwrap_or_default();
    edited.extend_from_slice(&base[hlen..]);
    cases.push(dec(
        "v2-102",
        "header edited (app version): the commitment covers the header",
        &edited,
        &kh,
        "body.CommitmentMismatch",
    ));
    let mut salt = base.clone();
    salt[hlen] ^= 1;
    cases.push(dec("v2-103", "salt bit flipped", &salt, &kh, "body.CommitmentMismatch"));
    let chunk0 = hlen + cobblestone::PREFIX_LEN;
    let sealed = cobblestone::SEALED_CHUNK_LEN;
    cases.push(dec(
        "v2-104",
        "truncated at a chunk boundary (ends in a full chunk)",
        &base[..chunk0 + 2 * sealed],
        &kh,
        "body.Truncated",
    ));
    cases.push(dec("v2-105", "truncated inside the final chunk", &base[..base.len() - 1], &kh, "body.ChunkDamaged"));
    let mut swapped = base.clone();
    let (a, b) = swapped[chunk0..chunk0 + 2 * sealed].split_at_mut(sealed);
    a.swap_with_slice(b);
    cases.push(dec("v2-106", "chunks 0 and 1 swapped", &swapped, &kh, "body.ChunkDamaged"));
    let mut flip = base.clone();
    flip[chunk0 + sealed + 100] ^= 0x08;
    cases.push(dec("v2-107", "bit flipped in chunk 1", &flip, &kh, "body.ChunkDamaged"));
    let mut ext = base.clone();
    ext.extend_from_slice(&[0; 16]);
    cases.push(dec("v2-108", "16 bytes appended", &ext, &kh, "body.ChunkDamaged"));
    let mut magic = base.clone();
    magic[0] = b'X';
    cases.push(dec("v2-109", "bad magic", &magic, &kh, "v2.BadMagic"));
    let mut ver = base.clone();
    ver[4] = 3;
    cases.push(dec("v2-110", "format version 3", &ver, &kh, "v2.UnsupportedVersion"));
    let mut long = base.clone();
    long[5..7].copy_from_slice(&5000u16.to_be_bytes());
    cases.push(dec("v2-111", "header length 5000 > 4096", &long, &kh, "v2.HeaderTooLong"));
    cases.push(dec("v2-112", "ends inside the header", &base[..hlen - 1], &kh, "v2.HeaderTruncated"));
    cases.push(dec(
        "v2-113",
        "header, then 40 bytes: shorter than salt and commitment",
        &base[..hlen + 40],
        &kh,
        "body.TooShort",
    ));
    let mut dup = base[..chunk0 + sealed].to_vec();
    dup.extend_from_slice(&base[chunk0..]);
    cases.push(dec("v2-114", "chunk 0 duplicated", &dup, &kh, "body.ChunkDamaged"));
    file(
        "v2",
        "e2eb v2 files (DESIGN.md §4.2): Cobblestone-256 body, header bound through the context, and must-fail files",
        cases,
    )
}

fn gen_metadata() -> VectorFile {
    let k = test_key("e2eb/vectors/metadata/key");
    let kh = hex::encode(k.expose_secret());
    let mut cases = Vec::new();
    let jsons = [
        ("metadata-001", r#"{}"#, "empty JSON object"),
        ("metadata-002", r#"{"backupSize":123456789,"chatDbSize":4096,"mediaCount":17}"#, "typical metadata"),
        (
            "metadata-003",
            r#"{"padding":"0123456789abcde"}"#,
            "plaintext of a whole number of blocks gets a full padding block",
        ),
    ];
    let mut base = String::new();
    for (i, (id, json, desc)) in jsons.iter().enumerate() {
        let iv: [u8; 16] = testdata::array(&format!("e2eb/vectors/metadata/iv/{i}"));
        let blob = metadata::encrypt_with_iv(&k, &iv, json.as_bytes());
        cases.push(case(
            id,
            desc,
            "encrypt",
            map([("key", kh.clone()), ("iv", hex::encode(iv)), ("plaintext", json.to_string())]),
            ok(map([("blob", blob.clone())])),
        ));
        if i == 1 {
            base = blob;
        }
    }
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw = b64.decode(&base).unwrap_or_default();
    let dec = |id: &str, desc: &str, blob: String, key: &str, kind: &str| {
        case(id, desc, "decrypt", map([("key", key.to_owned()), ("blob", blob)]), err(kind))
    };
    let mut mac = raw.clone();
    mac[20] ^= 1;
    cases.push(dec("metadata-101", "MAC bit flipped", b64.encode(&mac), &kh, "metadata.MacMismatch"));
    let mut ct = raw.clone();
    let last = ct.len() - 1;
    ct[last] ^= 1;
    cases.push(dec(
        "metadata-102",
        "ciphertext bit flipped (MAC checked first: no padding oracle)",
        b64.encode(&ct),
        &kh,
        "metadata.MacMismatch",
    ));
    let other = hex::encode(test_key("e2eb/vectors/metadata/other").expose_secret());
    cases.push(dec("metadata-103", "wrong key", base.clone(), &other, "metadata.MacMismatch"));
    let mut marker = raw.clone();
    marker[0] = 0x11;
    cases.push(dec("metadata-104", "IV marker 0x11", b64.encode(&marker), &kh, "metadata.BadMarker"));
    cases.push(dec(
        "metadata-105",
        "ciphertext not whole blocks",
        b64.encode(&raw[..raw.len() - 1]),
        &kh,
        "metadata.NotBlockAligned",
    ));
    cases.push(dec(
        "metadata-106",
        "only markers, IV and MAC",
        b64.encode(&raw[..metadata::OVERHEAD]),
        &kh,
        "metadata.TooShort",
    ));
    cases.push(dec("metadata-107", "not base64", "@@not base64@@".to_owned(), &kh, "metadata.Base64"));
    file("metadata", "The encrypted backup metadata blob (DESIGN.md §4.3)", cases)
}

/// Serialises a file the way it is committed (pretty JSON, trailing newline).
pub fn to_json(f: &VectorFile) -> String {
    let mut s = serde_json::to_string_pretty(f).unwrap_or_default();
    s.push('\n');
    s
}

/// Writes every family into `dir`; returns the files whose content changed.
pub fn generate(dir: &Path) -> Result<Vec<String>, crate::atomic::PathError> {
    std::fs::create_dir_all(dir).map_err(|e| crate::atomic::PathError::new(dir, e))?;
    let mut changed = Vec::new();
    for f in generate_all() {
        let path = dir.join(format!("{}.json", f.family));
        let json = to_json(&f);
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        if old != json {
            crate::atomic::write(&path, json.as_bytes(), false)?;
            changed.push(path.display().to_string());
        }
    }
    Ok(changed)
}

// ---------------------------------------------------------------- checking

fn h(input: &Map, k: &str) -> Result<Vec<u8>, String> {
    let v = input.get(k).ok_or_else(|| format!("missing input {k}"))?;
    hex::decode(v).map_err(|e| format!("input {k} is not hex: {e}"))
}

fn s<'a>(input: &'a Map, k: &str) -> Result<&'a str, String> {
    input.get(k).map(String::as_str).ok_or_else(|| format!("missing input {k}"))
}

fn key_from(input: &Map) -> Result<Result<BackupKey, &'static str>, String> {
    if let Some(text) = input.get("key_text") {
        return Ok(BackupKey::parse_digits(text).map_err(|e| error_kind::key(&e)));
    }
    let raw = h(input, "key")?;
    let arr: [u8; 32] = raw.as_slice().try_into().map_err(|_| "key is not 32 bytes".to_owned())?;
    Ok(Ok(BackupKey::from_bytes(arr)))
}

/// Runs one case's operation: `Ok(outputs)` or `Err(error kind)`; the outer
/// `Result` is for malformed cases.
fn run_case(family: &str, c: &Case) -> Result<Result<Map, String>, String> {
    let i = &c.input;
    let key = || -> Result<Result<BackupKey, String>, String> { Ok(key_from(i)?.map_err(str::to_owned)) };
    Ok(match (family, c.op.as_str()) {
        ("key", "parse_digits") => BackupKey::parse_digits(s(i, "text")?)
            .map(|k| map([("key", hex::encode(k.expose_secret()))]))
            .map_err(|e| error_kind::key(&e).to_owned()),
        ("key", "parse_keyfile") => BackupKey::from_android_keyfile(&h(i, "keyfile")?)
            .map(|k| map([("key", hex::encode(k.expose_secret()))]))
            .map_err(|e| error_kind::keyfile(&e).to_owned()),
        ("key", "format") => key()?.map(|k| {
            map([
                ("digits", k.to_digits().to_string()),
                ("groups", k.to_groups().to_string()),
                ("grid", k.to_grid().to_string()),
            ])
        }),
        ("kdf", "derive") => key()?
            .map(|k| map([("okm", hex::encode(kdf::derive(&k, &h(i, "info").unwrap_or_default()).expose_secret()))])),
        ("kdf", "key_id") => key()?.map(|k| map([("key_id", hex::encode(kdf::key_id(&k)))])),
        ("crypt15", "encrypt") => {
            let k = match key()? {
                Ok(k) => k,
                Err(e) => return Ok(Err(e)),
            };
            let iv: [u8; 16] = h(i, "iv")?.try_into().map_err(|_| "iv is not 16 bytes".to_owned())?;
            let variant =
                if s(i, "variant")? == "multi" { crypt15::Variant::MultiFile } else { crypt15::Variant::SingleFile };
            let bv = s(i, "backup_version")?.parse::<i32>().map_err(|e| e.to_string())?;
            let opts = crypt15::EncryptOptions {
                variant,
                iv: Some(iv),
                metadata: BackupMetadata {
                    app_version: Some(s(i, "app_version")?.to_owned()),
                    phone_suffix: Some(s(i, "phone_suffix")?.to_owned()),
                    backup_version: Some(bv),
                    ..Default::default()
                },
            };
            let pt = h(i, "plaintext")?;
            let mut out = Vec::new();
            crypt15::encrypt(&k, &opts, &mut &pt[..], &mut out, &mut |_| {}).map_err(|e| e.to_string())?;
            // Encryption must also decrypt back, through the streaming reader.
            let mut back = Vec::new();
            let sum = crypt15::decrypt(&k, &mut &out[..], &mut back, &mut |_| {})
                .map_err(|e| format!("own file fails: {e}"))?;
            if back != pt || sum.variant != variant {
                return Err("own file does not decrypt back to the plaintext".to_owned());
            }
            Ok(map([("file", hex::encode(out))]))
        }
        ("crypt15", "decrypt") => {
            let k = match key()? {
                Ok(k) => k,
                Err(e) => return Ok(Err(e)),
            };
            let f = h(i, "file")?;
            let mut out = Vec::new();
            match crypt15::decrypt(&k, &mut &f[..], &mut out, &mut |_| {}) {
                Ok(_) => {
                    let app = crypt15::parse_header(&f)
                        .ok()
                        .and_then(|h| h.prefix.backup_metadata)
                        .and_then(|m| m.app_version)
                        .unwrap_or_default();
                    Ok(map([("plaintext", hex::encode(out)), ("app_version", app)]))
                }
                Err(e) => Err(error_kind::crypt15(&e).to_owned()),
            }
        }
        ("v2", "encrypt") => {
            let k = match key()? {
                Ok(k) => k,
                Err(e) => return Ok(Err(e)),
            };
            let salt: [u8; 24] = h(i, "salt")?.try_into().map_err(|_| "salt is not 24 bytes".to_owned())?;
            let flags = s(i, "feature_flags")?
                .split(',')
                .filter(|x| !x.is_empty())
                .map(|x| x.parse::<u32>().map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            let opts = v2::EncryptOptions {
                compression: if s(i, "compression")? == "zlib" { Compression::Zlib } else { Compression::None },
                app_version: s(i, "app_version")?.to_owned(),
                backup_version: s(i, "backup_version")?.parse().map_err(|e: std::num::ParseIntError| e.to_string())?,
                feature_flags: flags,
                created_unix: Some(s(i, "created_unix")?.parse().map_err(|e: std::num::ParseIntError| e.to_string())?),
                salt: Some(salt),
                passkey_metadata: None,
            };
            let pt = h(i, "plaintext")?;
            let mut streamed = Vec::new();
            v2::encrypt(&k, &opts, &mut &pt[..], &mut streamed, &mut |_| {}).map_err(|e| e.to_string())?;
            let whole = v2::encrypt_to_vec(&k, &opts, &pt).map_err(|e| e.to_string())?;
            if streamed != whole {
                return Err("streaming and in-memory encryption disagree".to_owned());
            }
            let mut back = Vec::new();
            v2::decrypt(&k, &mut &whole[..], &mut back, &mut |_| {}).map_err(|e| format!("own file fails: {e}"))?;
            if back != pt {
                return Err("own file does not decrypt back to the plaintext".to_owned());
            }
            Ok(map([("file", hex::encode(whole))]))
        }
        ("v2", "decrypt") => {
            let k = match key()? {
                Ok(k) => k,
                Err(e) => return Ok(Err(e)),
            };
            let f = h(i, "file")?;
            let mut out = Vec::new();
            let streamed = v2::decrypt(&k, &mut &f[..], &mut out, &mut |_| {});
            let whole = v2::decrypt_slice(&k, &f);
            match (streamed, whole) {
                (Ok(_), Ok((_, w))) if w == out => Ok(map([("plaintext", hex::encode(out))])),
                (Err(a), Err(b)) if error_kind::v2(&a) == error_kind::v2(&b) => Err(error_kind::v2(&a).to_owned()),
                (a, b) => {
                    return Err(format!(
                        "streaming and in-memory decryption disagree: {:?} vs {:?}",
                        a.map(|_| ()).map_err(|e| error_kind::v2(&e)),
                        b.map(|_| ()).map_err(|e| error_kind::v2(&e))
                    ));
                }
            }
        }
        ("metadata", "encrypt") => key()?.map(|k| {
            let iv: [u8; 16] = h(i, "iv").unwrap_or_default().try_into().unwrap_or([0; 16]);
            map([("blob", metadata::encrypt_with_iv(&k, &iv, s(i, "plaintext").unwrap_or_default().as_bytes()))])
        }),
        ("metadata", "decrypt") => {
            let k = match key()? {
                Ok(k) => k,
                Err(e) => return Ok(Err(e)),
            };
            metadata::decrypt(&k, s(i, "blob")?)
                .map(|p| map([("plaintext", String::from_utf8_lossy(&p).into_owned())]))
                .map_err(|e| error_kind::metadata(&e).to_owned())
        }
        (f, op) => return Err(format!("unknown operation {f}/{op}")),
    })
}

fn check_family(file: &VectorFile, expected_family: &str) -> FamilyResult {
    let mut r = FamilyResult { family: expected_family.to_owned(), ..Default::default() };
    if file.schema != SCHEMA {
        r.failures.push(format!("schema is {:?}, expected {SCHEMA}", file.schema));
        return r;
    }
    let mut negatives = 0;
    for c in &file.cases {
        let outcome = run_case(expected_family, c);
        let verdict = match (&c.expect, outcome) {
            (_, Err(bad)) => Err(format!("malformed case: {bad}")),
            (Expect::Output(want), Ok(Ok(got))) => {
                let diff: Vec<&String> = want.keys().filter(|k| got.get(*k) != want.get(*k)).collect();
                if diff.is_empty() { Ok(()) } else { Err(format!("outputs differ: {diff:?}")) }
            }
            (Expect::Output(_), Ok(Err(kind))) => Err(format!("expected success, got {kind}")),
            (Expect::Error(want), Ok(Ok(_))) => Err(format!("expected {want}, but it succeeded")),
            (Expect::Error(want), Ok(Err(kind))) => {
                if *want == kind {
                    Ok(())
                } else {
                    Err(format!("expected {want}, got {kind}"))
                }
            }
        };
        if matches!(c.expect, Expect::Error(_)) {
            negatives += 1;
        }
        match verdict {
            Ok(()) => r.passed += 1,
            Err(why) => r.failures.push(format!("{}: {why}", c.id)),
        }
    }
    if negatives == 0 {
        r.failures.push("the family has no must-fail case".to_owned());
    }
    r
}

/// Checks our vector files in `dir` and the external suites.
pub fn verify(dir: &Path) -> VerifyReport {
    let mut report = VerifyReport::default();
    for family in FAMILIES {
        let path = dir.join(format!("{family}.json"));
        let parsed = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display())).and_then(|mut f| {
            let mut s = String::new();
            f.read_to_string(&mut s).map_err(|e| format!("{}: {e}", path.display()))?;
            serde_json::from_str::<VectorFile>(&s).map_err(|e| format!("{}: {e}", path.display()))
        });
        match parsed {
            // Vault transcripts replay a whole protocol run: their own checker.
            Ok(file) if family == "vault" => report.families.push(vault::verify(&file)),
            Ok(file) => report.families.push(check_family(&file, family)),
            Err(e) => report.families.push(FamilyResult { family: family.to_owned(), passed: 0, failures: vec![e] }),
        }
    }
    report.families.push(crate::vectors::external::wycheproof_aes_gcm());
    report.families.push(crate::vectors::external::wycheproof_hkdf_sha256());
    report.families.push(crate::vectors::external::wycheproof_hmac_sha256());
    report.families.push(crate::vectors::external::wycheproof_cobblestone256());
    report.families.push(crate::vectors::rfc9807::verify(dir));
    report
}

pub mod external;
pub mod rfc9807;
pub mod vault;
