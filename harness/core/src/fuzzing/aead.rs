//! Target `aead_differential` (design §8): RustCrypto AES-256-GCM, our
//! streaming GCM and a second implementation compared in both directions.

use std::fmt::Debug;

use aes::Aes256;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::cipher::consts::U16;
use aes_gcm::{Aes256Gcm, AesGcm};

use crate::gcm_stream::GcmStream;

use super::input::{Reader, Writer};

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
    pub(super) fn read(mut r: Reader<'_>) -> Self {
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
