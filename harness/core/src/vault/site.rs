//! The vault's request handler on the serving site (design §5, §5.1).
//!
//! Order of operations is the security argument:
//! - **Credential first**: a request without a valid account credential is
//!   answered `Unauthenticated` before anything else; nothing is read,
//!   charged or changed.
//! - **KE1**: the site commits a `Charge` keyed by the credential request
//!   through its [`Ledger`] (durably, on a majority in a fleet) and only
//!   then computes and returns KE2. The same request again (a retry, a
//!   duplicate) gets a fresh KE2 without a second charge; a crash, a lost
//!   reply or an abandoned login leaves the attempt charged.
//! - **KE2** is signed with the fleet's key over the exchange and the KSF
//!   profile, so a relay cannot change the profile unseen; its login id is
//!   16 random bytes.
//! - **KE3**: a valid KE3 commits `Success` (reset) and releases the wrapped
//!   K sealed under a key derived from the session key; an invalid one
//!   commits `Failure`, which erases the record when nothing is left. A
//!   failed KE3 does not end the login it names (a stranger's junk cannot
//!   cancel another client's login), up to [`MAX_KE3_FAILURES`].
//! - **Strangers learn nothing**: an unknown, a registered, an erased and a
//!   deleted account get answers of the same kind and size from the same
//!   code path — a dummy KE2 from opaque-ke after the same durable commit,
//!   `LoginFailed` for any KE3 that does not verify, `OwnerProofRefused` for
//!   any owner operation without a valid proof.
//! - **Owner proofs**: registering over a record or a tombstone, deleting,
//!   and reading the status need the owner key's signature over the fleet,
//!   the account, the operation, the version and the new content's hash;
//!   a replayed proof names an old version (`StaleVersion`), an edited
//!   message no longer verifies. A first registration is signed by the new
//!   owner key at version 0, which a tombstone makes impossible to replay.
//! - **Secrets at rest**: the OPAQUE record and the wrapped K are sealed
//!   under a fresh record key before they enter a command
//!   ([`keys::seal_record`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use opaque_ke::{
    CredentialFinalization, CredentialRequest, Identifiers, RegistrationRequest, RegistrationUpload, ServerLogin,
    ServerLoginParameters, ServerRegistration, ServerSetup,
};
use rand_core::{CryptoRngCore, OsRng};
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

use super::credential::{Clock, CredentialVerifier};
use super::keys::{
    self, FleetKey, FleetSecrets, NONCE_LEN, OwnerOp, SealedRecord, content_hash, owner_message, register_content_hash,
    release_key, seal_with_nonce, verify_signature,
};
use super::state::{self, AccountRecord, Command, MAX_ATTEMPT_LIMIT, Outcome, Register, command, command::Op};
use super::storage::StorageError;
use super::wire::{self, ErrorCode, Ke2Reply, LOGIN_ID_LEN, OwnerProof, RecordStatus, Reply, Request, reply, request};
use super::{CONTEXT, DEFAULT_ATTEMPT_LIMIT, KsfProfile, SERVER_ID, Suite, lock};

/// Logins awaiting KE3 that a site remembers; older ones are dropped
/// (their attempts stay charged).
pub const MAX_PENDING_LOGINS: usize = 65_536;
/// Logins of one account a site keeps awaiting KE3; a further KE1 makes it
/// forget that account's oldest (its attempt stays charged), so requests for
/// one account cannot fill a site's memory. A client that finds its
/// password wrong never sends KE3, so these are mostly abandoned logins.
pub const MAX_PENDING_PER_ACCOUNT: usize = 16;
/// Seconds a login awaits its KE3 before the site forgets it (its attempt
/// stays charged); forgotten logins no longer count against the account.
pub const LOGIN_TTL_SECS: u64 = 300;
/// KE3s that fail verification before the login they name is dropped.
pub const MAX_KE3_FAILURES: u32 = 3;

/// The detail of every owner-proof refusal: the same words whether the
/// account is unknown, registered, erased or deleted.
const OWNER_PROOF_REFUSED: &str = "owner proof refused";

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

/// How a site is run.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    /// Password verifications allowed between two resets (at most
    /// [`MAX_ATTEMPT_LIMIT`]).
    pub limit: u32,
    /// The KSF profile shown for accounts without a live record (the
    /// fleet's usual one, so that dummy replies look like real ones).
    pub default_profile: KsfProfile,
    /// Accept the `test` KSF profile at registration (tests and simulations only).
    pub test_mode: bool,
    /// The chat service's key, which signs account credentials.
    pub credentials: CredentialVerifier,
    /// The clock credentials are checked against.
    pub clock: Clock,
}

impl SiteConfig {
    /// The default limit and profile, not in test mode, the system clock.
    pub fn new(credentials: CredentialVerifier) -> Self {
        Self {
            limit: DEFAULT_ATTEMPT_LIMIT,
            default_profile: KsfProfile::Moderate,
            test_mode: false,
            credentials,
            clock: Clock::system(),
        }
    }

    /// Test mode: the `test` profile is accepted and shown for unknown accounts.
    pub fn for_tests(credentials: CredentialVerifier) -> Self {
        Self { default_profile: KsfProfile::Test, test_mode: true, ..Self::new(credentials) }
    }

    /// With this attempt limit (capped at [`MAX_ATTEMPT_LIMIT`]).
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = limit.min(MAX_ATTEMPT_LIMIT);
        self
    }

    /// With this clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}

pub(super) struct Pending {
    account: Vec<u8>,
    /// `None` for a dummy login (no live record).
    version: Option<u64>,
    login: ServerLogin<Suite>,
    failures: u32,
    /// When it began, by the site's clock.
    started: u64,
}

/// What the login table needs to know of a pending login.
pub(super) trait Began {
    fn account(&self) -> &[u8];
    /// When it began, by the site's clock.
    fn started(&self) -> u64;
}

impl Began for Pending {
    fn account(&self) -> &[u8] {
        &self.account
    }

    fn started(&self) -> u64 {
        self.started
    }
}

/// Logins awaiting KE3: by id, and each account's in the order they began.
pub(super) struct Logins<P = Pending> {
    pending: HashMap<[u8; LOGIN_ID_LEN], P>,
    per_account: HashMap<Vec<u8>, VecDeque<[u8; LOGIN_ID_LEN]>>,
    /// Every id in the order it began; ids of finished logins linger until
    /// they outnumber the pending ones, then are dropped in one pass.
    order: VecDeque<[u8; LOGIN_ID_LEN]>,
}

impl<P> Default for Logins<P> {
    fn default() -> Self {
        Self { pending: HashMap::new(), per_account: HashMap::new(), order: VecDeque::new() }
    }
}

impl<P: Began> Logins<P> {
    pub(super) fn insert(&mut self, id: [u8; LOGIN_ID_LEN], p: P) {
        self.per_account.entry(p.account().to_vec()).or_default().push_back(id);
        self.pending.insert(id, p);
        self.order.push_back(id);
        while self.pending.len() > MAX_PENDING_LOGINS {
            let Some(old) = self.order.pop_front() else { break };
            self.remove(&old);
        }
        // Finished logins leave their ids here; without this the queue
        // would grow by one id per login for as long as the site runs.
        if self.order.len() > 2 * self.pending.len() + 64 {
            let pending = &self.pending;
            self.order.retain(|id| pending.contains_key(id));
        }
    }

    pub(super) fn get(&self, id: &[u8; LOGIN_ID_LEN]) -> Option<&P> {
        self.pending.get(id)
    }

    pub(super) fn remove(&mut self, id: &[u8; LOGIN_ID_LEN]) -> Option<P> {
        let p = self.pending.remove(id)?;
        if let Some(ids) = self.per_account.get_mut(p.account()) {
            ids.retain(|x| x != id);
            if ids.is_empty() {
                self.per_account.remove(p.account());
            }
        }
        Some(p)
    }

    /// Makes room for one more login of `account` at `now`: forgets its
    /// expired logins, then its oldest while it has too many.
    pub(super) fn make_room(&mut self, account: &[u8], now: u64) {
        loop {
            let Some(&oldest) = self.per_account.get(account).and_then(|ids| ids.front()) else { return };
            let count = self.per_account.get(account).map_or(0, VecDeque::len);
            let expired = self.pending.get(&oldest).is_none_or(|p| p.started().saturating_add(LOGIN_TTL_SECS) < now);
            if count < MAX_PENDING_PER_ACCOUNT && !expired {
                return;
            }
            if self.remove(&oldest).is_none()
                && let Some(ids) = self.per_account.get_mut(account)
            {
                ids.pop_front();
            }
        }
    }
}

/// The vault handler of one site. [`Site::serve`] takes `&self`, so one site
/// can serve many requests at once (a fleet's leader does); the logins it
/// remembers and a replaced RNG sit behind locks held only briefly.
pub struct Site {
    setup: ServerSetup<Suite>,
    secrets: FleetSecrets,
    pub(super) fleet_id: [u8; 32],
    config: SiteConfig,
    logins: Mutex<Logins>,
    /// The WebAuthn relying party (design §6).
    pub(super) rp: crate::passkey::RelyingParty,
    /// Passkey challenges awaiting their answer, like logins.
    pub(super) challenges: Mutex<Logins<super::passkeys::site::PendingChallenge>>,
    /// `None`: the OS RNG, used without a lock.
    rng: Option<Mutex<Box<dyn CryptoRngCore + Send>>>,
}

impl core::fmt::Debug for Site {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Site")
            .field("fleet", &self.secrets.public())
            .field("limit", &self.config.limit)
            .field("test_mode", &self.config.test_mode)
            .field("pending", &lock(&self.logins).pending.len())
            .finish_non_exhaustive()
    }
}

fn server_params() -> ServerLoginParameters<'static, 'static> {
    ServerLoginParameters { context: Some(CONTEXT), identifiers: Identifiers { client: None, server: Some(SERVER_ID) } }
}

/// SHA-256 of a credential request's blinded element: what a charge is keyed by.
pub fn request_digest(request: &CredentialRequest<Suite>) -> [u8; 32] {
    let bytes = request.serialize();
    // The blinded element is the first 32 bytes (a ristretto255 element).
    Sha256::digest(&bytes[..32]).into()
}

/// The id of the password record `upload` registers: SHA-256's first 16 bytes.
pub fn record_id(upload: &[u8]) -> Vec<u8> {
    Sha256::digest(upload)[..16].to_vec()
}

pub(super) fn refused() -> Reply {
    wire::error(ErrorCode::OwnerProofRefused, OWNER_PROOF_REFUSED)
}

pub(super) fn unavailable(e: &CommitError) -> Reply {
    wire::error(ErrorCode::Unavailable, &e.to_string())
}

impl Site {
    /// A site with the fleet's OPAQUE keys.
    pub fn new(setup: ServerSetup<Suite>, config: SiteConfig) -> Self {
        let secrets = FleetSecrets::of(&setup);
        let fleet_id = secrets.public().id();
        let config = SiteConfig { limit: config.limit.min(MAX_ATTEMPT_LIMIT), ..config };
        Self {
            setup,
            secrets,
            fleet_id,
            config,
            logins: Mutex::default(),
            rp: crate::passkey::RelyingParty::new(),
            challenges: Mutex::default(),
            rng: None,
        }
    }

    /// Replaces the OS RNG (for reproducible transcripts and simulations only).
    pub fn with_rng(mut self, rng: Box<dyn CryptoRngCore + Send>) -> Self {
        self.rng = Some(Mutex::new(rng));
        self
    }

    /// Runs `f` with the site's RNG: the OS RNG without any lock, or the
    /// replaced one under its lock (draws stay in order).
    pub(super) fn with_site_rng<T>(&self, f: impl FnOnce(&mut dyn CryptoRngCore) -> T) -> T {
        match &self.rng {
            Some(rng) => f(&mut **lock(rng)),
            None => f(&mut OsRng),
        }
    }

    /// The fleet's public keys (what clients pin).
    pub fn fleet_key(&self) -> FleetKey {
        self.secrets.public()
    }

    /// How this site runs.
    pub fn config(&self) -> &SiteConfig {
        &self.config
    }

    /// The fleet's secrets (for the harness, to open a stored record).
    #[doc(hidden)]
    pub fn secrets(&self) -> &FleetSecrets {
        &self.secrets
    }

    /// Handles an encoded request and returns the encoded reply.
    pub fn serve_bytes(&self, ledger: &mut dyn Ledger, bytes: &[u8]) -> Vec<u8> {
        use prost::Message;
        let reply = match wire::decode_request(bytes) {
            Ok(req) => self.serve(ledger, req),
            Err(e) => wire::error(ErrorCode::BadRequest, &e.to_string()),
        };
        reply.encode_to_vec()
    }

    /// Handles a decoded request through a shared reference: several
    /// requests may be served at once, each with its own ledger handle.
    pub fn serve(&self, ledger: &mut dyn Ledger, req: Request) -> Reply {
        let account = req.account;
        if let Err(e) = self.config.credentials.check(&account, req.credential.as_ref(), self.config.clock.now()) {
            return wire::error(ErrorCode::Unauthenticated, &e.to_string());
        }
        match req.body {
            Some(request::Body::RegisterStart(m)) => self.register_start(&account, &m.registration_request),
            Some(request::Body::RegisterFinish(m)) => self.register_finish(ledger, &account, m),
            Some(request::Body::LoginStart(m)) => self.login_start(ledger, &account, &m.ke1),
            Some(request::Body::LoginFinish(m)) => self.login_finish(ledger, &account, &m.login_id, &m.ke3),
            Some(request::Body::Delete(m)) => match m.proof {
                Some(p) => self.delete(ledger, &account, &p),
                None => refused(),
            },
            Some(request::Body::Status(m)) => match m.proof {
                Some(p) => self.status(ledger, &account, &wire::status_content(req.credential.as_ref()), &p),
                None => refused(),
            },
            Some(request::Body::PasskeyStart(m)) => self.passkey_start(ledger, &account, m.purpose),
            Some(request::Body::PasskeyRegister(m)) => self.passkey_register(ledger, &account, m),
            Some(request::Body::PasskeyRelease(m)) => self.passkey_release(ledger, &account, m),
            Some(request::Body::PasskeyChange(m)) => self.passkey_change(ledger, &account, m),
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

    /// Checks an owner proof for `op` against the current record (or, for a
    /// first registration, the new owner key at version 0). Returns the
    /// version the proof names; every failure without a valid signature is
    /// the same refusal. Status queries sign version 0 and are not checked
    /// against the record's version (the querier may not know it); they sign
    /// the request's credential instead, which expires.
    pub(super) fn owner_check(
        &self,
        current: Option<&AccountRecord>,
        account: &[u8],
        op: OwnerOp,
        proof: &OwnerProof,
        content: &[u8; 32],
        first_owner: Option<&[u8]>,
    ) -> Result<Option<u64>, Reply> {
        let check_version = op != OwnerOp::Status;
        let message = owner_message(&self.fleet_id, account, op, proof.expected_version, content);
        match current {
            Some(rec) => {
                if !verify_signature(&rec.owner_public_key, &message, &proof.signature) {
                    return Err(refused());
                }
                if check_version && proof.expected_version != rec.version {
                    // The current version is not named: a replayed message
                    // would tell the relay how the record moved on.
                    return Err(wire::error(
                        ErrorCode::StaleVersion,
                        &format!("the proof names version {}, not the record's current one", proof.expected_version),
                    ));
                }
                Ok(Some(rec.version))
            }
            None => {
                // Without a record only a first registration, signed by its
                // new owner at version 0, can pass. Anything else is checked
                // against the fleet's KE2 key (which never signs an owner
                // message), so this path costs one verification like the others.
                let (signer, may_pass) = match first_owner {
                    Some(pk) if proof.expected_version == 0 => (pk, true),
                    _ => (&self.secrets.public().signing[..], false),
                };
                if !verify_signature(signer, &message, &proof.signature) || !may_pass {
                    return Err(refused());
                }
                Ok(None)
            }
        }
    }

    fn register_finish(&self, ledger: &mut dyn Ledger, account: &[u8], m: wire::RegisterFinish) -> Reply {
        if RegistrationUpload::<Suite>::deserialize(&m.registration_upload).is_err() {
            return wire::error(ErrorCode::BadRequest, "RegistrationUpload does not decode");
        }
        let Some(profile) = KsfProfile::from_code(m.ksf_profile) else {
            return wire::error(ErrorCode::BadRequest, "unknown KSF profile");
        };
        if profile == KsfProfile::Test && !self.config.test_mode {
            return wire::error(ErrorCode::KsfProfileRefused, "the test KSF profile is refused outside test mode");
        }
        let Some(proof) = &m.proof else { return refused() };
        let content = register_content_hash(&m.registration_upload, &m.wrapped_key, &m.owner_public_key, m.ksf_profile);
        // The owner check may refuse without committing: read current state.
        if let Err(e) = ledger.fresh() {
            return unavailable(&e);
        }
        let current = ledger.record(account);
        // One owner per account: a first password on an account whose
        // passkeys are registered must come from their owner key.
        if current.is_none()
            && let Some(passkeys) = ledger.record(&super::passkeys::state::passkey_key(account))
            && !bool::from(subtle::ConstantTimeEq::ct_eq(&passkeys.owner_public_key[..], &m.owner_public_key[..]))
        {
            return refused();
        }
        let expected = match self.owner_check(
            current.as_ref(),
            account,
            OwnerOp::Register,
            proof,
            &content,
            Some(&m.owner_public_key),
        ) {
            Ok(v) => v,
            Err(reply) => return reply,
        };
        let sealed = self.with_site_rng(|rng| {
            keys::seal_record(rng, &self.secrets, account, &m.registration_upload, &m.wrapped_key)
        });
        let Ok(sealed) = sealed else { return wire::error(ErrorCode::Unspecified, "sealing the record failed") };
        let cmd = command(
            account,
            Op::Register(Register {
                sealed_secrets: sealed.sealed,
                record_key: sealed.record_key,
                owner_public_key: m.owner_public_key,
                ksf_profile: m.ksf_profile,
                limit: self.config.limit,
                expected_version: expected,
                record_id: record_id(&m.registration_upload),
            }),
        );
        match ledger.commit(cmd) {
            Ok(Outcome::Registered { version }) => reply(reply::Body::Registered(version)),
            Ok(Outcome::Conflict) => wire::error(ErrorCode::Conflict, "the record changed meanwhile; retry"),
            Ok(other) => wire::error(ErrorCode::Unspecified, &format!("unexpected outcome {other:?}")),
            Err(e) => unavailable(&e),
        }
    }

    fn login_start(&self, ledger: &mut dyn Ledger, account: &[u8], ke1: &[u8]) -> Reply {
        let Ok(request) = CredentialRequest::<Suite>::deserialize(ke1) else {
            return wire::error(ErrorCode::BadRequest, "KE1 does not decode");
        };
        let digest = request_digest(&request);
        let now = self.config.clock.now();
        // Charge first, durably: no KE2 leaves before the attempt is counted.
        // The same request again (a retry, a duplicate) is not charged twice:
        // the record remembers what it charged since its last reset.
        let outcome = match ledger.commit(state::charge(account, &digest)) {
            Ok(o) => o,
            Err(e) => return unavailable(&e),
        };
        let (record, version, profile) = match (outcome, ledger.record(account)) {
            (Outcome::Charged { version, .. }, Some(rec)) => {
                // Served concurrently, a later change (a re-registration) may
                // already be applied: never answer from a record this charge
                // was not counted against.
                if rec.version != version || !rec.is_live() {
                    return wire::error(ErrorCode::Conflict, "the record changed during the login; retry");
                }
                let sealed = SealedRecord { sealed: rec.sealed_secrets, record_key: rec.record_key };
                let Ok(secrets) = keys::open_record(&self.secrets, account, &sealed) else {
                    return wire::error(ErrorCode::Unspecified, "the stored record does not open");
                };
                let Ok(file) = ServerRegistration::<Suite>::deserialize(&secrets.opaque_record) else {
                    return wire::error(ErrorCode::Unspecified, "the stored record does not decode");
                };
                let profile = KsfProfile::from_code(rec.ksf_profile).unwrap_or(self.config.default_profile);
                (Some(file), Some(version), profile)
            }
            // No live record (unknown, erased or deleted): a dummy KE2 from
            // opaque-ke, after the same commit.
            (Outcome::NoRecord | Outcome::Locked, _) => (None, None, self.config.default_profile),
            (other, _) => return wire::error(ErrorCode::Conflict, &format!("unexpected outcome {other:?}")),
        };
        let started = self.with_site_rng(|mut rng| {
            ServerLogin::start(&mut rng, &self.setup, record, request, account, server_params())
        });
        let Ok(started) = started else {
            return wire::error(ErrorCode::BadRequest, "KE1 rejected");
        };
        let ke2 = started.message.serialize().to_vec();
        let mut login_id = [0u8; LOGIN_ID_LEN];
        self.with_site_rng(|rng| rng.fill_bytes(&mut login_id));
        let signature = self.secrets.sign_ke2(&keys::ke2_message(account, ke1, &ke2, profile.code(), &login_id));
        let ke2_reply =
            Ke2Reply { login_id: login_id.to_vec(), ke2, ksf_profile: profile.code(), signature: signature.to_vec() };
        let mut logins = lock(&self.logins);
        logins.make_room(account, now);
        logins.insert(
            login_id,
            Pending { account: account.to_vec(), version, login: started.state, failures: 0, started: now },
        );
        drop(logins);
        reply(reply::Body::Ke2(ke2_reply))
    }

    fn login_finish(&self, ledger: &mut dyn Ledger, account: &[u8], login_id: &[u8], ke3: &[u8]) -> Reply {
        let id: Option<[u8; LOGIN_ID_LEN]> = login_id.try_into().ok();
        let found = id.and_then(|id| {
            let l = lock(&self.logins);
            let now = self.config.clock.now();
            l.pending
                .get(&id)
                .filter(|p| p.account == account && p.started.saturating_add(LOGIN_TTL_SECS) >= now)
                .map(|p| (id, p.login.clone(), p.version))
        });
        let Some((id, login, version)) = found else {
            // Answered from this site's memory alone: first make sure it is
            // still the one serving (a deposed leader must not turn a login
            // in progress at the new leader away).
            if let Err(e) = ledger.fresh() {
                return unavailable(&e);
            }
            return wire::error(ErrorCode::UnknownLogin, "unknown login id (expired or served by another site)");
        };
        let verified = CredentialFinalization::<Suite>::deserialize(ke3).ok().and_then(|fin| {
            // Cloned, so that a KE3 that fails leaves the login to its client.
            // opaque-ke's result does not wipe itself: keep a wiping copy.
            login.finish(fin, server_params()).ok().map(|mut done| {
                let session_key = Zeroizing::new(done.session_key.to_vec());
                done.session_key.zeroize();
                session_key
            })
        });
        let (Some(version), Some(session_key)) = (version, verified) else {
            {
                let mut l = lock(&self.logins);
                let drop_it = l.pending.get_mut(&id).is_some_and(|p| {
                    p.failures += 1;
                    p.failures >= MAX_KE3_FAILURES
                });
                if drop_it {
                    l.remove(&id);
                }
            }
            return self.fail(ledger, account);
        };
        lock(&self.logins).remove(&id);
        let committed = ledger.commit(command(account, Op::Success(version)));
        match (committed, ledger.record(account)) {
            (Ok(Outcome::Reset { .. }), Some(rec)) => {
                let sealed = SealedRecord { sealed: rec.sealed_secrets, record_key: rec.record_key };
                let Ok(secrets) = keys::open_record(&self.secrets, account, &sealed) else {
                    return wire::error(ErrorCode::Unspecified, "the stored record does not open");
                };
                let key = release_key(&session_key);
                let mut nonce = [0u8; NONCE_LEN];
                self.with_site_rng(|rng| rng.fill_bytes(&mut nonce));
                match seal_with_nonce(&nonce, key.expose_secret(), account, &secrets.wrapped_key) {
                    Ok(sealed) => reply(reply::Body::Released(sealed)),
                    Err(_) => wire::error(ErrorCode::Unspecified, "sealing failed"),
                }
            }
            (Ok(Outcome::Locked), _) => reply(reply::Body::LoginFailed(true)),
            (Ok(_), _) => wire::error(ErrorCode::Conflict, "the record changed during the login; retry"),
            (Err(e), _) => unavailable(&e),
        }
    }

    fn fail(&self, ledger: &mut dyn Ledger, account: &[u8]) -> Reply {
        // Whatever the record's state, the caller hears the same.
        match ledger.commit(command(account, Op::Failure(true))) {
            Ok(_) => reply(reply::Body::LoginFailed(true)),
            Err(e) => unavailable(&e),
        }
    }

    fn delete(&self, ledger: &mut dyn Ledger, account: &[u8], proof: &OwnerProof) -> Reply {
        // The owner check is answered from a read: make it current.
        if let Err(e) = ledger.fresh() {
            return unavailable(&e);
        }
        let current = ledger.record(account);
        let version =
            match self.owner_check(current.as_ref(), account, OwnerOp::Delete, proof, &content_hash(&[]), None) {
                Ok(Some(v)) => v,
                Ok(None) => return refused(),
                Err(reply) => return reply,
            };
        if current.as_ref().is_some_and(|r| r.deleted) {
            return reply(reply::Body::Deleted(true));
        }
        match ledger.commit(command(account, Op::Delete(version))) {
            Ok(Outcome::Deleted) => reply(reply::Body::Deleted(true)),
            Ok(Outcome::Conflict) => wire::error(ErrorCode::Conflict, "the record changed meanwhile; retry"),
            Ok(other) => wire::error(ErrorCode::Unspecified, &format!("unexpected outcome {other:?}")),
            Err(e) => unavailable(&e),
        }
    }

    fn status(&self, ledger: &mut dyn Ledger, account: &[u8], content: &[u8], proof: &OwnerProof) -> Reply {
        if let Err(e) = ledger.fresh() {
            return unavailable(&e);
        }
        let current = ledger.record(account);
        match self.owner_check(current.as_ref(), account, OwnerOp::Status, proof, &content_hash(content), None) {
            Ok(Some(_)) => {}
            Ok(None) => return refused(),
            Err(reply) => return reply,
        }
        let Some(r) = current else { return refused() };
        reply(reply::Body::Status(RecordStatus {
            version: r.version,
            attempts_left: r.attempts_left,
            limit: r.limit,
            erased: r.locked,
            deleted: r.deleted,
            ksf_profile: r.ksf_profile,
        }))
    }
}

/// A [`Ledger`] over one durable site (redb): each commit is fsynced before
/// it returns, and an erasure compacts the file. The single-site vault, and
/// the reference the fleet is tested against.
impl Ledger for super::storage::DurableSite {
    fn record(&self, account: &[u8]) -> Option<AccountRecord> {
        super::storage::DurableSite::record(self, account).cloned()
    }
    fn commit(&mut self, cmd: Command) -> Result<Outcome, CommitError> {
        self.apply_next(&cmd).map_err(|e| CommitError::Storage(Arc::new(e)))
    }
}

/// An in-memory [`Ledger`] (tests, models, simulations).
#[derive(Default, Clone)]
pub struct MemoryLedger {
    /// Records.
    pub accounts: std::collections::BTreeMap<Vec<u8>, AccountRecord>,
    /// Every command committed, in order.
    pub log: Vec<Command>,
}

impl core::fmt::Debug for MemoryLedger {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryLedger").field("accounts", &self.accounts.len()).field("log", &self.log.len()).finish()
    }
}

impl Ledger for MemoryLedger {
    fn record(&self, account: &[u8]) -> Option<AccountRecord> {
        self.accounts.get(account).cloned()
    }
    fn commit(&mut self, cmd: Command) -> Result<Outcome, CommitError> {
        let mut rec = self.accounts.get(&cmd.account).cloned();
        let outcome = state::apply(&mut rec, &cmd);
        match rec {
            Some(r) => self.accounts.insert(cmd.account.clone(), r),
            None => self.accounts.remove(&cmd.account),
        };
        self.log.push(cmd);
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        account: Vec<u8>,
        started: u64,
    }

    impl Began for Fake {
        fn account(&self) -> &[u8] {
            &self.account
        }

        fn started(&self) -> u64 {
            self.started
        }
    }

    fn id(n: u32) -> [u8; LOGIN_ID_LEN] {
        let mut id = [0u8; LOGIN_ID_LEN];
        id[..4].copy_from_slice(&n.to_be_bytes());
        id
    }

    #[test]
    fn finished_logins_do_not_pile_up() {
        let mut l = Logins::<Fake>::default();
        for n in 0..10_000 {
            l.insert(id(n), Fake { account: b"a".to_vec(), started: 0 });
            assert!(l.remove(&id(n)).is_some());
        }
        assert!(l.pending.is_empty() && l.per_account.is_empty());
        assert!(l.order.len() <= 64 + 1, "{} finished ids kept", l.order.len());
    }

    #[test]
    fn an_account_keeps_its_newest_logins_and_drops_expired_ones() {
        let mut l = Logins::<Fake>::default();
        for n in 0..MAX_PENDING_PER_ACCOUNT as u32 {
            l.make_room(b"a", 100);
            l.insert(id(n), Fake { account: b"a".to_vec(), started: 100 });
        }
        l.insert(id(999), Fake { account: b"b".to_vec(), started: 100 });
        assert_eq!(l.per_account[&b"a"[..]].len(), MAX_PENDING_PER_ACCOUNT);
        // One more for `a`: its oldest goes, `b`'s stays.
        l.make_room(b"a", 100);
        assert_eq!(l.per_account[&b"a"[..]].len(), MAX_PENDING_PER_ACCOUNT - 1);
        assert!(!l.pending.contains_key(&id(0)) && l.pending.contains_key(&id(1)));
        assert!(l.pending.contains_key(&id(999)));
        // At the TTL they still count; past it they are forgotten.
        l.make_room(b"a", 100 + LOGIN_TTL_SECS);
        assert_eq!(l.per_account[&b"a"[..]].len(), MAX_PENDING_PER_ACCOUNT - 1);
        l.make_room(b"a", 101 + LOGIN_TTL_SECS);
        assert!(!l.per_account.contains_key(&b"a"[..]));
        assert!(l.pending.contains_key(&id(999)), "another account's login is not touched");
    }

    #[test]
    fn the_order_queue_is_pruned_just_past_twice_the_pending_logins_plus_64() {
        // Three logins stay pending; a fourth comes and goes. The queue of
        // ids may hold finished ones until it exceeds 2 × 4 + 64 = 72 at an
        // insert, and is then cut back to the pending ones.
        let mut l = Logins::<Fake>::default();
        for n in 0..3 {
            l.insert(id(n), Fake { account: b"a".to_vec(), started: 0 });
        }
        let (mut longest, mut shortest) = (0, usize::MAX);
        for n in 3..1_000 {
            l.insert(id(n), Fake { account: b"b".to_vec(), started: 0 });
            longest = longest.max(l.order.len());
            shortest = shortest.min(l.order.len());
            assert!(l.remove(&id(n)).is_some());
        }
        assert_eq!(longest, 72);
        assert_eq!(shortest, 4, "after a cut only the four pending ids are left");
    }

    #[test]
    fn at_most_65536_logins_are_pending_the_oldest_dropped_first() {
        let mut l = Logins::<Fake>::default();
        let cap = u32::try_from(MAX_PENDING_LOGINS).unwrap_or(u32::MAX);
        for n in 0..cap {
            l.insert(id(n), Fake { account: n.to_be_bytes().to_vec(), started: 0 });
        }
        assert_eq!(l.pending.len(), MAX_PENDING_LOGINS, "a full table keeps every login");
        assert!(l.pending.contains_key(&id(0)));
        l.insert(id(cap), Fake { account: b"late".to_vec(), started: 0 });
        assert_eq!(l.pending.len(), MAX_PENDING_LOGINS);
        assert!(!l.pending.contains_key(&id(0)) && l.pending.contains_key(&id(1)) && l.pending.contains_key(&id(cap)));
        assert!(!l.per_account.contains_key(&0u32.to_be_bytes()[..]), "the dropped login's account entry goes too");
    }
}
