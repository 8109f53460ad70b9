//! Independent oracles the fuzz targets compare the implementation with
//! (design §8): a zlib header check, an inflater, the MD5 trailer, crypt15's
//! GCM through RustCrypto, the metadata blob written out by hand, and format
//! detection checked against the parsers. None of them calls the code it
//! checks.

use aes::Aes256;
use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::NoPadding};
use aes_gcm::AesGcm;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::cipher::consts::U16;
use flate2::{Decompress, FlushDecompress, Status};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

use crate::backup::{crypt15, metadata, v2};
use crate::kdf;
use crate::key::BackupKey;

/// A zlib header: CM = 8, CINFO ≤ 7, FCHECK (written out independently of crypt15's reader).
pub(super) fn zlib_header(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] & 0x0f == 8 && b[0] >> 4 <= 7 && ((u32::from(b[0]) << 8) | u32::from(b[1])) % 31 == 0
}

/// Inflates a whole zlib stream: `None` unless it ends and nothing follows.
pub(super) fn inflate_all(data: &[u8]) -> Option<Vec<u8>> {
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

pub(super) fn md5_trailer_ok(file: &[u8]) -> bool {
    file.len() >= 16 && Md5::digest(&file[..file.len() - 16]).as_slice() == &file[file.len() - 16..]
}

/// Opens `ct || tag` with RustCrypto's `AesGcm<Aes256, U16>` (the 16-byte-IV
/// GCM crypt15 uses), independently of [`GcmStream`](crate::gcm_stream::GcmStream).
pub(super) fn reference_crypt15_open(key: &BackupKey, iv: &[u8; 16], body: &[u8]) -> Option<Vec<u8>> {
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

/// Format detection ([`crate::backup::detect`]) agrees with the parsers: a
/// v2 header is detected as v2, a crypt15 prefix that is not also a v2
/// header as crypt15, and nothing is detected in an empty file.
pub(super) fn check_detect(data: &[u8]) {
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

pub(super) type HmacSha256 = Hmac<Sha256>;

/// The metadata blob reader written out independently: markers, length,
/// alignment, HMAC-SHA256 over `iv || ct`, AES-256-CBC without padding and
/// a hand-written PKCS#7 check.
pub(super) fn metadata_model(key: &BackupKey, raw: &[u8]) -> Result<Vec<u8>, metadata::MetadataError> {
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
