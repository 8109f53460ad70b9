//! `e2eb store` (design §7): the clap types of the backup-store commands.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::{FormatArg, HomeArgs, KeyArgs};

/// Where the store is and whose backups are meant.
#[derive(Args)]
pub(crate) struct StoreArgs {
    /// The store: a directory, or s3://BUCKET/PREFIX (builds with `--features s3`;
    /// endpoint and credentials from AWS_ENDPOINT, AWS_ACCESS_KEY_ID, … as the AWS tools read them).
    /// Default: HOME/store.
    #[arg(long)]
    pub(crate) store: Option<String>,
    /// Account id.
    #[arg(long)]
    pub(crate) account: String,
    /// Limit of the free tier in bytes (suffixes k, M, G, T: powers of 1000).
    #[arg(long, default_value = "2G")]
    pub(crate) quota_free: String,
    /// Limit of the premium tier in bytes.
    #[arg(long, default_value = "50G")]
    pub(crate) quota_premium: String,
    #[command(flatten)]
    pub(crate) home: HomeArgs,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The account's tier.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum TierArg {
    Free,
    Premium,
}

/// How the key of a newly encrypted account is kept (design §1).
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum KeepArg {
    /// The 64-digit key only: the user writes it down.
    KeyOnly,
    /// A password, through the vault (OPAQUE).
    Password,
    /// A passkey on this device, with the vault's server part.
    Passkey,
}

#[derive(Subcommand)]
pub(crate) enum StoreCommand {
    /// Upload a backup file (format detected: v2, crypt15, crypt14 or plain) as the
    /// account's new current backup; the previous one is deleted once the new one is durable.
    Upload {
        #[command(flatten)]
        store: StoreArgs,
        /// The backup file.
        file: PathBuf,
        /// The account's tier.
        #[arg(long, value_enum, default_value = "free")]
        tier: TierArg,
    },
    /// Download the current backup into OUT, checking its size and digest.
    Restore {
        #[command(flatten)]
        store: StoreArgs,
        /// Output file (written atomically).
        #[arg(long)]
        out: PathBuf,
    },
    /// List the account's backup objects and which one is current.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// The account's manifest: current backup, format, size, tier, quota, encryption.
    Status {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete leftovers: objects no manifest names that are older than the grace period.
    Gc {
        #[command(flatten)]
        store: StoreArgs,
        /// Grace period (e.g. 0s, 10m, 24h).
        #[arg(long, default_value = "24h")]
        grace: String,
    },
    /// Turn end-to-end encryption on: make a key, have the user confirm it was
    /// kept, upload the first encrypted backup of DATABASE, then delete every
    /// unencrypted backup and report them.
    EnableE2ee {
        #[command(flatten)]
        store: StoreArgs,
        /// The chat database to back up.
        #[arg(long)]
        database: PathBuf,
        /// How the key is kept.
        #[arg(long, value_enum, default_value = "key-only", group = "keeping")]
        keep: KeepArg,
        /// Shorthand for `--keep password`.
        #[arg(long, group = "keeping")]
        password: bool,
        /// Shorthand for `--keep key-only`.
        #[arg(long, group = "keeping")]
        key_only: bool,
        /// Shorthand for `--keep passkey`.
        #[arg(long, group = "keeping")]
        passkey: bool,
        /// Backup format.
        #[arg(long, value_enum, default_value = "v2")]
        format: FormatArg,
        /// The account's tier.
        #[arg(long, value_enum, default_value = "free")]
        tier: TierArg,
        /// Where to write the new key (64 digits, mode 0600). Default: HOME/backup-key.txt.
        #[arg(long)]
        key_out: Option<PathBuf>,
        /// For scripts: skip the interactive confirmation. The key is still written
        /// to --key-out; with --password the password is read from E2EB_PASSWORD.
        #[arg(long)]
        yes: bool,
    },
    /// Turn end-to-end encryption off: check the key, replace an end-to-end
    /// encrypted current backup by an unencrypted backup of DATABASE, and only
    /// then remove the vault record (owner proof with the key) and the local
    /// key files; later backups may be unencrypted.
    DisableE2ee {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        key: KeyArgs,
        /// The chat database to back up unencrypted in place of the current
        /// end-to-end encrypted backup (needed when the current backup is one).
        #[arg(long)]
        database: Option<PathBuf>,
        /// For scripts: skip the interactive confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Re-encrypt an unencrypted or crypt14 backup (the current one in the store,
    /// or FROM) into v2 or crypt15 and upload it; no plaintext copy touches the disk.
    Migrate {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        key: KeyArgs,
        /// A local backup to migrate instead of the store's current one.
        #[arg(long)]
        from: Option<PathBuf>,
        /// The old crypt12/crypt14 key file, for a crypt14 backup.
        #[arg(long)]
        crypt14_key: Option<PathBuf>,
        /// Target format.
        #[arg(long, value_enum, default_value = "v2")]
        to: FormatArg,
        /// The account's tier.
        #[arg(long, value_enum, default_value = "free")]
        tier: TierArg,
    },
    /// Replace the vault password on the device that holds the key (owner proof
    /// with K), so a forgotten password can be replaced. The new password comes
    /// from the terminal (typed twice) or, for scripts, E2EB_PASSWORD.
    ChangePassword {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// The whole life on the embedded default: backups, rotation, the quota,
    /// turning E2EE on (with deletion), a restore on a new phone, migration.
    Demo {
        /// Working folder (default: a new temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}
