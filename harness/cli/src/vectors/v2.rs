//! Family `v2` (design §4.2): deterministic files, compressed and not, and must-fail edits — generator and checker.

use e2eb_core::backup::proto::Compression;
use e2eb_core::backup::v2;
use e2eb_core::cobblestone;
use e2eb_core::key::BackupKey;

use super::schema::{Case, Map, VectorFile, case, err, file, h, key_from, map, ok, s, test_key};
use crate::{error_kind, testdata};

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

/// The family's file, built deterministically.
pub(super) fn generate() -> VectorFile {
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
    // A flipped key id: the commitment, over the header with the id put
    // back, tells the right key (a damaged id) from another key.
    let id = v2::parse_header(&base).map(|h| h.fields.key_id).unwrap_or_default();
    let id_at = base[..hlen].windows(id.len().max(1)).position(|w| w == &id[..]).unwrap_or(0);
    let mut id_flip = base.clone();
    id_flip[id_at] ^= 0x01;
    cases.push(dec(
        "v2-115",
        "key id bit flipped, right key: the commitment matches with its id put back",
        &id_flip,
        &kh,
        "v2.KeyIdDamaged",
    ));
    cases.push(dec("v2-116", "key id bit flipped, another key", &id_flip, &other, "v2.WrongKey"));
    file(
        "v2",
        "e2eb v2 files (docs/design.md §4.2): Cobblestone-256 body, header bound through the context, and must-fail files",
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
        "decrypt" => {
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
        op => return Err(format!("unknown operation v2/{op}")),
    })
}
