//! The independent crypt15 implementation wa-crypt-tools (PyPI, GPL-3.0,
//! design §4.1) and the input it is compared on, shared by the interop
//! tests (`tests/it/interop.rs`: files go through both programs both ways) and
//! `e2eb bench run` (the §9 anchors: the same SQLite database through
//! `waencrypt`/`wadecrypt` and through us). The tool is only ever run as an
//! external program; the database comes from Python's `sqlite3`, which the
//! tool's virtualenv always has. The `PATH` lookup here is also how the
//! benchmarks find their other external anchor, age ([`on_path`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How to install the tool where [`tools_dir`] finds it (what `.ci/run` does).
pub const INSTALL: &str = "python3 -m venv .venv-interop && .venv-interop/bin/pip install 'wa-crypt-tools==0.1.0'";

/// The directory holding wa-crypt-tools' `waencrypt` and `wadecrypt`: the
/// first of `E2EB_WA_CRYPT_TOOLS`, `<repo>/.venv-interop/bin` and the `PATH`
/// entries that has both.
pub fn tools_dir(repo: &Path) -> Option<PathBuf> {
    let candidates = std::env::var_os("E2EB_WA_CRYPT_TOOLS")
        .map(PathBuf::from)
        .into_iter()
        .chain(std::iter::once(repo.join(".venv-interop/bin")))
        .chain(path_entries());
    candidates.into_iter().find(|d| d.join("waencrypt").is_file() && d.join("wadecrypt").is_file())
}

/// The first `PATH` entry holding an executable file `name`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    path_entries()
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// The directories of `PATH`, in order (none when it is unset).
fn path_entries() -> Vec<PathBuf> {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default()
}

/// The Python beside the tools (their virtualenv's), else `python3` from `PATH`.
pub fn python(tools: Option<&Path>) -> PathBuf {
    tools.map(|d| d.join("python3")).filter(|p| p.is_file()).unwrap_or_else(|| "python3".into())
}

/// Writes a chat-like SQLite database of at least `min_bytes` to `path`,
/// through `<path>.partial` and a rename. The same `min_bytes` always gives
/// the same rows: short texts from a small vocabulary (so the database
/// compresses like a real one), timestamps, small blobs, 20 000 rows per
/// step until the file is large enough.
pub fn sqlite_db(python: &Path, path: &Path, min_bytes: u64) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    let script = format!(
        "import sqlite3, random, os\n\
         random.seed(20211014)\n\
         path = {partial:?}\n\
         db = sqlite3.connect(path)\n\
         db.execute('create table message (_id integer primary key, chat_row_id integer, from_me integer, timestamp integer, text_data text, thumbnail blob)')\n\
         db.execute('create index message_chat on message (chat_row_id, timestamp)')\n\
         words = 'hi hello ok yes no thanks see you tomorrow tonight photo video where are we meeting at the station lol sure call me later happy birthday good night'.split()\n\
         i = 0\n\
         while os.path.getsize(path) < {min_bytes}:\n\
         \x20   rows = []\n\
         \x20   for _ in range(20000):\n\
         \x20       i += 1\n\
         \x20       rows.append((i, random.randrange(300), random.randrange(2), 1600000000000 + i * 4099, ' '.join(random.choices(words, k=random.randrange(2, 40))), random.randbytes(random.randrange(0, 48))))\n\
         \x20   db.executemany('insert into message values (?,?,?,?,?,?)', rows)\n\
         \x20   db.commit()\n\
         db.close()\n",
        partial = partial.display().to_string(),
    );
    let status = Command::new(python)
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", python.display())))?;
    if !status.success() {
        return Err(std::io::Error::other(format!("{} (SQLite database): {status}", python.display())));
    }
    std::fs::rename(&partial, path)
}
