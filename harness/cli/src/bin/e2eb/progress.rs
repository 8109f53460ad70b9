//! The one progress-bar factory (design §2): the binary's drawing of the
//! library's [`Progress`]. On a terminal every task is an indicatif bar (or a
//! spinner for a count of unknown length) in one `MultiProgress`; otherwise
//! each step of a task (a new message) is one line with the time since the
//! task began, so a CI log shows where a long run is.
//!
//! Both write to a duplicate of standard error taken at startup, not to
//! descriptor 2 itself: while the benchmark suite runs in process, the
//! library points descriptors 1 and 2 at log files (criterion prints there),
//! and the progress must stay visible through that.

use std::fs::File;
use std::io::{IsTerminal, Write as _};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use e2eb::progress::{Progress, Task, Unit};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where progress goes: bars on a terminal, lines otherwise.
pub(crate) struct Bars {
    /// `None` on a terminal (the bars draw themselves).
    lines: Option<Mutex<Console>>,
    multi: MultiProgress,
}

/// The duplicate of standard error (or, when it cannot be made, standard
/// error itself).
enum Console {
    Dup(File),
    Stderr,
}

impl Console {
    fn open() -> Self {
        match nix::unistd::dup(std::io::stderr()) {
            Ok(fd) => Self::Dup(File::from(fd)),
            Err(_) => Self::Stderr,
        }
    }

    fn line(&mut self, line: &str) {
        // Progress is a courtesy: a closed stderr must not stop the work.
        let _ = match self {
            Self::Dup(f) => writeln!(f, "{line}"),
            Self::Stderr => writeln!(std::io::stderr(), "{line}"),
        };
    }
}

impl Bars {
    /// Bars when standard error is a terminal; lines otherwise.
    pub(crate) fn stderr() -> Self {
        if !std::io::stderr().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
            return Self { lines: Some(Mutex::new(Console::open())), multi };
        }
        let target = match (Console::open(), File::open("/dev/null")) {
            (Console::Dup(write), Ok(read)) => {
                ProgressDrawTarget::term(console::Term::read_write_pair(read, write), 20)
            }
            _ => ProgressDrawTarget::stderr(),
        };
        Self { lines: None, multi: MultiProgress::with_draw_target(target) }
    }
}

fn style(total: Option<u64>, unit: Unit) -> ProgressStyle {
    let template = match (total, unit) {
        (None, _) => "{spinner} {prefix} {pos} {elapsed} {wide_msg}",
        (Some(_), Unit::Bytes) => "{prefix:10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        (Some(_), Unit::Seconds) => "  {prefix:18} [{bar:20}] {pos}/{len}s {msg}",
        (Some(_), _) => "{prefix} [{bar:30}] {pos}/{len} {elapsed} {msg}",
    };
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
}

impl Progress for Bars {
    fn task(&self, name: &str, total: Option<u64>, unit: Unit) -> Box<dyn Task + '_> {
        if let Some(console) = &self.lines {
            return Box::new(Line {
                console,
                name: name.to_owned(),
                total,
                started: Instant::now(),
                position: Mutex::new(0),
            });
        }
        let bar = self.multi.add(ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden()));
        bar.set_style(style(total, unit));
        bar.set_prefix(name.to_owned());
        if total.is_none() {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Box::new(Bar(bar))
    }

    fn println(&self, line: &str) {
        match &self.lines {
            Some(console) => console.lock().unwrap_or_else(std::sync::PoisonError::into_inner).line(line),
            None => {
                let _ = self.multi.println(line);
            }
        }
    }
}

/// One bar; cleared when the task ends.
struct Bar(ProgressBar);

impl Task for Bar {
    fn set_message(&self, message: &str) {
        self.0.set_message(message.to_owned());
    }
    fn set_position(&self, position: u64) {
        self.0.set_position(position);
    }
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// One task without a terminal: a line per message (a step), with the
/// position and the seconds since the task began. Positions alone (bytes of
/// a file) print nothing.
struct Line<'a> {
    console: &'a Mutex<Console>,
    name: String,
    total: Option<u64>,
    started: Instant,
    position: Mutex<u64>,
}

impl Task for Line<'_> {
    fn set_message(&self, message: &str) {
        let position = *self.position.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = match self.total {
            // A task of one step has nothing to count.
            Some(total) if total > 1 => format!(" [{position}/{total}]"),
            Some(_) => String::new(),
            None if position > 0 => format!(" [{position}]"),
            None => String::new(),
        };
        let line = format!("{:>7.1}s {}{at} {message}", self.started.elapsed().as_secs_f64(), self.name);
        self.console.lock().unwrap_or_else(std::sync::PoisonError::into_inner).line(&line);
    }
    fn set_position(&self, position: u64) {
        *self.position.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = position;
    }
    fn inc(&self, n: u64) {
        *self.position.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += n;
    }
}
