//! `maxmemory` eviction, Redis's `evict.c`, and the per-key access clock it reads.
//!
//! Every [`Entry`](super::Entry) carries Redis's 24-bit `lru` field: under an LRU (or any
//! non-LFU) policy the LRU clock (seconds, wrapping at 24 bits) of its last access; under an
//! LFU policy the minute of its last decrement in the high 16 bits and a logarithmic access
//! counter in the low 8. OBJECT IDLETIME / FREQ answer from it, and eviction ranks by it.
//!
//! [`Keyspace::perform_evictions`] is Redis's `performEvictions`: while the memory counted
//! is over `maxmemory`, sample `maxmemory-samples` keys of every database into a pool of the
//! 16 best candidates, delete the best, and count what that freed; stop when enough was
//! freed, when nothing is left to evict (the command is refused then), or after the time
//! `maxmemory-eviction-tenacity` allows (the rest is left to the next command or the
//! server's sweep). Evicted keys go through [`Db::remove`], the ordinary delete path: they
//! leave sled at the next commit, WATCHers see a change and waiters on a stream are told.
//!
//! What is counted against `maxmemory` is the dataset as the keyspace holds it —
//! [`footprint`] per key, kept up to date by every write path of [`Db`] — plus the
//! process's memory before it opened sled (the caller's `baseline`). Redis leaves its AOF buffer and replica
//! buffers out of that count; kvstore leaves out persistence (the redo log's pending
//! changes, checkpoints being written, sled's page cache and log buffers), whose memory the
//! process's `used_memory` still reports. Counting what the allocator reports instead would
//! make eviction chase sled: deleting a key frees nothing while persistence still holds
//! its value, and sled's own memory does not shrink when keys go.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;

use super::{Db, Entry, Keyspace, Value};

/// Redis's `LFU_INIT_VAL`: the counter of a new key, so it is not evicted before it had a
/// chance to be read.
pub const LFU_INIT_VAL: u8 = 5;
/// The LRU clock wraps at 24 bits (`LRU_CLOCK_MAX`), one tick a second.
const LRU_CLOCK_MAX: u64 = (1 << 24) - 1;
/// Candidates kept between samplings (`EVPOOL_SIZE`).
const POOL_SIZE: usize = 16;

/// `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    #[default]
    NoEviction,
}

impl Policy {
    /// The policy CONFIG GET names (the config table has already validated it).
    pub fn parse(name: &str) -> Policy {
        match name {
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            "allkeys-lru" => Policy::AllKeysLru,
            "allkeys-lfu" => Policy::AllKeysLfu,
            "allkeys-random" => Policy::AllKeysRandom,
            _ => Policy::NoEviction,
        }
    }

    /// Redis's `MAXMEMORY_FLAG_LFU`: keys count accesses instead of timing them.
    pub fn lfu(self) -> bool {
        matches!(self, Policy::VolatileLfu | Policy::AllKeysLfu)
    }

    /// `MAXMEMORY_FLAG_ALLKEYS`: every key is a candidate, not only those with a TTL.
    fn all_keys(self) -> bool {
        matches!(
            self,
            Policy::AllKeysLru | Policy::AllKeysLfu | Policy::AllKeysRandom
        )
    }
}

/// How keys record their accesses: the `lru` field's meaning and the LFU parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessPolicy {
    pub lfu: bool,
    /// `lfu-log-factor`.
    pub log_factor: u32,
    /// `lfu-decay-time`, minutes per counter decrement (0: never).
    pub decay_time: u32,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        AccessPolicy {
            lfu: false,
            log_factor: 10,
            decay_time: 1,
        }
    }
}

/// Redis's LRU clock at `now_ms`.
fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / 1000) & LRU_CLOCK_MAX) as u32
}

/// `LFUGetTimeInMinutes`.
fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xffff) as u32
}

impl AccessPolicy {
    /// The field of a key created at `now_ms` (`createObject`).
    pub fn fresh(&self, now_ms: u64) -> u32 {
        if self.lfu {
            (lfu_minutes(now_ms) << 8) | u32::from(LFU_INIT_VAL)
        } else {
            lru_clock(now_ms)
        }
    }

    /// The field after an access at `now_ms` (`lookupKey`'s `updateLFU` / LRU stamp).
    pub fn accessed(&self, field: u32, now_ms: u64) -> u32 {
        if self.lfu {
            let counter = self.log_incr(self.counter(field, now_ms));
            (lfu_minutes(now_ms) << 8) | u32::from(counter)
        } else {
            lru_clock(now_ms)
        }
    }

    /// The field RESTORE's IDLETIME (seconds) or FREQ sets, whichever the policy keeps
    /// (`objectSetLRUOrLFU`); `None` to keep a fresh one.
    pub fn restored(&self, idle_secs: Option<u64>, freq: Option<u8>, now_ms: u64) -> Option<u32> {
        if self.lfu {
            return freq.map(|f| (lfu_minutes(now_ms) << 8) | u32::from(f));
        }
        let idle = i64::try_from(idle_secs?).unwrap_or(i64::MAX);
        let mut at = i64::from(lru_clock(now_ms)).saturating_sub(idle);
        if at < 0 {
            at += LRU_CLOCK_MAX as i64;
        }
        // Redis stores it in a 24-bit field.
        Some((at as u64 & LRU_CLOCK_MAX) as u32)
    }

    /// `LFUDecrAndReturn`: the counter, decayed by the periods elapsed since it was stored.
    pub fn counter(&self, field: u32, now_ms: u64) -> u8 {
        let last = field >> 8;
        let counter = (field & 0xff) as u8;
        let now = lfu_minutes(now_ms);
        let elapsed = if now >= last {
            now - last
        } else {
            65535 - last + now
        };
        let periods = elapsed.checked_div(self.decay_time).unwrap_or(0);
        counter.saturating_sub(u8::try_from(periods).unwrap_or(u8::MAX))
    }

    /// `LFULogIncr`: increments with probability 1 / ((counter - 5) * log_factor + 1).
    fn log_incr(&self, counter: u8) -> u8 {
        if counter == u8::MAX {
            return counter;
        }
        let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
        let p = 1.0 / (base * f64::from(self.log_factor) + 1.0);
        if rand::thread_rng().gen::<f64>() < p {
            counter + 1
        } else {
            counter
        }
    }
}

/// `estimateObjectIdleTime`: milliseconds since the LRU stamp `field`, at one-second
/// resolution.
pub fn idle_ms(field: u32, now_ms: u64) -> u64 {
    let clock = u64::from(lru_clock(now_ms));
    let field = u64::from(field) & LRU_CLOCK_MAX;
    let ticks = if clock >= field {
        clock - field
    } else {
        clock + (LRU_CLOCK_MAX - field)
    };
    ticks * 1000
}

/// The eviction settings in force.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// `maxmemory` in bytes; 0 means no limit.
    pub maxmemory: u64,
    pub policy: Policy,
    /// `maxmemory-samples`.
    pub samples: usize,
    /// `maxmemory-eviction-tenacity`, 0..=100.
    pub tenacity: u32,
}

impl Limits {
    /// `evictionTimeLimitUs`: how long one eviction cycle may run.
    fn time_limit(&self) -> Duration {
        let micros = match self.tenacity {
            0..=10 => 50 * u64::from(self.tenacity),
            100.. => return Duration::MAX,
            t => (500.0 * 1.15f64.powf(f64::from(t) - 10.0)) as u64,
        };
        Duration::from_micros(micros)
    }
}

/// What [`Keyspace::perform_evictions`] found (`EVICT_OK` / `_RUNNING` / `_FAIL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Under the limit (or no limit).
    Ok,
    /// Still over the limit when its time ran out; more is evicted later.
    Running,
    /// Over the limit with nothing (more) to evict: `denyoom` commands are refused.
    Fail,
}

/// A candidate in the pool: the higher `score`, the better to evict.
#[derive(Debug, Clone)]
struct Candidate {
    score: u64,
    key: Bytes,
    db: usize,
}

/// Eviction state that lives with the keyspace (under its lock): the pool of best
/// candidates, the random policies' database cursor and the `evicted_keys` counter.
#[derive(Debug, Default)]
pub struct Evictor {
    /// Ascending by score: the best candidate last.
    pool: Vec<Candidate>,
    next_db: usize,
    pub(super) evicted: u64,
    /// The last cycle ran out of time: the server's sweep goes on evicting.
    running: bool,
}

impl Evictor {
    /// Inserts sampled keys into the pool (`evictionPoolPopulate`).
    fn populate(&mut self, db: usize, sampled: impl IntoIterator<Item = (Bytes, u64)>) {
        for (key, score) in sampled {
            if self.pool.iter().any(|c| c.db == db && c.key == key) {
                continue;
            }
            // The first candidate with a score at least this one's.
            let mut k = self.pool.partition_point(|c| c.score < score);
            if self.pool.len() == POOL_SIZE {
                if k == 0 {
                    // Worse than everything in a full pool.
                    continue;
                }
                self.pool.remove(0);
                k -= 1;
            }
            self.pool.insert(k, Candidate { score, key, db });
        }
    }
}

/// The memory a key takes in the keyspace: its name and value plus a fixed cost per key —
/// its hash map bucket (key handle and 64-byte entry inline, 96 bytes, at the table's
/// typical load), its SCAN slot, and the shared headers of the key and of a string value.
/// Collections count a fixed cost per element, so the sum stays O(1) to maintain whatever a
/// write changed; the expiry index's entries are left out.
pub(super) fn footprint(key: &[u8], value: &Value) -> u64 {
    const PER_KEY: u64 = 240;
    const PER_ELEMENT: u64 = 48;
    let value = match value {
        Value::Str(s) | Value::RawStr(s) => s.len() as u64,
        Value::List(l) => l.len() as u64 * PER_ELEMENT,
        Value::Hash(h) => h.len() as u64 * PER_ELEMENT * 2,
        Value::Set(s) => s.len() as u64 * PER_ELEMENT,
        Value::ZSet(z) => z.len() as u64 * PER_ELEMENT * 2,
        Value::Stream(s) => s.len() * PER_ELEMENT * 2,
    };
    PER_KEY + key.len() as u64 + value
}

impl Db {
    /// Up to `n` keys picked at random, with their eviction score under `policy`
    /// (`dictGetSomeKeys` over the keys, or over those with a TTL). For volatile-ttl the
    /// soonest deadlines are taken from the expiry index, which is ordered.
    fn sample(&self, policy: Policy, n: usize, now: u64) -> Vec<(Bytes, u64)> {
        let score = |entry: &Entry| match policy {
            Policy::VolatileTtl => u64::MAX - entry.expire_at.unwrap_or(u64::MAX),
            _ if self.access_policy.lfu => {
                255 - u64::from(self.access_policy.counter(entry.access, now))
            }
            _ => idle_ms(entry.access, now),
        };
        if policy == Policy::VolatileTtl {
            return self
                .expires
                .soonest(n)
                .filter_map(|key| Some((key.clone(), score(self.map.get(key)?))))
                .collect();
        }
        let volatile = !policy.all_keys();
        let mut rng = rand::thread_rng();
        let mut out = Vec::with_capacity(n);
        if volatile && self.expires.len() * 8 < self.map.len() {
            // Few keys have a TTL: random points of the expiry index rather than slots.
            for _ in 0..n {
                if let Some(key) = self.expires.random(&mut rng) {
                    if let Some(entry) = self.map.get(key) {
                        out.push((key.clone(), score(entry)));
                    }
                }
            }
            return out;
        }
        // Random slots; from each, the next occupied one (eligible under `policy`).
        const WALK: usize = 64;
        for _ in 0..n * 2 {
            if out.len() == n || self.slots.is_empty() {
                break;
            }
            let start = rng.gen_range(0..self.slots.len());
            let found = self.slots[start..]
                .iter()
                .take(WALK)
                .flatten()
                .filter_map(|key| Some((key, self.map.get(key)?)))
                .find(|(_, entry)| !volatile || entry.expire_at.is_some());
            if let Some((key, entry)) = found {
                out.push((key.clone(), score(entry)));
            }
        }
        if out.is_empty() && !self.slots.is_empty() {
            // A sparse table (after mass deletions): walk it from a random point.
            let start = rng.gen_range(0..self.slots.len());
            let (tail, head) = self.slots.split_at(start);
            out.extend(
                head.iter()
                    .chain(tail)
                    .flatten()
                    .filter_map(|key| Some((key, self.map.get(key)?)))
                    .filter(|(_, entry)| !volatile || entry.expire_at.is_some())
                    .take(n)
                    .map(|(key, entry)| (key.clone(), score(entry))),
            );
        }
        out
    }

    /// A key picked at random for the random policies (`dictGetRandomKey`).
    fn random_candidate(&self, volatile: bool) -> Option<Bytes> {
        let mut rng = rand::thread_rng();
        if volatile {
            if self.expires.is_empty() {
                return None;
            }
            if self.expires.len() * 8 < self.map.len() {
                return self.expires.random(&mut rng).cloned();
            }
        }
        for _ in 0..64 {
            let start = rng.gen_range(0..self.slots.len().max(1));
            let found = self
                .slots
                .get(start..)
                .unwrap_or_default()
                .iter()
                .take(64)
                .flatten()
                .find(|k| !volatile || self.map.get(*k).is_some_and(|e| e.expire_at.is_some()));
            if let Some(key) = found {
                return Some(key.clone());
            }
        }
        // A very sparse table: walk it.
        self.slots
            .iter()
            .flatten()
            .find(|k| !volatile || self.map.get(*k).is_some_and(|e| e.expire_at.is_some()))
            .cloned()
    }
}

impl Keyspace {
    /// Evicts keys until the memory counted — `baseline` plus the dataset's
    /// [`Keyspace::dataset_bytes`] — is at most `limits.maxmemory`: Redis's
    /// `performEvictions`. `on_evicted` is called with each evicted key's database and name
    /// after it is gone.
    pub fn perform_evictions(
        &mut self,
        limits: &Limits,
        baseline: u64,
        now: u64,
        on_evicted: &mut dyn FnMut(usize, &Bytes),
    ) -> Outcome {
        if limits.maxmemory == 0 {
            return Outcome::Ok;
        }
        let counted = baseline + self.dataset_bytes();
        if counted <= limits.maxmemory {
            self.evictor.running = false;
            return Outcome::Ok;
        }
        if limits.policy == Policy::NoEviction {
            return Outcome::Fail;
        }
        let to_free = counted - limits.maxmemory;
        let time_limit = limits.time_limit();
        let started = Instant::now();
        let mut freed = 0u64;
        let mut keys = 0u64;
        while freed < to_free {
            let Some((db, key)) = self.best_candidate(limits, now) else {
                self.evictor.running = false;
                return Outcome::Fail;
            };
            let before = self.dbs[db].dataset_bytes();
            // `evict` raises the keyspace event `evicted` and invalidates tracked copies.
            if self.dbs[db].evict(&key).is_none() {
                continue;
            }
            freed += before - self.dbs[db].dataset_bytes();
            self.evictor.evicted += 1;
            on_evicted(db, &key);
            keys += 1;
            if keys % 16 == 0 && started.elapsed() > time_limit && freed < to_free {
                self.evictor.running = true;
                return Outcome::Running;
            }
        }
        self.evictor.running = false;
        Outcome::Ok
    }

    /// The memory the keys of every database take ([`footprint`]).
    pub fn dataset_bytes(&mut self) -> u64 {
        self.dbs.iter_mut().map(|db| db.dataset_bytes()).sum()
    }

    /// Whether the last eviction cycle ran out of time while still over the limit (Redis
    /// then keeps evicting from a timer; kvstore from its periodic sweep).
    pub fn eviction_running(&self) -> bool {
        self.evictor.running
    }

    /// Keys evicted since start or CONFIG RESETSTAT (`evicted_keys`).
    pub fn evicted_keys(&self) -> u64 {
        self.evictor.evicted
    }

    /// The next key to evict and its database, or `None` when no key qualifies.
    fn best_candidate(&mut self, limits: &Limits, now: u64) -> Option<(usize, Bytes)> {
        let policy = limits.policy;
        if matches!(policy, Policy::AllKeysRandom | Policy::VolatileRandom) {
            let n = self.dbs.len();
            for _ in 0..n {
                self.evictor.next_db = (self.evictor.next_db + 1) % n;
                let db = &self.dbs[self.evictor.next_db];
                let eligible = if policy.all_keys() {
                    db.len()
                } else {
                    db.expires_len()
                };
                if eligible > 0 {
                    let key = db.random_candidate(!policy.all_keys())?;
                    return Some((self.evictor.next_db, key));
                }
            }
            return None;
        }
        loop {
            let mut total = 0;
            for (i, db) in self.dbs.iter().enumerate() {
                let eligible = if policy.all_keys() {
                    db.len()
                } else {
                    db.expires_len()
                };
                if eligible > 0 {
                    total += eligible;
                    let sampled = db.sample(policy, limits.samples.max(1), now);
                    self.evictor.populate(i, sampled);
                }
            }
            if total == 0 {
                return None;
            }
            // Best first; keys deleted since they were pooled are ghosts, skipped.
            while let Some(best) = self.evictor.pool.pop() {
                let db = &self.dbs[best.db];
                let live = match db.map.get(&best.key) {
                    Some(entry) => policy.all_keys() || entry.expire_at.is_some(),
                    None => false,
                };
                if live {
                    return Some((best.db, best.key));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(Bytes::copy_from_slice(v.as_bytes()))
    }

    #[test]
    fn lfu_counter_decays_by_elapsed_periods() {
        let lfu = AccessPolicy {
            lfu: true,
            ..AccessPolicy::default()
        };
        let t0 = 10 * 60_000;
        let field = lfu.fresh(t0);
        assert_eq!(lfu.counter(field, t0), LFU_INIT_VAL);
        assert_eq!(lfu.counter(field, t0 + 3 * 60_000), LFU_INIT_VAL - 3);
        assert_eq!(lfu.counter(field, t0 + 60 * 60_000), 0);
        let never = AccessPolicy {
            decay_time: 0,
            ..lfu
        };
        assert_eq!(never.counter(field, t0 + 60 * 60_000), LFU_INIT_VAL);
        // From LFU_INIT_VAL the first increment is certain.
        assert_eq!(lfu.counter(lfu.accessed(field, t0), t0), LFU_INIT_VAL + 1);
    }

    #[test]
    fn idle_time_wraps_with_the_clock() {
        assert_eq!(idle_ms(lru_clock(5_000), 9_000), 4_000);
        let wrapped = (LRU_CLOCK_MAX + 3) * 1000;
        assert_eq!(idle_ms(LRU_CLOCK_MAX as u32 - 1, wrapped), 3_000);
    }

    #[test]
    fn pool_keeps_the_best_sixteen_in_order() {
        let mut ev = Evictor::default();
        ev.populate(
            0,
            (0..40).map(|i| (Bytes::from(format!("k{i}")), (i * 7) % 40)),
        );
        assert_eq!(ev.pool.len(), POOL_SIZE);
        let scores: Vec<u64> = ev.pool.iter().map(|c| c.score).collect();
        assert_eq!(scores, (24..40).collect::<Vec<_>>());
    }

    #[test]
    fn time_limit_follows_tenacity() {
        let t = |tenacity| Limits {
            tenacity,
            ..Limits::default()
        };
        assert_eq!(t(0).time_limit(), Duration::ZERO);
        assert_eq!(t(10).time_limit(), Duration::from_micros(500));
        assert_eq!(t(11).time_limit(), Duration::from_micros(575));
        assert_eq!(t(100).time_limit(), Duration::MAX);
    }

    /// Evicts under `policy` down to `keep` keys' worth (keys "k…" / "p…" of one-byte values
    /// and names of equal length) and returns the evicted keys in order.
    fn evict_with(policy: Policy, ks: &mut Keyspace, keep: u64) -> Vec<Bytes> {
        let per_key = footprint(b"k000", &s("v"));
        let limits = Limits {
            maxmemory: keep * per_key,
            policy,
            samples: 5,
            tenacity: 100,
        };
        let mut evicted = Vec::new();
        let mut hook = |_: usize, key: &Bytes| evicted.push(key.clone());
        let outcome = ks.perform_evictions(&limits, 0, 0, &mut hook);
        assert_eq!(outcome, Outcome::Ok);
        evicted
    }

    #[test]
    fn volatile_ttl_evicts_the_soonest_deadlines() {
        let mut ks = Keyspace::new(2);
        for i in 0..50u64 {
            let key = Bytes::from(format!("k{i:03}"));
            ks.db((i % 2) as usize)
                .insert(key, s("v"), Some(1_000_000 + i * 10));
        }
        for i in 0..50 {
            ks.db(0)
                .insert(Bytes::from(format!("p{i:03}")), s("v"), None);
        }
        let evicted = evict_with(Policy::VolatileTtl, &mut ks, 80);
        let soonest: Vec<Bytes> = (0..20).map(|i| Bytes::from(format!("k{i:03}"))).collect();
        assert_eq!(evicted, soonest);
        assert_eq!(ks.db(0).len() + ks.db(1).len(), 80);
    }

    #[test]
    fn allkeys_lru_prefers_idle_keys() {
        let mut ks = Keyspace::new(1);
        for i in 0..200u64 {
            ks.db(0).clock = i * 1000;
            ks.db(0)
                .insert(Bytes::from(format!("k{i:03}")), s("v"), None);
        }
        ks.db(0).clock = 300_000;
        let evicted = evict_with(Policy::AllKeysLru, &mut ks, 150);
        // Approximated: the evicted keys are mostly the oldest half.
        let old = evicted
            .iter()
            .filter(|k| k.as_ref() < b"k100".as_ref())
            .count();
        assert!(old * 10 >= evicted.len() * 8, "{old} of {}", evicted.len());
        assert!(ks.db(0).len() < 200);
    }

    #[test]
    fn sampling_finds_the_last_keys_of_a_sparse_table() {
        let mut ks = Keyspace::new(1);
        for i in 0..20_000u64 {
            ks.db(0)
                .insert(Bytes::from(format!("k{i:05}")), s("v"), None);
        }
        for i in 3..20_000u64 {
            ks.db(0).remove(format!("k{i:05}").as_bytes());
        }
        let limits = Limits {
            maxmemory: 1,
            policy: Policy::AllKeysLru,
            samples: 5,
            tenacity: 100,
        };
        let mut evicted = 0;
        let outcome = ks.perform_evictions(&limits, 0, 0, &mut |_, _| evicted += 1);
        assert_eq!((outcome, evicted), (Outcome::Ok, 3));
    }

    #[test]
    fn noeviction_and_nothing_to_evict_fail() {
        let mut ks = Keyspace::new(1);
        ks.db(0).insert(Bytes::from("a"), s("v"), None);
        let limits = Limits {
            maxmemory: 1,
            policy: Policy::NoEviction,
            samples: 5,
            tenacity: 10,
        };
        let mut hook = |_: usize, _: &Bytes| {};
        assert_eq!(
            ks.perform_evictions(&limits, 0, 0, &mut hook),
            Outcome::Fail
        );
        let volatile = Limits {
            policy: Policy::VolatileLru,
            ..limits
        };
        assert_eq!(
            ks.perform_evictions(&volatile, 0, 0, &mut hook),
            Outcome::Fail
        );
        assert_eq!(ks.db(0).len(), 1);
    }
}
