//! The one progress-bar factory (design §2): the binary's drawing of the
//! library's [`Progress`]. On a terminal every task is an indicatif bar (or a
//! spinner for a count of unknown length) in one `MultiProgress`; otherwise
//! nothing is drawn.

use std::io::IsTerminal;
use std::io::Write as _;
use std::time::Duration;

use e2eb::progress::{Progress, Task, Unit};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Bars on standard error.
pub(crate) struct Bars {
    multi: MultiProgress,
}

impl Bars {
    /// Bars on standard error when it is a terminal; hidden otherwise.
    pub(crate) fn stderr() -> Self {
        let multi = MultiProgress::new();
        if !std::io::stderr().is_terminal() {
            multi.set_draw_target(ProgressDrawTarget::hidden());
        }
        Self { multi }
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
        let bar = self.multi.add(ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden()));
        bar.set_style(style(total, unit));
        bar.set_prefix(name.to_owned());
        if total.is_none() {
            bar.enable_steady_tick(Duration::from_millis(200));
        }
        Box::new(Bar(bar))
    }

    fn println(&self, line: &str) {
        if self.multi.is_hidden() {
            // Progress is a courtesy: a closed stderr must not stop the work.
            let _ = writeln!(std::io::stderr(), "{line}");
        } else {
            let _ = self.multi.println(line);
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
