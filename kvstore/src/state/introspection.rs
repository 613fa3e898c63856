//! What operators look at when something is slow (Redis's `slowlog.c`, `latency.c` and the
//! statistics of `server.c`): per-command counters and latency histograms (INFO
//! commandstats / latencystats, LATENCY HISTOGRAM), error counts by prefix (INFO errorstats),
//! the slow log, the latency monitor's event series and the MONITOR feeds.
//!
//! Counters are atomics, so recording a command costs a few uncontended additions and no
//! lock; the slow log, latency events and error counts take a mutex only when they have
//! something to record (a slow command, an error). The thresholds they compare with are
//! cached here from the configuration by `Shared::set_config`. This module knows no command:
//! callers name them with the `&'static str` of their table and give each a stable slot.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::config::Config;
use crate::pubsub::{Outbox, OutputLimit};

/// Redis's `LATENCY_TS_LEN`: samples kept per latency event.
const LATENCY_TS_LEN: usize = 160;
/// Redis's `SLOWLOG_ENTRY_MAX_ARGC` and `SLOWLOG_ENTRY_MAX_STRING`.
const SLOWLOG_MAX_ARGC: usize = 32;
const SLOWLOG_MAX_STRING: usize = 128;

/// The counters of one command (or subcommand), as INFO commandstats prints them.
#[derive(Debug)]
pub(crate) struct CommandStat {
    pub(crate) name: &'static str,
    calls: AtomicU64,
    usec: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    histogram: OnceLock<Histogram>,
}

/// One command's counters at one moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CommandCounts {
    pub(crate) calls: u64,
    pub(crate) usec: u64,
    pub(crate) rejected: u64,
    pub(crate) failed: u64,
}

impl CommandStat {
    fn new(name: &'static str) -> CommandStat {
        CommandStat {
            name,
            calls: AtomicU64::new(0),
            usec: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            histogram: OnceLock::new(),
        }
    }

    pub(crate) fn counts(&self) -> CommandCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CommandCounts {
            calls: get(&self.calls),
            usec: get(&self.usec),
            rejected: get(&self.rejected),
            failed: get(&self.failed),
        }
    }

    /// The latency histogram, if the command ran since the last reset with tracking on.
    pub(crate) fn histogram(&self) -> Option<&Histogram> {
        self.histogram.get().filter(|h| h.total() > 0)
    }

    fn reset(&self) {
        for c in [&self.calls, &self.usec, &self.rejected, &self.failed] {
            c.store(0, Ordering::Relaxed);
        }
        if let Some(h) = self.histogram.get() {
            h.reset();
        }
    }
}

/// Redis's latency histogram (`hdr_init(1024, 1000000000, 2)`: nanoseconds between 1 µs and
/// 1 s, two significant figures), with the same bucket layout as HdrHistogram's C code, so
/// percentiles read the same values; counts are atomics.
#[derive(Debug)]
pub(crate) struct Histogram {
    /// Redis's `counts` array; the total is their sum, so recording is one addition.
    counts: Box<[AtomicU64]>,
}

const HDR_LOWEST: u64 = 1024;
const HDR_HIGHEST: u64 = 1_000_000_000;
const UNIT_MAGNITUDE: u32 = 10;
const SUB_BUCKET_HALF_COUNT_MAGNITUDE: u32 = 7;
const SUB_BUCKET_HALF_COUNT: u64 = 128;
const SUB_BUCKET_COUNT: u64 = 256;
const SUB_BUCKET_MASK: u64 = (SUB_BUCKET_COUNT - 1) << UNIT_MAGNITUDE;
/// Buckets needed to cover 1 s: 256 << 10 doubled until it exceeds 10^9.
const BUCKET_COUNT: u32 = 13;
const COUNTS_LEN: usize = ((BUCKET_COUNT + 1) as usize) << SUB_BUCKET_HALF_COUNT_MAGNITUDE;

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            counts: (0..COUNTS_LEN).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn bucket_index(value: u64) -> u32 {
        let pow2ceiling = 64 - (value | SUB_BUCKET_MASK).leading_zeros();
        pow2ceiling - UNIT_MAGNITUDE - (SUB_BUCKET_HALF_COUNT_MAGNITUDE + 1)
    }

    fn counts_index(value: u64) -> usize {
        let bucket = Self::bucket_index(value);
        let sub = value >> (bucket + UNIT_MAGNITUDE);
        (((bucket as u64 + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + sub - SUB_BUCKET_HALF_COUNT)
            as usize
    }

    fn value_at_index(index: usize) -> u64 {
        let mut bucket = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) as i64 - 1;
        let mut sub = (index as u64 & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT;
        if bucket < 0 {
            sub -= SUB_BUCKET_HALF_COUNT;
            bucket = 0;
        }
        sub << (bucket as u32 + UNIT_MAGNITUDE)
    }

    fn highest_equivalent(value: u64) -> u64 {
        let bucket = Self::bucket_index(value);
        let sub = value >> (bucket + UNIT_MAGNITUDE);
        let adjusted = if sub >= SUB_BUCKET_COUNT {
            bucket + 1
        } else {
            bucket
        };
        let lowest = sub << (bucket + UNIT_MAGNITUDE);
        lowest + (1u64 << (UNIT_MAGNITUDE + adjusted)) - 1
    }

    /// Records a duration in nanoseconds, clamped to the histogram's range as Redis does.
    fn record(&self, nanos: u64) {
        let value = nanos.clamp(HDR_LOWEST, HDR_HIGHEST);
        self.counts[Self::counts_index(value)].fetch_add(1, Ordering::Relaxed);
    }

    /// How many durations were recorded.
    pub(crate) fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn reset(&self) {
        self.counts
            .iter()
            .for_each(|c| c.store(0, Ordering::Relaxed));
    }

    /// `hdr_value_at_percentile`, in nanoseconds.
    pub(crate) fn value_at_percentile(&self, percentile: f64) -> u64 {
        let requested = percentile.min(100.0);
        let total = self.total();
        let wanted = ((requested / 100.0) * total as f64 + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0;
        let mut value = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count.load(Ordering::Relaxed);
            if seen >= wanted {
                value = Self::value_at_index(index);
                break;
            }
        }
        if percentile == 0.0 {
            value
        } else {
            Self::highest_equivalent(value)
        }
    }

    /// LATENCY HISTOGRAM's `histogram_usec`: (bucket's upper bound in µs, cumulative count)
    /// at each power of two from 1024 ns, where the count grew (`hdr_iter_log_init(1024, 2)`).
    pub(crate) fn cumulative_usec(&self) -> Vec<(u64, u64)> {
        let counts: Vec<u64> = (self.counts.iter())
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let mut out = Vec::new();
        let (mut level, mut index, mut cumulative, mut previous) = (HDR_LOWEST, 0, 0u64, 0u64);
        while cumulative < total && level <= HDR_HIGHEST * 2 {
            let highest = Self::highest_equivalent(level);
            while index < counts.len() && Self::value_at_index(index) <= highest {
                cumulative += counts[index];
                index += 1;
            }
            if cumulative > previous {
                out.push((highest / 1000, cumulative));
            }
            previous = cumulative;
            level *= 2;
        }
        out
    }
}

/// One slow log entry, arguments already truncated as Redis stores them.
#[derive(Debug, Clone)]
pub(crate) struct SlowlogEntry {
    pub(crate) id: u64,
    pub(crate) time: u64,
    pub(crate) usec: u64,
    pub(crate) args: Vec<Bytes>,
    pub(crate) peer: String,
    pub(crate) name: Bytes,
}

#[derive(Debug, Default)]
struct Slowlog {
    /// Newest first.
    entries: VecDeque<SlowlogEntry>,
    next_id: u64,
}

/// One latency event's series (Redis's `latencyTimeSeries`).
#[derive(Debug, Clone)]
pub(crate) struct LatencySeries {
    pub(crate) event: &'static str,
    /// Index of the next sample to store.
    idx: usize,
    pub(crate) max: u64,
    /// (unix seconds, milliseconds); time 0 = empty.
    samples: [(u64, u64); LATENCY_TS_LEN],
}

impl LatencySeries {
    /// The samples, oldest first.
    pub(crate) fn samples(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        (0..LATENCY_TS_LEN)
            .map(|j| self.samples[(self.idx + j) % LATENCY_TS_LEN])
            .filter(|(time, _)| *time != 0)
    }

    /// The most recent sample.
    pub(crate) fn latest(&self) -> (u64, u64) {
        self.samples[(self.idx + LATENCY_TS_LEN - 1) % LATENCY_TS_LEN]
    }
}

/// The settings this module compares with, cached from the configuration.
#[derive(Debug)]
struct Thresholds {
    slowlog_slower_than: AtomicI64,
    slowlog_max_len: AtomicU64,
    latency_monitor_ms: AtomicU64,
    latency_tracking: AtomicBool,
    percentiles: Mutex<Vec<f64>>,
}

/// Per-command statistics, errors, slow log, latency events and monitors.
#[derive(Debug)]
pub(crate) struct Introspection {
    commands: OnceLock<Box<[CommandStat]>>,
    errors: Mutex<BTreeMap<Vec<u8>, u64>>,
    total_error_replies: AtomicU64,
    slowlog: Mutex<Slowlog>,
    latency: Mutex<Vec<LatencySeries>>,
    monitors: Mutex<Vec<Arc<Outbox>>>,
    monitor_count: AtomicUsize,
    thresholds: Thresholds,
    /// DEBUG SET-ACTIVE-EXPIRE: whether the active expiry sweep runs.
    active_expire: AtomicBool,
    /// `slowlog-max-len` was lowered: the log is trimmed after the next command.
    slowlog_trim: AtomicBool,
}

impl Introspection {
    pub(crate) fn new(config: &Config) -> Introspection {
        // Calibrates the command clock now rather than during the first command.
        super::clock::tick();
        let introspection = Introspection {
            commands: OnceLock::new(),
            errors: Mutex::default(),
            total_error_replies: AtomicU64::new(0),
            slowlog: Mutex::default(),
            latency: Mutex::default(),
            monitors: Mutex::default(),
            monitor_count: AtomicUsize::new(0),
            active_expire: AtomicBool::new(true),
            slowlog_trim: AtomicBool::new(false),
            thresholds: Thresholds {
                slowlog_slower_than: AtomicI64::new(10000),
                slowlog_max_len: AtomicU64::new(128),
                latency_monitor_ms: AtomicU64::new(0),
                latency_tracking: AtomicBool::new(true),
                percentiles: Mutex::new(vec![50.0, 99.0, 99.9]),
            },
        };
        introspection.load(config);
        introspection
    }

    /// Refreshes the cached settings (called under the configuration's write lock).
    pub(crate) fn load(&self, config: &Config) {
        let param = |name: &str| config.value(name);
        let t = &self.thresholds;
        if let Ok(v) = param("slowlog-log-slower-than").parse() {
            t.slowlog_slower_than.store(v, Ordering::Relaxed);
        }
        if let Ok(v) = param("slowlog-max-len").parse() {
            // Like Redis, a shorter log is trimmed by the next command, if the log is on.
            if t.slowlog_max_len.swap(v, Ordering::Relaxed) > v {
                self.slowlog_trim.store(true, Ordering::Relaxed);
            }
        }
        if let Ok(v) = param("latency-monitor-threshold").parse() {
            t.latency_monitor_ms.store(v, Ordering::Relaxed);
        }
        t.latency_tracking
            .store(param("latency-tracking") != "no", Ordering::Relaxed);
        *t.percentiles.lock() = (param("latency-tracking-info-percentiles").split_whitespace())
            .filter_map(|w| w.parse().ok())
            .collect();
    }

    /// The counters of every command, created on first use in the order `names` gives;
    /// callers address them by position in that order.
    pub(crate) fn commands(&self, names: impl FnOnce() -> Vec<&'static str>) -> &[CommandStat] {
        self.commands
            .get_or_init(|| names().into_iter().map(CommandStat::new).collect())
    }

    /// The counters of every command, if any was recorded yet.
    pub(crate) fn commands_seen(&self) -> &[CommandStat] {
        self.commands.get().map_or(&[], |c| c)
    }

    /// A command ran for `nanos`: calls, time and, with tracking on, the histogram.
    pub(crate) fn record_call(&self, stat: &CommandStat, nanos: u64, histogram: bool) {
        stat.calls.fetch_add(1, Ordering::Relaxed);
        stat.usec.fetch_add(nanos / 1000, Ordering::Relaxed);
        if histogram && self.thresholds.latency_tracking.load(Ordering::Relaxed) {
            stat.histogram.get_or_init(Histogram::new).record(nanos);
        }
    }

    /// A call that had blocked was released: Redis adds its time again and records the
    /// latency sample it skipped when the call blocked.
    pub(crate) fn record_unblocked(&self, stat: &CommandStat, nanos: u64) {
        stat.usec.fetch_add(nanos / 1000, Ordering::Relaxed);
        if self.thresholds.latency_tracking.load(Ordering::Relaxed) {
            stat.histogram.get_or_init(Histogram::new).record(nanos);
        }
    }

    pub(crate) fn record_failed(&self, stat: &CommandStat) {
        stat.failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_rejected(&self, stat: &CommandStat) {
        stat.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// An error reply left: counted in `total_error_replies` and under its prefix (the
    /// first word when a space comes within 32 bytes of Redis's leading `-`, else `ERR`).
    pub(crate) fn record_error(&self, message: &str) {
        self.total_error_replies.fetch_add(1, Ordering::Relaxed);
        let head = &message.as_bytes()[..message.len().min(31)];
        let prefix = match head.iter().position(|&b| b == b' ') {
            Some(space) => &head[..space],
            None => b"ERR".as_slice(),
        };
        *self.errors.lock().entry(prefix.to_vec()).or_default() += 1;
    }

    pub(crate) fn total_error_replies(&self) -> u64 {
        self.total_error_replies.load(Ordering::Relaxed)
    }

    /// Error prefixes and their counts, in byte order (Redis's rax).
    pub(crate) fn errors(&self) -> Vec<(Vec<u8>, u64)> {
        (self.errors.lock().iter())
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// The percentiles INFO latencystats prints (`latency-tracking-info-percentiles`).
    pub(crate) fn percentiles(&self) -> Vec<f64> {
        self.thresholds.percentiles.lock().clone()
    }

    pub(crate) fn latency_tracking(&self) -> bool {
        self.thresholds.latency_tracking.load(Ordering::Relaxed)
    }

    /// CONFIG RESETSTAT: command counters, histograms and error counts.
    pub(crate) fn reset_stats(&self) {
        self.commands_seen().iter().for_each(CommandStat::reset);
        self.errors.lock().clear();
        self.total_error_replies.store(0, Ordering::Relaxed);
    }

    /// DEBUG SET-ACTIVE-EXPIRE 0|1.
    pub(crate) fn set_active_expire(&self, enabled: bool) {
        self.active_expire.store(enabled, Ordering::Relaxed);
    }

    /// Whether the active expiry sweep may run (DEBUG SET-ACTIVE-EXPIRE).
    pub(crate) fn active_expire(&self) -> bool {
        self.active_expire.load(Ordering::Relaxed)
    }

    // --- slow log ---------------------------------------------------------------------

    /// Whether a command that took `usec` belongs in the slow log. When it does not but the
    /// log is on, a pending trim (a lowered `slowlog-max-len`) happens here, as Redis trims
    /// after every command.
    pub(crate) fn is_slow(&self, usec: u64) -> bool {
        let slower_than = self.thresholds.slowlog_slower_than.load(Ordering::Relaxed);
        if slower_than < 0 {
            return false;
        }
        if usec as i64 >= slower_than {
            return true;
        }
        if self.slowlog_trim.load(Ordering::Relaxed)
            && self.slowlog_trim.swap(false, Ordering::Relaxed)
        {
            let max_len = self.thresholds.slowlog_max_len.load(Ordering::Relaxed) as usize;
            self.slowlog.lock().entries.truncate(max_len);
        }
        false
    }

    /// Adds an entry (Redis's `slowlogCreateEntry`: at most 32 arguments, the last saying
    /// how many more there were, each cut at 128 bytes) and trims to `slowlog-max-len`.
    pub(crate) fn slowlog_push(&self, args: &[Bytes], usec: u64, peer: String, name: Bytes) {
        let argc = args.len().min(SLOWLOG_MAX_ARGC);
        let args = (0..argc)
            .map(|j| {
                if argc != args.len() && j == argc - 1 {
                    Bytes::from(format!("... ({} more arguments)", args.len() - argc + 1))
                } else if args[j].len() > SLOWLOG_MAX_STRING {
                    let mut cut = args[j][..SLOWLOG_MAX_STRING].to_vec();
                    let more = args[j].len() - SLOWLOG_MAX_STRING;
                    cut.extend_from_slice(format!("... ({more} more bytes)").as_bytes());
                    Bytes::from(cut)
                } else {
                    Bytes::copy_from_slice(&args[j])
                }
            })
            .collect();
        let time = crate::state::now_ms() / 1000;
        let max_len = self.thresholds.slowlog_max_len.load(Ordering::Relaxed) as usize;
        self.slowlog_trim.store(false, Ordering::Relaxed);
        let mut slowlog = self.slowlog.lock();
        let id = slowlog.next_id;
        slowlog.next_id += 1;
        slowlog.entries.push_front(SlowlogEntry {
            id,
            time,
            usec,
            args,
            peer,
            name,
        });
        slowlog.entries.truncate(max_len);
    }

    /// The newest `count` entries, newest first.
    pub(crate) fn slowlog_get(&self, count: usize) -> Vec<SlowlogEntry> {
        let slowlog = self.slowlog.lock();
        slowlog.entries.iter().take(count).cloned().collect()
    }

    pub(crate) fn slowlog_len(&self) -> usize {
        self.slowlog.lock().entries.len()
    }

    pub(crate) fn slowlog_reset(&self) {
        self.slowlog.lock().entries.clear();
    }

    // --- latency monitor --------------------------------------------------------------

    /// `latency-monitor-threshold` in milliseconds (0: the monitor is off).
    pub(crate) fn latency_threshold_ms(&self) -> u64 {
        self.thresholds.latency_monitor_ms.load(Ordering::Relaxed)
    }

    /// Redis's `latencyAddSampleIfNeeded`.
    pub(crate) fn latency_sample_if_needed(&self, event: &'static str, ms: u64) {
        let threshold = self.latency_threshold_ms();
        if threshold != 0 && ms >= threshold {
            self.latency_sample(event, ms);
        }
    }

    /// Redis's `latencyAddSample`: one sample per second per event, the highest.
    pub(crate) fn latency_sample(&self, event: &'static str, ms: u64) {
        let now = crate::state::now_ms() / 1000;
        let mut events = self.latency.lock();
        let series = match events.iter().position(|s| s.event == event) {
            Some(i) => &mut events[i],
            None => {
                events.push(LatencySeries {
                    event,
                    idx: 0,
                    max: 0,
                    samples: [(0, 0); LATENCY_TS_LEN],
                });
                events.last_mut().expect("just pushed")
            }
        };
        series.max = series.max.max(ms);
        let prev = (series.idx + LATENCY_TS_LEN - 1) % LATENCY_TS_LEN;
        if series.samples[prev].0 == now {
            series.samples[prev].1 = series.samples[prev].1.max(ms);
            return;
        }
        series.samples[series.idx] = (now, ms);
        series.idx = (series.idx + 1) % LATENCY_TS_LEN;
    }

    /// Every event's series, in the order they first happened.
    pub(crate) fn latency_events(&self) -> Vec<LatencySeries> {
        self.latency.lock().clone()
    }

    /// LATENCY RESET: drops the named events (case-insensitively), or all; returns how many.
    pub(crate) fn latency_reset(&self, event: Option<&[u8]>) -> usize {
        let mut events = self.latency.lock();
        let before = events.len();
        events.retain(|s| event.is_some_and(|e| !e.eq_ignore_ascii_case(s.event.as_bytes())));
        before - events.len()
    }

    // --- MONITOR ----------------------------------------------------------------------

    /// Adds a MONITOR client's outbox.
    pub(crate) fn add_monitor(&self, outbox: Arc<Outbox>) {
        let mut monitors = self.monitors.lock();
        monitors.push(outbox);
        self.monitor_count.store(monitors.len(), Ordering::Relaxed);
    }

    /// Takes a client out of MONITOR mode (RESET).
    pub(crate) fn remove_monitor(&self, outbox: &Arc<Outbox>) {
        let mut monitors = self.monitors.lock();
        monitors.retain(|m| !Arc::ptr_eq(m, outbox));
        self.monitor_count.store(monitors.len(), Ordering::Relaxed);
    }

    /// Whether any client is in MONITOR mode: one load on every command.
    pub(crate) fn has_monitors(&self) -> bool {
        self.monitor_count.load(Ordering::Relaxed) > 0
    }

    /// Sends one line to every monitor but `except`; monitors whose connection ended (only
    /// this list still holds their outbox) are dropped.
    pub(crate) fn feed_monitors(&self, line: Bytes, except: Option<&Arc<Outbox>>) {
        const REPLICA_CLASS: OutputLimit = OutputLimit {
            hard: 256 << 20,
            soft: 64 << 20,
            soft_secs: 60,
        };
        let mut monitors = self.monitors.lock();
        monitors.retain(|m| Arc::strong_count(m) > 1 && !m.is_closed());
        for monitor in monitors.iter() {
            if !except.is_some_and(|e| Arc::ptr_eq(e, monitor)) {
                monitor.push_frame(line.clone(), REPLICA_CLASS);
            }
        }
        self.monitor_count.store(monitors.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_like_hdr() {
        assert_eq!(Histogram::counts_index(1024), 1);
        assert_eq!(Histogram::value_at_index(1), 1024);
        assert_eq!(Histogram::highest_equivalent(1024), 2047);
        assert_eq!(Histogram::highest_equivalent(262144), 264191);
        assert!(Histogram::counts_index(HDR_HIGHEST) < COUNTS_LEN);
        let h = Histogram::new();
        for v in [2000, 3000, 50_000, 50_000] {
            h.record(v);
        }
        assert_eq!(h.value_at_percentile(50.0), 3071);
        assert_eq!(h.cumulative_usec().last().map(|(_, c)| *c), Some(4));
    }

    #[test]
    fn error_prefixes_like_redis() {
        let i = Introspection::new(&Config::default());
        i.record_error("ERR syntax error");
        i.record_error("WRONGTYPE Operation against a key");
        i.record_error("NOSPACEINTHEFIRSTTHIRTYTWOBYTES_ATALL x");
        let errors = i.errors();
        assert_eq!(errors[0], (b"ERR".to_vec(), 2));
        assert_eq!(errors[1], (b"WRONGTYPE".to_vec(), 1));
        assert_eq!(i.total_error_replies(), 3);
    }
}
