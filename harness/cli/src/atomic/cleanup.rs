//! What is left when a process stops in the middle of writing: a named
//! temporary file (where there is no `O_TMPFILE`) is removed on SIGINT,
//! SIGTERM and SIGHUP before the process exits, and one left by a process
//! that died anyway (SIGKILL, a crash, a power loss) is swept by the next
//! run writing into the same directory. Our names say whose they are:
//! `.e2eb-PID-XXXXXX.tmp`, so a live process's file is never touched.

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

fn pending() -> MutexGuard<'static, Vec<PathBuf>> {
    PENDING.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A temporary file that a signal must remove; dropping it unregisters.
#[derive(Debug)]
pub(super) struct Registered(PathBuf);

impl Registered {
    pub(super) fn new(path: PathBuf) -> Self {
        // ctrlc runs the handler on its own thread, so taking the lock and
        // removing files there is safe (unlike in a raw signal handler).
        HANDLER.call_once(|| {
            let _ = ctrlc::set_handler(on_signal);
        });
        pending().push(path.clone());
        Self(path)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        pending().retain(|p| p != &self.0);
    }
}

fn on_signal() {
    for p in pending().drain(..) {
        let _ = std::fs::remove_file(p);
    }
    eprintln!("e2eb: interrupted; the output was not written");
    std::process::exit(130);
}

/// Removes our temporary files in `dir` whose process is gone. Without a
/// `/proc` to ask, nothing is removed.
pub(super) fn sweep(dir: &Path) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let me = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(owner_pid) else { continue };
        if pid != me && !proc.join(pid.to_string()).exists() && entry.file_type().is_ok_and(|t| t.is_file()) {
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
