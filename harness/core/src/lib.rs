//! # e2eb-core
//!
//! The reference implementation of end-to-end encrypted chat backups that the
//! e2eb harness audits (`DESIGN.md` §1–§4). It is deliberately small: no CLI,
//! no terminal output, no global state. Every operation that takes outside
//! input returns a typed, `#[non_exhaustive]` error that says what is wrong.
//!
//! - [`key`]: the 256-bit backup key K, its 64-digit form and the Android key file (§3);
//! - [`kdf`]: the HKDF-SHA256 key hierarchy derived from K (§3);
//! - [`backup::crypt15`]: the deployed crypt15 format, streaming (§4.1);
//! - [`backup::v2`]: our hardened v2 format over Cobblestone-256 (§4.2);
//! - [`backup::metadata`]: the encrypted metadata blob (§4.3);
//! - [`cobblestone`]: the C2SP chunked-encryption body layer used by v2;
//! - [`vault`]: the Backup Key Vault — OPAQUE client and site, account state
//!   machine, wire messages and durable site storage (§5).
//!
//! Secrets ([`key::BackupKey`], [`kdf::SubKey`]) are zeroized on drop, print as
//! `<redacted>` in `Debug`, and compare in constant time.
#![deny(missing_docs)]
#![cfg_attr(not(test), forbid(unsafe_code))]

pub mod backup;
pub mod cobblestone;
pub mod fuzzing;
pub mod gcm_stream;
pub mod io_util;
pub mod kdf;
pub mod key;
pub mod proto;
pub mod rng;
pub mod vault;

pub use key::BackupKey;
