//! STAGE 2, I/O: the SQLite baseline. Opens (creating it owner-only), migrates,
//! loads the last known state of every scope, and writes a scan in one
//! transaction or not at all.

/// The snapshot columns, in the order `snapshot_from_row` reads them: one
/// encoding for the spool, the versions, and the copies between them.
/// Macros, not constants, so SQL text is built by `concat!` at compile
/// time, never by `format!`.
macro_rules! snapshot_columns {
    () => {
        "provider, service, account, region, snapshot_id, source_id, created_at, size_gib, encrypted, kms_key_id,
         description, state, tags, grantees, grantees_known, kind, attributes"
    };
}

/// A scope's columns equal to parameters 1 to 4.
macro_rules! in_scope {
    () => {
        "provider = ?1 AND service = ?2 AND account = ?3 AND region = ?4"
    };
}

/// The same snapshot in the spool (`s`) and the versions (`v`).
macro_rules! same_snapshot {
    () => {
        "s.provider = v.provider AND s.service = v.service AND s.account = v.account AND s.region = v.region
         AND s.snapshot_id = v.snapshot_id"
    };
}

/// ... with every column the same: the version is unchanged (the spool
/// encodes the columns as the versions do).
macro_rules! same_version {
    () => {
        concat!(
            same_snapshot!(),
            " AND s.source_id IS v.source_id AND s.created_at IS v.created_at AND s.size_gib IS v.size_gib
             AND s.encrypted IS v.encrypted AND s.kms_key_id IS v.kms_key_id AND s.description IS v.description
             AND s.state IS v.state AND s.tags IS v.tags AND s.grantees IS v.grantees
             AND s.grantees_known IS v.grantees_known AND s.kind IS v.kind AND s.attributes IS v.attributes"
        )
    };
}

pub mod attribution;
pub mod diff;
pub mod forget;
mod merge;
mod migrations;
pub mod prune;
mod read;
pub mod reports;
pub mod spool;
pub mod vanished;
mod write;

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

pub use spool::{Spool, SpoolFile};
pub use write::ScanRecord;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the database {path}: {source}")]
    Create { path: String, source: std::io::Error },
    #[error(
        "cannot create the scan's scratch file {path} beside the database: {source}; the database's folder must be writable. Nothing was written"
    )]
    Spool { path: String, source: std::io::Error },
    #[error(
        "{path} is not a snapaudit database (corrupt, truncated or another file); it was left untouched. Move it aside or pass another --db"
    )]
    Corrupt { path: String },
    #[error(
        "{path} is an SQLite database of another program (it has tables but no snapaudit schema); it was left untouched"
    )]
    NotOurs { path: String },
    #[error(
        "{path} was written by a newer snapaudit (schema {version}); upgrade snapaudit. The file was left untouched"
    )]
    NewerSchema { path: String, version: String },
    #[error("{path} is read-only: snapaudit needs to write the scan there; fix its permissions or pass another --db")]
    ReadOnly { path: String },
    #[error("{path} is a folder, not a database file: pass the file itself (e.g. --db {path}/snapaudit.db)")]
    Folder { path: String },
    #[error("{path} is busy: another snapaudit is writing it; try again when it finishes")]
    Busy { path: String },
    #[error("the disk holding {path} is full; the scan was not written and the baseline is unchanged")]
    Full { path: String },
    #[error(
        "{path}: disk I/O error (SQLite code {code}): the disk may be full or failing; the scan was not written and the baseline is unchanged"
    )]
    Io { path: String, code: i32 },
    #[error("database {path}: {source}")]
    Sqlite { path: String, source: rusqlite::Error },
    #[error("database {path}: stored value {value:?} in {column} is invalid")]
    BadValue { path: String, column: &'static str, value: String },
}

impl StoreError {
    /// Classify an SQLite error into the cases people can act on.
    fn from_sqlite(path: &str, source: rusqlite::Error) -> Self {
        let path = path.to_owned();
        match source.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt { path },
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly { path },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy { path },
            Some(ErrorCode::DiskFull) => StoreError::Full { path },
            // A full disk often surfaces as an I/O error instead (growing the
            // WAL index fails: SQLITE_IOERR_SHMSIZE).
            Some(ErrorCode::SystemIoFailure) => {
                let code = match &source {
                    rusqlite::Error::SqliteFailure(e, _) => e.extended_code,
                    _ => 0,
                };
                StoreError::Io { path, code }
            }
            Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => StoreError::ReadOnly { path },
            _ => StoreError::Sqlite { path, source },
        }
    }
}

pub struct Store {
    conn: Connection,
    path: String,
}

impl Store {
    /// Open the database at `path`, creating it (mode 0600, parent folders
    /// included) when absent. An existing file that is not a valid snapaudit
    /// database is reported and never overwritten.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let display = path.display().to_string();
        if path.is_dir() {
            return Err(StoreError::Folder { path: display });
        }
        if !path.exists() {
            create_owner_only(path).map_err(|source| StoreError::Create { path: display.clone(), source })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let mut conn = Connection::open_with_flags(path, flags).map_err(|e| StoreError::from_sqlite(&display, e))?;
        let err = |e| StoreError::from_sqlite(&display, e);
        conn.busy_timeout(Duration::from_secs(30)).map_err(err)?;
        // Reading the header first turns a corrupt or foreign file into a
        // clear error before anything could be written to it.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).map_err(err)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::ReadOnly { path: display });
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;").map_err(err)?;
        migrations::migrate(&mut conn, &display).map_err(|e| match e {
            StoreError::Sqlite { path, source } => StoreError::from_sqlite(&path, source),
            other => other,
        })?;
        Ok(Store { conn, path: display })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::from_sqlite(&self.path, e)
    }
}

fn create_owner_only(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    // SQLite gives its -wal and -shm files the database file's mode.
    OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    Ok(())
}

/// Where the database lives unless `--db` says otherwise.
pub fn default_path() -> PathBuf {
    PathBuf::from("state/snapaudit.db")
}

#[cfg(test)]
mod tests;
