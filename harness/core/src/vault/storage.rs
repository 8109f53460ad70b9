//! Durable site storage (design §5): one redb file per site holding the
//! account records and the index of the last applied command. Every write is
//! one redb transaction committed with `Durability::Immediate` (fsync) before
//! the caller may reply, so a site killed at any instant restarts with
//! exactly the changes it had acknowledged — redb's commit is atomic. After
//! a command that erases a record the file is compacted, so that the freed
//! pages of its earlier versions are gone from the file (§5.1).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost::Message;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use thiserror::Error;

use super::state::{self, AccountRecord, Command, Outcome};

const ACCOUNTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("accounts");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const APPLIED: &str = "applied_index";

/// Why site storage failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database could not be opened or created.
    #[error("cannot open site store {}: {source}", path.display())]
    Open {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: redb::DatabaseError,
    },
    /// A transaction failed.
    #[error("site store {}: {source}", path.display())]
    Transaction {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: redb::Error,
    },
    /// A stored record does not decode.
    #[error("site store {}: a stored record does not decode: {source}", path.display())]
    Corrupt {
        /// File.
        path: PathBuf,
        /// Cause.
        #[source]
        source: prost::DecodeError,
    },
}

/// One site's redb file.
#[derive(Debug)]
pub struct SiteStore {
    db: Database,
    path: PathBuf,
}

impl SiteStore {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let db = Database::create(path).map_err(|source| StorageError::Open { path: path.to_owned(), source })?;
        let store = Self { db, path: path.to_owned() };
        // Create the tables so that readers never meet a missing table.
        store.write(|_, _| Ok(()))?;
        Ok(store)
    }

    fn tx_err(&self, e: impl Into<redb::Error>) -> StorageError {
        StorageError::Transaction { path: self.path.clone(), source: e.into() }
    }

    fn write(
        &self,
        f: impl FnOnce(&mut redb::Table<&[u8], &[u8]>, &mut redb::Table<&str, u64>) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let mut tx = self.db.begin_write().map_err(|e| self.tx_err(e))?;
        tx.set_durability(Durability::Immediate).map_err(|e| self.tx_err(e))?;
        {
            let mut accounts = tx.open_table(ACCOUNTS).map_err(|e| self.tx_err(e))?;
            let mut meta = tx.open_table(META).map_err(|e| self.tx_err(e))?;
            f(&mut accounts, &mut meta)?;
        }
        tx.commit().map_err(|e| self.tx_err(e))
    }

    /// Every record, for loading a site's state at start.
    pub fn load(&self) -> Result<(BTreeMap<Vec<u8>, AccountRecord>, u64), StorageError> {
        let tx = self.db.begin_read().map_err(|e| self.tx_err(e))?;
        let accounts = tx.open_table(ACCOUNTS).map_err(|e| self.tx_err(e))?;
        let mut out = BTreeMap::new();
        for entry in accounts.iter().map_err(|e| self.tx_err(e))? {
            let (k, v) = entry.map_err(|e| self.tx_err(e))?;
            let rec = AccountRecord::decode(v.value())
                .map_err(|source| StorageError::Corrupt { path: self.path.clone(), source })?;
            out.insert(k.value().to_vec(), rec);
        }
        let meta = tx.open_table(META).map_err(|e| self.tx_err(e))?;
        let applied = meta.get(APPLIED).map_err(|e| self.tx_err(e))?.map(|v| v.value()).unwrap_or(0);
        Ok((out, applied))
    }

    /// Compacts the file until redb can shrink it no further: live pages
    /// move into freed ones and the file is truncated, so the bytes of a
    /// record version that was replaced (an erased record's secrets) no
    /// longer stand in freed pages (design §5.1 "Erased means gone").
    pub fn compact(&mut self) -> Result<(), StorageError> {
        while self.db.compact().map_err(|e| self.tx_err(e))? {}
        Ok(())
    }

    /// Durably stores one account's record (or its removal) and the applied index.
    pub fn put(&self, account: &[u8], record: Option<&AccountRecord>, applied: u64) -> Result<(), StorageError> {
        self.write(|accounts, meta| {
            match record {
                Some(r) => {
                    accounts.insert(account, r.encode_to_vec().as_slice()).map_err(|e| self.tx_err(e))?;
                }
                None => {
                    accounts.remove(account).map_err(|e| self.tx_err(e))?;
                }
            }
            meta.insert(APPLIED, applied).map_err(|e| self.tx_err(e))?;
            Ok(())
        })
    }
}

/// A single durable site applying commands in order: the storage under the
/// fleet's state machine, and on its own the vault of one site.
#[derive(Debug)]
pub struct DurableSite {
    store: SiteStore,
    accounts: BTreeMap<Vec<u8>, AccountRecord>,
    applied: u64,
}

impl DurableSite {
    /// Opens the site at `path`, loading its committed state.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let store = SiteStore::open(path)?;
        let (accounts, applied) = store.load()?;
        Ok(Self { store, accounts, applied })
    }

    /// The committed record of `account`.
    pub fn record(&self, account: &[u8]) -> Option<&AccountRecord> {
        self.accounts.get(account)
    }

    /// Every committed record.
    pub fn accounts(&self) -> &BTreeMap<Vec<u8>, AccountRecord> {
        &self.accounts
    }

    /// Index of the last applied command.
    pub fn applied_index(&self) -> u64 {
        self.applied
    }

    /// Applies `cmd` as command number `index`: computes the new record,
    /// writes it durably, and only then makes it visible. Commands at or
    /// below the applied index were applied before a restart and are skipped.
    pub fn apply(&mut self, index: u64, cmd: &Command) -> Result<Outcome, StorageError> {
        if index <= self.applied {
            return Ok(Outcome::Unchanged);
        }
        let mut record = self.accounts.get(&cmd.account).cloned();
        let outcome = state::apply(&mut record, cmd);
        self.store.put(&cmd.account, record.as_ref(), index)?;
        if state::erases(&outcome) {
            self.store.compact()?;
        }
        match record {
            Some(r) => self.accounts.insert(cmd.account.clone(), r),
            None => self.accounts.remove(&cmd.account),
        };
        self.applied = index;
        Ok(outcome)
    }

    /// Applies `cmd` as the next command.
    pub fn apply_next(&mut self, cmd: &Command) -> Result<Outcome, StorageError> {
        self.apply(self.applied + 1, cmd)
    }
}
