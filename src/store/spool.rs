//! The scan's listing on disk: collectors hand each page (AWS: each scope)
//! to a [`Spool`], whose writer thread stores it in a scratch SQLite file
//! beside the database, so a scan holds what is in flight, not the estate.
//! The store then diffs the spooled listing against the baseline scope by
//! scope (`merge.rs`) and copies new versions from it in the scan's one
//! transaction (`write.rs`). The file is the scan's alone (the database lock
//! is held) and goes when the scan ends; it never holds a secret.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use rusqlite::{Connection, params};

use super::StoreError;
use crate::model::{ListingSink, Provider, Snapshot};

/// Batches in flight between the collectors and the writer: a collector
/// waits when the disk falls behind, so memory stays bounded.
const IN_FLIGHT: usize = 8;

enum Message {
    Put(Vec<Snapshot>),
    /// Forget what was spooled for an account of a provider: its listing
    /// failed part way (a failed scope has no listing).
    Discard(Provider, String),
}

/// Where collectors put what they listed. Cheap to clone.
#[derive(Clone)]
pub struct Spool {
    sender: SyncSender<Message>,
}

impl ListingSink for Spool {
    /// Store these snapshots (waits while the writer is behind). A writer
    /// that stopped on an error reports it at [`SpoolFile::finish`].
    fn put(&self, snapshots: Vec<Snapshot>) {
        if !snapshots.is_empty() {
            let _ = self.sender.send(Message::Put(snapshots));
        }
    }

    fn discard(&self, provider: Provider, account: &str) {
        let _ = self.sender.send(Message::Discard(provider, account.to_owned()));
    }
}

/// The scratch file and its writer; removed when dropped.
pub struct SpoolFile {
    path: PathBuf,
    spool: Option<Spool>,
    writer: Option<JoinHandle<rusqlite::Result<()>>>,
}

impl SpoolFile {
    /// A new, empty spool beside `db` (`DB-spool`, owner-only). One left by
    /// a scan that crashed is replaced: the database lock says no scan is
    /// using it.
    pub fn create(db: &Path) -> Result<SpoolFile, StoreError> {
        let mut name = db.file_name().unwrap_or_default().to_os_string();
        name.push("-spool");
        let path = db.with_file_name(name);
        let display = path.display().to_string();
        let _ = std::fs::remove_file(&path);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| StoreError::Spool { path: display.clone(), source })?;
        let conn = Connection::open(&path).map_err(|e| StoreError::from_sqlite(&display, e))?;
        // Scratch data: a crash loses nothing the database needs.
        conn.execute_batch(concat!(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
             CREATE TABLE staged (",
            snapshot_columns!(),
            ", PRIMARY KEY (provider, service, account, region, snapshot_id)) WITHOUT ROWID;
             CREATE INDEX staged_id ON staged (snapshot_id);"
        ))
        .map_err(|e| StoreError::from_sqlite(&display, e))?;
        let (sender, receiver) = sync_channel(IN_FLIGHT);
        let writer = std::thread::Builder::new()
            .name("spool".into())
            .spawn(move || write_all(conn, receiver))
            .map_err(|source| StoreError::Spool { path: display, source })?;
        Ok(SpoolFile { path, spool: Some(Spool { sender }), writer: Some(writer) })
    }

    /// A handle for the collectors.
    pub fn spool(&self) -> Spool {
        self.spool.clone().expect("the spool is open until finished")
    }

    /// Wait for every batch to be written (all handles must be dropped).
    pub fn finish(&mut self) -> Result<(), StoreError> {
        self.spool = None;
        let display = self.path.display().to_string();
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => Err(StoreError::from_sqlite(&display, e)),
            Some(Err(_)) => Err(StoreError::Spool {
                path: display,
                source: std::io::Error::other("the spool writer stopped unexpectedly"),
            }),
            _ => Ok(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SpoolFile {
    fn drop(&mut self) {
        let _ = self.finish();
        let _ = std::fs::remove_file(&self.path);
    }
}

fn write_all(mut conn: Connection, receiver: Receiver<Message>) -> rusqlite::Result<()> {
    while let Ok(message) = receiver.recv() {
        let tx = conn.transaction()?;
        match message {
            Message::Put(snapshots) => {
                let mut insert = tx.prepare_cached(concat!(
                    "INSERT OR REPLACE INTO staged (",
                    snapshot_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
                ))?;
                for s in &snapshots {
                    let grantees: Vec<String> = s.grantees.iter().map(|g| g.encode()).collect();
                    insert.execute(params![
                        s.scope.provider.as_str(),
                        s.scope.service.as_str(),
                        s.scope.account,
                        s.scope.region,
                        s.id,
                        s.source_id,
                        s.created_at,
                        s.size_gib,
                        s.encrypted,
                        s.kms_key_id,
                        s.description,
                        s.state,
                        serde_json::to_string(&s.tags).unwrap_or_else(|_| "{}".into()),
                        serde_json::to_string(&grantees).unwrap_or_else(|_| "[]".into()),
                        s.grantees_known,
                        s.kind,
                        serde_json::to_string(&s.attributes).unwrap_or_else(|_| "{}".into())
                    ])?;
                }
            }
            Message::Discard(provider, account) => {
                tx.execute(
                    "DELETE FROM staged WHERE provider = ?1 AND account = ?2",
                    params![provider.as_str(), account],
                )?;
            }
        }
        tx.commit()?;
    }
    Ok(())
}
