//! How long operations report what they are doing (design §2): the library
//! says *what* happens through [`Progress`]; the binary decides how it is
//! drawn (`src/bin/e2eb/progress.rs`: bars on a terminal). Library code never
//! builds a progress bar itself, and [`Quiet`] serves tests and callers that
//! want nothing shown.

/// What a task counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unit {
    /// Steps (properties, targets, runs, benchmarks).
    Steps,
    /// Bytes of a file.
    Bytes,
    /// Seconds of a fixed time budget.
    Seconds,
}

/// Where a long operation reports its progress.
pub trait Progress: Sync {
    /// Starts a task named `name` of `total` units (`None`: a counter of
    /// unknown length). It is finished when the returned handle is dropped.
    fn task(&self, name: &str, total: Option<u64>, unit: Unit) -> Box<dyn Task + '_>;
    /// Prints a line above any running tasks (a failure, a crash).
    fn println(&self, line: &str);
}

/// One running task of a [`Progress`].
pub trait Task: Send + Sync {
    /// What the task is doing now.
    fn set_message(&self, message: &str);
    /// Where the task is, in its units.
    fn set_position(&self, position: u64);
    /// Advances by `n` units.
    fn inc(&self, n: u64);
}

/// Shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn task(&self, _name: &str, _total: Option<u64>, _unit: Unit) -> Box<dyn Task + '_> {
        Box::new(Quiet)
    }
    fn println(&self, _line: &str) {}
}

impl Task for Quiet {
    fn set_message(&self, _message: &str) {}
    fn set_position(&self, _position: u64) {}
    fn inc(&self, _n: u64) {}
}
