//! The harness side of `e2eb store` (design §7): what the store commands do
//! besides parsing their arguments, over the backup store of
//! [`e2eb_core::store`].
//!
//! - [`open`]: what every store command shares — the store a command line
//!   names (HOME/store by default, a directory, `s3://BUCKET/PREFIX`),
//!   its quotas, the format of a backup file from its bytes, and
//!   [`StoreRunError`], the one error type of the store commands;
//! - [`demo`]: `e2eb store demo`, the whole life of an account's backups on
//!   a local store, each step checked;
//! - [`confirm`]: the user's confirmation that a new key was kept;
//! - [`e2ee`]: turning end-to-end encryption on and off;
//! - [`migrate`]: re-encrypting an unencrypted or crypt14 backup into the
//!   current format without a plaintext copy on disk.

pub mod confirm;
pub mod demo;
pub mod e2ee;
pub mod migrate;
pub mod open;

pub use demo::{DemoSummary, run_demo};
pub use open::{
    DEFAULT_STORE_DIR, StoreRunError, detect_format, detect_format_bytes, location, open_store, open_store_with,
    parse_quotas,
};
