//! The keyspace: every database's keys, values and expiry times, in memory.
//!
//! It knows nothing of RESP or of sled. Commands read and change it through [`Db`]; every
//! change is recorded in the database's [`Journal`] so that persistence can later copy exactly
//! the keys that changed (the latest state of each, not every intermediate write).
//!
//! Keys live in a hash map for lookups and, in parallel, in a slot table whose indices never
//! move while a key exists. `SCAN` walks the slot table, which is what lets a cursor promise
//! to return every key that exists for the whole scan even while others come and go.

mod expiry;
pub mod zset;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use rand::Rng;

pub use expiry::ExpiryIndex;
pub use zset::ZSet;

type Hasher = foldhash::fast::RandomState;

/// Values shorter than this are copied out of the connection's read buffer when stored, so a
/// small key does not keep a whole network buffer alive.
const COPY_BELOW: usize = 16 * 1024;

/// A value stored under a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Bytes),
    /// Shared so that persistence can copy it cheaply; writers go through `Arc::make_mut`.
    ZSet(Arc<ZSet>),
}

impl Value {
    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::ZSet(_) => "zset",
        }
    }

    /// The string payload, or `None` for another type (the caller replies WRONGTYPE).
    pub fn as_str(&self) -> Option<&Bytes> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The sorted set payload, or `None` for another type.
    pub fn as_zset(&self) -> Option<&ZSet> {
        match self {
            Value::ZSet(z) => Some(z),
            _ => None,
        }
    }

    /// The sorted set payload for writing (copied first if persistence still holds it).
    pub fn as_zset_mut(&mut self) -> Option<&mut ZSet> {
        match self {
            Value::ZSet(z) => Some(Arc::make_mut(z)),
            _ => None,
        }
    }

    /// The name `OBJECT ENCODING` reports, following Redis's thresholds.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) if s.len() <= 20 && crate::number::parse_i64(s).is_some() => "int",
            Value::Str(s) if s.len() <= 44 => "embstr",
            Value::Str(_) => "raw",
            Value::ZSet(z) => z.encoding(),
        }
    }
}

/// A key's value and its absolute expiry time (Unix milliseconds).
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    pub expire_at: Option<u64>,
    slot: u32,
}

/// What changed in one database since persistence last looked.
#[derive(Debug, Default)]
pub struct Journal {
    /// The database was emptied; persistence must drop everything it holds for it first.
    pub cleared: bool,
    /// Keys written, deleted or expired since then.
    pub dirty: HashSet<Bytes, Hasher>,
}

/// Counters `INFO stats` reports.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyspaceStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
}

/// One numbered database (`SELECT n`).
#[derive(Debug, Default)]
pub struct Db {
    map: HashMap<Bytes, Entry, Hasher>,
    /// Slot table for SCAN and RANDOMKEY: `slots[entry.slot]` holds the entry's key.
    slots: Vec<Option<Bytes>>,
    free: Vec<u32>,
    expires: ExpiryIndex,
    journal: Journal,
    /// Count of writes ever applied, so callers can tell whether a batch wrote anything.
    writes: u64,
    pub stats: KeyspaceStats,
}

/// Takes ownership of client bytes for long-term storage.
pub fn own(b: Bytes) -> Bytes {
    if b.len() < COPY_BELOW {
        Bytes::copy_from_slice(&b)
    } else {
        b
    }
}

impl Db {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Keys with an expiry time.
    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    pub fn writes(&self) -> u64 {
        self.writes
    }

    /// Looks a key up without counting a hit or miss; expired keys are deleted on the way.
    pub fn entry(&mut self, key: &[u8], now: u64) -> Option<&Entry> {
        self.expire_if_due(key, now);
        self.map.get(key)
    }

    /// Looks a key up for a read command, counting a keyspace hit or miss as Redis does.
    pub fn get(&mut self, key: &[u8], now: u64) -> Option<&Value> {
        self.expire_if_due(key, now);
        match self.map.get(key) {
            Some(e) => {
                self.stats.hits += 1;
                Some(&e.value)
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    pub fn contains(&mut self, key: &[u8], now: u64) -> bool {
        self.entry(key, now).is_some()
    }

    /// Mutable access to a value, recorded as a write.
    pub fn value_mut(&mut self, key: &[u8], now: u64) -> Option<&mut Value> {
        self.expire_if_due(key, now);
        let (k, _) = self.map.get_key_value(key)?;
        self.journal.dirty.insert(k.clone());
        self.writes += 1;
        self.map.get_mut(key).map(|e| &mut e.value)
    }

    /// Stores `value` under `key` with the given expiry, replacing any previous entry, and
    /// returns that previous entry.
    pub fn insert(&mut self, key: Bytes, value: Value, expire_at: Option<u64>) -> Option<Entry> {
        let value = match value {
            Value::Str(s) => Value::Str(own(s)),
            other => other,
        };
        self.writes += 1;
        if let Some(entry) = self.map.get_mut(&key[..]) {
            let old_expire = std::mem::replace(&mut entry.expire_at, expire_at);
            let old_value = std::mem::replace(&mut entry.value, value);
            let slot = entry.slot;
            let key = self.slots[slot as usize]
                .clone()
                .expect("slot of a live key");
            if old_expire != expire_at {
                if let Some(at) = old_expire {
                    self.expires.remove(at, &key);
                }
                if let Some(at) = expire_at {
                    self.expires.insert(at, key.clone());
                }
            }
            self.journal.dirty.insert(key);
            return Some(Entry {
                value: old_value,
                expire_at: old_expire,
                slot,
            });
        }
        let key = own(key);
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(key.clone());
                slot
            }
            None => {
                self.slots.push(Some(key.clone()));
                (self.slots.len() - 1) as u32
            }
        };
        if let Some(at) = expire_at {
            self.expires.insert(at, key.clone());
        }
        self.journal.dirty.insert(key.clone());
        self.map.insert(
            key,
            Entry {
                value,
                expire_at,
                slot,
            },
        );
        None
    }

    /// Replaces the value of `key`, keeping its expiry time if it exists (INCR, APPEND, ...).
    pub fn update(&mut self, key: Bytes, value: Value, now: u64) {
        let expire_at = self.entry(&key, now).and_then(|e| e.expire_at);
        self.insert(key, value, expire_at);
    }

    /// Deletes a key (expired or not) and returns its entry.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (key, entry) = self.map.remove_entry(key)?;
        self.slots[entry.slot as usize] = None;
        self.free.push(entry.slot);
        if let Some(at) = entry.expire_at {
            self.expires.remove(at, &key);
        }
        self.writes += 1;
        self.journal.dirty.insert(key);
        Some(entry)
    }

    /// Deletes a live key; an expired one counts as absent.
    pub fn delete(&mut self, key: &[u8], now: u64) -> bool {
        self.expire_if_due(key, now);
        self.remove(key).is_some()
    }

    /// Sets or clears the expiry time of a live key. Returns false when the key is absent.
    pub fn set_expire(&mut self, key: &[u8], expire_at: Option<u64>, now: u64) -> bool {
        self.expire_if_due(key, now);
        let Some((k, entry)) = self.map.get_key_value(key) else {
            return false;
        };
        let (k, old) = (k.clone(), entry.expire_at);
        if old == expire_at {
            return true;
        }
        if let Some(at) = old {
            self.expires.remove(at, &k);
        }
        if let Some(at) = expire_at {
            self.expires.insert(at, k.clone());
        }
        self.map.get_mut(key).expect("present").expire_at = expire_at;
        self.writes += 1;
        self.journal.dirty.insert(k);
        true
    }

    /// Deletes every key.
    pub fn clear(&mut self) {
        let stats = self.stats;
        let writes = self.writes + 1;
        *self = Db::default();
        self.stats = stats;
        self.writes = writes;
        self.journal.cleared = true;
    }

    /// Deletes `key` if its time has come, as every access does (lazy expiry).
    fn expire_if_due(&mut self, key: &[u8], now: u64) {
        if self.expires.is_empty() {
            return;
        }
        if let Some(at) = self.map.get(key).and_then(|e| e.expire_at) {
            if at <= now {
                self.remove(key);
                self.stats.expired += 1;
            }
        }
    }

    /// Active expiry: deletes up to `budget` keys whose time has come, soonest first, so keys
    /// nobody reads still leave memory and disk. Returns how many it deleted.
    pub fn expire_due(&mut self, now: u64, budget: usize) -> usize {
        let mut n = 0;
        while n < budget {
            let Some(key) = self.expires.pop_due(now) else {
                break;
            };
            if let Some(entry) = self.map.get_mut(&key[..]) {
                // The index entry is already gone; keep `remove` from looking for it.
                entry.expire_at = None;
            }
            self.remove(&key);
            self.stats.expired += 1;
            n += 1;
        }
        n
    }

    /// One step of SCAN: visits slots from `cursor` until `count` keys were seen. Returns the
    /// next cursor (0 when done) and the keys seen; expired keys are deleted, not returned.
    pub fn scan(&mut self, cursor: u64, count: usize, now: u64) -> (u64, Vec<Bytes>) {
        let mut keys = Vec::with_capacity(count.min(1024));
        let mut i = cursor as usize;
        while i < self.slots.len() && keys.len() < count {
            if let Some(key) = self.slots[i].clone() {
                if self.contains(&key, now) {
                    keys.push(key);
                }
            }
            i += 1;
        }
        let next = if i >= self.slots.len() { 0 } else { i as u64 };
        (next, keys)
    }

    /// Every live key, for KEYS.
    pub fn keys(&mut self, now: u64) -> Vec<Bytes> {
        let keys: Vec<Bytes> = self.map.keys().cloned().collect();
        keys.into_iter().filter(|k| self.contains(k, now)).collect()
    }

    /// A random live key, or `None` when the database is empty.
    pub fn random_key(&mut self, now: u64) -> Option<Bytes> {
        let mut rng = rand::thread_rng();
        while !self.map.is_empty() {
            let start = rng.gen_range(0..self.slots.len());
            // Probe a few random slots, then walk from the last one: finds a key even in a
            // sparse table after mass deletions.
            let found = (0..16)
                .map(|_| rng.gen_range(0..self.slots.len()))
                .chain(start..self.slots.len())
                .chain(0..start)
                .find_map(|i| self.slots[i].clone())?;
            if self.contains(&found, now) {
                return Some(found);
            }
        }
        None
    }

    /// Takes the changes recorded since the last call.
    pub fn take_journal(&mut self) -> Journal {
        std::mem::take(&mut self.journal)
    }

    /// The current entry of a key, ignoring expiry (for persistence, which stores absolute
    /// expiry times and lets the loader drop what is due).
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    /// Inserts a key loaded from disk without journaling it.
    pub fn load(&mut self, key: Bytes, value: Value, expire_at: Option<u64>) {
        self.insert(key, value, expire_at);
        self.journal = Journal::default();
        self.writes = 0;
    }
}

/// All databases.
#[derive(Debug)]
pub struct Keyspace {
    dbs: Vec<Db>,
}

impl Keyspace {
    pub fn new(databases: usize) -> Keyspace {
        Keyspace {
            dbs: (0..databases).map(|_| Db::default()).collect(),
        }
    }

    pub fn db(&mut self, index: usize) -> &mut Db {
        &mut self.dbs[index]
    }

    /// Two distinct databases at once (MOVE, COPY ... DB).
    pub fn two_dbs(&mut self, a: usize, b: usize) -> (&mut Db, &mut Db) {
        assert_ne!(a, b);
        if a < b {
            let (lo, hi) = self.dbs.split_at_mut(b);
            (&mut lo[a], &mut hi[0])
        } else {
            let (lo, hi) = self.dbs.split_at_mut(a);
            (&mut hi[0], &mut lo[b])
        }
    }

    pub fn dbs(&self) -> &[Db] {
        &self.dbs
    }

    pub fn dbs_mut(&mut self) -> &mut [Db] {
        &mut self.dbs
    }

    /// Total writes across databases; grows whenever anything changed.
    pub fn writes(&self) -> u64 {
        self.dbs.iter().map(Db::writes).sum()
    }

    pub fn stats(&self) -> KeyspaceStats {
        self.dbs
            .iter()
            .fold(KeyspaceStats::default(), |acc, db| KeyspaceStats {
                hits: acc.hits + db.stats.hits,
                misses: acc.misses + db.stats.misses,
                expired: acc.expired + db.stats.expired,
            })
    }

    pub fn reset_stats(&mut self) {
        self.dbs
            .iter_mut()
            .for_each(|db| db.stats = KeyspaceStats::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(Bytes::copy_from_slice(v.as_bytes()))
    }

    #[test]
    fn lazy_and_active_expiry() {
        let mut db = Db::default();
        db.insert(Bytes::from("a"), s("1"), Some(100));
        db.insert(Bytes::from("b"), s("2"), Some(200));
        db.insert(Bytes::from("c"), s("3"), None);
        assert!(db.get(b"a", 99).is_some());
        assert!(db.get(b"a", 100).is_none());
        assert_eq!(db.expire_due(250, 10), 1);
        assert_eq!(db.len(), 1);
        assert_eq!(db.expires_len(), 0);
        assert_eq!(db.stats.expired, 2);
    }

    #[test]
    fn scan_returns_keys_present_throughout_despite_churn() {
        let mut db = Db::default();
        for i in 0..1000 {
            db.insert(Bytes::from(format!("k{i}")), s("v"), None);
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            let (next, keys) = db.scan(cursor, 10, 0);
            seen.extend(keys);
            // Churn: delete odd keys, add new ones, between every call.
            db.remove(format!("k{}", 2 * round + 1).as_bytes());
            db.insert(Bytes::from(format!("new{round}")), s("v"), None);
            round += 1;
            if next == 0 {
                break;
            }
            cursor = next;
        }
        for i in (0..1000).step_by(2) {
            assert!(seen.contains(format!("k{i}").as_bytes()), "missed k{i}");
        }
    }

    #[test]
    fn journal_records_latest_keys() {
        let mut db = Db::default();
        db.insert(Bytes::from("a"), s("1"), None);
        db.insert(Bytes::from("a"), s("2"), None);
        db.remove(b"a");
        let journal = db.take_journal();
        assert_eq!(journal.dirty.len(), 1);
        assert!(db.take_journal().dirty.is_empty());
        db.clear();
        assert!(db.take_journal().cleared);
    }

    #[test]
    fn random_key_finds_sparse_keys() {
        let mut db = Db::default();
        for i in 0..1000 {
            db.insert(Bytes::from(format!("k{i}")), s("v"), None);
        }
        for i in 1..1000 {
            db.remove(format!("k{i}").as_bytes());
        }
        assert_eq!(db.random_key(0).as_deref(), Some(&b"k0"[..]));
    }
}
