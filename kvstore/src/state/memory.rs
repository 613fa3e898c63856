//! The memory settings read before every command once `maxmemory` is set, cached like the
//! other [`Limits`](super::Limits): `maxmemory`, `maxmemory-policy`, `-samples`,
//! `-eviction-tenacity`, `lfu-log-factor`, `lfu-decay-time`. Also Redis's
//! `pre_command_oom_state`: whether the command running now started out of memory, which a
//! script consults before its first write.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};

use crate::config::Config;
use crate::keyspace::evict::{AccessPolicy, Limits, Outcome, Policy};
use crate::keyspace::Keyspace;

/// The cached settings. Only [`MemorySettings::load`] (from `Shared::set_config`) writes
/// them, apart from the OOM state.
#[derive(Debug, Default)]
pub(crate) struct MemorySettings {
    maxmemory: AtomicU64,
    policy: AtomicU8,
    samples: AtomicU32,
    tenacity: AtomicU32,
    lfu_log_factor: AtomicU32,
    lfu_decay_time: AtomicU32,
    pre_command_oom: AtomicBool,
    /// `used_memory` when the server was set up, before any client (`used_memory_startup`).
    startup: AtomicU64,
    /// `used_memory` before persistence opened sled: the part of the startup memory that
    /// eviction counts.
    baseline: AtomicU64,
}

const POLICIES: [Policy; 8] = [
    Policy::VolatileLru,
    Policy::VolatileLfu,
    Policy::VolatileRandom,
    Policy::VolatileTtl,
    Policy::AllKeysLru,
    Policy::AllKeysLfu,
    Policy::AllKeysRandom,
    Policy::NoEviction,
];

impl MemorySettings {
    pub(crate) fn new(config: &Config) -> MemorySettings {
        let settings = MemorySettings::default();
        settings.load(config);
        settings
    }

    /// Copies the configuration's values into the cache.
    pub(super) fn load(&self, config: &Config) {
        let number = |name| config.value(name).parse().unwrap_or(0);
        let policy = Policy::parse(&config.value("maxmemory-policy"));
        let index = POLICIES.iter().position(|p| *p == policy).unwrap_or(7);
        self.policy.store(index as u8, Ordering::Relaxed);
        self.samples
            .store(number("maxmemory-samples") as u32, Ordering::Relaxed);
        self.tenacity.store(
            number("maxmemory-eviction-tenacity") as u32,
            Ordering::Relaxed,
        );
        self.lfu_log_factor
            .store(number("lfu-log-factor") as u32, Ordering::Relaxed);
        self.lfu_decay_time
            .store(number("lfu-decay-time") as u32, Ordering::Relaxed);
        // Last: a reader that sees the limit sees the policy it goes with.
        self.maxmemory.store(number("maxmemory"), Ordering::Release);
    }

    /// `maxmemory` in bytes, 0 for no limit: the one load on the hot path.
    pub(crate) fn maxmemory(&self) -> u64 {
        self.maxmemory.load(Ordering::Acquire)
    }

    pub(crate) fn policy(&self) -> Policy {
        POLICIES[self.policy.load(Ordering::Relaxed) as usize % POLICIES.len()]
    }

    /// What eviction needs.
    pub(crate) fn eviction(&self) -> Limits {
        Limits {
            maxmemory: self.maxmemory(),
            policy: self.policy(),
            samples: self.samples.load(Ordering::Relaxed) as usize,
            tenacity: self.tenacity.load(Ordering::Relaxed),
        }
    }

    /// How keys record their accesses under the policy in force.
    pub(crate) fn access(&self) -> AccessPolicy {
        AccessPolicy {
            lfu: self.policy().lfu(),
            log_factor: self.lfu_log_factor.load(Ordering::Relaxed),
            decay_time: self.lfu_decay_time.load(Ordering::Relaxed),
        }
    }

    /// Records `used_memory` before sled was opened and once the server is set up, before
    /// its data is loaded.
    pub(crate) fn set_startup(&self, baseline: u64, startup: u64) {
        self.baseline.store(baseline, Ordering::Relaxed);
        self.startup.store(startup, Ordering::Relaxed);
    }

    /// What eviction counts besides the dataset: the process before it opened sled.
    pub(crate) fn baseline(&self) -> u64 {
        self.baseline.load(Ordering::Relaxed)
    }

    /// `used_memory` before the data was loaded (`used_memory_startup`).
    pub(crate) fn startup(&self) -> u64 {
        self.startup.load(Ordering::Relaxed)
    }

    /// Records whether the command about to run found memory over the limit with nothing
    /// to evict (Redis's `pre_command_oom_state`).
    pub(crate) fn set_pre_command_oom(&self, oom: bool) {
        self.pre_command_oom.store(oom, Ordering::Relaxed);
    }

    /// Whether the running command started out of memory (a script's first write is then
    /// refused unless it declared `allow-oom`).
    pub(crate) fn pre_command_oom(&self) -> bool {
        self.maxmemory() != 0 && self.pre_command_oom.load(Ordering::Relaxed)
    }
}

impl super::Shared {
    /// Evicts keys while the memory counted is over `maxmemory` (Redis's
    /// `performEvictions`), with the keyspace locked by the caller: before a command, and
    /// from the server's sweep while a cycle ran out of time. What is counted: the process
    /// before it opened its data ([`MemorySettings::baseline`]) plus the dataset
    /// (`keyspace::evict`).
    pub(crate) fn perform_evictions(&self, ks: &mut Keyspace) -> Outcome {
        let limits = self.limits.memory.eviction();
        if limits.maxmemory == 0 {
            return Outcome::Ok;
        }
        ks.perform_evictions(
            &limits,
            self.limits.memory.baseline(),
            super::now_ms(),
            &mut |_, _| {},
        )
    }
}
