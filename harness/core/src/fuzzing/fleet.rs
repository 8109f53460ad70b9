//! Target `fleet_schedule` (design §5): short fault schedules on a
//! five-site fleet.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::key::BackupKey;
use crate::vault::KsfProfile;
use crate::vault::client::{self, VaultClient};
use crate::vault::wire::{Reply, reply};

use super::input::FuzzRng;
use super::vault::{ACCOUNT, JUNK_KE3, LoginEnd, OWNER_KEY, PASSWORDS, body_name, login_finish_request, server_setup};

/// One step of [`fleet_schedule`]: two bytes, an opcode (mod 8) and an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetOp {
    /// A login (argument: bit 0 right password, bits 1–2 end mod 3).
    Login {
        /// Use the registered password.
        right: bool,
        /// How it ends.
        end: LoginEnd,
    },
    /// Crash a site (argument mod 5).
    Crash(u8),
    /// Restart a site (argument mod 5).
    Restart(u8),
    /// Partition: sites whose bit is set in the argument against the others.
    Partition(u8),
    /// Remove every partition.
    Heal,
    /// Copy a site's disk (argument mod 5), for a later rollback.
    CopyDisk(u8),
    /// Restart a site from its older copy (argument mod 5), if one was taken.
    Rollback(u8),
    /// The owner registers again (resets the count), argument: new password bit.
    Reregister(u8),
}

impl FleetOp {
    fn decode(op: u8, arg: u8) -> Self {
        match op % 8 {
            0 => Self::Login {
                right: arg & 1 != 0,
                end: match (arg >> 1) % 4 % 3 {
                    0 => LoginEnd::Complete,
                    1 => LoginEnd::Abandon,
                    _ => LoginEnd::BadKe3,
                },
            },
            1 => Self::Crash(arg % 5),
            2 => Self::Restart(arg % 5),
            3 => Self::Partition(arg & 0x1f),
            4 => Self::Heal,
            5 => Self::CopyDisk(arg % 5),
            6 => Self::Rollback(arg % 5),
            _ => Self::Reregister(arg & 1),
        }
    }

    fn encode(&self) -> [u8; 2] {
        match *self {
            Self::Login { right, end } => {
                let e = match end {
                    LoginEnd::Complete => 0,
                    LoginEnd::Abandon => 1,
                    LoginEnd::BadKe3 => 2,
                };
                [0, u8::from(right) | (e << 1)]
            }
            Self::Crash(s) => [1, s % 5],
            Self::Restart(s) => [2, s % 5],
            Self::Partition(m) => [3, m & 0x1f],
            Self::Heal => [4, 0],
            Self::CopyDisk(s) => [5, s % 5],
            Self::Rollback(s) => [6, s % 5],
            Self::Reregister(p) => [7, p & 1],
        }
    }
}

/// Steps per [`fleet_schedule`] input at most (a fleet costs about 100 ms to start).
pub const MAX_FLEET_OPS: usize = 8;

/// The input of [`fleet_schedule`]: a limit byte (`2 + limit % 3`), then
/// steps of two bytes each (at most [`MAX_FLEET_OPS`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FleetInput {
    /// Attempt limit is `2 + limit % 3`.
    pub limit: u8,
    /// The steps.
    pub ops: Vec<FleetOp>,
}

impl FleetInput {
    pub(super) fn read(data: &[u8]) -> Self {
        let Some((&limit, rest)) = data.split_first() else { return Self::default() };
        let ops = rest.chunks_exact(2).take(MAX_FLEET_OPS).map(|p| FleetOp::decode(p[0], p[1])).collect();
        Self { limit, ops }
    }

    /// The bytes that decode to this input.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![self.limit];
        for op in &self.ops {
            v.extend_from_slice(&op.encode());
        }
        v
    }
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("e2eb-fuzz-fleet-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        if let Err(e) = std::fs::create_dir_all(&path) {
            panic!("cannot create {}: {e}", path.display());
        }
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Target `fleet_schedule`: a five-site [`crate::vault::fleet::Fleet`]
/// (durable redb disks in a temporary directory, HSM counter on, KSF
/// profile `test`) registers one account, then plays a [`FleetInput`] of
/// logins, re-registrations, crashes, restarts, partitions, disk copies and
/// rollbacks to an older disk. Asserted (design §5): no more KE2
/// answers for the record between two resets than the limit (resets the
/// client could not observe are read back from the fleet; when no leader
/// can confirm a read, counting pauses until the next observed reset); a
/// locked record answers no login until the owner registers again; no
/// KE2, release or registration while no site group holds a majority;
/// every site's record stays within its limit; and at the end, with every
/// site up and the network healed, the acknowledged registration is still
/// there (when a leader can be elected within ten seconds).
pub fn fleet_schedule(data: &[u8]) {
    use crate::vault::fleet::{Fleet, FleetOptions};
    let input = FleetInput::read(data);
    let limit = 2 + u32::from(input.limit % 3);
    let dir = TempDir::new();
    let options = FleetOptions {
        limit,
        default_profile: KsfProfile::Test,
        heartbeat_ms: 15,
        commit_timeout: Duration::from_millis(600),
        seed: 7,
        ..Default::default()
    };
    let mut fleet = match Fleet::start(&dir.0, server_setup(b"e2eb fuzz fleet setup"), options) {
        Ok(f) => f,
        Err(e) => panic!("the fleet did not start: {e}"),
    };
    let mut rng = FuzzRng::new(b"e2eb fuzz fleet client");
    let owner = BackupKey::from_bytes(OWNER_KEY);
    let client = VaultClient::new(ACCOUNT, &fleet.public_key());
    let patience = Duration::from_secs(3);
    let mut password = 0usize;
    let register = |fleet: &mut Fleet, rng: &mut FuzzRng, pw: &[u8], token: bool, patience: Duration| -> Option<u64> {
        let (reg, req) = client.register_start(rng, pw).ok()?;
        let r = fleet.submit(req, patience);
        let upload = reg.finish(rng, pw, &r, &owner, KsfProfile::Test, token.then_some(&owner)).ok()?;
        client::registered(&fleet.submit(upload, patience)).ok()
    };
    let Some(mut acked) = register(&mut fleet, &mut rng, PASSWORDS[0], false, Duration::from_secs(10)) else {
        // No leader within the patience on a loaded machine: nothing to check.
        return;
    };
    let mut ke2 = 0u32;
    let mut counting = true;
    let mut locked = false;
    let mut group = 0u8; // partition mask; 0 = healed
    let mut copies: [Option<std::path::PathBuf>; 5] = Default::default();
    for op in &input.ops {
        let up = fleet.up_sites();
        let in_mask = |i: usize| group & (1 << i) != 0;
        let side_a = up.iter().filter(|&&i| in_mask(i)).count();
        let majority = (up.len() - side_a).max(side_a) >= 3;
        let patience = if majority { patience } else { Duration::from_millis(300) };
        let mut replies: Vec<Reply> = Vec::new();
        match *op {
            FleetOp::Login { right, end } => {
                let pw = PASSWORDS[if right { password } else { 2 }];
                let Ok((login, req)) = client.login_start(&mut rng, pw) else { panic!("client login start failed") };
                let r = fleet.submit(req, patience);
                replies.push(r.clone());
                if let Some(reply::Body::Ke2(k)) = &r.body {
                    let login_id = k.login_id;
                    let finish = match end {
                        LoginEnd::Abandon => None,
                        LoginEnd::BadKe3 => Some(login_finish_request(ACCOUNT, login_id, &JUNK_KE3)),
                        LoginEnd::Complete => login.finish(&mut rng, pw, &r).ok().map(|(_, req)| req),
                    };
                    if let Some(req) = finish {
                        replies.push(fleet.submit(req, patience));
                    }
                }
            }
            FleetOp::Reregister(p) => {
                let next = usize::from(p & 1);
                if let Some(v) = register(&mut fleet, &mut rng, PASSWORDS[next], true, patience) {
                    assert!(majority, "a registration was acknowledged without a majority");
                    acked = v;
                    password = next;
                    ke2 = 0;
                    counting = true;
                    locked = false;
                } else {
                    // It may have committed (a lost answer): learn the lock from the fleet.
                    counting = false;
                    locked = matches!(fleet.linearizable_record(ACCOUNT), Some(Some(r)) if r.locked);
                }
            }
            FleetOp::Crash(s) => fleet.crash(usize::from(s)),
            FleetOp::Restart(s) => {
                if let Err(e) = fleet.restart(usize::from(s)) {
                    panic!("site {s} did not restart: {e}");
                }
            }
            FleetOp::Partition(mask) => {
                group = mask;
                let a: Vec<usize> = (0..5).filter(|&i| mask & (1 << i) != 0).collect();
                let b: Vec<usize> = (0..5).filter(|&i| mask & (1 << i) == 0).collect();
                fleet.partition(&[a, b]);
            }
            FleetOp::Heal => {
                group = 0;
                fleet.heal();
            }
            FleetOp::CopyDisk(s) => {
                if let Ok(p) = fleet.copy_disk(usize::from(s)) {
                    copies[usize::from(s)] = Some(p);
                }
            }
            FleetOp::Rollback(s) => {
                if let Some(p) = copies[usize::from(s)].clone()
                    && let Err(e) = fleet.restart_from_copy(usize::from(s), &p)
                {
                    panic!("site {s} did not restart from its old disk: {e}");
                }
            }
        }
        for r in &replies {
            match &r.body {
                Some(reply::Body::Ke2(_)) => {
                    assert!(!locked, "a locked record answered a login with KE2");
                    ke2 += 1;
                }
                Some(reply::Body::Released(_)) => {
                    assert!(!locked, "a locked record released its key");
                    ke2 = 0;
                    counting = true;
                }
                Some(reply::Body::Locked(_)) => locked = true,
                Some(reply::Body::Error(_)) => {
                    // A KE3 whose answer was lost may have reset the count.
                    counting = false;
                }
                _ => {}
            }
            if !majority {
                assert!(
                    !matches!(r.body, Some(reply::Body::Ke2(_) | reply::Body::Released(_))),
                    "the fleet answered {} without a majority",
                    body_name(r)
                );
            }
        }
        if !counting && let Some(Some(rec)) = fleet.linearizable_record(ACCOUNT) {
            ke2 = rec.charged_since_reset;
            counting = true;
        }
        if counting {
            assert!(ke2 <= limit, "{ke2} KE2 answers between resets, limit {limit} ({op:?})");
        }
        for i in fleet.up_sites() {
            if let Some(r) = fleet.record(i, ACCOUNT) {
                assert!(r.charged_since_reset <= r.limit, "site {i}: {} charges since reset", r.charged_since_reset);
            }
        }
    }
    fleet.heal();
    for i in 0..fleet.len() {
        if let Err(e) = fleet.restart(i) {
            panic!("site {i} did not restart: {e}");
        }
    }
    if fleet.wait_for_leader(Duration::from_secs(10)).is_some() {
        let start = std::time::Instant::now();
        let mut read = fleet.linearizable_record(ACCOUNT);
        while read.is_none() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
            read = fleet.linearizable_record(ACCOUNT);
        }
        if let Some(rec) = read {
            let Some(rec) = rec else { panic!("an acknowledged registration (version {acked}) was lost") };
            assert!(rec.version >= acked, "the record went back from version {acked} to {}", rec.version);
        }
    }
    fleet.shutdown();
}
