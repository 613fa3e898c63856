//! Persistence: sled holds the durable copy of the keyspace; memory serves every read.
//!
//! Nothing here knows about commands. The keyspace journals which keys changed;
//! [`GroupCommit`] periodically (or, under `appendfsync always`, as soon as a client waits)
//! takes the journal, copies the current state of those keys under the keyspace lock, and
//! appends them to a redo log outside it; a checkpoint moves them to sled about once a
//! second. Many clients' writes therefore share one log append and one fsync, and a key
//! written a thousand times between two checkpoints costs one sled write. A big collection
//! whose elements changed costs the buckets (or list chunks) holding the changed elements
//! (see `layout.rs`), never a copy of the whole value.

mod commit;
mod layout;
mod stream;
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

    /// Applies `ops` in one sled batch of their own, atomically whatever their number.
    fn apply_together(
        &mut self,
        ops: impl IntoIterator<Item = (Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<(), PersistError> {
        self.finish()?;
        let mut batch = sled::Batch::default();
        for (key, value) in ops {
            match value {
                Some(value) => batch.insert(key, value),
                None => batch.remove(key),
            }
        }
        self.db.apply_batch(batch)?;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), PersistError> {
        if self.len > 0 {
            self.len = 0;
            self.db.apply_batch(std::mem::take(&mut self.batch))?;
        }
        Ok(())
    }
}

/// Keys per batch the load's walk hands to its inserter, and batches in flight.
const LOAD_BATCH: usize = 1024;
const LOAD_QUEUE: usize = 16;

/// One key the load decoded, on its way into the keyspace.
struct Loaded {
    db: u32,
    key: Bytes,
    value: Value,
    expire_at: Option<u64>,
    /// Stored in an older layout: journaled whole, so the next checkpoint rewrites it.
    rewrite: bool,
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
        // Commits are merged as a checkpoint merges them (the latest state of each key) and
        // written to sled in bounded groups: a key the log holds a hundred times is written
        // once. Replaying 7 commits of 200,000 keys one by one took 5.6 s.
        let mut commits = 0;
        let mut merged = commit::Pending::default();
        for (_, path) in &segments {
            for changes in wal::read_segment(path)? {
                merged.merge(changes);
                commits += 1;
                if merged.items >= commit::PENDING_LIMIT {
                    self.write(&merged.take())?;
                }
            }
        }
        if !merged.is_empty() {
            self.write(&merged.take())?;
        }
        self.sync()?;
        wal::remove_through(&self.dir, last)?;
        Ok(commits)
    }

    /// Loads every stored key into `ks`; keys already due are deleted from disk instead.
    ///
    /// Two threads share the work, as a pipeline: this one walks sled and decodes the
    /// values, a scoped one inserts them into the keyspace, in batches (a million small
    /// keys: 1.7 s on one thread).
    pub fn load(&self, ks: &mut Keyspace, now: u64) -> Result<LoadStats, PersistError> {
        let databases = ks.dbs().len() as u32;
        let (batches, received) = std::sync::mpsc::sync_channel::<Vec<Loaded>>(LOAD_QUEUE);
        std::thread::scope(|scope| {
            let inserter = std::thread::Builder::new()
                .name("kvstore-load".into())
                .spawn_scoped(scope, move || {
                    let mut keys = 0;
                    for batch in received {
                        for loaded in batch {
                            let target = ks.db(loaded.db as usize);
                            if loaded.rewrite {
                                target.load(loaded.key.clone(), loaded.value, loaded.expire_at);
                                target.journal_whole(loaded.key);
                            } else {
                                target.load(loaded.key, loaded.value, loaded.expire_at);
                            }
                            keys += 1;
                        }
                    }
                    keys
                })
                .expect("spawn the load thread");
            let read = self.read_all(databases, now, batches);
            let keys = inserter.join().expect("the load thread panicked");
            read.map(|mut stats| {
                stats.keys = keys;
                stats
            })
        })
    }

    /// The walk of [`Store::load`]: decoded keys go to `batches`; keys already due, and their
    /// elements, are deleted.
    fn read_all(
        &self,
        databases: u32,
        now: u64,
        batches: std::sync::mpsc::SyncSender<Vec<Loaded>>,
    ) -> Result<LoadStats, PersistError> {
        let mut stats = LoadStats::default();
        let mut due = SmallBatches::new(&self.db);
        let mut due_elements = SmallBatches::new(&self.elements);
        let mut batch = Vec::with_capacity(LOAD_BATCH);
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
                // Streamed: a million-element value is never held twice.
                let prefix = layout::element_prefix(db, key);
                let mut failed = None;
                let entries = self
                    .elements
                    .scan_prefix(&prefix)
                    .map_while(|r| r.map_err(|e| failed = Some(e)).ok());
                let value = layout::rebuild(&header, prefix.len(), entries);
                if let Some(e) = failed {
                    return Err(e.into());
                }
                value
            } else {
                layout::decode_value(&v).map(|(value, _)| value)
            }
            .ok_or_else(corrupt)?;
            // A value in an older layout (a big collection whole, a list one entry per
            // element) is rewritten before any element-level change is logged for it.
            let rewrite = header.outdated(&value);
            batch.push(Loaded {
                db,
                key: Bytes::copy_from_slice(key),
                value,
                expire_at,
                rewrite,
            });
            if batch.len() == LOAD_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(LOAD_BATCH));
                if batches.send(full).is_err() {
                    break; // the inserter is gone: its panic is reported by the join
                }
            }
        }
        if !batch.is_empty() {
            let _ = batches.send(batch);
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
                        if self.write_list_chunks(
                            db,
                            key,
                            meta,
                            changed,
                            &mut batch,
                            &mut elements,
                        )? || self.write_buckets(
                            db,
                            key,
                            meta,
                            changed,
                            &mut batch,
                            &mut elements,
                        )? {
                            continue;
                        }
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

    /// If `meta` is a chunked list's header, applies it and the changed elements: chunks
    /// holding changes or ending the live ids are read, merged and trimmed; chunks the list
    /// left are deleted. Returns whether it was one.
    fn write_list_chunks(
        &self,
        db: u32,
        key: &Bytes,
        meta: &[u8],
        changed: &[(Bytes, Option<Bytes>)],
        batch: &mut SmallBatches<'_>,
        elements: &mut SmallBatches<'_>,
    ) -> Result<bool, PersistError> {
        let Some(live) = layout::decode_header(meta).and_then(|h| h.list_ids()) else {
            return Ok(false);
        };
        let k = layout::encode_key(db, key);
        let corrupt = || PersistError::Corrupt {
            db,
            key: key.clone(),
        };
        // What is read below must reflect this write's earlier operations.
        batch.finish()?;
        elements.finish()?;
        let stored = self.db.get(&k)?;
        let old = stored
            .as_deref()
            .and_then(layout::decode_header)
            .and_then(|h| h.list_ids());
        batch.insert(k, meta.to_vec())?;
        let plan = layout::plan_list_chunks(old, live.clone(), changed).ok_or_else(corrupt)?;
        for chunk in plan.delete {
            elements.remove(layout::element_key(db, key, &chunk))?;
        }
        for (chunk, changes) in plan.rewrite {
            let ek = layout::element_key(db, key, &chunk);
            let stored = self.elements.get(&ek)?;
            match layout::merge_chunk(&chunk, stored.as_deref(), &changes, &live)
                .map_err(|()| corrupt())?
            {
                Some(entry) => elements.insert(ek, entry)?,
                None => elements.remove(ek)?,
            }
        }
        Ok(true)
    }

    /// If `meta` is a bucketed hash's, set's or sorted set's header, applies it and the
    /// changed elements: each bucket holding changes is read once, merged, split if it grew
    /// too big (its pieces in one atomic batch), and written once. Returns whether it was one.
    fn write_buckets(
        &self,
        db: u32,
        key: &Bytes,
        meta: &[u8],
        changed: &[(Bytes, Option<Bytes>)],
        batch: &mut SmallBatches<'_>,
        elements: &mut SmallBatches<'_>,
    ) -> Result<bool, PersistError> {
        if !layout::decode_header(meta).is_some_and(|h| h.bucketed) {
            return Ok(false);
        }
        let corrupt = || PersistError::Corrupt {
            db,
            key: key.clone(),
        };
        // What is read below must reflect this write's earlier operations.
        batch.finish()?;
        elements.finish()?;
        batch.insert(layout::encode_key(db, key), meta.to_vec())?;
        let prefix = layout::element_prefix(db, key);
        let bucket_key = |start: u64| {
            let mut k = prefix.clone();
            k.extend_from_slice(&start.to_be_bytes());
            k
        };
        let mut changes: Vec<layout::BucketChange<'_>> = changed
            .iter()
            .map(|(id, item)| (layout::element_hash(id), id, item))
            .collect();
        // Stable: should an element come twice, its later state stays later.
        changes.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut at = 0;
        while let Some(&(hash, _, _)) = changes.get(at) {
            // The bucket holding `hash` is the entry with the greatest start at most `hash`;
            // without one, a new bucket starts at `hash`. It ends where the next one starts.
            let (start, stored) = match self
                .elements
                .range(bucket_key(0)..=bucket_key(hash))
                .next_back()
                .transpose()?
            {
                Some((k, v)) => (
                    layout::parse_bucket_id(&k[prefix.len()..]).ok_or_else(corrupt)?,
                    Some(v),
                ),
                None => (hash, None),
            };
            let end = match hash.checked_add(1) {
                Some(next) => self
                    .elements
                    .range(bucket_key(next)..=bucket_key(u64::MAX))
                    .next()
                    .transpose()?
                    .map(|(k, _)| layout::parse_bucket_id(&k[prefix.len()..]).ok_or_else(corrupt))
                    .transpose()?,
                None => None,
            };
            let stop =
                at + changes[at..].partition_point(|&(h, _, _)| end.map_or(true, |end| h < end));
            let writes = layout::merge_bucket(start, stored.as_deref(), &changes[at..stop])
                .map_err(|()| corrupt())?;
            let split = writes.len() > 1;
            let writes = writes
                .into_iter()
                .map(|(start, entry)| (bucket_key(start), entry));
            if split {
                elements.apply_together(writes)?;
            } else {
                for (k, entry) in writes {
                    match entry {
                        Some(entry) => elements.insert(k, entry)?,
                        None => elements.remove(k)?,
                    }
                }
            }
            at = stop;
        }
        Ok(true)
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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Arc;

    use super::*;
    use crate::keyspace::zset::ListpackLimits;
    use crate::keyspace::{Hash, HashLimits, ListEnd, Set, ZSet};

    const LIMITS: HashLimits = HashLimits {
        max_entries: 4,
        max_value: 64,
    };

    fn b(s: impl Into<String>) -> Bytes {
        Bytes::from(s.into())
    }

    /// Commits what `ks` journaled since the last call into `store`, as the group commit does.
    fn commit(ks: &mut Keyspace, store: &Store) -> Vec<(Bytes, KeyState)> {
        let changes = collect_changes(ks);
        store.write(&changes).unwrap();
        changes.into_iter().flat_map(|c| c.entries).collect()
    }

    fn reloaded(store: &Store) -> Keyspace {
        let mut ks = Keyspace::new(2);
        store.load(&mut ks, 0).unwrap();
        ks
    }

    fn assert_same(a: &mut Keyspace, b: &mut Keyspace) {
        for db in 0..2 {
            let mut keys = a.db(db).keys(0);
            keys.sort();
            let mut other = b.db(db).keys(0);
            other.sort();
            assert_eq!(keys, other);
            for key in keys {
                let (x, y) = (a.db(db).peek(&key).unwrap(), b.db(db).peek(&key).unwrap());
                assert_eq!(x.value, y.value, "{key:?}");
                assert_eq!(x.value.encoding(), y.value.encoding(), "{key:?}");
                assert_eq!(x.expire_at, y.expire_at, "{key:?}");
                if let (Value::List(l), Value::List(m)) = (&x.value, &y.value) {
                    assert_eq!(l.head(), m.head(), "{key:?}: list ids");
                }
            }
        }
    }

    #[test]
    fn element_changes_reach_sled_and_load_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut ks = Keyspace::new(2);
        let db = ks.db(1);
        let mut hash = Hash::default();
        let mut set = Set::new();
        for i in 0..50 {
            hash.set(b(format!("f{i}")), b(format!("v{i}")), LIMITS);
            set.add(b(format!("m{i}")), 512);
        }
        let mut small = Hash::default();
        small.set(b("z"), b("1"), LIMITS);
        small.set(b("a"), b("2"), LIMITS);
        db.insert(b("hash"), Value::Hash(Arc::new(hash)), Some(5_000));
        db.insert(b("set"), Value::Set(Arc::new(set)), None);
        db.insert(b("small"), Value::Hash(Arc::new(small)), None);
        db.insert(
            b("list"),
            Value::list((0..200).map(|i| b(format!("e{i}"))).collect()),
            None,
        );
        db.insert(b("str"), Value::Str(b("s")), None);
        let mut zset = ZSet::default();
        for i in 0..50 {
            zset.insert(
                b(format!("z{i}")),
                f64::from(i % 7),
                ListpackLimits::default(),
            );
        }
        zset.insert(b("negative zero"), -0.0, ListpackLimits::default());
        db.insert(b("zset"), Value::ZSet(Arc::new(zset)), Some(7_000));
        commit(&mut ks, &store);
        assert_same(&mut ks, &mut reloaded(&store));

        let db = ks.db(1);
        let (f1, f2, m3) = (b("f1"), b("f2"), b("m3"));
        let Some(Value::Hash(h)) = db.value_mut_elements(b"hash", 0, [&f1, &f2]) else {
            panic!()
        };
        let h = Arc::make_mut(h);
        h.set(f1.clone(), b("changed"), LIMITS);
        h.remove(&f2);
        let Some(Value::Set(s)) = db.value_mut_elements(b"set", 0, [&m3]) else {
            panic!()
        };
        Arc::make_mut(s).remove(&m3);
        for _ in 0..3 {
            db.list_ends_mut(b"list", 0, ListEnd::Front, 1, 0)
                .unwrap()
                .push_front(b("new"));
        }
        db.list_ends_mut(b"list", 0, ListEnd::Back, 0, 5).unwrap();
        let list = db.list_ends_mut(b"list", 0, ListEnd::Front, 0, 1).unwrap();
        list.pop_front();
        for _ in 0..5 {
            list.pop_back();
        }
        db.set_expire(b"set", Some(9_000), 0);
        let (z1, z2) = (b("z1"), b("z2"));
        let z = db
            .value_mut_elements(b"zset", 0, [&z1, &z2])
            .and_then(Value::as_zset_mut)
            .unwrap();
        z.insert(z1.clone(), -3.5, ListpackLimits::default());
        z.remove(&z2);
        let logged = commit(&mut ks, &store);
        assert_eq!(logged.len(), 4);
        for (key, state) in &logged {
            let KeyState::Elements { elements, .. } = state else {
                panic!("{key:?} logged whole")
            };
            // The list: 3 pushed, 1 popped at the head, 5 popped at the tail.
            assert!(elements.len() <= 9, "{key:?}: {elements:?}");
        }
        assert_same(&mut ks, &mut reloaded(&store));

        // A whole-key change after element changes in the same window supersedes them.
        let db = ks.db(1);
        let f9 = b("f9");
        db.value_mut_elements(b"hash", 0, [&f9]);
        db.insert(b("hash"), Value::Str(b("now a string")), None);
        db.delete(b"set", 0);
        commit(&mut ks, &store);
        let mut back = reloaded(&store);
        assert_same(&mut ks, &mut back);
        assert_eq!(
            store
                .elements
                .scan_prefix(layout::element_prefix(1, b"set"))
                .count(),
            0
        );
        assert_eq!(
            store
                .elements
                .scan_prefix(layout::element_prefix(1, b"hash"))
                .count(),
            0
        );
        assert_eq!(
            store
                .elements
                .scan_prefix(layout::element_prefix(1, b"list"))
                .count(),
            3,
            "ids -2..=194 are in the chunks -1, 0 and 1"
        );
    }

    /// A fresh store, and a keyspace whose database 0 holds the list `l` of `n` elements.
    fn store_and_list(n: usize) -> (tempfile::TempDir, Store, Keyspace) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut ks = Keyspace::new(2);
        let items = (0..n).map(|i| b(format!("e{i}"))).collect();
        ks.db(0).insert(b("l"), Value::list(items), None);
        (dir, store, ks)
    }

    /// Pops `pops` elements of list `l` at one end, then pushes `items` at `push_at`.
    fn pop_then_push(
        ks: &mut Keyspace,
        pop_at: ListEnd,
        pops: usize,
        push_at: ListEnd,
        items: Vec<Bytes>,
    ) {
        let db = ks.db(0);
        let list = db.list_ends_mut(b"l", 0, pop_at, 0, pops).unwrap();
        for _ in 0..pops {
            match pop_at {
                ListEnd::Front => list.pop_front(),
                ListEnd::Back => list.pop_back(),
            };
        }
        let list = db.list_ends_mut(b"l", 0, push_at, items.len(), 0).unwrap();
        for item in items {
            match push_at {
                ListEnd::Front => list.push_front(item),
                ListEnd::Back => list.push_back(item),
            }
        }
    }

    /// Crash recovery: after every commit reached sled, replaying any suffix of them from the
    /// redo log must end in the newest state.
    fn assert_replays_converge(store: &Store, ks: &mut Keyspace, commits: &[Vec<DbChanges>]) {
        for start in 0..commits.len() {
            for commit in commits {
                store.write(commit).unwrap();
            }
            for commit in &commits[start..] {
                store.write(commit).unwrap();
            }
            assert_same(ks, &mut reloaded(store));
        }
    }

    #[test]
    fn list_chunks_follow_pushes_and_pops_at_both_ends() {
        let (_dir, store, mut ks) = store_and_list(300);
        commit(&mut ks, &store);
        for round in 0..5 {
            // Pops empty whole chunks at one end while pushes open new ones at the other.
            let pushed = (0..150).map(|i| b(format!("r{round}.{i}"))).collect();
            pop_then_push(&mut ks, ListEnd::Front, 100, ListEnd::Back, pushed);
            if round % 2 == 1 {
                let pushed = vec![b(""), b("front\r\n")];
                pop_then_push(&mut ks, ListEnd::Front, 0, ListEnd::Front, pushed);
            }
            commit(&mut ks, &store);
            assert_same(&mut ks, &mut reloaded(&store));
        }
        let list = ks.db(0).peek(b"l").unwrap().value.clone();
        let Value::List(l) = &list else { panic!() };
        let chunks = |from: i64, to: i64| to.div_euclid(128) - from.div_euclid(128) + 1;
        assert_eq!(
            store
                .elements
                .scan_prefix(layout::element_prefix(0, b"l"))
                .count() as i64,
            chunks(l.head(), l.tail() - 1),
            "no chunk outside the list's ids is left"
        );
    }

    #[test]
    fn replaying_list_commits_over_newer_state_ends_in_the_newest() {
        // Crash recovery replays every log segment, some of which a checkpoint that was cut
        // short already wrote: list states must converge whatever sled held.
        let (_dir, store, mut ks) = store_and_list(400);
        let mut commits = vec![collect_changes(&mut ks)];
        for round in 0..4 {
            let pushed = (0..140).map(|i| b(format!("f{round}.{i}"))).collect();
            pop_then_push(&mut ks, ListEnd::Back, 130, ListEnd::Front, pushed);
            commits.push(collect_changes(&mut ks));
        }
        assert_replays_converge(&store, &mut ks, &commits);
    }

    #[test]
    fn a_list_stored_one_entry_per_element_loads_and_is_rewritten_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // The layout before chunks: a header without the chunk flag, one entry per element
        // keyed by its id (encoded to sort as a number), starting at id -3.
        let mut meta = vec![1, 2 | 4];
        meta.extend_from_slice(&(-3i64).to_be_bytes());
        store
            .db
            .insert(layout::encode_key(0, b"old"), meta)
            .unwrap();
        let items: Vec<Bytes> = (0..200).map(|i| b(format!("x{i}"))).collect();
        for (i, item) in items.iter().enumerate() {
            let id = ((i as i64 - 3) as u64 ^ (1 << 63)).to_be_bytes();
            store
                .elements
                .insert(layout::element_key(0, b"old", &id), item.to_vec())
                .unwrap();
        }
        let mut ks = reloaded(&store);
        let loaded = ks.db(0).peek(b"old").unwrap().value.clone();
        assert_eq!(loaded.as_list().unwrap(), &VecDeque::from(items));
        ks.db(0)
            .list_ends_mut(b"old", 0, ListEnd::Back, 1, 0)
            .unwrap()
            .push_back(b("new"));
        commit(&mut ks, &store);
        assert_same(&mut ks, &mut reloaded(&store));
        assert_eq!(
            store
                .elements
                .scan_prefix(layout::element_prefix(0, b"old"))
                .count(),
            3,
            "ids -3..=197 in the chunks -1, 0 and 1, and no entry per element"
        );
    }

    /// A fresh store, and a keyspace whose database 0 holds the hash `h`, the set `s` and
    /// the sorted set `z`, each of `n` elements.
    fn store_and_collections(n: usize) -> (tempfile::TempDir, Store, Keyspace) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut ks = Keyspace::new(2);
        let (mut hash, mut set, mut zset) = (Hash::default(), Set::new(), ZSet::default());
        for i in 0..n {
            hash.set(b(format!("f{i}")), b(format!("v{i}")), LIMITS);
            set.add(b(format!("m{i}")), 512);
            zset.insert(b(format!("z{i}")), i as f64, ListpackLimits::default());
        }
        let db = ks.db(0);
        db.insert(b("h"), Value::Hash(Arc::new(hash)), None);
        db.insert(b("s"), Value::Set(Arc::new(set)), None);
        db.insert(b("z"), Value::ZSet(Arc::new(zset)), None);
        (dir, store, ks)
    }

    /// Round `round` of element changes to `h`, `s` and `z`: `adds` new elements (some
    /// with long values, so buckets split by size too), and the removal and change of every
    /// `step`-th element of the first `n`.
    fn change_collections(ks: &mut Keyspace, round: usize, n: usize, adds: usize, step: usize) {
        let db = ks.db(0);
        for i in 0..adds {
            let (f, m, z) = (
                b(format!("new{round}.{i}")),
                b(format!("m{round}.{i}")),
                b(format!("z{round}.{i}")),
            );
            let value = if i % 50 == 0 {
                "x".repeat(3000)
            } else {
                format!("{i}")
            };
            let Some(Value::Hash(h)) = db.value_mut_elements(b"h", 0, [&f]) else {
                panic!()
            };
            Arc::make_mut(h).set(f.clone(), b(value), LIMITS);
            let Some(Value::Set(s)) = db.value_mut_elements(b"s", 0, [&m]) else {
                panic!()
            };
            Arc::make_mut(s).add(m.clone(), 512);
            let zs = db
                .value_mut_elements(b"z", 0, [&z])
                .and_then(Value::as_zset_mut)
                .unwrap();
            zs.insert(z.clone(), -(i as f64), ListpackLimits::default());
        }
        for i in (round % step..n).step_by(step) {
            let (f, m, z) = (b(format!("f{i}")), b(format!("m{i}")), b(format!("z{i}")));
            let Some(Value::Hash(h)) = db.value_mut_elements(b"h", 0, [&f]) else {
                panic!()
            };
            let h = Arc::make_mut(h);
            if i % 2 == 0 {
                h.remove(&f);
            } else {
                h.set(f.clone(), b(format!("r{round}")), LIMITS);
            }
            let Some(Value::Set(s)) = db.value_mut_elements(b"s", 0, [&m]) else {
                panic!()
            };
            Arc::make_mut(s).remove(&m);
            let zs = db
                .value_mut_elements(b"z", 0, [&z])
                .and_then(Value::as_zset_mut)
                .unwrap();
            zs.insert(z.clone(), round as f64 + 0.5, ListpackLimits::default());
        }
    }

    /// Checks the bucket invariant of `key` in database 0: entries in id order, each
    /// element in the entry with the greatest id at most its hash; returns the entry count.
    fn buckets_of(store: &Store, key: &[u8]) -> usize {
        let prefix = layout::element_prefix(0, key);
        let mut count = 0;
        let mut last_end = None;
        for entry in store.elements.scan_prefix(&prefix) {
            let (k, v) = entry.unwrap();
            let start = layout::parse_bucket_id(&k[prefix.len()..]).unwrap();
            let mut r = layout::BucketReader::new(&v);
            while let Some([id, _]) = r.next_element().unwrap() {
                let hash = layout::element_hash(id);
                assert!(hash >= start, "{key:?}: element below its bucket");
                assert!(
                    last_end.map_or(true, |end| hash > end),
                    "{key:?}: out of order"
                );
                last_end = Some(hash);
            }
            count += 1;
        }
        count
    }

    #[test]
    fn buckets_split_merge_and_load_back_exactly() {
        let n = 2_000;
        let (_dir, store, mut ks) = store_and_collections(n);
        commit(&mut ks, &store);
        assert_same(&mut ks, &mut reloaded(&store));
        for key in [b"h", b"s", b"z"] {
            let buckets = buckets_of(&store, key);
            assert!(
                (n / 128..=n / 32).contains(&buckets),
                "{key:?}: {buckets} buckets"
            );
        }
        for round in 0..4 {
            change_collections(&mut ks, round, n, 700, 3);
            let logged = commit(&mut ks, &store);
            assert!(logged
                .iter()
                .all(|(_, s)| matches!(s, KeyState::Elements { .. })));
            assert_same(&mut ks, &mut reloaded(&store));
            for key in [b"h", b"s", b"z"] {
                buckets_of(&store, key);
            }
        }
        // Emptied buckets go: remove nearly everything from the set.
        let db = ks.db(0);
        let members: Vec<Bytes> = match &db.peek(b"s").unwrap().value {
            Value::Set(s) => s.iter().skip(3).collect(),
            _ => panic!(),
        };
        let Some(Value::Set(s)) = db.value_mut_elements(b"s", 0, &members) else {
            panic!()
        };
        let s = Arc::make_mut(s);
        members.iter().for_each(|m| {
            s.remove(m);
        });
        commit(&mut ks, &store);
        assert_same(&mut ks, &mut reloaded(&store));
        assert!(buckets_of(&store, b"s") <= 3);
    }

    #[test]
    fn replaying_bucket_commits_over_newer_state_ends_in_the_newest() {
        // As for lists: a checkpoint cut short may have written later commits already.
        let n = 600;
        let (_dir, store, mut ks) = store_and_collections(n);
        let mut commits = vec![collect_changes(&mut ks)];
        for round in 0..4 {
            change_collections(&mut ks, round, n, 300, 4);
            commits.push(collect_changes(&mut ks));
        }
        assert_replays_converge(&store, &mut ks, &commits);
    }

    #[test]
    fn a_hash_stored_one_entry_per_element_loads_and_is_rewritten_in_buckets() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // The layout before buckets: a header with the per-element flag alone, one entry per
        // field keyed by the field, holding its value.
        store
            .db
            .insert(layout::encode_key(0, b"old"), vec![4, 2])
            .unwrap();
        let mut hash = Hash::default();
        for i in 0..300 {
            let (f, v) = (format!("f{i}"), format!("v{i}"));
            store
                .elements
                .insert(layout::element_key(0, b"old", f.as_bytes()), v.as_bytes())
                .unwrap();
            hash.set(b(f), b(v), LIMITS);
        }
        let mut ks = reloaded(&store);
        assert_eq!(
            ks.db(0).peek(b"old").unwrap().value,
            Value::Hash(Arc::new(hash))
        );
        let f0 = b("f0");
        let Some(Value::Hash(h)) = ks.db(0).value_mut_elements(b"old", 0, [&f0]) else {
            panic!()
        };
        Arc::make_mut(h).remove(&f0);
        commit(&mut ks, &store);
        assert_same(&mut ks, &mut reloaded(&store));
        assert!(
            buckets_of(&store, b"old") < 10,
            "buckets, no entry per field"
        );
    }

    #[test]
    fn a_big_collection_stored_whole_is_rewritten_per_element_before_element_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut hash = Hash::default();
        for i in 0..10 {
            hash.set(b(format!("f{i}")), b("v"), LIMITS);
        }
        let value = Value::Hash(Arc::new(hash));
        // As written before per-element storage existed: one whole entry.
        store
            .db
            .insert(
                layout::encode_key(0, b"old"),
                layout::encode_value(&value, None),
            )
            .unwrap();
        let mut ks = reloaded(&store);
        let f0 = b("f0");
        ks.db(0).value_mut_elements(b"old", 0, [&f0]);
        commit(&mut ks, &store);
        let mut back = reloaded(&store);
        assert_same(&mut ks, &mut back);
        assert_eq!(back.db(0).peek(b"old").unwrap().value, value);
    }
}
