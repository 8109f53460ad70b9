//! One simulation run: the fleet, the honest users, the relay's record, and
//! the invariants checked after every step (see the parent module).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use e2eb_core::key::BackupKey;
use e2eb_core::vault::client::{self, Owner, VaultClient};
use e2eb_core::vault::credential::{Clock, CredentialIssuer};
use e2eb_core::vault::fleet::{Fleet, FleetOptions, SimRng};
use e2eb_core::vault::site::{SiteConfig, record_id as upload_record_id};
use e2eb_core::vault::state::AccountRecord;
use e2eb_core::vault::wire::{ErrorCode, Reply, Request, reply, request};
use e2eb_core::vault::{KsfProfile, Suite};
use opaque_ke::ServerSetup;
use rand_core::OsRng;
use sha2::{Digest, Sha256};

use super::relay::{self, Relay};
use super::{
    COMMIT_TIMEOUT, ELECTION_MS, GATE_WINDOW, HEARTBEAT_MS, PATIENCE, SimOptions, Violation, forensic, temp_dir,
};
use crate::vault::VaultRunError;

/// Names a password record: the first 16 bytes of SHA-256 of its OPAQUE
/// registration upload, which the owner knows when it sends it and which a
/// replayed upload repeats (the site stores it with the record). Not secret.
pub(super) type RecordId = [u8; 16];

fn to_id(bytes: &[u8]) -> RecordId {
    let mut id = [0u8; 16];
    let n = bytes.len().min(16);
    id[..n].copy_from_slice(&bytes[..n]);
    id
}

fn record_id_of_upload(upload: &[u8]) -> RecordId {
    to_id(&upload_record_id(upload))
}

/// The password record a committed record holds.
fn record_id(rec: &AccountRecord) -> RecordId {
    to_id(&rec.record_id)
}

/// The byte strings of a committed record that must vanish when it is erased.
fn secret_fields(rec: &AccountRecord) -> Vec<(String, Vec<u8>)> {
    vec![
        ("sealed record".to_owned(), rec.sealed_secrets.clone()),
        ("wrapped record key".to_owned(), rec.record_key.clone()),
    ]
}

/// Simulated seconds per step: credentials live [`CREDENTIAL_TTL`] of them.
pub(super) const STEP_SECS: u64 = 60;
/// How long the credentials the chat service issues are valid.
const CREDENTIAL_TTL: u64 = 10 * STEP_SECS;
/// The simulation's clock starts here (seconds since the epoch).
const START: u64 = 1_800_000_000;

/// One honest user of the vault.
pub(super) struct User {
    pub(super) client: VaultClient,
    pub(super) password: Vec<u8>,
    pub(super) key: BackupKey,
}

/// What the harness knows of one account, for the invariants.
#[derive(Default, Debug)]
pub(super) struct Watch {
    /// Per password record: the distinct KE1s (SHA-256) answered from it
    /// while it was live, since its last owner-authorised reset.
    verified: BTreeMap<RecordId, BTreeSet<[u8; 32]>>,
    max_verifications: u32,
    /// Highest record version a registration reply acknowledged to the owner.
    pub(super) acked_version: Option<u64>,
    last_version: Option<u64>,
    last_attempts: Option<u32>,
    last_record: Option<RecordId>,
    /// The records the owner sent, in order.
    honest_ids: Vec<RecordId>,
    /// Seen erased (locked or deleted) at this version, when the owner had
    /// sent this many registrations.
    erased_at: Option<(u64, usize)>,
    /// Resets the owner has authorised and the checks have not yet seen
    /// applied: one per KE3 the owner sent with the right password. A reset
    /// is `Op::Success` at the login's version, one version step; the relay
    /// may withhold such a KE3 and deliver it later, but it cannot make one,
    /// so every observed reset must be paid for by one of these.
    owner_resets: u64,
    /// The secrets each password record held.
    secrets: BTreeMap<RecordId, Vec<(String, Vec<u8>)>>,
    /// Password records erased (locked, deleted) or replaced by a newer
    /// registration, with the record version from which they are gone: their
    /// secrets must be gone from every site that has reached that version.
    erased: BTreeMap<RecordId, u64>,
}

/// One run of the simulation.
pub(super) struct Run {
    pub(super) fleet: Fleet,
    pub(super) rng: SimRng,
    pub(super) users: Vec<User>,
    pub(super) watch: BTreeMap<Vec<u8>, Watch>,
    pub(super) relay: Relay,
    pub(super) schedule: Vec<String>,
    pub(super) faults: u64,
    pub(super) relay_attacks: u64,
    pub(super) forensic_scans: u64,
    pub(super) recoveries: u64,
    pub(super) unavailable: u64,
    pub(super) limit: u32,
    pub(super) seed: u64,
    pub(super) violations: Vec<Violation>,
    pub(super) old_disk: Option<(usize, PathBuf)>,
    /// Steps since the current partition began (faults are transient).
    pub(super) partition_age: Option<u32>,
    /// Step at which each crashed site went down.
    pub(super) down_since: BTreeMap<usize, u32>,
    /// The current step.
    pub(super) step: u32,
    /// Whether the attacker acts in the current step (a reset seen now is
    /// not the owner's).
    pub(super) attacker_acts: bool,
    /// The chat service, which gives honest clients their credentials.
    service: CredentialIssuer,
    /// The simulated time the sites see.
    pub(super) now: Arc<AtomicU64>,
    /// Whether the last [`Run::send`] delivered its request twice.
    sent_twice: bool,
    _dir: tempfile::TempDir,
}

impl Run {
    pub(super) fn new(opts: &SimOptions, seed: u64) -> Result<Self, VaultRunError> {
        let dir = temp_dir().map_err(VaultRunError::io("temporary directory"))?;
        let service = CredentialIssuer::from_seed(&Sha256::digest(format!("e2eb sim service {seed}")).into());
        let now = Arc::new(AtomicU64::new(START));
        let site =
            SiteConfig::for_tests(service.verifier()).with_limit(opts.limit).with_clock(Clock::manual(now.clone()));
        let options = FleetOptions {
            sites: opts.sites,
            hsm_counter: opts.hsm_counter,
            seed,
            heartbeat_ms: HEARTBEAT_MS,
            election_ms: Some(ELECTION_MS),
            commit_timeout: COMMIT_TIMEOUT,
            ..FleetOptions::new(site)
        };
        let fleet = Fleet::start(dir.path(), ServerSetup::<Suite>::new(&mut OsRng), options)?;
        let fleet_key = fleet.fleet_key();
        let users = (0..3)
            .map(|i| User {
                client: VaultClient::new(format!("user-{i}").as_bytes(), &fleet_key).allowing_test_profile(),
                password: format!("password {i} {seed}").into_bytes(),
                key: BackupKey::from_bytes([i as u8 + 1; 32]),
            })
            .collect();
        Ok(Self {
            fleet,
            rng: SimRng::new(seed),
            users,
            watch: BTreeMap::new(),
            relay: Relay::default(),
            schedule: Vec::new(),
            faults: 0,
            relay_attacks: 0,
            forensic_scans: 0,
            recoveries: 0,
            unavailable: 0,
            limit: opts.limit,
            seed,
            violations: Vec::new(),
            old_disk: None,
            partition_age: None,
            down_since: BTreeMap::new(),
            step: 0,
            attacker_acts: false,
            service,
            now,
            sent_twice: false,
            _dir: dir,
        })
    }

    /// Moves the sites' clock on by one step.
    pub(super) fn tick(&mut self) {
        self.now.fetch_add(STEP_SECS, Ordering::Relaxed);
    }

    /// User `u`'s client as the one making the request now: the owner's
    /// phone with a fresh credential from the chat service, or — when the
    /// attacker acts — the user's account with the newest credential the
    /// relay recorded (which may have expired).
    pub(super) fn client(&self, u: usize) -> VaultClient {
        let c = self.users[u].client.clone();
        if self.attacker_acts {
            match self.relay.credential_for(c.account()) {
                Some(cred) => c.with_credential(cred),
                None => c,
            }
        } else {
            let expiry = self.now.load(Ordering::Relaxed) + CREDENTIAL_TTL;
            let cred = self.service.issue(c.account(), expiry);
            c.with_credential(cred)
        }
    }

    pub(super) fn note(&mut self, s: String) {
        self.schedule.push(s);
    }

    pub(super) fn violate(&mut self, invariant: &'static str, detail: String) {
        self.violations.push(Violation { seed: self.seed, invariant, detail, schedule: self.schedule.clone() });
    }

    /// The most password verifications seen for one record between resets.
    pub(super) fn max_verifications(&self) -> u32 {
        self.watch.values().map(|w| w.max_verifications).max().unwrap_or(0)
    }

    /// Observes a reply to `req`: a KE2 from a live record is a password
    /// verification of that record (invariant 1).
    fn observe(&mut self, req: &Request, r: &Reply) {
        if let Some(reply::Body::Error(e)) = &r.body
            && e.code == ErrorCode::Unavailable as i32
        {
            self.unavailable += 1;
        }
        let (Some(request::Body::LoginStart(ke1)), Some(reply::Body::Ke2(_))) = (&req.body, &r.body) else { return };
        let account = req.account.clone();
        let Some(Some(rec)) = self.fleet.linearizable_record(&account) else { return };
        if !rec.is_live() {
            return; // a KE2 from no live record verifies no password
        }
        let id = record_id(&rec);
        let limit = self.limit;
        let w = self.watch.entry(account.clone()).or_default();
        let seen = w.verified.entry(id).or_default();
        seen.insert(Sha256::digest(&ke1.ke1).into());
        let n = seen.len() as u32;
        w.max_verifications = w.max_verifications.max(n);
        if n > limit {
            self.violate(
                "at most limit verifications per password record between owner-authorised resets",
                format!(
                    "{n} password verifications of one record of {:?} since its owner last reset it (limit {limit})",
                    String::from_utf8_lossy(&account)
                ),
            );
        }
    }

    /// One client request over the client link, which is as unreliable as
    /// the sites' (the current loss and duplication rates): a request may
    /// arrive twice, and a reply may never arrive after its change was
    /// committed. The relay records every message of an honest client.
    pub(super) fn send(&mut self, req: Request, via: Option<usize>) -> Reply {
        if !self.attacker_acts {
            self.relay.record(self.step, &req);
        }
        let (loss, duplicate) = self.fleet.router().with_faults(|f| (f.loss, f.duplicate));
        self.sent_twice = self.rng.chance(duplicate);
        if self.sent_twice {
            let copy = self.deliver(req.clone(), via);
            self.observe(&req, &copy);
            self.faults += 1;
            self.note("a client request arrives twice".to_owned());
        }
        let r = self.deliver(req.clone(), via);
        self.observe(&req, &r);
        if self.rng.chance(loss) {
            self.faults += 1;
            self.note("a reply to a client is lost".to_owned());
            return Reply::default();
        }
        r
    }

    /// Delivers a message the relay replays or made, and observes the reply
    /// (which the relay sees).
    pub(super) fn inject(&mut self, req: Request, via: Option<usize>) -> Reply {
        let r = self.deliver(req.clone(), via);
        self.observe(&req, &r);
        r
    }

    pub(super) fn deliver(&mut self, req: Request, via: Option<usize>) -> Reply {
        match via {
            Some(v) => {
                let first = self.fleet.request(v, req.clone());
                match &first.body {
                    // Followers redirect; the attacker follows the hint like anyone.
                    Some(reply::Body::Error(e)) if e.code == ErrorCode::NotLeader as i32 => {
                        self.fleet.submit(req, PATIENCE)
                    }
                    _ => first,
                }
            }
            None => self.fleet.submit(req, PATIENCE),
        }
    }

    /// The owner of `u` registers (the first time, or again: a password
    /// change, after reading the record's version with a status query), with
    /// `password` or the user's own.
    pub(super) fn register_with(&mut self, u: usize, password: Option<&[u8]>) -> Option<Request> {
        let (c, k) = (self.client(u), self.users[u].key.clone());
        let pw = password.map_or_else(|| self.users[u].password.clone(), <[u8]>::to_vec);
        let first = self.watch.get(c.account()).is_none_or(|w| w.honest_ids.is_empty());
        let owner = if first {
            Owner::First
        } else {
            let r = self.send(c.status_request(&k), None);
            match client::status(&r) {
                Ok(s) => Owner::Current { key: &k, version: s.version },
                // No record of this owner: an earlier first registration never took effect.
                Err(client::ClientError::Refused { code: ErrorCode::OwnerProofRefused, .. }) => Owner::First,
                Err(_) => return None,
            }
        };
        let Ok((reg, req)) = c.register_start(&mut OsRng, &pw) else { return None };
        let r = self.send(req, None);
        let Ok(req) = reg.finish(&mut OsRng, &pw, &r, &k, KsfProfile::Test, owner) else { return None };
        if let Some(request::Body::RegisterFinish(f)) = &req.body {
            let id = record_id_of_upload(&f.registration_upload);
            let w = self.watch.entry(c.account().to_vec()).or_default();
            w.honest_ids.push(id);
            let secrets = w.secrets.entry(id).or_default();
            secrets.push(("OPAQUE upload".to_owned(), f.registration_upload.clone()));
            secrets.push(("wrapped K as sent".to_owned(), f.wrapped_key.clone()));
        }
        let r = self.send(req.clone(), None);
        if let Ok(version) = client::registered(&r) {
            let w = self.watch.entry(c.account().to_vec()).or_default();
            w.acked_version = w.acked_version.max(Some(version));
            self.note(format!("user-{u} registered (record version {version})"));
            if password.is_some() {
                self.users[u].password = pw;
            }
        }
        Some(req)
    }

    pub(super) fn register(&mut self, u: usize) {
        self.register_with(u, None);
    }

    /// A full recovery; `guess` replaces the password for the attacker.
    pub(super) fn recover(&mut self, u: usize, guess: Option<&[u8]>, via: Option<usize>, crash_leader_midway: bool) {
        let c = self.client(u);
        let pw = guess.map(<[u8]>::to_vec).unwrap_or_else(|| self.users[u].password.clone());
        let Ok((login, req)) = c.login_start(&mut OsRng, &pw) else { return };
        let ke2 = self.send(req, via);
        if crash_leader_midway && let Some(l) = self.fleet.leader() {
            self.fleet.crash(l);
            self.faults += 1;
            self.note(format!("crash leader site {} between KE2 and KE3", l + 1));
        }
        let next = login.finish(&mut OsRng, &pw, &ke2);
        let Ok((waiting, ke3)) = next else { return };
        if guess.is_none() && !self.attacker_acts {
            self.watch.entry(c.account().to_vec()).or_default().owner_resets += 1;
        }
        let released = self.send(ke3, via);
        // A refusal that says the KE3 changed nothing takes the owner's
        // credit back, unless a second copy of the KE3 went in first (then
        // this answer is about the copy's leftovers).
        let refused_for_good = match &released.body {
            Some(reply::Body::LoginFailed(_)) => true,
            Some(reply::Body::Error(e)) => {
                [ErrorCode::UnknownLogin, ErrorCode::Conflict, ErrorCode::BadRequest, ErrorCode::Unauthenticated]
                    .iter()
                    .any(|c| e.code == *c as i32)
            }
            _ => false,
        };
        if guess.is_none() && !self.attacker_acts && refused_for_good && !self.sent_twice {
            let w = self.watch.entry(c.account().to_vec()).or_default();
            w.owner_resets = w.owner_resets.saturating_sub(1);
        }
        // Refusals (no majority, lost login) and wrong passwords are expected outcomes.
        match waiting.open(&released) {
            Ok(k) if guess.is_some() && k == self.users[u].key => {
                self.violate("the attacker never recovers a key", format!("the attacker recovered user-{u}'s key"));
            }
            Ok(k) => {
                self.recoveries += 1;
                if k != self.users[u].key {
                    self.violate("recovery returns the registered key", format!("user-{u} recovered another key"));
                }
            }
            // Refusals, lost replies and wrong passwords: the owner's KE3 may
            // still commit its reset, which its credit above allows for.
            Err(_) => {}
        }
    }

    /// The attacker opens a login through every site before finishing any
    /// (several KE2s in flight for one record), then finishes them in a
    /// shuffled order.
    pub(super) fn parallel_guesses(&mut self, u: usize) {
        let c = self.client(u);
        let mut open = Vec::new();
        for via in 0..self.fleet.len() {
            let Ok((login, req)) = c.login_start(&mut OsRng, b"parallel guess") else { continue };
            let ke2 = self.send(req, Some(via));
            open.push((login, ke2));
        }
        for i in (1..open.len()).rev() {
            open.swap(i, self.rng.below(i as u64 + 1) as usize);
        }
        for (login, ke2) in open {
            if let Ok((waiting, ke3)) = login.finish(&mut OsRng, b"parallel guess", &ke2) {
                let released = self.send(ke3, None);
                let _ = waiting.open(&released);
            }
        }
    }

    /// The relay delivers a message it recorded earlier, as it is.
    pub(super) fn relay_replay(&mut self, recorded: &relay::Recorded, via: Option<usize>) -> Reply {
        self.relay_attacks += 1;
        let r = self.inject(recorded.request.clone(), via);
        self.note(format!(
            "{}: relay replays the {} of {:?} recorded at step {}: {}",
            self.step,
            recorded.kind(),
            String::from_utf8_lossy(&recorded.request.account),
            recorded.step,
            reply_kind(&r)
        ));
        r
    }

    /// Invariants 2 to 5 on every watched account, read linearizably
    /// through the leader, and the forensic check after an erasure.
    pub(super) fn check_counts(&mut self) {
        let accounts: Vec<Vec<u8>> = self.users.iter().map(|u| u.client.account().to_vec()).collect();
        for a in accounts {
            let Some(Some(rec)) = self.fleet.linearizable_record(&a) else { continue };
            self.check_record(&a, &rec);
        }
    }

    fn check_record(&mut self, a: &[u8], rec: &AccountRecord) {
        let name = String::from_utf8_lossy(a).into_owned();
        let limit = self.limit;
        let w = self.watch.entry(a.to_vec()).or_default();
        let mut problems: Vec<(&'static str, String)> = Vec::new();
        let mut scan_now = false;
        if w.last_version.is_some_and(|v| rec.version < v) {
            problems.push((
                "the attempt count only goes down except on resets",
                format!("{name}: record version went back from {:?} to {}", w.last_version, rec.version),
            ));
        }
        if !rec.is_live() {
            if w.erased_at.is_none() {
                w.erased_at = Some((rec.version, w.honest_ids.len()));
                if let Some(id) = w.last_record {
                    w.erased.insert(id, rec.version);
                    scan_now = true;
                }
            }
        } else {
            let id = record_id(rec);
            let fields = secret_fields(rec);
            let secrets = w.secrets.entry(id).or_default();
            for f in fields {
                if !secrets.contains(&f) {
                    secrets.push(f);
                }
            }
            let position = w.honest_ids.iter().rposition(|h| *h == id);
            if let Some((v, sent)) = w.erased_at {
                // Only a registration the owner sent after the erasure replaces it.
                if rec.version > v && position.is_some_and(|p| p >= sent) {
                    w.erased_at = None;
                } else {
                    problems.push((
                        "a locked record never unlocks",
                        format!("{name}: erased at version {v}, live again at version {}", rec.version),
                    ));
                }
            }
            let changed = w.last_version.is_some_and(|v| rec.version > v);
            if changed && let Some(last) = w.last_record.filter(|last| *last != id) {
                // A newer registration replaced the record: the old one, whose
                // password may be why it was changed, must go from the disks.
                w.erased.entry(last).or_insert(rec.version);
                scan_now = true;
            }
            if changed && w.last_record.is_some_and(|last| last != id) {
                let last = w.last_record.and_then(|l| w.honest_ids.iter().rposition(|h| *h == l));
                match position {
                    None => problems.push((
                        "the attacker never changes a record",
                        format!("{name}: version {} holds a password record its owner never sent", rec.version),
                    )),
                    Some(p) if last.is_some_and(|l| p < l) => problems.push((
                        "the attacker never changes a record",
                        format!(
                            "{name}: an older registration of its owner came back over a newer one (version {})",
                            rec.version
                        ),
                    )),
                    Some(_) => {}
                }
            } else if changed {
                // The same password record at a new version: resets, each
                // paid for by a KE3 of its owner. Checks may miss versions
                // (no majority to read from), so count them.
                let resets = rec.version - w.last_version.unwrap_or(rec.version);
                if resets <= w.owner_resets {
                    w.owner_resets -= resets;
                    if let Some(seen) = w.verified.get_mut(&id) {
                        seen.clear();
                    }
                } else {
                    problems.push((
                        "the count is reset only by its owner",
                        format!(
                            "{name}: the count was reset without its owner (version {:?} to {}, {} of {limit} attempts \
                             left; the owner sent {} KE3s not yet seen applied)",
                            w.last_version, rec.version, rec.attempts_left, w.owner_resets
                        ),
                    ));
                }
            } else if w.last_attempts.is_some_and(|prev| rec.attempts_left > prev) {
                problems.push((
                    "the attempt count only goes down except on resets",
                    format!(
                        "{name}: attempts left went from {:?} to {} without a reset",
                        w.last_attempts, rec.attempts_left
                    ),
                ));
            }
            w.last_record = Some(id);
        }
        w.last_version = Some(rec.version);
        w.last_attempts = Some(rec.attempts_left);
        for (inv, d) in problems {
            self.violate(inv, d);
        }
        if scan_now {
            self.forensic_check(false);
        }
    }

    /// Invariant 7: a site restarted from an older disk does not vote while
    /// its log lacks an entry it acknowledged — its last entry is behind
    /// `acked` (term, index) in Raft order — and it is not the leader.
    pub(super) fn check_rollback_gate(&mut self, site: usize, acked: (u64, u64)) {
        // A site lifts its gate itself, when it is asked for a vote or the
        // fleet serves a request, once it thinks it has caught up; its
        // metrics settle a moment after a restart. Watch it — at every
        // change of the fleet's Raft metrics (an entry reaching it, a vote)
        // and every 10 ms — until its gate opens, or for the window while it
        // stays closed. Once open there is nothing left to watch: it opened
        // while the log is behind (the violation), or the site has caught up.
        let (mut last, mut gated) = (None, true);
        self.fleet.wait_for(GATE_WINDOW, Duration::from_millis(10), |f| {
            f.release_caught_up_sites();
            last = f.last_log_id(site);
            gated = f.gated_sites().contains(&site);
            (!gated).then_some(())
        });
        self.note(format!(
            "site {}: log ends at {last:?}, acknowledged (term {}, index {}): {}",
            site + 1,
            acked.0,
            acked.1,
            if gated { "refuses to vote" } else { "votes" }
        ));
        if last.is_none_or(|l| l < acked) && !gated && self.fleet.hsm_counter() {
            self.violate(
                "a site that lost entries it acknowledged does not vote",
                format!(
                    "site {} restarted with its log ending at {last:?}, behind the acknowledged (term {}, index {}), \
                     and is not gated",
                    site + 1,
                    acked.0,
                    acked.1
                ),
            );
        }
    }

    /// Invariant 6: no site that has applied an erasure holds the erased
    /// secrets in its file. With `all`, every site must have (the end of a
    /// run, when all are up and caught up).
    pub(super) fn forensic_check(&mut self, all: bool) {
        let applied = self.settle();
        let files = self.fleet.site_files();
        for (account, w) in &self.watch {
            if w.erased.is_empty() {
                continue;
            }
            // Each site is scanned for the records gone by the version it
            // has applied (every record gone, with `all`).
            let mut found = Vec::new();
            for (i, file) in files.iter().enumerate() {
                let reached = if all { Some(u64::MAX) } else { applied[i].get(account).copied() };
                let Some(reached) = reached else { continue };
                let secrets: Vec<(String, Vec<u8>)> = w
                    .erased
                    .iter()
                    .filter(|(_, gone)| **gone <= reached)
                    .filter_map(|(id, _)| w.secrets.get(id))
                    .flatten()
                    .cloned()
                    .collect();
                if !secrets.is_empty() {
                    found.extend(forensic::scan(std::slice::from_ref(file), &secrets));
                }
            }
            self.forensic_scans += 1;
            if let Some(f) = found.first() {
                let d = format!(
                    "{}: the {} of an erased or replaced record of {:?} is in {} at byte {} ({} finding(s) in all)",
                    self.step,
                    f.secret,
                    String::from_utf8_lossy(account),
                    forensic::name(&f.file),
                    f.offset,
                    found.len()
                );
                self.violations.push(Violation {
                    seed: self.seed,
                    invariant: "erased means gone from every disk",
                    detail: d,
                    schedule: self.schedule.clone(),
                });
                return;
            }
        }
    }

    /// Waits until every running site the leader can reach has applied what
    /// the leader has, and every running site has compacted away what it
    /// erased; returns the version of each watched account each site had
    /// applied before the second wait (none for a site that is down). A site
    /// cut off by a partition cannot catch up before the partition heals,
    /// which no wait brings nearer; it is scanned for what it has applied.
    /// Read before the wait for compaction, that version is covered by it: a
    /// site notes an erasure for compaction before its state shows it, even
    /// a site still applying entries (one just cut off).
    fn settle(&self) -> Vec<BTreeMap<Vec<u8>, u64>> {
        self.fleet.wait_reachable_replicated(Duration::from_secs(2));
        let applied = (0..self.fleet.len())
            .map(|i| {
                let versions = self.watch.keys().filter_map(|a| Some((a.clone(), self.fleet.record(i, a)?.version)));
                versions.collect()
            })
            .collect();
        self.fleet.wait_compacted(Duration::from_secs(3));
        applied
    }

    /// Invariant 2 and the forensic check, at the end: heal, restart all,
    /// and look for every acknowledged registration.
    pub(super) fn final_check(&mut self) {
        self.attacker_acts = false;
        self.fleet.heal();
        self.fleet.router().with_faults(|f| {
            f.loss = 0.0;
            f.duplicate = 0.0;
            f.max_delay_ms = 0;
        });
        for i in 0..self.fleet.len() {
            let _ = self.fleet.restart(i);
        }
        // Released, a rolled-back site that has caught up may campaign.
        let leader = self.fleet.wait_for(Duration::from_secs(5), Duration::from_millis(5), |f| {
            f.release_caught_up_sites();
            f.wait_for_leader(Duration::ZERO)
        });
        let Some(l) = leader else {
            let gated: Vec<usize> = self.fleet.gated_sites().iter().map(|i| i + 1).collect();
            self.violate(
                "the fleet recovers when every site is back",
                format!("no leader after healing (sites refusing to vote after a rollback: {gated:?})"),
            );
            return;
        };
        // A read barrier through a request: an unknown account's KE1 commits nothing harmful.
        let expiry = self.now.load(Ordering::Relaxed) + CREDENTIAL_TTL;
        let probe = VaultClient::new(b"probe", &self.fleet.fleet_key())
            .with_credential(self.service.issue(b"probe", expiry))
            .allowing_test_profile();
        if let Ok((_, req)) = probe.login_start(&mut OsRng, b"x") {
            let _ = self.fleet.submit(req, PATIENCE);
        }
        self.check_counts();
        let acked: Vec<(Vec<u8>, u64)> =
            self.watch.iter().filter_map(|(a, w)| w.acked_version.map(|v| (a.clone(), v))).collect();
        for (a, version) in acked {
            // Versions only grow, so an older one means the acknowledged
            // registration was lost and an earlier record came back.
            match self.fleet.record(l, &a) {
                None => self.violate(
                    "an acknowledged registration survives",
                    format!("{:?} is gone", String::from_utf8_lossy(&a)),
                ),
                Some(rec) if rec.version < version => self.violate(
                    "an acknowledged registration survives",
                    format!(
                        "{:?} is at version {}, older than the acknowledged {version}",
                        String::from_utf8_lossy(&a),
                        rec.version
                    ),
                ),
                Some(_) => {}
            }
        }
        self.forensic_check(true);
    }
}

/// A short name of a reply, for the schedule.
pub(super) fn reply_kind(r: &Reply) -> String {
    match &r.body {
        None => "no reply".to_owned(),
        Some(reply::Body::RegistrationResponse(_)) => "RegistrationResponse".to_owned(),
        Some(reply::Body::Registered(v)) => format!("Registered (version {v})"),
        Some(reply::Body::Ke2(_)) => "KE2".to_owned(),
        Some(reply::Body::Released(_)) => "Released".to_owned(),
        Some(reply::Body::LoginFailed(_)) => "LoginFailed".to_owned(),
        Some(reply::Body::Deleted(_)) => "Deleted".to_owned(),
        Some(reply::Body::Status(_)) => "Status".to_owned(),
        Some(reply::Body::PasskeyChallenge(_)) => "PasskeyChallenge".to_owned(),
        Some(reply::Body::PasskeysChanged(v)) => format!("PasskeysChanged (version {v})"),
        Some(reply::Body::ServerPart(_)) => "ServerPart".to_owned(),
        Some(reply::Body::Error(e)) => {
            format!("refused: {:?}", ErrorCode::try_from(e.code).unwrap_or(ErrorCode::Unspecified))
        }
    }
}
