//! Family `key` (design §3): the 64-digit parser, the key formats and the Android key file — generator and checker.

use e2eb_core::key::BackupKey;

use super::schema::{Case, Map, VectorFile, case, err, file, h, key_from, map, ok, s, test_key};
use crate::error_kind;

/// The family's file, built deterministically.
pub(super) fn generate() -> VectorFile {
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
    file("key", "The 64-digit backup key and the Android key file (docs/design.md §3)", cases)
}

/// Runs one case's operation: `Ok(outputs)` or `Err(error kind)`; the outer
/// `Result` is for malformed cases.
pub(super) fn run_case(c: &Case) -> Result<Result<Map, String>, String> {
    let i = &c.input;
    let key = || -> Result<Result<BackupKey, String>, String> { Ok(key_from(i)?.map_err(str::to_owned)) };
    Ok(match c.op.as_str() {
        "parse_digits" => BackupKey::parse_digits(s(i, "text")?)
            .map(|k| map([("key", hex::encode(k.expose_secret()))]))
            .map_err(|e| error_kind::key(&e).to_owned()),
        "parse_keyfile" => BackupKey::from_android_keyfile(&h(i, "keyfile")?)
            .map(|k| map([("key", hex::encode(k.expose_secret()))]))
            .map_err(|e| error_kind::keyfile(&e).to_owned()),
        "format" => key()?.map(|k| {
            map([
                ("digits", k.to_digits().to_string()),
                ("groups", k.to_groups().to_string()),
                ("grid", k.to_grid().to_string()),
            ])
        }),
        op => return Err(format!("unknown operation key/{op}")),
    })
}
