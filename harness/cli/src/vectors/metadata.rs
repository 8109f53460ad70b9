//! Family `metadata` (design §4.3): metadata blobs and must-fail edits — generator and checker.

use e2eb_core::backup::metadata;
use e2eb_core::key::BackupKey;

use super::schema::{Case, Map, VectorFile, case, err, file, h, key_from, map, ok, s, test_key};
use crate::{error_kind, testdata};

/// The family's file, built deterministically.
pub(super) fn generate() -> VectorFile {
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
    file("metadata", "The encrypted backup metadata blob (docs/design.md §4.3)", cases)
}

/// Runs one case's operation: `Ok(outputs)` or `Err(error kind)`; the outer
/// `Result` is for malformed cases.
pub(super) fn run_case(c: &Case) -> Result<Result<Map, String>, String> {
    let i = &c.input;
    let key = || -> Result<Result<BackupKey, String>, String> { Ok(key_from(i)?.map_err(str::to_owned)) };
    Ok(match c.op.as_str() {
        "encrypt" => key()?.map(|k| {
            let iv: [u8; 16] = h(i, "iv").unwrap_or_default().try_into().unwrap_or([0; 16]);
            map([("blob", metadata::encrypt_with_iv(&k, &iv, s(i, "plaintext").unwrap_or_default().as_bytes()))])
        }),
        "decrypt" => {
            let k = match key()? {
                Ok(k) => k,
                Err(e) => return Ok(Err(e)),
            };
            metadata::decrypt(&k, s(i, "blob")?)
                .map(|p| map([("plaintext", String::from_utf8_lossy(&p).into_owned())]))
                .map_err(|e| error_kind::metadata(&e).to_owned())
        }
        op => return Err(format!("unknown operation metadata/{op}")),
    })
}
