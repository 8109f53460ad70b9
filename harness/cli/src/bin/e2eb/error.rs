//! The one line a failed command prints (design §10): what failed, then the
//! chain of causes, each named once.

use std::error::Error;
use std::fmt;

/// A failure of a command: an optional context (usually a path) and the
/// error with its chain of causes.
pub(crate) struct Failure {
    context: Option<String>,
    cause: Box<dyn Error + Send + Sync + 'static>,
}

/// A failure that is a sentence of its own, with no cause behind it.
#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Message {}

impl Failure {
    /// A failure described by `message` alone.
    pub(crate) fn msg(message: impl Into<String>) -> Self {
        Self { context: None, cause: Box::new(Message(message.into())) }
    }

    /// `cause`, reported against `context` (a path, a variable name).
    pub(crate) fn at(context: impl fmt::Display, cause: impl Error + Send + Sync + 'static) -> Self {
        Self { context: Some(context.to_string()), cause: Box::new(cause) }
    }
}

/// Standard output was closed by its reader (EPIPE).
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
struct ClosedStdout;

impl Failure {
    /// Whether this is the reader of our output going away, which ends a
    /// command quietly rather than as an error.
    pub(crate) fn is_closed_stdout(&self) -> bool {
        self.cause.is::<ClosedStdout>()
    }
}

/// Prints the one failure line to stderr; a closed stderr is not a reason
/// to panic (`eprintln!` would).
pub(crate) fn report(failure: &Failure) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "e2eb: error: {failure}");
}

/// Writes command output to stdout; a closed pipe becomes a quiet
/// [`Failure`] that unwinds the command (and drops any unfinished output
/// file) instead of the panic `print!` would raise.
pub(crate) fn write_stdout(args: fmt::Arguments<'_>) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::from(ClosedStdout)),
        Err(e) => Err(Failure::at("standard output", e)),
    }
}

/// Standard output for library code that writes as it goes (`vault demo`,
/// the stress workloads): it remembers a closed pipe, so that the command
/// ends as quietly as one writing through [`write_stdout`] does.
#[derive(Debug, Default)]
pub(crate) struct Stdout {
    closed: bool,
}

impl Stdout {
    fn seen<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            self.closed = true;
        }
        r
    }

    /// The command's result, or the quiet closed-stdout failure when the
    /// reader went away (whatever error that caused inside the command).
    pub(crate) fn finish<T, E: Into<Failure>>(self, r: Result<T, E>) -> Result<T, Failure> {
        if self.closed { Err(Failure::from(ClosedStdout)) } else { r.map_err(Into::into) }
    }
}

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = std::io::stdout().lock().write(buf);
        self.seen(r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = std::io::stdout().lock().flush();
        self.seen(r)
    }
}

impl<E: Error + Send + Sync + 'static> From<E> for Failure {
    fn from(e: E) -> Self {
        Self { context: None, cause: Box::new(e) }
    }
}

impl fmt::Display for Failure {
    /// `context: error: cause: cause`, leaving out a cause whose text the
    /// line already holds (many errors quote their source in their message).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = self.context.as_ref().map(|c| format!("{c}: ")).unwrap_or_default();
        line.push_str(&self.cause.to_string());
        let mut source = self.cause.source();
        while let Some(s) = source {
            let text = s.to_string();
            if !line.contains(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            source = s.source();
        }
        f.write_str(&line)
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("quoting: {0}")]
    struct Quoting(#[source] std::io::Error);

    #[test]
    fn the_chain_is_printed_once() {
        let io = || std::io::Error::other("disk full");
        assert_eq!(Failure::from(Outer(io())).to_string(), "outer: disk full");
        assert_eq!(Failure::from(Quoting(io())).to_string(), "quoting: disk full");
        assert_eq!(Failure::at("out.bin", Outer(io())).to_string(), "out.bin: outer: disk full");
        assert_eq!(Failure::msg("no key").to_string(), "no key");
    }
}
