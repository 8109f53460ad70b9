//! Sizes and durations as people (and libFuzzer) write them: the one parser
//! of each that every command line and log reader uses.
//!
//! - [`parse_size`]: a byte count with a unit suffix, in one of two
//!   systems ([`SizeUnits`]): storage as it is sold (`2G`, `50GB`: powers of
//!   1000; `--quota-free`, `--quota-premium`) or libFuzzer's status lines
//!   (`123b`, `45Kb`, `6Mb`: powers of 1024; the campaign's corpus size);
//! - [`parse_duration`]: digits followed by `ms`, `s`, `m`, `h` or `d`, bare
//!   digits being seconds (`store gc --grace 24h`, `fuzz run --time 10m`).
//!
//! Both trim surrounding white space, take only ASCII digits (no sign, no
//! fraction) and refuse a value that overflows with [`UnitError`], which says
//! what was given and what is wrong with it.

use std::time::Duration;

use thiserror::Error;

/// Why a size or a duration does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UnitError {
    /// A size argument (`--quota-free 2G`) is not a size.
    #[error("size {input:?}: {why}")]
    BadSize {
        /// What was given.
        input: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A duration argument (`--grace 24h`, `--time 10m`) is not a duration.
    #[error("duration {input:?}: {why}")]
    BadDuration {
        /// What was given.
        input: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// The unit system of a size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SizeUnits {
    /// Storage as it is sold: digits, optionally followed by `k` (or `K`),
    /// `M`, `G` or `T` (powers of 1000) and an optional `B`: `1000`, `1k`,
    /// `1M`, `2G`, `50GB`.
    Decimal,
    /// libFuzzer's status lines (`corp: 9/10b`): digits followed by `b`,
    /// `Kb` or `Mb` (powers of 1024): `123b`, `45Kb`, `6Mb`.
    LibFuzzer,
}

impl SizeUnits {
    /// The multiplier of `suffix`, or `None` if this system has no such
    /// suffix.
    fn multiplier(self, suffix: &str) -> Option<u64> {
        match self {
            Self::Decimal => match suffix.strip_suffix('B').unwrap_or(suffix) {
                "" => Some(1),
                "k" | "K" => Some(1_000),
                "M" => Some(1_000_000),
                "G" => Some(1_000_000_000),
                "T" => Some(1_000_000_000_000),
                _ => None,
            },
            Self::LibFuzzer => match suffix {
                "b" => Some(1),
                "Kb" => Some(1 << 10),
                "Mb" => Some(1 << 20),
                _ => None,
            },
        }
    }

    /// What the digits should be followed by, for an error message.
    fn expected(self) -> (&'static str, &'static str) {
        match self {
            Self::Decimal => {
                ("expected digits, then k, M, G or T", "unknown suffix (expected k, M, G or T: powers of 1000)")
            }
            Self::LibFuzzer => {
                ("expected digits, then b, Kb or Mb", "unknown suffix (expected b, Kb or Mb: powers of 1024)")
            }
        }
    }
}

/// `input` (trimmed) split into its leading ASCII digits and the rest.
fn split_digits(input: &str) -> (&str, &str) {
    let s = input.trim();
    s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()))
}

/// A byte count written in `units`: see [`SizeUnits`] for the spellings.
pub fn parse_size(input: &str, units: SizeUnits) -> Result<u64, UnitError> {
    let bad = |why| UnitError::BadSize { input: input.to_owned(), why };
    let (no_digits, unknown_suffix) = units.expected();
    let (digits, suffix) = split_digits(input);
    if digits.is_empty() {
        return Err(bad(no_digits));
    }
    let multiplier = units.multiplier(suffix).ok_or_else(|| bad(unknown_suffix))?;
    let n: u64 = digits.parse().map_err(|_| bad("too large"))?;
    n.checked_mul(multiplier).ok_or_else(|| bad("too large"))
}

/// A duration: digits followed by `ms`, `s`, `m`, `h` or `d` (`0s`, `90s`,
/// `10m`, `24h`); bare digits are seconds. At most `u64::MAX` milliseconds.
pub fn parse_duration(input: &str) -> Result<Duration, UnitError> {
    let bad = |why| UnitError::BadDuration { input: input.to_owned(), why };
    let (digits, unit) = split_digits(input);
    if digits.is_empty() {
        return Err(bad("expected digits, then ms, s, m, h or d"));
    }
    let n: u64 = digits.parse().map_err(|_| bad("too large"))?;
    let ms_per: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad("unknown unit (expected ms, s, m, h or d)")),
    };
    n.checked_mul(ms_per).map(Duration::from_millis).ok_or_else(|| bad("too large"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn decimal_sizes() {
        // What `--quota-free` and `--quota-premium` accept.
        for (input, bytes) in [
            ("0", 0),
            ("1000", 1000),
            ("1k", 1000),
            ("1K", 1000),
            ("1kB", 1000),
            ("3M", 3_000_000),
            ("2G", 2_000_000_000),
            ("50GB", 50_000_000_000),
            ("1T", 1_000_000_000_000),
            ("7B", 7),
            (" 2G\n", 2_000_000_000),
            ("18446744073709551615", u64::MAX),
        ] {
            assert_eq!(parse_size(input, SizeUnits::Decimal), Ok(bytes), "{input:?}");
        }
        for bad in [
            "",
            "G",
            "B",
            "1.5G",
            "1X",
            "1Kb",
            "1b",
            "-1",
            "+1",
            "1 G",
            "99999999999999999999",
            "18446744073709551615k",
        ] {
            assert!(matches!(parse_size(bad, SizeUnits::Decimal), Err(UnitError::BadSize { .. })), "{bad:?}");
        }
    }

    #[test]
    fn libfuzzer_sizes() {
        // What the campaign reads from `corp: N/SIZE` in libFuzzer's status lines.
        for (input, bytes) in [("0b", 0), ("123b", 123), ("45Kb", 45 << 10), ("6Mb", 6 << 20)] {
            assert_eq!(parse_size(input, SizeUnits::LibFuzzer), Ok(bytes), "{input:?}");
        }
        for bad in ["", "b", "123", "1k", "1KB", "1G", "1Gb", "1.5Mb", "-1b", "99999999999999999Mb"] {
            assert!(matches!(parse_size(bad, SizeUnits::LibFuzzer), Err(UnitError::BadSize { .. })), "{bad:?}");
        }
    }

    #[test]
    fn durations() {
        // What `store gc --grace` and `fuzz run --time` accept.
        for (input, d) in [
            ("0s", Duration::ZERO),
            ("7", Duration::from_secs(7)),
            ("90s", Duration::from_secs(90)),
            ("10m", Duration::from_secs(600)),
            ("1h", Duration::from_secs(3600)),
            ("2h", Duration::from_secs(7200)),
            ("24h", Duration::from_secs(86_400)),
            ("2d", Duration::from_secs(172_800)),
            ("250ms", Duration::from_millis(250)),
            (" 10m ", Duration::from_secs(600)),
        ] {
            assert_eq!(parse_duration(input), Ok(d), "{input:?}");
        }
        for bad in ["", "h", "1w", "1.5h", "-1s", "1 h", "10M", "18446744073709551615s", "99999999999999999999"] {
            assert!(matches!(parse_duration(bad), Err(UnitError::BadDuration { .. })), "{bad:?}");
        }
    }

    #[test]
    fn messages_name_the_input_and_the_cause() {
        let e = parse_size("1X", SizeUnits::Decimal).unwrap_err();
        assert_eq!(e.to_string(), r#"size "1X": unknown suffix (expected k, M, G or T: powers of 1000)"#);
        let e = parse_duration("1w").unwrap_err();
        assert_eq!(e.to_string(), r#"duration "1w": unknown unit (expected ms, s, m, h or d)"#);
        let e = parse_duration("x").unwrap_err();
        assert_eq!(e.to_string(), r#"duration "x": expected digits, then ms, s, m, h or d"#);
    }
}
