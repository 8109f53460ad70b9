//! Seed corpora for the fuzz targets (design §8: seed corpora are built
//! from the vectors).
//!
//! [`seed_corpora`] turns the test vectors into starting inputs for every
//! target in [`e2eb_core::fuzzing::TARGETS`]: key texts and key files,
//! crypt15 and v2 files and prefixes, metadata blobs, vault messages, plus
//! structured inputs (a valid file encrypted under the public fuzz key, then
//! one edit) written with the `encode` methods of the input types in
//! [`e2eb_core::fuzzing`]. The vectors come from
//! [`crate::vectors::generate_all`], in memory, so the seeds are deterministic
//! and need none of the repository's files.
//!
//! [`write_seed_corpora`] writes them as `fuzz/corpus/<target>/seed-*`
//! (`e2eb fuzz seed`). Other files in a corpus — inputs the fuzzer found and
//! we kept — are left alone. The replay test (`tests/it/fuzz_replay.rs`) checks
//! that the committed seeds are exactly what this module generates.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine as _;
use e2eb_core::backup::{crypt15, v2};
use e2eb_core::fuzzing::{
    self, AeadInput, Claim, Crypt15Input, FleetInput, FleetOp, LoginEnd, MetadataInput, Mutation, SiteOp, TARGETS,
    V2Input, VaultSiteInput, Who,
};
use serde::Serialize;
use serde_json::Value;

use crate::atomic::{self, PathError};
use crate::vectors::{self, Expect, VectorFile};

/// The largest seed we write; larger inputs slow every fuzzing run down.
pub const MAX_SEED_LEN: usize = 64 * 1024;

/// Prefix of the file names of generated seeds.
pub const SEED_PREFIX: &str = "seed-";

/// Seeds per target: target name → file name (`seed-<name>`) → bytes.
pub type SeedCorpora = BTreeMap<&'static str, BTreeMap<String, Vec<u8>>>;

/// Why the seeds could not be built or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// The vector generator produced no file for a family the seeds need.
    #[error("the vector generator has no family {family:?}")]
    MissingFamily {
        /// The family name.
        family: String,
    },
    /// A vector case lacks an input or output the seeds need.
    #[error("vector case {family}/{case} has no field {field:?}")]
    MissingField {
        /// The family name.
        family: String,
        /// The case id.
        case: String,
        /// The input name, or `out.<name>` for an output.
        field: String,
    },
    /// A field that should be hex is not.
    #[error("vector case {family}/{case}: field {field:?} is not hex: {source}")]
    BadHex {
        /// The family name.
        family: String,
        /// The case id.
        case: String,
        /// The field name.
        field: String,
        /// The decoding error.
        source: hex::FromHexError,
    },
    /// A hex field has the wrong number of bytes.
    #[error("vector case {family}/{case}: field {field:?} has {actual} bytes, expected {expected}")]
    BadLength {
        /// The family name.
        family: String,
        /// The case id.
        case: String,
        /// The field name.
        field: String,
        /// The length the seed input needs.
        expected: usize,
        /// The decoded length.
        actual: usize,
    },
    /// A field that should be a number is not (or is out of range).
    #[error("vector case {family}/{case}: field {field:?} is not a valid number: {value:?}")]
    BadNumber {
        /// The family name.
        family: String,
        /// The case id.
        case: String,
        /// The field name.
        field: String,
        /// The text found.
        value: String,
    },
    /// A vector file could not be turned into JSON and back.
    #[error("vector family {family}: JSON: {source}")]
    Json {
        /// The family name.
        family: String,
        /// The serde error.
        source: serde_json::Error,
    },
    /// A seed is larger than [`MAX_SEED_LEN`].
    #[error("seed {target}/{name} is {len} bytes, more than {MAX_SEED_LEN}")]
    TooLarge {
        /// The fuzz target.
        target: &'static str,
        /// The seed's file name.
        name: String,
        /// Its length.
        len: usize,
    },
    /// A fuzz target got no seed (every target needs at least one).
    #[error("fuzz target {target} has no seed; add one in harness/cli/src/fuzz/seed.rs")]
    NoSeeds {
        /// The fuzz target.
        target: &'static str,
    },
    /// Seeds were built for a name that is not a fuzz target.
    #[error("seeds were built for {target}, which is not in e2eb_core::fuzzing::TARGETS")]
    UnknownTarget {
        /// The name used.
        target: &'static str,
    },
    /// Reading or writing the corpus failed.
    #[error(transparent)]
    Io(#[from] PathError),
}

/// What [`write_seed_corpora`] did to one target's corpus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetSeeds {
    /// The fuzz target.
    pub target: &'static str,
    /// The corpus folder.
    pub dir: PathBuf,
    /// Seeds the corpus now holds.
    pub seeds: usize,
    /// Seeds created or rewritten because their content changed.
    pub written: usize,
    /// Stale `seed-*` files removed.
    pub removed: usize,
    /// Other files (inputs the fuzzer found) kept as they were.
    pub kept: usize,
}

/// What [`write_seed_corpora`] did, per target in [`TARGETS`] order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SeedSummary {
    /// One entry per fuzz target.
    pub targets: Vec<TargetSeeds>,
}

impl SeedSummary {
    /// Seeds in all corpora.
    pub fn seeds(&self) -> usize {
        self.targets.iter().map(|t| t.seeds).sum()
    }
    /// Seeds created or rewritten.
    pub fn written(&self) -> usize {
        self.targets.iter().map(|t| t.written).sum()
    }
    /// Stale seeds removed.
    pub fn removed(&self) -> usize {
        self.targets.iter().map(|t| t.removed).sum()
    }
    /// Other files kept.
    pub fn kept(&self) -> usize {
        self.targets.iter().map(|t| t.kept).sum()
    }

    /// One line per target, for a person.
    pub fn to_text(&self) -> String {
        self.targets
            .iter()
            .map(|t| {
                format!(
                    "{:20} {:3} seeds ({} written, {} removed), {} other inputs kept\n",
                    t.target, t.seeds, t.written, t.removed, t.kept
                )
            })
            .collect()
    }
}

/// Builds every target's seeds from the vectors, in memory.
///
/// Seed names are `seed-<case id>[-<variant>]`; within a target a seed whose
/// bytes equal an earlier one is dropped.
pub fn seed_corpora() -> Result<SeedCorpora, SeedError> {
    let v = Vectors::generate();
    let mut s = Seeds::default();
    key_seeds(&v, &mut s)?;
    crypt15_seeds(&v, &mut s)?;
    crypt14_seeds(&mut s)?;
    v2_seeds(&v, &mut s)?;
    metadata_seeds(&v, &mut s)?;
    vault_seeds(&v, &mut s)?;
    aead_seeds(&v, &mut s)?;
    json_seeds(&v, &mut s)?;
    passkey_seeds(&mut s)?;
    store_seeds(&mut s)?;
    if let Some(target) = s.0.keys().find(|name| !TARGETS.iter().any(|t| t.name == **name)) {
        return Err(SeedError::UnknownTarget { target });
    }
    for t in TARGETS {
        if s.0.get(t.name).is_none_or(BTreeMap::is_empty) {
            return Err(SeedError::NoSeeds { target: t.name });
        }
    }
    Ok(s.0)
}

/// Writes the seeds as `fuzz_dir/corpus/<target>/seed-*`.
///
/// Only files named `seed-*` are touched: seeds whose content changed are
/// rewritten (atomically), stale ones removed; other files stay. Nothing is
/// written unless every seed could be built.
pub fn write_seed_corpora(fuzz_dir: &Path) -> Result<SeedSummary, SeedError> {
    let corpora = seed_corpora()?;
    let mut summary = SeedSummary::default();
    for t in TARGETS {
        let seeds = corpora.get(t.name).ok_or(SeedError::NoSeeds { target: t.name })?;
        let dir = fuzz_dir.join("corpus").join(t.name);
        std::fs::create_dir_all(&dir).map_err(|e| PathError::new(&dir, e))?;
        let mut entry =
            TargetSeeds { target: t.name, dir: dir.clone(), seeds: seeds.len(), written: 0, removed: 0, kept: 0 };
        for item in std::fs::read_dir(&dir).map_err(|e| PathError::new(&dir, e))? {
            let item = item.map_err(|e| PathError::new(&dir, e))?;
            let path = item.path();
            let name = item.file_name().to_string_lossy().into_owned();
            let is_file = item.file_type().map_err(|e| PathError::new(&path, e))?.is_file();
            if !is_file || name.starts_with('.') {
                continue;
            }
            if !name.starts_with(SEED_PREFIX) {
                entry.kept += 1;
            } else if !seeds.contains_key(&name) {
                std::fs::remove_file(&path).map_err(|e| PathError::new(&path, e))?;
                entry.removed += 1;
            }
        }
        for (name, data) in seeds {
            let path = dir.join(name);
            let current = match std::fs::read(&path) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(PathError::new(&path, e).into()),
            };
            if current.as_ref() != Some(data) {
                atomic::write(&path, data, false)?;
                entry.written += 1;
            }
        }
        summary.targets.push(entry);
    }
    Ok(summary)
}

// ---------------------------------------------------------------- vectors

/// The generated vector files, by family.
struct Vectors(BTreeMap<String, VectorFile>);

impl Vectors {
    fn generate() -> Self {
        Self(vectors::generate_all().into_iter().map(|f| (f.family.clone(), f)).collect())
    }

    fn file(&self, family: &str) -> Result<&VectorFile, SeedError> {
        self.0.get(family).ok_or_else(|| SeedError::MissingFamily { family: family.to_owned() })
    }

    /// The cases of one family: inputs, with outputs merged in as `out.<name>`.
    fn cases(&self, family: &str) -> Result<Vec<Case>, SeedError> {
        let file = self.file(family)?;
        Ok(file
            .cases
            .iter()
            .map(|c| {
                let mut fields = c.input.clone();
                if let Expect::Output(out) = &c.expect {
                    fields.extend(out.iter().map(|(k, v)| (format!("out.{k}"), v.clone())));
                }
                Case { family: file.family.clone(), id: c.id.clone(), op: c.op.clone(), fields }
            })
            .collect())
    }

    /// A family's file exactly as committed (`vectors/<family>.json`).
    fn json(&self, family: &str) -> Result<String, SeedError> {
        Ok(vectors::to_json(self.file(family)?))
    }
}

/// One vector case, flattened for seed building.
struct Case {
    family: String,
    id: String,
    op: String,
    fields: BTreeMap<String, String>,
}

impl Case {
    fn text(&self, field: &str) -> Result<&str, SeedError> {
        self.fields.get(field).map(String::as_str).ok_or_else(|| SeedError::MissingField {
            family: self.family.clone(),
            case: self.id.clone(),
            field: field.to_owned(),
        })
    }

    fn hex(&self, field: &str) -> Result<Vec<u8>, SeedError> {
        hex::decode(self.text(field)?).map_err(|source| SeedError::BadHex {
            family: self.family.clone(),
            case: self.id.clone(),
            field: field.to_owned(),
            source,
        })
    }

    fn array<const N: usize>(&self, field: &str) -> Result<[u8; N], SeedError> {
        let bytes = self.hex(field)?;
        let actual = bytes.len();
        bytes.try_into().map_err(|_| SeedError::BadLength {
            family: self.family.clone(),
            case: self.id.clone(),
            field: field.to_owned(),
            expected: N,
            actual,
        })
    }

    fn number<T: FromStr>(&self, field: &str, text: &str) -> Result<T, SeedError> {
        text.parse().map_err(|_| SeedError::BadNumber {
            family: self.family.clone(),
            case: self.id.clone(),
            field: field.to_owned(),
            value: text.to_owned(),
        })
    }

    fn parse<T: FromStr>(&self, field: &str) -> Result<T, SeedError> {
        self.number(field, self.text(field)?)
    }
}

/// The first `n` bytes of `data` (all of it when shorter).
fn head(data: &[u8], n: usize) -> Vec<u8> {
    data[..data.len().min(n)].to_vec()
}

fn crypt15_input(c: &Case) -> Result<Crypt15Input, SeedError> {
    Ok(Crypt15Input {
        multi_file: c.text("variant")? != "single",
        iv: c.array("iv")?,
        app_version: c.text("app_version")?.as_bytes().to_vec(),
        phone_suffix: c.text("phone_suffix")?.as_bytes().to_vec(),
        backup_version: c.parse("backup_version")?,
        plaintext: c.hex("plaintext")?,
        ..Default::default()
    })
}

fn v2_input(c: &Case, max_plaintext: usize) -> Result<V2Input, SeedError> {
    let plaintext = c.hex("plaintext")?;
    let growth = (plaintext.len().saturating_sub(max_plaintext) / 1024).min(63) as u8;
    let feature_flags = c
        .text("feature_flags")?
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|f| c.number("feature_flags", f))
        .collect::<Result<_, _>>()?;
    Ok(V2Input {
        zlib: c.text("compression")? == "zlib",
        salt: c.array("salt")?,
        created: c.parse("created_unix")?,
        backup_version: c.parse("backup_version")?,
        feature_flags,
        app_version: c.text("app_version")?.as_bytes().to_vec(),
        growth,
        plaintext: head(&plaintext, max_plaintext),
        ..Default::default()
    })
}

// ---------------------------------------------------------------- seeds

#[derive(Default)]
struct Seeds(SeedCorpora);

impl Seeds {
    /// Adds a seed unless the target already has one with the same bytes.
    fn add(&mut self, target: &'static str, name: &str, data: Vec<u8>) -> Result<(), SeedError> {
        let name = format!("{SEED_PREFIX}{name}");
        if data.len() > MAX_SEED_LEN {
            return Err(SeedError::TooLarge { target, name, len: data.len() });
        }
        let seeds = self.0.entry(target).or_default();
        if !seeds.values().any(|d| *d == data) {
            seeds.insert(name, data);
        }
        Ok(())
    }
}

fn key_seeds(v: &Vectors, s: &mut Seeds) -> Result<(), SeedError> {
    for c in v.cases("key")? {
        let id = &c.id;
        match c.op.as_str() {
            "parse_digits" => s.add("key_parse", id, c.text("text")?.as_bytes().to_vec())?,
            "parse_keyfile" => s.add("keyfile", id, c.hex("keyfile")?)?,
            "format" => {
                for form in ["digits", "grid", "groups"] {
                    s.add("key_parse", &format!("{id}-{form}"), c.text(&format!("out.{form}"))?.as_bytes().to_vec())?;
                }
                let key = e2eb_core::BackupKey::from_bytes(c.array("key")?);
                s.add("keyfile", &format!("{id}-written"), key.to_android_keyfile().to_vec())?;
                s.add("key_parse", &format!("{id}-file"), key.to_android_keyfile().to_vec())?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn crypt15_seeds(v: &Vectors, s: &mut Seeds) -> Result<(), SeedError> {
    let mut encrypt_cases = Vec::new();
    for c in v.cases("crypt15")? {
        let id = &c.id;
        match c.op.as_str() {
            "decrypt" => {
                let file = c.hex("file")?;
                let prefix = match crypt15::parse_header(&file) {
                    Ok(h) => head(&file, h.encoded_len),
                    Err(_) => head(&file, 64),
                };
                s.add("crypt15_prefix", id, prefix)?;
                if file.len() <= 4096 {
                    s.add("crypt15_decrypt", id, file)?;
                }
            }
            "encrypt" => {
                let input = crypt15_input(&c)?;
                s.add("crypt15_decrypt", &format!("{id}-fuzz-key"), fuzzing::crypt15_file(&input))?;
                s.add("crypt15_roundtrip", id, input.encode())?;
                encrypt_cases.push((c.id.clone(), input));
            }
            _ => {}
        }
    }
    let edits = [
        ("none", Mutation::None, false),
        ("flip-body", Mutation::FlipBit { pos: 60, bit: 3 }, false),
        ("flip-tag-md5-fixed", Mutation::FlipBit { pos: 0xffff, bit: 0 }, true),
        ("edit-prefix-md5-fixed", Mutation::EditHeader { value: 7 }, true),
        ("edit-prefix", Mutation::EditHeader { value: 1 }, false),
        ("truncate", Mutation::Truncate { keep: 40 }, false),
        ("swap-blocks", Mutation::Swap { a: 0, b: 1, len: 0 }, false),
        ("insert", Mutation::Insert { pos: 20, len: 3, value: 0 }, true),
    ];
    for (i, (id, input)) in encrypt_cases.iter().take(3).enumerate() {
        for (name, m, fix) in edits.iter().skip(i % 2).step_by(2) {
            let mut input = input.clone();
            input.fix_md5 = *fix;
            input.plaintext.truncate(2048);
            s.add("crypt15_tamper", &format!("{id}-{name}"), fuzzing::crypt15_tamper_seed(*m, &input))?;
        }
    }
    Ok(())
}

/// The legacy crypt14 reader (design §7): files under the public fuzz key
/// file — intact, stored, without MD5, under another key or key file, with
/// trailing data — and a bare prefix. There are no crypt14 vectors: the
/// reader is read only, so its seeds come from `e2eb_core::fuzzing`.
fn crypt14_seeds(s: &mut Seeds) -> Result<(), SeedError> {
    for (name, file) in fuzzing::crypt14_seeds() {
        s.add("crypt14_header", name, file)?;
    }
    Ok(())
}

fn v2_seeds(v: &Vectors, s: &mut Seeds) -> Result<(), SeedError> {
    let mut encrypt_cases = Vec::new();
    for c in v.cases("v2")? {
        let id = &c.id;
        match c.op.as_str() {
            "decrypt" => {
                let file = c.hex("file")?;
                let header = match v2::parse_header(&file) {
                    Ok(h) => h.raw,
                    Err(_) => head(&file, 64),
                };
                s.add("v2_header", id, header)?;
                if file.len() <= 2048 {
                    s.add("v2_decrypt", &format!("{id}-raw"), file.clone())?;
                }
            }
            "encrypt" => {
                let input = v2_input(&c, 1024)?;
                // Raw seeds stay small: one of them spans two chunks.
                let mut small = input.clone();
                small.growth = if encrypt_cases.is_empty() { 17 } else { 0 };
                s.add("v2_decrypt", &format!("{id}-fuzz-key-raw"), fuzzing::v2_file(&small))?;
                encrypt_cases.push((c.id.clone(), input));
            }
            _ => {}
        }
    }
    let edits = [
        ("none", Mutation::None),
        ("flip-header", Mutation::FlipBit { pos: 12, bit: 1 }),
        ("edit-header", Mutation::EditHeader { value: 3 }),
        ("swap-chunks", Mutation::Swap { a: 0, b: 1, len: 0 }),
        ("truncate", Mutation::Truncate { keep: 0x4100 }),
        ("flip-body", Mutation::FlipBit { pos: 200, bit: 7 }),
    ];
    for ((id, input), (name, m)) in encrypt_cases.iter().zip(edits.iter().cycle()) {
        s.add("v2_tamper", &format!("{id}-{name}"), fuzzing::v2_structured_seed(*m, input))?;
    }
    if let Some((id, input)) = encrypt_cases.first() {
        let mut holder = input.clone();
        holder.key_holder = true;
        holder.zlib = true;
        holder.compare_encryptors = true;
        s.add("v2_tamper", &format!("{id}-key-holder-zlib"), fuzzing::v2_structured_seed(Mutation::None, &holder))?;
        let mut grown = input.clone();
        grown.growth = 33;
        grown.passkey = true;
        let m = Mutation::Swap { a: 1, b: 2, len: 0 };
        s.add("v2_tamper", &format!("{id}-three-chunks-swap"), fuzzing::v2_structured_seed(m, &grown))?;
    }
    Ok(())
}

fn metadata_seeds(v: &Vectors, s: &mut Seeds) -> Result<(), SeedError> {
    let edits = [Mutation::None, Mutation::FlipBit { pos: 70, bit: 0 }, Mutation::SetByte { pos: 0, value: 1 }];
    let mut edit = edits.iter().cycle();
    for c in v.cases("metadata")? {
        let id = &c.id;
        let blob = match c.op.as_str() {
            "decrypt" => c.text("blob")?.to_owned(),
            "encrypt" => {
                let input = MetadataInput {
                    iv: c.array("iv")?,
                    plaintext: c.text("plaintext")?.as_bytes().to_vec(),
                    key_holder: false,
                };
                let m = edit.next().copied().unwrap_or(Mutation::None);
                s.add("metadata_blob", &format!("{id}-fuzz-key"), fuzzing::metadata_structured_seed(m, &input))?;
                c.text("out.blob")?.to_owned()
            }
            _ => continue,
        };
        s.add("metadata_blob", &format!("{id}-text"), fuzzing::metadata_raw_seed(blob.as_bytes()))?;
        if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(blob.trim()) {
            s.add("metadata_blob", &format!("{id}-bytes"), fuzzing::metadata_raw_seed(&raw))?;
        }
    }
    let holder = MetadataInput { key_holder: true, iv: [9; 16], plaintext: vec![0x10; 32] };
    s.add("metadata_blob", "key-holder-padding", fuzzing::metadata_structured_seed(Mutation::None, &holder))
}

fn vault_seeds(v: &Vectors, s: &mut Seeds) -> Result<(), SeedError> {
    use e2eb_core::vault::wire::{decode_reply, decode_request};
    // Two messages of each kind (request or reply body) from the transcripts.
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for c in v.cases("vault")? {
        for (field, value) in &c.fields {
            let Ok(bytes) = hex::decode(value) else { continue };
            let kind = match (decode_request(&bytes), decode_reply(&bytes)) {
                (Ok(r), _) => format!("request {:?}", r.body).chars().take(24).collect::<String>(),
                (_, Ok(r)) => format!("reply {:?}", r.body).chars().take(22).collect::<String>(),
                _ => continue,
            };
            let seen = kinds.entry(kind).or_default();
            if *seen < 2 && bytes.len() <= 2048 {
                *seen += 1;
                s.add("vault_wire", &format!("{}-{}", c.id, field.replace(['.', '_'], "-")), bytes)?;
            }
        }
    }
    use Claim::{Current, Stale, Zero};
    use LoginEnd::{Abandon, BadKe3, Complete};
    let reg = |key, password, signer, claim| SiteOp::Register { key, password, signer, claim };
    let first = |password| reg(Who::Owner, password, Who::Owner, Zero);
    let login = |password, end| SiteOp::Login { password, end };
    let sequences = [
        ("lockout", 0, vec![first(0), login(1, Complete), login(1, BadKe3), login(0, Complete), login(0, Abandon)]),
        (
            "success-resets",
            1,
            vec![
                first(0),
                login(1, Complete),
                login(0, Complete),
                login(2, Abandon),
                login(1, BadKe3),
                login(0, Complete),
            ],
        ),
        (
            "interleaved",
            2,
            vec![
                first(1),
                SiteOp::Begin { password: 1 },
                SiteOp::Begin { password: 0 },
                SiteOp::Finish { slot: 1, junk: true },
                SiteOp::Replay { slot: 1 },
                SiteOp::Finish { slot: 0, junk: false },
                SiteOp::Replay { slot: 0 },
                SiteOp::Stranger { password: 1 },
            ],
        ),
        (
            "owner-proofs",
            3,
            vec![
                first(0),
                reg(Who::Attacker, 1, Who::Attacker, Current),
                SiteOp::Delete { signer: Who::Attacker, claim: Current },
                reg(Who::Owner, 2, Who::Owner, Current),
                SiteOp::Status { signer: Who::Owner },
                SiteOp::Delete { signer: Who::Owner, claim: Stale },
                SiteOp::Delete { signer: Who::Owner, claim: Current },
                reg(Who::Attacker, 1, Who::Attacker, Zero),
                reg(Who::Owner, 1, Who::Owner, Current),
                login(1, Complete),
            ],
        ),
        (
            "relay-replays-a-password-change",
            1,
            vec![
                first(0),
                reg(Who::Owner, 1, Who::Owner, Current),
                login(2, BadKe3),
                SiteOp::ReplayCaptured { back: 0 },
                login(2, BadKe3),
                SiteOp::ReplayCaptured { back: 1 },
                SiteOp::EditCaptured { back: 0, edit: 9 },
                SiteOp::NoCredential { expired: true },
                login(1, Complete),
            ],
        ),
        (
            "login-across-reregistration",
            1,
            vec![
                first(0),
                SiteOp::Begin { password: 0 },
                reg(Who::Owner, 0, Who::Owner, Current),
                SiteOp::Finish { slot: 0, junk: false },
                login(0, Complete),
            ],
        ),
    ];
    for (name, limit, ops) in sequences {
        s.add("vault_site", name, VaultSiteInput { limit, ops }.encode())?;
    }
    let schedules = [
        (
            "crash-and-restart",
            0,
            vec![
                FleetOp::Login { right: true, end: Complete },
                FleetOp::Crash(0),
                FleetOp::Login { right: false, end: Complete },
                FleetOp::Restart(0),
            ],
        ),
        (
            "partition-and-rollback",
            1,
            vec![
                FleetOp::CopyDisk(2),
                FleetOp::Partition(0b00011),
                FleetOp::Login { right: false, end: BadKe3 },
                FleetOp::Heal,
                FleetOp::Rollback(2),
                FleetOp::Login { right: true, end: Complete },
            ],
        ),
        (
            "relay-replays-registrations",
            0,
            vec![
                FleetOp::Reregister(1),
                FleetOp::Login { right: false, end: BadKe3 },
                FleetOp::ReplayCaptured(1),
                FleetOp::EditCaptured(0x35),
                FleetOp::Login { right: true, end: Complete },
            ],
        ),
    ];
    for (name, limit, ops) in schedules {
        s.add("fleet_schedule", name, FleetInput { limit, ops }.encode())?;
    }
    Ok(())
}

fn aead_seeds(v: &Vectors, s: &mut Seeds) -> Result<(), SeedError> {
    let keys: Vec<[u8; 32]> =
        v.cases("kdf")?.iter().filter_map(|c| hex::decode(c.fields.get("key_text")?).ok()?.try_into().ok()).collect();
    let mut messages = Vec::new();
    for c in v.cases("crypt15")?.iter().filter(|c| c.op == "encrypt") {
        messages.push(c.hex("plaintext")?.into_iter().take(300).collect::<Vec<u8>>());
    }
    for (i, (key, message)) in keys.iter().zip(messages.iter().cycle()).take(4).enumerate() {
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&key[..12]);
        let input = AeadInput {
            key: *key,
            nonce,
            iv_tail: [i as u8; 4],
            aad: if i % 2 == 1 { b"e2eb/v2\x00header".to_vec() } else { Vec::new() },
            flip: (i * 37) as u16,
            splits: [(i * 5) as u16, (i * 70) as u16],
            message: message.clone(),
        };
        s.add("aead_differential", &format!("kdf-key-{i}"), input.encode())?;
    }
    Ok(())
}

fn json_seeds(v: &Vectors, s: &mut Seeds) -> Result<(), SeedError> {
    for family in ["key", "kdf", "metadata"] {
        s.add("vectors_json", family, v.json(family)?.into_bytes())?;
    }
    let json_error = |source| SeedError::Json { family: "crypt15".to_owned(), source };
    let mut file: Value = serde_json::from_str(&v.json("crypt15")?).map_err(json_error)?;
    if let Some(cases) = file.get_mut("cases").and_then(Value::as_array_mut) {
        cases.retain(|c| c.to_string().len() < 1500);
        cases.truncate(3);
    }
    s.add("vectors_json", "crypt15-small", serde_json::to_vec_pretty(&file).map_err(json_error)?)
}

/// Passkey seeds: a complete wrap's metadata and `passkey_data.key` (fixed
/// bytes: no key opens them, the targets check structure), the usual ways
/// they are damaged, and edits of each field of a valid assertion.
fn passkey_seeds(s: &mut Seeds) -> Result<(), SeedError> {
    use e2eb_core::fuzzing::Mutation;
    use e2eb_core::passkey::PasskeyData;
    use prost::Message;
    let data = PasskeyData {
        credential_id: (0..16).collect(),
        encapsulated_root_key: vec![0x5a; 60],
        prf_salt: vec![1; 32],
        server_key_version: 1,
        server_key_server_salt: vec![2; 32],
        server_key_account_salt: vec![3; 32],
    };
    let m = data.to_metadata();
    s.add("passkey_metadata", "complete", m.encode_to_vec())?;
    let partial = e2eb_core::backup::proto::PasskeyMetadata { prf_salt: None, ..m.clone() };
    s.add("passkey_metadata", "no-prf-salt", partial.encode_to_vec())?;
    let short = e2eb_core::backup::proto::PasskeyMetadata { server_key_server_salt: Some(vec![2; 31]), ..m.clone() };
    s.add("passkey_metadata", "short-server-salt", short.encode_to_vec())?;
    let client = e2eb_core::backup::proto::PasskeyMetadata { client_metadata: Some(b"{}".to_vec()), ..m };
    s.add("passkey_metadata", "client-metadata", client.encode_to_vec())?;
    let json = data.to_json();
    s.add("passkey_data_json", "complete", json.clone().into_bytes())?;
    s.add("passkey_data_json", "version-2", json.replacen("\"version\": 1", "\"version\": 2", 1).into_bytes())?;
    s.add("passkey_data_json", "unknown-field", json.replacen('{', "{\"extra\": 0,", 1).into_bytes())?;
    s.add("passkey_data_json", "bad-base64", json.replacen("\"prfSalt\": \"", "\"prfSalt\": \"*", 1).into_bytes())?;
    // The passkey messages on the vault's wire, for vault_wire.
    {
        use e2eb_core::vault::passkeys::wire::{PasskeyChange, PasskeyRegister, PasskeyRelease, PasskeyStart, Purpose};
        use e2eb_core::vault::wire::{OwnerProof, Request, VERSION, request::Body};
        let proof = Some(OwnerProof { expected_version: 1, signature: vec![7; 64] });
        let bodies = [
            ("passkey-start", Body::PasskeyStart(PasskeyStart { purpose: Purpose::Assert as i32 })),
            (
                "passkey-register",
                Body::PasskeyRegister(PasskeyRegister {
                    challenge_id: vec![1; 16],
                    response: b"{}".to_vec(),
                    owner_public_key: vec![2; 32],
                    proof: proof.clone(),
                }),
            ),
            (
                "passkey-release",
                Body::PasskeyRelease(PasskeyRelease {
                    challenge_id: vec![1; 16],
                    response: b"{}".to_vec(),
                    server_key_version: 1,
                    server_salt: vec![3; 32],
                }),
            ),
            (
                "passkey-change",
                Body::PasskeyChange(PasskeyChange {
                    credential_id: vec![4; 16],
                    wrap: json.clone().into_bytes(),
                    proof,
                }),
            ),
        ];
        for (name, body) in bodies {
            let req =
                Request { version: VERSION, account: b"account:alice".to_vec(), credential: None, body: Some(body) };
            s.add("vault_wire", name, req.encode_to_vec())?;
        }
    }
    let skeleton = br#"{"id":"AAECAw","rawId":"AAECAw","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AAAA","signature":"MEUCIQ","userHandle":null},"clientExtensionResults":{}}"#;
    s.add("webauthn_assertion", "raw-skeleton", [&[0u8][..], &skeleton[..]].concat())?;
    for (field, name) in ["client-data", "authenticator-data", "signature", "user-handle", "json"].iter().enumerate() {
        let field = field as u8;
        s.add(
            "webauthn_assertion",
            &format!("{name}-unchanged"),
            fuzzing::webauthn_assertion_seed(field, Mutation::None),
        )?;
        let flip = Mutation::FlipBit { pos: 40, bit: 1 };
        s.add("webauthn_assertion", &format!("{name}-flip"), fuzzing::webauthn_assertion_seed(field, flip))?;
    }
    Ok(())
}

/// Store manifest seeds: manifests as the store writes them (every format,
/// with and without a key id and encryption), and the edits the decoder
/// must refuse (encryption on over a plain backup, an extension that is not
/// the format, an unknown field, another schema).
fn store_seeds(s: &mut Seeds) -> Result<(), SeedError> {
    let seeds = fuzzing::store_manifest_seeds();
    for (name, data) in &seeds {
        s.add("store_manifest", name, data.clone())?;
    }
    let edit = |name: &str, from: &str, to: &str| -> Option<Vec<u8>> {
        let (_, data) = seeds.iter().find(|(n, _)| *n == name)?;
        Some(String::from_utf8_lossy(data).replacen(from, to, 1).into_bytes())
    };
    let edits = [
        ("plain-e2ee", edit("plain", "\"e2ee\": false", "\"e2ee\": true")),
        ("wrong-extension", edit("v2-e2ee", ".v2\"", ".crypt15\"")),
        ("unknown-field", edit("v2-e2ee", "{", "{\"extra\": 0,")),
        ("schema-2", edit("v2-e2ee", "\"schema\": 1", "\"schema\": 2")),
    ];
    for (name, data) in edits {
        if let Some(data) = data {
            s.add("store_manifest", name, data)?;
        }
    }
    Ok(())
}
