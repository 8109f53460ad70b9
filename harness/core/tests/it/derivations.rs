//! Every key derivation of the project checked against an independent
//! reference written here from the spec (`../shared/DESIGN.md` §3–§6), not
//! against vectors the code produced itself (issue 15, point 1).
//!
//! A derivation used identically on both sides of a round trip passes any
//! round-trip test whatever it derives, and the committed vectors of
//! `e2eb vectors generate` come from the same code; so here each derived key
//! is recomputed from the spec's construction with
//!
//! - HKDF written from RFC 5869's definition (§2.2 Extract, §2.3 Expand)
//!   directly over the `hmac` crate, never the `hkdf` crate the library uses,
//!   and itself pinned by RFC 5869's test cases 1–3 (SHA-256), by Wycheproof's
//!   HKDF-SHA-512 cases and by Wycheproof's Cobblestone-256 cases (the
//!   SHA-512 expansion of c2sp.org/chunked-encryption);
//! - the labels as literal strings: the spec's, or where it names none (the
//!   vault release, the fleet's keys, the record seal's AADs) those of
//!   docs/design.md and the code's documentation; never the library's constants;
//! - the ciphers from other crates or other code paths than the library's
//!   (RustCrypto `aes-gcm` for Cobblestone, which the library runs on `ring`),
//!
//! and compared with what the library's public API derives, or, where the key
//! itself is not public, with what it seals (the test opens it with its own
//! key) and opens (the test seals with its own key), for fixed inputs and
//! inputs drawn from a seeded generator.
//!
//! The vault part also plays the eavesdropper: a recorded release reply does
//! not open under another login's session key nor under any key that is not
//! bound to the login's OPAQUE session key.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::aes::cipher::consts::U16;
use aes_gcm::{Aes256Gcm, AesGcm};
use base64::Engine as _;
use e2eb_core::backup::crypt15;
use e2eb_core::backup::metadata;
use e2eb_core::backup::proto::{BackupMetadata, V2Header};
use e2eb_core::backup::v2;
use e2eb_core::cobblestone::{self, MessageKeys};
use e2eb_core::kdf;
use e2eb_core::key::BackupKey;
use e2eb_core::passkey::prf;
use e2eb_core::passkey::wrap::{self, PrfOutput, ServerKey, ServerPart, WrapContext};
use e2eb_core::vault::client::{self, ClientError, Owner, VaultClient};
use e2eb_core::vault::credential::{Clock, CredentialIssuer};
use e2eb_core::vault::keys::{self, FleetSecrets, OpenError, OwnerKey, OwnerOp, SealedRecord};
use e2eb_core::vault::site::{Ledger, MemoryLedger, Site, SiteConfig};
use e2eb_core::vault::wire::{self, Reply, Request, reply, request};
use e2eb_core::vault::{KsfProfile, Suite};
use ed25519_dalek::{Signer, SigningKey};
use hmac::digest::OutputSizeUser;
use hmac::{Hmac, Mac};
use opaque_ke::{
    ClientLogin, ClientLoginFinishParameters, ClientRegistration, ClientRegistrationFinishParameters,
    CredentialResponse, Identifiers, RegistrationResponse, ServerSetup,
};
use rand_core::OsRng;
use sha2::{Digest, Sha256, Sha512};

// ================================================================ the reference

/// The OPAQUE context and server identity of design §5, written here rather
/// than taken from the library, like every label in this file.
const OPAQUE_CONTEXT: &[u8] = b"e2eb vault v1";
const OPAQUE_SERVER_ID: &[u8] = b"e2eb backup key vault";

/// HKDF (RFC 5869) written from its definition over HMAC, generic in the hash.
mod rfc5869 {
    use super::{Mac, OutputSizeUser};

    /// HMAC(key, parts concatenated), from the `hmac` crate.
    pub(super) fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }

    /// §2.2: PRK = HMAC-Hash(salt, IKM); "if not provided, [salt] is set to a
    /// string of HashLen zeros".
    pub(super) fn extract<M: Mac + hmac::digest::KeyInit>(salt: Option<&[u8]>, ikm: &[u8]) -> Vec<u8> {
        let zeros = vec![0u8; <M as OutputSizeUser>::output_size()];
        mac::<M>(salt.unwrap_or(&zeros), &[ikm])
    }

    /// §2.3: T(0) = empty, T(i) = HMAC-Hash(PRK, T(i-1) | info | i),
    /// OKM = the first L octets of T(1) | T(2) | … | T(N), N = ceil(L / HashLen).
    pub(super) fn expand<M: Mac + hmac::digest::KeyInit>(prk: &[u8], info: &[u8], len: usize) -> Vec<u8> {
        let hash_len = <M as OutputSizeUser>::output_size();
        assert!(len <= 255 * hash_len, "L <= 255 * HashLen");
        let n = len.div_ceil(hash_len);
        let mut t = Vec::new();
        let mut okm = Vec::with_capacity(n * hash_len);
        for i in 1..=n {
            let counter = [u8::try_from(i).expect("N <= 255")];
            t = mac::<M>(prk, &[&t, info, &counter]);
            okm.extend_from_slice(&t);
        }
        okm.truncate(len);
        okm
    }
}

type HmacSha256 = Hmac<Sha256>;
type HmacSha512 = Hmac<Sha512>;

/// HKDF-SHA256, 32-byte output: `salt` `None` is RFC 5869's "not provided".
fn hkdf256(salt: Option<&[u8]>, ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let prk = rfc5869::extract::<HmacSha256>(salt, ikm);
    rfc5869::expand::<HmacSha256>(&prk, info, 32).try_into().expect("32 bytes")
}

/// `info` = the label followed by `tail`.
fn label(label: &str, tail: &[u8]) -> Vec<u8> {
    let mut info = label.as_bytes().to_vec();
    info.extend_from_slice(tail);
    info
}

/// Design §3: HKDF-SHA256, empty salt, IKM = K, 32-byte output.
fn from_k(k: &[u8; 32], info: &str) -> [u8; 32] {
    hkdf256(None, k, info.as_bytes())
}

/// AES-256-GCM box `nonce (12) || ct || tag` (RustCrypto).
fn gcm_seal(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let ct = Aes256Gcm::new(key.into())
        .encrypt(GenericArray::from_slice(nonce), Payload { msg: plain, aad })
        .expect("AES-GCM seals");
    [nonce.as_slice(), &ct].concat()
}

/// Opens a [`gcm_seal`] box; `None` when the tag does not verify.
fn gcm_open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 12 + 16 {
        return None;
    }
    let (nonce, ct) = sealed.split_at(12);
    Aes256Gcm::new(key.into()).decrypt(GenericArray::from_slice(nonce), Payload { msg: ct, aad }).ok()
}

// ---------------------------------------------------------------- Cobblestone-256 (design §4.2)

const CHUNK: usize = 16 * 1024;

/// `key (32) || base nonce (12) || commitment (32) = HKDF-Expand(SHA-512, prk = input key,
/// info = "c2sp.org/chunked-encryption@v1+" || "AEAD_AES_256_GCM" || 0x00 || salt || context)`.
fn cobblestone_keys(input_key: &[u8], salt: &[u8], context: &[u8]) -> ([u8; 32], [u8; 12], [u8; 32]) {
    let mut info = b"c2sp.org/chunked-encryption@v1+".to_vec();
    info.extend_from_slice(b"AEAD_AES_256_GCM");
    info.push(0x00);
    info.extend_from_slice(salt);
    info.extend_from_slice(context);
    let okm = rfc5869::expand::<HmacSha512>(input_key, &info, 32 + 12 + 32);
    (okm[..32].try_into().unwrap(), okm[32..44].try_into().unwrap(), okm[44..].try_into().unwrap())
}

/// Chunk i's nonce: base nonce XOR i (big-endian).
fn chunk_nonce(base: &[u8; 12], i: usize) -> [u8; 12] {
    let counter = (i as u128).to_be_bytes();
    let mut n = *base;
    for (b, c) in n.iter_mut().zip(&counter[4..]) {
        *b ^= c;
    }
    n
}

/// salt || commitment || chunks: 16 KiB plaintext chunks, then a final one
/// always shorter than 16 KiB (possibly empty), empty AAD.
fn cobblestone_seal(input_key: &[u8], salt: &[u8; 24], context: &[u8], pt: &[u8]) -> Vec<u8> {
    let (key, base, commitment) = cobblestone_keys(input_key, salt, context);
    let aead = Aes256Gcm::new(&key.into());
    let full = pt.len() / CHUNK;
    let mut out = [salt.as_slice(), &commitment].concat();
    for i in 0..=full {
        let chunk = &pt[i * CHUNK..((i + 1) * CHUNK).min(pt.len())];
        out.extend_from_slice(&aead.encrypt(GenericArray::from_slice(&chunk_nonce(&base, i)), chunk).unwrap());
    }
    out
}

/// Opens what [`cobblestone_seal`] makes; `None` on a wrong commitment or tag.
fn cobblestone_open(input_key: &[u8], context: &[u8], ct: &[u8]) -> Option<Vec<u8>> {
    let (salt, rest) = ct.split_at_checked(24)?;
    let (stored, body) = rest.split_at_checked(32)?;
    let (key, base, commitment) = cobblestone_keys(input_key, salt, context);
    if stored != commitment {
        return None;
    }
    let aead = Aes256Gcm::new(&key.into());
    let sealed = CHUNK + 16;
    let full = body.len() / sealed;
    let mut pt = Vec::new();
    for i in 0..=full {
        let chunk = &body[i * sealed..((i + 1) * sealed).min(body.len())];
        pt.extend_from_slice(&aead.decrypt(GenericArray::from_slice(&chunk_nonce(&base, i)), chunk).ok()?);
    }
    Some(pt)
}

// ---------------------------------------------------------------- inputs

/// Deterministic inputs: SHA-256(seed || counter) blocks, so every run sees
/// the same "random" keys, labels and lengths.
struct Seeded {
    seed: [u8; 32],
    counter: u64,
}

impl Seeded {
    fn new(name: &str) -> Self {
        Self { seed: Sha256::digest(name.as_bytes()).into(), counter: 0 }
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 32);
        while out.len() < n {
            let block = Sha256::new().chain_update(self.seed).chain_update(self.counter.to_be_bytes()).finalize();
            self.counter += 1;
            out.extend_from_slice(&block);
        }
        out.truncate(n);
        out
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        self.bytes(N).try_into().unwrap()
    }

    fn below(&mut self, n: usize) -> usize {
        (u64::from_be_bytes(self.array()) % n as u64) as usize
    }

    /// Fewer than `n` bytes.
    fn bytes_below(&mut self, n: usize) -> Vec<u8> {
        let len = self.below(n);
        self.bytes(len)
    }

    /// At least `min` and fewer than `min + n` bytes.
    fn bytes_between(&mut self, min: usize, n: usize) -> Vec<u8> {
        let len = min + self.below(n);
        self.bytes(len)
    }
}

/// The public check K of design §3, two edge keys and `random` seeded ones.
fn keys(name: &str, random: usize) -> Vec<[u8; 32]> {
    let check: [u8; 32] =
        hex::decode("6730a595a1484d0c39c101dc0ac82ec5e401bb6f0e1b8ee2dc104a6b3687f017").unwrap().try_into().unwrap();
    let mut g = Seeded::new(name);
    let mut out = vec![check, [0; 32], [0xff; 32]];
    out.extend((0..random).map(|_| g.array::<32>()));
    out
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

// ================================================================ the reference is right

/// RFC 5869 Appendix A, test cases 1–3 (SHA-256): PRK and OKM.
#[test]
fn reference_hkdf_matches_rfc5869_test_cases_1_to_3() {
    struct Case {
        ikm: Vec<u8>,
        salt: Option<Vec<u8>>,
        info: Vec<u8>,
        len: usize,
        prk: &'static str,
        okm: &'static str,
    }
    let cases = [
        // A.1 Basic test case with SHA-256.
        Case {
            ikm: vec![0x0b; 22],
            salt: Some(unhex("000102030405060708090a0b0c")),
            info: unhex("f0f1f2f3f4f5f6f7f8f9"),
            len: 42,
            prk: "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
            okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        },
        // A.2 Test with SHA-256 and longer inputs/outputs.
        Case {
            ikm: (0x00..=0x4f).collect(),
            salt: Some((0x60..=0xaf).collect()),
            info: (0xb0..=0xff).collect(),
            len: 82,
            prk: "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
            okm: "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c\
                  59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71\
                  cc30c58179ec3e87c14c01d5c1f3434f1d87",
        },
        // A.3 Test with SHA-256 and zero-length salt/info.
        Case {
            ikm: vec![0x0b; 22],
            salt: Some(Vec::new()),
            info: Vec::new(),
            len: 42,
            prk: "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
            okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        },
    ];
    for (n, case) in cases.iter().enumerate() {
        let prk = rfc5869::extract::<HmacSha256>(case.salt.as_deref(), &case.ikm);
        assert_eq!(hex::encode(&prk), case.prk, "A.{} PRK", n + 1);
        let okm = rfc5869::expand::<HmacSha256>(&prk, &case.info, case.len);
        assert_eq!(hex::encode(&okm), case.okm, "A.{} OKM", n + 1);
    }
    // A.3's zero-length salt is the same as "not provided" (HashLen zeros):
    // the library's "empty salt" (design §3) is therefore RFC 5869's default.
    assert_eq!(
        rfc5869::extract::<HmacSha256>(None, &[0x0b; 22]),
        rfc5869::extract::<HmacSha256>(Some(&[]), &[0x0b; 22])
    );
}

/// Wycheproof `hkdf_sha512_test.json` (tcId 2, 10, 11): the reference with SHA-512.
#[test]
fn reference_hkdf_sha512_matches_wycheproof() {
    let cases = [
        (
            "a23632e18ec76b59b1c87008da3f8a7e",
            "",
            "",
            "c4af93d4bae9ca2b45f590cd3d2f539ff5749d7b0864fbe44a438d38a2f8e5afe01641145e389c989766",
        ),
        (
            "c360e16084cfd13cb44b0dc02d8665de",
            "685ac7df93701d6c78babd847861bb3c",
            "e0ddfaaaa7afb53f59a007a205c7149b5b5a72be",
            "17408c6f8dd7eb8423758ce39a91b59020f7debe",
        ),
        (
            "0cbd136d66d15a4ffefde1303b430821",
            "2614d80275b08a1cf90bae0eb607d4d5",
            "ee991de21aeb6baa6a5f683dbb755e6f80db1c1d",
            "e51c3bfe5f4e9b4fb0d3c3a67bb33a20c288800e03707621cf143e8581d422dfec3fe658ba8fa2e35c2c",
        ),
    ];
    for (ikm, salt, info, okm) in cases {
        let prk = rfc5869::extract::<HmacSha512>(Some(&unhex(salt)), &unhex(ikm));
        assert_eq!(hex::encode(rfc5869::expand::<HmacSha512>(&prk, &unhex(info), okm.len() / 2)), okm);
    }
}

/// Wycheproof `c2sp_chunked_encryption_aes_256_gcm_test.json` (tcId 1, 2, 9,
/// 10; `ct` inflated from the file's zlib form): the reference Cobblestone
/// derives each vector's `aeadKey` and `baseNonce`, the commitment stored in
/// the ciphertext, and opens it to a message of the given SHA-512.
#[test]
fn reference_cobblestone_matches_wycheproof() {
    let key = unhex("59454c4c4f57205355424d4152494e452059454c4c4f57205355424d4152494e");
    let empty = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
    let seven = "e85f32a85f1d4f7c9b2d36d20eca8435d81253e7075e9dea069eb1b6da48daf92ef1797367b520d8a46c4f72cecb85b1daff8887fcb41721d39943d1952fc180";
    let cases = [
        (
            "",
            "781b72bce3c966fffb09e5d596e1d21b029b21a9599852fb9b9f644e23b86ae8",
            "f206a92ac0ba380c8e9e3843",
            "43a2e39431cbae0389d3fc86adf46f7c3a24de88d9311617e53f3164cc1d5dc738a66b97f0bf786565c31799c2f463d50a7e10046011dc6fc3c939e3a5db7affb6191551669554fb",
            empty,
        ),
        (
            "",
            "14769f63d5e1008908efe8662d188e058d05be2ef94d5b4bc626bc33be412568",
            "e73f670906cb3124dea731e1",
            "a1a1b56f6db58cd1ede0c5c9db62aef20d3f96a6c594bb9252bb38122de91236502b42a1d7fcab820ffa292940d2f86add212cfa42c38df19d3cc9139ee61a5990d3db57433514229beea49a8a72bd",
            seven,
        ),
        (
            "7465737420636f6e74657874",
            "580dd69d5b20db77593dd1d6d48cfc766f87f8256039a744647da02670e32e06",
            "2baf384a0102fd69155740f4",
            "dbedaefc1c35dc6c0f22b743b03e488747166a51f33479e7ceb8b7e11cc0d2710f624a127501bc4aea7d0af6f83cfe359b9e69415aa537f36adf86eb35b070475baa039bb7791432adbca49578bbd3",
            seven,
        ),
        (
            "7465737400636f6e74657874",
            "f2ca98b1ea2d5fb43efda14acece3121119c8dd6e7331864b185563fb21fd96d",
            "e0fe388cf585eac9fe19150f",
            "12ede102c3ef730da4f3d4dbfaf11003683238315befe73b21ebb2246ac19f3a7d50abd2a5a365f7652bda670814dbc883ce618256d2d513bd238c2c0dded7614d52bef77bc04273656df97a294323",
            seven,
        ),
    ];
    for (ctx, aead_key, base_nonce, ct, msg_sha512) in cases {
        let (ctx, ct) = (unhex(ctx), unhex(ct));
        let (k, n, commitment) = cobblestone_keys(&key, &ct[..24], &ctx);
        assert_eq!(hex::encode(k), aead_key);
        assert_eq!(hex::encode(n), base_nonce);
        assert_eq!(commitment, ct[24..56]);
        let pt = cobblestone_open(&key, &ctx, &ct).expect("the vector opens");
        assert_eq!(hex::encode(Sha512::digest(&pt)), msg_sha512);
    }
}

// ================================================================ design §3: the key hierarchy

/// Every label of `kdf` (the public ones of the deployed system and ours),
/// for the public check K, edge keys and seeded ones; plus the public check
/// values of design §3, which pin the reference to the spec's own numbers.
#[test]
fn key_hierarchy_matches_the_reference() {
    let check = keys("kdf", 0)[0];
    assert_eq!(
        hex::encode(from_k(&check, "backup encryption")),
        "17ec312152f6f84fd13a3ec6b9c9279aac60bb84405f0685d1fae27293757bc7"
    );
    assert_eq!(
        hex::encode(from_k(&check, "metadata encryption")),
        "7cbf5f4dbaf010dffc38d760b98900b5ee5086a40308f28abdfa775c52fabe69"
    );
    assert_eq!(
        hex::encode(from_k(&check, "metadata authentication")),
        "9225f36527dd531ecfa5fc1f2795382f6765308bfc9b31affd222844d7b45bad"
    );
    for k in keys("kdf", 16) {
        let key = BackupKey::from_bytes(k);
        let named = [
            ("backup encryption", kdf::backup_encryption_key(&key)),
            ("metadata encryption", kdf::metadata_encryption_key(&key)),
            ("metadata authentication", kdf::metadata_authentication_key(&key)),
            ("e2eb v2 backup", kdf::v2_input_key(&key)),
        ];
        for (info, derived) in named {
            assert_eq!(derived.expose_secret(), &from_k(&k, info), "{info}");
            assert_eq!(kdf::derive(&key, info.as_bytes()).expose_secret(), &from_k(&k, info), "{info}");
        }
        // The key id: the first 8 bytes of HKDF(K, "e2eb key id").
        assert_eq!(kdf::key_id(&key), from_k(&k, "e2eb key id")[..8]);
        assert_eq!(kdf::derive(&key, b"e2eb vault owner").expose_secret(), &from_k(&k, "e2eb vault owner"));
    }
}

/// `kdf::hkdf_sha256` (the vault's and the passkey's HKDF) with salts, IKMs
/// and infos of many lengths, including salts longer than a SHA-256 block
/// (HMAC hashes those first) and the empty salt.
#[test]
fn explicit_salt_hkdf_matches_the_reference() {
    let mut g = Seeded::new("hkdf_sha256");
    for n in 0..48 {
        let salt = g.bytes([0, 1, 16, 32, 63, 64, 65, 200][n % 8]);
        let ikm = g.bytes_below(130);
        let info = g.bytes_below(100);
        assert_eq!(
            kdf::hkdf_sha256(&salt, &ikm, &info).expose_secret(),
            &hkdf256(Some(&salt), &ikm, &info),
            "case {n}"
        );
    }
}

// ================================================================ design §4.1: crypt15

fn zlib1(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(1));
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

fn inflate(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(data).read_to_end(&mut out).unwrap();
    out
}

/// crypt15's body key, `HKDF(K, "backup encryption")`, both ways: a file
/// the library writes opens with the reference key (RustCrypto's 16-byte-IV
/// GCM), and a file sealed here with the reference key opens in the library.
#[test]
fn crypt15_body_key_matches_the_reference() {
    let mut g = Seeded::new("crypt15");
    for (n, k) in keys("crypt15", 4).into_iter().enumerate() {
        let key = BackupKey::from_bytes(k);
        let body_key = from_k(&k, "backup encryption");
        let gcm = AesGcm::<Aes256, U16>::new(&body_key.into());
        let payload = g.bytes([0, 1, 5000, 70_000][n % 4]);
        let iv: [u8; 16] = g.array();

        // Library → reference.
        let options = crypt15::EncryptOptions { iv: Some(iv), ..Default::default() };
        let mut file = Vec::new();
        crypt15::encrypt(&key, &options, &mut &payload[..], &mut file, &mut |_| {}).unwrap();
        let header = crypt15::parse_header(&file).unwrap();
        assert_eq!(header.iv, iv);
        let (signed, md5) = file.split_at(file.len() - 16);
        assert_eq!(md5, md5::Md5::digest(signed).as_slice());
        let body = &signed[header.encoded_len..];
        let zlib = gcm.decrypt(GenericArray::from_slice(&iv), body).expect("the reference body key opens it");
        assert_eq!(inflate(&zlib), payload, "key {n}");

        // Reference → library.
        let mut file = crypt15::encode_prefix(&iv, &BackupMetadata::default());
        file.extend_from_slice(&gcm.encrypt(GenericArray::from_slice(&iv), zlib1(&payload).as_slice()).unwrap());
        let md5 = md5::Md5::digest(&file);
        file.extend_from_slice(&md5);
        let mut out = Vec::new();
        crypt15::decrypt(&key, &mut &file[..], &mut out, &mut |_| {}).expect("the library opens the reference's file");
        assert_eq!(out, payload, "key {n}");
    }
}

// ================================================================ design §4.3: metadata blob

/// The metadata keys, `HKDF(K, "metadata encryption")` (AES-256-CBC) and
/// `HKDF(K, "metadata authentication")` (HMAC-SHA256 over iv || ct): the
/// library's blob equals the reference's byte for byte, and opens.
#[test]
fn metadata_keys_match_the_reference() {
    use aes_gcm::aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
    let mut g = Seeded::new("metadata");
    for k in keys("metadata", 8) {
        let key = BackupKey::from_bytes(k);
        let iv: [u8; 16] = g.array();
        let json = g.bytes_below(300);
        let enc = from_k(&k, "metadata encryption");
        let auth = from_k(&k, "metadata authentication");
        let ct = cbc::Encryptor::<Aes256>::new(&enc.into(), &iv.into()).encrypt_padded_vec_mut::<Pkcs7>(&json);
        let mac = rfc5869::mac::<HmacSha256>(&auth, &[&iv, &ct]);
        let blob = [&[0x10], iv.as_slice(), &[0x20], &mac, &ct].concat();
        let blob = base64::engine::general_purpose::STANDARD.encode(blob);
        assert_eq!(metadata::encrypt_with_iv(&key, &iv, &json), blob);
        assert_eq!(metadata::decrypt(&key, &blob).unwrap().as_slice(), json.as_slice());
    }
}

// ================================================================ design §4.2: v2 and Cobblestone

/// `MessageKeys::derive` and the chunk keys and nonces it makes: the
/// commitment equals the reference's, the library's sealed body equals the
/// reference's byte for byte (so the chunk key and base nonce are the
/// reference's too), and the library opens the reference's body.
#[test]
fn cobblestone_message_keys_match_the_reference() {
    let mut g = Seeded::new("cobblestone");
    for n in 0..12 {
        let input_key: [u8; 32] = g.array();
        let salt: [u8; 24] = g.array();
        let context = g.bytes_below(90);
        let (_, _, commitment) = cobblestone_keys(&input_key, &salt, &context);
        assert_eq!(MessageKeys::derive(&input_key, &salt, &context).commitment(), &commitment, "case {n}");
        let pt = g.bytes([0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 100][n % 6]);
        let sealed = cobblestone_seal(&input_key, &salt, &context, &pt);
        assert!(cobblestone::seal(&input_key, &salt, &context, &pt) == sealed, "case {n}");
        assert!(cobblestone::open(&input_key, &context, &sealed).expect("the library opens it") == pt, "case {n}");
    }
}

/// v2's key id (`HKDF(K, "e2eb key id")`, 8 bytes), input key
/// (`HKDF(K, "e2eb v2 backup")`) and context (`"e2eb/v2" || 0x00 ||` every
/// byte before the body), both ways: a file the library writes carries the
/// reference key id and opens with the reference Cobblestone under the
/// reference input key, and a file made here from those opens in the library.
#[test]
fn v2_key_id_and_input_key_match_the_reference() {
    let mut g = Seeded::new("v2");
    for (n, k) in keys("v2", 5).into_iter().enumerate() {
        let key = BackupKey::from_bytes(k);
        let key_id = &from_k(&k, "e2eb key id")[..8];
        let input_key = from_k(&k, "e2eb v2 backup");
        let pt = g.bytes([0, 7, CHUNK, 3 * CHUNK + 5][n % 4]);
        let salt: [u8; 24] = g.array();

        // Library → reference.
        let options = v2::EncryptOptions { salt: Some(salt), created_unix: Some(1_700_000_000), ..Default::default() };
        let file = v2::encrypt_to_vec(&key, &options, &pt).unwrap();
        assert_eq!(&file[..5], b"E2EB\x02");
        let header_end = 7 + usize::from(u16::from_be_bytes([file[5], file[6]]));
        let header = v2::parse_header(&file).unwrap();
        assert_eq!(header.fields.key_id, key_id, "key {n}: the key id");
        let context = [b"e2eb/v2".as_slice(), &[0x00], &file[..header_end]].concat();
        let opened = cobblestone_open(&input_key, &context, &file[header_end..]);
        assert!(opened.as_deref() == Some(pt.as_slice()), "key {n}: the reference input key opens the library's file");

        // Reference → library.
        let fields = V2Header { key_id: key_id.to_vec(), created_unix: 1_800_000_000, ..Default::default() };
        let mut file = v2::encode_header(&fields).unwrap();
        let context = [b"e2eb/v2".as_slice(), &[0x00], &file].concat();
        file.extend_from_slice(&cobblestone_seal(&input_key, &salt, &context, &pt));
        let (_, out) = v2::decrypt_slice(&key, &file).expect("the library opens the reference's file");
        assert!(out == pt, "key {n}");
    }
}

// ================================================================ design §5: the vault

const START: u64 = 1_800_000_000;
const PASSWORD: &[u8] = b"correct horse battery staple";

/// One site in test mode whose OPAQUE key material the test knows.
struct Vault {
    site: Site,
    setup: Vec<u8>,
    ledger: MemoryLedger,
    service: CredentialIssuer,
}

/// What the test's own OPAQUE client (opaque-ke, not `vault::client`) learns
/// from one login, and what the relay records of it.
struct RawLogin {
    session_key: Vec<u8>,
    export_key: Vec<u8>,
    /// KE1 || KE2 || KE3 || login id: everything the relay saw of the login.
    transcript: Vec<u8>,
    /// The release reply.
    released: Reply,
}

impl RawLogin {
    fn sealed(&self) -> &[u8] {
        match &self.released.body {
            Some(reply::Body::Released(sealed)) => sealed,
            other => panic!("not a release: {other:?}"),
        }
    }
}

fn identifiers() -> Identifiers<'static> {
    Identifiers { client: None, server: Some(OPAQUE_SERVER_ID) }
}

impl Vault {
    fn new() -> Self {
        let setup = ServerSetup::<Suite>::new(&mut OsRng);
        let bytes = setup.serialize().to_vec();
        let service = CredentialIssuer::from_seed(&[9; 32]);
        let config =
            SiteConfig::for_tests(service.verifier()).with_clock(Clock::manual(Arc::new(AtomicU64::new(START))));
        Self { site: Site::new(setup, config), setup: bytes, ledger: MemoryLedger::default(), service }
    }

    fn client(&self, account: &[u8]) -> VaultClient {
        VaultClient::new(account, &self.site.fleet_key())
            .with_credential(self.service.issue(account, START + 600))
            .allowing_test_profile()
    }

    fn send(&mut self, req: Request) -> Reply {
        self.site.serve(&mut self.ledger, req)
    }

    fn request(c: &VaultClient, body: request::Body) -> Request {
        Request {
            version: wire::VERSION,
            account: c.account().to_vec(),
            credential: c.credential().cloned(),
            body: Some(body),
        }
    }

    /// Registration by the library's client.
    fn register(&mut self, c: &VaultClient, k: &BackupKey) {
        let (reg, req) = c.register_start(&mut OsRng, PASSWORD).unwrap();
        let r = self.send(req);
        let req = reg.finish(&mut OsRng, PASSWORD, &r, k, KsfProfile::Test, Owner::First).unwrap();
        client::registered(&self.send(req)).unwrap();
    }

    /// Registration by the test's own OPAQUE client, K wrapped under the
    /// reference wrap key (AAD: the account, as `vault::client` seals it).
    fn register_raw(&mut self, c: &VaultClient, k: &BackupKey, nonce: &[u8; 12]) {
        let start = ClientRegistration::<Suite>::start(&mut OsRng, PASSWORD).unwrap();
        let registration_request = start.message.serialize().to_vec();
        let r = self.send(Self::request(c, request::Body::RegisterStart(wire::RegisterStart { registration_request })));
        let Some(reply::Body::RegistrationResponse(bytes)) = r.body else { panic!("no registration response") };
        let response = RegistrationResponse::<Suite>::deserialize(&bytes).unwrap();
        let ksf = KsfProfile::Test.ksf();
        let done = start
            .state
            .finish(&mut OsRng, PASSWORD, response, ClientRegistrationFinishParameters::new(identifiers(), Some(&ksf)))
            .unwrap();
        let wrap = vault_wrap_key(&done.export_key, c.account());
        let wrapped_key = gcm_seal(&wrap, nonce, c.account(), k.expose_secret());
        let upload = done.message.serialize().to_vec();
        let owner = OwnerKey::of(k);
        let content = keys::register_content_hash(&upload, &wrapped_key, &owner.public(), KsfProfile::Test.code());
        let message = keys::owner_message(&c.fleet_key().id(), c.account(), OwnerOp::Register, 0, &content);
        let proof = wire::OwnerProof { expected_version: 0, signature: owner.sign(&message).to_vec() };
        let finish = wire::RegisterFinish {
            registration_upload: upload,
            wrapped_key,
            owner_public_key: owner.public().to_vec(),
            ksf_profile: KsfProfile::Test.code(),
            proof: Some(proof),
        };
        client::registered(&self.send(Self::request(c, request::Body::RegisterFinish(finish)))).unwrap();
    }

    /// A login by the test's own OPAQUE client, which thus knows the session
    /// and export keys the library's client keeps to itself.
    fn login_raw(&mut self, c: &VaultClient) -> RawLogin {
        let start = ClientLogin::<Suite>::start(&mut OsRng, PASSWORD).unwrap();
        let ke1 = start.message.serialize().to_vec();
        let r = self.send(Self::request(c, request::Body::LoginStart(wire::LoginStart { ke1: ke1.clone() })));
        let Some(reply::Body::Ke2(ke2)) = r.body else { panic!("no KE2") };
        let response = CredentialResponse::<Suite>::deserialize(&ke2.ke2).unwrap();
        let ksf = KsfProfile::from_code(ke2.ksf_profile).unwrap().ksf();
        let params = ClientLoginFinishParameters::new(Some(OPAQUE_CONTEXT), identifiers(), Some(&ksf));
        let done = start.state.finish(&mut OsRng, PASSWORD, response, params).unwrap();
        let ke3 = done.message.serialize().to_vec();
        let finish = wire::LoginFinish { login_id: ke2.login_id.clone(), ke3: ke3.clone() };
        let released = self.send(Self::request(c, request::Body::LoginFinish(finish)));
        RawLogin {
            session_key: done.session_key.to_vec(),
            export_key: done.export_key.to_vec(),
            transcript: [ke1.as_slice(), &ke2.ke2, &ke3, &ke2.login_id].concat(),
            released,
        }
    }

    /// A login by the library's client up to the release reply.
    fn login_library(&mut self, c: &VaultClient) -> (client::AwaitingRelease, Reply) {
        let (login, req) = c.login_start(&mut OsRng, PASSWORD).unwrap();
        let ke2 = self.send(req);
        let (waiting, ke3) = login.finish(&mut OsRng, PASSWORD, &ke2).unwrap();
        (waiting, self.send(ke3))
    }

    /// The wrapped K as the site stores it (opened with the site's secrets).
    fn stored_wrapped_key(&self, account: &[u8]) -> Vec<u8> {
        let rec = self.ledger.record(account).unwrap();
        let sealed = SealedRecord { sealed: rec.sealed_secrets, record_key: rec.record_key };
        keys::open_record(self.site.secrets(), account, &sealed).unwrap().wrapped_key.to_vec()
    }
}

/// Design §5: `wrap = HKDF-SHA256(export_key, "e2eb vault wrap" || account id)`.
fn vault_wrap_key(export_key: &[u8], account: &[u8]) -> [u8; 32] {
    hkdf256(None, export_key, &label("e2eb vault wrap", account))
}

/// Design §5: "a key derived from the session key" — HKDF-SHA256 with the
/// label `"e2eb vault release"` (`vault::LABEL_RELEASE`; the spec names no label).
fn vault_release_key(session_key: &[u8]) -> [u8; 32] {
    hkdf256(None, session_key, b"e2eb vault release")
}

/// Opens a release with the reference keys: the session seal, then the
/// export-key wrap (both with the account as AAD, as the code seals them).
fn open_release(session_key: &[u8], export_key: &[u8], account: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    let wrapped = gcm_open(&vault_release_key(session_key), account, sealed)?;
    gcm_open(&vault_wrap_key(export_key, account), account, &wrapped)
}

/// `keys::wrap_key` and `keys::release_key` on their own, for OPAQUE-sized
/// (64-byte) and other inputs and accounts of many lengths.
#[test]
fn vault_wrap_and_release_functions_match_the_reference() {
    let mut g = Seeded::new("vault keys");
    for n in 0..24 {
        let secret = g.bytes([64, 64, 32, 1, 0, 100][n % 6]);
        let account = g.bytes_below(40);
        assert_eq!(keys::wrap_key(&secret, &account).expose_secret(), &vault_wrap_key(&secret, &account), "case {n}");
        assert_eq!(keys::release_key(&secret).expose_secret(), &vault_release_key(&secret), "case {n}");
    }
}

/// Over a real login: K registered by the library's client comes back from
/// the site's release through the reference release and wrap keys (the
/// client's registration wrap and the site's release seal), and K registered
/// by the test under the reference wrap key is recovered by the library's
/// client (its unwrap and its release key).
#[test]
fn vault_wrap_and_release_keys_match_the_reference_over_real_logins() {
    let mut g = Seeded::new("vault logins");
    let mut v = Vault::new();
    for n in 0u8..3 {
        let account = label("alice-", &[n]);
        let c = v.client(&account);
        let k = BackupKey::from_bytes(g.array());
        v.register(&c, &k);
        let login = v.login_raw(&c);
        let opened = open_release(&login.session_key, &login.export_key, &account, login.sealed());
        assert_eq!(opened.as_deref(), Some(k.expose_secret().as_slice()), "account {n}: the library's registration");

        let account = label("bob-", &[n]);
        let c = v.client(&account);
        let k = BackupKey::from_bytes(g.array());
        v.register_raw(&c, &k, &g.array());
        let (waiting, released) = v.login_library(&c);
        assert_eq!(
            waiting.open(&released).expect("the library's client opens it"),
            k,
            "account {n}: the test's registration"
        );
    }
}

/// Design §5.1: the owner key is the Ed25519 key whose seed is
/// `HKDF(K, "e2eb vault owner")`: its public key (and what the site stores
/// after a registration) and its signatures are the reference's.
#[test]
fn vault_owner_key_matches_the_reference() {
    for k in keys("owner", 8) {
        let reference = SigningKey::from_bytes(&from_k(&k, "e2eb vault owner"));
        let owner = OwnerKey::of(&BackupKey::from_bytes(k));
        assert_eq!(owner.public(), reference.verifying_key().to_bytes());
        assert_eq!(owner.sign(b"message"), reference.sign(b"message").to_bytes());
    }
    let mut v = Vault::new();
    let k = BackupKey::from_bytes([0x5c; 32]);
    v.register(&v.client(b"carol"), &k);
    let stored = v.ledger.record(b"carol").unwrap().owner_public_key;
    assert_eq!(stored, SigningKey::from_bytes(&from_k(&[0x5c; 32], "e2eb vault owner")).verifying_key().to_bytes());
}

/// The fleet's keys, from its OPAQUE key material (`ServerSetup` bytes;
/// docs/design.md §5.1 and `keys::FleetSecrets`, the spec is silent):
/// the KE2-signing seed `HKDF(setup, "e2eb vault fleet signing")`, the
/// storage key `HKDF(setup, "e2eb vault fleet storage")` (checked both ways
/// through the record seal, whose AADs are `"e2eb vault record key" ||
/// account` and `"e2eb vault record" || account`), and the fleet id
/// `SHA-256("e2eb vault fleet id" || OPAQUE key || signing key)`.
#[test]
fn vault_fleet_keys_match_the_reference() {
    let mut g = Seeded::new("fleet");
    for n in 0..3 {
        let setup = ServerSetup::<Suite>::new(&mut OsRng);
        let material = setup.serialize().to_vec();
        let fleet = FleetSecrets::of(&setup);
        let signing = SigningKey::from_bytes(&hkdf256(None, &material, b"e2eb vault fleet signing"));
        assert_eq!(fleet.public().signing, signing.verifying_key().to_bytes(), "fleet {n}");
        assert_eq!(fleet.sign_ke2(b"ke2"), signing.sign(b"ke2").to_bytes(), "fleet {n}");
        let id: [u8; 32] = Sha256::new()
            .chain_update(b"e2eb vault fleet id")
            .chain_update(fleet.public().opaque)
            .chain_update(fleet.public().signing)
            .finalize()
            .into();
        assert_eq!(fleet.public().id(), id, "fleet {n}");

        let storage = hkdf256(None, &material, b"e2eb vault fleet storage");
        let account = g.bytes_between(1, 20);
        let (opaque_record, wrapped) = (g.bytes(200), g.bytes(60));
        // Library → reference.
        let rec = keys::seal_record(&mut OsRng, &fleet, &account, &opaque_record, &wrapped).unwrap();
        let record_key = gcm_open(&storage, &label("e2eb vault record key", &account), &rec.record_key)
            .expect("the reference storage key opens the record key");
        let plain = gcm_open(&record_key.try_into().unwrap(), &label("e2eb vault record", &account), &rec.sealed)
            .expect("the record key opens the record");
        let expected = [&(opaque_record.len() as u32).to_be_bytes(), opaque_record.as_slice(), &wrapped].concat();
        assert_eq!(plain, expected, "fleet {n}");
        // Reference → library.
        let record_key: [u8; 32] = g.array();
        let rec = SealedRecord {
            sealed: gcm_seal(&record_key, &g.array(), &label("e2eb vault record", &account), &expected),
            record_key: gcm_seal(&storage, &g.array(), &label("e2eb vault record key", &account), &record_key),
        };
        let opened = keys::open_record(&fleet, &account, &rec).expect("the library opens the reference's record");
        assert_eq!(opened.opaque_record.as_slice(), opaque_record.as_slice(), "fleet {n}");
        assert_eq!(opened.wrapped_key.as_slice(), wrapped.as_slice(), "fleet {n}");
    }
}

// ---------------------------------------------------------------- the eavesdropper
//
// A relay records the release reply of one login (A) of the rightful user.
// Design §5: the wrapped K is released "sealed under a key derived from the
// session key" (the OPAQUE session key of that login), so the recording must
// open under A's session key and under nothing else. Three tests, so that a
// mutation of the binding shows which of them sees it: (c) the positive
// controls, (a) another login's session, (b) keys not bound to the session.

/// A vault with K registered by the library's client for `account`.
fn eavesdropped(account: &[u8]) -> (Vault, VaultClient, BackupKey) {
    let mut v = Vault::new();
    let c = v.client(account);
    let k = BackupKey::from_bytes(Seeded::new("eavesdropper").array());
    v.register(&c, &k);
    (v, c, k)
}

/// (c) Positive controls: a release reply opens with its own login's session
/// (through the reference keys and through the library's client), and what
/// it carries is exactly the wrapped K the site stores. Fails if the site
/// seals under anything but `HKDF(session key, "e2eb vault release")` with
/// the account as AAD, or releases another wrapped K.
#[test]
fn a_release_reply_opens_with_its_own_session_key() {
    let account = b"dave";
    let (mut v, c, k) = eavesdropped(account);
    let a = v.login_raw(&c);
    let b = v.login_raw(&c);
    let k_bytes = Some(k.expose_secret().to_vec());
    assert_eq!(open_release(&a.session_key, &a.export_key, account, a.sealed()), k_bytes);
    assert_eq!(open_release(&b.session_key, &b.export_key, account, b.sealed()), k_bytes);
    let inner = gcm_open(&vault_release_key(&a.session_key), account, a.sealed()).unwrap();
    assert_eq!(inner, v.stored_wrapped_key(account));
    let (waiting, released) = v.login_library(&c);
    assert_eq!(waiting.open(&released).unwrap(), k);
}

/// (a) A recorded reply does not open with the session of another login by
/// the same user with the same password. The two logins share the export
/// key (the password's) and everything else but the session key, so this
/// catches any release key, on the site's and the client's side alike, that
/// does not depend on the session key: a constant, the label alone, the
/// account, the export key, the OPAQUE record, the fleet's keys. (A check
/// with the test's reference key would catch nothing more than (c): the
/// reference is session-bound whatever the library does.)
#[test]
fn a_recorded_release_reply_does_not_open_with_another_logins_session_key() {
    let account = b"dave";
    let (mut v, c, k) = eavesdropped(account);
    let a = v.login_raw(&c);
    let b = v.login_raw(&c);
    // The premise: same password, same export key, different sessions.
    assert_eq!(a.export_key, b.export_key);
    assert_ne!(a.session_key, b.session_key);

    // Login B's client (the library's), handed A's recorded reply, refuses it.
    let (other, _) = v.login_library(&c);
    assert!(matches!(other.open(&a.released), Err(ClientError::Unwrap(OpenError::Authentication))));
    // The same between two logins of the library's client.
    let (first, first_reply) = v.login_library(&c);
    let (second, _) = v.login_library(&c);
    assert!(matches!(second.open(&first_reply), Err(ClientError::Unwrap(OpenError::Authentication))));
    // Control: the recorded replies are genuine releases, which their own
    // login opens (so the refusals above are not about a broken reply).
    assert_eq!(first.open(&first_reply).unwrap(), k);
    assert_eq!(open_release(&a.session_key, &a.export_key, account, a.sealed()), Some(k.expose_secret().to_vec()));
}

/// (b) A recorded reply does not open under keys the site could use without
/// the login's session key. Each entry names the mutation of the site's
/// release seal that would make it open.
#[test]
fn a_recorded_release_reply_does_not_open_with_keys_not_bound_to_the_session() {
    let account = b"dave";
    let (mut v, c, k) = eavesdropped(account);
    let a = v.login_raw(&c);
    let recorded = a.sealed();
    let stored = v.stored_wrapped_key(account);
    let rec = v.ledger.record(account).unwrap();
    let sealed = SealedRecord { sealed: rec.sealed_secrets, record_key: rec.record_key };
    let opaque_record = keys::open_record(v.site.secrets(), account, &sealed).unwrap().opaque_record.to_vec();
    let login_id = &a.transcript[a.transcript.len() - 16..];
    let release = |ikm: &[u8]| hkdf256(None, ikm, b"e2eb vault release");
    let unbound: [(&str, [u8; 32]); 6] = [
        // The session key dropped from the derivation: the label alone.
        ("the release label over nothing", release(b"")),
        // No session seal at all: the stored wrapped K sent as it is (the wrap
        // key, from the export key alone, then opens the reply).
        ("the wrap key", vault_wrap_key(&a.export_key, account)),
        // A key from the password's OPAQUE record instead of the session.
        ("the release label over the OPAQUE record", release(&opaque_record)),
        // A key from what the relay recorded of the login (KE1, KE2, KE3, login id).
        ("the release label over the transcript", release(&a.transcript)),
        // A key from the login id alone.
        ("the release label over the login id", release(login_id)),
        // The fleet's own storage key instead of the session's.
        ("the fleet's storage key", hkdf256(None, &v.setup, b"e2eb vault fleet storage")),
    ];
    for (what, key) in unbound {
        assert_eq!(gcm_open(&key, account, recorded), None, "the reply opens under {what}");
    }
    // Nor does the stored wrapped K, or K, travel in clear inside the reply
    // (no seal at all, or a seal that leaves the plaintext in place).
    assert!(!recorded.windows(stored.len()).any(|w| w == stored.as_slice()));
    assert!(!recorded.windows(32).any(|w| w == k.expose_secret()));
    // Control: the reply is a genuine release that its own session opens.
    assert_eq!(open_release(&a.session_key, &a.export_key, account, recorded), Some(k.expose_secret().to_vec()));
}

// ================================================================ design §6: passkeys

/// The WebAuthn PRF (`salt = SHA-256("WebAuthn PRF" || 0x00 || input)`,
/// `HMAC-SHA-256(CredRandom, salt)`), the server part
/// (`HMAC-SHA256(server_key, server_salt || account_salt)`), and the wrap
/// (`HKDF-SHA256(prf_output || server_part, salt = PRF salt, info =
/// "e2eb passkey wrap" || credential id)`, AES-256-GCM with AAD =
/// credential id || version (u32 BE)), both ways.
#[test]
fn passkey_derivations_match_the_reference() {
    let mut g = Seeded::new("passkey");
    for n in 0..16 {
        let input = g.bytes_below(64);
        let salt: [u8; 32] =
            Sha256::new().chain_update(b"WebAuthn PRF").chain_update([0x00]).chain_update(&input).finalize().into();
        assert_eq!(prf::salt(&input), salt, "case {n}");
        let cred_random = g.bytes(32);
        assert_eq!(prf::evaluate(&cred_random, &salt).as_slice(), rfc5869::mac::<HmacSha256>(&cred_random, &[&salt]));

        let server_key: [u8; 32] = g.array();
        let (server_salt, account_salt) = (g.bytes(32), g.bytes(32));
        let part: [u8; 32] =
            rfc5869::mac::<HmacSha256>(&server_key, &[&server_salt, &account_salt]).try_into().unwrap();
        let server = wrap::server_part(&ServerKey::from_bytes(server_key), &server_salt, &account_salt);
        assert_eq!(server.expose_secret(), &part, "case {n}");

        let prf_output: [u8; 32] = g.array();
        let prf_salt = g.bytes(32);
        let credential_id = g.bytes_between(1, 64);
        let version = u32::from_be_bytes(g.array());
        let ctx = WrapContext { credential_id: &credential_id, prf_salt: &prf_salt, server_key_version: version };
        let prf = PrfOutput::from_bytes(prf_output);
        let server = ServerPart::from_bytes(part);
        let wrap_key =
            hkdf256(Some(&prf_salt), &[prf_output, part].concat(), &label("e2eb passkey wrap", &credential_id));
        assert_eq!(wrap::wrap_key(&prf, &server, &ctx).expose_secret(), &wrap_key, "case {n}");

        let aad = [credential_id.as_slice(), &version.to_be_bytes()].concat();
        let k = BackupKey::from_bytes(g.array());
        // Library → reference.
        let encapsulated = wrap::encapsulate(&mut OsRng, &k, &prf, &server, &ctx);
        assert_eq!(gcm_open(&wrap_key, &aad, &encapsulated).as_deref(), Some(k.expose_secret().as_slice()), "case {n}");
        // Reference → library.
        let encapsulated = gcm_seal(&wrap_key, &g.array(), &aad, k.expose_secret());
        assert_eq!(wrap::open(&encapsulated, &prf, &server, &ctx).expect("the library opens it"), k, "case {n}");
    }
}
