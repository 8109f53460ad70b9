//! # e2eb-core
//!
//! The reference implementation of end-to-end encrypted chat backups that the
//! e2eb harness audits (design §1–§5, `docs/design.md`). It is deliberately
//! small: no CLI, no terminal output, no global state. Every operation that
//! takes outside input returns a typed, `#[non_exhaustive]` error that says
//! what is wrong.
//!
//! - [`key`]: the 256-bit backup key K, its 64-digit form and the Android key file (§3);
//! - [`kdf`]: the HKDF-SHA256 key hierarchy derived from K (§3);
//! - [`backup`]: the formats — [`backup::crypt15`] (§4.1), [`backup::v2`]
//!   (§4.2), [`backup::metadata`] (§4.3) — format detection and key-less
//!   inspection;
//! - [`cobblestone`]: the C2SP chunked-encryption body layer used by v2;
//! - [`gcm_stream`]: streaming AES-256-GCM with crypt15's 16-byte IV;
//! - [`store`]: the backup store — rotation, tiers, collection — over
//!   `object_store` (§7);
//! - [`vault`]: the Backup Key Vault — OPAQUE client and site, account state
//!   machine, wire messages, durable site storage and the replicated fleet (§5).
//!
//! Secrets ([`key::BackupKey`], [`kdf::SubKey`]) are zeroized on drop, print as
//! `<redacted>` in `Debug`, and compare in constant time.
//!
//! `fuzzing` (the fuzz targets' entry points) and `vault::model` (the
//! reference model the targets and properties compare with) are public for
//! the harness but hidden from these docs, as test hooks.
#![deny(missing_docs)]
#![cfg_attr(not(test), forbid(unsafe_code))]

pub mod backup;
pub mod cobblestone;
#[doc(hidden)]
pub mod fuzzing;
pub mod gcm_stream;
pub(crate) mod io_util;
pub mod kdf;
pub mod key;
pub mod passkey;
pub(crate) mod rng;
pub mod store;
pub mod vault;

pub use backup::{Format, detect, inspect};
pub use key::BackupKey;
pub use rng::RngError;
