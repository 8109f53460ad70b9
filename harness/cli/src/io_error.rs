//! [`IoError`]: an I/O error together with what was being done (usually
//! naming the path), the one shape the run errors of the store, passkey and
//! vault commands give a failed file, directory or stream.

use thiserror::Error;

/// An I/O error while doing `what`. Its message is `"{what}: {source}"`,
/// and `source()` is the I/O error, so a cause chain names it once.
#[derive(Debug, Error)]
#[error("{what}: {source}")]
pub struct IoError {
    /// What was being read or written (usually with its path).
    pub what: String,
    /// The error.
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    /// `source`, which happened while doing `what`.
    pub fn new(what: impl Into<String>, source: std::io::Error) -> Self {
        Self { what: what.into(), source }
    }

    /// A closure that wraps an I/O error with `what` was being done, for
    /// `map_err`; `E` is any error an [`IoError`] converts into.
    pub fn with<E: From<Self>>(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> E {
        let what = what.into();
        move |source| E::from(Self { what, source })
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn names_what_and_chains_the_io_error() {
        let e = IoError::new("reading /x", std::io::Error::other("disk gone"));
        assert_eq!(e.to_string(), "reading /x: disk gone");
        assert_eq!(e.source().map(ToString::to_string).as_deref(), Some("disk gone"));
        let e: IoError = IoError::with("writing /y")(std::io::Error::other("full"));
        assert_eq!((e.what.as_str(), e.source.to_string().as_str()), ("writing /y", "full"));
    }
}
