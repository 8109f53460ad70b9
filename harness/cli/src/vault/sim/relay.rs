//! The relay of design §5.1: everything between phone and fleet passes
//! through it. It records every message an honest client sends, and the
//! schedules have it replay, edit or reorder them at seeded times.

use e2eb_core::vault::fleet::SimRng;
use e2eb_core::vault::wire::{self, Credential, Request, request};
use prost::Message;

/// One client message as the relay recorded it.
#[derive(Debug, Clone)]
pub(super) struct Recorded {
    /// The step in which the honest client sent it.
    pub(super) step: u32,
    /// The request, as it crossed the link.
    pub(super) request: Request,
}

impl Recorded {
    /// A short name of the message's kind, for the schedule.
    pub(super) fn kind(&self) -> &'static str {
        kind(&self.request)
    }
}

/// The name of a request's kind.
pub(super) fn kind(r: &Request) -> &'static str {
    match &r.body {
        Some(request::Body::RegisterStart(_)) => "RegisterStart",
        Some(request::Body::RegisterFinish(_)) => "RegisterFinish",
        Some(request::Body::LoginStart(_)) => "LoginStart",
        Some(request::Body::LoginFinish(_)) => "LoginFinish",
        Some(request::Body::Delete(_)) => "Delete",
        Some(request::Body::Status(_)) => "Status",
        Some(request::Body::PasskeyStart(_)) => "PasskeyStart",
        Some(request::Body::PasskeyRegister(_)) => "PasskeyRegister",
        Some(request::Body::PasskeyRelease(_)) => "PasskeyRelease",
        Some(request::Body::PasskeyChange(_)) => "PasskeyChange",
        None => "empty",
    }
}

/// What the relay has recorded so far.
#[derive(Debug, Default)]
pub(super) struct Relay {
    log: Vec<Recorded>,
}

impl Relay {
    /// Records a message an honest client sent in `step`.
    pub(super) fn record(&mut self, step: u32, request: &Request) {
        self.log.push(Recorded { step, request: request.clone() });
    }

    /// A recorded message chosen by the seed.
    pub(super) fn pick(&self, rng: &mut SimRng) -> Option<Recorded> {
        if self.log.is_empty() {
            return None;
        }
        self.log.get(rng.below(self.log.len() as u64) as usize).cloned()
    }

    /// The most recent recorded message of kind `kind` for `account`.
    pub(super) fn last_of(&self, account: &[u8], kind_name: &str) -> Option<Recorded> {
        self.log.iter().rev().find(|r| r.request.account == account && kind(&r.request) == kind_name).cloned()
    }

    /// The newest account credential the relay has seen for `account`
    /// (what it attaches to the requests it makes itself).
    pub(super) fn credential_for(&self, account: &[u8]) -> Option<Credential> {
        self.log.iter().rev().filter(|r| r.request.account == account).find_map(|r| r.request.credential.clone())
    }

    /// The last two messages recorded, oldest first (for a reordering).
    pub(super) fn last_two(&self) -> Option<(Recorded, Recorded)> {
        match self.log.as_slice() {
            [.., a, b] => Some((a.clone(), b.clone())),
            _ => None,
        }
    }
}

/// `request` with one bit flipped at a seeded position of its encoding, when
/// the result still decodes as a request (the relay edits what it can pass
/// off as a message); `None` when the edit does not decode.
pub(super) fn edit(rng: &mut SimRng, request: &Request) -> Option<(Request, String)> {
    let mut bytes = request.encode_to_vec();
    if bytes.is_empty() {
        return None;
    }
    let at = rng.below(bytes.len() as u64) as usize;
    let bit = rng.below(8) as u8;
    bytes[at] ^= 1 << bit;
    let edited = wire::decode_request(&bytes).ok()?;
    (edited != *request).then(|| (edited, format!("bit {bit} of byte {at}")))
}
