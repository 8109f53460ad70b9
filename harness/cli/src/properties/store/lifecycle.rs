//! `store_never_loses_the_last_durable_backup` (design §7): it defends
//! against a lost upload. Two devices of one account interleave the steps
//! of their uploads (stage, commit, retire, abandon, and crashes that drop
//! a staged or committed upload before its next step), a collector runs
//! with a random grace on the logical clock, the clock advances, and the
//! backend fails chosen puts, multipart parts, completions and deletes.
//! After every step an observer checks the store against a model holding
//! the bytes of the last upload whose commit succeeded: the manifest names
//! an object that exists and restores to exactly those bytes, and no upload
//! that did not commit (a Conflict loser, a stale or failed commit, an
//! abandoned or crashed stage) ever becomes current.

use std::sync::Arc;

use e2eb_core::store::{Backend, BackupFormat, BackupStore, Committed, Staged, UploadError};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

use super::backend::{Fault, Faulty};
use super::{ACCOUNT, Logical, ROOMY, config, content, new_backup, open, restored, scheme_strategy, size_strategy, tc};
use crate::properties::done;

#[derive(Debug, Clone)]
enum LifeStep {
    /// Device `dev` stages a new backup (crashing whatever it held).
    Stage { dev: usize, size: usize, seed: u64, fault: Option<Fault> },
    /// Device `dev` commits what it staged; `fault`: the manifest write fails.
    Commit { dev: usize, fault: bool },
    /// Device `dev` deletes its previous backup; `fault`: that delete fails.
    Retire { dev: usize, fault: bool },
    /// Device `dev` gives up on what it staged.
    Abandon { dev: usize },
    /// Device `dev` is killed: what it held is dropped without a next step.
    Crash { dev: usize },
    /// A collector with the devices' grace plus `extra` runs; the
    /// `fault`-th delete fails.
    Gc { extra_per_mille: u64, fault: Option<u8> },
    /// The clock moves on by this fraction of the grace.
    Advance { per_mille: u64 },
}

fn stage_fault_strategy() -> impl Strategy<Value = Option<Fault>> {
    prop_oneof![
        4 => Just(None),
        1 => Just(Some(Fault::Put(0))),
        1 => (0u8..2).prop_map(|n| Some(Fault::Part(n))),
        1 => Just(Some(Fault::Complete)),
    ]
}

fn life_step_strategy() -> impl Strategy<Value = LifeStep> {
    // Device 0 busier than device 1, so device 1's upload often stays
    // staged while device 0 commits several times and collection runs.
    let dev = prop_oneof![3 => Just(0usize), 1 => Just(1usize)];
    prop_oneof![
        4 => (dev.clone(), size_strategy(), any::<u64>(), stage_fault_strategy())
            .prop_map(|(dev, size, seed, fault)| LifeStep::Stage { dev, size, seed, fault }),
        5 => (dev.clone(), prop::bool::weighted(0.15)).prop_map(|(dev, fault)| LifeStep::Commit { dev, fault }),
        2 => (dev.clone(), prop::bool::weighted(0.2)).prop_map(|(dev, fault)| LifeStep::Retire { dev, fault }),
        1 => dev.clone().prop_map(|dev| LifeStep::Abandon { dev }),
        1 => dev.prop_map(|dev| LifeStep::Crash { dev }),
        3 => (0u64..=1000, prop::option::weighted(0.2, 0u8..3))
            .prop_map(|(extra_per_mille, fault)| LifeStep::Gc { extra_per_mille, fault }),
        // Mostly short moves, sometimes past half the grace (a stale commit)
        // or past all of it (collection of leftovers).
        2 => prop_oneof![3 => 0u64..=200, 1 => 0u64..=1200].prop_map(|per_mille| LifeStep::Advance { per_mille }),
    ]
}

/// What one device holds between steps.
enum Slot<'s> {
    Idle,
    Staged(Staged<'s>, Vec<u8>),
    Committed(Committed<'s>),
}

/// The model: the last committed upload, and the objects that must never be current.
#[derive(Default)]
struct LifeModel {
    /// Object name and bytes of the last upload whose commit returned Ok.
    committed: Option<(String, Vec<u8>)>,
    /// Objects of uploads that did not commit.
    never_current: Vec<String>,
}

pub(in crate::properties) fn store_never_loses_the_last_durable_backup(runner: &mut TestRunner) -> Result<(), String> {
    done(
        runner.run(
            &(scheme_strategy(), 1_000u64..100_000, vec(life_step_strategy(), 1..48)),
            |(scheme, grace, steps)| run_life(scheme, grace, &steps),
        ),
    )
}

/// Runs `steps` on two devices (two phones of the same account) with the
/// collection grace `grace`, and has an observer check the store against
/// the model after every step.
fn run_life(scheme: Backend, grace: u64, steps: &[LifeStep]) -> Result<(), TestCaseError> {
    let clock = Logical::new();
    let faulty = Faulty::new();
    let devices =
        [open(&faulty, scheme, config(&clock, grace, ROOMY))?, open(&faulty, scheme, config(&clock, grace, ROOMY))?];
    let observer = open(&faulty, scheme, config(&clock, grace, ROOMY))?;
    let mut slots: [Slot<'_>; 2] = [Slot::Idle, Slot::Idle];
    let mut model = LifeModel::default();
    for (i, step) in steps.iter().enumerate() {
        life_step(step, &devices, &mut slots, &mut model, &faulty, &clock, scheme, grace)
            .map_err(|e| tc(format!("step {i} {step:?}: {}", e)))?;
        check_durable(&observer, &model).map_err(|e| tc(format!("after step {i} {step:?}: {}", e)))?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn life_step<'s>(
    step: &LifeStep,
    devices: &'s [BackupStore; 2],
    slots: &mut [Slot<'s>; 2],
    model: &mut LifeModel,
    faulty: &Arc<Faulty>,
    clock: &Logical,
    scheme: Backend,
    grace: u64,
) -> Result<(), TestCaseError> {
    match *step {
        LifeStep::Stage { dev, size, seed, fault } => {
            crash(&mut slots[dev], model);
            let bytes = content(seed, size);
            faulty.arm(fault);
            let got =
                devices[dev].stage(ACCOUNT, &new_backup(BackupFormat::V2, size, false), &mut &bytes[..], &mut |_| {});
            let fired = faulty.disarm();
            match got {
                Ok(staged) => {
                    // Fails if a failed write were reported as staged (the
                    // commit would then name an object that is not there).
                    prop_assert!(!fired, "the backend failed a write but stage succeeded");
                    slots[dev] = Slot::Staged(staged, bytes);
                }
                Err(UploadError::Store(_)) if fired => {}
                Err(e) => return Err(tc(format!("stage failed without an injected fault: {e}"))),
            }
        }
        LifeStep::Commit { dev, fault } => {
            let Slot::Staged(staged, bytes) = std::mem::replace(&mut slots[dev], Slot::Idle) else { return Ok(()) };
            let object = staged.entry().object.clone();
            faulty.arm(fault.then_some(Fault::Put(0)));
            let got = staged.commit();
            let fired = faulty.disarm();
            match got {
                Ok(committed) => {
                    prop_assert!(!fired, "the manifest write failed but commit succeeded");
                    prop_assert_eq!(&committed.manifest().current.object, &object);
                    model.committed = Some((object, bytes));
                    slots[dev] = Slot::Committed(committed);
                }
                Err(UploadError::Conflict { .. } | UploadError::Stale { .. }) => model.never_current.push(object),
                Err(UploadError::Store(_)) if fired => model.never_current.push(object),
                Err(e) => return Err(tc(format!("commit failed without an injected fault: {e}"))),
            }
        }
        LifeStep::Retire { dev, fault } => {
            let Slot::Committed(committed) = std::mem::replace(&mut slots[dev], Slot::Idle) else { return Ok(()) };
            faulty.arm(fault.then_some(Fault::Delete(0)));
            let retired = committed.retire();
            let fired = faulty.disarm();
            // A failed delete of the previous backup is a leftover, not a failed upload.
            prop_assert_eq!(retired.left_over.is_some(), fired, "left_over must report exactly the failed delete");
        }
        LifeStep::Abandon { dev } => {
            if let Slot::Staged(staged, _) = std::mem::replace(&mut slots[dev], Slot::Idle) {
                model.never_current.push(staged.entry().object.clone());
                staged.abandon();
            }
        }
        LifeStep::Crash { dev } => crash(&mut slots[dev], model),
        LifeStep::Gc { extra_per_mille, fault } => {
            // Another process collecting, with at least the devices' grace.
            let collector = open(faulty, scheme, config(clock, grace + grace * extra_per_mille / 1000, ROOMY))?;
            faulty.arm(fault.map(Fault::Delete));
            let got = collector.gc(ACCOUNT);
            let fired = faulty.disarm();
            if let Err(e) = got {
                prop_assert!(fired, "gc failed without an injected fault: {}", e);
            }
        }
        LifeStep::Advance { per_mille } => clock.advance(grace * per_mille / 1000),
    }
    Ok(())
}

/// Drops what a device held, as a killed process would.
fn crash(slot: &mut Slot<'_>, model: &mut LifeModel) {
    if let Slot::Staged(staged, _) = std::mem::replace(slot, Slot::Idle) {
        model.never_current.push(staged.entry().object.clone());
    }
}

fn check_durable(observer: &BackupStore, model: &LifeModel) -> Result<(), TestCaseError> {
    let manifest = observer.manifest(ACCOUNT).map_err(tc)?;
    let Some((object, bytes)) = &model.committed else {
        // Fails if a stage or a failed commit made a backup current.
        prop_assert!(manifest.is_none(), "no commit succeeded, yet the manifest names {:?}", manifest);
        return Ok(());
    };
    let Some(m) = manifest else { return Err(tc("a commit succeeded but the account has no manifest")) };
    // Fails if a Conflict loser or a stale upload overwrote the manifest.
    prop_assert!(
        !model.never_current.contains(&m.current.object),
        "the manifest names {}, an upload that did not commit",
        m.current.object
    );
    prop_assert_eq!(&m.current.object, object, "the manifest does not name the last committed upload");
    // Fails if retire, gc or a loser's cleanup deleted the current object.
    match restored(observer, ACCOUNT) {
        Ok(got) => prop_assert!(got == *bytes, "the current backup restores to other bytes"),
        Err(e) => return Err(tc(format!("the last committed backup does not restore: {e}"))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortest case `store_never_loses_the_last_durable_backup` found
    /// on the versioned-manifest scheme of local directories: device 1
    /// stages on generation 1; device 0 commits generations 2 and 3;
    /// collection deletes generations 1 and 2; device 1's commit then
    /// *creates* generation 2 again, which succeeds, so it is told its
    /// upload is current while generation 3 is — an upload reported as
    /// committed and then lost.
    #[test]
    fn a_commit_based_on_a_collected_manifest_generation_is_not_lost() {
        use LifeStep::*;
        let stage = |dev| Stage { dev, size: 10, seed: dev as u64, fault: None };
        let steps = [
            stage(0),
            Commit { dev: 0, fault: false },
            stage(1),
            stage(0),
            Commit { dev: 0, fault: false },
            stage(0),
            Commit { dev: 0, fault: false },
            Gc { extra_per_mille: 0, fault: None },
            Commit { dev: 1, fault: false },
        ];
        for scheme in [Backend::Memory, Backend::Local] {
            if let Err(e) = run_life(scheme, 10_000, &steps) {
                panic!("{scheme:?}: {e}");
            }
        }
    }
}
