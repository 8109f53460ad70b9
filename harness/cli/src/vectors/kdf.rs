//! Family `kdf` (design §3): the HKDF-SHA256 key hierarchy, with the public check values — generator and checker.

use e2eb_core::kdf;
use e2eb_core::key::BackupKey;

use super::schema::{CHECK_KEY, Case, Map, VectorFile, case, err, file, h, key_from, map, ok, test_key};

/// The family's file, built deterministically.
pub(super) fn generate() -> VectorFile {
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
    file("kdf", "HKDF-SHA256 key hierarchy derived from K (docs/design.md §3)", cases)
}

/// Runs one case's operation: `Ok(outputs)` or `Err(error kind)`; the outer
/// `Result` is for malformed cases.
pub(super) fn run_case(c: &Case) -> Result<Result<Map, String>, String> {
    let i = &c.input;
    let key = || -> Result<Result<BackupKey, String>, String> { Ok(key_from(i)?.map_err(str::to_owned)) };
    Ok(match c.op.as_str() {
        "derive" => key()?
            .map(|k| map([("okm", hex::encode(kdf::derive(&k, &h(i, "info").unwrap_or_default()).expose_secret()))])),
        "key_id" => key()?.map(|k| map([("key_id", hex::encode(kdf::key_id(&k)))])),
        op => return Err(format!("unknown operation kdf/{op}")),
    })
}
