//! The vault's request handler on the serving site (design §5).
//!
//! Order of operations is the security argument:
//! - **KE1**: the site commits a `Charge` through its [`Ledger`] (durably, on
//!   a majority in a fleet) and only then computes and returns KE2. A crash,
//!   a lost reply or an abandoned login leaves the attempt charged.
//! - **KE3**: a valid KE3 commits `Success` (reset) and releases the wrapped
//!   K sealed under a key derived from the session key; an invalid one
//!   commits `Failure`, which erases the record when nothing is left.
//! - **Unknown accounts** get a KE2 from opaque-ke's dummy record, after the
//!   same durable commit (a charge on nothing), so they cost the same time.
//! - **Owner token**: replacing or deleting a record needs the token whose
//!   SHA-256 was stored at registration, compared in constant time; the
//!   command carries the version the check saw, so a race cannot slip past.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use thiserror::Error;

use opaque_ke::{
    CredentialFinalization, CredentialRequest, Identifiers, RegistrationRequest, RegistrationUpload, ServerLogin,
    ServerLoginParameters, ServerRegistration, ServerSetup,
};
use rand_core::{CryptoRngCore, OsRng};
use subtle::ConstantTimeEq;

use super::keys::{NONCE_LEN, owner_hash, release_key, seal_with_nonce};
use super::state::{AccountRecord, Command, Outcome, Register, command, command::Op};
use super::storage::StorageError;
use super::wire::{self, ErrorCode, Ke2Reply, Reply, Request, reply, request};
use super::{CONTEXT, DEFAULT_ATTEMPT_LIMIT, KsfProfile, SERVER_ID, Suite, lock};

/// Logins awaiting KE3 that a site remembers; older ones are dropped
/// (their attempts stay charged).
pub const MAX_PENDING_LOGINS: usize = 65_536;

/// Why a [`Ledger`] could not commit a command (or confirm a read). The
/// change may or may not be committed; the site answers `Unavailable`.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum CommitError {
    /// No majority confirmed the commit within the fleet's timeout.
    #[error("not committed within {0:?} (no majority?)")]
    Timeout(std::time::Duration),
    /// No majority confirmed this site's leadership for a read.
    #[error("no majority to confirm leadership")]
    NoMajority,
    /// The site stopped before the commit was answered.
    #[error("not committed: the site stopped")]
    Stopped,
    /// The consensus layer refused the entry (leadership lost, Raft stopped).
    #[error("not committed: {0}")]
    Refused(#[source] Arc<dyn std::error::Error + Send + Sync>),
    /// The committed entry gave no outcome for this command.
    #[error("no outcome for the command")]
    NoOutcome,
    /// A single site's durable store failed.
    #[error("not committed: {0}")]
    Storage(#[source] Arc<StorageError>),
}

/// Where a site commits changes: a single durable store, or the fleet's log.
pub trait Ledger {
    /// The committed record of `account`.
    fn record(&self, account: &[u8]) -> Option<AccountRecord>;
    /// Commits `cmd` durably (on a majority, for a fleet) and returns what
    /// applying it did. An error means the change may not be committed.
    fn commit(&mut self, cmd: Command) -> Result<Outcome, CommitError>;
    /// Makes what [`Ledger::record`] reads next current (linearizable): for
    /// a fleet, a read barrier confirming leadership with a majority. The
    /// site calls it before an answer that rests on a read alone, with no
    /// commit after it. A single store is always current.
    fn fresh(&mut self) -> Result<(), CommitError> {
        Ok(())
    }
}

struct Pending {
    account: Vec<u8>,
    /// `None` for a dummy login (unknown account).
    version: Option<u64>,
    login: ServerLogin<Suite>,
}

/// Logins awaiting KE3, in arrival order.
#[derive(Default)]
struct Logins {
    pending: BTreeMap<u64, Pending>,
    order: VecDeque<u64>,
    next_login: u64,
}

/// The vault handler of one site. [`Site::serve`] takes `&self`, so one site
/// can serve many requests at once (a fleet's leader does); the logins it
/// remembers and a replaced RNG sit behind locks held only briefly.
pub struct Site {
    setup: ServerSetup<Suite>,
    limit: u32,
    default_profile: KsfProfile,
    logins: Mutex<Logins>,
    /// `None`: the OS RNG, used without a lock.
    rng: Option<Mutex<Box<dyn CryptoRngCore + Send>>>,
}

impl core::fmt::Debug for Site {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Site")
            .field("limit", &self.limit)
            .field("pending", &lock(&self.logins).pending.len())
            .finish_non_exhaustive()
    }
}

fn server_params() -> ServerLoginParameters<'static, 'static> {
    ServerLoginParameters { context: Some(CONTEXT), identifiers: Identifiers { client: None, server: Some(SERVER_ID) } }
}

impl Site {
    /// A site with the fleet's OPAQUE keys and an attempt limit.
    pub fn new(setup: ServerSetup<Suite>, limit: u32) -> Self {
        let logins = Logins { next_login: rand_core::RngCore::next_u64(&mut OsRng) >> 16, ..Logins::default() };
        Self { setup, limit, default_profile: KsfProfile::Moderate, logins: Mutex::new(logins), rng: None }
    }

    /// Replaces the OS RNG (for reproducible transcripts and simulations only).
    pub fn with_rng(mut self, mut rng: Box<dyn CryptoRngCore + Send>) -> Self {
        lock(&self.logins).next_login = rng.next_u64() >> 16;
        self.rng = Some(Mutex::new(rng));
        self
    }

    /// Runs `f` with the site's RNG: the OS RNG without any lock, or the
    /// replaced one under its lock (draws stay in order).
    fn with_site_rng<T>(&self, f: impl FnOnce(&mut dyn CryptoRngCore) -> T) -> T {
        match &self.rng {
            Some(rng) => f(&mut **lock(rng)),
            None => f(&mut OsRng),
        }
    }

    /// Sets the KSF profile shown to unknown accounts (the fleet's usual one),
    /// so that dummy replies look like real ones.
    pub fn with_default_profile(mut self, profile: KsfProfile) -> Self {
        self.default_profile = profile;
        self
    }

    /// A site with the default limit.
    pub fn with_default_limit(setup: ServerSetup<Suite>) -> Self {
        Self::new(setup, DEFAULT_ATTEMPT_LIMIT)
    }

    /// The fleet's OPAQUE public key (what clients pin).
    pub fn public_key(&self) -> Vec<u8> {
        self.setup.keypair().public().serialize().to_vec()
    }

    /// Handles an encoded request and returns the encoded reply.
    pub fn handle_bytes(&mut self, ledger: &mut dyn Ledger, bytes: &[u8]) -> Vec<u8> {
        self.serve_bytes(ledger, bytes)
    }

    /// [`Site::handle_bytes`] through a shared reference.
    pub fn serve_bytes(&self, ledger: &mut dyn Ledger, bytes: &[u8]) -> Vec<u8> {
        use prost::Message;
        let reply = match wire::decode_request(bytes) {
            Ok(req) => self.serve(ledger, req),
            Err(e) => wire::error(ErrorCode::BadRequest, &e.to_string()),
        };
        reply.encode_to_vec()
    }

    /// Handles a decoded request.
    pub fn handle(&mut self, ledger: &mut dyn Ledger, req: Request) -> Reply {
        self.serve(ledger, req)
    }

    /// Handles a decoded request through a shared reference: several
    /// requests may be served at once, each with its own ledger handle.
    pub fn serve(&self, ledger: &mut dyn Ledger, req: Request) -> Reply {
        let account = req.account;
        match req.body {
            Some(request::Body::RegisterStart(m)) => self.register_start(&account, &m.registration_request),
            Some(request::Body::RegisterFinish(m)) => self.register_finish(ledger, &account, m),
            Some(request::Body::LoginStart(m)) => self.login_start(ledger, &account, &m.ke1),
            Some(request::Body::LoginFinish(m)) => self.login_finish(ledger, &account, m.login_id, &m.ke3),
            Some(request::Body::Delete(m)) => self.delete(ledger, &account, &m.owner_token),
            None => wire::error(ErrorCode::BadRequest, "no body"),
        }
    }

    fn register_start(&self, account: &[u8], msg: &[u8]) -> Reply {
        let Ok(req) = RegistrationRequest::<Suite>::deserialize(msg) else {
            return wire::error(ErrorCode::BadRequest, "RegistrationRequest does not decode");
        };
        match ServerRegistration::<Suite>::start(&self.setup, req, account) {
            Ok(r) => reply(reply::Body::RegistrationResponse(r.message.serialize().to_vec())),
            Err(_) => wire::error(ErrorCode::BadRequest, "RegistrationRequest rejected"),
        }
    }

    fn owner_ok(record: &AccountRecord, token: Option<&[u8]>) -> bool {
        token.is_some_and(|t| bool::from(owner_hash(t).ct_eq(record.owner_hash.as_slice())))
    }

    fn register_finish(&self, ledger: &mut dyn Ledger, account: &[u8], m: wire::RegisterFinish) -> Reply {
        if RegistrationUpload::<Suite>::deserialize(&m.registration_upload).is_err() {
            return wire::error(ErrorCode::BadRequest, "RegistrationUpload does not decode");
        }
        if m.owner_token_hash.len() != 32 || m.wrapped_key.len() != 12 + 32 + 16 {
            return wire::error(ErrorCode::BadRequest, "owner token hash or wrapped key has the wrong length");
        }
        // The owner check may refuse without committing: read current state.
        if let Err(e) = ledger.fresh() {
            return wire::error(ErrorCode::Unavailable, &e.to_string());
        }
        let current = ledger.record(account);
        if let Some(rec) = current.as_ref().filter(|r| r.exists())
            && !Self::owner_ok(rec, m.owner_token.as_deref())
        {
            return wire::error(ErrorCode::OwnerTokenRequired, "a record exists: the owner token is required");
        }
        let cmd = command(
            account,
            Op::Register(Register {
                opaque_record: m.registration_upload,
                wrapped_key: m.wrapped_key,
                owner_hash: m.owner_token_hash,
                ksf_profile: m.ksf_profile,
                limit: self.limit,
                expected_version: current.map(|r| r.version),
            }),
        );
        match ledger.commit(cmd) {
            Ok(Outcome::Registered { version }) => reply(reply::Body::Registered(version)),
            Ok(Outcome::Conflict) => wire::error(ErrorCode::Conflict, "the record changed meanwhile; retry"),
            Ok(other) => wire::error(ErrorCode::Unspecified, &format!("unexpected outcome {other:?}")),
            Err(e) => wire::error(ErrorCode::Unavailable, &e.to_string()),
        }
    }

    fn remember(&self, pending: Pending) -> u64 {
        let mut l = lock(&self.logins);
        l.next_login = l.next_login.wrapping_add(1);
        let id = l.next_login;
        l.pending.insert(id, pending);
        l.order.push_back(id);
        while l.order.len() > MAX_PENDING_LOGINS {
            if let Some(old) = l.order.pop_front() {
                l.pending.remove(&old);
            }
        }
        id
    }

    fn login_start(&self, ledger: &mut dyn Ledger, account: &[u8], ke1: &[u8]) -> Reply {
        let Ok(request) = CredentialRequest::<Suite>::deserialize(ke1) else {
            return wire::error(ErrorCode::BadRequest, "KE1 does not decode");
        };
        // "Locked" is answered from a read alone: make sure it is current
        // (a lagging replica might still show a record deleted since).
        if ledger.record(account).is_some_and(|r| r.locked) {
            if let Err(e) = ledger.fresh() {
                return wire::error(ErrorCode::Unavailable, &e.to_string());
            }
            if ledger.record(account).is_some_and(|r| r.locked) {
                return reply(reply::Body::Locked(true));
            }
        }
        // Charge first, durably: no KE2 leaves before the attempt is counted.
        let outcome = match ledger.commit(command(account, Op::Charge(true))) {
            Ok(o) => o,
            Err(e) => return wire::error(ErrorCode::Unavailable, &e.to_string()),
        };
        let (record, version, profile) = match (outcome, ledger.record(account)) {
            (Outcome::Locked, _) => return reply(reply::Body::Locked(true)),
            (Outcome::Charged { version, .. }, Some(rec)) => {
                // Served concurrently, a later change (a re-registration) may
                // already be applied: never answer from a record this charge
                // was not counted against.
                if rec.version != version || !rec.exists() || rec.locked {
                    return wire::error(ErrorCode::Conflict, "the record changed during the login; retry");
                }
                let Ok(file) = ServerRegistration::<Suite>::deserialize(&rec.opaque_record) else {
                    return wire::error(ErrorCode::Unspecified, "stored record does not decode");
                };
                let profile = KsfProfile::from_code(rec.ksf_profile).unwrap_or(self.default_profile);
                (Some(file), Some(version), profile)
            }
            (Outcome::NoRecord, _) => (None, None, self.default_profile),
            (other, _) => return wire::error(ErrorCode::Conflict, &format!("unexpected outcome {other:?}")),
        };
        let started = self.with_site_rng(|mut rng| {
            ServerLogin::start(&mut rng, &self.setup, record, request, account, server_params())
        });
        let Ok(started) = started else {
            return wire::error(ErrorCode::BadRequest, "KE1 rejected");
        };
        let ke2 = started.message.serialize().to_vec();
        let login_id = self.remember(Pending { account: account.to_vec(), version, login: started.state });
        reply(reply::Body::Ke2(Ke2Reply { login_id, ke2, ksf_profile: profile.code() }))
    }

    fn login_finish(&self, ledger: &mut dyn Ledger, account: &[u8], login_id: u64, ke3: &[u8]) -> Reply {
        let pending = {
            let mut l = lock(&self.logins);
            match l.pending.get(&login_id) {
                Some(p) if p.account == account => l.pending.remove(&login_id),
                _ => None,
            }
        };
        let Some(pending) = pending else {
            // Answered from this site's memory alone: first make sure it is
            // still the one serving (a deposed leader must not turn a login
            // in progress at the new leader away).
            if let Err(e) = ledger.fresh() {
                return wire::error(ErrorCode::Unavailable, &e.to_string());
            }
            return wire::error(ErrorCode::UnknownLogin, "unknown login id (expired or served by another site)");
        };
        let Ok(fin) = CredentialFinalization::<Suite>::deserialize(ke3) else {
            // A malformed KE3 is a failed verification: the attempt stays charged.
            return self.fail(ledger, account);
        };
        let (Some(version), Ok(done)) = (pending.version, pending.login.finish(fin, server_params())) else {
            return self.fail(ledger, account);
        };
        let committed = ledger.commit(command(account, Op::Success(version)));
        match (committed, ledger.record(account)) {
            (Ok(Outcome::Reset { .. }), Some(rec)) => {
                let key = release_key(&done.session_key);
                let mut nonce = [0u8; NONCE_LEN];
                self.with_site_rng(|rng| rng.fill_bytes(&mut nonce));
                match seal_with_nonce(&nonce, key.expose_secret(), account, &rec.wrapped_key) {
                    Ok(sealed) => reply(reply::Body::Released(sealed)),
                    Err(_) => wire::error(ErrorCode::Unspecified, "sealing failed"),
                }
            }
            (Ok(Outcome::Locked), _) => reply(reply::Body::Locked(true)),
            (Ok(_), _) => wire::error(ErrorCode::Conflict, "the record changed during the login; retry"),
            (Err(e), _) => wire::error(ErrorCode::Unavailable, &e.to_string()),
        }
    }

    fn fail(&self, ledger: &mut dyn Ledger, account: &[u8]) -> Reply {
        match ledger.commit(command(account, Op::Failure(true))) {
            Ok(Outcome::Locked) => reply(reply::Body::Locked(true)),
            Ok(_) => reply(reply::Body::LoginFailed(true)),
            Err(e) => wire::error(ErrorCode::Unavailable, &e.to_string()),
        }
    }

    fn delete(&self, ledger: &mut dyn Ledger, account: &[u8], token: &[u8]) -> Reply {
        // "No record" and "wrong token" are answered from a read alone.
        if let Err(e) = ledger.fresh() {
            return wire::error(ErrorCode::Unavailable, &e.to_string());
        }
        let Some(rec) = ledger.record(account).filter(|r| r.exists()) else {
            return wire::error(ErrorCode::NoRecord, "no record for this account");
        };
        if !Self::owner_ok(&rec, Some(token)) {
            return wire::error(ErrorCode::OwnerTokenRequired, "the owner token is wrong");
        }
        match ledger.commit(command(account, Op::Delete(rec.version))) {
            Ok(Outcome::Deleted) => reply(reply::Body::Deleted(true)),
            Ok(Outcome::Conflict) => wire::error(ErrorCode::Conflict, "the record changed meanwhile; retry"),
            Ok(other) => wire::error(ErrorCode::Unspecified, &format!("unexpected outcome {other:?}")),
            Err(e) => wire::error(ErrorCode::Unavailable, &e.to_string()),
        }
    }
}

/// A [`Ledger`] over one durable site (redb): each commit is fsynced before
/// it returns. The single-site vault, and the reference the fleet is tested against.
impl Ledger for super::storage::DurableSite {
    fn record(&self, account: &[u8]) -> Option<AccountRecord> {
        super::storage::DurableSite::record(self, account).cloned()
    }
    fn commit(&mut self, cmd: Command) -> Result<Outcome, CommitError> {
        self.apply_next(&cmd).map_err(|e| CommitError::Storage(Arc::new(e)))
    }
}

/// An in-memory [`Ledger`] (tests, models, simulations).
#[derive(Debug, Default, Clone)]
pub struct MemoryLedger {
    /// Records.
    pub accounts: BTreeMap<Vec<u8>, AccountRecord>,
    /// Every command committed, in order.
    pub log: Vec<Command>,
}

impl Ledger for MemoryLedger {
    fn record(&self, account: &[u8]) -> Option<AccountRecord> {
        self.accounts.get(account).cloned()
    }
    fn commit(&mut self, cmd: Command) -> Result<Outcome, CommitError> {
        let mut rec = self.accounts.get(&cmd.account).cloned();
        let outcome = super::state::apply(&mut rec, &cmd);
        match rec {
            Some(r) => self.accounts.insert(cmd.account.clone(), r),
            None => self.accounts.remove(&cmd.account),
        };
        self.log.push(cmd);
        Ok(outcome)
    }
}
