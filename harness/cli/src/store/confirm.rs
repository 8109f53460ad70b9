//! The questions `e2eb store enable-e2ee|disable-e2ee|change-password` ask
//! (design §7): "did you keep the key?" (re-type the groups it names), "the
//! new password, twice", and "really?". One small type, [`Prompter`], over
//! any [`BufRead`] and [`Write`], so the same code serves the terminal and
//! the tests; [`Scripted`] is the `--yes` path for scripts (no question, the
//! password from `E2EB_PASSWORD`).
//!
//! Every answer is final: a wrong group, two passwords that differ, an empty
//! password, a "no" or the end of the input (EOF, Ctrl-D — also a line cut by
//! Ctrl-D before its newline) is a typed [`ConfirmError`], and the callers
//! ask every question before they change anything, so a failed confirmation
//! leaves no key file, no vault record and no upload behind. Typed secrets
//! are held in [`Zeroizing`] buffers.

use std::io::{self, BufRead, Write};

use e2eb_core::key::BackupKey;
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

/// Number of four-digit groups in the written-down key.
pub const GROUPS: usize = 16;
/// How many groups the user is asked to re-type.
pub const ASKED: usize = 2;
/// The environment variable `--yes` reads a new password from.
pub const PASSWORD_ENV: &str = "E2EB_PASSWORD";

/// Why a confirmation did not pass. Never holds what was typed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfirmError {
    /// The input ended (EOF, Ctrl-D) before the answer.
    #[error("the input ended before {0} was answered; nothing was changed")]
    InputEnded(&'static str),
    /// A re-typed group differs from the key's.
    #[error("group {group} does not match the key: it was not kept correctly; nothing was changed")]
    GroupMismatch {
        /// The group asked for (1–16).
        group: usize,
    },
    /// The two typed passwords differ.
    #[error("the two passwords differ; nothing was changed")]
    PasswordsDiffer,
    /// The password is empty.
    #[error("the password is empty; nothing was changed")]
    EmptyPassword,
    /// `--yes` with a password, but no `E2EB_PASSWORD`.
    #[error("--yes needs the new password in {PASSWORD_ENV}")]
    NoPasswordInEnvironment,
    /// The user answered no.
    #[error("not confirmed; nothing was changed")]
    Declined,
    /// Reading or writing the terminal failed.
    #[error("terminal: {0}")]
    Io(#[from] io::Error),
}

/// What a command needs to hear from its user.
pub trait Confirm {
    /// Shows `key` as the 64-digit grid.
    fn show_key(&mut self, key: &BackupKey) -> Result<(), ConfirmError>;
    /// Has the user prove the key shown was kept (re-typing groups of it).
    fn confirm_key(&mut self, key: &BackupKey) -> Result<(), ConfirmError>;
    /// A new password, confirmed.
    fn new_password(&mut self) -> Result<Zeroizing<String>, ConfirmError>;
    /// Asks `question` (yes/no); `Declined` unless yes.
    fn agree(&mut self, question: &str) -> Result<(), ConfirmError>;
    /// Tells the user something while the command runs.
    fn say(&mut self, text: &str) -> Result<(), ConfirmError>;
}

/// Switches the terminal's echo off (`false`) and back on (`true`) around a
/// password; see [`Prompter::with_echo_control`].
pub type EchoControl = Box<dyn FnMut(bool) -> io::Result<()>>;

/// Questions on a line-oriented input and output (the terminal, or a test's buffers).
pub struct Prompter<R, W> {
    input: R,
    output: W,
    groups: Option<[usize; ASKED]>,
    echo: Option<EchoControl>,
}

impl<R, W> std::fmt::Debug for Prompter<R, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompter").field("groups", &self.groups).finish_non_exhaustive()
    }
}

impl<R: BufRead, W: Write> Prompter<R, W> {
    /// Questions written to `output`, answers read from `input`; the groups
    /// asked for are drawn at random.
    pub fn new(input: R, output: W) -> Self {
        Self { input, output, groups: None, echo: None }
    }

    /// Asks for these groups (1–16) instead of random ones (tests).
    pub fn with_groups(mut self, groups: [usize; ASKED]) -> Self {
        self.groups = Some(groups);
        self
    }

    /// Calls `echo(false)` before a password is read and `echo(true)` after,
    /// so a terminal does not show it.
    pub fn with_echo_control(mut self, echo: EchoControl) -> Self {
        self.echo = Some(echo);
        self
    }

    /// Writes `prompt` and reads one line, without its line end. The end of
    /// the input, or a last line without a newline (Ctrl-D after typing), is
    /// [`ConfirmError::InputEnded`].
    pub fn line(&mut self, prompt: &str, what: &'static str) -> Result<Zeroizing<String>, ConfirmError> {
        self.output.write_all(prompt.as_bytes())?;
        self.output.flush()?;
        let mut line = Zeroizing::new(String::new());
        let n = match self.input.read_line(&mut line) {
            Ok(n) => n,
            // A terminal whose other side went away reads as EIO: the input ended.
            Err(e) if e.raw_os_error() == Some(5) => 0,
            Err(e) => return Err(e.into()),
        };
        if n == 0 || !line.ends_with('\n') {
            return Err(ConfirmError::InputEnded(what));
        }
        while line.ends_with(['\n', '\r']) {
            line.pop();
        }
        Ok(line)
    }

    fn secret(&mut self, prompt: &str, what: &'static str) -> Result<Zeroizing<String>, ConfirmError> {
        if let Some(echo) = self.echo.as_mut() {
            echo(false)?;
        }
        let got = self.line(prompt, what);
        if let Some(echo) = self.echo.as_mut() {
            echo(true)?;
            // The newline the user typed was not echoed either.
            self.output.write_all(b"\n")?;
            self.output.flush()?;
        }
        got
    }

    fn pick(&self) -> [usize; ASKED] {
        self.groups.unwrap_or_else(random_groups)
    }
}

/// Two different groups of the 16, in increasing order, numbered from 1.
pub fn random_groups() -> [usize; ASKED] {
    let first = (OsRng.next_u32() % GROUPS as u32) as usize;
    let mut second = (OsRng.next_u32() % (GROUPS as u32 - 1)) as usize;
    if second >= first {
        second += 1;
    }
    let (a, b) = if first < second { (first, second) } else { (second, first) };
    [a + 1, b + 1]
}

/// Group `n` (1–16) of `key`'s 64 digits.
fn group(key: &BackupKey, n: usize) -> Zeroizing<String> {
    let digits = key.to_digits();
    Zeroizing::new(digits[(n - 1) * 4..n * 4].to_owned())
}

/// What the user typed for a group: spaces and dashes dropped, lower case.
fn normalise(typed: &str) -> Zeroizing<String> {
    Zeroizing::new(typed.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_lowercase()).collect())
}

impl<R: BufRead, W: Write> Confirm for Prompter<R, W> {
    fn show_key(&mut self, key: &BackupKey) -> Result<(), ConfirmError> {
        let grid = key.to_grid();
        let mut text = Zeroizing::new(String::new());
        text.push_str("Your backup key (write it down and keep it safe; without it the backup cannot be opened):\n\n");
        for (row, line) in grid.lines().enumerate() {
            text.push_str(&format!("  {:>2}-{:>2}   {line}\n", row * 4 + 1, row * 4 + 4));
        }
        text.push('\n');
        self.output.write_all(text.as_bytes())?;
        self.output.flush()?;
        Ok(())
    }

    fn confirm_key(&mut self, key: &BackupKey) -> Result<(), ConfirmError> {
        let asked = self.pick();
        self.output.write_all(
            format!(
                "To confirm you kept it, type group {} and group {} (groups are numbered 1 to 16).\n",
                asked[0], asked[1]
            )
            .as_bytes(),
        )?;
        for n in asked {
            let typed = self.line(&format!("group {n}: "), "the key confirmation")?;
            let want = group(key, n);
            if normalise(&typed).as_str() != want.as_str() {
                return Err(ConfirmError::GroupMismatch { group: n });
            }
        }
        self.output.write_all(b"Key confirmed.\n")?;
        self.output.flush()?;
        Ok(())
    }

    fn new_password(&mut self) -> Result<Zeroizing<String>, ConfirmError> {
        let first = self.secret("New password: ", "the new password")?;
        if first.is_empty() {
            return Err(ConfirmError::EmptyPassword);
        }
        let second = self.secret("Type it again: ", "the password confirmation")?;
        if first.as_bytes() != second.as_bytes() {
            return Err(ConfirmError::PasswordsDiffer);
        }
        Ok(first)
    }

    fn agree(&mut self, question: &str) -> Result<(), ConfirmError> {
        let answer = self.line(&format!("{question} [y/N] "), "the confirmation")?;
        match answer.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => Ok(()),
            _ => Err(ConfirmError::Declined),
        }
    }

    fn say(&mut self, text: &str) -> Result<(), ConfirmError> {
        self.output.write_all(text.as_bytes())?;
        self.output.write_all(b"\n")?;
        self.output.flush()?;
        Ok(())
    }
}

/// The `--yes` path: nothing is asked or shown; a new password comes from
/// `password` (the CLI passes `E2EB_PASSWORD`).
#[derive(Default)]
pub struct Scripted {
    /// The new password, if one was given.
    pub password: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripted").field("password", &self.password.as_ref().map(|_| "<redacted>")).finish()
    }
}

impl Scripted {
    /// With the password from [`PASSWORD_ENV`], if set.
    pub fn from_env() -> Self {
        Self { password: std::env::var(PASSWORD_ENV).ok().map(Zeroizing::new) }
    }
}

impl Confirm for Scripted {
    fn show_key(&mut self, _: &BackupKey) -> Result<(), ConfirmError> {
        Ok(())
    }

    fn confirm_key(&mut self, _: &BackupKey) -> Result<(), ConfirmError> {
        Ok(())
    }

    fn new_password(&mut self) -> Result<Zeroizing<String>, ConfirmError> {
        match self.password.clone() {
            None => Err(ConfirmError::NoPasswordInEnvironment),
            Some(p) if p.is_empty() => Err(ConfirmError::EmptyPassword),
            Some(p) => Ok(p),
        }
    }

    fn agree(&mut self, _: &str) -> Result<(), ConfirmError> {
        Ok(())
    }

    fn say(&mut self, _: &str) -> Result<(), ConfirmError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key() -> BackupKey {
        BackupKey::parse_digits("6730a595a1484d0c39c101dc0ac82ec5e401bb6f0e1b8ee2dc104a6b3687f017").unwrap()
    }

    fn prompter(input: &str) -> Prompter<&[u8], Vec<u8>> {
        Prompter::new(input.as_bytes(), Vec::new()).with_groups([3, 11])
    }

    #[test]
    fn the_named_groups_confirm_the_key() {
        // Group 3 is "a148", group 11 "0e1b" (upper case and dashes are fine).
        let mut p = prompter("a148\n0E-1b\n");
        p.show_key(&key()).unwrap();
        p.confirm_key(&key()).unwrap();
        let shown = String::from_utf8(p.output.clone()).unwrap();
        assert!(shown.contains("6730 a595 a148 4d0c"), "{shown}");
        assert!(shown.contains("type group 3 and group 11"), "{shown}");
    }

    #[test]
    fn a_wrong_group_or_the_end_of_input_stops() {
        assert!(matches!(prompter("a148\n0e1c\n").confirm_key(&key()), Err(ConfirmError::GroupMismatch { group: 11 })));
        assert!(matches!(prompter("a148\n").confirm_key(&key()), Err(ConfirmError::InputEnded(_))));
        // Ctrl-D after typing: the line has no newline.
        assert!(matches!(prompter("a148\n0e1b").confirm_key(&key()), Err(ConfirmError::InputEnded(_))));
    }

    #[test]
    fn passwords_twice() {
        assert_eq!(prompter("pw one\npw one\n").new_password().unwrap().as_str(), "pw one");
        assert!(matches!(prompter("pw one\npw two\n").new_password(), Err(ConfirmError::PasswordsDiffer)));
        assert!(matches!(prompter("\n\n").new_password(), Err(ConfirmError::EmptyPassword)));
        assert!(matches!(prompter("pw\n").new_password(), Err(ConfirmError::InputEnded(_))));
        let echo = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let seen = echo.clone();
        let mut p = prompter("a\na\n").with_echo_control(Box::new(move |on| {
            seen.borrow_mut().push(on);
            Ok(())
        }));
        p.new_password().unwrap();
        assert_eq!(*echo.borrow(), [false, true, false, true]);
    }

    #[test]
    fn random_groups_are_two_different_ones_in_range() {
        for _ in 0..200 {
            let [a, b] = random_groups();
            assert!((1..=GROUPS).contains(&a) && (1..=GROUPS).contains(&b) && a < b);
        }
    }

    #[test]
    fn agree_needs_yes() {
        prompter("y\n").agree("sure?").unwrap();
        assert!(matches!(prompter("n\n").agree("sure?"), Err(ConfirmError::Declined)));
        assert!(matches!(prompter("").agree("sure?"), Err(ConfirmError::InputEnded(_))));
    }
}
