//! Target `fleet_schedule` (design §5, §5.1): short fault schedules on a
//! five-site fleet, with the relay replaying and editing the owner's
//! registrations it captured.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prost::Message;

use crate::key::BackupKey;
use crate::vault::KsfProfile;
use crate::vault::client::{self, Owner};
use crate::vault::wire::{self, Reply, Request, reply};

use super::input::FuzzRng;
use super::vault::{
    ACCOUNT, JUNK_KE3, LoginEnd, OWNER_KEY, PASSWORDS, body_name, login_finish_request, server_setup, site_config,
    test_client,
};

/// One step of [`fleet_schedule`]: two bytes, an opcode (mod 10) and an argument.
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
    /// The relay delivers again the registration captured `arg % 4` before the last.
    ReplayCaptured(u8),
    /// The relay flips a bit of a captured registration (argument: bits 0–1
    /// which one, bits 2–7 which bit) and delivers it.
    EditCaptured(u8),
}

impl FleetOp {
    fn decode(op: u8, arg: u8) -> Self {
        match op % 10 {
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
            7 => Self::Reregister(arg & 1),
            8 => Self::ReplayCaptured(arg % 4),
            _ => Self::EditCaptured(arg),
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
            Self::ReplayCaptured(b) => [8, b % 4],
            Self::EditCaptured(e) => [9, e],
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
/// every site's record stays within its limit; a registration the relay
/// replays after it was acknowledged is refused, and one it edits is never
/// acknowledged; and at the end, with every site up and the network healed,
/// the acknowledged registration is still there (when a leader can be
/// elected within ten seconds).
pub fn fleet_schedule(data: &[u8]) {
    use crate::vault::fleet::{Fleet, FleetOptions};
    let input = FleetInput::read(data);
    let limit = 2 + u32::from(input.limit % 3);
    let dir = TempDir::new();
    let options = FleetOptions {
        heartbeat_ms: 15,
        commit_timeout: Duration::from_millis(600),
        seed: 7,
        ..FleetOptions::new(site_config(limit))
    };
    let mut fleet = match Fleet::start(&dir.0, server_setup(b"e2eb fuzz fleet setup"), options) {
        Ok(f) => f,
        Err(e) => panic!("the fleet did not start: {e}"),
    };
    let mut rng = FuzzRng::new(b"e2eb fuzz fleet client");
    let owner = BackupKey::from_bytes(OWNER_KEY);
    let client = test_client(ACCOUNT, &fleet.fleet_key());
    let patience = Duration::from_secs(3);
    let mut password = 0usize;
    // Registrations as sent (the relay captures them), and whether each was acknowledged.
    let mut captured: Vec<(Request, usize, bool)> = Vec::new();
    let register = |fleet: &mut Fleet,
                    rng: &mut FuzzRng,
                    captured: &mut Vec<(Request, usize, bool)>,
                    pw: usize,
                    first: bool,
                    patience: Duration| {
        let version = if first {
            0
        } else {
            let r = fleet.submit(client.status_request(&owner), patience);
            client::status(&r).ok()?.version
        };
        let (reg, req) = client.register_start(rng, PASSWORDS[pw]).ok()?;
        let r = fleet.submit(req, patience);
        let auth = if first { Owner::First } else { Owner::Current { key: &owner, version } };
        let upload = reg.finish(rng, PASSWORDS[pw], &r, &owner, KsfProfile::Test, auth).ok()?;
        let acked = client::registered(&fleet.submit(upload.clone(), patience)).ok();
        captured.push((upload, pw, acked.is_some()));
        acked
    };
    let Some(mut acked) = register(&mut fleet, &mut rng, &mut captured, 0, true, Duration::from_secs(10)) else {
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
                    let login_id = k.login_id.clone();
                    let finish = match end {
                        LoginEnd::Abandon => None,
                        LoginEnd::BadKe3 => Some(login_finish_request(ACCOUNT, &login_id, &JUNK_KE3)),
                        LoginEnd::Complete => login.finish(&mut rng, pw, &r).ok().map(|(_, req)| req),
                    };
                    if let Some(req) = finish {
                        replies.push(fleet.submit(req, patience));
                    }
                }
            }
            FleetOp::Reregister(p) => {
                let next = usize::from(p & 1);
                if let Some(v) = register(&mut fleet, &mut rng, &mut captured, next, false, patience) {
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
            FleetOp::ReplayCaptured(back) => {
                if let Some((req, pw, was_acked)) = captured.iter().rev().nth(usize::from(back)).cloned() {
                    let r = fleet.submit(req, patience);
                    match &r.body {
                        Some(reply::Body::Registered(v)) => {
                            // Only a registration that never took effect may do so now, once.
                            assert!(!was_acked, "a replayed registration that was acknowledged applied again");
                            if let Some(c) = captured.iter_mut().rev().nth(usize::from(back)) {
                                c.2 = true;
                            }
                            acked = *v;
                            password = pw;
                            ke2 = 0;
                            counting = true;
                            locked = false;
                        }
                        Some(reply::Body::Error(_)) => counting = false,
                        other => panic!("a replayed registration was answered {other:?}"),
                    }
                }
            }
            FleetOp::EditCaptured(edit) => {
                if let Some((req, _, _)) = captured.iter().rev().nth(usize::from(edit % 4)).cloned() {
                    let mut bytes = req.encode_to_vec();
                    let at = (usize::from(edit >> 2) * 7919) % bytes.len().max(1);
                    if let Some(b) = bytes.get_mut(at) {
                        *b ^= 1 << (edit % 8);
                    }
                    if let Ok(edited) = wire::decode_request(&bytes)
                        && edited != req
                    {
                        let r = fleet.submit(edited, patience);
                        assert!(
                            matches!(r.body, Some(reply::Body::Error(_))),
                            "an edited registration was answered {}",
                            body_name(&r)
                        );
                    }
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
