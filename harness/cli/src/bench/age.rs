//! age (<https://age-encryption.org>: `age` and `age-keygen`) as the anchor
//! of design §9 "v2 1 GiB file to file ≥ 1.0 × age": where the programs are
//! found, the X25519 key the 1 GiB pass encrypts to (made by `age-keygen` in
//! the run's scratch directory), and the command lines the pass times.
//!
//! age is only ever run as an external program, found on `PATH`; a machine
//! without it gets the anchors as not available, with [`INSTALL`] in their
//! note, and the run goes on.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::child_output::tail;

/// How to get age where [`Age::prepare`] finds it.
pub const INSTALL: &str =
    "`apt-get install age` on Debian/Ubuntu, or a release from https://github.com/FiloSottile/age/releases";

/// Why the age anchors could not be measured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgeUnavailable {
    /// No `age` program on `PATH`.
    #[error("age not found on PATH: install it with {INSTALL}")]
    NotFound,
    /// `age` is there but `age-keygen` is not (both come in the same package).
    #[error("age-keygen not found on PATH (age is {}): install both with {INSTALL}", .age.display())]
    NoKeygen {
        /// The `age` found.
        age: PathBuf,
    },
    /// `age-keygen` did not make the key.
    #[error("age-keygen failed: {detail}")]
    Keygen {
        /// Exit status and the end of its output, or the spawn error.
        detail: String,
    },
}

/// A program and its arguments, as the measuring wrapper takes them.
pub type Invocation = (OsString, Vec<OsString>);

/// The age programs found and the key made for this run.
#[derive(Debug, Clone)]
pub struct Age {
    program: PathBuf,
    /// What `age --version` printed.
    pub version: Option<String>,
    identity: PathBuf,
    recipient: String,
}

impl Age {
    /// Finds `age` and `age-keygen` on `PATH` and makes a key in `dir`
    /// (`age-identity.txt`, replaced if it exists).
    pub fn prepare(dir: &Path) -> Result<Self, AgeUnavailable> {
        let program = crate::interop_tools::on_path("age").ok_or(AgeUnavailable::NotFound)?;
        let keygen = crate::interop_tools::on_path("age-keygen")
            .ok_or_else(|| AgeUnavailable::NoKeygen { age: program.clone() })?;
        let identity = dir.join("age-identity.txt");
        // age-keygen refuses to overwrite an identity file.
        let _ = std::fs::remove_file(&identity);
        let made = Command::new(&keygen).arg("-o").arg(&identity).stdin(Stdio::null()).output();
        match made {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return Err(AgeUnavailable::Keygen { detail: format!("{}: {}", o.status, tail(&o.stderr, 3)) });
            }
            Err(e) => return Err(AgeUnavailable::Keygen { detail: format!("{}: {e}", keygen.display()) }),
        }
        let public = Command::new(&keygen).arg("-y").arg(&identity).stdin(Stdio::null()).output();
        let recipient = match public {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
            Ok(o) => {
                return Err(AgeUnavailable::Keygen { detail: format!("-y: {}: {}", o.status, tail(&o.stderr, 3)) });
            }
            Err(e) => return Err(AgeUnavailable::Keygen { detail: format!("{} -y: {e}", keygen.display()) }),
        };
        if !recipient.starts_with("age1") {
            return Err(AgeUnavailable::Keygen { detail: format!("-y printed {recipient:?}, not an age1 recipient") });
        }
        let version = program.to_str().and_then(|p| crate::environment::command_line(p, &["--version"]));
        Ok(Self { program, version, identity, recipient })
    }

    /// `age -r RECIPIENT -o OUTPUT INPUT`.
    pub fn encrypt(&self, input: &Path, output: &Path) -> Invocation {
        let args = [OsStr::new("-r"), OsStr::new(&self.recipient), OsStr::new("-o"), output.as_os_str()]
            .into_iter()
            .chain([input.as_os_str()])
            .map(OsStr::to_owned)
            .collect();
        (self.program.clone().into_os_string(), args)
    }

    /// `age -d -i IDENTITY -o OUTPUT INPUT`.
    pub fn decrypt(&self, input: &Path, output: &Path) -> Invocation {
        let args = [OsStr::new("-d"), OsStr::new("-i"), self.identity.as_os_str(), OsStr::new("-o")]
            .into_iter()
            .chain([output.as_os_str(), input.as_os_str()])
            .map(OsStr::to_owned)
            .collect();
        (self.program.clone().into_os_string(), args)
    }

    /// The program's path, for the report.
    pub fn program(&self) -> &Path {
        &self.program
    }
}

/// `sh -c '"$@" && sync OUTPUT'` around `inner`: the command, then the
/// output made durable. Our writer syncs its output before it names it; age
/// writes into the page cache and exits, so timing age alone on a disk
/// compares a durable write with one that is not. coreutils' `sync FILE`
/// fsyncs that one file. The paths travel as arguments, never through the
/// shell's parser.
pub fn durable(inner: Invocation, output: &Path) -> Invocation {
    let (program, args) = inner;
    let script = r#"out=$1; shift; "$@" && sync -- "$out""#;
    let args = [OsString::from("-c"), script.into(), "sh".into(), output.as_os_str().to_owned(), program]
        .into_iter()
        .chain(args)
        .collect();
    ("sh".into(), args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake() -> Age {
        Age {
            program: "/usr/bin/age".into(),
            version: None,
            identity: "/s/age-identity.txt".into(),
            recipient: "age1xyz".into(),
        }
    }

    fn words(i: &Invocation) -> Vec<String> {
        std::iter::once(&i.0).chain(&i.1).map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn command_lines_are_ages() {
        let a = fake();
        let (inp, out) = (Path::new("/d/in"), Path::new("/d/out.age"));
        assert_eq!(words(&a.encrypt(inp, out)), ["/usr/bin/age", "-r", "age1xyz", "-o", "/d/out.age", "/d/in"]);
        assert_eq!(
            words(&a.decrypt(out, inp)),
            ["/usr/bin/age", "-d", "-i", "/s/age-identity.txt", "-o", "/d/in", "/d/out.age"]
        );
    }

    #[test]
    fn durable_syncs_the_output_after_the_command_succeeds() {
        // A stand-in for age (POSIX sh and coreutils only): writes OUT, and
        // a failing command must not be followed by a successful sync.
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("it's out");
        let writer = || -> Invocation {
            ("sh".into(), vec!["-c".into(), "echo x > \"$1\"".into(), "sh".into(), out.clone().into()])
        };
        let w = words(&durable(writer(), &out));
        assert_eq!(&w[..5], ["sh", "-c", r#"out=$1; shift; "$@" && sync -- "$out""#, "sh", out.to_str().unwrap()]);
        let (program, args) = durable(writer(), &out);
        assert!(Command::new(program).args(args).status().unwrap().success());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "x\n");
        let (program, args) = durable(("false".into(), vec![]), &out);
        assert!(!Command::new(program).args(args).status().unwrap().success());
    }

    #[test]
    fn the_missing_tool_says_how_to_install_it() {
        let why = AgeUnavailable::NotFound.to_string();
        assert!(why.contains("apt-get install age") && why.contains("FiloSottile/age/releases"), "{why}");
    }
}
