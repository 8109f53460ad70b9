//! What is left when a process stops in the middle of writing.
//!
//! - A named temporary file (where there is no `O_TMPFILE`, and the moment
//!   between linking a finished file under a hidden name and renaming it
//!   over an existing target) is registered before it gets its name and
//!   removed on SIGINT, SIGTERM and SIGHUP before the process exits (130).
//!   The handler is installed before the first temporary exists. It replaces
//!   an inherited "ignore" too (`nohup`, a script's background job): such a
//!   run stops on those signals, cleanly, instead of ignoring them. Keeping
//!   ignored signals ignored needs a handler per signal, which the `ctrlc`
//!   crate does not offer; cleaning up was preferred.
//! - Each named temporary is held under an exclusive `flock` by its writer
//!   from the moment it exists. One left by a process that died anyway
//!   (SIGKILL, a crash, a power loss) has no lock holder any more: the next
//!   run writing into the same directory takes the lock and removes it. A
//!   live writer's file, in another pid namespace or on another NFS client,
//!   stays locked and is never touched; the pid in the name is for people.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once};

/// Every temporary name starts with this, then the process id and a dash.
pub(super) const PREFIX: &str = ".e2eb-";
/// And ends with this.
pub(super) const SUFFIX: &str = ".tmp";

/// This process's prefix: `.e2eb-PID-`.
pub(super) fn prefix() -> String {
    format!("{PREFIX}{}-", std::process::id())
}

static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static HANDLER: Once = Once::new();

/// The registry of temporary names; holding the guard keeps the signal
/// handler from running its removal in between (link, rename, unregister
/// happen under one guard).
pub(super) fn pending() -> MutexGuard<'static, Vec<PathBuf>> {
    PENDING.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Installs the signal handler once. ctrlc runs the handler on its own
/// thread, so taking the lock and removing files there is safe (unlike in a
/// raw signal handler).
pub(super) fn install() {
    HANDLER.call_once(|| {
        if let Err(e) = ctrlc::set_handler(on_signal) {
            let _ = writeln!(std::io::stderr(), "e2eb: warning: no cleanup on signals: {e}");
        }
    });
}

/// A temporary file that a signal must remove; dropping it unregisters.
#[derive(Debug)]
pub(super) struct Registered(Option<PathBuf>);

impl Registered {
    /// Registers `path` (call before the file gets that name).
    pub(super) fn new(path: PathBuf) -> Self {
        Self::new_locked(&mut pending(), path)
    }

    /// Registers `path` under a guard the caller already holds.
    pub(super) fn new_locked(list: &mut Vec<PathBuf>, path: PathBuf) -> Self {
        install();
        list.push(path.clone());
        Self(Some(path))
    }

    /// Unregisters under a guard the caller already holds.
    pub(super) fn forget_locked(mut self, list: &mut Vec<PathBuf>) {
        if let Some(path) = self.0.take() {
            remove(list, &path);
        }
    }
}

fn remove(list: &mut Vec<PathBuf>, path: &Path) {
    if let Some(i) = list.iter().position(|p| p == path) {
        list.swap_remove(i);
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            remove(&mut pending(), &path);
        }
    }
}

fn on_signal() {
    let removed: Vec<PathBuf> = pending().drain(..).collect();
    for p in &removed {
        let _ = std::fs::remove_file(p);
    }
    // A broken stderr must not keep the process from exiting.
    if !removed.is_empty() {
        let _ = writeln!(std::io::stderr(), "e2eb: interrupted; the unfinished output was removed");
    }
    std::process::exit(130);
}

/// Removes our temporary files in `dir` that no live writer holds: each is
/// locked by its writer while it exists, so a lock we can take belongs to a
/// writer that is gone. Empty files are left alone (they hold no data, and
/// a writer locks its file right after creating it, before writing).
pub(super) fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_str().and_then(owner_pid).is_none() {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || meta.len() == 0 {
            continue;
        }
        let Ok(file) = File::open(entry.path()) else { continue };
        if file.try_lock().is_ok() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The process id in one of our temporary names.
fn owner_pid(name: &str) -> Option<u32> {
    let (pid, _) = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?.split_once('-')?;
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::owner_pid;

    #[test]
    fn only_our_names_have_an_owner() {
        assert_eq!(owner_pid(".e2eb-123-AbC9x.tmp"), Some(123));
        assert_eq!(owner_pid(".e2eb-123-0.tmp"), Some(123));
        assert_eq!(owner_pid(".e2eb-AbC9x.tmp"), None, "an old name without a pid");
        assert_eq!(owner_pid(".e2eb-123-x.tmpx"), None);
        assert_eq!(owner_pid("e2eb-123-x.tmp"), None);
        assert_eq!(owner_pid(".e2eb-12a-x.tmp"), None);
    }
}
