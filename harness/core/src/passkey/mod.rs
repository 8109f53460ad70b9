//! Passkey-protected backup keys (design §6) — **our model** of the design
//! WhatsApp shipped in 2025, whose exact derivation is not public.
//!
//! A passkey (a device credential unlocked by fingerprint, face or screen
//! lock) protects K together with the vault: K is encapsulated under a key
//! derived from the passkey's WebAuthn PRF output *and* a server part that
//! the vault computes from a versioned server key, and releases only after
//! a fresh valid assertion. Neither half alone opens K.
//!
//! - [`prf`]: the PRF salt and output, as WebAuthn Level 3 defines them;
//! - [`wrap`]: the server part, the wrap key and the encapsulation;
//! - [`data`]: `passkey_data.key` (JSON, public field names) and the header
//!   metadata (crypt15 prefix field 5, the v2 header);
//! - [`authenticator`]: the phone's software authenticator and WebAuthn
//!   client (passkey-rs), with a directory of passkeys that can be synced;
//! - [`relying_party`]: the vault's WebAuthn checks (webauthn-rs-core).
//!
//! The vault's side (credentials in the account's record, server keys, the
//! release of the server part) is in `vault::passkeys`; the device's flows
//! (enable, restore, add, remove, rotate) are in [`flows`].

pub mod authenticator;
pub mod data;
pub mod flows;
pub mod prf;
pub mod relying_party;
pub mod wrap;

pub use authenticator::{AuthenticatorError, PasskeyDir};
pub use data::{DataError, PasskeyData};
pub use relying_party::{RelyingParty, RpError};
pub use wrap::{PrfOutput, ServerKey, ServerPart, UnwrapError};
