//! The vault's side of passkey-protected keys (design §6): the relying
//! party's challenges and checks, the account's registered credentials, the
//! versioned server keys, and the release of the server part.
//!
//! - [`state`]: the replicated records and what the commands do to them;
//! - [`site`]: the request handlers on the serving site.

pub mod site;
pub mod state;
pub mod wire;
