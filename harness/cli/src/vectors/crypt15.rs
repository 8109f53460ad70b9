//! Family `crypt15` (design §4.1): deterministic files of every layout, the unauthenticated-prefix finding and must-fail edits — generator and checker.

use e2eb_core::backup::crypt15;
use e2eb_core::backup::proto::BackupMetadata;
use e2eb_core::key::BackupKey;

use super::schema::{Case, Expect, Map, VectorFile, case, err, file, h, key_from, map, ok, s, test_key};
use crate::{error_kind, testdata};

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
        passkey_metadata: None,
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

/// The family's file, built deterministically.
pub(super) fn generate() -> VectorFile {
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
        "crypt15 files (docs/design.md §4.1): encryption with fixed IVs, the unauthenticated-prefix finding, and must-fail files",
        cases,
    )
}

/// Runs one case's operation: `Ok(outputs)` or `Err(error kind)`; the outer
/// `Result` is for malformed cases.
pub(super) fn run_case(c: &Case) -> Result<Result<Map, String>, String> {
    let i = &c.input;
    let key = || -> Result<Result<BackupKey, String>, String> { Ok(key_from(i)?.map_err(str::to_owned)) };
    Ok(match c.op.as_str() {
        "encrypt" => {
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
                passkey_metadata: None,
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
        "decrypt" => {
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
        op => return Err(format!("unknown operation crypt15/{op}")),
    })
}
