//! Persistence: sled holds the durable copy of the keyspace; memory serves every read.
//!
//! Nothing here knows about commands. The keyspace journals which keys changed;
//! [`GroupCommit`] periodically (or, under `appendfsync always`, as soon as a client waits)
//! takes the journal, copies the current state of those keys under the keyspace lock, and
//! writes them to sled as one batch outside it. Many clients' writes therefore share one
//! sled batch and one fsync, and a key written a thousand times between two commits costs
//! one disk write. A big collection whose elements changed costs the changed elements only
//! (see `layout.rs`), never a copy of the whole value.

mod commit;
mod layout;
mod wal;

use std::path::{Path, PathBuf};

use bytes::Bytes;

pub use commit::{Durability, GroupCommit};

use crate::keyspace::{Keyspace, Touched, Value};

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

/// The new state of one changed key: a *state*, so applying it twice is harmless.
#[derive(Debug, Clone)]
pub enum KeyState {
    /// The key's value and expiry, or `None` if it is gone; replaces everything stored for it.
    Whole(Option<Record>),
    /// A value stored per element: its new header (`layout::encode_meta`) and the changed
    /// elements, each with its entry value or `None` if gone. Other elements are unchanged.
    Elements {
        meta: Vec<u8>,
        elements: Vec<(Bytes, Option<Bytes>)>,
    },
}

/// The state of changed keys in one database, ready to be written.
#[derive(Debug, Default)]
pub struct DbChanges {
    pub db: u32,
    /// Drop everything stored for this database before applying `entries`.
    pub cleared: bool,
    /// Each changed key with its new state, applied in order.
    pub entries: Vec<(Bytes, KeyState)>,
}

/// Takes every database's journal and pairs each changed key with its current state.
/// Called with the keyspace locked; cheap: whole values are reference-counted, and a value
/// whose elements changed costs the changed elements.
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
            .map(|(key, touched)| {
                let entry = db.peek(&key);
                let state = match (touched, entry) {
                    // Still stored per element (a list may have shrunk since): else whole.
                    (Touched::Elements(changed), Some(e)) if e.value.per_element() => {
                        KeyState::Elements {
                            meta: layout::encode_meta(&e.value, e.expire_at),
                            elements: layout::element_states(&e.value, &changed),
                        }
                    }
                    (_, entry) => KeyState::Whole(entry.map(|e| (e.value.clone(), e.expire_at))),
                };
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

/// The sled database in `dir`: meta entries in the default tree, elements in `elements`.
pub struct Store {
    db: sled::Db,
    elements: sled::Tree,
    dir: PathBuf,
}

/// Writes through sled batches of at most [`SmallBatches::SIZE`] operations.
struct SmallBatches<'a> {
    db: &'a sled::Tree,
    batch: sled::Batch,
    len: usize,
}

impl<'a> SmallBatches<'a> {
    const SIZE: usize = 32;

    fn new(db: &'a sled::Tree) -> Self {
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
        let elements = db.open_tree("elements")?;
        Ok(Store {
            db,
            elements,
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
        let mut due = SmallBatches::new(&self.db);
        let mut due_elements = SmallBatches::new(&self.elements);
        for item in self.db.iter() {
            let (k, v) = item?;
            let (db, key) = layout::split_key(&k).ok_or(PersistError::Corrupt {
                db: 0,
                key: Bytes::copy_from_slice(&k),
            })?;
            let corrupt = || PersistError::Corrupt {
                db,
                key: Bytes::copy_from_slice(key),
            };
            let header = layout::decode_header(&v).ok_or_else(corrupt)?;
            if db >= databases {
                stats.out_of_range += 1;
                continue;
            }
            let expire_at = header.expire_at;
            if expire_at.is_some_and(|at| at <= now) {
                if header.per_element {
                    for ek in self
                        .elements
                        .scan_prefix(layout::element_prefix(db, key))
                        .keys()
                    {
                        due_elements.remove(ek?)?;
                    }
                }
                due.remove(k)?;
                stats.expired += 1;
                continue;
            }
            let value = if header.per_element {
                let prefix = layout::element_prefix(db, key);
                let entries = self
                    .elements
                    .scan_prefix(&prefix)
                    .collect::<Result<Vec<_>, _>>()?;
                layout::rebuild(
                    &header,
                    entries
                        .iter()
                        .map(|(ek, ev)| (&ek[prefix.len()..], &ev[..])),
                )
            } else {
                layout::decode_value(&v).map(|(value, _)| value)
            }
            .ok_or_else(corrupt)?;
            ks.db(db as usize)
                .load(Bytes::copy_from_slice(key), value, expire_at);
            stats.keys += 1;
        }
        due.finish()?;
        due_elements.finish()?;
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
        let mut elements = SmallBatches::new(&self.elements);
        for change in changes {
            let db = change.db;
            if change.cleared {
                for key in self.db.scan_prefix(layout::db_prefix(db)).keys() {
                    batch.remove(key?)?;
                }
                for key in self.elements.scan_prefix(layout::db_prefix(db)).keys() {
                    elements.remove(key?)?;
                }
            }
            for (key, state) in &change.entries {
                let k = layout::encode_key(db, key);
                match state {
                    KeyState::Whole(whole) => {
                        // Whatever the key held before goes, its elements included.
                        for ek in self
                            .elements
                            .scan_prefix(layout::element_prefix(db, key))
                            .keys()
                        {
                            elements.remove(ek?)?;
                        }
                        match whole {
                            None => batch.remove(k)?,
                            Some((value, expire_at)) if value.per_element() => {
                                batch.insert(k, layout::encode_meta(value, *expire_at))?;
                                for (id, item) in layout::elements(value) {
                                    elements
                                        .insert(layout::element_key(db, key, &id), item.to_vec())?;
                                }
                            }
                            Some((value, expire_at)) => {
                                batch.insert(k, layout::encode_value(value, *expire_at))?
                            }
                        }
                    }
                    KeyState::Elements {
                        meta,
                        elements: changed,
                    } => {
                        batch.insert(k, meta.clone())?;
                        for (id, item) in changed {
                            let ek = layout::element_key(db, key, id);
                            match item {
                                Some(item) => elements.insert(ek, item.to_vec())?,
                                None => elements.remove(ek)?,
                            }
                        }
                    }
                }
            }
        }
        batch.finish()?;
        elements.finish()
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
