//! The keyspace: every database's keys, values and expiry times, in memory.
//!
//! It knows nothing of RESP or of sled. Commands read and change it through [`Db`]; every
//! change is recorded in the database's [`Journal`] so that persistence can later copy exactly
//! the keys that changed (the latest state of each, not every intermediate write).
//!
//! Keys live in a hash map for lookups and, in parallel, in a slot table whose indices never
//! move while a key exists. `SCAN` walks the slot table, which is what lets a cursor promise
//! to return every key that exists for the whole scan even while others come and go.

pub mod evict;
mod expiry;
pub mod hash;
pub mod list;
pub mod set;
pub mod stream;
pub mod table;
pub mod zset;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use rand::Rng;

pub use expiry::ExpiryIndex;
pub use hash::{Hash, HashLimits};
pub use list::List;
pub use set::Set;
pub use stream::Stream;
pub use zset::ZSet;

type Hasher = foldhash::fast::RandomState;

/// Lists longer than this are persisted one element per entry; shorter ones as one value.
const LIST_PACKED_MAX: usize = 128;

/// Strings longer than this are persisted in chunks of [`STRING_CHUNK`] bytes, so a change
/// in place (SETBIT, SETRANGE, APPEND, BITFIELD) writes the chunks it touched, not the value.
const STRING_PACKED_MAX: usize = 16 * 1024;

/// Bytes per persisted chunk of a long string: chunk `c` holds bytes `c * STRING_CHUNK ..
/// (c + 1) * STRING_CHUNK`. What one SETBIT on a 10 MB bitmap costs on disk.
pub const STRING_CHUNK: usize = 1024;

/// Values shorter than this are copied out of the connection's read buffer when stored, so a
/// small key does not keep a whole network buffer alive.
const COPY_BELOW: usize = 16 * 1024;

/// A value stored under a key. Collections are reference-counted so that persistence can
/// take a snapshot of a key under the lock cheaply; writers copy on write
/// (`Arc::make_mut`) only while such a snapshot is still alive.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Bytes),
    /// A list; never empty while stored (commands delete a key whose list they empty).
    /// Shared so that persistence snapshots it in O(1); a write after a snapshot that is still
    /// in use copies it first.
    List(Arc<List>),
    Hash(Arc<Hash>),
    Set(Arc<Set>),
    /// A sorted set; never empty while stored. Shared like the other collections.
    ZSet(Arc<ZSet>),
    /// A stream (XADD & co.); may be empty. Shared like the other collections.
    Stream(Arc<Stream>),
    /// A string that Redis keeps in its `raw` encoding whatever its content: APPEND and
    /// SETRANGE write one (Redis's `dbUnshareStringValue`). Everything but OBJECT ENCODING
    /// treats it as [`Value::Str`].
    RawStr(Bytes),
}

impl Value {
    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) | Value::RawStr(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The string payload, or `None` for another type (the caller replies WRONGTYPE).
    pub fn as_str(&self) -> Option<&Bytes> {
        match self {
            Value::Str(s) | Value::RawStr(s) => Some(s),
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

    /// The stream, or `None` for another type.
    pub fn as_stream(&self) -> Option<&Stream> {
        match self {
            Value::Stream(s) => Some(s),
            _ => None,
        }
    }

    /// The stream for writing (copied first if persistence still holds it).
    pub fn as_stream_mut(&mut self) -> Option<&mut Stream> {
        match self {
            Value::Stream(s) => Some(Arc::make_mut(s)),
            _ => None,
        }
    }

    /// The hash, or `None` for another type.
    pub fn as_hash(&self) -> Option<&Hash> {
        match self {
            Value::Hash(h) => Some(h),
            _ => None,
        }
    }

    /// The set, or `None` for another type.
    pub fn as_set(&self) -> Option<&Set> {
        match self {
            Value::Set(s) => Some(s),
            _ => None,
        }
    }

    /// The list payload, or `None` for another type.
    pub fn as_list(&self) -> Option<&VecDeque<Bytes>> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The list payload for an arbitrary edit (copied first if a snapshot still shares it).
    /// Element ids shift: use it under a whole-key journal entry (`Db::value_mut`).
    pub fn as_list_mut(&mut self) -> Option<&mut VecDeque<Bytes>> {
        match self {
            Value::List(l) => Some(Arc::make_mut(l).items_mut()),
            _ => None,
        }
    }

    /// The list for pushes and pops at its ends, which keep element ids.
    pub fn as_list_ends_mut(&mut self) -> Option<&mut List> {
        match self {
            Value::List(l) => Some(Arc::make_mut(l)),
            _ => None,
        }
    }

    /// A new list value.
    pub fn list(items: VecDeque<Bytes>) -> Value {
        Value::List(Arc::new(List::new(items)))
    }

    /// Whether persistence stores this value one element per entry: hashes, sets and sorted
    /// sets once they left their compact encoding (for good, as in Redis), long lists, every
    /// stream (its nodes, group headers and pending entries), long strings (their chunks of
    /// [`STRING_CHUNK`] bytes). Compact values
    /// are small and stay one entry, which keeps a small hash's field order for free.
    pub fn per_element(&self) -> bool {
        match self {
            Value::Str(s) | Value::RawStr(s) => s.len() > STRING_PACKED_MAX,
            // Nodes and groups are the elements (`persistence::stream`).
            Value::Stream(_) => true,
            Value::List(l) => l.len() > LIST_PACKED_MAX,
            Value::Hash(h) => matches!(**h, Hash::Table(_)),
            Value::Set(s) => matches!(**s, Set::Table(_)),
            Value::ZSet(z) => !z.is_listpack(),
        }
    }

    /// The name `OBJECT ENCODING` reports, following Redis's thresholds.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) if s.len() <= 20 && crate::number::parse_i64(s).is_some() => "int",
            Value::Str(s) if s.len() <= 44 => "embstr",
            Value::Str(_) | Value::RawStr(_) => "raw",
            // Redis 7.0 reports every list as a quicklist, however small.
            Value::List(_) => "quicklist",
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(_) => "stream",
        }
    }
}

/// A key's value and its absolute expiry time (Unix milliseconds).
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    pub expire_at: Option<u64>,
    slot: u32,
    /// Redis's `lru` field: the LRU clock of the last access, or under an LFU policy the
    /// minute and logarithmic counter of accesses (`evict::AccessPolicy`).
    access: u32,
}

impl Entry {
    /// The access field OBJECT IDLETIME and FREQ read (see [`evict`]).
    pub fn access(&self) -> u32 {
        self.access
    }
}

/// What changed in one database since persistence last looked.
#[derive(Debug, Default)]
pub struct Journal {
    /// The database was emptied; persistence must drop everything it holds for it first.
    pub cleared: bool,
    /// Keys written, deleted or expired since then, and how.
    pub dirty: HashMap<Bytes, Touched, Hasher>,
}

/// How a journaled key changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Touched {
    /// Anything may have changed (value, type, encoding, existence): persist the whole key.
    Whole,
    /// The key holds a per-element value ([`Value::per_element`]) that already did so when
    /// persistence last wrote it, with the same type: only its expiry and these elements
    /// may have changed. Boxed: most journaled keys are whole, and a journal entry per key
    /// written since the last commit is a peak of memory under bulk loads.
    Elements(Box<Elements>),
}

/// The elements of a per-element value that changed: hash fields or set members; list
/// element ids in two half-open ranges (each touched by pushes or pops at one end) and
/// one by one (LSET); a long string's chunks ([`STRING_CHUNK`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Elements {
    pub members: HashSet<Bytes, Hasher>,
    pub front: Option<(i64, i64)>,
    pub back: Option<(i64, i64)>,
    pub ids: Vec<i64>,
    pub chunks: BTreeSet<u64>,
}

/// Widens a half-open id range to cover `from..to`.
fn widen(range: &mut Option<(i64, i64)>, from: i64, to: i64) {
    if from < to {
        *range = Some(match *range {
            Some((a, b)) => (a.min(from), b.max(to)),
            None => (from, to),
        });
    }
}

/// One end of a list, for [`Db::list_ends_mut`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListEnd {
    Front,
    Back,
}

/// Counters `INFO stats` reports.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyspaceStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
}

/// What [`Db::watch_mark`] saw: the key's WATCH version (if watched) and how many changed
/// keys client-side caching had to hear about.
#[derive(Debug, Clone, Copy)]
pub struct WatchMark {
    version: Option<u64>,
    modified: usize,
}

/// A key some client WATCHes: how many watch it, and a version every change bumps.
#[derive(Debug, Default)]
struct Watched {
    watchers: u32,
    version: u64,
}

/// What the keyspace itself does to a key that a keyspace notification reports: Redis's
/// `expired`, `evicted`, `new` and `keymiss` events, which no command handler sees happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEvent {
    /// Deleted because its time came (on access or by the active sweep).
    Expired,
    /// Deleted to make room under `maxmemory` (see [`Db::evict`]).
    Evicted,
    /// Created (Redis's `dbAdd`).
    New,
    /// Missed by a read lookup.
    KeyMiss,
    /// A command's own event, raised where no handler context is at hand (clients blocked
    /// on keys are served with only the [`Db`]): its class bit and name.
    Command(u32, &'static str),
}

impl KeyEvent {
    /// The bit of this event in a recording mask ([`Keyspace::record_events`]).
    pub const fn bit(self) -> u8 {
        match self {
            KeyEvent::Expired => 1,
            KeyEvent::Evicted => 2,
            KeyEvent::New => 4,
            KeyEvent::KeyMiss => 8,
            KeyEvent::Command(..) => 0,
        }
    }
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
    /// Keys under WATCH (empty unless a client watches): every write path bumps the version,
    /// which is how EXEC learns that a watched key changed.
    watched: HashMap<Bytes, Watched, Hasher>,
    pub stats: KeyspaceStats,
    /// Clients blocked on each key (BLPOP & co.), by client id, first blocked first.
    waiters: HashMap<Bytes, VecDeque<u64>, Hasher>,
    /// How accesses are recorded, and the time they are stamped with (the batch's start):
    /// set by [`Keyspace::set_access_clock`].
    access_policy: evict::AccessPolicy,
    clock: u64,
    /// The sum of the keys' [`evict::footprint`]s, except that of the key in slot `resized`,
    /// whose value a caller may be changing through a `&mut` handed out last: it is added
    /// back at the next call.
    footprint: u64,
    resized: Option<u32>,
    /// Keys with waiters that were created since the blocked clients were last served, in
    /// order (Redis's `ready_keys`), and the same keys as a set to queue each only once.
    ready: Vec<Bytes>,
    ready_set: HashSet<Bytes, Hasher>,
    /// Which [`KeyEvent`]s to record (bits of [`KeyEvent::bit`]; 0 unless keyspace
    /// notifications are on), and those recorded since they were last taken.
    record: u8,
    /// The notification classes in force for [`Db::notify`] (0 unless notifications are on).
    classes: u32,
    events: Vec<(KeyEvent, Bytes)>,
    /// Client-side caching is on for some client: keys changed since last taken (Redis's
    /// `signalModifiedKey` → `trackingInvalidateKey`), and whether the database was flushed.
    track: bool,
    modified: Vec<Bytes>,
    flushed: bool,
    /// Replication is on: keys the keyspace deleted on its own (lazy and active expiry,
    /// eviction), which the master tells its replicas as `DEL`s, and how many ever were (a
    /// caller subtracts them from [`Db::writes`] to know whether a command itself wrote).
    record_deletions: bool,
    /// The keys, each with whether it was evicted (else it expired).
    deletions: Vec<(Bytes, bool)>,
    /// Lazy expiry is off while a replica applies its master's stream: the master decides
    /// when a key expires and says so with a `DEL` (Redis's `expireIfNeeded` for the master
    /// client).
    obey_master: bool,
    /// A replica runs a normal client's read: an expired key reads as missing but stays
    /// until the master's `DEL` (Redis's `expireIfNeeded` on a replica); writes delete it.
    hide_expired: bool,
    deletion_count: u64,
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
        if self.expire_if_due_for_read(key, now) {
            return None;
        }
        self.map.get(key)
    }

    /// Looks a key up for a read command, counting a keyspace hit or miss as Redis does.
    pub fn get(&mut self, key: &[u8], now: u64) -> Option<&Value> {
        let hidden = self.expire_if_due_for_read(key, now);
        match self.map.get_mut(key).filter(|_| !hidden) {
            Some(e) => {
                self.stats.hits += 1;
                e.access = self.access_policy.accessed(e.access, self.clock);
                Some(&e.value)
            }
            None => {
                self.stats.misses += 1;
                if self.record & KeyEvent::KeyMiss.bit() != 0 {
                    let key = Bytes::copy_from_slice(key);
                    self.events.push((KeyEvent::KeyMiss, key));
                }
                None
            }
        }
    }

    /// Sets the access field of `key` (RESTORE's IDLETIME / FREQ).
    pub fn set_access(&mut self, key: &[u8], field: u32) {
        if let Some(entry) = self.map.get_mut(key) {
            entry.access = field;
        }
    }

    /// Looks a key up counting a hit or miss but leaving its access clock alone (Redis's
    /// `LOOKUP_NOTOUCH`: OBJECT).
    pub fn get_untouched(&mut self, key: &[u8], now: u64) -> Option<&Entry> {
        let hidden = self.expire_if_due_for_read(key, now);
        if self.map.contains_key(key) && !hidden {
            self.stats.hits += 1;
        } else {
            self.stats.misses += 1;
            return None;
        }
        self.map.get(key)
    }

    pub fn contains(&mut self, key: &[u8], now: u64) -> bool {
        self.entry(key, now).is_some()
    }

    /// Mutable access to a value, recorded as a write.
    pub fn value_mut(&mut self, key: &[u8], now: u64) -> Option<&mut Value> {
        self.expire_if_due(key, now);
        let (k, _) = self.map.get_key_value(key)?;
        self.journal.dirty.insert(k.clone(), Touched::Whole);
        self.writes += 1;
        self.touch(key);
        self.accessed_mut(key).map(|e| &mut e.value)
    }

    /// Mutable access to a collection whose change the caller describes element by element:
    /// it names every hash field or set member it may change (more is harmless), before
    /// changing anything. Keys not stored per element are journaled whole.
    pub fn value_mut_elements<'a>(
        &mut self,
        key: &[u8],
        now: u64,
        members: impl IntoIterator<Item = &'a Bytes>,
    ) -> Option<&mut Value> {
        self.expire_if_due(key, now);
        let (k, entry) = self.map.get_key_value(key)?;
        self.writes += 1;
        if let Some(elements) = Self::elements_entry(&mut self.journal, k, &entry.value) {
            elements.members.extend(members.into_iter().cloned());
        }
        self.touch(key);
        self.accessed_mut(key).map(|e| &mut e.value)
    }

    /// Names more elements changed by the current command, after a `value_mut_elements`
    /// call for the same key (SPOP picks its members while it changes the set).
    pub fn touch_elements<'a>(&mut self, key: &[u8], members: impl IntoIterator<Item = &'a Bytes>) {
        match self.journal.dirty.get_mut(key) {
            Some(Touched::Elements(e)) => e.members.extend(members.into_iter().cloned()),
            Some(Touched::Whole) => {}
            None => {
                if let Some((k, _)) = self.map.get_key_value(key) {
                    self.journal.dirty.insert(k.clone(), Touched::Whole);
                }
            }
        }
    }

    /// The string at `key` for a change in place (SETBIT, SETRANGE, APPEND, BITFIELD) that
    /// writes bytes in `ranges` (half-open, `(start, end)`) and grows the string to at most
    /// the end of the furthest range,
    /// zero-filling what lies between: a long string journals only the chunks of those bytes.
    /// `None` if absent or not a string.
    pub fn string_mut(
        &mut self,
        key: &[u8],
        now: u64,
        ranges: &[(u64, u64)],
    ) -> Option<&mut Value> {
        self.expire_if_due(key, now);
        let (k, entry) = self.map.get_key_value(key)?;
        let len = entry.value.as_str()?.len() as u64;
        self.writes += 1;
        if let Some(elements) = Self::elements_entry(&mut self.journal, k, &entry.value) {
            let chunk = STRING_CHUNK as u64;
            let end = ranges.iter().map(|r| r.1).max().unwrap_or(0);
            let growth = (len.min(end), end);
            for &(from, to) in ranges.iter().chain([&growth]).filter(|r| r.0 < r.1) {
                elements.chunks.extend(from / chunk..=(to - 1) / chunk);
            }
        }
        self.touch(key);
        self.accessed_mut(key).map(|e| &mut e.value)
    }

    /// The list at `key` for `pushes` pushes and up to `pops` pops at `end`, in any order;
    /// journals only the ids those can touch. `None` if absent or not a list.
    pub fn list_ends_mut(
        &mut self,
        key: &[u8],
        now: u64,
        end: ListEnd,
        pushes: usize,
        pops: usize,
    ) -> Option<&mut List> {
        self.expire_if_due(key, now);
        let (k, entry) = self.map.get_key_value(key)?;
        let Value::List(list) = &entry.value else {
            return None;
        };
        self.writes += 1;
        let (head, tail) = (list.head(), list.tail());
        let (pushes, pops) = (pushes as i64, pops.min(list.len()) as i64);
        if let Some(elements) = Self::elements_entry(&mut self.journal, k, &entry.value) {
            match end {
                ListEnd::Front => widen(&mut elements.front, head - pushes, head + pops),
                ListEnd::Back => widen(&mut elements.back, tail - pops, tail + pushes),
            }
        }
        self.touch(key);
        self.accessed_mut(key)?.value.as_list_ends_mut()
    }

    /// The element at `index` of the list at `key`, for replacing it in place (LSET):
    /// journals that element only. `None` if absent, not a list, or out of range.
    pub fn list_element_mut(&mut self, key: &[u8], now: u64, index: usize) -> Option<&mut Bytes> {
        self.expire_if_due(key, now);
        let (k, entry) = self.map.get_key_value(key)?;
        let Value::List(list) = &entry.value else {
            return None;
        };
        if index >= list.len() {
            return None;
        }
        let id = list.head() + index as i64;
        self.writes += 1;
        if let Some(elements) = Self::elements_entry(&mut self.journal, k, &entry.value) {
            elements.ids.push(id);
        }
        self.touch(key);
        self.accessed_mut(key)?
            .value
            .as_list_ends_mut()?
            .items_mut()
            .get_mut(index)
    }

    /// The entry of `key` for a change through `&mut`, its access recorded (Redis's
    /// `lookupKey`); its footprint is recounted at the next call.
    fn accessed_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.settle_footprint();
        let entry = self.map.get_mut(key)?;
        self.footprint -= evict::footprint(key, &entry.value);
        self.resized = Some(entry.slot);
        entry.access = self.access_policy.accessed(entry.access, self.clock);
        Some(entry)
    }

    /// Counts the footprint of the key last handed out for a change (every path that adds
    /// or removes a key settles first, so its slot still names it).
    fn settle_footprint(&mut self) {
        if let Some(slot) = self.resized.take() {
            if let Some(key) = &self.slots[slot as usize] {
                if let Some(entry) = self.map.get(key) {
                    self.footprint += evict::footprint(key, &entry.value);
                }
            }
        }
    }

    /// The memory this database's keys take (`evict::footprint`), what `maxmemory` counts.
    pub fn dataset_bytes(&mut self) -> u64 {
        self.settle_footprint();
        self.footprint
    }

    /// The journal's element record for `key` (holding `value`, before the change), or
    /// `None` when the key is, or now becomes, journaled whole.
    fn elements_entry<'j>(
        journal: &'j mut Journal,
        key: &Bytes,
        value: &Value,
    ) -> Option<&'j mut Elements> {
        let per_element = value.per_element();
        let touched = journal.dirty.entry(key.clone()).or_insert_with(|| {
            if per_element {
                Touched::Elements(Box::default())
            } else {
                Touched::Whole
            }
        });
        match touched {
            Touched::Elements(e) => Some(e),
            Touched::Whole => None,
        }
    }

    /// Stores `value` under `key` with the given expiry, replacing any previous entry, and
    /// returns that previous entry.
    pub fn insert(&mut self, key: Bytes, value: Value, expire_at: Option<u64>) -> Option<Entry> {
        let value = match value {
            Value::Str(s) => Value::Str(own(s)),
            Value::RawStr(s) => Value::RawStr(own(s)),
            other => other,
        };
        self.writes += 1;
        self.touch(&key);
        self.settle_footprint();
        self.footprint += evict::footprint(&key, &value);
        if let Some(entry) = self.map.get_mut(&key[..]) {
            self.footprint -= evict::footprint(&key, &entry.value);
            let old_expire = std::mem::replace(&mut entry.expire_at, expire_at);
            let old_value = std::mem::replace(&mut entry.value, value);
            let slot = entry.slot;
            // A new value, a new stamp; under LFU it inherits the old counter (`dbSetValue`).
            let old_access = entry.access;
            if !self.access_policy.lfu {
                entry.access = self.access_policy.fresh(self.clock);
            }
            // Clients blocked in XREADGROUP on an overwritten stream are told it is gone.
            let was_stream = matches!(old_value, Value::Stream(_));
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
            if was_stream {
                self.signal_ready(&key);
            }
            self.journal.dirty.insert(key, Touched::Whole);
            return Some(Entry {
                value: old_value,
                expire_at: old_expire,
                slot,
                access: old_access,
            });
        }
        let key = own(key);
        let slot = self.place(&key, expire_at);
        self.journal.dirty.insert(key.clone(), Touched::Whole);
        self.signal_ready(&key);
        self.raise(KeyEvent::New, &key);
        self.map.insert(
            key,
            Entry {
                value,
                expire_at,
                slot,
                access: self.access_policy.fresh(self.clock),
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
        self.settle_footprint();
        let (key, entry) = self.map.remove_entry(key)?;
        self.footprint -= evict::footprint(&key, &entry.value);
        self.slots[entry.slot as usize] = None;
        self.free.push(entry.slot);
        if let Some(at) = entry.expire_at {
            self.expires.remove(at, &key);
        }
        self.writes += 1;
        self.touch(&key);
        // Clients blocked in XREADGROUP on a deleted stream are told it is gone.
        if matches!(entry.value, Value::Stream(_)) {
            self.signal_ready(&key);
        }
        self.journal.dirty.insert(key, Touched::Whole);
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
        let entry = self.map.get_mut(key).expect("present");
        entry.expire_at = expire_at;
        self.writes += 1;
        // A per-element value's expiry lives in its meta entry: no element changed.
        Self::elements_entry(&mut self.journal, &k, &entry.value);
        self.touch(key);
        true
    }

    /// Deletes every key. Blocked clients stay blocked; like Redis 7.0, the watched keys that
    /// existed count as changed.
    pub fn clear(&mut self) {
        let stats = self.stats;
        let writes = self.writes + 1;
        let waiters = std::mem::take(&mut self.waiters);
        // Clients blocked in XREADGROUP on a flushed stream are told it is gone.
        let streams: Vec<Bytes> = waiters
            .keys()
            .filter(|k| matches!(self.map.get(*k), Some(e) if matches!(e.value, Value::Stream(_))))
            .cloned()
            .collect();
        let mut watched = std::mem::take(&mut self.watched);
        for (key, w) in watched.iter_mut() {
            if self.map.contains_key(key) {
                w.version += 1;
            }
        }
        let (record, classes, track) = (self.record, self.classes, self.track);
        let (record_deletions, obey_master) = (self.record_deletions, self.obey_master);
        let hide_expired = self.hide_expired;
        let deletions = std::mem::take(&mut self.deletions);
        let deletion_count = self.deletion_count;
        let (access_policy, clock) = (self.access_policy, self.clock);
        let events = std::mem::take(&mut self.events);
        let modified = std::mem::take(&mut self.modified);
        *self = Db::default();
        self.record = record;
        self.classes = classes;
        self.track = track;
        self.record_deletions = record_deletions;
        self.obey_master = obey_master;
        self.hide_expired = hide_expired;
        self.deletions = deletions;
        self.deletion_count = deletion_count;
        self.modified = modified;
        self.flushed = track;
        self.events = events;
        self.access_policy = access_policy;
        self.clock = clock;
        self.stats = stats;
        self.writes = writes;
        self.waiters = waiters;
        self.watched = watched;
        self.journal.cleared = true;
        for key in &streams {
            self.signal_ready(key);
        }
    }

    /// Queues `key` for serving if clients are blocked on it. Like Redis's `dbAdd`, every
    /// creation of a key signals; whoever serves checks the type. Stream commands call it
    /// for an existing key too (XADD, XGROUP DESTROY), as Redis's `signalKeyAsReady`.
    pub fn signal_ready(&mut self, key: &Bytes) {
        if !self.waiters.is_empty()
            && self.waiters.contains_key(key)
            && self.ready_set.insert(key.clone())
        {
            self.ready.push(key.clone());
        }
    }

    /// Appends client `id` to the clients blocked on `key`.
    pub fn add_waiter(&mut self, key: &Bytes, id: u64) {
        self.waiters.entry(key.clone()).or_default().push_back(id);
    }

    /// Removes client `id` from the clients blocked on `key`.
    pub fn remove_waiter(&mut self, key: &[u8], id: u64) {
        if let Some(queue) = self.waiters.get_mut(key) {
            queue.retain(|&w| w != id);
            if queue.is_empty() {
                self.waiters.remove(key);
            }
        }
    }

    /// Starts watching `key` for one more client and returns its current version. A key
    /// whose time has come is deleted first, so "expired since WATCH" means expired later.
    pub fn watch(&mut self, key: &[u8], now: u64) -> u64 {
        self.expire_if_due_for_read(key, now);
        match self.watched.get_mut(key) {
            Some(w) => {
                w.watchers += 1;
                w.version
            }
            None => {
                let w = Watched {
                    watchers: 1,
                    version: 0,
                };
                self.watched.insert(Bytes::copy_from_slice(key), w);
                0
            }
        }
    }

    /// The clients blocked on `key`, first blocked first.
    pub fn waiters(&self, key: &[u8]) -> Vec<u64> {
        self.waiters
            .get(key)
            .map_or_else(Vec::new, |q| q.iter().copied().collect())
    }

    /// Takes the keys signalled ready since the last call, in signalling order.
    pub fn take_ready(&mut self) -> Vec<Bytes> {
        self.ready_set.clear();
        std::mem::take(&mut self.ready)
    }

    /// One client stops watching `key`.
    pub fn unwatch(&mut self, key: &[u8]) {
        if let Some(w) = self.watched.get_mut(key) {
            w.watchers -= 1;
            if w.watchers == 0 {
                self.watched.remove(key);
            }
        }
    }

    /// Whether a key watched at `version` is unchanged and still live at `now` (EXEC's check:
    /// a watched key that expired since WATCH counts as changed even before it is deleted).
    pub fn watch_holds(&self, key: &[u8], version: u64, now: u64) -> bool {
        let unchanged = self.watched.get(key).is_some_and(|w| w.version == version);
        let expired = self
            .map
            .get(key)
            .and_then(|e| e.expire_at)
            .is_some_and(|at| at <= now);
        unchanged && !expired
    }

    /// The WATCH version of `key` (if watched), for [`Db::restore_watch`]: Redis's stream
    /// group commands (XREADGROUP, XACK, XCLAIM, XGROUP, XSETID) write without signalling
    /// a modified key, so EXEC must not see their writes.
    /// The mark also covers client-side caching: those writes are not changes to tell.
    pub fn watch_mark(&self, key: &[u8]) -> WatchMark {
        WatchMark {
            version: self.watched.get(key).map(|w| w.version),
            modified: self.modified.len(),
        }
    }

    /// Puts back the WATCH version [`Db::watch_mark`] returned, and forgets the keys
    /// changed since for client-side caching.
    pub fn restore_watch(&mut self, key: &[u8], mark: impl Into<Option<WatchMark>>) {
        let Some(mark) = mark.into() else {
            return;
        };
        if let (Some(version), Some(w)) = (mark.version, self.watched.get_mut(key)) {
            w.version = version;
        }
        self.modified.truncate(mark.modified);
    }

    /// Records a change of `key` for the clients watching it.
    fn touch(&mut self, key: &[u8]) {
        if self.track {
            self.modified.push(Bytes::copy_from_slice(key));
        }
        if !self.watched.is_empty() {
            if let Some(w) = self.watched.get_mut(key) {
                w.version += 1;
            }
        }
    }

    /// Exchanges the keys of two databases (SWAPDB). Watches, statistics and counters stay
    /// with their database; watched keys present on either side count as changed, as in
    /// Redis 7.0. Persistence rewrites both databases.
    fn swap_contents(&mut self, other: &mut Db) {
        // Streams a side loses: its XREADGROUP waiters are told (`scanDatabaseForDeletedStreams`).
        let lost_here = self.streams_lost_to(other);
        let lost_there = other.streams_lost_to(self);
        self.settle_footprint();
        other.settle_footprint();
        std::mem::swap(&mut self.map, &mut other.map);
        std::mem::swap(&mut self.slots, &mut other.slots);
        std::mem::swap(&mut self.free, &mut other.free);
        std::mem::swap(&mut self.expires, &mut other.expires);
        std::mem::swap(&mut self.footprint, &mut other.footprint);
        self.swapped_with(other);
        other.swapped_with(self);
        lost_here.iter().for_each(|k| self.signal_ready(k));
        lost_there.iter().for_each(|k| other.signal_ready(k));
    }

    /// Keys clients wait on that hold a stream here and will not once `incoming`'s keys
    /// replace these.
    fn streams_lost_to(&self, incoming: &Db) -> Vec<Bytes> {
        let is_stream = |db: &Db, k: &Bytes| matches!(db.map.get(k), Some(e) if matches!(e.value, Value::Stream(_)));
        self.waiters
            .keys()
            .filter(|k| is_stream(self, k) && !is_stream(incoming, k))
            .cloned()
            .collect()
    }

    /// One side of [`Db::swap_contents`], once the contents moved.
    fn swapped_with(&mut self, peer: &Db) {
        for (key, w) in self.watched.iter_mut() {
            if self.map.contains_key(key) || peer.map.contains_key(key) {
                w.version += 1;
            }
        }
        self.journal.cleared = true;
        self.journal.dirty = self
            .map
            .keys()
            .map(|k| (k.clone(), Touched::Whole))
            .collect();
        self.writes += 1;
        // Like Redis's SWAPDB: clients blocked on a key the swap brought in are served.
        if !self.waiters.is_empty() {
            let ready: Vec<Bytes> = self
                .waiters
                .keys()
                .filter(|k| self.map.contains_key(*k))
                .cloned()
                .collect();
            for key in &ready {
                self.signal_ready(key);
            }
        }
    }

    /// [`Db::expire_if_due`] for a read: true when `key` is expired but kept (a replica's
    /// normal client, [`Keyspace::hide_expired`]), so the read must see no key.
    fn expire_if_due_for_read(&mut self, key: &[u8], now: u64) -> bool {
        if self.hide_expired {
            return !self.expires.is_empty() && self.is_expired(key, now);
        }
        self.expire_if_due(key, now);
        false
    }

    fn is_expired(&self, key: &[u8], now: u64) -> bool {
        (self.map.get(key)).is_some_and(|e| e.expire_at.is_some_and(|at| at <= now))
    }

    /// Deletes `key` if its time has come, as every access does (lazy expiry).
    fn expire_if_due(&mut self, key: &[u8], now: u64) {
        if self.expires.is_empty() || self.obey_master {
            return;
        }
        if let Some(at) = self.map.get(key).and_then(|e| e.expire_at) {
            if at <= now {
                self.remove(key);
                self.stats.expired += 1;
                self.raise(KeyEvent::Expired, key);
                self.deleted_on_its_own(key, false);
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
            self.raise(KeyEvent::Expired, &key);
            self.deleted_on_its_own(&key, false);
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
        // A replica keeps expired keys until its master deletes them: when every key has a
        // time to live they may all be expired, so after 100 tries any key will do (Redis's
        // `dbRandomKey`).
        let mut tries = 100;
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
            tries -= 1;
            if self.hide_expired && self.expires.len() == self.map.len() && tries == 0 {
                return Some(found);
            }
        }
        None
    }

    /// Takes the changes recorded since the last call.
    pub fn take_journal(&mut self) -> Journal {
        std::mem::take(&mut self.journal)
    }

    /// Redis's `dbUnshareStringValue` for a command that then changes nothing (SETBIT of a
    /// bit already set, PFADD that changed no register): the string at `key` is `raw` encoded
    /// from now on. Not a write: nothing is journaled and WATCH sees no change, as in Redis,
    /// where the unchanged value is not propagated either.
    pub fn unshare_string(&mut self, key: &[u8]) {
        if let Some(entry) = self.map.get_mut(key) {
            if let Value::Str(s) = &mut entry.value {
                entry.value = Value::RawStr(std::mem::take(s));
            }
        }
    }

    /// The current entry of a key, ignoring expiry (for persistence, which stores absolute
    /// expiry times and lets the loader drop what is due).
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    /// Journals a key whole without counting a write (a loaded key persistence must rewrite).
    pub fn journal_whole(&mut self, key: Bytes) {
        self.journal.dirty.insert(key, Touched::Whole);
    }

    /// A new key's slot in the SCAN table and its place in the expiry index.
    fn place(&mut self, key: &Bytes, expire_at: Option<u64>) -> u32 {
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
        slot
    }

    /// Inserts a key loaded from disk into a database that does not hold it yet: [`insert`]'s
    /// new-key path without what only a client's write needs (journal, write count, watches,
    /// events), since start-up inserts every key of the data set this way.
    ///
    /// [`insert`]: Db::insert
    pub fn load(&mut self, key: Bytes, value: Value, expire_at: Option<u64>) {
        debug_assert!(!self.map.contains_key(&key[..]), "loaded twice");
        self.footprint += evict::footprint(&key, &value);
        let slot = self.place(&key, expire_at);
        let access = self.access_policy.fresh(self.clock);
        self.map.insert(
            key,
            Entry {
                value,
                expire_at,
                slot,
                access,
            },
        );
    }

    /// Records `event` for `key` if keyspace notifications want it.
    fn raise(&mut self, event: KeyEvent, key: &[u8]) {
        if self.record & event.bit() != 0 {
            self.events.push((event, Bytes::copy_from_slice(key)));
        }
    }

    /// Records a command's keyspace notification for `key` (`class` a notification class
    /// bit, `event` its name) if that class is enabled; published after the command.
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        if self.classes & class != 0 {
            self.events
                .push((KeyEvent::Command(class, event), Bytes::copy_from_slice(key)));
        }
    }

    /// Deletes `key` to make room under `maxmemory` (Redis's eviction): the hook the
    /// eviction policy calls, so that the `evicted` notification is raised. Returns the entry.
    pub fn evict(&mut self, key: &[u8]) -> Option<Entry> {
        let entry = self.remove(key)?;
        self.raise(KeyEvent::Evicted, key);
        self.deleted_on_its_own(key, true);
        Some(entry)
    }

    /// Records a deletion no command asked for (an expiry, or an eviction), while
    /// replication wants them.
    fn deleted_on_its_own(&mut self, key: &[u8], evicted: bool) {
        if self.record_deletions {
            self.deletions.push((Bytes::copy_from_slice(key), evicted));
            self.deletion_count += 1;
        }
    }

    /// Every live entry, expired ones included (a snapshot skips those itself), in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Entry)> {
        self.map.iter()
    }
}

/// All databases.
#[derive(Debug)]
pub struct Keyspace {
    dbs: Vec<Db>,
    /// `maxmemory` eviction's pool and counters (`evict`).
    evictor: evict::Evictor,
}

impl Keyspace {
    pub fn new(databases: usize) -> Keyspace {
        Keyspace {
            dbs: (0..databases).map(|_| Db::default()).collect(),
            evictor: evict::Evictor::default(),
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

    /// SWAPDB: exchanges the keys of two databases.
    pub fn swap(&mut self, a: usize, b: usize) {
        if a != b {
            let (x, y) = self.two_dbs(a, b);
            x.swap_contents(y);
        }
    }

    pub fn dbs(&self) -> &[Db] {
        &self.dbs
    }

    pub fn dbs_mut(&mut self) -> &mut [Db] {
        &mut self.dbs
    }

    /// Which [`KeyEvent`]s every database records from now on: a mask of
    /// [`KeyEvent::bit`]s, and the notification classes [`Db::notify`] records (0 for none;
    /// what was already recorded stays).
    pub fn record_events(&mut self, mask: u8, classes: u32) {
        if self
            .dbs
            .first()
            .is_some_and(|db| db.record != mask || db.classes != classes)
        {
            for db in &mut self.dbs {
                db.record = mask;
                db.classes = classes;
            }
        }
    }

    /// Takes the [`KeyEvent`]s recorded since the last call, with their database, database
    /// by database.
    pub fn take_events(&mut self) -> Vec<(usize, KeyEvent, Bytes)> {
        let mut out = Vec::new();
        for (index, db) in self.dbs.iter_mut().enumerate() {
            out.extend(db.events.drain(..).map(|(e, k)| (index, e, k)));
        }
        out
    }

    /// Whether every database records the keys that change, for client-side caching.
    pub fn track_modified(&mut self, on: bool) {
        if self.dbs.first().is_some_and(|db| db.track != on) {
            for db in &mut self.dbs {
                db.track = on;
            }
        }
    }

    /// Takes the keys changed since the last call (in order, repeats included, whatever the
    /// database: client-side caching is not per database) and whether a database was flushed.
    pub fn take_modified(&mut self) -> (Vec<Bytes>, bool) {
        let mut keys = Vec::new();
        let mut flushed = false;
        for db in &mut self.dbs {
            keys.append(&mut db.modified);
            flushed |= std::mem::take(&mut db.flushed);
        }
        (keys, flushed)
    }

    /// On a replica, makes reads see expired keys as missing without deleting them (`true`)
    /// while a normal client's read command runs; returns the previous setting.
    pub fn hide_expired(&mut self, on: bool) -> bool {
        let mut was = false;
        for db in &mut self.dbs {
            was = std::mem::replace(&mut db.hide_expired, on);
        }
        was
    }

    /// Turns lazy expiry off (`true`) while a replica applies its master's commands, and
    /// on again after.
    pub fn obey_master(&mut self, on: bool) {
        for db in &mut self.dbs {
            db.obey_master = on;
        }
    }

    /// Whether every database records the keys it deletes on its own (expiry, eviction)
    /// for replication.
    pub fn record_deletions(&mut self, on: bool) {
        if self.dbs.first().is_some_and(|db| db.record_deletions != on) {
            for db in &mut self.dbs {
                db.record_deletions = on;
            }
        }
    }

    /// Takes the keys deleted on their own since the last call, with their database and
    /// whether each was evicted (else it expired).
    pub fn take_deletions(&mut self) -> Vec<(usize, Bytes, bool)> {
        let mut out = Vec::new();
        for (index, db) in self.dbs.iter_mut().enumerate() {
            if !db.deletions.is_empty() {
                out.extend(db.deletions.drain(..).map(|(k, e)| (index, k, e)));
            }
        }
        out
    }

    /// How many keys were ever deleted on their own while recorded (each also counted one
    /// write in [`Keyspace::writes`]).
    pub fn deletion_count(&self) -> u64 {
        self.dbs.iter().map(|db| db.deletion_count).sum()
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

    /// Sets how keys record accesses and the time they are stamped with (a batch's start:
    /// Redis, too, stamps with a clock cached per event-loop turn).
    pub fn set_access_clock(&mut self, policy: evict::AccessPolicy, now: u64) {
        for db in &mut self.dbs {
            db.access_policy = policy;
            db.clock = now;
        }
    }

    pub fn reset_stats(&mut self) {
        self.evictor.evicted = 0;
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
    fn watch_sees_writes_expiry_and_flushes() {
        let mut db = Db::default();
        let v = db.watch(b"a", 0);
        assert!(db.watch_holds(b"a", v, 0));
        db.insert(Bytes::from("a"), s("1"), Some(100));
        assert!(!db.watch_holds(b"a", v, 0));
        let v = db.watch(b"a", 0);
        assert!(db.watch_holds(b"a", v, 99));
        assert!(!db.watch_holds(b"a", v, 100), "expired since WATCH");
        let w = db.watch(b"missing", 0);
        db.clear();
        assert!(!db.watch_holds(b"a", v, 0), "FLUSHDB touches existing keys");
        assert!(db.watch_holds(b"missing", w, 0), "but not absent ones");
        db.unwatch(b"missing");
        db.unwatch(b"a");
        db.unwatch(b"a");
        assert!(db.watched.is_empty());
    }

    #[test]
    fn swap_moves_keys_and_journals_both_databases() {
        let mut ks = Keyspace::new(3);
        ks.db(0).insert(Bytes::from("a"), s("1"), Some(u64::MAX));
        let watched = ks.db(1).watch(b"a", 0);
        let untouched = ks.db(2).watch(b"a", 0);
        ks.db(0).take_journal();
        ks.swap(0, 1);
        assert!(ks.db(0).is_empty());
        assert_eq!(ks.db(1).expires_len(), 1);
        assert!(ks.db(1).get(b"a", 0).is_some());
        assert!(!ks.db(1).watch_holds(b"a", watched, 0));
        assert!(ks.db(2).watch_holds(b"a", untouched, 0));
        for (db, keys) in [(0, 0), (1, 1)] {
            let journal = ks.db(db).take_journal();
            assert!(journal.cleared);
            assert_eq!(journal.dirty.len(), keys);
        }
    }

    #[test]
    fn footprint_follows_every_write_path() {
        let recount = |db: &Db| -> u64 {
            db.map
                .iter()
                .map(|(k, e)| evict::footprint(k, &e.value))
                .sum()
        };
        let mut ks = Keyspace::new(2);
        let db = ks.db(0);
        db.insert(Bytes::from("a"), s("1"), None);
        db.insert(Bytes::from("a"), s("longer value"), Some(10));
        db.insert(
            Bytes::from("l"),
            Value::list(VecDeque::from([Bytes::from("x")])),
            None,
        );
        let list = db.list_ends_mut(b"l", 0, ListEnd::Back, 3, 0).unwrap();
        for _ in 0..3 {
            list.push_back(Bytes::from("y"));
        }
        assert_eq!(db.dataset_bytes(), recount(db));
        if let Some(Value::List(l)) = db.value_mut(b"l", 0) {
            Arc::make_mut(l).pop_front();
        }
        db.insert(Bytes::from("b"), s("2"), None);
        assert_eq!(db.dataset_bytes(), recount(db));
        db.expire_due(100, 10);
        db.remove(b"b");
        assert_eq!(db.dataset_bytes(), recount(db));
        ks.db(1).insert(Bytes::from("c"), s("3"), None);
        ks.db(1).value_mut(b"c", 0);
        ks.swap(0, 1);
        for i in 0..2 {
            let db = ks.db(i);
            assert_eq!(db.dataset_bytes(), recount(db), "db {i}");
        }
        ks.db(0).clear();
        assert_eq!(ks.dataset_bytes(), ks.db(1).dataset_bytes());
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
