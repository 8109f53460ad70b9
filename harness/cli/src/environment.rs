//! The machine and build a report was made on (design §8: "each report
//! records the machine and build its numbers come from, because reports are
//! compared between builds").
//! Everything here is best effort: a missing `/proc` file or `git` gives
//! "unknown", never an error.

use std::process::Command;

use serde::Serialize;

/// CPU features that decide AES-GCM and SHA speed; reports list the ones present.
const INTERESTING_FLAGS: &[&str] =
    &["aes", "pclmulqdq", "avx", "avx2", "avx512f", "vaes", "vpclmulqdq", "sha_ni", "bmi2", "adx"];

/// Where a measurement was taken.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Environment {
    /// CPU model name from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// The AES/carry-less-multiply/vector flags the CPU reports.
    pub cpu_flags: Vec<String>,
    /// Threads available to this process.
    pub cores: usize,
    /// Total memory in GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub os: String,
    /// `rustc -V` of the toolchain on PATH.
    pub rustc: String,
    /// `git rev-parse HEAD`, with `-dirty` when the tree has changes.
    pub commit: String,
}

impl Environment {
    /// Collects the environment of the current process.
    pub fn collect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            cpuinfo
                .lines()
                .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        };
        let flags: Vec<String> = field("flags")
            .map(|f| {
                let have: Vec<&str> = f.split_whitespace().collect();
                INTERESTING_FLAGS.iter().filter(|x| have.contains(x)).map(|x| (*x).to_owned()).collect()
            })
            .unwrap_or_default();
        let memory_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0u64);
        Self {
            cpu_model: field("model name").unwrap_or_else(|| "unknown".into()),
            cpu_flags: flags,
            cores: std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            memory_gib: (memory_kib as f64 / (1024.0 * 1024.0) * 10.0).round() / 10.0,
            os: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| format!("Linux {}", s.trim()))
                .unwrap_or_else(|_| std::env::consts::OS.to_owned()),
            rustc: command_line("rustc", &["-V"]).unwrap_or_else(|| "unknown".into()),
            commit: commit(),
        }
    }

    /// One Markdown table of the fields.
    pub fn to_markdown(&self) -> String {
        format!(
            "| | |\n| --- | --- |\n| CPU | {} |\n| CPU flags | {} |\n| cores | {} |\n| memory | {} GiB |\n| OS | {} |\n| rustc | {} |\n| commit | `{}` |\n",
            self.cpu_model,
            self.cpu_flags.join(" "),
            self.cores,
            self.memory_gib,
            self.os,
            self.rustc,
            self.commit
        )
    }
}

/// First line of a command's standard output, if it ran and succeeded.
pub fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).lines().next().map(|l| l.trim().to_owned())
}

/// The commit checked out in the current directory, `-dirty` when tracked
/// files have changes (`unknown` outside git).
pub fn git_commit() -> String {
    commit()
}

fn commit() -> String {
    let Some(head) = command_line("git", &["rev-parse", "HEAD"]) else { return "unknown".into() };
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if dirty { format!("{head}-dirty") } else { head }
}

/// The current time as `YYYYMMDD-HHMMSS` (UTC), for run directory names.
pub fn timestamp() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!("{y:04}{m:02}{d:02}-{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The current time as RFC 3339 (UTC), for report fields.
pub fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Seconds since the epoch of an RFC 3339 UTC time (`2026-12-06T01:04:12Z`,
/// fractions of a second ignored); `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !s.ends_with('Z') || !(b.len() == 20 || b[19] == b'.') {
        return None;
    }
    let num =
        |r: std::ops::Range<usize>| s.get(r).filter(|t| t.bytes().all(|c| c.is_ascii_digit()))?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(y, mo as u32, d as u32);
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + sec).ok()
}

/// Days since 1970-01-01 of a Gregorian date (the inverse of
/// [`civil_from_days`], same algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_414), (2025, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        for z in [0, 11_016, 20_414, -1, 60_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn rfc3339_times() {
        // `date -u -d 2026-12-06T01:04:12Z +%s`
        assert_eq!(parse_rfc3339("2026-12-06T01:04:12Z"), Some(1_796_519_052));
        assert_eq!(parse_rfc3339("2026-12-06T01:04:12.272825212Z"), Some(1_796_519_052));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        for bad in ["2026-12-06 01:04:12Z", "2026-13-06T01:04:12Z", "2026-12-06T01:04:12+01:00", "yesterday", ""] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
