//! Persistence: sled holds the durable copy of the keyspace; memory serves every read.
//!
//! Nothing here knows about commands. The keyspace journals which keys changed;
//! [`GroupCommit`] periodically (or, under `appendfsync always`, as soon as a client waits)
//! takes the journal, copies the current state of those keys under the keyspace lock, and
//! writes them to sled as one batch outside it. Many clients' writes therefore share one
//! sled batch and one fsync, and a key written a thousand times between two commits costs
//! one disk write.

mod commit;
mod layout;
mod wal;

use std::path::{Path, PathBuf};

use bytes::Bytes;

pub use commit::{Durability, GroupCommit};

use crate::keyspace::{Keyspace, Value};

/// Failures opening or writing the store; all are fatal to the server.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("the data directory {0} is in use by another kvstore process (its lock is held)")]
    Locked(PathBuf),
    #[error("cannot open the data directory {path}: {source}")]
    Open { path: PathBuf, source: sled::Error },
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("corrupt record for key {key:?} in database {db}")]
    Corrupt { db: u32, key: Bytes },
    #[error("log: {0}")]
    Io(#[from] std::io::Error),
}

/// A key's stored state: its value and absolute expiry time.
pub type Record = (Value, Option<u64>);

/// The state of changed keys in one database, ready to be written.
#[derive(Debug, Default)]
pub struct DbChanges {
    pub db: u32,
    /// Drop everything stored for this database before applying `entries`.
    pub cleared: bool,
    /// Each changed key with its current value and expiry, or `None` if it is gone.
    pub entries: Vec<(Bytes, Option<Record>)>,
}

/// Takes every database's journal and pairs each changed key with its current state.
/// Called with the keyspace locked; cheap, since values are reference-counted.
pub fn collect_changes(ks: &mut Keyspace) -> Vec<DbChanges> {
    let mut out = Vec::new();
    for (index, db) in ks.dbs_mut().iter_mut().enumerate() {
        let journal = db.take_journal();
        if !journal.cleared && journal.dirty.is_empty() {
            continue;
        }
        let entries = journal
            .dirty
            .into_iter()
            .map(|key| {
                let state = db.peek(&key).map(|e| (e.value.clone(), e.expire_at));
                (key, state)
            })
            .collect();
        out.push(DbChanges {
            db: index as u32,
            cleared: journal.cleared,
            entries,
        });
    }
    out
}

/// The sled database in `dir`.
pub struct Store {
    db: sled::Db,
    dir: PathBuf,
}

/// Writes through sled batches of at most [`SmallBatches::SIZE`] operations.
struct SmallBatches<'a> {
    db: &'a sled::Db,
    batch: sled::Batch,
    len: usize,
}

impl<'a> SmallBatches<'a> {
    const SIZE: usize = 32;

    fn new(db: &'a sled::Db) -> Self {
        SmallBatches {
            db,
            batch: sled::Batch::default(),
            len: 0,
        }
    }

    fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), PersistError> {
        self.batch.insert(key, value);
        self.added()
    }

    fn remove(&mut self, key: impl Into<sled::IVec>) -> Result<(), PersistError> {
        self.batch.remove(key);
        self.added()
    }

    fn added(&mut self) -> Result<(), PersistError> {
        self.len += 1;
        if self.len == Self::SIZE {
            self.finish()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), PersistError> {
        self.len = 0;
        self.db.apply_batch(std::mem::take(&mut self.batch))?;
        Ok(())
    }
}

/// What a start-up load found.
#[derive(Debug, Default, Clone, Copy)]
pub struct LoadStats {
    pub keys: usize,
    pub expired: usize,
    /// Keys of databases beyond the configured `databases` count, kept on disk but not served.
    pub out_of_range: usize,
}

impl Store {
    /// Opens (or creates) the store under `dir`. Refuses a directory another process holds.
    pub fn open(dir: &Path) -> Result<Store, PersistError> {
        let path = dir.join("kvstore.sled");
        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(64 * 1024 * 1024)
            .flush_every_ms(None)
            .open()
            .map_err(|source| match &source {
                sled::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("lock") =>
                {
                    PersistError::Locked(dir.to_path_buf())
                }
                _ => PersistError::Open {
                    path: path.clone(),
                    source,
                },
            })?;
        Ok(Store {
            db,
            dir: dir.to_path_buf(),
        })
    }

    /// The data directory (sled's database and the log segments).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Crash recovery: applies every log segment left in the data directory to sled, oldest
    /// first, makes sled durable, and deletes the segments. Returns how many commits it
    /// replayed. Replaying a commit sled already holds is harmless: records are key states.
    pub fn replay_log(&self) -> Result<usize, PersistError> {
        let segments = wal::segments(&self.dir)?;
        let Some(&(last, _)) = segments.last() else {
            return Ok(0);
        };
        let mut commits = 0;
        for (_, path) in &segments {
            for changes in wal::read_segment(path)? {
                self.write(&changes)?;
                commits += 1;
            }
        }
        self.sync()?;
        wal::remove_through(&self.dir, last)?;
        Ok(commits)
    }

    /// Loads every stored key into `ks`; keys already due are deleted from disk instead.
    pub fn load(&self, ks: &mut Keyspace, now: u64) -> Result<LoadStats, PersistError> {
        let mut stats = LoadStats::default();
        let databases = ks.dbs().len() as u32;
        let mut due = sled::Batch::default();
        for item in self.db.iter() {
            let (k, v) = item?;
            let (db, key) = layout::split_key(&k).ok_or(PersistError::Corrupt {
                db: 0,
                key: Bytes::copy_from_slice(&k),
            })?;
            let (value, expire_at) =
                layout::decode_value(&v).ok_or_else(|| PersistError::Corrupt {
                    db,
                    key: Bytes::copy_from_slice(key),
                })?;
            if db >= databases {
                stats.out_of_range += 1;
                continue;
            }
            if expire_at.is_some_and(|at| at <= now) {
                due.remove(k);
                stats.expired += 1;
                continue;
            }
            ks.db(db as usize)
                .load(Bytes::copy_from_slice(key), value, expire_at);
            stats.keys += 1;
        }
        self.db.apply_batch(due)?;
        Ok(stats)
    }

    /// Writes a set of changes (not yet fsynced).
    ///
    /// The changes go to sled in small batches: sled holds a whole batch, and more, in
    /// memory while it applies it, and one batch per commit made a million-key load cost
    /// gigabytes. A crash in the middle of a commit may therefore persist part of it; no
    /// client was told that commit was durable, so nothing acknowledged under
    /// `appendfsync always` is lost.
    pub fn write(&self, changes: &[DbChanges]) -> Result<(), PersistError> {
        let mut batch = SmallBatches::new(&self.db);
        for change in changes {
            if change.cleared {
                for key in self.db.scan_prefix(layout::db_prefix(change.db)).keys() {
                    batch.remove(key?)?;
                }
            }
            for (key, state) in &change.entries {
                let k = layout::encode_key(change.db, key);
                match state {
                    Some((value, expire_at)) => {
                        batch.insert(k, layout::encode_value(value, *expire_at))?
                    }
                    None => batch.remove(k)?,
                }
            }
        }
        batch.finish()
    }

    /// Makes everything written so far durable (fsync).
    pub fn sync(&self) -> Result<(), PersistError> {
        self.db.flush()?;
        Ok(())
    }

    /// Bytes sled uses on disk, for INFO.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}
